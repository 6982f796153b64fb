#!/bin/sh
# Wait until the database at DB_HOST:DB_PORT accepts connections, at most DB_WAIT_SECONDS (default 60), or fail:
# PostgreSQL (pg_isready) or, with DB_ENGINE=mysql, MySQL/MariaDB (the backend's own driver, mysqlclient). The
# defaults are config.py's. Nothing to wait for with DB_ENGINE=sqlite.
set -eu

engine=${DB_ENGINE:-postgresql}
case "$engine" in
  sqlite) exit 0 ;;
  mysql) server=MySQL default_port=3306 ;;
  *) server=PostgreSQL default_port=5432 ;;
esac

host=${DB_HOST:-database}
port=${DB_PORT:-$default_port}
wait_seconds=${DB_WAIT_SECONDS:-60}
deadline=$(($(date +%s) + wait_seconds))

# MySQL answers a connection, even one it refuses (a wrong password, a database not yet created), once it runs; only
# the client's own errors (2002-2013: no server there, or it went away) mean it is not up yet.
mysql_answers() {
  WAIT_HOST=$host WAIT_PORT=$port python -c '
import os, sys, MySQLdb
try:
    MySQLdb.connect(host=os.environ["WAIT_HOST"], port=int(os.environ["WAIT_PORT"]), user=os.environ.get("DB_USER", "appuser"),
                    password=os.environ.get("DB_PASSWORD", "apppass"), connect_timeout=2).close()
except MySQLdb.OperationalError as error:
    sys.exit(2000 <= error.args[0] <= 2999)
'
}

answers() {
  if [ "$engine" = mysql ]; then
    mysql_answers
  else
    pg_isready -q -h "$host" -p "$port" -U "${DB_USER:-appuser}" -d "${DB_NAME:-appdb}"
  fi
}

until answers; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "wait-for-db: $server at $host:$port did not answer within ${wait_seconds}s" >&2
    exit 1
  fi
  sleep 1
done
