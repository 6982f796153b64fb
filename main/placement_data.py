"""Reads Bitrix24 placement data (`AUTH_ID`, `DOMAIN`, `member_id`, ...) from a request's data.

b24pysdk's `OAuthPlacementData.from_dict` checks that the keys are there; this module first checks the shapes
(strings where strings belong, a bare host name as DOMAIN), so odd input is refused with a clear message before
anything is sent to Bitrix24 or written to the database. Every refusal is a `BadRequest` naming the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from b24pysdk.constants import B24AppStatus, Protocol
from b24pysdk.credentials import OAuthPlacementData
from b24pysdk.errors import BitrixValidationError
from django.conf import settings

from main.exceptions import BadRequest

REQUIRED_TEXT_FIELDS = ("AUTH_ID", "REFRESH_ID", "DOMAIN", "LANG", "APP_SID", "member_id", "status")
REQUIRED_NUMBER_FIELDS = ("AUTH_EXPIRES", "PROTOCOL")
MAX_TEXT_LENGTH = 255
MAX_NUMBER = 2**31 - 1  # the INTEGER columns they are stored in
APP_STATUSES = tuple(status.value for status in B24AppStatus)
PROTOCOLS = tuple(protocol.value for protocol in Protocol)

# A cloud portal's host name as Bitrix24 gives it: dot-separated LDH labels ending in a top-level domain, no scheme,
# port, path or user info. A DOMAIN decides where the backend sends the user's tokens, so anything else (a port, an
# IP address, a single label: a self-hosted portal, or a way to aim the backend's calls anywhere) must be listed
# in BITRIX24_EXTRA_PORTAL_HOSTS by the operator.
# Spelled without flags (both cases listed) so that the API's description (main/openapi.py) can use it as a JSON
# Schema pattern.
_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
HOST_NAME_PATTERN = rf"{_LABEL}(?:\.{_LABEL})*\.[A-Za-z][A-Za-z0-9-]*(?<!-)"
_HOST_NAME = re.compile(HOST_NAME_PATTERN, re.ASCII)
MAX_HOST_LENGTH = 253


def is_portal_host(domain: str) -> bool:
    """Whether the backend may call a portal at `domain` (`host` or `host:port`)."""
    if domain.lower() in (host.lower() for host in settings.BITRIX24_EXTRA_PORTAL_HOSTS):
        return True
    return len(domain) <= MAX_HOST_LENGTH and _HOST_NAME.fullmatch(domain) is not None


def _check_text(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise BadRequest(f"Invalid placement data: {name} must be a non-empty string")
    if len(value) > MAX_TEXT_LENGTH:
        raise BadRequest(f"Invalid placement data: {name} is longer than {MAX_TEXT_LENGTH} characters")
    if not value.isprintable():  # control characters (NUL among them) belong in no token or name
        raise BadRequest(f"Invalid placement data: {name} contains control characters")


def _check_number(name: str, value: Any) -> None:
    is_number = isinstance(value, int) and not isinstance(value, bool)
    is_digits = isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10
    if not ((is_number or is_digits) and 0 <= int(value) <= MAX_NUMBER):
        raise BadRequest(f"Invalid placement data: {name} must be a whole number from 0 to {MAX_NUMBER}")


def _check_placement_options(value: Any) -> None:
    """PLACEMENT_OPTIONS is optional: an object, or a JSON string of one (as in Bitrix24's own form posts)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            value = None
    if not isinstance(value, dict):
        raise BadRequest("Invalid placement data: PLACEMENT_OPTIONS must be an object or a JSON string of one")


def parse_placement_data(data: Mapping[str, Any]) -> OAuthPlacementData:
    """Build `OAuthPlacementData` from request data, or raise `BadRequest` naming the bad field."""
    for name in (*REQUIRED_TEXT_FIELDS, *REQUIRED_NUMBER_FIELDS):
        if name not in data:
            raise BadRequest(f"Missing required field in placement data: {name}")
    for name in REQUIRED_TEXT_FIELDS:
        _check_text(name, data[name])
    for name in REQUIRED_NUMBER_FIELDS:
        _check_number(name, data[name])
    if not is_portal_host(data["DOMAIN"]):
        raise BadRequest("Invalid placement data: DOMAIN must be a portal host name such as example.bitrix24.com")
    if int(data["PROTOCOL"]) not in PROTOCOLS:
        raise BadRequest("Invalid placement data: PROTOCOL must be 0 (http) or 1 (https)")
    if data["status"] not in APP_STATUSES:
        raise BadRequest(f"Invalid placement data: status must be one of {', '.join(APP_STATUSES)}")
    if data.get("PLACEMENT") is not None:
        _check_text("PLACEMENT", data["PLACEMENT"])
    if data.get("PLACEMENT_OPTIONS") is not None:
        _check_placement_options(data["PLACEMENT_OPTIONS"])
    try:
        return OAuthPlacementData.from_dict(data)
    except BitrixValidationError as error:
        raise BadRequest(error.message) from error


def optional_text(data: Mapping[str, Any], name: str) -> str | None:
    """An optional text field of the request data: `None` when absent or empty, `BadRequest` when it is not text."""
    value = data.get(name)
    if value == "":
        return None
    if value is not None:
        _check_text(name, value)
    return value
