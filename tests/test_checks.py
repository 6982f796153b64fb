"""The system checks (main/checks.py): production mode refuses to start with placeholder or weak secrets, wildcard
hosts or origins, or without its collected static files, and passes Django's deploy checks when set."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from main.checks import check_production_settings
from tests.support.docker_context import copy_build_context
from tests.support.gunicorn import collect_static
from tests.support.paths import REPO_ROOT

GOOD = {
    "BUILD_TARGET": "production",
    "JWT_SECRET": "Zt3mQ0x9pLw7Yb2Kc8Vn4Rj6Hs1Fd5Ga0Eu3Ti9Oy7Pk2Ml6Nq4Xz8Wc1Vb5Rn7",
    "CLIENT_ID": "local.66aa77bb88cc.12345678",
    "CLIENT_SECRET": "Ab3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1eF3hJ5kL7n",
    "VIRTUAL_HOST": "https://app.example.com",
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
}


def _errors(settings, **overrides) -> set[str]:
    """The check's errors with GOOD's values and `overrides` in Django's settings."""
    values = {**GOOD, **overrides}
    settings.DEBUG = values["BUILD_TARGET"] != "production"
    settings.JWT_SECRET = values["JWT_SECRET"]
    settings.BITRIX24_CLIENT_ID = values["CLIENT_ID"]
    settings.BITRIX24_CLIENT_SECRET = values["CLIENT_SECRET"]
    settings.JWT_SECRET_PREVIOUS = values.get("JWT_SECRET_PREVIOUS", "")
    return {error.id for error in check_production_settings(None)}


def _env(env_overrides: dict) -> dict:
    return {**os.environ, **GOOD, "DB_ENGINE": "sqlite", **env_overrides}


def _manage_check(env_overrides: dict, app_dir: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    """`manage.py check --deploy` in production, with the static files collected unless `app_dir` lacks them."""
    if app_dir == REPO_ROOT:
        collect_static(_env(env_overrides))
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=app_dir,
        env=_env(env_overrides),
        capture_output=True,
        text=True,
    )


def test_proper_production_settings_pass(settings):
    assert _errors(settings) == set()


@pytest.mark.parametrize(
    "jwt_secret", ["default_jwt_secret", "short-secret", "x" * 31], ids=["default", "short", "31-chars"]
)
def test_weak_jwt_secret_is_refused(settings, jwt_secret):
    assert _errors(settings, JWT_SECRET=jwt_secret) == {"main.E001"}


@pytest.mark.parametrize("name", ["CLIENT_ID", "CLIENT_SECRET"])
def test_placeholder_app_credentials_are_refused(settings, name):
    assert _errors(settings, **{name: name.lower()}) == {"main.E002"}


@pytest.mark.parametrize("previous", ["default_jwt_secret", "short-secret"], ids=["default", "short"])
def test_weak_previous_jwt_secret_is_refused(settings, previous):
    assert _errors(settings, JWT_SECRET_PREVIOUS=previous) == {"main.E003"}


def test_a_strong_previous_jwt_secret_passes(settings):
    assert _errors(settings, JWT_SECRET_PREVIOUS="Qm4Vb8Xc2Lk6Jh0Gf3Ds7Ap1Zo5Iu9Yt3Re7Wq2") == set()


def test_development_mode_accepts_the_placeholders(settings):
    assert _errors(settings, BUILD_TARGET="dev", JWT_SECRET="default_jwt_secret", CLIENT_ID="client_id") == set()


def test_manage_check_deploy_passes_with_a_proper_env():
    result = _manage_check({})

    assert result.returncode == 0, result.stderr
    assert "ERRORS" not in result.stderr + result.stdout


def test_manage_refuses_to_run_production_with_default_secrets():
    result = _manage_check({"JWT_SECRET": "default_jwt_secret", "CLIENT_SECRET": "client_secret"})

    assert result.returncode == 1
    assert "main.E001" in result.stderr
    assert "main.E002" in result.stderr


@pytest.mark.parametrize("virtual_host", ["*", "app.example.com,*", "*.example.com"])
def test_production_refuses_a_wildcard_virtual_host(virtual_host):
    result = _manage_check({"VIRTUAL_HOST": virtual_host, "CORS_ALLOWED_ORIGINS": "https://app.example.com"})

    assert result.returncode == 1
    assert "(main.E004) VIRTUAL_HOST must name the app's public host(s)" in result.stderr


@pytest.mark.parametrize("origins", ["*", "https://app.example.com,*", "https://*.example.com"])
def test_production_refuses_a_wildcard_cors_origin(origins):
    result = _manage_check({"CORS_ALLOWED_ORIGINS": origins})

    assert result.returncode == 1
    assert "(main.E005) CORS_ALLOWED_ORIGINS must list your frontend's origins" in result.stderr


def test_production_refuses_to_start_without_collected_static_files(tmp_path):
    copy_build_context(tmp_path)  # the code without `collectstatic`'s output

    result = _manage_check({}, app_dir=tmp_path)

    assert result.returncode == 1
    assert "(main.E006) The static files are not collected" in result.stderr
    assert "python manage.py collectstatic --noinput" in result.stderr


def test_migrate_and_collectstatic_run_before_the_static_files_are_collected(tmp_path):
    copy_build_context(tmp_path)
    env = _env({"SQLITE_PATH": str(tmp_path / "db.sqlite3")})

    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"], ["check", "--deploy"]):
        result = subprocess.run(
            [sys.executable, "manage.py", *command], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, (command, result.stderr)
