from __future__ import annotations

import logging
from functools import wraps
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

from main.exceptions import ApiError
from main.logging import redact


def log_errors(view_func):
    """End every failure of the view in a JSON answer, logging what needs a look (the logger is named after the view,
    e.g. `main.views.install`). The one place where the app's errors become HTTP answers:

    - `ApiError`: its own status and message (an expected outcome: bad input, a refused JWT, Bitrix24 down).
    - The database is unreachable or broke the connection: 503, so clients retry; logged as a warning.
    - Anything else is a bug: 500, logged with its traceback (secrets masked by `main.logging`). The answer names the
      exception (masked) only with DEBUG on; in production it says "Internal server error" and nothing more.
    """
    logger = logging.getLogger(f"{view_func.__module__}.{view_func.__name__}")

    @wraps(view_func)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view_func(request, *args, **kwargs)
        except ApiError as error:
            return JsonResponse({"error": error.message}, status=error.status)
        except (OperationalError, InterfaceError) as error:
            logger.warning("Database unavailable in %s %s: %s", request.method, request.path, error)
            return JsonResponse(
                {"error": "Database unavailable; try again shortly"}, status=HTTPStatus.SERVICE_UNAVAILABLE
            )
        except Exception as error:
            logger.exception("Unhandled error in %s %s", request.method, request.path)
            detail = redact(f"{type(error).__name__}: {error}") if settings.DEBUG else "Internal server error"
            return JsonResponse({"error": detail}, status=HTTPStatus.INTERNAL_SERVER_ERROR)

    return wrapper
