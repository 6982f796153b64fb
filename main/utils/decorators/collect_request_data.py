from __future__ import annotations

import json
from collections.abc import Mapping
from functools import wraps
from typing import Any, cast

from django.core.exceptions import RequestDataTooBig, SuspiciousMultipartForm, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.multipartparser import MultiPartParserError

from main.exceptions import BadRequest, PayloadTooLarge
from main.logging import remember_secrets
from main.utils.authorized_request import RequestWithData

FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# Fields that carry credentials (event callbacks send them as auth[...]): their values are masked in every log line
# of the request.
_CREDENTIALS = ("access_token", "refresh_token", "application_token")
SECRET_FIELDS = ("AUTH_ID", "REFRESH_ID", "REFRESH_TOKEN", *_CREDENTIALS, *(f"auth[{name}]" for name in _CREDENTIALS))


def _merge(data: dict[str, Any], source: QueryDict) -> None:
    for key, values in source.lists():
        data[key] = values if len(values) > 1 else values[0]


def _object_keeping_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object where a repeated key becomes a list, as in query strings and forms (not "last one wins")."""
    grouped: dict[str, list[Any]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return {key: values if len(values) > 1 else values[0] for key, values in grouped.items()}


def _json_body(request: HttpRequest) -> dict[str, Any]:
    """The body as a JSON object; form bodies and empty bodies give `{}`."""
    # `request.body` comes first: reading it applies DATA_UPLOAD_MAX_MEMORY_SIZE to every content type, where
    # Django's multipart parser alone would stream file parts of any size to disk.
    if not request.body.strip() or request.content_type in FORM_CONTENT_TYPES:
        return {}
    try:
        body = json.loads(request.body, object_pairs_hook=_object_keeping_repeated_keys)
    except (ValueError, RecursionError) as error:  # ValueError covers bad JSON and bytes that are not text
        raise BadRequest("Request body is not valid JSON") from error
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object")
    return body


def read_request_data(request: HttpRequest) -> dict[str, Any]:
    """The JSON body, then the query string, then form fields, merged; later sources win, repeated keys are lists."""
    content_length = request.META.get("CONTENT_LENGTH") or "0"
    if content_length == "0" and not request.META.get("QUERY_STRING"):
        return {}  # nothing to read (most Bearer requests): skip the body, query and form parsers
    if not (content_length.isascii() and content_length.isdigit()):  # Django's size check would raise ValueError
        raise BadRequest("Content-Length header is not a whole number")
    try:
        data = _json_body(request)
        _merge(data, request.GET)
        _merge(data, request.POST)
    except RequestDataTooBig as error:
        raise PayloadTooLarge() from error
    except (TooManyFieldsSent, TooManyFilesSent) as error:
        raise BadRequest("Request has too many fields") from error
    except (MultiPartParserError, SuspiciousMultipartForm) as error:
        raise BadRequest("Request body is not a valid form") from error
    remember_secret_fields(data)
    return data


def remember_secret_fields(data: Mapping[str, Any]) -> None:
    """Mask the values of the credential fields (`SECRET_FIELDS`) of `data` in every log line written from now on
    while the current request (or task) is served."""
    secrets = (data.get(name) for name in SECRET_FIELDS)
    remember_secrets(*(value for given in secrets for value in (given if isinstance(given, list) else [given])))


def collect_request_data(view_func):
    """Put the request's merged input (`read_request_data`) on `request.data`; bad input raises `BadRequest` or
    `PayloadTooLarge` (`log_errors` answers them)."""

    @wraps(view_func)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        cast(RequestWithData, request).data = read_request_data(request)
        return view_func(request, *args, **kwargs)

    return wrapper
