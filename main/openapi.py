"""The API's contract: an OpenAPI 3.1 description of every route under /api, served at `GET /api/openapi.json` and
shown by Swagger UI at `/api/docs` (both in development only: main/views.py).

Written by hand as a Python structure rather than generated from the views: the views are plain Django functions
that read `request.data` (the JSON body, query string and form fields merged), so there is nothing a generator
could introspect, and the libraries that generate OpenAPI for Django describe their own view classes (Django REST
framework with drf-spectacular, django-ninja). Rules the app enforces come from the modules that enforce them
(main/placement_data.py), so the two cannot drift apart. Two tests hold the description to the app:
tests/test_openapi_contract.py (every route of the URLconf is here with its methods, and nothing else is) and
tests/test_openapi_schemathesis.py (schemathesis sends generated requests; every answer must be described here).

Adding a route: add it under `_paths()` with its answers; the contract test fails until the URLconf and this agree.
"""

from __future__ import annotations

import functools
from http import HTTPStatus
from typing import Any

from main.placement_data import (
    APP_STATUSES,
    HOST_NAME_PATTERN,
    MAX_HOST_LENGTH,
    MAX_NUMBER,
    MAX_TEXT_LENGTH,
    PROTOCOLS,
    REQUIRED_NUMBER_FIELDS,
    REQUIRED_TEXT_FIELDS,
)

Schema = dict[str, Any]

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

# Placement data as the examples show it (the tests' fake Bitrix24 issues these tokens, so the example works there).
PLACEMENT_EXAMPLE: dict[str, Any] = {
    "AUTH_ID": "example-access-token-0123456789abcdef",
    "AUTH_EXPIRES": 3600,
    "REFRESH_ID": "example-refresh-token-0123456789abcdef",
    "DOMAIN": "example.bitrix24.com",
    "PROTOCOL": 1,
    "LANG": "en",
    "APP_SID": "example-app-sid",
    "member_id": "0123456789abcdef0123456789abcdef",
    "status": "L",
    "PLACEMENT": "DEFAULT",
}
# Bitrix24's own POST to the app's URL puts these in the query string and the rest in form fields.
PLACEMENT_QUERY_FIELDS = ("DOMAIN", "PROTOCOL", "LANG", "APP_SID")

_DIGITS: Schema = {"type": "string", "pattern": "^[0-9]{1,10}$"}
_TEXT: Schema = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_LENGTH}
_HOST: Schema = {"type": "string", "maxLength": MAX_HOST_LENGTH, "pattern": f"^{HOST_NAME_PATTERN}$"}
_APP_STATUS: Schema = {
    "type": "string",
    "enum": list(APP_STATUSES),
    "description": "The app's status on the portal: F free, D demo, T trial, P paid, L local, S subscription.",
}


def _placement_properties(*, form: bool) -> dict[str, Schema]:
    """The fields of placement data (main/placement_data.py checks them): in a JSON object, or as form fields and
    query parameters, where every value is text."""
    whole_number = _DIGITS if form else {"anyOf": [{"type": "integer", "minimum": 0, "maximum": MAX_NUMBER}, _DIGITS]}
    protocols: list[object] = [str(value) for value in PROTOCOLS]
    if not form:
        protocols = [*PROTOCOLS, *protocols]
    options: Schema = (
        {"type": "string", "contentMediaType": JSON}
        if form
        else {"anyOf": [{"type": "object"}, {"type": "string", "contentMediaType": JSON}]}
    )
    return {
        "AUTH_ID": {**_TEXT, "description": "The user's access token."},
        "AUTH_EXPIRES": {**whole_number, "description": "Seconds until the access token expires."},
        "REFRESH_ID": {**_TEXT, "description": "The user's refresh token: renews an expired access token once."},
        "DOMAIN": {
            **_HOST,
            "description": "The portal's host name (a cloud portal), or a host listed in BITRIX24_EXTRA_PORTAL_HOSTS.",
        },
        "PROTOCOL": {**({"type": "string"} if form else {}), "enum": protocols, "description": "1 https, 0 http."},
        "LANG": {**_TEXT, "description": "The user's interface language."},
        "APP_SID": {**_TEXT, "description": "Bitrix24's id of this session of the app."},
        "member_id": {**_TEXT, "description": "The portal's id: the same wherever the portal moves."},
        "status": _APP_STATUS,
        "PLACEMENT": {**_TEXT, "description": "Where the app is shown (DEFAULT, CRM_DEAL_DETAIL_TAB, ...)."},
        "PLACEMENT_OPTIONS": {**options, "description": "The placement's options: an object, or a JSON string of one."},
    }


_PLACEMENT_RULES = (
    "Bitrix24's OAuth data of the user in the app's iframe (`BX24.getAuth()`, or what Bitrix24 posts to the app's "
    "URL). Text fields hold printable characters only. The backend asks Bitrix24 (`app.info`) whether the access "
    "token belongs to this portal and this app before it trusts them. Other fields are ignored."
)


def _placement_schema(*, form: bool) -> Schema:
    return {
        "type": "object",
        "description": _PLACEMENT_RULES,
        "required": [*REQUIRED_TEXT_FIELDS, *REQUIRED_NUMBER_FIELDS],
        "properties": _placement_properties(form=form),
    }


_INSTALL_DETAILS = {
    "type": "object",
    "description": "What the install page sends besides placement data; with a Bearer JWT, all it sends.",
    "properties": {
        "LICENSE_FAMILY": {**_TEXT, "description": "The portal's licence family, stored on the installation."},
        "status": _APP_STATUS,
    },
}


def _install_schema(placement: str) -> Schema:
    return {
        "anyOf": [
            {"title": "Placement data", "allOf": [{"$ref": f"#/components/schemas/{placement}"}, _INSTALL_DETAILS]},
            {"title": "With Authorization: Bearer", **_INSTALL_DETAILS},
        ]
    }


def _event_schema() -> Schema:
    """The form fields of Bitrix24's event callbacks (main/app_events.py, b24pysdk's OAuthEventData)."""
    text = {"type": "string", "maxLength": MAX_TEXT_LENGTH}
    return {
        "type": "object",
        "description": (
            "Bitrix24's callback, form-encoded with nested fields flattened (`auth[member_id]`). ONAPPINSTALL carries "
            "the installing user's tokens (then `auth[expires]` and `auth[expires_in]` are required too); "
            "ONAPPUNINSTALL only the application token. Other `data[...]` fields are accepted."
        ),
        "required": [
            "event",
            "event_handler_id",
            "ts",
            "auth[domain]",
            "auth[client_endpoint]",
            "auth[server_endpoint]",
            "auth[member_id]",
            "auth[application_token]",
        ],
        "properties": {
            "event": {**text, "examples": ["ONAPPINSTALL", "ONAPPUNINSTALL"], "description": "The event's name."},
            "event_handler_id": {**_DIGITS, "description": "Bitrix24's id of the bound handler."},
            "ts": {**_DIGITS, "description": "When the event happened (Unix seconds)."},
            "data[VERSION]": {**text, "description": "ONAPPINSTALL: the installed version of the app."},
            "data[ACTIVE]": {**text, "description": "ONAPPINSTALL: Y when the app is active."},
            "data[INSTALLED]": {**text, "description": "ONAPPINSTALL: Y when the install finished."},
            "data[LANGUAGE_ID]": {**text, "description": "The portal's language."},
            "data[CLEAN]": {**text, "description": "ONAPPUNINSTALL: 1 when the app's data is to be deleted."},
            "auth[domain]": {**_HOST, "description": "The portal's host name."},
            "auth[client_endpoint]": {**text, "description": "The portal's REST address."},
            "auth[server_endpoint]": {**text, "description": "Bitrix24's OAuth server's REST address."},
            "auth[member_id]": {**text, "description": "The portal's id."},
            "auth[application_token]": {
                **text,
                "description": "The app's secret on the portal: ONAPPINSTALL's is kept, ONAPPUNINSTALL's must match.",
            },
            "auth[status]": _APP_STATUS,
            "auth[access_token]": {
                **text,
                "description": "ONAPPINSTALL: the user's access token (`app.info` checks it).",
            },
            "auth[refresh_token]": {**text, "description": "ONAPPINSTALL: the user's refresh token."},
            "auth[expires]": {**_DIGITS, "description": "ONAPPINSTALL: when the access token expires (Unix seconds)."},
            "auth[expires_in]": {**_DIGITS, "description": "ONAPPINSTALL: the access token's lifetime in seconds."},
            "auth[scope]": {**text, "description": "ONAPPINSTALL: the app's scopes, comma-separated."},
            "auth[user_id]": {**_DIGITS, "description": "ONAPPINSTALL: the installing user's id."},
        },
    }


EVENT_EXAMPLE = {
    "event": "ONAPPINSTALL",
    "event_handler_id": "17",
    "ts": "1764341234",
    "data[VERSION]": "1",
    "data[ACTIVE]": "Y",
    "data[INSTALLED]": "Y",
    "data[LANGUAGE_ID]": "en",
    "auth[domain]": PLACEMENT_EXAMPLE["DOMAIN"],
    "auth[client_endpoint]": f"https://{PLACEMENT_EXAMPLE['DOMAIN']}/rest/",
    "auth[server_endpoint]": "https://oauth.bitrix24.tech/rest/",
    "auth[member_id]": PLACEMENT_EXAMPLE["member_id"],
    "auth[application_token]": "example-application-token-0123456789",
    "auth[status]": "L",
    "auth[access_token]": PLACEMENT_EXAMPLE["AUTH_ID"],
    "auth[refresh_token]": PLACEMENT_EXAMPLE["REFRESH_ID"],
    "auth[expires]": "4102444800",
    "auth[expires_in]": "3600",
    "auth[scope]": "crm,user",
    "auth[user_id]": "1",
}


def _object(properties: dict[str, Schema], **extra: Any) -> Schema:
    """A JSON object with exactly these properties, all of them present."""
    return {
        "type": "object",
        "required": list(properties),
        "properties": properties,
        "additionalProperties": False,
        **extra,
    }


def _const(value: str) -> Schema:
    return {"type": "string", "const": value}


_SCHEMAS: dict[str, Schema] = {
    "Error": _object({"error": {"type": "string"}}, description="Every refusal and failure: what is wrong."),
    "PlacementData": _placement_schema(form=False),
    "PlacementForm": _placement_schema(form=True),
    "AppEvent": _event_schema(),
    "Message": _object({"message": {"type": "string"}}),
    "Health": _object({"status": _const("healthy"), "backend": _const("python"), "timestamp": {"type": "number"}}),
    "Strings": {"type": "array", "items": {"type": "string"}},
    "Token": _object({"token": {"type": "string", "description": "A JWT of this backend: send it as a Bearer token."}}),
    "Profile": {
        "type": "object",
        "description": "Bitrix24's answer to `profile` for the caller, as the portal gives it.",
        "properties": {
            "ID": {"type": "string"},
            "ADMIN": {"type": "boolean"},
            "NAME": {"type": ["string", "null"]},
            "LAST_NAME": {"type": ["string", "null"]},
        },
    },
    "EventOutcome": _object({"status": {"enum": ["processed", "ignored"]}}),
    "Healthy": _object({"status": _const("healthy"), "database": _const("ok")}),
    "Unhealthy": _object({"status": _const("unhealthy"), "database": _const("unavailable")}),
    "OpenAPI": {"type": "object", "required": ["openapi", "info", "paths"], "description": "This description."},
    "Page": {"type": "string", "description": "An HTML page."},
}

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
    HTTPStatus.SERVICE_UNAVAILABLE: "The database is unreachable; retry shortly.",
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
    properties = _placement_properties(form=True)
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
            "parameters": _query_parameters(*_placement_properties(form=True)),
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
                    "app was never installed on. Other events are answered `ignored`."
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
                    _answer("Processed, or ignored.", "EventOutcome"),
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
    schemas = {
        **_SCHEMAS,
        "Install": _install_schema("PlacementData"),
        "InstallForm": _install_schema("PlacementForm"),
    }
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
            "schemas": schemas,
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
