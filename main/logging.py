"""Keeps secrets out of log lines, and formats them.

Every handler of the project carries `RedactSecretsFilter`, and so do gunicorn's own loggers (gunicorn.conf.py). It
masks the configured secrets, anything shaped like a JWT, a Bearer credential or an OAuth query parameter, the query
string of a request line (runserver's request log, gunicorn's errors), and the credentials of the request being
served (registered with `remember_secrets` as soon as the request's data is read). `redact` also scrubs error
reports (main/sentry.py) and traces (main/tracing.py).

gunicorn's master imports this module (and main/request_log.py) for its JSON lines, and must not import Django's
settings object with it: the gevent worker it forks patches every lock it finds among the process's objects, and an
unconfigured settings object refuses to be looked at. Both modules read the settings inside their functions.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from config import PLACEHOLDER_CLIENT_SECRET
from main.request_log import current_request

MASK = "***"
_MIN_SECRET_LENGTH = 6

_request_secrets: ContextVar[tuple[str, ...]] = ContextVar("request_secrets", default=())

# Names of the query parameters and fields that carry credentials: OAuth's and Bitrix24's placement data.
SECRET_NAMES = (
    "auth",
    "auth_id",
    "refresh_id",
    "access_token",
    "refresh_token",
    "application_token",
    "client_secret",
    "code",
)

_PATTERNS = (
    # A JWT: three base64url parts, the first starting with `{"` encoded.
    re.compile(r"eyJ[\w-]*\.[\w-]*\.[\w-]*"),
    re.compile(r"(?i)(bearer\s+)\S+"),
    # `name=value`, `"name": "value"`, and an event's `auth[name]=value` (`%5D` as runserver logs it).
    re.compile(rf"(?i)((?:{'|'.join(SECRET_NAMES)})(?:\]|%5D)?['\"]?\s*[=:]\s*['\"]?)[^&\s'\",}}]+"),
    # A request line's query string: placement data travels there under names no pattern above foresees (e.g.
    # `auth%5Baccess_token%5D`, percent-encoded as runserver logs it).
    re.compile(r"((?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|CONNECT|TRACE) [^\s?'\"]*\?)[^\s'\"]+"),
)


def remember_secrets(*values: object) -> None:
    """Mask these values in every log line written while the current request is served."""
    found = tuple(v for v in values if isinstance(v, str) and len(v) >= _MIN_SECRET_LENGTH)
    if found:
        _request_secrets.set(_request_secrets.get() + found)


@contextmanager
def secrets_scope(*values: object) -> Iterator[None]:
    """One request's (or task's) secrets: `values`, and what `remember_secrets` adds inside, are masked in every log
    line written inside, and forgotten when it ends."""
    _request_secrets.set(())
    remember_secrets(*values)
    try:
        yield
    finally:
        _request_secrets.set(())


def _configured_secrets() -> tuple[str, ...]:
    # The placeholder is a word of log lines ("client_secret=..."), not a secret: masking it would hide the key the
    # patterns below look for.
    from django.conf import settings  # not at import: see the module's last paragraph

    secrets = (settings.JWT_SECRET, settings.JWT_SECRET_PREVIOUS, settings.BITRIX24_CLIENT_SECRET)
    return tuple(s for s in secrets if len(s) >= _MIN_SECRET_LENGTH and s != PLACEHOLDER_CLIENT_SECRET)


def redact(text: str) -> str:
    for secret in (*_configured_secrets(), *_request_secrets.get()):
        text = text.replace(secret, MASK)
    text = _PATTERNS[0].sub(MASK, text)
    for pattern in _PATTERNS[1:]:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


class RedactSecretsFilter(logging.Filter):
    """Renders the record (message and traceback) once, redacted: formatters print that text, never the raw values.

    `exc_info` stays on the record for Sentry's logging integration, which builds its report from the exception
    itself (main/sentry.py scrubs the report before it is sent).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.msg, record.args = redact(message), None
        return True


class OneLineFormatter(logging.Formatter):
    """One line per event (tracebacks included), so log collectors never split an event."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n", " \\n ")


class JsonFormatter(logging.Formatter):
    """LOG_FORMAT=json: one JSON object per line for log collectors (ELK, Loki), the traceback inside it.

    Keys: time (UTC), level, logger, message; while a request is served its request_id, method, path and, once
    known, account_id; the request's own line (main/request_log.py) adds status and duration_ms; exception.
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = current_request()
        if context is not None:
            line["request_id"] = context.request_id
            line["method"] = context.request.method
            line["path"] = redact(context.request.path)  # the filter masks messages, not this field
            if (account_id := context.account_id) is not None:
                line["account_id"] = account_id
        for name in ("status", "duration_ms"):
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info and not record.exc_text:  # a handler without the filter (gunicorn's own lines)
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str)
