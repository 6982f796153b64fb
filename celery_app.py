"""The Celery app: background work on RabbitMQ (README, "Background work").

`celery -A celery_app worker` runs the tasks of main/tasks.py (`make worker`, compose's `python-worker`);
`celery -A celery_app beat` schedules the periodic ones (`make beat`, compose's `python-beat`). Everything is
configured in settings.py (the `CELERY_*` settings, read from config.py).

Celery leaves logging to Django: the worker and beat log through settings.LOGGING's handler, whose filter masks
secrets (main/logging.py), at LOG_LEVEL (Celery's own `--loglevel` has no effect), and task arguments are never
written in Celery's own log lines (main/tasks.py).
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

app = Celery("bitrix24_app")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["main"])


@setup_logging.connect
def keep_django_logging(**kwargs: object) -> None:
    """A receiver of this signal tells Celery not to set up logging: Django's LOGGING (settings.py) stays."""
