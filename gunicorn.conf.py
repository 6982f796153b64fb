"""Gunicorn settings of the production image: `gunicorn wsgi:application --bind 0.0.0.0:8000 -c gunicorn.conf.py`.

Gunicorn's own knobs are read here, from the environment or `.env` as the app's settings are (those stay in
config.py, which also says the log format and level).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

from gunicorn.arbiter import Arbiter

import config as config_module

# Gunicorn runs this file again on a reload (SIGHUP): the environment and `.env` are read again then, so the workers
# forked next get the new values (secrets included). The master reads its log format here and imports nothing else
# of the app (see _refuse_unsafe_settings). Not named `config` or `env`: gunicorn takes every top-level name of this
# file that matches one of its settings.
app_config = importlib.reload(config_module).config
# Gunicorn's own knobs, from the environment or `.env` like the app's settings.
server_env = config_module.read_environment()

bind = "0.0.0.0:8000"  # the command line's --bind wins

# One process per core, each serving its requests in gevent's green threads (bench/results.md compares the sync,
# gthread and gevent workers with `make bench` on 2 cores):
# - gevent: a request waiting on Bitrix24 (up to BITRIX24_TIMEOUT for a placement's first call) or on the database
#   yields to the others, so a slow Bitrix24 holds up no other request (tests/test_load_and_faults.py), and the
#   worker switches between requests without OS threads and the GIL's hand-overs: one worker served the bare view
#   1.7 times as fast as gthread's 8 threads (1662 against 951 requests/s), and Bearer /api/list 0.92 of that.
#   psycopg2 waits cooperatively (post_fork), and PostgreSQL connections come from a pool of DB_POOL_SIZE per worker
#   (settings.py), reused across requests.
# - gthread stays for DB_ENGINE=mysql: mysqlclient would block the whole worker while it waits, and has no pool.
# - Processes: per-process caches (verified JWTs, accounts' access) fill and renew once per process, so one process
#   per core; set WEB_CONCURRENCY to the number of cores on other hardware.
workers = server_env.int("WEB_CONCURRENCY", 2)
worker_class = server_env.str("GUNICORN_WORKER_CLASS", "gthread" if app_config.db_engine == "mysql" else "gevent")
# gevent: the requests a worker serves at once. gthread: its threads, each with a persistent database connection.
worker_connections = server_env.int("GUNICORN_WORKER_CONNECTIONS", 1000)
threads = server_env.int("GUNICORN_THREADS", 8)
# All workers accept from the master's one listening socket, which outlives a reload (SIGHUP) and a replaced worker.
# Not SO_REUSEPORT (gunicorn's reuse_port): its socket per worker spread a burst of keep-alive connections more evenly
# over gthread's workers, but the connections waiting at a worker's own socket were reset when it exited, so a
# reload lost requests on MySQL deployments' server (test_every_request_sent_during_a_reload_is_answered).

# A worker silent this long is killed and replaced. The slowest legitimate request waits on Bitrix24:
# BITRIX24_TIMEOUT (5 s) per attempt, 3 attempts at most; 30 s leaves room for that.
timeout = server_env.int("GUNICORN_TIMEOUT", 30)
# On SIGTERM (docker stop), requests in flight get this long to finish. docker-compose.yml's stop_grace_period
# is longer, so Docker does not SIGKILL them first.
graceful_timeout = server_env.int("GUNICORN_GRACEFUL_TIMEOUT", 20)
# Idle keep-alive connections from the reverse proxy are closed after this many seconds.
keepalive = 5

# Workers' heartbeat files in memory: /tmp of a container can be a slow overlay, where a blocked write gets a
# healthy worker killed (gunicorn's FAQ on Docker).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - gunicorn's own recommendation

# No control socket (gunicornc): nothing uses it, and its default path is in the home directory, which the
# image's unprivileged user does not have.
control_socket_disable = True

# Both logs to stdout, one line per event, for `docker compose logs`. The access log names the path only:
# query strings and headers (Authorization, Referer) can carry tokens, so neither %(r)s, %(q)s nor %(f)s is used.
accesslog: str | None = "-"  # None with LOG_FORMAT=json
errorlog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
loglevel = logging.getLevelName(app_config.log_level).lower()  # LOG_LEVEL, as the app reads it

if app_config.log_format == "json":
    # LOG_FORMAT=json: the app writes one JSON line per request, with its id and account (main/request_log.py), so
    # gunicorn's text access line would only repeat it. Gunicorn's own lines (start, workers, errors) are JSON too:
    # every line the server prints is then one JSON object.
    from gunicorn.glogging import Logger

    from main.logging import JsonFormatter

    class JsonLogger(Logger):
        def setup(self, cfg) -> None:
            super().setup(cfg)
            for handler in self.error_log.handlers:
                handler.setFormatter(JsonFormatter())

    accesslog = None
    logger_class = JsonLogger


def post_fork(server, worker) -> None:
    """psycopg2 waits through gevent's event loop instead of blocking the worker: the gevent worker patches Python's
    own I/O, and psycopg2's C code needs this hook."""
    if server.cfg.worker_class_str == "gevent":
        from psycogreen.gevent import patch_psycopg

        patch_psycopg()


def post_request(worker, req, environ, resp) -> None:
    """gevent: let the worker's other connections have a turn before this one's next request. A keep-alive client
    that sends its next request at once (a proxy, a benchmark) would otherwise find it read without a wait, and so
    without a switch, and keep the worker to itself: measured with wrk, one worker's p75 was 385 ms instead of 1."""
    if worker.cfg.worker_class_str == "gevent":
        import gevent

        gevent.sleep(0)


def post_worker_init(worker) -> None:
    """Each worker, once it has loaded the app and before it serves: refuse unsafe settings, mask gunicorn's logs."""
    _refuse_unsafe_settings()
    _mask_secrets_in_gunicorn_logs(worker)


def _refuse_unsafe_settings() -> None:
    """Run Django's system checks, deployment checks included, so that production refuses to run with placeholder
    or weak secrets, wildcard hosts or without its static files (main/checks.py).

    In the workers, not the master: the master never imports Django, so the workers it forks, also after a reload
    (SIGHUP), import the settings themselves and read a changed `.env`. Checked in the master, the settings would
    be imported there once, and every later worker would inherit the old secrets. A worker that finds an error
    exits before serving, and gunicorn then stops ("Worker failed to boot").
    """
    from django.core.checks import run_checks

    errors = [message for message in run_checks(include_deployment_checks=True) if message.is_serious()]
    if errors:
        print("System check identified errors:", *errors, sep="\n", file=sys.stderr, flush=True)
        raise SystemExit(Arbiter.WORKER_BOOT_ERROR)


def _mask_secrets_in_gunicorn_logs(worker) -> None:
    """Gunicorn's error log quotes a malformed request line whole, query string and tokens included: its loggers
    get the app's masking filter (main/logging.py) too."""
    from main.logging import RedactSecretsFilter

    for logger in (worker.log.error_log, worker.log.access_log):
        logger.addFilter(RedactSecretsFilter())
