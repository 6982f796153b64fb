"""The system checks (main/checks.py): production mode refuses to start with placeholder or weak secrets, and passes
Django's deploy checks when set."""

import os
import subprocess
import sys

import pytest

from main.checks import check_production_settings
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
    return {error.id for error in check_production_settings(None)}


def _manage_check(env_overrides: dict) -> subprocess.CompletedProcess:
    env = {**os.environ, **GOOD, "DB_ENGINE": "sqlite", **env_overrides}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"], cwd=REPO_ROOT, env=env, capture_output=True, text=True
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
