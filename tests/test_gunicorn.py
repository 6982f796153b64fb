"""The production image's start, run here on the image's files (no Docker engine): the Dockerfile's collectstatic,
then its ENTRYPOINT and CMD (gunicorn with gunicorn.conf.py, production settings) against a throwaway PostgreSQL
database and a fake Bitrix24 OAuth server on 127.0.0.1. Also the entrypoint scripts' other paths.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode

import jwt
import pytest

from tests.support.databases import Database, configured_server, throwaway_database
from tests.support.docker_context import copy_build_context, dockerfile_stages
from tests.support.fake_bitrix24 import CLIENT_SECRET
from tests.support.fake_bitrix24_server import FakeBitrix24Server
from tests.support.gunicorn import (
    HANG_TIMEOUT,
    NO_BITRIX24,
    Answer,
    Gunicorn,
    base_env,
    bearer,
    bound_locally,
    post_json,
    production_env,
    request,
)
from tests.support.network import free_port
from tests.support.paths import REPO_ROOT

PRODUCTION = dockerfile_stages()["production"]
SUPERUSER = {"username": "admin", "email": "admin@example.test", "password": "Adm1n-" + secrets.token_hex(8)}
# A hang guard for a reload that never takes effect, not a speed requirement.
RELOAD_TIMEOUT = 30


def _instruction(stage: list[str], name: str) -> str:
    return next(line for line in reversed(stage) if line.startswith(f"{name} ")).removeprefix(f"{name} ")


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory) -> Path:
    """The image's /app: the build context, and static files collected by the Dockerfile's own command."""
    app = tmp_path_factory.mktemp("app")
    copy_build_context(app)
    collectstatic = next(line for line in PRODUCTION if "collectstatic" in line).removeprefix("RUN ")
    result = subprocess.run(["sh", "-c", collectstatic], cwd=app, env=base_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return app


def _container_env(database: Database, oauth_server: str = NO_BITRIX24, **overrides: str) -> dict[str, str]:
    """A proper production configuration as .env would give it, with an admin to create."""
    return production_env(
        database,
        oauth_server,
        **{
            "DJANGO_SUPERUSER_USERNAME": SUPERUSER["username"],
            "DJANGO_SUPERUSER_EMAIL": SUPERUSER["email"],
            "DJANGO_SUPERUSER_PASSWORD": SUPERUSER["password"],
            "BITRIX24_TIMEOUT": "30",  # the shutdown test holds Bitrix24's answer; the SDK must not give up first
            "LOG_LEVEL": "INFO",
            **overrides,
        },
    )


def _container_command(app: Path) -> list[str]:
    """The production container's start: ENTRYPOINT + CMD."""
    entrypoint = json.loads(_instruction(PRODUCTION, "ENTRYPOINT"))
    return [str(app / "docker" / entrypoint[0]), *json.loads(_instruction(PRODUCTION, "CMD"))]


def _run_script(app: Path, script: str, *command: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(app / "docker" / script), *command], cwd=app, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def production_database() -> Iterator[Database]:
    with throwaway_database(configured_server(), "gunicorn_test") as database:
        yield database


@pytest.fixture(scope="module")
def oauth() -> Iterator[FakeBitrix24Server]:
    with FakeBitrix24Server() as server:
        yield server


@pytest.fixture(scope="module")
def gunicorn(app_dir, production_database, oauth, tmp_path_factory) -> Iterator[Gunicorn]:
    env = _container_env(production_database, oauth.url)
    log = tmp_path_factory.mktemp("logs") / "gunicorn.log"
    with Gunicorn(env, log, _container_command(app_dir), cwd=app_dir) as server:
        yield server


# ---- the running production server --------------------------------------------------------------------------------


def test_health_checks_pass(gunicorn):
    answer = request(gunicorn.port, "GET", "/api/healthz")
    healthcheck = json.loads(_instruction(dockerfile_stages()["base"], "HEALTHCHECK").split(" CMD ", 1)[1])
    probe = [arg.replace("127.0.0.1:8000", f"127.0.0.1:{gunicorn.port}") for arg in healthcheck]

    assert answer.status == 200
    assert answer.json() == {"status": "healthy", "database": "ok"}
    assert subprocess.run(probe, env=base_env(), capture_output=True, timeout=30).returncode == 0


def test_api_answers_json_through_the_whole_flow(gunicorn, oauth):
    grant = oauth.fake.grant()

    token_answer = post_json(gunicorn.port, "/api/getToken", oauth.fake.placement(grant))
    token = token_answer.json()["token"]
    listing = request(gunicorn.port, "GET", "/api/enum", headers=bearer(token))
    unknown = request(gunicorn.port, "GET", "/api/no-such-route")

    assert token_answer.status == 200
    assert listing.status == 200
    assert listing.json() == ["option 1", "option 2", "option 3"]
    assert unknown.status == 404
    assert "error" in unknown.json()


def test_the_api_description_and_docs_are_development_only(gunicorn, app_dir):
    swagger_ui = "/api/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"

    for path in ("/api/openapi.json", "/api/docs"):
        answer = request(gunicorn.port, "GET", path)
        assert (answer.status, answer.json()) == (404, {"error": f"Not found: {path}"})
    assert request(gunicorn.port, "GET", swagger_ui).status == 404
    assert not (app_dir / "staticfiles" / "drf_spectacular_sidecar").exists()


class _Stylesheets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "link" and attributes.get("rel") == "stylesheet" and attributes.get("href"):
            self.hrefs.append(attributes["href"])


def test_admin_login_page_has_its_css(gunicorn):
    page = request(gunicorn.port, "GET", "/api/admin/login/")
    parser = _Stylesheets()
    parser.feed(page.body.decode())

    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert parser.hrefs
    for href in parser.hrefs:
        # Collected with hashed names (WhiteNoise's manifest), served by gunicorn itself.
        assert re.fullmatch(r"/api/static/admin/css/[\w/-]+\.[0-9a-f]{12}\.css", href), href
        css = request(gunicorn.port, "GET", href)
        assert css.status == 200, href
        assert css.headers["Content-Type"].startswith("text/css")
        assert css.body


def _admin_login(port: int, username: str, password: str) -> Answer:
    """The admin's login form filled in and posted, as a browser does (CSRF cookie and field)."""
    login = request(port, "GET", "/api/admin/login/")
    csrf_cookie = login.cookie("csrftoken")
    csrf_field = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.body.decode()).group(1)
    form = urlencode({"username": username, "password": password, "csrfmiddlewaretoken": csrf_field})
    return request(
        port,
        "POST",
        "/api/admin/login/?next=/api/admin/",
        form.encode(),
        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={csrf_cookie}"},
    )


def test_superuser_from_the_environment_logs_in_to_the_admin(gunicorn):
    signed_in = _admin_login(gunicorn.port, SUPERUSER["username"], SUPERUSER["password"])
    session = signed_in.cookie("sessionid")
    index = request(gunicorn.port, "GET", "/api/admin/", headers={"Cookie": f"sessionid={session}"})

    assert signed_in.status == 302
    assert index.status == 200
    assert "Site administration" in index.body.decode()


def test_failed_admin_logins_through_the_production_server_lock_out_with_a_json_429(gunicorn):
    # Each login on a connection of its own, which any worker may accept: the count lives in the database, not in
    # a worker.
    statuses = [_admin_login(gunicorn.port, "intruder", f"guess-{n}").status for n in range(5)]
    refused = _admin_login(gunicorn.port, "intruder", "guess-5")

    assert statuses == [200] * 4 + [429]
    assert (refused.status, refused.json()) == (429, {"error": "Too many failed logins; try again later"})
    assert refused.headers["Retry-After"] == "900"
    assert "guess-" not in gunicorn.output()


def test_access_log_names_paths_but_no_query_string_or_token(gunicorn, oauth):
    grant = oauth.fake.grant()

    # The placement travels in the query string here, as some clients send it.
    answer = request(gunicorn.port, "POST", f"/api/getToken?{urlencode(oauth.fake.placement(grant))}")
    token = answer.json()["token"]
    request(gunicorn.port, "GET", f"/api/list?jwt={token}", headers=bearer(token))
    gunicorn.wait_for_output('"GET /api/list" 200')

    log = gunicorn.output()
    assert answer.status == 200
    assert '"POST /api/getToken" 200' in log
    for secret in (grant.access_token, grant.refresh_token, token, CLIENT_SECRET):
        assert secret not in log


def test_error_log_masks_the_tokens_of_a_malformed_request_line(gunicorn, oauth):
    grant, application_token = oauth.fake.grant(), "app-token-" + secrets.token_hex(8)
    query = urlencode({**oauth.fake.placement(grant), "auth[application_token]": application_token})

    # A control character makes the request line invalid: gunicorn's error log quotes it whole.
    with socket.create_connection(("127.0.0.1", gunicorn.port), timeout=30) as connection:
        connection.sendall(f"GET /api/list?{query}\x01 HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        assert connection.recv(100).startswith(b"HTTP/1.1 400")
    gunicorn.wait_for_output("Invalid HTTP request line")

    log = gunicorn.output()
    assert "Invalid HTTP request line: 'GET /api/list?***" in log
    for secret in (grant.access_token, grant.refresh_token, application_token):
        assert secret not in log


# ---- start-up and shutdown ------------------------------------------------------------------------------------------


def test_sigterm_lets_the_request_in_flight_finish(app_dir, production_database, tmp_path):
    with (
        FakeBitrix24Server() as slow_bitrix24,
        Gunicorn(
            _container_env(production_database, slow_bitrix24.url),
            tmp_path / "log",
            _container_command(app_dir),
            cwd=app_dir,
        ) as server,
    ):
        grant = slow_bitrix24.fake.grant()
        slow_bitrix24.hang()  # Bitrix24 holds its app.info answer: getToken stays in flight
        answers: list[Answer] = []
        in_flight = threading.Thread(
            target=lambda: answers.append(post_json(server.port, "/api/getToken", slow_bitrix24.fake.placement(grant)))
        )
        in_flight.start()
        assert slow_bitrix24.wait_for_waiting(1, timeout=HANG_TIMEOUT)

        server.terminate()
        server.wait_for_output("Handling signal: term")
        slow_bitrix24.release()
        in_flight.join(timeout=HANG_TIMEOUT)
        exit_code = server.wait()

    assert len(answers) == 1
    assert answers[0].status == 200
    assert "token" in answers[0].json()
    assert exit_code == 0


def test_production_refuses_to_start_with_placeholder_secrets(app_dir, production_database, tmp_path):
    env = _container_env(production_database, JWT_SECRET="default_jwt_secret", RUN_MIGRATIONS="0")
    command = bound_locally(json.loads(_instruction(PRODUCTION, "CMD")), free_port())

    result = _run_script(app_dir, "entrypoint-prod.sh", *command, env=env)

    assert result.returncode != 0
    assert "main.E001" in result.stderr
    # The workers check before they serve (gunicorn.conf.py): no request was answered.
    assert "Worker failed to boot" in result.stdout + result.stderr
    assert '"GET ' not in result.stdout + result.stderr


# ---- reloading (SIGHUP) a changed .env ------------------------------------------------------------------------------


def _signed_with(token: str, secret: str) -> bool:
    try:
        jwt.decode(token, secret, algorithms=["HS256"])
    except jwt.InvalidSignatureError:
        return False
    return True


@contextmanager
def _server_reading_env_file(
    app_dir: Path, database: Database, oauth_url: str, tmp_path: Path, **in_env_file: str
) -> Iterator[tuple[Gunicorn, Path]]:
    """The production container, and its `.env`, on a copy of the image's files whose JWT_SECRET (and `in_env_file`)
    come from that file, not from the environment (whose variables would win over it)."""
    app = tmp_path / "app"
    shutil.copytree(app_dir, app)
    env = _container_env(database, oauth_url)
    from_file = {"JWT_SECRET": env["JWT_SECRET"], **in_env_file}
    for name in (*from_file, "ENV_FILE"):  # the copy's own .env is read
        env.pop(name, None)
    (app / ".env").write_text("".join(f"{name}={value}\n" for name, value in from_file.items()))
    with Gunicorn(env, tmp_path / "gunicorn.log", _container_command(app), cwd=app) as server:
        yield server, app / ".env"


def test_gunicorn_settings_in_the_env_file_apply(app_dir, throwaway_db, oauth, tmp_path):
    settings = {"WEB_CONCURRENCY": "3", "LOG_LEVEL": "WARNING"}
    with _server_reading_env_file(app_dir, throwaway_db, oauth.url, tmp_path, **settings) as (server, _env_file):
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while len(server.worker_pids()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = server.worker_pids()
        assert request(server.port, "GET", "/api/healthz").status == 200

    assert len(workers) == 3
    assert "Booting worker" not in server.output()  # gunicorn's INFO lines are below LOG_LEVEL=WARNING


def test_sighup_applies_a_rotated_jwt_secret_from_the_env_file(app_dir, throwaway_db, oauth, tmp_path):
    with _server_reading_env_file(app_dir, throwaway_db, oauth.url, tmp_path) as (server, env_file):
        old_secret = env_file.read_text().strip().removeprefix("JWT_SECRET=")
        old_jwt = post_json(server.port, "/api/getToken", oauth.fake.placement(oauth.fake.grant())).json()["token"]
        new_secret = secrets.token_urlsafe(48)
        env_file.write_text(f"JWT_SECRET={new_secret}\nJWT_SECRET_PREVIOUS={old_secret}\n")

        server.process.send_signal(signal.SIGHUP)
        # Until the old workers are gone, some answers still come from them: wait for a new worker's.
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while True:
            renewal = request(server.port, "POST", "/api/getToken", headers=bearer(old_jwt))
            if renewal.status != 200 or not _signed_with(renewal.json()["token"], old_secret):
                break
            assert time.monotonic() < deadline, f"the reload kept the old JWT_SECRET:\n{server.output()}"
            time.sleep(0.2)

    assert _signed_with(old_jwt, old_secret)
    assert renewal.status == 200  # the old JWT is accepted (JWT_SECRET_PREVIOUS)...
    assert _signed_with(renewal.json()["token"], new_secret)  # ...and renewed with the new secret


def test_every_request_sent_during_a_reload_is_answered(app_dir, throwaway_db, oauth, tmp_path):
    statuses: list[int] = []
    failures: list[str] = []
    stop = threading.Event()

    def client(port: int) -> None:
        while not stop.is_set():
            try:
                statuses.append(request(port, "GET", "/api/healthz", timeout=10).status)
            except OSError as error:  # a connection reset or refused: a request lost
                failures.append(repr(error))

    with _server_reading_env_file(app_dir, throwaway_db, oauth.url, tmp_path) as (server, _env_file):
        old_workers = set(server.worker_pids())
        clients = [threading.Thread(target=client, args=(server.port,)) for _ in range(4)]
        for thread in clients:
            thread.start()
        try:
            server.process.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + RELOAD_TIMEOUT
            while old_workers & set(server.worker_pids()) and time.monotonic() < deadline:
                time.sleep(0.05)
            replaced = not old_workers & set(server.worker_pids())
        finally:
            stop.set()
            for thread in clients:
                thread.join()

    assert replaced, f"the old workers outlived the reload:\n{server.output()}"
    assert failures == []
    assert set(statuses) == {200}  # and not empty


def test_sighup_with_an_unsafe_env_file_stops_the_server(app_dir, throwaway_db, oauth, tmp_path):
    with _server_reading_env_file(app_dir, throwaway_db, oauth.url, tmp_path) as (server, env_file):
        env_file.write_text("JWT_SECRET=short\n")

        server.process.send_signal(signal.SIGHUP)
        exit_code = server.process.wait(timeout=RELOAD_TIMEOUT)

    assert exit_code != 0
    assert "main.E001" in server.output()


# ---- the entrypoint scripts' other paths ----------------------------------------------------------------------------


def test_dev_entrypoint_prepares_a_fresh_database_and_restarts_cleanly(app_dir, throwaway_db):
    env = _container_env(throwaway_db, BUILD_TARGET="dev")

    first = _run_script(app_dir, "entrypoint-dev.sh", "python", "-c", "print('command started')", env=env)
    second = _run_script(app_dir, "entrypoint-dev.sh", "python", "-c", "print('command started')", env=env)

    assert first.returncode == 0, first.stderr
    assert "command started" in first.stdout
    assert throwaway_db.query("SELECT is_superuser FROM auth_user WHERE username = %s", (SUPERUSER["username"],)) == [
        (True,)
    ]
    assert second.returncode == 0, second.stderr
    assert f"superuser '{SUPERUSER['username']}' exists, left unchanged" in second.stdout
    assert "command started" in second.stdout


def test_run_migrations_0_leaves_the_database_to_a_separate_job(app_dir, throwaway_db):
    result = _run_script(app_dir, "entrypoint-prod.sh", "true", env=_container_env(throwaway_db, RUN_MIGRATIONS="0"))

    assert result.returncode == 0, result.stderr
    assert "not migrating" in result.stdout
    schema = "DATABASE()" if throwaway_db.is_mysql else "'public'"
    assert throwaway_db.query(f"SELECT count(*) FROM information_schema.tables WHERE table_schema = {schema}") == [(0,)]


@pytest.mark.parametrize(("engine", "server"), [("postgresql", "PostgreSQL"), ("mysql", "MySQL")])
def test_wait_for_db_gives_up_on_an_unreachable_database(app_dir, engine, server):
    port = str(free_port())
    env = {**base_env(), "DB_ENGINE": engine, "DB_HOST": "127.0.0.1", "DB_PORT": port, "DB_WAIT_SECONDS": "1"}

    result = _run_script(app_dir, "wait-for-db.sh", env=env)

    assert result.returncode == 1
    assert f"{server} at 127.0.0.1:{port} did not answer within 1s" in result.stderr


def test_prod_entrypoint_refuses_code_mounted_over_the_collected_static_files(tmp_path):
    result = subprocess.run(
        [str(REPO_ROOT / "docker" / "entrypoint-prod.sh"), "true"],
        cwd=tmp_path,
        env=base_env(),
        capture_output=True,
        text=True,
    )

    assert result.returncode == 1
    assert "docker-compose.override.yml" in result.stderr
