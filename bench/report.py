"""`make bench`'s report (bench/results.md) and the speed goals it checks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bench.measure import Isolation, Load, Placements, Series

CEILING = "ceiling (bare view)"
BEARER_LIST, BEARER_ENUM, BEARER_GET_TOKEN = "Bearer GET /api/list", "Bearer GET /api/enum", "Bearer POST /api/getToken"
PLACEMENT_REPEAT = "placement POST /api/getToken (repeat)"
# Throughput against the fastest stock gunicorn worker's bare view, per worker and with the default workers.
MIN_RATIO = {BEARER_LIST: 0.8, BEARER_ENUM: 0.8, BEARER_GET_TOKEN: 0.6}
MAX_FIRST_PLACEMENT_P50_MS = 60
MAX_REPEAT_PLACEMENT_P50_MS = 5
MAX_ISOLATION_P99_MS = 50
MAX_WORKER_RSS_MB = 80
MAX_STARTUP_SECONDS = 1.0
# JSON logs, Sentry and tracing, off: the ceiling within the machine's noise of the same server without their hooks.
MIN_OBSERVABILITY_OFF_RATIO = 0.95


@dataclass(frozen=True)
class Configuration:
    """One number of workers: the bare view's throughput on each stock worker, and the endpoints on production's."""

    workers: int
    ceilings: dict[str, Series]  # by worker class
    endpoints: dict[str, Series]  # by name, on the production configuration; ratios to the fastest ceiling

    @property
    def fastest(self) -> str:
        return max(self.ceilings, key=lambda worker_class: self.ceilings[worker_class].rps)


@dataclass(frozen=True)
class Results:
    date: dt.datetime
    machine: str
    database: str
    production: str  # the worker class gunicorn.conf.py chooses
    load: Load
    duration: float
    rounds: int
    accounts: int
    latency_ms: float
    per_worker: Configuration
    default: Configuration
    placements: Placements
    isolation: Isolation
    observability_off_ratio: float  # the production ceiling against the same without the tracing middleware
    requests_served: int
    worker_rss_mb: list[float]
    startup_seconds: float  # from gunicorn's start to its first answer
    gunicorn_exit_status: int  # after SIGTERM


def report(results: Results) -> str:
    missed = missed_goals(results)
    placements, isolation, load = results.placements, results.isolation, results.load
    held = isolation.series
    per_worker, default = results.per_worker, results.default
    worker_classes = list(default.ceilings)
    lines = [
        "# Benchmark results (`make bench`)",
        "",
        f"- Date: {results.date:%Y-%m-%d %H:%M} UTC",
        f"- Machine: {results.machine}",
        f"- Production server: gunicorn.conf.py (worker_class={results.production}), production settings. Database:"
        f" {results.database}.",
        f"- Load: `wrk -t{load.threads} -c{load.connections}` on the same machine, {results.duration:g} s per"
        f" endpoint in {results.rounds} rounds, the servers and endpoints taking turns; ratio, p50 and p99 are"
        f" medians over the rounds, and each round's ratio is to the fastest ceiling of that round. Each request"
        f" carries another of {results.accounts} JWTs. Errors: non-2xx answers plus socket errors. Server CPU:"
        " gunicorn's master and workers, per request.",
        "",
        "The ceiling: `GET /api/ceiling`, a bare view behind the same middleware and access log, on each stock worker:",
        "",
        "| worker class | 1 worker: requests/s | p99 ms | "
        f"{default.workers} workers: requests/s | p99 ms | server CPU µs/request |",
        "|---|---:|---:|---:|---:|---:|",
        *(
            f"| {name}{' (production)' if name == results.production else ''} | {per_worker.ceilings[name].rps:.0f}"
            f" | {per_worker.ceilings[name].p99_ms:.1f} | {default.ceilings[name].rps:.0f}"
            f" | {default.ceilings[name].p99_ms:.1f} | {default.ceilings[name].cpu_us_per_request:.0f} |"
            for name in worker_classes
        ),
        "",
        f"The endpoints on the production configuration ({results.production}), against the fastest ceiling"
        f" ({per_worker.fastest} with 1 worker, {default.fastest} with {default.workers}):",
        "",
        f"| endpoint | 1 worker: requests/s | ratio | {default.workers} workers: requests/s | p50 ms | p99 ms | errors"
        " | ratio | server CPU µs/request |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {name} | {_per_worker(per_worker, name)} | {s.rps:.0f} | {s.p50_ms:.1f} | {s.p99_ms:.1f} | {s.errors}"
            f" | {s.ratio:.2f} | {s.cpu_us_per_request:.0f} |"
            for name, s in default.endpoints.items()
        ),
        "",
        f"Placement `POST /api/getToken` one at a time, {results.latency_ms:g} ms injected latency on the fake"
        f" Bitrix24 OAuth server: {placements.samples} new placements over the rounds, each sent twice (first call,"
        " then repeat):",
        "",
        "| placement | p50 ms | Bitrix24 calls per request |",
        "|---|---:|---:|",
        f"| first call (new access token) | {placements.first.p50_ms:.1f} | {placements.first.calls_per_request:.2f} |",
        f"| repeat (access token already verified) | {placements.repeat.p50_ms:.1f} | "
        f"{placements.repeat.calls_per_request:.2f} |",
        f"| repeats under wrk (table above) | | {placements.calls_per_wrk_repeat:.2f} |",
        "",
        f"- A slow Bitrix24: while {isolation.held} placements waited on an `app.info` that did not answer, Bearer"
        f" `GET /api/list` (wrk, {len(isolation.runs)} runs of {isolation.runs[0].seconds:.0f} s, medians) served"
        f" {held.rps:.0f} requests/s, p50 {held.p50_ms:.1f} ms, p99 {held.p99_ms:.1f} ms, {held.errors} errors; the"
        f" held placements then answered {_statuses(isolation.held_answers)}.",
        f"- JSON logs, Sentry and OpenTelemetry off (the default): the ceiling at {results.observability_off_ratio:.2f}"
        " x the same server without the tracing middleware (neither SDK is imported then).",
        f"- Worker memory (RSS) after {results.requests_served:,} requests: "
        f"{', '.join(f'{mb:.1f}' for mb in results.worker_rss_mb)} MB",
        f"- Start-up to first answer (`/api/healthz`): {results.startup_seconds:.2f} s",
        f"- gunicorn's exit status after SIGTERM: {results.gunicorn_exit_status}",
        "",
        "Goals: " + ("all met." if not missed else "missed: " + "; ".join(missed)),
        "",
    ]
    return "\n".join(lines)


def _per_worker(configuration: Configuration, name: str) -> str:
    """An endpoint's requests/s and ratio with one worker (the placement repeats are measured with the default)."""
    series = configuration.endpoints.get(name)
    return " | " if series is None else f"{series.rps:.0f} | {series.ratio:.2f}"


def _statuses(answers: dict[int, int]) -> str:
    return ", ".join(f"{count} x {status}" for status, count in answers.items())


def missed_goals(results: Results) -> list[str]:
    placements, isolation = results.placements, results.isolation
    missed = [
        f"{name} at {configuration.endpoints[name].ratio:.2f} x the fastest ceiling with {configuration.workers}"
        f" worker(s) (goal {goal} x)"
        for configuration in (results.per_worker, results.default)
        for name, goal in MIN_RATIO.items()
        if configuration.endpoints[name].ratio < goal
    ]
    missed += [
        f"{name}: {series.errors} errors with {configuration.workers} worker(s)"
        for configuration in (results.per_worker, results.default)
        for name, series in (*configuration.endpoints.items(), *configuration.ceilings.items())
        if series.errors
    ]
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
    held = isolation.series
    if held.p99_ms >= MAX_ISOLATION_P99_MS or held.errors:
        missed.append(f"Bearer p99 {held.p99_ms:.1f} ms, {held.errors} errors with Bitrix24 hanging")
    if results.observability_off_ratio < MIN_OBSERVABILITY_OFF_RATIO:
        missed.append(f"logs, Sentry and tracing, off, cost {1 - results.observability_off_ratio:.0%} of the ceiling")
    if max(results.worker_rss_mb) >= MAX_WORKER_RSS_MB:
        missed.append(f"worker RSS {max(results.worker_rss_mb):.1f} MB")
    if results.startup_seconds >= MAX_STARTUP_SECONDS:
        missed.append(f"start-up {results.startup_seconds:.2f} s")
    if results.gunicorn_exit_status != 0:
        missed.append(f"gunicorn exited with {results.gunicorn_exit_status}")
    return missed
