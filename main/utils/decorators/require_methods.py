from __future__ import annotations

from functools import wraps
from http import HTTPStatus
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse


def require_methods(*methods: str):
    """Like Django's `require_http_methods`, but the 405 answer is JSON (and names the allowed methods)."""
    allowed = ", ".join(methods)

    def decorator(view_func):
        @wraps(view_func)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                response = JsonResponse(
                    {"error": f"Method {request.method} not allowed; use {allowed}"},
                    status=HTTPStatus.METHOD_NOT_ALLOWED,
                )
                response["Allow"] = allowed
                return response
            return view_func(request, *args, **kwargs)

        return wrapper

    return decorator
