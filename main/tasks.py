"""Background work on Celery (celery_app.py): the tasks, each a thin call of a service, and the queueing of events.

- `process_app_event`: applies a lifecycle event that `POST /api/app-events` queued (`queue_app_event`) with
  ENABLE_RABBITMQ on (main/app_events.py).
- `renew_expiring_tokens`: the periodic renewal of access tokens, scheduled by beat with TOKEN_REFRESH_ENABLED on
  (main/token_renewal.py).

A message is acknowledged after its task ran and given back when the worker dies (settings.py), so a task may run
twice for one message: the services make the second run change nothing. A failure that may pass (Bitrix24 too slow
or failing, the database away) is retried with a growing pause, `MAX_RETRIES` times at most. An event carries
tokens: Celery's log lines name the event instead of showing the task's arguments (`argsrepr`), and the tokens are
masked in every log line written while the task runs.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from amqp.exceptions import MessageNacked
from django.conf import settings
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerUnavailable

from celery_app import app
from main import token_renewal
from main.app_events import accept_event, process_event
from main.exceptions import ApiError, Bitrix24Timeout, Bitrix24Unavailable, QueueUnavailable
from main.logging import secrets_scope
from main.utils.decorators.collect_request_data import remember_secret_fields

logger = logging.getLogger(__name__)

# Failures that may pass, retried after about 1, 2, 4, 8, 16 s (random jitter below each, 60 s at most).
MAY_PASS = (Bitrix24Timeout, Bitrix24Unavailable, OperationalError, InterfaceError)
MAX_RETRIES = 5
_RETRIED = {
    "autoretry_for": MAY_PASS,
    "max_retries": MAX_RETRIES,
    "retry_backoff": 1,
    "retry_backoff_max": 60,
    "retry_jitter": True,
}


def queue_app_event(data: Mapping[str, Any]) -> None:
    """Check what can be checked at once (`accept_event`: the shape, ONAPPUNINSTALL's application token), then queue
    the event for a worker; nothing is written here.

    `QueueUnavailable` (503) when the broker does not confirm the message within a few seconds.
    """
    event = accept_event(data)
    name = f"{event.event} from portal {event.auth.member_id}"
    try:
        process_app_event.apply_async(
            args=(dict(data),),
            argsrepr=f"({name})",
            kwargsrepr="{}",
            retry=True,
            retry_policy=settings.EVENT_PUBLISH_RETRY_POLICY,
            timeout=settings.EVENT_PUBLISH_TIMEOUT,
            confirm_timeout=settings.EVENT_PUBLISH_TIMEOUT,
        )
    except (BrokerUnavailable, MessageNacked) as error:
        logger.warning("Could not queue event %s: %s", name, error)
        raise QueueUnavailable() from error


@app.task(**_RETRIED)
def process_app_event(data: dict[str, Any]) -> str:
    """Apply a queued event: `processed`, `ignored` (an event the backend does not handle) or `refused` (a forged
    or stale event, logged; it changes nothing)."""
    with secrets_scope():
        remember_secret_fields(data)
        try:
            return process_event(data)
        except MAY_PASS:
            raise
        except ApiError as error:
            logger.warning("Refused a queued event: %s", error.message)
            return "refused"


@app.task(**_RETRIED)
def renew_expiring_tokens() -> dict[str, int]:
    """Renew the access tokens that expire within TOKEN_REFRESH_WINDOW_MINUTES (nothing when TOKEN_REFRESH_ENABLED
    is off): the counts of renewed and refused ones."""
    if not settings.TOKEN_REFRESH_ENABLED:
        logger.info("Token renewal is off (TOKEN_REFRESH_ENABLED)")
        return {}
    sweep = token_renewal.renew_expiring_tokens(dt.timedelta(minutes=settings.TOKEN_REFRESH_WINDOW_MINUTES))
    return {"renewed": sweep.renewed, "refused": sweep.refused}
