"""JWTs made by hand, as a client (or an attacker) could: any claims, any secret, any algorithm."""

from __future__ import annotations

import time
from typing import Any

import jwt
from django.conf import settings


def claims_for(account: Any, **overrides: object) -> dict[str, object]:
    """The claims of a JWT for `account`, valid for five more minutes, with `overrides`; a claim set to None is left
    out."""
    now = int(time.time())
    claims = {"account_id": str(account.pk), "iat": now, "exp": now + 300, **overrides}
    return {name: value for name, value in claims.items() if value is not None}


def signed(claims: dict[str, object], secret: str | None = None, algorithm: str = "HS256") -> str:
    """`claims` signed with `secret` (default: the backend's JWT_SECRET)."""
    return jwt.encode(claims, secret or settings.JWT_SECRET, algorithm=algorithm)


def decoded(token: str, secret: str | None = None) -> dict[str, Any]:
    """The claims of a JWT signed with `secret` (default: the backend's JWT_SECRET) in HS256."""
    return jwt.decode(token, secret or settings.JWT_SECRET, algorithms=["HS256"])
