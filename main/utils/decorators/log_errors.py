from __future__ import annotations

import logging
from functools import wraps
from http import HTTPStatus
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

from config import config
from main.exceptions import ApiError
from main.logging import redact


def log_errors(name: str):
    """End every failure of the view in a JSON answer, logging what needs a look (logger `name`).

    - `ApiError`: its own status and message (an expected outcome, e.g. a JWT that expired while the view ran).
    - The database is unreachable or broke the connection: 503, so clients retry; logged as a warning.
    - Anything else is a bug: 500, logged with its traceback (secrets masked by `main.logging`). The answer names the
      exception (masked) only in development; in production it says "Internal server error" and nothing more.
    """
    logger = logging.getLogger(name)

    def decorator(view_func):
        @wraps(view_func)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                return view_func(request, *args, **kwargs)
            except ApiError as error:
                return error.response()
            except (OperationalError, InterfaceError) as error:
                logger.warning("Database unavailable in %s %s: %s", request.method, request.path, error)
                return JsonResponse(
                    {"error": "Database unavailable; try again shortly"}, status=HTTPStatus.SERVICE_UNAVAILABLE
                )
            except Exception as error:
                logger.exception("Unhandled error in %s %s", request.method, request.path)
                detail = redact(f"{type(error).__name__}: {error}")
                message = "Internal server error" if config.is_production else detail
                return JsonResponse({"error": message}, status=HTTPStatus.INTERNAL_SERVER_ERROR)

        return wrapper

    return decorator
