"""Celery's worker and beat as child processes (`celery -A celery_app worker|beat`), run in the repository with an
environment of their own (`production_env()`: a database, a fake Bitrix24, the test run's broker). Used by
tests/test_tasks.py.

Each runs in a process group of its own: `kill()` sends SIGKILL to the worker and its pool processes at once, as
when a container or machine dies mid-task.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
from pathlib import Path

from tests.support.gunicorn import HANG_TIMEOUT, VENV_BIN
from tests.support.paths import REPO_ROOT
from tests.support.waiting import wait_until

# What the worker logs once it consumes (Celery's "<name> ready.").
READY = " ready."


class CeleryProcess:
    """`celery -A celery_app <args>`, its output in `log`."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.env = env
        self.log = log
        self.args = [str(VENV_BIN / "celery"), "-A", "celery_app", *args]
        self.process: subprocess.Popen | None = None

    def start(self, ready_text: str) -> None:
        """Start it and wait until its output shows `ready_text`."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.args, cwd=REPO_ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.wait_for_output(ready_text)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(self, text: str, count: int = 1) -> None:
        """Wait until `text` appears `count` times in the output (it has a deadline, and fails if the process ends)."""

        def appeared() -> bool:
            assert self.process.poll() is None, f"celery exited ({self.process.returncode}):\n{self.output()}"
            return self.output().count(text) >= count

        wait_until(appeared, HANG_TIMEOUT, lambda: f"{text!r} x{count} never appeared in:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL to the process and every process it started (a worker's pool)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=HANG_TIMEOUT)

    def stop(self) -> None:
        """SIGTERM (a warm shutdown: the task in flight finishes), SIGKILL after HANG_TIMEOUT."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=HANG_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class Worker(CeleryProcess):
    """A worker with one pool process, named for the test, that skips the start-up chat with other workers."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        name = f"test-{secrets.token_hex(4)}@%h"
        super().__init__(env, log, "worker", "--concurrency", "1", "--without-mingle", "--without-gossip", "-n", name)

    def __enter__(self) -> Worker:
        self.start(READY)
        return self


class Beat(CeleryProcess):
    """Celery beat, keeping its schedule file in `schedule_dir`."""

    def __init__(self, env: dict[str, str], log: Path, schedule_dir: Path) -> None:
        super().__init__(env, log, "beat", "--schedule", str(schedule_dir / "celerybeat-schedule"))

    def __enter__(self) -> Beat:
        self.start("beat: Starting...")
        return self
