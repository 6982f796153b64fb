"""Load and faults on the production server: gunicorn with gunicorn.conf.py and the production settings,
a fake Bitrix24 OAuth server, and a throwaway PostgreSQL server of this module's own
(tests/support/postgres_server.py, never the machine's), all on 127.0.0.1.

Sized for CI (a few seconds each); LOAD_TEST_SECONDS and LOAD_TEST_THREADS make the load larger. Every loop is
bounded, and everything started here stops by itself.
"""

from __future__ import annotations

import http.client
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from tests.support.databases import Database, throwaway_database
from tests.support.fake_bitrix24 import Portal
from tests.support.fake_bitrix24_server import FakeBitrix24Server
from tests.support.gunicorn import (
    Answer,
    Gunicorn,
    bearer,
    post_json,
    production_env,
    request,
)
from tests.support.invariants import INACTIVE
from tests.support.orm_probe import migrate
from tests.support.postgres_server import ThrowawayPostgres
from tests.support.waiting import wait_until

# The module's database is a PostgreSQL server of its own, which one test stops and starts under load: these tests
# run in `make test`. Under `make test-mysql` the same guarantees (one row per account under concurrent placements,
# one renewal per refresh token) are tested with threads on MariaDB: tests/test_placements.py, tests/test_models.py.
pytestmark = pytest.mark.skipif(
    os.environ["DB_ENGINE"] != "postgresql",
    reason="PostgreSQL only: the production server runs against a PostgreSQL server of the module's own (make test)",
)

LOAD_SECONDS = float(os.environ.get("LOAD_TEST_SECONDS", "3"))
LOAD_THREADS = int(os.environ.get("LOAD_TEST_THREADS", "8"))
# Hang guards, not speed requirements: a request that takes this long is stuck.
REQUEST_TIMEOUT = 30.0
WAIT_TIMEOUT = 30.0


# --- a PostgreSQL server of the tests' own ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres(tmp_path_factory) -> Iterator[ThrowawayPostgres]:
    """The module's PostgreSQL server, with a migrated database (`migrated`) that each test copies."""
    server = ThrowawayPostgres()
    try:
        server.start()
        server.database().query("CREATE DATABASE migrated")
        env = production_env(server.database("migrated"))
        migrate(env)
        yield server
    finally:
        server.remove()


@pytest.fixture
def database(postgres) -> Iterator[Database]:
    with throwaway_database(postgres.database(), "load", template="migrated") as database:
        yield database


@pytest.fixture
def bitrix24() -> Iterator[FakeBitrix24Server]:
    with FakeBitrix24Server(latency=0.01) as server:
        yield server


@pytest.fixture
def start_backend(database, bitrix24, tmp_path) -> Iterator[Callable[..., Gunicorn]]:
    """Starts the production server on the test's database (environment overrides as keywords); stops it after."""
    started: list[Gunicorn] = []

    def start(**overrides: str) -> Gunicorn:
        server = Gunicorn(production_env(database, bitrix24.url, **overrides), tmp_path / "gunicorn.log")
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# --- load -------------------------------------------------------------------------------------------------------

CONNECTION_ERRORS = (ConnectionError, http.client.HTTPException, TimeoutError)


@dataclass
class Outcome:
    name: str
    started: float
    finished: float
    answer: Answer | None = None
    error: Exception | None = None


@dataclass
class Load:
    """Threads that send requests, each cycling through `senders` from its own, evenly spaced starting point, until
    stopped (or, with `once`, one request per sender, all at the same time); keeps every outcome.

    With `stop_on_error`, a thread stops at its first connection error (the server is going away).
    """

    senders: list[tuple[str, Callable[[], Answer]]]
    threads: int = LOAD_THREADS
    once: bool = False
    stop_on_error: bool = False
    outcomes: list[Outcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        count = len(self.senders) if self.once else self.threads
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(count)]

    def _run(self, offset: int) -> None:
        deadline = time.monotonic() + 10 * LOAD_SECONDS + WAIT_TIMEOUT  # stops by itself if a test forgets to
        turn = offset * len(self.senders) // len(self._threads)
        while not self._stop.is_set() and time.monotonic() < deadline:
            name, send = self.senders[turn % len(self.senders)]
            turn += 1
            outcome = Outcome(name, started=time.monotonic(), finished=float("inf"))
            try:
                outcome.answer = send()
            except CONNECTION_ERRORS as error:
                outcome.error = error
            outcome.finished = time.monotonic()
            self.outcomes.append(outcome)
            if outcome.error and self.stop_on_error:
                return
            if self.once:
                return

    def wait_for_outcomes(self, count: int) -> None:
        _wait_for(lambda: len(self.outcomes) >= count)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT + 5)

    def answered(self, start: float = 0.0, end: float = float("inf")) -> list[Outcome]:
        """Answers to requests sent after `start` and answered before `end` (monotonic clock)."""
        return [o for o in self.outcomes if o.answer is not None and o.started >= start and o.finished <= end]

    def errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error is not None]


def _statuses(outcomes: list[Outcome]) -> Counter:
    return Counter((o.name, o.answer.status) for o in outcomes)


def _get(port: int, path: str, token: str) -> Callable[[], Answer]:
    return lambda: request(port, "GET", path, headers=bearer(token), timeout=REQUEST_TIMEOUT)


def _post(port: int, path: str, payload: dict) -> Callable[[], Answer]:
    return lambda: post_json(port, path, payload, timeout=REQUEST_TIMEOUT)


def _jwt(server: Gunicorn, placement: dict) -> str:
    answer = post_json(server.port, "/api/getToken", placement)
    assert answer.status == 200, answer.body
    return answer.json()["token"]


def _rows_per_account(database: Database) -> Counter:
    rows = database.query("SELECT domain_url, b24_user_id, member_id, count(*) FROM bitrix24account GROUP BY 1, 2, 3")
    return Counter({(domain, user, member): count for domain, user, member, count in rows})


def test_a_burst_of_bearer_and_placement_requests_gets_only_200s_and_one_row_per_account(
    database, bitrix24, start_backend
):
    server = start_backend()
    portals = [Portal(f"load-{n}.bitrix24.com", f"load-member-{n:032d}") for n in range(4)]
    users = [(portal, user) for portal in portals for user in range(1, 6)]
    # Two access tokens per user (Bitrix24 issues a new one every hour), the second ones in the second half: the
    # threads start evenly spaced, so those posting a user's two tokens start together and race to create the account.
    placements = [bitrix24.fake.placement(bitrix24.fake.grant(p, u)) for _ in range(2) for p, u in users]
    token = _jwt(server, bitrix24.fake.placement(bitrix24.fake.grant(Portal("seed.bitrix24.com", "seed-member"), 1)))
    senders = []
    for n, placement in enumerate(placements):
        path = ("/api/list", "/api/enum")[n % 2]
        senders += [(f"placement {n}", _post(server.port, "/api/getToken", placement))]
        senders += [(f"Bearer {path}", _get(server.port, path, token))]

    with Load(senders) as load:
        time.sleep(LOAD_SECONDS)

    assert load.errors() == []
    statuses = _statuses(load.outcomes)
    assert {status for _, status in statuses} == {200}, statuses
    assert all(statuses[(name, 200)] for name, _ in senders), "every request was sent and answered at least once"
    expected = {(p.domain, u, p.member_id): 1 for p, u in users} | {("seed.bitrix24.com", 1, "seed-member"): 1}
    assert _rows_per_account(database) == expected


PROBE = "SELECT pid FROM pg_stat_activity"


def _backend_pids(database: Database) -> set[int]:
    """The PostgreSQL sessions open on the database, other than this probe's (and earlier probes', which may still be
    exiting)."""
    rows = database.query(f"{PROBE} WHERE datname = current_database() AND query NOT LIKE '{PROBE}%'")
    return {pid for (pid,) in rows}


def test_database_connections_under_load_are_few_and_reused(database, bitrix24, start_backend):
    workers, pool_size = 2, 3
    # Every Bearer request asks the database (ACCESS_CHECK_SECONDS=0), from more threads than the pools hold.
    server = start_backend(WEB_CONCURRENCY=str(workers), DB_POOL_SIZE=str(pool_size), ACCESS_CHECK_SECONDS="0")
    token = _jwt(server, bitrix24.fake.placement(bitrix24.fake.grant()))
    sessions: set[int] = set()

    with Load([("Bearer /api/list", _get(server.port, "/api/list", token))], threads=3 * workers * pool_size) as load:
        deadline = time.monotonic() + LOAD_SECONDS
        while time.monotonic() < deadline:
            sessions |= _backend_pids(database)
            time.sleep(0.05)

    assert load.errors() == []
    assert set(_statuses(load.outcomes)) == {("Bearer /api/list", 200)}
    assert 0 < len(sessions) <= workers * pool_size, "a session per request or per green thread"
    assert len(load.outcomes) > 20 * workers * pool_size  # so each session served many requests


def test_an_account_blocked_under_load_loses_access_within_access_check_seconds(database, bitrix24, start_backend):
    server = start_backend(ACCESS_CHECK_SECONDS="1")
    grants = [bitrix24.fake.grant(Portal(f"revoke-{n}.bitrix24.com", f"revoke-member-{n:032d}"), 1) for n in range(3)]
    tokens = [_jwt(server, bitrix24.fake.placement(grant)) for grant in grants]
    senders = [(f"account {n}", _get(server.port, "/api/list", token)) for n, token in enumerate(tokens)]

    with Load(senders) as load:
        time.sleep(LOAD_SECONDS / 2)
        database.query(
            "UPDATE bitrix24account SET status = 'blocked' WHERE domain_url = %s", (grants[0].portal.domain,)
        )
        blocked_at = time.monotonic()
        time.sleep(1 + LOAD_SECONDS / 2)

    assert load.errors() == []
    assert set(_statuses(load.answered(end=blocked_at))) == {("account 0", 200), ("account 1", 200), ("account 2", 200)}
    # The bound is ACCESS_CHECK_SECONDS; half a second more allows for the threads' scheduling.
    after = load.answered(start=blocked_at + 1.5)
    assert set(_statuses(after)) == {("account 0", 403), ("account 1", 200), ("account 2", 200)}
    refused = [o.answer.json() for o in after if o.name == "account 0"]
    assert refused == [{"error": INACTIVE}] * len(refused)
    # Nor does a new placement let it back in, or change its row.
    comeback = post_json(
        server.port, "/api/getToken", bitrix24.fake.placement(bitrix24.fake.grant(grants[0].portal, 1))
    )
    assert (comeback.status, comeback.json()) == (403, {"error": INACTIVE})
    row = "SELECT status, access_token FROM bitrix24account WHERE domain_url = %s"
    assert database.query(row, (grants[0].portal.domain,)) == [("blocked", grants[0].access_token)]


def test_a_database_restart_under_load_gets_quick_503s_then_answers_again_without_restarting_the_backend(
    postgres, database, bitrix24, start_backend
):
    # No cached access checks: every request below reads the database.
    server = start_backend(ACCESS_CHECK_SECONDS="0")
    placement = bitrix24.fake.placement(bitrix24.fake.grant(Portal("restart.bitrix24.com", "restart-member"), 1))
    token = _jwt(server, placement)
    senders = [
        ("Bearer /api/list", _get(server.port, "/api/list", token)),
        ("placement /api/getToken", _post(server.port, "/api/getToken", placement)),
        ("/api/healthz", lambda: request(server.port, "GET", "/api/healthz", timeout=REQUEST_TIMEOUT)),
    ]

    try:
        with Load(senders) as load:
            time.sleep(LOAD_SECONDS / 3)
            stopping = time.monotonic()
            postgres.stop()
            stopped = time.monotonic()
            time.sleep(LOAD_SECONDS / 3)
            starting = time.monotonic()
            postgres.start()
            started = time.monotonic()
            time.sleep(LOAD_SECONDS / 3)
    finally:
        if not postgres.is_running():  # the next tests need it
            postgres.start()

    assert load.errors() == [], "the backend kept accepting and answering"
    assert {o.answer.status for o in load.outcomes} <= {200, 503}
    assert {o.answer.content_type for o in load.outcomes} == {"application/json"}
    assert {o.answer.status for o in load.answered(end=stopping)} == {200}
    outage = load.answered(start=stopped, end=starting)
    assert outage, "requests were answered while the database was down"
    assert {o.answer.status for o in outage} == {503}
    assert max(o.finished - o.started for o in outage) < 3, "503s come at once, not after a connect timeout"
    unavailable = {"error": "Database unavailable; try again shortly"}
    healthz_unavailable = {"status": "unhealthy", "database": "unavailable"}
    assert all(o.answer.json() == (healthz_unavailable if o.name == "/api/healthz" else unavailable) for o in outage)
    recovered = load.answered(start=started + 0.5)
    assert recovered, "requests were answered after the restart"
    assert {o.answer.status for o in recovered} == {200}
    assert server.process.poll() is None


# How many placement requests Bitrix24 holds at once in the next test: more than there are processes (gunicorn's
# sync workers would all be stuck), fewer than one worker's threads (so none is left without a free thread).
HANGING_PLACEMENTS = 6


def test_placements_fail_with_504_within_the_timeout_while_bitrix24_hangs_and_bearer_requests_are_still_answered(
    bitrix24, start_backend
):
    # Each Bearer request asks the database (ACCESS_CHECK_SECONDS=0), from a pool smaller than the hanging placements:
    # a placement must not hold a connection while it waits on Bitrix24.
    server = start_backend(BITRIX24_TIMEOUT="1", DB_POOL_SIZE="2", ACCESS_CHECK_SECONDS="0", WEB_CONCURRENCY="1")
    token = _jwt(server, bitrix24.fake.placement(bitrix24.fake.grant(Portal("steady.bitrix24.com", "steady"), 1)))
    hanging = [bitrix24.fake.placement(bitrix24.fake.grant(user_id=100 + n)) for n in range(HANGING_PLACEMENTS)]
    bitrix24.hang()
    placements = Load(
        [(f"placement {n}", _post(server.port, "/api/getToken", p)) for n, p in enumerate(hanging)], once=True
    )

    with placements:
        assert bitrix24.wait_for_waiting(len(hanging), timeout=WAIT_TIMEOUT), "every placement waits on Bitrix24"
        bearer_answers = [request(server.port, "GET", "/api/list", headers=bearer(token)) for _ in range(10)]
        bearer_done = time.monotonic()
        placements.wait_for_outcomes(len(hanging))
    bitrix24.release()

    assert [a.status for a in bearer_answers] == [200] * 10
    assert placements.errors() == []
    assert bearer_done < min(o.finished for o in placements.outcomes), "answered while every placement hung"
    assert {o.answer.status for o in placements.outcomes} == {504}
    assert {tuple(o.answer.json()) for o in placements.outcomes} == {("error",)}
    assert all(1 <= o.finished - o.started < 5 for o in placements.outcomes), "each gave up after BITRIX24_TIMEOUT"
    recovered = post_json(server.port, "/api/getToken", bitrix24.fake.placement(bitrix24.fake.grant(user_id=99)))
    assert recovered.status == 200


def test_sigterm_under_load_finishes_the_requests_in_flight_and_exits_0(bitrix24, start_backend):
    server = start_backend(BITRIX24_TIMEOUT=str(REQUEST_TIMEOUT))
    token = _jwt(server, bitrix24.fake.placement(bitrix24.fake.grant(Portal("stop.bitrix24.com", "stop-member"), 1)))
    in_flight = [bitrix24.fake.placement(bitrix24.fake.grant(user_id=300 + n)) for n in range(4)]
    senders = [(f"Bearer {path}", _get(server.port, path, token)) for path in ("/api/list", "/api/enum")]
    bearer_load = Load(senders, stop_on_error=True)
    held = Load(
        [(f"placement {n}", _post(server.port, "/api/getToken", p)) for n, p in enumerate(in_flight)], once=True
    )

    with bearer_load:
        time.sleep(LOAD_SECONDS / 3)
        bitrix24.hang()  # the placements stay in flight, inside the workers, until released
        with held:
            assert bitrix24.wait_for_waiting(len(in_flight), timeout=WAIT_TIMEOUT)
            terminated = time.monotonic()
            server.terminate()
            server.wait_for_output("Handling signal: term")
            time.sleep(0.5)  # the workers are shutting down with requests in flight
            bitrix24.release()
            exit_status = server.wait()
            held.wait_for_outcomes(len(in_flight))

    assert exit_status == 0
    assert held.errors() == []
    assert [o.answer.status for o in held.outcomes] == [200] * len(in_flight)
    assert all("token" in o.answer.json() for o in held.outcomes)
    assert bearer_load.answered(end=terminated), "Bearer requests were flowing"
    assert {o.answer.status for o in bearer_load.outcomes if o.answer} == {200}
    # Once the listening socket closes, new connections are refused or reset; only those may fail (a connection
    # still in the kernel's accept queue at SIGTERM was sent an instant before it).
    assert all(o.started > terminated - 0.5 for o in bearer_load.errors())


def _wait_for(condition: Callable[[], bool]) -> None:
    wait_until(condition, WAIT_TIMEOUT, "timed out")
