"""The API's description (main/openapi.py) and the URLconf cannot drift apart: every route under /api is described
with the methods it takes, and nothing else is described. The admin and the /api catch-all are not API routes.

The methods a route takes are read from the app itself: a method no route takes (PROPFIND) must get `api_view`'s
JSON 405, whose `Allow` header names them; a route that does not answer so is not an `api_view`, which the test
reports too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import schemathesis
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, path
from django.urls.resolvers import RoutePattern

import urls
from main import views
from main.openapi import openapi_description
from main.views import not_found

pytestmark = pytest.mark.django_db

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
NOT_API = re.compile(r"^/api/admin(/|$)")  # the admin site and its redirect from /api/admin

# This module is also a URLconf: the project's, with a route the description lacks.
urlpatterns = [path("api/undocumented/<int:number>", views.health), *urls.urlpatterns]


def _patterns(patterns: list, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _patterns(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def urlconf_api_routes() -> dict[str, URLPattern]:
    """The URLconf's API routes as OpenAPI paths (`<int:id>` becomes `{id}`), the admin and catch-all left out."""
    routes = {}
    for route, pattern in _patterns(get_resolver().url_patterns):
        if pattern.callback is not_found or NOT_API.match("/" + route):
            continue
        assert isinstance(pattern.pattern, RoutePattern), f"{route!r}: describe API routes with path(), not re_path()"
        routes["/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)] = pattern
    return routes


def described_methods() -> dict[str, set[str]]:
    paths = openapi_description()["paths"]
    return {path: {method.upper() for method in item if method in HTTP_METHODS} for path, item in paths.items()}


def methods_the_app_takes(path: str) -> set[str]:
    response = Client().generic("PROPFIND", re.sub(r"\{\w+\}", "1", path))
    assert response.status_code == 405, f"{path} answers PROPFIND with {response.status_code}: is it an api_view?"
    assert response.json()["error"].startswith("Method PROPFIND not allowed")
    return {method.strip() for method in response["Allow"].split(",")}


def test_every_route_of_the_urlconf_is_described_and_nothing_else():
    routes, described = set(urlconf_api_routes()), set(described_methods())

    assert routes - described == set(), "routes missing from main/openapi.py"
    assert described - routes == set(), "described in main/openapi.py but not in the URLconf"


@pytest.mark.parametrize("path", sorted(urlconf_api_routes()))
def test_each_route_takes_exactly_the_described_methods(path):
    assert methods_the_app_takes(path) == described_methods().get(path)


def test_the_admin_and_the_catch_all_are_not_api_routes():
    routes = urlconf_api_routes()

    assert not any(path.startswith("/api/admin") for path in routes)
    assert all(pattern.callback is not not_found for pattern in routes.values())
    assert {"/api", "/api/getToken", "/api/openapi.json", "/api/docs"} <= set(routes)


@override_settings(ROOT_URLCONF=__name__)
def test_a_route_the_description_lacks_is_noticed():
    assert set(urlconf_api_routes()) - set(described_methods()) == {"/api/undocumented/{number}"}


def test_the_description_is_valid_openapi_3_1():
    description = openapi_description()

    assert description["openapi"].startswith("3.1.")
    schemathesis.openapi.from_dict(description).validate()  # the OpenAPI 3.1 schema, as schemathesis checks it


def test_every_operation_documents_its_errors_as_json_error_objects():
    description = openapi_description()
    error_schema = description["components"]["schemas"]["Error"]

    assert error_schema["required"] == ["error"]
    for api_path, item in description["paths"].items():
        for method, operation in item.items():
            errors = {status: answer for status, answer in operation["responses"].items() if status >= "400"}
            assert {"400", "405", "413", "500"} <= set(errors), f"{method} {api_path}"
            for status, answer in errors.items():
                if (api_path, status) == ("/api/healthz", "503"):
                    continue  # the probe's own answer: {"status": "unhealthy", ...}
                assert answer == {"$ref": f"#/components/responses/{status}"}, f"{method} {api_path} {status}"
    for status, answer in description["components"]["responses"].items():
        assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, status
