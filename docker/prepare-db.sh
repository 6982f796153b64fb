#!/bin/sh
# Bring the database up to the code: wait for it, apply the committed migrations, and create the admin superuser
# when DJANGO_SUPERUSER_USERNAME is set (an existing one is left as it is). Runs from the code directory.
# Never `makemigrations`: migrations are written by developers and committed, not generated in a container.
set -eu

"$(dirname "$0")/wait-for-db.sh"
python manage.py migrate --noinput

[ -n "${DJANGO_SUPERUSER_USERNAME:-}" ] || exit 0

superuser_exists() {
  python manage.py shell -c "import os, sys
from django.contrib.auth import get_user_model
sys.exit(0 if get_user_model().objects.filter(username=os.environ['DJANGO_SUPERUSER_USERNAME']).exists() else 1)"
}

if superuser_exists; then
  echo "prepare-db: superuser '$DJANGO_SUPERUSER_USERNAME' exists, left unchanged"
elif [ -z "${DJANGO_SUPERUSER_PASSWORD:-}" ]; then
  echo "prepare-db: DJANGO_SUPERUSER_USERNAME is set but DJANGO_SUPERUSER_PASSWORD is empty" >&2
  exit 1
else
  python manage.py createsuperuser --noinput
fi
