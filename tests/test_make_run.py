"""The Makefile's user-facing targets, run for real: `make run` serves the API, `make superuser` creates an admin.

Both use the embedded SQLite database in a temporary directory, so they never touch the tests' PostgreSQL.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth.hashers import check_password

from main.jwts import verify_jwt
from tests.support.gunicorn import request, wait_until_answering
from tests.support.network import free_port
from tests.support.paths import REPO_ROOT

STARTUP_LIMIT_SECONDS = 60


def _sqlite_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "DB_ENGINE": "sqlite", "SQLITE_PATH": str(tmp_path / "db.sqlite3"), **extra}


def _make(target: str, env: dict[str, str], *variables: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "-s", target, *variables],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@dataclass
class Server:
    port: int
    database: Path


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`make run` serving on a free local port, once /api/healthz answers. Stopped afterwards."""
    tmp_path = tmp_path_factory.mktemp("make-run")
    port = free_port()
    log = (tmp_path / "make-run.log").open("w")
    server = subprocess.Popen(
        ["make", "run"],
        cwd=REPO_ROOT,
        env=_sqlite_env(tmp_path, HOST="127.0.0.1", PORT=str(port)),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: runserver's autoreloader forks a child
    )
    try:
        wait_until_answering(port, server, tmp_path / "make-run.log", STARTUP_LIMIT_SECONDS)
        yield Server(port, tmp_path / "db.sqlite3")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def test_make_run_serves_healthz_from_the_embedded_sqlite_database(make_run):
    answer = request(make_run.port, "GET", "/api/healthz")

    assert (answer.status, answer.content_type) == (200, "application/json")
    assert json.loads(answer.body)["status"] == "healthy"
    assert make_run.database.is_file()


def test_make_run_answers_api_calls_without_placement_data_with_a_json_400(make_run):
    answer = request(make_run.port, "GET", "/api/list")

    assert (answer.status, answer.content_type) == (400, "application/json")
    assert set(json.loads(answer.body)) == {"error"}


def test_make_run_serves_the_admin_stylesheet_in_dev_mode(make_run):
    answer = request(make_run.port, "GET", "/api/static/admin/css/base.css")

    assert (answer.status, answer.content_type) == (200, "text/css")
    assert answer.body


def test_make_superuser_creates_a_superuser_from_the_environment(tmp_path):
    env = _sqlite_env(
        tmp_path,
        DJANGO_SUPERUSER_USERNAME="admin",
        DJANGO_SUPERUSER_EMAIL="admin@example.com",
        DJANGO_SUPERUSER_PASSWORD="a-long-admin-password-0123",
    )

    migrated, created = _make("migrate", env), _make("superuser", env)

    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert created.returncode == 0, created.stdout + created.stderr
    with closing(sqlite3.connect(tmp_path / "db.sqlite3")) as connection:
        rows = connection.execute("SELECT username, email, is_staff, is_superuser, password FROM auth_user").fetchall()
    [(username, email, is_staff, is_superuser, password_hash)] = rows
    assert (username, email, is_staff, is_superuser) == ("admin", "admin@example.com", 1, 1)
    assert check_password("a-long-admin-password-0123", password_hash)


def test_make_run_serves_the_api_docs_and_their_files_itself(make_run):
    page = request(make_run.port, "GET", "/api/docs")
    files = re.findall(r'(?:src|href)="([^"]*)"', page.body.decode())
    description = request(make_run.port, "GET", "/api/openapi.json")

    assert (page.status, page.content_type) == (200, "text/html")
    assert files
    for path in files:
        assert path.startswith("/api/static/"), path  # nothing from another host: the docs work offline
        assert request(make_run.port, "GET", path).status == 200, path
    assert (description.status, json.loads(description.body)["openapi"]) == (200, "3.1.0")


@pytest.fixture
def sqlite_account(tmp_path: Path) -> tuple[dict[str, str], str]:
    """`make run`'s kind of database, migrated, with one account (user 1 of portal.bitrix24.com): its id."""
    env = _sqlite_env(tmp_path)
    assert _make("migrate", env).returncode == 0
    create = (
        "from main.models import Bitrix24Account; print(Bitrix24Account.objects.create(b24_user_id=1,"
        " member_id='m' * 32, domain_url='portal.bitrix24.com', status='active', access_token='at-0123456789').pk)"
    )
    created = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", create], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    (account_id,) = re.findall(r"^[0-9a-f-]{36}$", created.stdout, re.MULTILINE)
    return env, account_id


def test_make_jwt_prints_just_the_jwt_of_the_account(sqlite_account):
    env, account_id = sqlite_account

    by_user, by_id = _make("jwt", env, "ACCOUNT=portal.bitrix24.com 1"), _make("jwt", env, f"ACCOUNT={account_id}")

    for answer in (by_user, by_id):
        assert answer.returncode == 0, answer.stderr
        assert re.fullmatch(r"eyJ[\w-]+\.[\w-]+\.[\w-]+\n", answer.stdout)  # TOKEN=$(make -s jwt ...) works
        assert str(verify_jwt(answer.stdout.strip()).account_id) == account_id


def test_make_b24_call_passes_the_json_params_intact(sqlite_account):
    """The call fails (Bitrix24 is a closed local port here, nothing leaves the machine); the params got through."""
    env, _ = sqlite_account
    env.update(https_proxy=f"http://127.0.0.1:{free_port()}", no_proxy="")

    answer = _make("b24-call", env, "ACCOUNT=portal.bitrix24.com 1", "METHOD=crm.deal.get", 'PARAMS={"ID": 12}')

    assert answer.returncode != 0
    assert answer.stderr.startswith("CommandError: Bitrix24 is not answering correctly; try again later\n")
