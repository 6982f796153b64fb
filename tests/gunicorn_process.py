"""The production server as a child process: gunicorn with `gunicorn.conf.py` and the production settings, bound to
a free port on 127.0.0.1. Used by the benchmark (`bench/run.py`) and `tests/test_load_and_faults.py`.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from tests.fake_bitrix24 import CLIENT_ID, CLIENT_SECRET

REPO_ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
# Hang guards for a server that never comes up or never stops, not speed requirements.
START_TIMEOUT = 60
STOP_TIMEOUT = 60


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Database:
    host: str
    port: int
    user: str
    password: str
    name: str


def production_env(database: Database, oauth_server: str, **overrides: str) -> dict[str, str]:
    """A proper production configuration (real-looking secrets), pointed at `database` and a fake Bitrix24."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "settings",
        "BUILD_TARGET": "production",
        "JWT_SECRET": secrets.token_urlsafe(48),
        "CLIENT_ID": CLIENT_ID,
        "CLIENT_SECRET": CLIENT_SECRET,
        "VIRTUAL_HOST": "https://backend.example.test",
        "BITRIX24_OAUTH_SERVER": oauth_server,
        "DB_ENGINE": "postgresql",
        "DB_HOST": database.host,
        "DB_PORT": str(database.port),
        "DB_USER": database.user,
        "DB_PASSWORD": database.password,
        "DB_NAME": database.name,
        **overrides,
    }


def collect_static(env: dict[str, str], app_dir: Path = REPO_ROOT) -> None:
    """The admin's static files, collected as the production image's build does (once: `staticfiles/` is ignored by
    git and Docker). Production refuses to start without them (main.E006)."""
    if not (app_dir / "staticfiles" / "staticfiles.json").is_file():
        command = [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity=0"]
        subprocess.run(command, cwd=app_dir, env={**env, "BUILD_TARGET": "production"}, check=True)


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes
    seconds: float  # from sending the request to the end of the answer

    def json(self):
        assert self.content_type == "application/json", (self.content_type, self.body[:200])
        return json.loads(self.body)


def request(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 30
) -> Answer:
    """One request on a connection of its own, closed after the answer."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    with closing(connection):
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        content = response.read()
        return Answer(response.status, response.headers.get_content_type(), content, time.monotonic() - started)


def post_json(port: int, path: str, payload: dict, timeout: float = 30) -> Answer:
    return request(port, "POST", path, json.dumps(payload).encode(), {"Content-Type": "application/json"}, timeout)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Gunicorn:
    """`gunicorn wsgi:application -c gunicorn.conf.py`, as the production image runs it, on 127.0.0.1."""

    def __init__(self, env: dict[str, str], log: Path, *extra_args: str) -> None:
        self.env = env
        self.log = log
        self.port = free_port()
        self.args = [str(GUNICORN), "wsgi:application", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{self.port}"]
        self.args += extra_args
        self.process: subprocess.Popen | None = None

    def start(self) -> float:
        """Start it and wait for its first answer (`/api/healthz`); return the seconds that took."""
        collect_static(self.env)
        started = time.monotonic()
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.args, cwd=REPO_ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        while self.process.poll() is None and time.monotonic() - started < START_TIMEOUT:
            try:
                if request(self.port, "GET", "/api/healthz", timeout=5).status == 200:
                    return time.monotonic() - started
            except OSError:  # not listening yet
                time.sleep(0.005)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        raise RuntimeError(f"gunicorn did not answer within {START_TIMEOUT} s:\n{self.output()}")

    def worker_pids(self) -> list[int]:
        pid = self.process.pid
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

    def terminate(self) -> None:
        """SIGTERM: gunicorn's graceful shutdown (what `docker stop` sends)."""
        self.process.send_signal(signal.SIGTERM)

    def wait(self) -> int:
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
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

    def __enter__(self) -> Gunicorn:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.process is not None and self.process.poll() is None:
            self.stop()
