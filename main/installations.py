"""Installing the app on a portal (`POST /api/install`): its lifecycle events are bound to this backend in one
`batch` call, then the installation is recorded, all of it or nothing.

The installing user becomes the portal's master account. A reinstall, or an install the frontend sends twice, is
not an error: a handler that is already bound counts as bound.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from b24pysdk import Client
from b24pysdk.api.requests import BitrixAPIRequest
from b24pysdk.credentials import AbstractBitrixToken, OAuthPlacementData
from django.conf import settings
from django.db import transaction

from main.bitrix24 import portal_answer, token_for, verified_app_info
from main.exceptions import AccountInactive, Bitrix24Refused, NotPortalAdmin
from main.models import ApplicationInstallation, Bitrix24Account, not_set_by_operator
from main.placement_data import optional_text
from main.placements import save_verified_placement
from main.statuses import REPLACED, UNINSTALLED, AccountStatus, set_automatically

LIFECYCLE_EVENTS = ("ONAPPINSTALL", "ONAPPUNINSTALL")
ALREADY_BOUND = "Handler already binded"  # Bitrix24's wording


@dataclass(frozen=True)
class InstallDetails:
    """What the install page sends besides the placement data."""

    license_family: str
    app_status: str | None  # the portal's app status code (F, D, T, P, L, S)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> InstallDetails:
        """`BadRequest` when a field is not text."""
        return cls(optional_text(data, "LICENSE_FAMILY") or "", optional_text(data, "status"))


def install_from_placement(placement: OAuthPlacementData, details: InstallDetails) -> ApplicationInstallation:
    """Install with placement data: verified with `app.info`; the only way to bring an uninstalled app back."""
    app_info = verified_app_info(placement)
    is_admin = _bind_lifecycle_events(token_for(placement))
    with transaction.atomic():
        account = save_verified_placement(placement, app_info, installing=True)
        return _record(account, details, is_admin, verified=True)


def install_for_account(account_id: uuid.UUID, details: InstallDetails) -> ApplicationInstallation:
    """Install as the account a JWT named (its access was checked): lifts no block and no uninstall."""
    account = Bitrix24Account.objects.get(pk=account_id)
    is_admin = _bind_lifecycle_events(account)
    with transaction.atomic():
        return _record(account, details, is_admin, verified=False)


def _bind_lifecycle_events(token: AbstractBitrixToken) -> bool:
    """Bind ONAPPINSTALL and ONAPPUNINSTALL to this backend and ask whether the user is a portal admin, in one call.

    `NotPortalAdmin` when Bitrix24 refuses the binding for lack of rights, `Bitrix24Refused` for other refusals.
    """
    client = Client(token)
    commands: dict[str | int, BitrixAPIRequest[Any]] = {
        event: client.event.bind(event, settings.APP_EVENTS_URL) for event in LIFECYCLE_EVENTS
    }
    commands["admin"] = client.user.admin()
    batch = portal_answer(lambda: client.call_batch(commands, halt=False, timeout=settings.BITRIX24_TIMEOUT).result)
    errors = batch.result_error if isinstance(batch.result_error, dict) else {}  # PHP sends [] for none
    for event in LIFECYCLE_EVENTS:
        error = errors.get(event)
        if not error or ALREADY_BOUND in str(error.get("error_description", "")):
            continue
        if error.get("error") == "ACCESS_DENIED":
            raise NotPortalAdmin()
        raise Bitrix24Refused(f"Bitrix24 refused to bind {event}: {error.get('error')}")
    results = batch.result if isinstance(batch.result, dict) else {}
    return results.get("admin") is True


def _record(
    account: Bitrix24Account, details: InstallDetails, is_admin: bool, *, verified: bool
) -> ApplicationInstallation:
    """Record the install as `account`'s installation, which becomes the portal's current one (its master account)."""
    current = ApplicationInstallation.objects.of_portal(account.member_id).first()
    if current is not None and not _may_install(current, verified):
        raise AccountInactive()
    now = dt.datetime.now(dt.UTC)
    fields: dict[str, Any] = {"portal_license_family": details.license_family, "update_at_utc": now}
    if details.app_status is not None:
        fields["status_code"] = details.app_status
    own = ApplicationInstallation.objects.filter(bitrix_24_account_id=account.pk).first()
    if own is None:
        ApplicationInstallation.objects.create(bitrix_24_account_id=account.pk, status=AccountStatus.NEW, **fields)
    else:
        if own.status not in (AccountStatus.NEW, AccountStatus.ACTIVE):  # brought back
            fields.update(status=AccountStatus.NEW, comment=None)
        ApplicationInstallation.objects.filter(pk=own.pk).update(**fields)

    portal = Bitrix24Account.objects.filter(member_id=account.member_id)
    replaced = ApplicationInstallation.objects.on_portal(account.member_id).filter(not_set_by_operator())
    replaced = replaced.exclude(bitrix_24_account_id=account.pk).exclude(status=AccountStatus.DELETED, comment=REPLACED)
    replaced.update(status=AccountStatus.DELETED, comment=REPLACED, update_at_utc=now)
    portal.exclude(pk=account.pk).update(is_master_account=False)
    portal.filter(pk=account.pk).update(is_master_account=True, is_b24_user_admin=is_admin, updated_at_utc=now)
    # Accounts the uninstall deleted act again; statuses an operator set stay.
    portal.filter(status=AccountStatus.DELETED, comment=UNINSTALLED).update(
        status=AccountStatus.ACTIVE, comment=None, updated_at_utc=now
    )
    return ApplicationInstallation.objects.get(bitrix_24_account_id=account.pk)


def _may_install(installation: ApplicationInstallation, verified: bool) -> bool:
    """An install acts on an active installation; one verified by Bitrix24 also brings back what the backend
    blocked or deleted; an operator's block or deletion stays."""
    if installation.status in (AccountStatus.NEW, AccountStatus.ACTIVE):
        return True
    return verified and set_automatically(installation.comment)
