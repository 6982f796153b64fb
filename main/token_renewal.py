"""Keeping the access tokens of active accounts fresh: the periodic renewal that Celery beat runs when
TOKEN_REFRESH_ENABLED is on (main/tasks.py).

A sweep renews, one account at a time, the access tokens of accounts that may act (main/statuses.py) and expire
within the window. Each renewal holds the account's refresh lock (`Bitrix24Account.refresh_and_set_oauth_token`),
so a request renewing the same token at that moment waits and takes the new pair instead of spending the
single-use refresh token twice. An account whose refresh token Bitrix24 refuses is blocked as after any call
(`Bitrix24Account.follow_error`); the next verified placement lifts that block. When Bitrix24 cannot be asked, the
sweep stops (every account asks the same OAuth server) and raises, and the task tries again later: accounts
renewed meanwhile no longer expire within the window, so a second sweep renews nothing twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from main.bitrix24 import renew_account_token
from main.exceptions import AccountInactive, Bitrix24Refused
from main.models import Bitrix24Account
from main.statuses import ACTIVE_STATUSES, may_act

logger = logging.getLogger(__name__)


@dataclass
class Sweep:
    """What one sweep did."""

    renewed: int = 0
    refused: int = 0


def renew_expiring_tokens(window: dt.timedelta) -> Sweep:
    """Renew the access tokens that expire within `window` from now, one account at a time.

    `Bitrix24Timeout` or `Bitrix24Unavailable` (the sweep stops there) when Bitrix24 cannot be asked.
    """
    deadline = int((dt.datetime.now(dt.UTC) + window).timestamp())
    sweep = Sweep()
    for account_id in _expiring_account_ids(deadline):
        try:
            renewed = _renew(account_id, deadline)
        except (AccountInactive, Bitrix24Refused) as error:
            sweep.refused += 1
            logger.warning("Bitrix24 refused to renew the token of account %s: %s", account_id, _cause(error))
            continue
        sweep.renewed += renewed
    logger.info("Token renewal: %d renewed, %d refused", sweep.renewed, sweep.refused)
    return sweep


def _expiring_account_ids(deadline: int) -> list[uuid.UUID]:
    """Accounts that may act and hold a refresh token, whose access token expires before `deadline`, soonest
    first."""
    rows = (
        Bitrix24Account.objects.filter(status__in=ACTIVE_STATUSES, expires_timestamp__lt=deadline)
        .exclude(refresh_token__isnull=True)
        .exclude(refresh_token="")
        .with_installation_status()
        .order_by("expires_timestamp")
        .values_list("pk", "status", "installation_status")
    )
    return [pk for pk, status, installation_status in rows if may_act(status, installation_status)]


def _renew(account_id: uuid.UUID, deadline: int) -> bool:
    """Renew the account's token unless it was renewed (or stopped acting) since the sweep listed it."""
    account = Bitrix24Account.objects.filter(pk=account_id, status__in=ACTIVE_STATUSES).first()
    if account is None or account.expires_timestamp is None or account.expires_timestamp >= deadline:
        return False
    before = account.access_token
    renew_account_token(account)
    return account.access_token != before


def _cause(error: Exception) -> str:
    """Bitrix24's own words where the error carries them (its error code and description)."""
    cause = error.__cause__
    text = f"{getattr(cause, 'error', '')}: {getattr(cause, 'error_description', '')}".strip(": ")
    return text or str(error)
