"""The production server as a child process, and HTTP requests to servers on 127.0.0.1.

`Gunicorn` runs the production image's command (`gunicorn wsgi:application -c gunicorn.conf.py`, or the image's
ENTRYPOINT and CMD) with `production_env()`, bound to a free port of 127.0.0.1 instead of 0.0.0.0:8000. Used by the
benchmark (`bench/run.py`), `tests/test_load_and_faults.py` and `tests/test_gunicorn.py`; `tests/test_make_run.py`
asks `make run`'s development server with `request()` too.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

from tests.support.databases import Database
from tests.support.fake_bitrix24 import CLIENT_ID, CLIENT_SECRET
from tests.support.network import free_port
from tests.support.paths import REPO_ROOT
from tests.support.waiting import wait_until

VENV_BIN = Path(sys.executable).parent
# The production image's bind address (its CMD): a server started here listens on 127.0.0.1 instead.
PRODUCTION_BIND = "0.0.0.0:8000"
# The production image's CMD, with this venv's gunicorn.
GUNICORN_COMMAND = (str(VENV_BIN / "gunicorn"), "wsgi:application", "--bind", PRODUCTION_BIND, "-c", "gunicorn.conf.py")
# Nothing listens there: for a backend that must not need Bitrix24.
NO_BITRIX24 = "http://127.0.0.1:9"
# A hang guard for a server that never comes up, never stops or never logs what is awaited; not a speed requirement.
HANG_TIMEOUT = 90


def base_env() -> dict[str, str]:
    """What a container has before its configuration: a PATH whose `python` and `gunicorn` are this venv's, and no
    `.env` (a developer's, in the repository, is not the container's)."""
    return {"PATH": f"{VENV_BIN}:{os.environ['PATH']}", "LANG": "C.UTF-8", "ENV_FILE": os.devnull}


def production_env(database: Database, oauth_server: str = NO_BITRIX24, **overrides: str) -> dict[str, str]:
    """A container's environment with a proper production configuration (real-looking secrets), pointed at
    `database` and a (fake) Bitrix24 OAuth server; overrides as keywords."""
    return {
        **base_env(),
        "BUILD_TARGET": "production",
        "JWT_SECRET": secrets.token_urlsafe(48),
        "CLIENT_ID": CLIENT_ID,
        "CLIENT_SECRET": CLIENT_SECRET,
        "VIRTUAL_HOST": "https://backend.example.test",
        "BITRIX24_OAUTH_SERVER": oauth_server,
        **database.env(),
        **overrides,
    }


def collect_static(env: dict[str, str], app_dir: Path = REPO_ROOT) -> None:
    """The admin's static files, collected as the production image's build does (once: `staticfiles/` is ignored by
    git and Docker). Production refuses to start without them (main.E006)."""
    if not (app_dir / "staticfiles" / "staticfiles.json").is_file():
        command = [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity=0"]
        subprocess.run(command, cwd=app_dir, env={**env, "BUILD_TARGET": "production"}, check=True)


def bound_locally(command: Sequence[str], port: int) -> list[str]:
    """`command` with the production image's bind address replaced by `port` of 127.0.0.1."""
    return [arg.replace(PRODUCTION_BIND, f"127.0.0.1:{port}") for arg in command]


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    seconds: float  # from sending the request to the end of the answer

    @property
    def content_type(self) -> str:
        return self.headers.get_content_type()

    def json(self) -> Any:
        assert self.content_type == "application/json", (self.content_type, self.body[:200])
        return json.loads(self.body)

    def cookie(self, name: str) -> str:
        cookies = SimpleCookie()
        for header in self.headers.get_all("Set-Cookie", []):
            cookies.load(header)
        return cookies[name].value


def request(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 60
) -> Answer:
    """One request to 127.0.0.1:`port` on a connection of its own, closed after the answer."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    with closing(connection):
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        content = response.read()
        return Answer(response.status, response.headers, content, time.monotonic() - started)


def child_pids(pid: int) -> list[int]:
    """The processes `pid` started (gunicorn's workers, a Celery worker's pool)."""
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def wait_until_answering(port: int, process: subprocess.Popen, log: Path, timeout: float = HANG_TIMEOUT) -> None:
    """Return once `GET /api/healthz` on `port` answers 200; fail, with the server's `log`, if `process` exits first or
    `timeout` seconds pass."""

    def answering() -> bool:
        assert process.poll() is None, f"the server exited with {process.returncode}:\n{log.read_text()}"
        try:
            return request(port, "GET", "/api/healthz", timeout=5).status == 200
        except OSError:  # not listening yet
            return False

    wait_until(answering, timeout, lambda: f"the server did not answer within {timeout} s:\n{log.read_text()}")


def post_json(port: int, path: str, payload: dict, timeout: float = 60) -> Answer:
    return request(port, "POST", path, json.dumps(payload).encode(), {"Content-Type": "application/json"}, timeout)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Gunicorn:
    """`command` (by default the production image's CMD, run in the repository) on a free port of 127.0.0.1."""

    def __init__(
        self, env: dict[str, str], log: Path, command: Sequence[str] = GUNICORN_COMMAND, cwd: Path = REPO_ROOT
    ) -> None:
        self.env = env
        self.log = log
        self.cwd = cwd
        self.port = free_port()
        self.args = bound_locally(command, self.port)
        self.process: subprocess.Popen | None = None

    def start(self) -> float:
        """Start it and wait for its first answer (`/api/healthz`); return the seconds that took."""
        collect_static(self.env, self.cwd)
        started = time.monotonic()
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.args, cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        while self.process.poll() is None and time.monotonic() - started < HANG_TIMEOUT:
            try:
                if request(self.port, "GET", "/api/healthz", timeout=5).status == 200:
                    return time.monotonic() - started
            except OSError:  # not listening yet
                time.sleep(0.005)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        raise RuntimeError(f"gunicorn did not answer within {HANG_TIMEOUT} s:\n{self.output()}")

    def worker_pids(self) -> list[int]:
        return child_pids(self.process.pid)

    def terminate(self) -> None:
        """SIGTERM: gunicorn's graceful shutdown (what `docker stop` sends)."""
        self.process.send_signal(signal.SIGTERM)

    def wait(self) -> int:
        try:
            return self.process.wait(timeout=HANG_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def stop(self) -> int:
        """Terminate it gracefully; return its exit status."""
        if self.process.poll() is None:
            self.terminate()
        return self.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(self, text: str) -> None:
        wait_until(lambda: text in self.output(), HANG_TIMEOUT, lambda: f"{text!r} never appeared in:\n{self.output()}")

    def __enter__(self) -> Gunicorn:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.stop()
