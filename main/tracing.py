"""OpenTelemetry traces (OTEL_EXPORTER_OTLP_ENDPOINT): a span per request and per call to Bitrix24.

Imported only when the endpoint is set (main/apps.py, main/middleware.py): with it empty, OpenTelemetry is never
loaded and no middleware runs.

- A request's span (`traced`) continues the proxy's trace (`traceparent`) and names the route, e.g.
  `GET api/list`, with the status, the request id and, once known, the account.
- Every call to Bitrix24 (`app.info` and token renewal on the OAuth server, REST calls to the portal) goes through
  `requests`, which OpenTelemetry's requests instrumentation turns into a child span.
- Spans leave the process through an OTLP/HTTP exporter in batches, in the background. Before that, every name,
  attribute, event and status text goes through `main.logging.redact`: the URL of an `app.info` call carries the
  access token, token renewal carries the client secret and the refresh token, and a failed call's exception
  repeats its URL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from django.conf import settings
from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.semconv.attributes.http_attributes import (
    HTTP_REQUEST_METHOD,
    HTTP_RESPONSE_STATUS_CODE,
    HTTP_ROUTE,
)
from opentelemetry.semconv.attributes.url_attributes import URL_PATH
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import Attributes, AttributeValue

from main.logging import redact
from main.request_log import current_request

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse
    from opentelemetry.context import Context


def otlp_exporter(endpoint: str) -> SpanExporter:
    """Spans to an OTLP/HTTP collector at `endpoint`, the base URL (OpenTelemetry's rule: traces go to /v1/traces).
    Its headers, timeout and compression follow OpenTelemetry's own OTEL_EXPORTER_OTLP_* variables."""
    return OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")


def start_tracing(exporter: SpanExporter) -> TracerProvider:
    """Trace requests and calls to Bitrix24 into `exporter`, redacted; returns the process's tracer provider."""
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: settings.OTEL_SERVICE_NAME}))
    provider.add_span_processor(_RedactingSpanProcessor(BatchSpanProcessor(exporter)))
    trace.set_tracer_provider(provider)
    RequestsInstrumentor().instrument(tracer_provider=provider)
    return provider


def traced(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """The request's span around the rest of the middleware chain and the view."""
    tracer = trace.get_tracer(__name__)

    def middleware(request: HttpRequest) -> HttpResponse:
        method = request.method or "_OTHER"  # None only for a request built by hand; "_OTHER" is OpenTelemetry's
        attributes = {HTTP_REQUEST_METHOD: method, URL_PATH: request.path}  # never the query string
        with tracer.start_as_current_span(
            method, context=propagate.extract(request.headers), kind=SpanKind.SERVER, attributes=attributes
        ) as span:
            response = get_response(request)
            if request.resolver_match is not None:
                route = request.resolver_match.route
                span.update_name(f"{request.method} {route}")
                span.set_attribute(HTTP_ROUTE, route)
            span.set_attribute(HTTP_RESPONSE_STATUS_CODE, response.status_code)
            if response.status_code >= 500:
                span.set_status(StatusCode.ERROR)
            if (context := current_request()) is not None:
                span.set_attribute("request_id", context.request_id)
                if (account_id := context.account_id) is not None:
                    span.set_attribute("account_id", account_id)
        return response

    return middleware


class _RedactingSpanProcessor(SpanProcessor):
    """Hands `processor` a redacted copy of each ended span. It runs in the thread that ends the span, while the
    request's own credentials are still registered with `main.logging`."""

    def __init__(self, processor: SpanProcessor) -> None:
        self._processor = processor

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self._processor.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        description = span.status.description
        self._processor.on_end(
            ReadableSpan(
                name=redact(span.name),
                context=span.context,
                parent=span.parent,
                resource=span.resource,
                attributes=_redacted(span.attributes),
                events=[Event(event.name, _redacted(event.attributes), event.timestamp) for event in span.events],
                links=span.links,
                kind=span.kind,
                status=Status(span.status.status_code, redact(description)) if description else span.status,
                start_time=span.start_time,
                end_time=span.end_time,
                instrumentation_scope=span.instrumentation_scope,
            )
        )

    def shutdown(self) -> None:
        self._processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._processor.force_flush(timeout_millis)


def _redacted(attributes: Attributes) -> dict[str, AttributeValue]:
    return {key: _redacted_value(value) for key, value in (attributes or {}).items()}


def _redacted_value(value: AttributeValue) -> AttributeValue:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        return [redact(item) if isinstance(item, str) else item for item in value]
    return value
