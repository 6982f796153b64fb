"""The backend's own JWTs: issued once Bitrix24 vouched for an account, checked on every Bearer request.

Claims: `account_id`, `iat`, `exp` (JWT_LIFETIME_MINUTES), signed with JWT_SECRET in JWT_ALGORITHM (HMAC only).
"""

from __future__ import annotations

import datetime as dt
import functools
import time
import uuid

import jwt
from django.conf import settings

from main.exceptions import ExpiredJWTToken, InvalidJWTToken

CLAIMS = ("account_id", "iat", "exp")


def issue_jwt(account_id: uuid.UUID, minutes: int | None = None) -> str:
    """A JWT that stands for the account for `minutes` (default JWT_LIFETIME_MINUTES)."""
    now = dt.datetime.now(dt.UTC)
    lifetime = dt.timedelta(minutes=settings.JWT_LIFETIME_MINUTES if minutes is None else minutes)
    claims = {"account_id": str(account_id), "iat": now, "exp": now + lifetime}
    return jwt.encode(claims, settings.JWT_SECRET, algorithm=settings.JWT_ALGORITHM)


def account_id_from_jwt(token: str) -> uuid.UUID:
    """The account a JWT of ours stands for; `InvalidJWTToken` or `ExpiredJWTToken` otherwise."""
    account_id, expires = _verified(token, settings.JWT_SECRET, settings.JWT_ALGORITHM)
    if time.time() >= expires:  # PyJWT's rule: valid while now < exp
        raise ExpiredJWTToken()
    return account_id


@functools.lru_cache(maxsize=4096)
def _verified(token: str, secret: str, algorithm: str) -> tuple[uuid.UUID, int]:
    """The account id and expiry (Unix seconds) of a token, after checking its signature and claims.

    Memoized: a token never changes, and PyJWT's checks are most of a Bearer request's own cost, so a token seen
    again costs a lookup. The caller compares the expiry on every use; refused tokens are not memoized.
    """
    try:
        claims = jwt.decode(token, secret, algorithms=[algorithm], options={"require": list(CLAIMS)})
    except jwt.ExpiredSignatureError as error:
        raise ExpiredJWTToken() from error
    except jwt.InvalidTokenError as error:
        raise InvalidJWTToken() from error
    try:
        return uuid.UUID(claims["account_id"]), int(claims["exp"])  # PyJWT accepted exp as int(exp)
    except (TypeError, ValueError, AttributeError) as error:
        raise InvalidJWTToken() from error
