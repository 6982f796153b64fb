from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse

from main.logging import secrets_scope


def request_secrets_middleware(get_response: Callable[[HttpRequest], HttpResponse]):
    """Scopes the per-request secret registry of `main.logging` to one request."""

    def middleware(request: HttpRequest) -> HttpResponse:
        with secrets_scope(request.META.get("HTTP_AUTHORIZATION")):
            return get_response(request)

    return middleware


def tracing_middleware(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """A span per request (main/tracing.py) when OTEL_EXPORTER_OTLP_ENDPOINT is set. Without it this middleware
    leaves the chain when Django loads it, and OpenTelemetry is never imported: tracing off costs nothing."""
    if not settings.OTEL_EXPORTER_OTLP_ENDPOINT:
        raise MiddlewareNotUsed
    from main.tracing import traced

    return traced(get_response)
