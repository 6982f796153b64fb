"""Errors to Sentry (SENTRY_DSN), scrubbed of every credential before a report leaves the process.

Imported only when SENTRY_DSN is set (main/apps.py): with it empty, sentry_sdk is never loaded.

What is reported: every bug `log_errors` logs (Sentry's logging integration turns ERROR lines into reports, with
the exception's stack trace), and whatever fails outside the API's views (Django's integration), each with the
request's method, URL, headers and body and the log lines before it (breadcrumbs), tagged with the request id and
the account.

What is not: `scrub_event` walks the whole report (messages, exception texts, request data, headers, query
string, breadcrumbs, tags) and masks the values named like credentials (`Authorization`, `Cookie`, `AUTH_ID`,
`refresh_token`, ...) and, in every text, what `main.logging.redact` masks in log lines: the JWT and client
secrets, JWTs, Bearer credentials, OAuth parameters and the request's own tokens. Not collected at all: the
user, cookies, SQL parameters, local variables, the bodies of calls to Bitrix24 and the arguments of Celery tasks
(see `start_sentry`).
"""

from __future__ import annotations

from typing import Any

import sentry_sdk
from django.conf import settings
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.logging import ignore_logger
from sentry_sdk.transport import Transport
from sentry_sdk.types import Event, Hint

from main.logging import MASK, SECRET_NAMES, redact
from main.request_log import current_request

_SECRET_KEYS = frozenset((*SECRET_NAMES, "authorization", "proxy-authorization", "cookie", "set-cookie"))


def start_sentry(transport: Transport | None = None) -> None:
    """Report errors to SENTRY_DSN, through `transport` when given (tests keep reports in memory)."""
    sentry_sdk.init(
        dsn=settings.SENTRY_DSN,
        environment=settings.SENTRY_ENVIRONMENT,
        integrations=[DjangoIntegration()],
        # Not collected: the user, cookies, SQL parameters and local variables hold tokens under any name, and the
        # answers of Bitrix24's OAuth server hold renewed ones. What is collected is scrubbed by `scrub_event`.
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "database_query_data": False,
            "stack_frame_variables": False,
            "http_bodies": ["incoming_request"],
            # Celery's task arguments: a queued event carries the portal's tokens under names like
            # `auth[access_token]` (main/tasks.py).
            "queues": False,
        },
        before_send=scrub_event,
        # Performance monitoring is OpenTelemetry's job here (main/tracing.py); scrubbed should it be turned on.
        before_send_transaction=scrub_event,
        transport=transport,
    )
    # Django logs every 5xx answer there: a bug is already reported by `log_errors`' own line or by Django's
    # integration, and a 502/503/504 (Bitrix24 or the database down) is not a bug.
    ignore_logger("django.request")


def scrub_event(event: Event, hint: Hint) -> Event:
    """Sentry's `before_send`: the report with every credential masked, tagged with the request's id and account.

    Sentry calls it in the thread that reports, so the request's own tokens are still registered for `redact`.
    """
    scrubbed: Event = _scrubbed(event)
    context = current_request()
    if context is not None:
        tags = scrubbed.setdefault("tags", {})
        tags["request_id"] = context.request_id
        if (account_id := context.account_id) is not None:
            tags["account_id"] = account_id
    return scrubbed


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {
            key: MASK if isinstance(key, str) and key.lower() in _SECRET_KEYS else _scrubbed(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrubbed(item) for item in value]
    return value
