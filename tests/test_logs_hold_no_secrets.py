"""No log line holds an access or refresh token, a JWT, an application token or a secret, in any mode:
every logger the process configures, in development and production, and runserver's request log, run for real.
Gunicorn's own logs are tested on the production server in tests/test_gunicorn.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from config import config
from tests.support.fake_bitrix24 import CLIENT_SECRET
from tests.support.fake_bitrix24_server import FakeBitrix24Server
from tests.support.gunicorn import bearer, request, wait_until_answering
from tests.support.network import free_port
from tests.support.paths import REPO_ROOT

ACCESS_TOKEN = "at-logged-0123456789abcdef"
REFRESH_TOKEN = "rt-logged-0123456789abcdef"
APPLICATION_TOKEN = "app-logged-0123456789abcdef"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJhY2NvdW50X2lkIjoiMSJ9.c2lnbmF0dXJlLW9mLXRoZS1qd3Q"
# A hang guard for a server that never answers, not a speed requirement.
START_TIMEOUT = 60

# Logs, through every logger the process has configured once Django is set up and every view is loaded, a line
# holding each kind of secret, as the app, Django or a library could write it.
EVERY_LOGGER = """
import logging, sys
import django
django.setup()
from django.urls import get_resolver
get_resolver().url_patterns
for name in ["root", *sorted(logging.root.manager.loggerDict)]:
    logging.getLogger(None if name == "root" else name).critical("from %s: %s", name, sys.argv[1])
"""


def _secrets() -> list[str]:
    return [ACCESS_TOKEN, REFRESH_TOKEN, APPLICATION_TOKEN, JWT, config.jwt_secret, CLIENT_SECRET]


def _env(build_target: str, tmp_path: Path, **overrides: str) -> dict[str, str]:
    secret = "a-production-strength-jwt-secret-0123456789abcdef"
    return {
        **os.environ,
        "BUILD_TARGET": build_target,
        "JWT_SECRET": config.jwt_secret if build_target == "dev" else secret,
        "LOG_LEVEL": "DEBUG",
        "DB_ENGINE": "sqlite",
        "SQLITE_PATH": str(tmp_path / "db.sqlite3"),
        **overrides,
    }


@pytest.mark.parametrize("build_target", ["dev", "production"])
def test_every_configured_logger_masks_every_kind_of_secret(build_target, tmp_path):
    env = _env(build_target, tmp_path)
    line = (
        f"AUTH_ID={ACCESS_TOKEN} REFRESH_ID={REFRESH_TOKEN} auth[application_token]={APPLICATION_TOKEN} "
        f"Authorization: Bearer {JWT} jwt {env['JWT_SECRET']} and {CLIENT_SECRET} "
        f'"POST /api/getToken?auth%5Baccess_token%5D={ACCESS_TOKEN}&x={REFRESH_TOKEN} HTTP/1.1" 200'
    )

    result = subprocess.run(
        [sys.executable, "-c", EVERY_LOGGER, line], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert [secret for secret in [*_secrets(), env["JWT_SECRET"]] if secret in output] == []
    for name in ("root", "django", "django.request", "django.server", "axes", "main.views.get_token"):
        assert output.count(f"from {name}: ") == 1, (name, output)  # once: no second, unmasked copy


@pytest.fixture
def runserver(tmp_path) -> Iterator[tuple[int, FakeBitrix24Server]]:
    """`manage.py runserver` as `make run` starts it (development, DEBUG on), with a fake Bitrix24 OAuth server; its
    port and the file its stdout and stderr go to."""
    log = tmp_path / "runserver.log"
    port = free_port()
    with FakeBitrix24Server() as bitrix24:
        env = _env("dev", tmp_path, BITRIX24_OAUTH_SERVER=bitrix24.url)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO_ROOT, env=env, check=True)
        with log.open("wb") as out:
            server = subprocess.Popen(
                [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
                cwd=REPO_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until_answering(port, server, log, START_TIMEOUT)
            yield port, bitrix24
        finally:
            server.terminate()
            server.wait(timeout=START_TIMEOUT)


def test_runserver_request_log_holds_no_token_and_prints_each_line_once(runserver, tmp_path):
    port, bitrix24 = runserver
    grant = bitrix24.fake.grant()
    placement = {**bitrix24.fake.placement(grant), "auth[application_token]": APPLICATION_TOKEN}

    # Placement data in the query string, as Bitrix24 posts it to the app's URL.
    token = request(port, "POST", f"/api/getToken?{urlencode(placement)}").json()["token"]
    listed = request(port, "GET", f"/api/list?jwt={token}", headers=bearer(token))
    refused = request(port, "GET", f"/api/list?{urlencode({'AUTH_ID': ACCESS_TOKEN, 'REFRESH_ID': REFRESH_TOKEN})}")
    unauthorized = request(port, "GET", "/api/enum", headers=bearer(JWT))

    log = (tmp_path / "runserver.log").read_text()
    assert (listed.status, refused.status, unauthorized.status) == (200, 400, 401)
    assert '"POST /api/getToken?*** HTTP/1.1" 200' in log  # the request log names the path only
    assert [s for s in [*_secrets(), grant.access_token, grant.refresh_token, token] if s in log] == []
    assert log.count("Bad Request: /api/list") == 1
    assert log.count("Unauthorized: /api/enum") == 1
