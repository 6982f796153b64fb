"""How a caller proves who it is. Read this first to follow the auth flow.

1. `Authorization: Bearer <jwt>`: a JWT this backend issued (`POST /api/getToken`). The account is loaded from
   the database; Bitrix24 is not asked.
2. Otherwise the request data must be Bitrix24 placement data (`AUTH_ID`, `DOMAIN`, `member_id`, ...). Bitrix24's
   OAuth server confirms it (`app.info`), and the account is created or updated from it.

Either way the view finds the account on `request.bitrix24_account`. Every failure is a JSON error:
an `ApiError` with its own status (401 for bad or expired JWTs and for placement data Bitrix24 does not confirm,
502/504 when Bitrix24 cannot be asked), and 400 for malformed placement data (`BitrixValidationError`).
"""

from __future__ import annotations

from functools import wraps
from http import HTTPStatus
from typing import Any

from b24pysdk.errors import BitrixValidationError
from django.http import HttpResponse, JsonResponse

from main.exceptions import ApiError, InvalidJWTToken
from main.models import Bitrix24Account
from main.utils.authorized_request import AuthorizedRequest
from main.utils.placement import parse_placement_data


def authenticate(request: AuthorizedRequest) -> Bitrix24Account:
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer":  # auth schemes are case-insensitive (RFC 9110)
        if not token or " " in token.strip():
            raise InvalidJWTToken()
        return Bitrix24Account.get_from_jwt_token(token.strip())
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
