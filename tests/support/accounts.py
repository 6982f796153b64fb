"""Account rows a test writes itself, holding a grant's tokens."""

from __future__ import annotations

import datetime as dt

from main.models import Bitrix24Account
from tests.support.fake_bitrix24 import PORTAL_A, Grant


def stored_account(user_id: int, expires_in: dt.timedelta, grant: Grant | None = None, **fields) -> Bitrix24Account:
    """An active account of portal A whose access token expires in `expires_in` (negative: expired), holding the
    tokens of `grant`, or, without one, tokens Bitrix24 does not know (a refresh it refuses)."""
    expires = dt.datetime.now(dt.UTC) + expires_in
    values = {
        "status": "active",
        "access_token": grant.access_token if grant else f"at-unknown-{user_id:020d}",
        "refresh_token": grant.refresh_token if grant else f"rt-unknown-{user_id:020d}",
        **fields,
    }
    return Bitrix24Account.objects.create(
        b24_user_id=user_id,
        domain_url=PORTAL_A.domain,
        member_id=PORTAL_A.member_id,
        expires_timestamp=int(expires.timestamp()),
        expires_in=3600,
        **values,
    )
