"""The backend's own JWTs: issued once Bitrix24 vouched for an account, checked on every Bearer request.

Claims: `account_id`, `iat`, `exp` (JWT_LIFETIME_MINUTES) and `auth_time` (when Bitrix24 last vouched for the user
through placement data), signed with JWT_SECRET in JWT_ALGORITHM (HMAC only). JWTs signed with JWT_SECRET_PREVIOUS
are accepted too, so rotating the secret logs no one out. A Bearer renewal keeps `auth_time`, so a JWT cannot renew
itself for longer than JWT_MAX_AGE_HOURS: then only fresh placement data gets a new one.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
import uuid
from dataclasses import dataclass

import jwt
from django.conf import settings

from main.exceptions import ExpiredJWTToken, InvalidJWTToken, ReauthenticationRequired

CLAIMS = ("account_id", "iat", "exp")


@dataclass(frozen=True)
class VerifiedJWT:
    account_id: uuid.UUID
    expires: int  # Unix seconds
    auth_time: int  # Unix seconds; `iat` for JWTs issued before the claim existed


def issue_jwt(account_id: uuid.UUID, minutes: int | None = None, *, auth_time: int | None = None) -> str:
    """A JWT that stands for the account for `minutes` (default JWT_LIFETIME_MINUTES).

    `auth_time` is when Bitrix24 last vouched for the user: now (the default) for placement data, the old JWT's for
    a renewal, which is refused with `ReauthenticationRequired` once that is JWT_MAX_AGE_HOURS ago.
    """
    now = dt.datetime.now(dt.UTC)
    if auth_time is None:
        auth_time = int(now.timestamp())
    elif now.timestamp() - auth_time >= settings.JWT_MAX_AGE_HOURS * 3600:
        raise ReauthenticationRequired()
    lifetime = dt.timedelta(minutes=settings.JWT_LIFETIME_MINUTES if minutes is None else minutes)
    claims = {"account_id": str(account_id), "iat": now, "exp": now + lifetime, "auth_time": auth_time}
    return jwt.encode(claims, settings.JWT_SECRET, algorithm=settings.JWT_ALGORITHM)


def verify_jwt(token: str) -> VerifiedJWT:
    """What a JWT of ours says; `InvalidJWTToken` or `ExpiredJWTToken` otherwise."""
    verified = _verified(token, settings.JWT_SECRET, settings.JWT_SECRET_PREVIOUS, settings.JWT_ALGORITHM)
    if time.time() >= verified.expires:  # PyJWT's rule: valid while now < exp
        raise ExpiredJWTToken()
    return verified


@functools.lru_cache(maxsize=4096)
def _verified(token: str, secret: str, previous_secret: str, algorithm: str) -> VerifiedJWT:
    """The claims of a token, after checking its signature (with either secret) and claims.

    Memoized: a token never changes, and PyJWT's checks are most of a Bearer request's own cost, so a token seen
    again costs a lookup. The caller compares the expiry on every use; refused tokens are not memoized.
    """
    claims = _decoded(token, [secret, previous_secret] if previous_secret else [secret], algorithm)
    try:
        # PyJWT accepted iat and exp as int(...); auth_time is ours, issued as an integer.
        auth_time = int(claims.get("auth_time", claims["iat"]))
        return VerifiedJWT(uuid.UUID(claims["account_id"]), int(claims["exp"]), auth_time)
    except (TypeError, ValueError, AttributeError) as error:
        raise InvalidJWTToken() from error


def _decoded(token: str, secrets: list[str], algorithm: str) -> dict:
    """The claims of a token signed with one of `secrets`, in `algorithm`, carrying CLAIMS and not expired."""
    for secret in secrets:
        try:
            return jwt.decode(token, secret, algorithms=[algorithm], options={"require": list(CLAIMS)})
        except jwt.InvalidSignatureError as error:
            refusal = error  # maybe signed with the next secret
        except jwt.ExpiredSignatureError as error:  # PyJWT checks the signature first: it is ours
            raise ExpiredJWTToken() from error
        except jwt.InvalidTokenError as error:
            raise InvalidJWTToken() from error
    raise InvalidJWTToken() from refusal
