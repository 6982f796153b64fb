from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from main.logging import forget_request_secrets, remember_secrets


def request_secrets_middleware(get_response: Callable[[HttpRequest], HttpResponse]):
    """Scopes the per-request secret registry of `main.logging` to one request."""

    def middleware(request: HttpRequest) -> HttpResponse:
        forget_request_secrets()
        remember_secrets(request.META.get("HTTP_AUTHORIZATION"))
        try:
            return get_response(request)
        finally:
            forget_request_secrets()

    return middleware
