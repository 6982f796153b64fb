"""Whether an account may still act (main/statuses.py says when), asked on every Bearer request.

Bearer requests ask `check_access` on every call. The answers are kept per process and renewed together, in one
query, every ACCESS_CHECK_SECONDS: a JWT costs no query on most requests, and an account that is blocked, deleted or
uninstalled loses access within that time. Renewed one by one, each answer would expire on its own and cost a
query when next used, which with many active accounts is a large share of requests.
"""

from __future__ import annotations

import enum
import time
import uuid

from django.conf import settings

from main.exceptions import AccountInactive, InvalidJWTToken
from main.models import Bitrix24Account
from main.statuses import may_act


class Access(enum.Enum):
    ALLOWED = "allowed"
    INACTIVE = "inactive"
    UNKNOWN = "unknown"  # no such account


def read_access(account_ids: set[uuid.UUID]) -> dict[uuid.UUID, Access]:
    """Each account's access, read in one query."""
    accounts = Bitrix24Account.objects.filter(pk__in=account_ids).with_installation_status()
    rows = accounts.values_list("pk", "status", "installation_status")
    access = dict.fromkeys(account_ids, Access.UNKNOWN)
    for account_id, status, installation_status in rows:
        access[account_id] = Access.ALLOWED if may_act(status, installation_status) else Access.INACTIVE
    return access


class _RecentAnswers:
    """The answers this process read since the last renewal, and the accounts that used them since."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._answers: dict[uuid.UUID, Access] = {}
        self._used: set[uuid.UUID] = set()
        self._renewed_at = time.monotonic()

    def get(self, account_id: uuid.UUID) -> Access:
        seconds = settings.ACCESS_CHECK_SECONDS
        if seconds <= 0:
            return read_access({account_id})[account_id]
        if time.monotonic() - self._renewed_at >= seconds:
            used, self._used = self._used, set()
            self._renewed_at = time.monotonic()
            self._answers = read_access(used) if used else {}
        answer = self._answers.get(account_id)
        if answer is None:
            answer = self._answers[account_id] = read_access({account_id})[account_id]
        self._used.add(account_id)
        return answer


recent_answers = _RecentAnswers()


def check_access(account_id: uuid.UUID) -> None:
    """`InvalidJWTToken` for an account that does not exist, `AccountInactive` for one that may not act."""
    access = recent_answers.get(account_id)
    if access is Access.UNKNOWN:
        raise InvalidJWTToken()
    if access is Access.INACTIVE:
        raise AccountInactive()
