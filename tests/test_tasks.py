"""Background work on the real broker (main/tasks.py, celery_app.py): events posted through the API with
ENABLE_RABBITMQ on are applied by a real worker process, a worker killed mid-task loses nothing and does nothing
twice, a broker that is away gets quick 503s while the rest of the API answers, and beat's periodic token renewal
renews or blocks accounts.

The worker and beat run as child processes (`celery -A celery_app ...`) on this run's virtual host of the tests'
RabbitMQ, against pytest-django's test database (these tests commit: `transaction=True`), asking a fake Bitrix24
that answers over real HTTP and shares its state with the in-process fake (`fake_b24`).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from django.conf import settings
from django.db import connection

from celery_app import app
from main.jwts import issue_jwt
from main.models import ApplicationInstallation, Bitrix24Account
from tests.support.accounts import stored_account
from tests.support.celery_worker import Beat, Worker
from tests.support.databases import configured_server
from tests.support.fake_bitrix24 import PORTAL_A, PORTAL_B, FakeBitrix24
from tests.support.fake_bitrix24_server import FakeBitrix24Server
from tests.support.gunicorn import HANG_TIMEOUT, Gunicorn, bearer, child_pids, production_env, request
from tests.support.invariants import rows
from tests.support.network import free_port
from tests.support.rabbitmq import VirtualHost
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

# A queued event is answered without waiting for Bitrix24 or a worker; a broker that is away gets a 503 within two
# attempts of EVENT_PUBLISH_TIMEOUT (2 s each). Both bounds leave room for a loaded 2-core machine.
ANSWER_SECONDS = 2.0
BROKER_AWAY_SECONDS = 8.0


def _eventually(check: Callable[[], object], what: str) -> None:
    wait_until(check, HANG_TIMEOUT, f"timed out waiting for {what}")


def _installation() -> ApplicationInstallation:
    return ApplicationInstallation.objects.get()


def _post_event(client, fields: dict):
    started = time.monotonic()
    response = client.post("/api/app-events", fields)
    return response, time.monotonic() - started


@pytest.fixture
def queue(rabbitmq_vhost: VirtualHost) -> VirtualHost:
    """This run's broker, its queue emptied of anything an earlier test left."""
    app.control.purge()
    return rabbitmq_vhost


@pytest.fixture
def oauth_server(fake_b24: FakeBitrix24) -> Iterator[FakeBitrix24Server]:
    with FakeBitrix24Server(fake_b24) as server:
        yield server


@pytest.fixture
def worker_env(queue: VirtualHost, oauth_server: FakeBitrix24Server) -> dict[str, str]:
    """A production configuration on the test database, the fake Bitrix24 and this run's broker; DEBUG logs, so
    the tests see that even those carry no token."""
    database = configured_server().named(connection.settings_dict["NAME"])
    return production_env(
        database, oauth_server.url, CELERY_BROKER_URL=queue.url, JWT_SECRET=settings.JWT_SECRET, LOG_LEVEL="DEBUG"
    )


@pytest.fixture
def worker(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Worker]:
    with Worker(worker_env, tmp_path / "worker.log") as worker:
        yield worker


@pytest.fixture
def queued(settings) -> None:
    settings.ENABLE_RABBITMQ = True


def _assert_no_token_in(output: str, fake_b24: FakeBitrix24) -> None:
    tokens = [*fake_b24.application_tokens.values()]
    tokens += [t for grant in fake_b24.grants.values() for t in (grant.access_token, grant.refresh_token) if t]
    assert tokens
    for token in tokens:
        assert token not in output, "a token leaked into the worker's log"


# --- Events through the queue ------------------------------------------------------------------------------------


def test_events_are_answered_at_once_and_applied_by_the_worker(
    client, fake_b24, oauth_server, installed, worker, queued
):
    oauth_server.hang()  # Bitrix24 is slow: the request must not wait for it
    before = rows()

    response, seconds = _post_event(client, fake_b24.event("ONAPPINSTALL", PORTAL_A, installed))

    assert (response.status_code, response.json()) == (200, {"status": "queued"})
    assert seconds < ANSWER_SECONDS
    assert oauth_server.wait_for_waiting(1, HANG_TIMEOUT)  # the worker asks app.info...
    assert rows() == before  # ...and writes nothing before Bitrix24 confirmed the token
    oauth_server.release()
    _eventually(lambda: _installation().status == "active", "ONAPPINSTALL to be applied")
    assert _installation().application_token == fake_b24.application_tokens[PORTAL_A.member_id]

    response, _ = _post_event(client, fake_b24.event("ONAPPUNINSTALL", PORTAL_A))

    assert response.json() == {"status": "queued"}
    _eventually(lambda: _installation().status == "deleted", "ONAPPUNINSTALL to be applied")
    assert set(Bitrix24Account.objects.values_list("status", flat=True)) == {"deleted"}
    worker.wait_for_output("succeeded", count=2)
    _assert_no_token_in(worker.output(), fake_b24)


def test_a_queued_event_bitrix24_does_not_confirm_changes_nothing(client, fake_b24, installed, worker, queued):
    other_portal = fake_b24.grant(PORTAL_B, user_id=1)  # a real token, of another portal
    before = rows()

    response, _ = _post_event(client, fake_b24.event("ONAPPINSTALL", PORTAL_A, other_portal))

    assert response.json() == {"status": "queued"}  # only the worker can ask Bitrix24
    worker.wait_for_output("Refused a queued event: The event could not be verified")
    assert rows() == before
    _assert_no_token_in(worker.output(), fake_b24)


def test_an_event_refused_at_once_is_not_queued(client, fake_b24, installed, queue, queued):
    forged = fake_b24.event("ONAPPUNINSTALL", PORTAL_A, **{"auth[application_token]": "apptoken-forged-0000000000"})
    before = rows()

    response, _ = _post_event(client, forged)

    assert (response.status_code, response.json()) == (
        401,
        {"error": "The event's application token is not this portal's"},
    )
    assert rows() == before
    assert queue.messages() == (0, 0)


@pytest.mark.parametrize("victim", ["worker", "pool-process"])
def test_a_worker_killed_mid_task_loses_nothing_and_does_nothing_twice(
    client, fake_b24, oauth_server, installed, worker_env, tmp_path, queue, queued, victim
):
    """SIGKILL while the task waits on Bitrix24: the whole worker (RabbitMQ gives the unacknowledged message back
    when its connection drops), or only the pool process running the task (the worker gives it back:
    task_reject_on_worker_lost)."""
    with ExitStack() as workers:
        first = workers.enter_context(Worker(worker_env, tmp_path / "first.log"))
        oauth_server.hang()
        response, _ = _post_event(client, fake_b24.event("ONAPPINSTALL", PORTAL_A, installed))
        assert response.json() == {"status": "queued"}
        assert oauth_server.wait_for_waiting(1, HANG_TIMEOUT)  # mid-task

        if victim == "worker":
            first.kill()
            _eventually(lambda: queue.messages() == (1, 0), "the message to be back in the queue")
            runner = workers.enter_context(Worker(worker_env, tmp_path / "second.log"))
        else:
            (pool_process,) = child_pids(first.process.pid)
            os.kill(pool_process, signal.SIGKILL)
            first.wait_for_output("WorkerLostError")
            runner = first
        oauth_server.release()

        _eventually(lambda: _installation().status == "active", "the event to be applied")
        runner.wait_for_output("succeeded")
        _eventually(lambda: queue.messages() == (0, 0), "the queue to be empty")
        assert runner.output().count("The app was installed on portal") == 1
        assert fake_b24.calls_to("/rest/app.info/") == 3  # the install's placement, the killed task, the rerun

        before = rows()  # the same event again: a duplicate changes nothing
        assert _post_event(client, fake_b24.event("ONAPPINSTALL", PORTAL_A, installed))[0].status_code == 200
        runner.wait_for_output("succeeded", count=2)
        assert rows() == before


def test_a_bitrix24_failure_that_may_pass_is_retried(
    client, fake_b24, oauth_server, installed, worker_env, tmp_path, queued
):
    worker_env["BITRIX24_TIMEOUT"] = "0.5"
    oauth_server.hang()
    with Worker(worker_env, tmp_path / "worker.log") as worker:
        _post_event(client, fake_b24.event("ONAPPINSTALL", PORTAL_A, installed))

        worker.wait_for_output("retry: Retry in")  # Bitrix24Timeout
        oauth_server.release()

        _eventually(lambda: _installation().status == "active", "the retried event to be applied")


# --- The broker away ---------------------------------------------------------------------------------------------


def test_while_the_broker_is_away_events_get_503_and_nothing_is_written(
    client, fake_b24, installed, queue, worker_env, tmp_path
):
    """The production server reaches the broker through a proxy the test cuts: first never started (a dead broker),
    then stopped while the server holds a connection to it, then stalled; the server recovers each time without a
    restart."""
    assert _post_event(client, fake_b24.event("ONAPPINSTALL", PORTAL_A, installed))[0].status_code == 200  # in-process
    account = Bitrix24Account.objects.get()
    uninstall = urlencode(fake_b24.event("ONAPPUNINSTALL", PORTAL_A)).encode()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    broker = urlsplit(queue.url)
    proxy = TcpProxy((broker.hostname, broker.port), free_port())
    through_proxy = broker._replace(netloc=f"{broker.username}:{broker.password}@127.0.0.1:{proxy.port}")
    env = {**worker_env, "ENABLE_RABBITMQ": "1", "CELERY_BROKER_URL": through_proxy.geturl()}
    before = rows()

    with Gunicorn(env, tmp_path / "gunicorn.log") as server:

        def post_event():
            return request(server.port, "POST", "/api/app-events", uninstall, form)

        def assert_away() -> None:
            answer = post_event()
            assert (answer.status, answer.json()) == (
                503,
                {"error": "The event queue is unavailable; try again shortly"},
            )
            assert answer.seconds < BROKER_AWAY_SECONDS
            assert request(server.port, "GET", "/api/healthz").status == 200
            listed = request(server.port, "GET", "/api/list", headers=bearer(issue_jwt(account.pk)))
            assert (listed.status, listed.json()) == (200, ["element 1", "element 2", "element 3"])
            assert rows() == before

        assert_away()  # the broker never answered
        proxy.start()
        assert post_event().json() == {"status": "queued"}
        proxy.stop()
        assert_away()  # the connection the server held was cut
        proxy.start()
        assert post_event().json() == {"status": "queued"}
        proxy.pause()
        assert_away()  # the broker stopped answering, connections open (a network partition)
        proxy.stop()  # ...which ends by dropping them, with what they held
        proxy.start()
        assert post_event().json() == {"status": "queued"}
        proxy.stop()

    assert queue.messages() == (3, 0)  # the accepted events, nothing of the refused ones
    _assert_no_token_in(server.output(), fake_b24)
    with Worker(worker_env, tmp_path / "worker.log") as worker:
        worker.wait_for_output("succeeded", count=3)
        assert _installation().status == "deleted"
        assert worker.output().count("The app was uninstalled from portal") == 3  # the later ones changed nothing
    assert queue.messages() == (0, 0)


# --- Periodic token renewal --------------------------------------------------------------------------------------


def test_beat_renews_expiring_tokens_and_blocks_accounts_whose_refresh_token_is_refused(fake_b24, worker_env, tmp_path):
    soon, later = dt.timedelta(minutes=5), dt.timedelta(hours=2)
    renewable = stored_account(1, soon, fake_b24.grant(PORTAL_A, user_id=1))
    refused = stored_account(2, soon)  # Bitrix24 answers invalid_grant to its refresh token
    fresh = stored_account(3, later, fake_b24.grant(PORTAL_A, user_id=3))
    operator_blocked = stored_account(4, soon, fake_b24.grant(PORTAL_A, user_id=4), status="blocked", comment="unpaid")
    untouched = {a.pk: a for a in (fresh, operator_blocked)}
    env = {
        **worker_env,
        "TOKEN_REFRESH_ENABLED": "1",
        "TOKEN_REFRESH_WINDOW_MINUTES": "15",
        "TOKEN_REFRESH_INTERVAL_SECONDS": "1",
    }

    with Worker(env, tmp_path / "worker.log") as worker, Beat(env, tmp_path / "beat.log", tmp_path):
        _eventually(
            lambda: Bitrix24Account.objects.get(pk=refused.pk).status == "blocked", "the refused account to be blocked"
        )
        worker.wait_for_output("Token renewal: 1 renewed, 1 refused")
        worker.wait_for_output("Token renewal: 0 renewed, 0 refused", count=2)  # later sweeps find nothing to do

    new_grant = fake_b24.live_grant(user_id=1)
    row = Bitrix24Account.objects.get(pk=renewable.pk)
    assert (row.access_token, row.refresh_token, row.expires_timestamp) == (
        new_grant.access_token,
        new_grant.refresh_token,
        new_grant.expires,
    )
    assert row.status == "active"
    blocked = Bitrix24Account.objects.get(pk=refused.pk)
    assert blocked.comment == "Set by the backend: Bitrix24 answered INVALID_GRANT: Invalid refresh token"
    assert blocked.access_token == refused.access_token
    for pk, account in untouched.items():
        row = Bitrix24Account.objects.get(pk=pk)
        assert (row.status, row.access_token, row.refresh_token) == (
            account.status,
            account.access_token,
            account.refresh_token,
        )
    assert fake_b24.calls_to("/oauth/token/") == 2
    _assert_no_token_in(worker.output(), fake_b24)
