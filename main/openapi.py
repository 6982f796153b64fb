"""The API's contract: an OpenAPI 3.1 description of every route under /api, served at `GET /api/openapi.json` and
shown by Swagger UI at `/api/docs` (both in development only: main/views.py).

Written by hand as a Python structure rather than generated from the views: the views are plain Django functions
that read `request.data` (the JSON body, query string and form fields merged), so there is nothing a generator
could introspect, and the libraries that generate OpenAPI for Django describe their own view classes (Django REST
framework with drf-spectacular, django-ninja). Rules the app enforces come from the modules that enforce them
(main/placement_data.py, through the schemas of main/openapi_schemas.py), so the two cannot drift apart. Two tests
hold the description to the app:
tests/test_openapi_contract.py (every route of the URLconf is here with its methods, and nothing else is) and
tests/test_openapi_schemathesis.py (schemathesis sends generated requests; every answer must be described here).

Adding a route: add it under `_paths()` with its answers; the contract test fails until the URLconf and this agree.
"""

from __future__ import annotations

import functools
from http import HTTPStatus
from typing import Any

from main.openapi_schemas import (
    EVENT_EXAMPLE,
    FORM,
    JSON,
    PLACEMENT_EXAMPLE,
    PLACEMENT_QUERY_FIELDS,
    SCHEMAS,
    Schema,
    placement_properties,
)

_REQUEST_ID = {"$ref": "#/components/headers/X-Request-ID"}
_HEADERS = {
    "X-Request-ID": {
        "description": "The request's id, as in the logs: the proxy's `X-Request-ID` when usable, else a new one.",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": 128},
    },
    "Allow": {"description": "The methods the route accepts.", "required": True, "schema": {"type": "string"}},
}

# Every error status, what it means wherever it appears; each route lists the ones it can answer.
_ERRORS: dict[HTTPStatus, str] = {
    HTTPStatus.BAD_REQUEST: "Malformed input: a body that is not a JSON object or a valid form, a placement or event "
    "field missing or of the wrong shape (the message names it), a Content-Length that is not a number, a Host "
    "header the backend does not serve.",
    HTTPStatus.UNAUTHORIZED: "`Invalid JWT token`, `JWT token has expired`, placement data or an event Bitrix24 "
    "does not confirm, a refresh token Bitrix24 refuses.",
    HTTPStatus.FORBIDDEN: "`This Bitrix24 account is not active`: the account, or the app on its portal, is "
    "blocked or deleted.",
    HTTPStatus.NOT_FOUND: "Not found.",
    HTTPStatus.METHOD_NOT_ALLOWED: "The route does not take this method; `Allow` names the one it takes.",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "The body is larger than MAX_BODY_BYTES.",
    HTTPStatus.INTERNAL_SERVER_ERROR: "A bug, logged with its traceback; in production the message says only "
    "`Internal server error`.",
    HTTPStatus.BAD_GATEWAY: "Bitrix24 failed or refused the call (the message names its error code).",
    HTTPStatus.SERVICE_UNAVAILABLE: "The database (or, for events with ENABLE_RABBITMQ on, the queue) is unreachable; "
    "retry shortly.",
    HTTPStatus.GATEWAY_TIMEOUT: "Bitrix24 did not answer within BITRIX24_TIMEOUT.",
}

# What any route of `api_view` can answer: its input is read (400, 413), its method checked (405), a bug is a 500.
_ANY = (
    HTTPStatus.BAD_REQUEST,
    HTTPStatus.METHOD_NOT_ALLOWED,
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    HTTPStatus.INTERNAL_SERVER_ERROR,
)
# What authenticating the caller can add: a refused JWT or placement, an inactive account, Bitrix24 asked about a
# placement, the database asked about the account.
_AUTH = (
    HTTPStatus.UNAUTHORIZED,
    HTTPStatus.FORBIDDEN,
    HTTPStatus.BAD_GATEWAY,
    HTTPStatus.SERVICE_UNAVAILABLE,
    HTTPStatus.GATEWAY_TIMEOUT,
)
_BEARER_OR_PLACEMENT: list[dict[str, list[str]]] = [{"bearerAuth": []}, {}]


def _content(schema: str, media_type: str = JSON) -> dict[str, Any]:
    return {media_type: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}


def _answer(description: str, schema: str, media_type: str = JSON) -> Schema:
    return {
        "description": description,
        "headers": {"X-Request-ID": _REQUEST_ID},
        "content": _content(schema, media_type),
    }


def _responses(ok: Schema, *errors: HTTPStatus) -> dict[str, Any]:
    """The route's answers: `ok` as 200, then each error status as the shared answer for it."""
    statuses = sorted({*_ANY, *errors})
    return {"200": ok, **{str(int(status)): {"$ref": f"#/components/responses/{int(status)}"} for status in statuses}}


def _error_response(status: HTTPStatus, description: str) -> Schema:
    response = _answer(description, "Error")
    if status == HTTPStatus.METHOD_NOT_ALLOWED:
        response["headers"] = {**response["headers"], "Allow": {"$ref": "#/components/headers/Allow"}}
    return response


def _query_parameters(*names: str) -> list[Schema]:
    """Placement fields in the query string, one parameter each: all of them for a GET, the ones Bitrix24 puts there
    in its own POST for the others. Merged with the body's fields; the query string's value wins."""
    properties = placement_properties(form=True)
    parameters = []
    for name in names:
        schema = {key: value for key, value in properties[name].items() if key != "description"}
        parameter = {"name": name, "in": "query", "required": False, "schema": schema}
        parameter["description"] = properties[name]["description"]
        if name in PLACEMENT_EXAMPLE:
            parameter["example"] = str(PLACEMENT_EXAMPLE[name])
        parameters.append(parameter)
    return parameters


def _placement_body(json_schema: str, form_schema: str, description: str) -> Schema:
    """A body of placement data: JSON from the frontend, or the form Bitrix24 posts to the app's URL itself."""
    return {
        "required": False,
        "description": description,
        "content": {
            JSON: {"schema": {"$ref": f"#/components/schemas/{json_schema}"}, "examples": _example(PLACEMENT_EXAMPLE)},
            FORM: {"schema": {"$ref": f"#/components/schemas/{form_schema}"}},
        },
    }


def _example(value: dict[str, Any]) -> dict[str, Any]:
    return {"example": {"summary": "An example", "value": value}}


def _authenticated_get(operation_id: str, summary: str, ok: Schema, *errors: HTTPStatus) -> Schema:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "tags": ["Examples"],
            "security": _BEARER_OR_PLACEMENT,
            "parameters": _query_parameters(*placement_properties(form=True)),
            "responses": _responses(ok, *_AUTH, *errors),
        }
    }


def _development_only(operation_id: str, summary: str, ok: Schema) -> Schema:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "description": "Development only (DEBUG on): a 404 in production.",
            "tags": ["Documentation"],
            "security": [],
            "responses": _responses(ok, HTTPStatus.NOT_FOUND),
        }
    }


def _paths() -> dict[str, Schema]:
    return {
        "/api": _authenticated_get("root", "Whether the backend runs", _answer("Running.", "Message")),
        "/api/health": _authenticated_get("health", "The backend and its clock", _answer("Healthy.", "Health")),
        "/api/enum": _authenticated_get("enum", "An example list of options", _answer("The options.", "Strings")),
        "/api/list": _authenticated_get("list", "An example list of elements", _answer("The elements.", "Strings")),
        "/api/me": _authenticated_get(
            "me",
            "The caller's Bitrix24 profile, read from the portal as the caller",
            _answer("The profile.", "Profile"),
        ),
        "/api/getToken": {
            "post": {
                "operationId": "getToken",
                "summary": "A JWT for placement data, or a new one for a Bearer JWT",
                "description": (
                    "With placement data (and no Authorization header): a JWT once Bitrix24 confirms the data. With "
                    "a Bearer JWT: a new JWT, until JWT_MAX_AGE_HOURS after the last placement data (then 401 "
                    "`Fresh placement data is needed: ...`)."
                ),
                "tags": ["Authentication"],
                "security": _BEARER_OR_PLACEMENT,
                "parameters": _query_parameters(*PLACEMENT_QUERY_FIELDS),
                "requestBody": _placement_body(
                    "PlacementData", "PlacementForm", "Placement data; none with a Bearer JWT."
                ),
                "responses": _responses(_answer("A JWT.", "Token"), *_AUTH),
            }
        },
        "/api/install": {
            "post": {
                "operationId": "install",
                "summary": "Install the app on the caller's portal",
                "description": (
                    "Binds ONAPPINSTALL and ONAPPUNINSTALL to `/api/app-events`, asks whether the user is a portal "
                    "admin, then records the installation. 403 also when the user is not a portal admin; nothing is "
                    "written on any refusal."
                ),
                "tags": ["App lifecycle"],
                "security": _BEARER_OR_PLACEMENT,
                "parameters": _query_parameters(*PLACEMENT_QUERY_FIELDS),
                "requestBody": _placement_body("Install", "InstallForm", "Placement data and the install's details."),
                "responses": _responses(_answer("Installed.", "Message"), *_AUTH),
            }
        },
        "/api/app-events": {
            "post": {
                "operationId": "appEvents",
                "summary": "Bitrix24's ONAPPINSTALL and ONAPPUNINSTALL callbacks",
                "description": (
                    "Called by Bitrix24, not by the frontend. A forged callback changes nothing: 400 for a malformed "
                    "one, 401 when the access token or application token is not the portal's, 404 for a portal the "
                    "app was never installed on. Other events are answered `ignored`. With ENABLE_RABBITMQ on, the "
                    "answer is `queued` once the shape (and an ONAPPUNINSTALL's application token) is checked; a "
                    "worker verifies and applies the rest, and 503 means the queue did not take the event."
                ),
                "tags": ["App lifecycle"],
                "security": [],
                "requestBody": {
                    "required": True,
                    "content": {
                        FORM: {"schema": {"$ref": "#/components/schemas/AppEvent"}, "examples": _example(EVENT_EXAMPLE)}
                    },
                },
                "responses": _responses(
                    _answer("Processed, ignored, or queued.", "EventOutcome"),
                    HTTPStatus.UNAUTHORIZED,
                    HTTPStatus.NOT_FOUND,
                    HTTPStatus.BAD_GATEWAY,
                    HTTPStatus.SERVICE_UNAVAILABLE,
                    HTTPStatus.GATEWAY_TIMEOUT,
                ),
            }
        },
        "/api/healthz": {
            "get": {
                "operationId": "healthz",
                "summary": "Liveness and readiness, for load balancers and the container's health check",
                "tags": ["Operations"],
                "security": [],
                "responses": {
                    **_responses(_answer("The backend and its database answer.", "Healthy")),
                    "503": _answer("The database does not answer.", "Unhealthy"),
                },
            }
        },
        "/api/openapi.json": _development_only("openapi", "This description", _answer("The description.", "OpenAPI")),
        "/api/docs": _development_only(
            "docs",
            "This description in Swagger UI (served from the backend: works offline)",
            _answer("The page.", "Page", "text/html"),
        ),
    }


@functools.cache
def openapi_description() -> dict[str, Any]:
    """The whole description, as `GET /api/openapi.json` serves it."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Bitrix24 app backend",
            "version": "1.0.0",
            "description": (
                "The API of the Django backend for a Bitrix24 app. Authenticated routes take a Bearer JWT "
                "(`POST /api/getToken` issues it) or Bitrix24 placement data. Every error is JSON "
                '`{"error": "..."}`; every answer carries `X-Request-ID`.'
            ),
        },
        "tags": [
            {"name": "Authentication"},
            {"name": "App lifecycle"},
            {"name": "Examples", "description": "Example routes to extend (main/views.py)."},
            {"name": "Operations"},
            {"name": "Documentation"},
        ],
        "paths": _paths(),
        "components": {
            "schemas": SCHEMAS,
            "responses": {str(int(status)): _error_response(status, text) for status, text in _ERRORS.items()},
            "headers": _HEADERS,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A JWT from `POST /api/getToken`. Routes that take it also take placement data "
                    "instead: Bearer JWT or placement data.",
                }
            },
        },
    }
