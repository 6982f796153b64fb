"""OTEL_EXPORTER_OTLP_ENDPOINT: a span per request and a child span per call to Bitrix24, exported with no token in
them. Spans go to an in-memory exporter through the same pipeline as in production (the redacting processor, then
batches); tests/test_observability_gunicorn.py exports over OTLP/HTTP from the production server.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from main.models import Bitrix24Account
from main.tracing import start_tracing
from tests.support.fake_bitrix24 import CLIENT_SECRET, FakeBitrix24

pytestmark = pytest.mark.django_db

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture(scope="module")
def tracing() -> Iterator[tuple]:
    """Tracing as `main.apps` starts it, into memory; OpenTelemetry allows one tracer provider per process."""
    exporter = InMemorySpanExporter()
    provider = start_tracing(exporter)
    yield provider, exporter
    RequestsInstrumentor().uninstrument()
    provider.shutdown()


@pytest.fixture
def spans(tracing, settings) -> Callable[[], list[ReadableSpan]]:
    """Tracing on for this test; returns the spans exported so far."""
    provider, exporter = tracing
    settings.OTEL_EXPORTER_OTLP_ENDPOINT = "http://127.0.0.1:4318"
    exporter.clear()

    def exported() -> list[ReadableSpan]:
        provider.force_flush()
        return list(exporter.get_finished_spans())

    return exported


def _everything(spans: list[ReadableSpan]) -> str:
    return "".join(span.to_json() for span in spans)


def test_a_placement_is_a_server_span_with_a_child_span_for_app_info(client, fake_b24, spans):
    grant = fake_b24.grant(user_id=4)

    response = client.post("/api/getToken", fake_b24.placement(grant), content_type="application/json")

    server, bitrix24 = sorted(spans(), key=lambda span: span.kind != SpanKind.SERVER)
    assert response.status_code == 200
    assert (server.kind, server.name) == (SpanKind.SERVER, "POST api/getToken")
    assert server.attributes["http.request.method"] == "POST"
    assert server.attributes["http.route"] == "api/getToken"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["request_id"] == response["X-Request-ID"]
    assert server.attributes["account_id"]
    assert bitrix24.kind == SpanKind.CLIENT
    assert bitrix24.parent.span_id == server.context.span_id
    assert bitrix24.context.trace_id == server.context.trace_id
    assert bitrix24.attributes["http.url"] == "https://oauth.bitrix24.tech/rest/app.info/?auth=***"
    assert bitrix24.attributes["http.status_code"] == 200
    for secret in (grant.access_token, grant.refresh_token, response.json()["token"]):
        assert secret not in _everything(spans())


def test_a_token_renewal_and_a_rest_call_are_spans_without_secrets(fake_b24, spans, account):
    fake_b24.rest_results["profile"] = {"ID": "7", "NAME": "Anna"}
    grant = fake_b24.grant(user_id=7)
    account.access_token, account.refresh_token = grant.access_token, grant.refresh_token
    spent_refresh_token = grant.refresh_token
    account.expires_timestamp = int(time.time()) - 60  # expired here: the SDK renews it before the call
    account.save()

    name = account.client.profile().result["NAME"]

    renewal, call = (span.attributes["http.url"] for span in spans())
    renewed = Bitrix24Account.objects.get(pk=account.pk)
    assert name == "Anna"
    assert renewal.startswith("https://oauth.bitrix24.tech/oauth/token/?")
    assert "client_secret=***" in renewal
    assert "refresh_token=***" in renewal
    assert call == "https://portal-a.bitrix24.com/rest/profile.json"
    for secret in (CLIENT_SECRET, spent_refresh_token, renewed.access_token, renewed.refresh_token):
        assert secret not in _everything(spans())


def test_a_failed_call_to_bitrix24_records_the_error_without_the_token(client, spans, settings):
    settings.BITRIX24_OAUTH_SERVER = "http://127.0.0.1:9"  # nothing listens there
    fake = FakeBitrix24()
    grant = fake.grant()

    response = client.post("/api/getToken", fake.placement(grant), content_type="application/json")

    (bitrix24,) = [span for span in spans() if span.kind == SpanKind.CLIENT]
    server = next(span for span in spans() if span.kind == SpanKind.SERVER)
    assert response.status_code == 502
    assert bitrix24.status.status_code == StatusCode.ERROR
    (exception,) = bitrix24.events
    assert exception.name == "exception"
    assert "/rest/app.info/?auth=***" in exception.attributes["exception.message"]
    assert server.attributes["http.response.status_code"] == 502
    assert server.status.status_code == StatusCode.ERROR
    assert grant.access_token not in _everything(spans())


def test_the_proxys_trace_is_continued(client, bearer, spans):
    response = client.get("/api/list", HTTP_TRACEPARENT=f"00-{TRACE_ID}-00f067aa0ba902b7-01", **bearer)

    (server,) = spans()
    assert response.status_code == 200
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert format(server.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert json.loads(server.to_json())["name"] == "GET api/list"


def test_an_unknown_path_is_one_span_of_the_catch_all_route(client, spans):
    response = client.get("/api/no-such-route?AUTH_ID=at-in-the-query-0123")

    (server,) = spans()
    assert response.status_code == 404
    assert server.attributes["url.path"] == "/api/no-such-route"
    assert "at-in-the-query-0123" not in _everything([server])
