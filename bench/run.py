"""`make bench`: the backend under its production gunicorn configuration, measured against a ceiling view.

It starts a PostgreSQL server of its own (password authentication over TCP, as in production; removed afterwards),
migrates a database there, seeds accounts and mints one JWT each, starts a fake Bitrix24 OAuth server with injected
latency and gunicorn with `gunicorn.conf.py`, the production settings and real-looking secrets, plus
`GET /api/ceiling` (bench/settings.py), then drives each endpoint with wrk. It prints one table and writes it, with
the machine it ran on, to bench/results.md. Exit status 1 when a goal of issue 5 is missed.

Each endpoint runs BENCH_DURATION in BENCH_ROUNDS short rounds, the endpoints taking turns; its ratio to the ceiling,
p50 and p99 are the medians of the rounds' figures. Load that other programs put on the machine (bursts of a few
seconds) then weighs on the ceiling and the endpoints alike, and one unlucky round does not decide a figure. For
the same reason each round also sends a batch of new placements one at a time; their p50 is over all rounds.

Environment (defaults in brackets): BENCH_DURATION [15s] per endpoint, BENCH_ROUNDS [15], BENCH_THREADS [2] and
BENCH_CONNECTIONS [16] for wrk; BENCH_WARMUP [10s] of Bearer requests first; BENCH_LATENCY_MS [50] of the fake
Bitrix24; BENCH_ACCOUNTS [1000] seeded accounts; BENCH_PLACEMENTS [20] new placements per round, each measured
first and repeated; BENCH_MIN_REQUESTS [100000] served before worker memory is read; BENCH_DB_HOST to use an
existing PostgreSQL server instead, with BENCH_DB_PORT/USER/PASSWORD [5432/appuser/apppass] (the benchmark's
database there is a new one, dropped afterwards); BENCH_GUNICORN_ARGS: extra gunicorn arguments, to try another
worker model (e.g. "--workers 5 --worker-class sync"; the command line wins over gunicorn.conf.py).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import runpy
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.databases import Database, throwaway_database
from tests.support.fake_bitrix24 import Portal
from tests.support.fake_bitrix24_server import FakeBitrix24Server
from tests.support.gunicorn import GUNICORN_COMMAND, Gunicorn, production_env, request
from tests.support.paths import REPO_ROOT
from tests.support.postgres_server import ThrowawayPostgres, server_binaries

BENCH_DIR = REPO_ROOT / "bench"
WORK_DIR = BENCH_DIR / "tmp"  # logs and request files of the last run (git-ignored)
RESULTS = BENCH_DIR / "results.md"
APP_INFO = "/rest/app.info/"
CEILING = "ceiling (bare view)"


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def _seconds(name: str, default: str) -> float:
    return float(_env(name, default).removesuffix("s"))


DURATION = _seconds("BENCH_DURATION", "15s")
ROUNDS = int(_env("BENCH_ROUNDS", "15"))
WARMUP = _seconds("BENCH_WARMUP", "10s")
THREADS = int(_env("BENCH_THREADS", "2"))
CONNECTIONS = int(_env("BENCH_CONNECTIONS", "16"))
LATENCY_MS = float(_env("BENCH_LATENCY_MS", "50"))
ACCOUNTS = int(_env("BENCH_ACCOUNTS", "1000"))
PLACEMENTS = int(_env("BENCH_PLACEMENTS", "20"))
REPEATED_PLACEMENTS = 100  # sent once in the warm-up; wrk repeats them
MIN_REQUESTS = int(_env("BENCH_MIN_REQUESTS", "100000"))
GUNICORN_ARGS = shlex.split(_env("BENCH_GUNICORN_ARGS", ""))
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

# Issue 5's goals.
MIN_RATIO = {"Bearer GET /api/list": 0.8, "Bearer GET /api/enum": 0.8, "Bearer POST /api/getToken": 0.5}
MAX_FIRST_PLACEMENT_P50_MS = 60
MAX_REPEAT_PLACEMENT_P50_MS = 10
MAX_WORKER_RSS_MB = 80
MAX_STARTUP_SECONDS = 1.0


@dataclass
class Endpoint:
    name: str
    method: str
    path: str
    kind: str  # "bearer": each request with the next JWT of `lines`; "json": with the next JSON body
    lines: Path


@dataclass
class WrkRun:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_seconds: float  # used by gunicorn's processes meanwhile

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


@dataclass
class EndpointResult:
    """An endpoint's rounds, and its ratio to the ceiling (the median of the rounds' ratios)."""

    runs: list[WrkRun]
    ratio: float

    @property
    def requests(self) -> int:
        return sum(run.requests for run in self.runs)

    @property
    def rps(self) -> float:
        return self.requests / sum(run.seconds for run in self.runs)

    @property
    def p50_ms(self) -> float:
        return statistics.median(run.p50_ms for run in self.runs)

    @property
    def p99_ms(self) -> float:
        return statistics.median(run.p99_ms for run in self.runs)

    @property
    def errors(self) -> int:
        return sum(run.errors for run in self.runs)

    @property
    def cpu_us_per_request(self) -> float:
        return sum(run.cpu_seconds for run in self.runs) / max(self.requests, 1) * 1e6


@dataclass(frozen=True)
class PlacementPhase:
    """Placement getToken requests of one phase, sent one at a time."""

    p50_ms: float
    calls_per_request: float  # app.info calls to Bitrix24


@dataclass(frozen=True)
class Placements:
    samples: int  # new placements, each sent twice
    first: PlacementPhase  # new access tokens
    repeat: PlacementPhase  # the same placements again
    calls_per_wrk_repeat: float  # app.info calls per repeated placement that wrk sent


@dataclass(frozen=True)
class Measurements:
    """What was measured while gunicorn served."""

    endpoints: dict[str, EndpointResult]  # by name, the ceiling first
    placements: Placements
    requests_served: int
    worker_rss_mb: list[float]


@dataclass(frozen=True)
class Results:
    """A run's figures: what bench/results.md shows and the goals are judged on."""

    machine: str
    database: str
    measurements: Measurements
    startup_seconds: float  # from gunicorn's start to its first answer
    gunicorn_exit_status: int  # after SIGTERM


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
        tokens = _migrate_and_seed()
        WORK_DIR.joinpath("gunicorn.log").unlink(missing_ok=True)
        server = Gunicorn(env, WORK_DIR / "gunicorn.log", [*GUNICORN_COMMAND, *GUNICORN_ARGS])
        startup_seconds = server.start()
        try:
            measurements = _measure(wrk, server, b24, tokens)
        finally:
            exit_status = server.stop()
        machine = _machine()
    results = Results(machine, database_description, measurements, startup_seconds, exit_status)
    report = _report(results)
    print(report)
    RESULTS.write_text(report)
    missed = _missed_goals(results)
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


# --- measurements -------------------------------------------------------------------------------------------


@dataclass
class PlacementSamples:
    """Placement getToken requests sent one at a time: their durations and the app.info calls they caused."""

    seconds: dict[str, list[float]]  # "first" (new access tokens) and "repeat" (the same placements again)
    calls: dict[str, int]

    def measure(self, port: int, b24: FakeBitrix24Server, bodies: list[bytes]) -> None:
        for phase in ("first", "repeat"):
            calls_before = b24.fake.calls_to(APP_INFO)
            self.seconds[phase] += [_post_placement(port, body) for body in bodies]
            self.calls[phase] += b24.fake.calls_to(APP_INFO) - calls_before

    def phase(self, name: str) -> PlacementPhase:
        seconds = self.seconds[name]
        return PlacementPhase(statistics.median(seconds) * 1000, self.calls[name] / len(seconds))


def _placement_bodies(b24: FakeBitrix24Server, prefix: str, count: int = PLACEMENTS) -> list[bytes]:
    """Placement bodies, each for a new portal and access token."""
    bodies = []
    for n in range(count):
        grant = b24.fake.grant(Portal(f"{prefix}-{n}.bitrix24.com", f"{prefix}-member-{n:032d}"), user_id=n + 1)
        bodies.append(json.dumps(b24.fake.placement(grant)).encode())
    return bodies


def _post_placement(port: int, body: bytes) -> float:
    """POST one placement to getToken; the seconds until its answer."""
    answer = request(port, "POST", "/api/getToken", body, {"Content-Type": "application/json"})
    if answer.status != 200 or "token" not in answer.json():
        sys.exit(f"placement getToken answered {answer.status}: {answer.body[:200]!r}")
    return answer.seconds


def _run_wrk(wrk: str, server: Gunicorn, endpoint: Endpoint, seconds: float) -> WrkRun:
    env = {
        **os.environ,
        "BENCH_METHOD": endpoint.method,
        "BENCH_PATH": endpoint.path,
        "BENCH_KIND": endpoint.kind,
        "BENCH_LINES": str(endpoint.lines),
    }
    command = [wrk, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--timeout", "10s"]
    command += ["-s", str(BENCH_DIR / "wrk.lua"), f"http://127.0.0.1:{server.port}{endpoint.path}"]
    cpu_before = _cpu_seconds(server)
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout  # noqa: S603
    summary = json.loads(output.strip().splitlines()[-1])  # the line wrk.lua's done() writes
    return WrkRun(
        requests=summary["requests"],
        seconds=summary["duration_us"] / 1e6,
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        errors=summary["non_2xx"] + summary["socket_errors"],
        cpu_seconds=_cpu_seconds(server) - cpu_before,
    )


def _cpu_seconds(server: Gunicorn) -> float:
    """CPU time (user + system) used so far by gunicorn's master and workers."""
    ticks = 0
    for pid in (server.process.pid, *server.worker_pids()):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def _measure(wrk: str, server: Gunicorn, b24: FakeBitrix24Server, tokens: Path) -> Measurements:
    endpoints = [
        Endpoint(CEILING, "GET", "/api/ceiling", "bearer", tokens),
        Endpoint("Bearer GET /api/list", "GET", "/api/list", "bearer", tokens),
        Endpoint("Bearer GET /api/enum", "GET", "/api/enum", "bearer", tokens),
        Endpoint("Bearer POST /api/getToken", "POST", "/api/getToken", "bearer", tokens),
    ]
    # Warm up: each worker checks each account once before its cached answers take over, and every server thread
    # opens its connections (database, OAuth server); the rounds measure that steady state. The warm-up's
    # placements are the ones wrk repeats.
    for endpoint in endpoints:
        _run_wrk(wrk, server, endpoint, WARMUP if endpoint is endpoints[1] else 2)
    warm_up = _placement_bodies(b24, "warm-up", REPEATED_PLACEMENTS)
    for body in warm_up:
        _post_placement(server.port, body)
    repeated = WORK_DIR / "placements.txt"
    repeated.write_bytes(b"".join(body + b"\n" for body in warm_up))
    endpoints.append(Endpoint("placement POST /api/getToken (repeat)", "POST", "/api/getToken", "json", repeated))
    _run_wrk(wrk, server, endpoints[-1], 2)

    runs: dict[str, list[WrkRun]] = {endpoint.name: [] for endpoint in endpoints}
    placements = PlacementSamples({"first": [], "repeat": []}, {"first": 0, "repeat": 0})
    wrk_calls = 0
    for number in range(1, ROUNDS + 1):
        for endpoint in endpoints:
            calls_before = b24.fake.calls_to(APP_INFO)
            runs[endpoint.name].append(_run_wrk(wrk, server, endpoint, DURATION / ROUNDS))
            wrk_calls += b24.fake.calls_to(APP_INFO) - calls_before
        # One at a time, a batch per round: like the ratios, the latencies are not left to one moment's load.
        placements.measure(server.port, b24, _placement_bodies(b24, f"round-{number}"))
        rates = ", ".join(f"{r[-1].rps:.0f}" for r in runs.values())
        print(f"round {number}/{ROUNDS}, requests/s: {rates}", file=sys.stderr)
    placement_requests = sum(run.requests for run in runs[endpoints[-1].name])
    results = {
        name: EndpointResult(
            endpoint_runs, statistics.median(r.rps / c.rps for r, c in zip(endpoint_runs, runs[CEILING], strict=True))
        )
        for name, endpoint_runs in runs.items()
    }
    served = sum(result.requests for result in results.values())
    while served < MIN_REQUESTS:  # worker memory is read after at least MIN_REQUESTS requests
        served += _run_wrk(wrk, server, endpoints[1], 10).requests
    return Measurements(
        endpoints=results,
        placements=Placements(
            samples=len(placements.seconds["first"]),
            first=placements.phase("first"),
            repeat=placements.phase("repeat"),
            calls_per_wrk_repeat=wrk_calls / max(placement_requests, 1),
        ),
        requests_served=served,
        worker_rss_mb=[_rss_mb(pid) for pid in server.worker_pids()],
    )


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


def _worker_model() -> str:
    conf = runpy.run_path(str(REPO_ROOT / "gunicorn.conf.py"))
    model = f"gunicorn.conf.py (workers={conf['workers']}, worker_class={conf['worker_class']}"
    model += f", threads={conf['threads']})" if "threads" in conf else ")"
    return model + (f" overridden by `{shlex.join(GUNICORN_ARGS)}`" if GUNICORN_ARGS else "")


def _report(results: Results) -> str:
    measured = results.measurements
    placements = measured.placements
    rows = [
        "| endpoint | requests/s | p50 ms | p99 ms | errors | ratio to ceiling | server CPU µs/request |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {name} | {r.rps:.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.errors} | {r.ratio:.2f} | "
            f"{r.cpu_us_per_request:.0f} |"
            for name, r in measured.endpoints.items()
        ),
    ]
    missed = _missed_goals(results)
    return "\n".join(
        [
            "# Benchmark results (`make bench`)",
            "",
            f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
            f"- Machine: {results.machine}",
            f"- Server: {_worker_model()}, production settings. Database: {results.database}.",
            f"- Load: `wrk -t{THREADS} -c{CONNECTIONS}` on the same machine, {DURATION:g} s per endpoint in {ROUNDS}"
            " rounds, the endpoints taking turns; ratio, p50 and p99 are medians over the rounds. Each request carries"
            f" another of {ACCOUNTS} JWTs (or of {REPEATED_PLACEMENTS} placements). Errors: non-2xx answers plus"
            " socket errors. Server CPU: gunicorn's master and workers, per request (less sensitive to other programs'"
            " load).",
            "",
            *rows,
            "",
            f"Placement `POST /api/getToken` one at a time, {LATENCY_MS:g} ms injected latency on the fake Bitrix24"
            f" OAuth server: {PLACEMENTS} new placements per round, {placements.samples} in all, each sent"
            " twice (first call, then repeat):",
            "",
            "| placement | p50 ms | Bitrix24 calls per request |",
            "|---|---:|---:|",
            f"| first call (new access token) | {placements.first.p50_ms:.1f} | "
            f"{placements.first.calls_per_request:.2f} |",
            f"| repeat (access token already verified) | {placements.repeat.p50_ms:.1f} | "
            f"{placements.repeat.calls_per_request:.2f} |",
            f"| repeats under wrk (table above) | | {placements.calls_per_wrk_repeat:.2f} |",
            "",
            f"- Worker memory (RSS) after {measured.requests_served:,} requests: "
            f"{', '.join(f'{mb:.1f}' for mb in measured.worker_rss_mb)} MB",
            f"- Start-up to first answer (`/api/healthz`): {results.startup_seconds:.2f} s",
            f"- gunicorn's exit status after SIGTERM: {results.gunicorn_exit_status}",
            "",
            "Goals of issue 5: " + ("all met." if not missed else "missed: " + "; ".join(missed)),
            "",
        ]
    )


def _missed_goals(results: Results) -> list[str]:
    endpoints = results.measurements.endpoints
    placements = results.measurements.placements
    worker_rss_mb = max(results.measurements.worker_rss_mb)
    missed = [
        f"{name} at {endpoints[name].ratio:.2f} x the ceiling (goal {goal} x)"
        for name, goal in MIN_RATIO.items()
        if endpoints[name].ratio < goal
    ]
    missed += [f"{name}: {r.errors} errors" for name, r in endpoints.items() if r.errors]
    if placements.first.p50_ms >= MAX_FIRST_PLACEMENT_P50_MS:
        missed.append(f"first placement p50 {placements.first.p50_ms:.1f} ms")
    if placements.repeat.p50_ms >= MAX_REPEAT_PLACEMENT_P50_MS:
        missed.append(f"repeated placement p50 {placements.repeat.p50_ms:.1f} ms")
    if (
        placements.first.calls_per_request != 1
        or placements.repeat.calls_per_request
        or placements.calls_per_wrk_repeat
    ):
        missed.append("Bitrix24 calls per placement are not 1 (first) and 0 (repeats)")
    if worker_rss_mb >= MAX_WORKER_RSS_MB:
        missed.append(f"worker RSS {worker_rss_mb:.1f} MB")
    if results.startup_seconds >= MAX_STARTUP_SECONDS:
        missed.append(f"start-up {results.startup_seconds:.2f} s")
    if results.gunicorn_exit_status != 0:
        missed.append(f"gunicorn exited with {results.gunicorn_exit_status}")
    return missed


if __name__ == "__main__":
    sys.exit(main())
