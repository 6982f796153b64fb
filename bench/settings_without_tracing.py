"""bench/settings.py without the tracing middleware: what JSON logs, Sentry and OpenTelemetry leave on the request
path while they are off (the default). `make bench` compares the ceiling view with and without it: with the three
off, the tracing middleware only leaves the chain at start-up, the request id middleware writes no log line, and
neither SDK is imported (tests/test_observability_gunicorn.py)."""

from bench.settings import *  # noqa: F403
from bench.settings import MIDDLEWARE

MIDDLEWARE = [name for name in MIDDLEWARE if name != "main.middleware.tracing_middleware"]
