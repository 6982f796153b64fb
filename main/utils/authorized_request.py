from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.http import HttpRequest

if TYPE_CHECKING:
    from main.models import Bitrix24Account


class RequestWithData(HttpRequest):
    """A request that went through `collect_request_data` (for type hints only)."""

    data: dict[str, Any]


class AuthorizedRequest(RequestWithData):
    """A request that went through `collect_request_data` and `auth_required` (for type hints only)."""

    bitrix24_account: Bitrix24Account
    auth_time: int  # Unix seconds: when Bitrix24 last vouched for the caller (see `auth_required`)
