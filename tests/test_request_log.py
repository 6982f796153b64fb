"""The request id on every answer, and LOG_FORMAT=json: one JSON object per line, one line per request, the
request's id, method, path and account on every line written while it is served, tracebacks inside the line and
secrets masked as in text lines.

The JSON lines come from the project's own stdout handler (its redacting filter as configured) with the formatter
LOG_FORMAT=json selects; tests/test_observability_gunicorn.py checks the setting itself on the production server.
"""

import json
import logging
import re

import pytest

from main.logging import JsonFormatter
from main.models import Bitrix24Account

pytestmark = pytest.mark.django_db

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def json_lines(log_output, settings):
    """LOG_FORMAT=json: the stdout handler formats JSON and the app logs each request; returns the lines so far."""
    settings.LOG_FORMAT = "json"
    (handler,) = (h for h in logging.getLogger().handlers if h.get_name() == "stdout")
    text_formatter = handler.formatter
    handler.setFormatter(JsonFormatter())
    yield lambda: [json.loads(line) for line in log_output.getvalue().splitlines()]
    handler.setFormatter(text_formatter)


def _request_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["logger"] == "main.request_log"]


# --- the request id ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/api/healthz", 200),
        ("get", "/api/list", 400),
        ("post", "/api/list", 405),
        ("get", "/api/no-such-route", 404),
        ("options", "/api/list", 405),
    ],
)
def test_every_answer_carries_a_new_request_id(client, method, path, status):
    first = getattr(client, method)(path)
    second = getattr(client, method)(path)

    assert first.status_code == status
    assert GENERATED_ID.fullmatch(first["X-Request-ID"])
    assert GENERATED_ID.fullmatch(second["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_a_cors_preflight_answered_by_its_middleware_carries_one_too(client):
    response = client.options(
        "/api/list", HTTP_ORIGIN="https://portal.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"]
    assert GENERATED_ID.fullmatch(response["X-Request-ID"])


@pytest.mark.parametrize("proxy_id", ["5f0c8a1e-3b7d-4c2a-9e61-0d4b8f2a7c93", "req:42.a_b@edge-1", "x" * 128])
def test_the_proxys_request_id_is_kept(client, proxy_id):
    response = client.get("/api/healthz", HTTP_X_REQUEST_ID=proxy_id)

    assert response["X-Request-ID"] == proxy_id


@pytest.mark.parametrize(
    "proxy_id", ["", "x" * 129, "two words", 'quote"d', "line\\nbreak", "{json}", "caf\u00e9"], ids=repr
)
def test_an_unusable_request_id_is_replaced(client, proxy_id):
    response = client.get("/api/healthz", HTTP_X_REQUEST_ID=proxy_id)

    assert GENERATED_ID.fullmatch(response["X-Request-ID"])


# --- LOG_FORMAT=json ------------------------------------------------------------------------------------------


def test_a_request_is_one_json_line_with_its_id_status_duration_and_account(client, bearer, account, json_lines):
    response = client.get("/api/list", HTTP_X_REQUEST_ID="edge-7", **bearer)

    (line,) = _request_lines(json_lines())
    assert response.status_code == 200
    assert line["level"] == "INFO"
    assert line["message"] == "GET /api/list 200"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["time"])
    assert {key: line[key] for key in ("request_id", "method", "path", "status", "account_id")} == {
        "request_id": "edge-7",
        "method": "GET",
        "path": "/api/list",
        "status": 200,
        "account_id": str(account.pk),
    }
    assert 0 <= line["duration_ms"] < 10_000


def test_the_account_id_of_a_bearer_request_costs_no_query(client, bearer, json_lines, django_assert_num_queries):
    client.get("/api/list", **bearer)  # the account's access is now known for ACCESS_CHECK_SECONDS

    with django_assert_num_queries(0):
        response = client.get("/api/list", **bearer)

    assert response.status_code == 200
    assert _request_lines(json_lines())[-1]["account_id"]


def test_a_placement_line_names_the_account_it_saved(client, fake_b24, json_lines):
    placement = fake_b24.placement(fake_b24.grant(user_id=5))

    response = client.post("/api/getToken", placement, content_type="application/json")

    (line,) = _request_lines(json_lines())
    assert response.status_code == 200
    assert line["account_id"] == str(Bitrix24Account.objects.get(b24_user_id=5).pk)


def test_a_refusal_before_authentication_has_no_account(client, json_lines):
    response = client.get("/api/list", HTTP_AUTHORIZATION="Bearer not-a-jwt")

    lines = json_lines()
    (line,) = _request_lines(lines)
    assert response.status_code == 401
    assert line["status"] == 401
    assert "account_id" not in line
    # Django's own line about the 4xx answer, written after the middleware returned, knows the request too.
    (django_line,) = (line for line in lines if line["logger"] == "django.request")
    assert django_line["message"] == "Unauthorized: /api/list"
    assert django_line["request_id"] == response["X-Request-ID"]


@pytest.mark.urls("tests.support.failing_views")
def test_a_bug_is_one_line_with_its_traceback_and_request(client, json_lines):
    response = client.post("/broken", HTTP_X_REQUEST_ID="bug-1")

    lines = json_lines()
    (error,) = (line for line in lines if line["logger"] == "tests.support.failing_views.broken")
    assert response.status_code == 500
    assert error["level"] == "ERROR"
    assert error["message"] == "Unhandled error in POST /broken"
    assert error["exception"].startswith("Traceback (most recent call last)")
    assert error["exception"].endswith("RuntimeError: the view broke")
    assert (error["request_id"], error["method"], error["path"]) == ("bug-1", "POST", "/broken")
    assert _request_lines(lines)[0]["status"] == 500


@pytest.mark.urls("tests.support.failing_views")
def test_json_lines_show_no_secret(client, leaky_request, json_lines):
    response, leaked = leaky_request(client)

    lines = json_lines()
    output = json.dumps(lines)
    assert response.status_code == 500
    assert any("RuntimeError: secrets" in line.get("exception", "") for line in lines)
    for secret in leaked:
        assert secret not in output


def test_text_format_writes_no_request_line(client, log_output):
    client.get("/api/healthz")

    assert "main.request_log" not in log_output.getvalue()
