"""Attacks with methods, paths and headers, each a named test: every answer under /api is JSON, never HTML.

Covered in `test_views.py` and not repeated here: GET/POST/PUT/PATCH/DELETE on every route
(`test_wrong_method_is_405_json_with_allow_header`) and GET on a few unknown paths. All requests here get CSRF
checks like a real client (Django's test client skips them by default).
"""

import json

import pytest
from django.test import Client, override_settings
from django.urls import get_resolver

from tests.support.invariants import API_ROUTES, assert_json_error, assert_refused, rows

pytestmark = pytest.mark.django_db

ROUTES = API_ROUTES
ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT", "PROPFIND", "FOO")
UNUSUAL_METHODS = ("OPTIONS", "TRACE", "CONNECT", "PROPFIND", "FOO")
UNKNOWN_PATHS = (
    "/api/",
    "/api/unknown",
    "/api/v2/list",
    "/api//list",
    "/api/list%00",
    "/api/list;jsessionid=1",
    "/api/%2e%2e/admin/",
    "/api/..%2fadmin/",
    "/api/LIST",
    "/api/static/../../settings.py",
    "/api/" + "a" * 5000,
)
TRAILING_SLASH_VARIANTS = [path + "/" for path in ROUTES if path != "/api"] + ["/api/getToken//", "/api/list/./"]


@pytest.fixture
def client() -> Client:
    return Client(enforce_csrf_checks=True)


# --- Methods ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("method", UNUSUAL_METHODS)
def test_unusual_method_on_every_route_is_405_json(client, fake_b24, path, method):
    before = rows()

    response = client.generic(method, path)

    assert assert_refused(response, before, 405) == f"Method {method} not allowed; use {ROUTES[path]}"
    assert response["Allow"] == ROUTES[path]
    assert fake_b24.requests == []


@pytest.mark.parametrize("path", [path for path, allowed in ROUTES.items() if allowed != "HEAD"])
def test_head_on_every_route_is_405_with_a_json_content_type_and_no_body(client, path):
    response = client.head(path)

    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response.content == b""


@pytest.mark.parametrize("path", ROUTES)
def test_method_override_headers_are_ignored(client, fake_b24, path):
    wrong = "DELETE"
    overrides = {"HTTP_X_HTTP_METHOD_OVERRIDE": ROUTES[path], "HTTP_X_METHOD_OVERRIDE": ROUTES[path]}

    response = client.generic(wrong, path, **overrides)

    assert_json_error(response, 405)


# --- Paths -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", UNKNOWN_PATHS)
@pytest.mark.parametrize("method", ALL_METHODS)
def test_unknown_api_path_is_404_json_for_every_method(client, fake_b24, path, method):
    before = rows()

    response = client.generic(method, path)

    if method == "HEAD":
        assert (response.status_code, response["Content-Type"]) == (404, "application/json")
    else:
        assert assert_refused(response, before, 404).startswith("Not found: ")
    assert fake_b24.requests == []


@pytest.mark.parametrize("path", TRAILING_SLASH_VARIANTS)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_trailing_slash_variant_is_404_json_not_a_redirect(client, bearer, path, method):
    before = rows()

    response = client.generic(method, path, **bearer)

    assert assert_refused(response, before, 404) == f"Not found: {path}"


@override_settings(DEBUG=True)
@pytest.mark.parametrize("path", [*UNKNOWN_PATHS, *TRAILING_SLASH_VARIANTS])
def test_unknown_api_path_is_404_json_also_with_debug_on(client, path):
    before = rows()

    response = client.post(path)

    assert assert_refused(response, before, 404).startswith("Not found: ")


@override_settings(DEBUG=True)
@pytest.mark.parametrize("path", ROUTES)
def test_wrong_method_is_405_json_also_with_debug_on(client, path):
    response = client.generic("PATCH", path)

    assert_json_error(response, 405)


# --- Headers, CSRF and Django's own error pages -----------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", "portal-a.bitrix24.com", "localhost.evil.example", "bad host", "a@b"])
@pytest.mark.parametrize("path", ["/api/list", "/api/getToken", "/api/unknown"])
def test_host_not_in_allowed_hosts_is_400_json(client, fake_b24, host, path):
    before = rows()

    response = client.post(path, HTTP_HOST=host)

    assert assert_refused(response, before, 400) == "Bad request"
    assert fake_b24.requests == []


@pytest.mark.parametrize(("path", "method"), ROUTES.items())
def test_api_ignores_a_browser_session_and_csrf_cookie_for_csrf(client, fake_b24, path, method):
    # An admin's browser sends its session and CSRF cookies to /api too; with no CSRF token that must not turn
    # an API answer into Django's HTML CSRF page.
    client.cookies.load({"sessionid": "x" * 32, "csrftoken": "y" * 32})

    response = client.generic(method, path, HTTP_ORIGIN="https://evil.example")

    assert response.status_code in (200, 400)
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("status", [400, 403, 404, 500])
def test_django_error_pages_are_json(rf, status):
    handler = get_resolver().resolve_error_handler(status)
    request = rf.get("/api/anything")

    response = handler(request) if status == 500 else handler(request, Exception("detail"))

    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert list(json.loads(response.content)) == ["error"]
    assert "detail" not in json.loads(response.content)["error"]
