#!/bin/sh
# Wait until PostgreSQL at DB_HOST:DB_PORT accepts connections, at most DB_WAIT_SECONDS (default 60), or fail.
# The defaults are config.py's. Nothing to wait for with DB_ENGINE=sqlite.
set -eu

[ "${DB_ENGINE:-postgresql}" = "sqlite" ] && exit 0

host=${DB_HOST:-database}
port=${DB_PORT:-5432}
wait_seconds=${DB_WAIT_SECONDS:-60}
deadline=$(($(date +%s) + wait_seconds))

until pg_isready -q -h "$host" -p "$port" -U "${DB_USER:-appuser}" -d "${DB_NAME:-appdb}"; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "wait-for-db: PostgreSQL at $host:$port did not answer within ${wait_seconds}s" >&2
    exit 1
  fi
  sleep 1
done
