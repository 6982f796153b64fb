"""Each request's id, what log lines know about the request being served, and (LOG_FORMAT=json) its one log line.

- The id is the proxy's `X-Request-ID` when it sends a usable one (1-128 letters, digits, `-_.:@`), else a new
  one; it is returned in the `X-Request-ID` header of every answer, errors and 404s included, so a user's report
  leads to the log lines of that request.
- While a request is served, `current_request()` gives its id, method, path and account (main.logging's JSON
  formatter adds them to every line, main/sentry.py to every error report, main/tracing.py to the request's span).
  That lasts until Django closes the answer (`forget_request`): Django logs a 4xx answer ("Unauthorized:
  /api/list") after the middleware returns.
- With LOG_FORMAT=json the app writes one line per request (method, path, status, duration, account), the access
  log of ELK or Loki; gunicorn's own access log is then off (gunicorn.conf.py). With the default `text` format the
  access log stays gunicorn's (or runserver's) and this middleware only handles the id.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
# Wide enough for UUIDs, nginx's $request_id and most proxies' formats; nothing that could break a log line.
_USABLE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@-]{1,128}")

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RequestContext:
    request_id: str
    request: HttpRequest

    @property
    def account_id(self) -> str | None:
        """The caller's account once `auth_required` knows it. A Bearer request's account is a lazy object whose `pk`
        comes from the JWT, so this never reads the database."""
        account = getattr(self.request, "bitrix24_account", None)
        return None if account is None else str(account.pk)


_current: ContextVar[RequestContext | None] = ContextVar("current_request", default=None)


def current_request() -> RequestContext | None:
    """The request this thread is serving, if any."""
    return _current.get()


def request_id_for(proxy_value: str | None) -> str:
    """The proxy's id when it is usable, else a new one."""
    if proxy_value is not None and _USABLE_REQUEST_ID.fullmatch(proxy_value):
        return proxy_value
    return uuid.uuid4().hex


def request_log_middleware(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable:
    """Outermost, so that every answer gets the header, also those of other middleware (CORS preflights, 404s)."""
    from django.conf import settings  # not at import: main/logging.py says why

    log_requests = settings.LOG_FORMAT == "json"

    def middleware(request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        context = RequestContext(request_id_for(request.META.get("HTTP_X_REQUEST_ID")), request)
        _current.set(context)
        response = get_response(request)
        response[REQUEST_ID_HEADER] = context.request_id
        if log_requests:
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            # The path only: query strings can carry tokens (main.logging masks the line all the same).
            logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={"status": response.status_code, "duration_ms": duration_ms},
            )
        return response

    return middleware


def forget_request(**kwargs: object) -> None:
    """`request_finished` receiver: the thread serves no request any more."""
    _current.set(None)
