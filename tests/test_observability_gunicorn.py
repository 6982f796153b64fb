"""The production server (gunicorn with gunicorn.conf.py and the production settings) with LOG_FORMAT=json, Sentry
and OpenTelemetry switched on, and a process with all three off.

On: every line it prints is one JSON object, one per request with its id, status, duration and account, and no
credential; spans reach an OTLP/HTTP collector on 127.0.0.1, tokens masked. Off: neither SDK is even imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.databases import Database
from tests.support.fake_bitrix24 import CLIENT_SECRET
from tests.support.fake_bitrix24_server import FakeBitrix24Server
from tests.support.gunicorn import Gunicorn, bearer, post_json, production_env, request
from tests.support.orm_probe import migrate
from tests.support.paths import REPO_ROOT
from tests.support.waiting import wait_until

# A hang guard, not a speed requirement.
EXPORT_TIMEOUT = 30


class Collector:
    """An OTLP/HTTP collector (and Sentry's ingest address) on 127.0.0.1 that keeps every POST it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                collector.received.append((self.path, self.rfile.read(int(self.headers["Content-Length"] or 0))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def traces(self) -> bytes:
        return b"".join(body for path, body in self.received if path == "/v1/traces")

    def wait_for_trace(self, text: bytes) -> None:
        wait_until(lambda: text in self.traces(), EXPORT_TIMEOUT, f"{text!r} was never exported")

    def __enter__(self) -> Collector:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def database(throwaway_db) -> Database:
    """A migrated database of its own for the server, on the tests' PostgreSQL server (`make test`'s DB_*)."""
    migrate(production_env(throwaway_db))
    return throwaway_db


def test_the_production_server_prints_json_lines_and_exports_spans(database, tmp_path):
    with FakeBitrix24Server() as bitrix24, Collector() as collector:
        env = production_env(
            database,
            bitrix24.url,
            LOG_FORMAT="json",
            SENTRY_DSN=f"http://public-key@{collector.address}/1",
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{collector.address}",
            OTEL_BSP_SCHEDULE_DELAY="50",  # OpenTelemetry's own setting: export every 50 ms, not every 5 s
        )
        grant = bitrix24.fake.grant()
        with Gunicorn(env, tmp_path / "gunicorn.log") as server:
            placement = post_json(server.port, "/api/getToken", bitrix24.fake.placement(grant))
            token = placement.json()["token"]
            listing = request(server.port, "GET", "/api/list", headers={**bearer(token), "X-Request-ID": "edge-1"})
            missing = request(server.port, "GET", "/api/no-such-route?AUTH_ID=at-in-the-query-0123")
            collector.wait_for_trace(b"GET api/list")
        output = server.output()

    lines = [json.loads(line) for line in output.splitlines()]
    requests = {line["message"]: line for line in lines if line["logger"] == "main.request_log"}
    traces = collector.traces()
    secrets = (grant.access_token, grant.refresh_token, token, CLIENT_SECRET, env["JWT_SECRET"], "at-in-the-query")
    assert (placement.status, listing.status, missing.status) == (200, 200, 404)
    assert all(isinstance(line, dict) for line in lines)
    assert any(line["message"].startswith("Booting worker") for line in lines if line["logger"] == "gunicorn.error")
    assert not any(line["logger"] == "gunicorn.access" for line in lines)
    assert {"POST /api/getToken 200", "GET /api/list 200", "GET /api/no-such-route 404"} <= requests.keys()
    assert requests["GET /api/list 200"]["request_id"] == "edge-1"
    assert requests["GET /api/list 200"]["account_id"] == requests["POST /api/getToken 200"]["account_id"]
    assert len(requests["GET /api/no-such-route 404"]["request_id"]) == 32
    assert b"POST api/getToken" in traces
    assert b"/rest/app.info/?auth=***" in traces
    for secret in secrets:
        assert secret not in output
        assert secret.encode() not in traces


def test_with_all_three_off_neither_sdk_is_loaded(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("LOG_FORMAT", "SENTRY_DSN", "OTEL_EXPORTER_OTLP_ENDPOINT")
    }
    code = """
import json, sys
import django
django.setup()
from django.test import Client
response = Client().get("/api/no-such-route", HTTP_HOST="localhost")
loaded = sorted({name.split(".")[0] for name in sys.modules if name.startswith(("sentry_sdk", "opentelemetry"))})
print(json.dumps({"status": response.status_code, "request_id": response["X-Request-ID"], "loaded": loaded}))
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "settings", "DB_ENGINE": "sqlite", "SQLITE_PATH": str(tmp_path / "db")},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.splitlines()[-1])
    assert answer["status"] == 404
    assert len(answer["request_id"]) == 32
    assert answer["loaded"] == []
