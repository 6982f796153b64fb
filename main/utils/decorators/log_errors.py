from __future__ import annotations

import logging
from functools import wraps
from http import HTTPStatus
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from config import config


def log_errors(name: str):
    """Turn any exception of the view into a logged error and a JSON 500.

    The log line (logger `name`) has the traceback, with secrets masked by `main.logging`. The answer names the
    exception only in development; in production it says "Internal server error" and nothing more.
    """
    logger = logging.getLogger(name)

    def decorator(view_func):
        @wraps(view_func)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                return view_func(request, *args, **kwargs)
            except Exception as error:
                logger.exception("Unhandled error in %s %s", request.method, request.path)
                message = "Internal server error" if config.is_production else f"{type(error).__name__}: {error}"
                return JsonResponse({"error": message}, status=HTTPStatus.INTERNAL_SERVER_ERROR)

        return wrapper

    return decorator
