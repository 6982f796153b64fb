"""The statuses of accounts and installations, and the rules that move them.

The values and their meaning are the sibling PHP backend's (`../shared/bitrix24-protocol.md`, section 7): `new`,
`active`, `blocked`, `deleted`, for an account (a user's grant) and for an installation (the app on a portal).

A status the backend sets by itself carries a comment starting with AUTOMATIC, which says why; such a status may be
lifted again when Bitrix24 proves the grant works (a verified placement or install). A status an operator sets in
the admin has no such comment and is never lifted by the backend.
"""

from __future__ import annotations

from dataclasses import dataclass

from b24pysdk.errors import BitrixAPIError
from django.db import models


class AccountStatus(models.TextChoices):
    """The lifecycle of an account and of an installation, with the values the PHP backend writes."""

    NEW = "new"
    ACTIVE = "active"
    BLOCKED = "blocked"
    DELETED = "deleted"


ACTIVE_STATUSES = (AccountStatus.NEW, AccountStatus.ACTIVE)
AUTOMATIC = "Set by the backend: "


def may_act(account_status: str, installation_status: str | None) -> bool:
    """An account acts while it is new or active and its portal's installation, if any, is not blocked or deleted."""
    return account_status in ACTIVE_STATUSES and installation_status not in (
        AccountStatus.BLOCKED,
        AccountStatus.DELETED,
    )


def automatic_comment(reason: str) -> str:
    return f"{AUTOMATIC}{reason}"


UNINSTALLED = automatic_comment("the app was uninstalled from the portal (ONAPPUNINSTALL)")
REPLACED = automatic_comment("another user of the portal installed the app again")


def set_automatically(comment: str | None) -> bool:
    return comment is not None and comment.startswith(AUTOMATIC)


@dataclass(frozen=True)
class StatusChange:
    """What an error of Bitrix24 says about the grant (`of_installation` False) or the app on the portal."""

    of_installation: bool
    status: AccountStatus
    reason: str


# Error codes (upper case) and descriptions of Bitrix24's answers, as the starter's Python backend maps them.
_ACCOUNT_BLOCKED = ("EXPIRED_TOKEN", "INVALID_GRANT", "WRONG_CLIENT")
_ACCOUNT_BLOCKED_TEXTS = ("The user does not have access to the application.", "Unable to get application by token")
_ACCOUNT_DELETED_TEXTS = ("Unable to authorize user", "Current user can't be authorized in this context")
_INSTALLATION_DELETED_TEXTS = ("Application not installed",)
_INSTALLATION_BLOCKED = ("PAYMENT_REQUIRED",)
_INSTALLATION_BLOCKED_TEXTS = (
    "License check failed.",
    "REST is available only on commercial plans.",
    "Access denied! Available only on extended plans",
)


def change_for_error(error: BitrixAPIError) -> StatusChange | None:
    """The status an answer of Bitrix24 calls for, or None when it says nothing about the grant or installation."""
    code, text = (error.error or "").upper(), error.error_description or ""
    reason = f"Bitrix24 answered {code or 'an error'}: {text}".strip().removesuffix(":")
    if text in _INSTALLATION_DELETED_TEXTS:
        return StatusChange(True, AccountStatus.DELETED, reason)
    if code in _INSTALLATION_BLOCKED or text in _INSTALLATION_BLOCKED_TEXTS:
        return StatusChange(True, AccountStatus.BLOCKED, reason)
    if text in _ACCOUNT_DELETED_TEXTS:
        return StatusChange(False, AccountStatus.DELETED, reason)
    if code in _ACCOUNT_BLOCKED or text in _ACCOUNT_BLOCKED_TEXTS:
        return StatusChange(False, AccountStatus.BLOCKED, reason)
    return None
