"""The tests' RabbitMQ: a virtual host of their own per test run, so runs in parallel never share a queue.

The server is TEST_RABBITMQ_URL (`make test` passes it; default amqp://guest:guest@127.0.0.1:5672, RabbitMQ's own
defaults). tests/environment.py names this run's virtual host in CELERY_BROKER_URL before Django starts; the
`rabbitmq_vhost` fixture of tests/conftest.py creates it with `rabbitmqctl` (which must run on the broker's
machine, as root or the rabbitmq user) and deletes it afterwards. The queue tests fail, never skip, without them.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

DEFAULT_SERVER = "amqp://guest:guest@127.0.0.1:5672"
QUEUE = "celery"  # Celery's default queue, which the app uses


def broker_url_of_this_run() -> str:
    """A broker URL on the tests' server with a virtual host named for this run."""
    server = os.environ.get("TEST_RABBITMQ_URL") or DEFAULT_SERVER
    return f"{server.rstrip('/')}/test-bitrix24-app-{os.getpid()}-{secrets.token_hex(4)}"


@dataclass(frozen=True)
class VirtualHost:
    url: str  # amqp://user:password@host:port/name

    @property
    def name(self) -> str:
        return unquote(urlsplit(self.url).path[1:])

    @property
    def user(self) -> str:
        return unquote(urlsplit(self.url).username or "guest")

    def create(self) -> None:
        _rabbitmqctl("add_vhost", self.name)
        _rabbitmqctl("set_permissions", "-p", self.name, self.user, ".*", ".*", ".*")

    def delete(self) -> None:
        _rabbitmqctl("delete_vhost", self.name)

    def messages(self, queue: str = QUEUE) -> tuple[int, int]:
        """The queue's messages waiting for a worker, and those a worker holds unacknowledged."""
        listing = _rabbitmqctl(
            "list_queues", "-p", self.name, "--formatter", "json", "name", "messages_ready", "messages_unacknowledged"
        )
        for row in json.loads(listing or "[]"):
            if row["name"] == queue:
                return row["messages_ready"], row["messages_unacknowledged"]
        return 0, 0


def _rabbitmqctl(*args: str) -> str:
    tool = shutil.which("rabbitmqctl")
    assert tool, "rabbitmqctl is missing: the queue tests need RabbitMQ on this machine (.ci/run starts it)"
    result = subprocess.run([tool, "-q", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"rabbitmqctl {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
    return result.stdout
