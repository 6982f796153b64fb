"""How a caller proves who it is. Read this first to follow the auth flow.

1. `Authorization: Bearer <jwt>`: a JWT this backend issued (`POST /api/getToken`). Its signature and claims are
   checked (main/jwts.py), and that its account may still act (main/access.py, answers kept a few seconds).
   Bitrix24 is not asked, and the account row is read only if the view uses `request.bitrix24_account` for more
   than its `pk` (getToken needs only the id to issue a new JWT).
2. Otherwise the request data must be Bitrix24 placement data (`AUTH_ID`, `DOMAIN`, `member_id`, ...), checked for
   shape (main/placement_data.py), confirmed by Bitrix24's OAuth server (`app.info`; once per access token) and
   saved as the account (main/placements.py).

Either way the view finds the account on `request.bitrix24_account`, and on `request.auth_time` when Bitrix24 last
vouched for the caller: now for placement data, the JWT's `auth_time` for a Bearer request. Every refusal is an
`ApiError`: 400 for malformed placement data, 401 for bad or expired JWTs and for placement data Bitrix24 does not
confirm, 403 for a blocked, deleted or uninstalled account, 502/504 when Bitrix24 cannot be asked.
"""

from __future__ import annotations

import time
import uuid
from functools import partial, wraps
from typing import Any, cast

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from main.access import check_access
from main.exceptions import InvalidJWTToken
from main.jwts import VerifiedJWT, verify_jwt
from main.models import Bitrix24Account
from main.placement_data import parse_placement_data
from main.placements import account_for_placement
from main.utils.authorized_request import AuthorizedRequest


def _account(account_id: uuid.UUID) -> Bitrix24Account:
    account = Bitrix24Account.objects.filter(pk=account_id).first()
    if account is None:  # deleted since its access was checked
        raise InvalidJWTToken()
    return account


class _AccountFromJWT(SimpleLazyObject):
    """The account of a Bearer request: its `pk` is the JWT's, its row is read when the view first needs more."""

    def __init__(self, account_id: uuid.UUID) -> None:
        super().__init__(partial(_account, account_id))
        self.__dict__["pk"] = account_id


def bearer_token(request: HttpRequest) -> str | None:
    """The JWT of an `Authorization: Bearer <jwt>` header; None without such a header, `InvalidJWTToken` for a
    Bearer header that does not hold exactly one token."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":  # auth schemes are case-insensitive (RFC 9110)
        return None
    token = token.strip()
    if not token or " " in token:
        raise InvalidJWTToken()
    return token


def allowed_jwt(token: str) -> VerifiedJWT:
    """What a JWT of ours says, once its account may still act (main/access.py)."""
    verified = verify_jwt(token)
    check_access(verified.account_id)
    return verified


def authenticate(request: AuthorizedRequest) -> Bitrix24Account:
    token = bearer_token(request)
    if token is not None:
        verified = allowed_jwt(token)
        request.auth_time = verified.auth_time
        return cast(Bitrix24Account, _AccountFromJWT(verified.account_id))  # a lazy stand-in for the row
    account = account_for_placement(parse_placement_data(request.data))
    request.auth_time = int(time.time())
    return account


def auth_required(view_func):
    """Authenticate the caller (see the module docs) and put the account on `request.bitrix24_account`.

    Needs `request.data` (`collect_request_data`) and `log_errors` around it: both come with `api_view`.
    """

    @wraps(view_func)
    def wrapper(request: AuthorizedRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        request.bitrix24_account = authenticate(request)
        return view_func(request, *args, **kwargs)

    return wrapper
