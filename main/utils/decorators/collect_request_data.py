from __future__ import annotations

import json
from functools import wraps
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.multipartparser import MultiPartParserError

from main.exceptions import BadRequest, PayloadTooLarge
from main.logging import remember_secrets

FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# Fields that carry credentials: their values are masked in every log line of the request.
SECRET_FIELDS = ("AUTH_ID", "REFRESH_ID", "REFRESH_TOKEN", "access_token", "refresh_token", "application_token")


def _merge(data: dict[str, Any], source: QueryDict) -> None:
    for key, values in source.lists():
        data[key] = values if len(values) > 1 else values[0]


def _json_body(request: HttpRequest) -> dict[str, Any]:
    """The body as a JSON object; form bodies and empty bodies give `{}`."""
    if request.content_type in FORM_CONTENT_TYPES or not request.body.strip():
        return {}
    try:
        body = json.loads(request.body)
    except (ValueError, RecursionError) as error:  # ValueError covers bad JSON and bytes that are not text
        raise BadRequest("Request body is not valid JSON") from error
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object")
    return body


def read_request_data(request: HttpRequest) -> dict[str, Any]:
    """The JSON body, then the query string, then form fields, merged; later sources win, repeated keys are lists."""
    try:
        data = _json_body(request)
        _merge(data, request.GET)
        _merge(data, request.POST)
    except RequestDataTooBig as error:
        raise PayloadTooLarge() from error
    except MultiPartParserError as error:
        raise BadRequest("Request body is not a valid form") from error
    remember_secrets(*(data.get(name) for name in SECRET_FIELDS))
    return data


def collect_request_data(view_func):
    """Put the request's merged input (`read_request_data`) on `request.data`; bad input gets a JSON 4xx."""

    @wraps(view_func)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            request.data = read_request_data(request)
        except (BadRequest, PayloadTooLarge) as error:
            return error.response()
        return view_func(request, *args, **kwargs)

    return wrapper
