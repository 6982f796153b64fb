"""How a caller proves who it is. Read this first to follow the auth flow.

1. `Authorization: Bearer <jwt>`: a JWT this backend issued (`POST /api/getToken`). Its signature and claims are
   checked, and that its account is still allowed in (`Bitrix24Account.check_access`, cached a few seconds).
   Bitrix24 is not asked, and the account row is read only if the view uses `request.bitrix24_account` for more
   than issuing a new JWT (getToken).
2. Otherwise the request data must be Bitrix24 placement data (`AUTH_ID`, `DOMAIN`, `member_id`, ...). Bitrix24's
   OAuth server confirms it (`app.info`; once per access token), and the account is created or updated from it.

Either way the view finds the account on `request.bitrix24_account`. Every failure is a JSON error:
an `ApiError` with its own status (401 for bad or expired JWTs and for placement data Bitrix24 does not confirm,
403 for a blocked, deleted or uninstalled account, 502/504 when Bitrix24 cannot be asked), and 400 for malformed
placement data (`BitrixValidationError`).
"""

from __future__ import annotations

import uuid
from functools import partial, wraps
from http import HTTPStatus
from typing import Any

from b24pysdk.errors import BitrixValidationError
from django.http import HttpResponse, JsonResponse
from django.utils.functional import SimpleLazyObject

from main.exceptions import ApiError, InvalidJWTToken
from main.models import Bitrix24Account
from main.utils.authorized_request import AuthorizedRequest
from main.utils.placement import parse_placement_data


class _AccountFromJWT(SimpleLazyObject):
    """The account of a Bearer request: its row is read when the view first uses it, and not at all to issue it a
    new JWT (getToken), which needs only the id the JWT names."""

    def __init__(self, account_id: uuid.UUID) -> None:
        super().__init__(partial(Bitrix24Account.load, account_id))
        self.__dict__["pk"] = account_id

    def create_jwt_token(self, minutes: int | None = None) -> str:
        return Bitrix24Account.jwt_for(self.pk, minutes)


def authenticate(request: AuthorizedRequest) -> Bitrix24Account:
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer":  # auth schemes are case-insensitive (RFC 9110)
        if not token or " " in token.strip():
            raise InvalidJWTToken()
        return _AccountFromJWT(Bitrix24Account.account_id_from_jwt_token(token.strip()))
    placement = parse_placement_data(request.data)
    return Bitrix24Account.update_or_create_from_oauth_placement_data(placement)


def auth_required(view_func):
    """Authenticate the caller (see the module docs) and put the account on `request.bitrix24_account`.

    Needs `request.data`: apply `collect_request_data` first.
    """

    @wraps(view_func)
    def wrapper(request: AuthorizedRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            request.bitrix24_account = authenticate(request)
        except ApiError as error:
            return error.response()
        except BitrixValidationError as error:
            return JsonResponse({"error": error.message}, status=HTTPStatus.BAD_REQUEST)
        return view_func(request, *args, **kwargs)

    return wrapper
