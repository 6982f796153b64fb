"""`collect_request_data`: how the JSON body, query string and form fields merge, and how bad bodies are refused.

Merge rules go through a tiny view with the real decorator; refusals go through a real view (`/api/getToken`).
"""

import json

import pytest
from django.http import HttpRequest, JsonResponse
from django.test import RequestFactory, override_settings

from main.utils.decorators.collect_request_data import collect_request_data

FORM = "application/x-www-form-urlencoded"


@collect_request_data
def echo(request: HttpRequest) -> JsonResponse:
    return JsonResponse(request.data)


def _echo(request: HttpRequest) -> dict:
    response = echo(request)
    assert response.status_code == 200
    return json.loads(response.content)


# --- Merge rules -------------------------------------------------------------------------------------


def test_json_object_body_becomes_the_data(rf: RequestFactory):
    body = {"AUTH_ID": "token", "PROTOCOL": 1, "PLACEMENT_OPTIONS": {"ID": [1, 2]}}

    assert _echo(rf.post("/echo", body, content_type="application/json")) == body


def test_query_parameters_override_the_json_body(rf: RequestFactory):
    request = rf.post("/echo?a=query&q=1", {"a": "json", "b": "json"}, content_type="application/json")

    assert _echo(request) == {"a": "query", "b": "json", "q": "1"}


def test_form_fields_override_query_parameters(rf: RequestFactory):
    # A body is either JSON or a form, so the form's precedence shows against the query string.
    request = rf.post("/echo?a=query&b=query", "a=form&c=form", content_type=FORM)

    assert _echo(request) == {"a": "form", "b": "query", "c": "form"}


def test_a_key_repeated_in_the_query_string_becomes_a_list(rf: RequestFactory):
    assert _echo(rf.get("/echo?a=1&a=2&b=3")) == {"a": ["1", "2"], "b": "3"}


def test_a_key_repeated_in_the_form_becomes_a_list(rf: RequestFactory):
    assert _echo(rf.post("/echo", "a=1&a=2&b=3", content_type=FORM)) == {"a": ["1", "2"], "b": "3"}


def test_a_later_source_replaces_an_earlier_one_instead_of_joining_it(rf: RequestFactory):
    assert _echo(rf.post("/echo?a=1&a=2", "a=3", content_type=FORM)) == {"a": "3"}


def test_form_body_is_not_parsed_as_json(rf: RequestFactory):
    request = rf.post("/echo", '{"a": "1"}', content_type=FORM)

    assert _echo(request) == {'{"a": "1"}': ""}


def test_empty_body_gives_only_the_query_string(rf: RequestFactory):
    assert _echo(rf.post("/echo?a=1", b"", content_type="application/json")) == {"a": "1"}


# --- Refused bodies ----------------------------------------------------------------------------------


def _post_body(client, body: bytes, content_type: str = "application/json"):
    return client.generic("POST", "/api/getToken", body, content_type=content_type)


NOT_JSON = "Request body is not valid JSON"
NOT_AN_OBJECT = "Request body must be a JSON object"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b"{", NOT_JSON, id="truncated"),
        pytest.param(b"{'AUTH_ID': 'x'}", NOT_JSON, id="single-quotes"),
        pytest.param(b'{"a": 1,}', NOT_JSON, id="trailing-comma"),
        pytest.param(b'{"a": NaN', NOT_JSON, id="garbage"),
        pytest.param(b'{"AUTH_ID": "\xff\xfe"}', NOT_JSON, id="invalid-utf-8"),
        pytest.param(b'{"DOMAIN": "caf\xe9"}', NOT_JSON, id="latin-1"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, NOT_JSON, id="nested-arrays-100000-deep"),
        pytest.param(b'{"a":' * 100_000 + b"1" + b"}" * 100_000, NOT_JSON, id="nested-objects-100000-deep"),
        pytest.param(b"[]", NOT_AN_OBJECT, id="array"),
        pytest.param(b'[{"AUTH_ID": "x"}]', NOT_AN_OBJECT, id="array-of-objects"),
        pytest.param(b'"text"', NOT_AN_OBJECT, id="string"),
        pytest.param(b"42", NOT_AN_OBJECT, id="number"),
        pytest.param(b"null", NOT_AN_OBJECT, id="null"),
        pytest.param(b"true", NOT_AN_OBJECT, id="boolean"),
    ],
)
@pytest.mark.django_db
def test_body_that_is_not_a_json_object_is_400_with_the_reason(client, fake_b24, body, reason):
    response = _post_body(client, body)

    assert response.status_code == 400
    assert response.json() == {"error": reason}
    assert fake_b24.requests == []


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(json.dumps({"AUTH_ID": "x" * 2000}).encode(), "application/json", id="json"),
        pytest.param(b"AUTH_ID=" + b"x" * 2000, FORM, id="form"),
    ],
)
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
@pytest.mark.django_db
def test_body_over_the_size_limit_is_413(client, fake_b24, body, content_type):
    response = _post_body(client, body, content_type)

    assert response.status_code == 413
    assert response.json() == {"error": "Request body is too large"}
    assert fake_b24.requests == []


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
@pytest.mark.django_db
def test_body_at_the_size_limit_is_read(client):
    body = json.dumps({"padding": ""}).encode()
    body = json.dumps({"padding": "x" * (1024 - len(body))}).encode()

    response = _post_body(client, body)

    assert len(body) == 1024
    assert response.status_code == 400
    assert response.json()["error"].startswith("Missing required field in placement data")
