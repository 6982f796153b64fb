#!/bin/sh
# Development container start: prepare the database, then run the command (runserver, see the Dockerfile's CMD).
set -eu

"$(dirname "$0")/prepare-db.sh"
exec "$@"
