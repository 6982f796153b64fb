#!/bin/sh
# Production container start: apply migrations unless RUN_MIGRATIONS=0 (deployments that run
# `python manage.py migrate` as a separate job), then run the command (gunicorn, see the Dockerfile's CMD).
set -eu

# The admin's CSS is served from the files collected into the image. They vanish when a directory is mounted over
# the code, e.g. docker-compose.override.yml's development mount: say so instead of serving a broken admin.
if [ ! -f staticfiles/staticfiles.json ]; then
  echo "entrypoint-prod: $(pwd)/staticfiles/staticfiles.json is missing: the image's collected static files are" \
    "hidden, most likely by the development code mount of docker-compose.override.yml. Start production with" \
    "'make prod-python' or 'docker compose -f docker-compose.yml ...'." >&2
  exit 1
fi

case "${RUN_MIGRATIONS:-1}" in
  0 | false | no) echo "entrypoint-prod: RUN_MIGRATIONS=${RUN_MIGRATIONS}: not migrating" ;;
  *) "$(dirname "$0")/prepare-db.sh" ;;
esac

exec "$@"
