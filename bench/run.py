"""`make bench`: the backend under its production gunicorn configuration, against the fastest stock worker.

It starts a PostgreSQL server of its own (password authentication over TCP, as in production; removed afterwards),
migrates a database there, seeds accounts and mints one JWT each, and starts a fake Bitrix24 OAuth server with
injected latency. For one worker, then for the default number (gunicorn.conf.py), it starts gunicorn with
`gunicorn.conf.py`, the production settings and real-looking secrets, plus `GET /api/ceiling` (bench/settings.py):
the production server, and one server of each other stock worker class (sync, gthread, gevent) for the ceiling.
wrk drives each server's ceiling and the production server's endpoints; an endpoint's ratio is to the fastest
ceiling. With the default workers it also sends placements one at a time, runs Bearer requests while Bitrix24 holds
placements, and compares the ceiling with a server without the request id and tracing middleware. It prints one
report and writes it, with the machine it ran on, to bench/results.md. Exit status 1 when a goal is missed
(bench/report.py).

Each endpoint runs BENCH_DURATION in BENCH_ROUNDS short rounds, the servers and endpoints taking turns; its ratio,
p50 and p99 are the medians of the rounds' figures. Load that other programs put on the machine (bursts of a few
seconds) then weighs on the ceilings and the endpoints alike, and one unlucky round does not decide a figure.

Environment (defaults in brackets): BENCH_DURATION [15s] per endpoint, BENCH_ROUNDS [15], BENCH_THREADS [2] and
BENCH_CONNECTIONS [16] for wrk; BENCH_WARMUP [10s] of Bearer requests first; BENCH_LATENCY_MS [50] of the fake
Bitrix24; BENCH_ACCOUNTS [1000] seeded accounts; BENCH_PLACEMENTS [20] new placements per round, each measured
first and repeated; BENCH_HELD [20] placements held by a hanging Bitrix24 during BENCH_HELD_SECONDS [3s] of Bearer
requests; BENCH_MIN_REQUESTS [100000] served before worker memory is read; BENCH_DB_HOST to use an existing
PostgreSQL server instead, with BENCH_DB_PORT/USER/PASSWORD [5432/appuser/apppass] (the benchmark's database there
is a new one, dropped afterwards).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import runpy
import secrets
import shutil
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.measure import (
    APP_INFO,
    Endpoint,
    Load,
    Placements,
    PlacementSamples,
    Series,
    WrkRun,
    isolation,
    placement_bodies,
    placement_seconds,
    rss_mb,
    run_wrk,
)
from bench.report import (
    BEARER_ENUM,
    BEARER_GET_TOKEN,
    BEARER_LIST,
    CEILING,
    PLACEMENT_REPEAT,
    Configuration,
    Results,
    missed_goals,
    report,
)
from tests.support.databases import Database, throwaway_database
from tests.support.fake_bitrix24_server import FakeBitrix24Server
from tests.support.gunicorn import GUNICORN_COMMAND, Gunicorn, production_env
from tests.support.paths import REPO_ROOT
from tests.support.postgres_server import ThrowawayPostgres, server_binaries

BENCH_DIR = REPO_ROOT / "bench"
WORK_DIR = BENCH_DIR / "tmp"  # logs and request files of the last run (git-ignored)
RESULTS = BENCH_DIR / "results.md"
WORKER_CLASSES = ("sync", "gthread", "gevent")
WITHOUT_TRACING = "production, without the tracing middleware"


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def _seconds(name: str, default: str) -> float:
    return float(_env(name, default).removesuffix("s"))


DURATION = _seconds("BENCH_DURATION", "15s")
ROUNDS = int(_env("BENCH_ROUNDS", "15"))
WARMUP = _seconds("BENCH_WARMUP", "10s")
LOAD = Load(threads=int(_env("BENCH_THREADS", "2")), connections=int(_env("BENCH_CONNECTIONS", "16")))
LATENCY_MS = float(_env("BENCH_LATENCY_MS", "50"))
ACCOUNTS = int(_env("BENCH_ACCOUNTS", "1000"))
PLACEMENTS = int(_env("BENCH_PLACEMENTS", "20"))
REPEATED_PLACEMENTS = 100  # sent once in the warm-up; wrk repeats them
HELD = int(_env("BENCH_HELD", "20"))
HELD_SECONDS = _seconds("BENCH_HELD_SECONDS", "3s")
MIN_REQUESTS = int(_env("BENCH_MIN_REQUESTS", "100000"))
# An existing server when BENCH_DB_HOST is set; otherwise one of the benchmark's own (tests/support/postgres_server.py).
EXISTING_SERVER = (
    Database(
        host=os.environ["BENCH_DB_HOST"],
        port=int(_env("BENCH_DB_PORT", "5432")),
        user=_env("BENCH_DB_USER", "appuser"),
        password=_env("BENCH_DB_PASSWORD", "apppass"),
    )
    if os.environ.get("BENCH_DB_HOST")
    else None
)


@dataclass(frozen=True)
class Production:
    """gunicorn.conf.py's worker class and number of workers."""

    worker_class: str
    workers: int

    @classmethod
    def read(cls) -> Production:
        """Read with the benchmark's environment in place: gunicorn.conf.py reads the configuration."""
        conf = runpy.run_path(str(REPO_ROOT / "gunicorn.conf.py"))
        return cls(conf["worker_class"], conf["workers"])


def main() -> int:
    wrk = _check_tools()
    WORK_DIR.mkdir(exist_ok=True)
    with (
        _database_server() as (database_server, database_description),
        throwaway_database(database_server, "appdb_bench") as database,
        FakeBitrix24Server(latency=LATENCY_MS / 1000) as b24,
    ):
        env = production_env(database, b24.url, DJANGO_SETTINGS_MODULE="bench.settings")
        os.environ.update(env)  # this process seeds the database and mints JWTs with the same settings
        production = Production.read()
        tokens = _migrate_and_seed()
        bearer = [
            Endpoint(name, method, path, "bearer", tokens)
            for name, method, path in (
                (BEARER_LIST, "GET", "/api/list"),
                (BEARER_ENUM, "GET", "/api/enum"),
                (BEARER_GET_TOKEN, "POST", "/api/getToken"),
            )
        ]
        ceiling = Endpoint(CEILING, "GET", "/api/ceiling", "bearer", tokens)
        per_worker = _configuration(wrk, env, production, 1, ceiling, bearer)
        results = _default_configuration(wrk, env, production, ceiling, bearer, b24, per_worker, database_description)
    text = report(results)
    print(text)
    RESULTS.write_text(text)
    missed = missed_goals(results)
    for goal in missed:
        print(f"GOAL MISSED: {goal}", file=sys.stderr)
    return 1 if missed else 0


# --- set-up ---------------------------------------------------------------------------------------------------


def _check_tools() -> str:
    """wrk's path. Exits saying what to install when wrk, or PostgreSQL's server binaries for a server of the
    benchmark's own, are missing: the benchmark installs nothing itself."""
    missing = []
    wrk = shutil.which("wrk")
    if wrk is None:
        missing.append("wrk (Debian/Ubuntu: apt-get install wrk)")
    if EXISTING_SERVER is None:
        try:
            server_binaries()
        except RuntimeError:
            missing.append(
                "PostgreSQL's server binaries, initdb and pg_ctl (Debian/Ubuntu: apt-get install postgresql)"
            )
    if missing:
        sys.exit(f"make bench needs {' and '.join(missing)}: install what is missing and run again.")
    return wrk


@contextmanager
def _database_server() -> Iterator[tuple[Database, str]]:
    """The PostgreSQL server the benchmark's database goes on, and how the backend reaches it (for the report).

    By default a server of the benchmark's own: fresh, durable, on 127.0.0.1 over TCP with password authentication,
    as production reaches its database (a server with trust authentication would hide the cost of logging in).
    """
    if EXISTING_SERVER is not None:
        yield EXISTING_SERVER, f"{EXISTING_SERVER.host}:{EXISTING_SERVER.port} (BENCH_DB_HOST), over TCP"
        return
    server = ThrowawayPostgres(password=secrets.token_urlsafe(16), durable=True)
    try:
        server.start()
        yield (
            server.database(),
            (
                f"a server of the benchmark's own (initdb, default settings, fsync on) on 127.0.0.1:{server.port},"
                " over TCP with scram-sha-256 password authentication"
            ),
        )
    finally:
        server.remove()


def _migrate_and_seed() -> Path:
    """Migrate, seed BENCH_ACCOUNTS active accounts and write one JWT per account to a file; return its path."""
    import django
    from django.core.management import call_command

    django.setup()
    from main.jwts import issue_jwt
    from main.models import AccountStatus, Bitrix24Account

    call_command("migrate", "--noinput", verbosity=0)
    accounts = Bitrix24Account.objects.bulk_create(
        Bitrix24Account(
            b24_user_id=1,
            domain_url=f"seeded-{n}.bitrix24.com",
            member_id=f"seeded-member-{n:032d}",
            status=AccountStatus.ACTIVE,
            access_token=f"seeded-access-{n}",
            refresh_token=f"seeded-refresh-{n}",
            expires_timestamp=int(time.time()) + 3600,
            expires_in=3600,
        )
        for n in range(ACCOUNTS)
    )
    tokens = WORK_DIR / "jwts.txt"
    tokens.write_text("".join(issue_jwt(account.pk) + "\n" for account in accounts))
    return tokens


@contextmanager
def _servers(
    env: dict[str, str], production: Production, workers: int, extra: dict[str, dict[str, str]] | None = None
) -> Iterator[dict[str, Gunicorn]]:
    """Started gunicorn servers with `workers` workers, by name: the production configuration (named after its
    worker class), one of each other stock worker class, and `extra` ones (name -> environment overrides)."""
    own_class = production.worker_class
    commands = {
        name: [*GUNICORN_COMMAND, "--workers", str(workers), *([] if name == own_class else ["-k", name])]
        for name in WORKER_CLASSES
    }
    environments = {name: env for name in WORKER_CLASSES}
    for name, overrides in (extra or {}).items():
        commands[name], environments[name] = commands[own_class], {**env, **overrides}
    with ExitStack() as stack:
        started = {}
        for name, command in commands.items():
            log = WORK_DIR / f"gunicorn-{workers}-{name.split(',')[0]}.log"
            log.unlink(missing_ok=True)
            server = Gunicorn(environments[name], log, command)
            server.start()
            stack.callback(server.stop)
            started[name] = server
        yield started


def _rounds(
    wrk: str,
    servers: dict[str, Gunicorn],
    production: Gunicorn,
    ceiling: Endpoint,
    endpoints: list[Endpoint],
    after_each_round=lambda number: None,
) -> tuple[dict[str, Series], dict[str, Series]]:
    """Each round, each server's ceiling and the production server's endpoints in turn; the ceilings by server, and
    the endpoints with their ratios to the round's fastest ceiling."""
    ceilings = {name: Series() for name in servers}
    measured = {endpoint.name: Series() for endpoint in endpoints}
    for number in range(1, ROUNDS + 1):
        # Every other round in reverse: a server's turn comes as often early as late in a round (a run leaves the
        # machine busier or warmer for the next).
        order = list(servers.items()) if number % 2 else list(reversed(servers.items()))
        for name, server in order:
            ceilings[name].runs.append(run_wrk(wrk, LOAD, server, ceiling, DURATION / ROUNDS))
        for endpoint in endpoints:
            measured[endpoint.name].runs.append(run_wrk(wrk, LOAD, production, endpoint, DURATION / ROUNDS))
        after_each_round(number)
        rates = ", ".join(f"{series.runs[-1].rps:.0f}" for series in (*ceilings.values(), *measured.values()))
        print(
            f"{len(production.worker_pids())} worker(s), round {number}/{ROUNDS}, requests/s: {rates}", file=sys.stderr
        )
    stock = [series for name, series in ceilings.items() if name in WORKER_CLASSES]
    fastest = [max(series.runs[round_].rps for series in stock) for round_ in range(ROUNDS)]
    for series in measured.values():
        series.ratio = _median_ratio(series.runs, fastest)
    return ceilings, measured


def _median_ratio(runs: list[WrkRun], baselines: list[float]) -> float:
    """The median over the rounds of a run's requests/s to its round's baseline."""
    return statistics.median(run.rps / baseline for run, baseline in zip(runs, baselines, strict=True))


def _warm_up(
    wrk: str, servers: dict[str, Gunicorn], production: Gunicorn, ceiling: Endpoint, endpoints: list[Endpoint]
) -> None:
    """Each worker checks each account once before its cached answers take over, and opens its connections
    (database, OAuth server); the rounds measure that steady state."""
    for server in servers.values():
        run_wrk(wrk, LOAD, server, ceiling, 2)
    for endpoint in endpoints:
        run_wrk(wrk, LOAD, production, endpoint, WARMUP if endpoint is endpoints[0] else 2)


def _configuration(
    wrk: str, env: dict[str, str], production: Production, workers: int, ceiling: Endpoint, bearer: list[Endpoint]
) -> Configuration:
    with _servers(env, production, workers) as servers:
        server = servers[production.worker_class]
        _warm_up(wrk, servers, server, ceiling, bearer)
        ceilings, endpoints = _rounds(wrk, servers, server, ceiling, bearer)
    return Configuration(workers, ceilings, endpoints)


def _default_configuration(
    wrk: str,
    env: dict[str, str],
    production_conf: Production,
    ceiling: Endpoint,
    bearer: list[Endpoint],
    b24: FakeBitrix24Server,
    per_worker: Configuration,
    database_description: str,
) -> Results:
    """The default number of workers, with what only it measures: placements one at a time, a hanging Bitrix24,
    the observability hooks, memory, start-up and shutdown."""
    without_tracing = {"DJANGO_SETTINGS_MODULE": "bench.settings_without_tracing"}
    own_class, workers = production_conf.worker_class, production_conf.workers
    with _servers(env, production_conf, workers, {WITHOUT_TRACING: without_tracing}) as servers:
        production = servers[own_class]
        _warm_up(wrk, servers, production, ceiling, bearer)
        warm_up = placement_bodies(b24, "warm-up", REPEATED_PLACEMENTS)
        for body in warm_up:
            placement_seconds(production.port, body)
        repeated = WORK_DIR / "placements.txt"
        repeated.write_bytes(b"".join(body + b"\n" for body in warm_up))
        repeat = Endpoint(PLACEMENT_REPEAT, "POST", "/api/getToken", "json", repeated)
        run_wrk(wrk, LOAD, production, repeat, 2)

        samples = PlacementSamples()
        calls_before = b24.fake.calls_to(APP_INFO)
        # One at a time, a batch per round: like the ratios, the latencies are not left to one moment's load.
        ceilings, endpoints = _rounds(
            wrk,
            servers,
            production,
            ceiling,
            [*bearer, repeat],
            lambda number: samples.measure(production.port, b24, placement_bodies(b24, f"round-{number}", PLACEMENTS)),
        )
        batch_calls = samples.calls["first"] + samples.calls["repeat"]
        wrk_repeat_calls = b24.fake.calls_to(APP_INFO) - calls_before - batch_calls
        held = isolation(wrk, LOAD, production, b24, bearer[0], HELD, HELD_SECONDS)
        served = sum(series.requests for series in endpoints.values())
        while served < MIN_REQUESTS:  # worker memory is read after at least MIN_REQUESTS requests
            served += run_wrk(wrk, LOAD, production, bearer[0], 10).requests
        worker_rss_mb = [rss_mb(pid) for pid in production.worker_pids()]
        observability_off = ceilings.pop(WITHOUT_TRACING)
        observability_off_ratio = _median_ratio(ceilings[own_class].runs, [run.rps for run in observability_off.runs])
        startup_seconds = _restart_time(production)
        exit_status = production.stop()
        machine = _machine()
    return Results(
        date=dt.datetime.now(dt.UTC),
        machine=machine,
        database=database_description,
        production=own_class,
        load=LOAD,
        duration=DURATION,
        rounds=ROUNDS,
        accounts=ACCOUNTS,
        latency_ms=LATENCY_MS,
        per_worker=per_worker,
        default=Configuration(workers, ceilings, endpoints),
        placements=Placements(
            samples=len(samples.seconds["first"]),
            first=samples.phase("first"),
            repeat=samples.phase("repeat"),
            calls_per_wrk_repeat=wrk_repeat_calls / max(endpoints[PLACEMENT_REPEAT].requests, 1),
        ),
        isolation=held,
        observability_off_ratio=observability_off_ratio,
        requests_served=served,
        worker_rss_mb=worker_rss_mb,
        startup_seconds=startup_seconds,
        gunicorn_exit_status=exit_status,
    )


def _restart_time(server: Gunicorn) -> float:
    """The production server stopped and started again: the seconds from its start to its first answer."""
    server.stop()
    return server.start()


# --- report -------------------------------------------------------------------------------------------------


def _machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "unknown CPU")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    return (
        f"`nproc` {os.cpu_count()} ({cpu}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, PostgreSQL {postgres}"
    )


if __name__ == "__main__":
    sys.exit(main())
