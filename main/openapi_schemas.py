"""The schemas of the API's description (main/openapi.py): the request bodies (placement data as JSON and as a
form, install's fields, Bitrix24's event callbacks) and the answers. Rules the app enforces come from the module that
enforces them (main/placement_data.py), so the two cannot drift apart.
"""

from __future__ import annotations

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


def placement_properties(*, form: bool) -> dict[str, Schema]:
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
        "properties": placement_properties(form=form),
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
    """The install's body: placement data (`placement`, the JSON or form schema) with its details, or the details
    alone with a Bearer JWT."""
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


SCHEMAS: dict[str, Schema] = {
    "Error": _object({"error": {"type": "string"}}, description="Every refusal and failure: what is wrong."),
    "PlacementData": _placement_schema(form=False),
    "PlacementForm": _placement_schema(form=True),
    "Install": _install_schema("PlacementData"),
    "InstallForm": _install_schema("PlacementForm"),
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
    "EventOutcome": _object({"status": {"enum": ["processed", "ignored", "queued"]}}),
    "Healthy": _object({"status": _const("healthy"), "database": _const("ok")}),
    "Unhealthy": _object({"status": _const("unhealthy"), "database": _const("unavailable")}),
    "OpenAPI": {"type": "object", "required": ["openapi", "info", "paths"], "description": "This description."},
    "Page": {"type": "string", "description": "An HTML page."},
}
