"""The account a placement proves: looked up when Bitrix24 already confirmed its access token, otherwise confirmed
with `app.info` (main/bitrix24.py) and saved.

A user is the portal's `member_id` plus the Bitrix24 user id. A portal that moved (same `member_id`, another
DOMAIN) keeps its accounts; another portal that takes over an address gets accounts of its own, and the old
portal's rows give the address up (the shared UNIQUE (b24_user_id, domain_url) allows one user id per address).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass

from b24pysdk.api.responses import B24AppInfoResult
from b24pysdk.credentials import OAuthPlacementData
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat

from main.bitrix24 import renewed_oauth, verified_app_info
from main.exceptions import AccountInactive, PlacementRejected, PlacementTokenExpired
from main.models import ApplicationInstallation, Bitrix24Account, PlacementRenewal
from main.placement_queries import REPEAT_LOOKUP, SAVE_LOOKUP, UPSERT_VENDORS, UPSERT_WHILE_ACTIVE
from main.statuses import ACTIVE_STATUSES, AUTOMATIC, AccountStatus, may_act, set_automatically

RELEASED_ADDRESS = ".released.invalid"  # `<member_id>.released.invalid`: never a host a placement can name
RENEWALS_KEPT = dt.timedelta(days=1)
CLAIM_ATTEMPTS = 5  # a renewal's claim, again after a MySQL deadlock (`_ClaimDeadlocked`)
MYSQL_DEADLOCK = 1213  # ER_LOCK_DEADLOCK


def account_for_placement(placement: OAuthPlacementData) -> Bitrix24Account:
    """The account the placement proves, created or brought up to date.

    `PlacementRejected` (nothing written) when Bitrix24 rejects the token or its answer does not match the
    placement, `AccountInactive` for a blocked or deleted account or a portal whose app is blocked or uninstalled,
    `Bitrix24Timeout` or `Bitrix24Unavailable` when Bitrix24 cannot be asked.
    """
    account = _account_holding_verified_token(placement)
    if account is not None:
        if not may_act(account.status, account.installation_status):
            raise AccountInactive()
        return account
    try:
        app_info = verified_app_info(placement)
    except PlacementTokenExpired:
        return _renewed_account(placement)
    return save_verified_placement(placement, app_info)


def _account_holding_verified_token(placement: OAuthPlacementData) -> Bitrix24Account | None:
    """The account already holding this unexpired access token (so `app.info` confirmed it for this portal and app),
    with its portal's installation status: the row answers whether it may act, without another query."""
    params = {
        "domain": placement.domain,
        "member_id": placement.member_id,
        "access_token": placement.oauth_token.access_token,
        "now": int(dt.datetime.now(dt.UTC).timestamp()),
    }
    return next(iter(Bitrix24Account.objects.raw(REPEAT_LOOKUP, params)), None)


def save_verified_placement(
    placement: OAuthPlacementData, app_info: B24AppInfoResult, *, installing: bool = False
) -> Bitrix24Account:
    """Create or update the account of a placement that `app.info` confirmed, or raise `AccountInactive` (nothing
    written) when the account or its portal's app may not act.

    The verified placement lifts a block the backend set (main/statuses.py); `installing` also lets an uninstalled
    portal's placement through, for the install that brings the app back.
    """
    if not installing and connection.vendor in UPSERT_VENDORS:
        account = _upsert_while_active(placement, app_info)
        if account is not None:
            return account
    try:
        with transaction.atomic():
            return _save(placement, app_info, installing)
    except IntegrityError:  # a concurrent first placement of the same user inserted the row: update it
        with transaction.atomic():
            return _save(placement, app_info, installing)


def _verified_fields(placement: OAuthPlacementData, app_info: B24AppInfoResult) -> dict[str, object]:
    """What a placement confirmed by `app.info` says of its account."""
    oauth_token = placement.oauth_token
    return {
        "domain_url": placement.domain,
        "access_token": oauth_token.access_token,
        "refresh_token": oauth_token.refresh_token,
        "expires_timestamp": int(app_info.expires.timestamp()),
        "expires_in": oauth_token.expires_in,
        "current_scope": app_info.scope,
        "application_version": app_info.install.version,
    }


def _upsert_while_active(placement: OAuthPlacementData, app_info: B24AppInfoResult) -> Bitrix24Account | None:
    now = dt.datetime.now(dt.UTC)
    values = {
        "id": uuid.uuid4(),
        "b24_user_id": app_info.user_id,
        "member_id": placement.member_id,
        "status": AccountStatus.ACTIVE.value,
        "is_b24_user_admin": False,
        "created_at_utc": now,
        "updated_at_utc": now,
        **_verified_fields(placement, app_info),
    }
    params: dict[str, object] = {
        field.column: field.get_db_prep_save(values[field.attname], connection)
        for field in Bitrix24Account._meta.concrete_fields
        if field.attname in values
    }
    params.update(new=AccountStatus.NEW, blocked=AccountStatus.BLOCKED, deleted=AccountStatus.DELETED)
    return next(iter(Bitrix24Account.objects.raw(UPSERT_WHILE_ACTIVE, params)), None)


def _save(placement: OAuthPlacementData, app_info: B24AppInfoResult, installing: bool) -> Bitrix24Account:
    member_id, user_id, domain = placement.member_id, app_info.user_id, placement.domain
    params = {"member_id": member_id, "user_id": user_id, "domain": domain}
    rows = list(Bitrix24Account.objects.raw(SAVE_LOOKUP + _lock_accounts(), params))
    account = next((row for row in rows if (row.member_id, row.b24_user_id) == (member_id, user_id)), None)
    address_taken = any(row.member_id != member_id and row.domain_url == domain for row in rows)
    installation = _PortalInstallation.on(rows)
    if account is not None and not _may_act_again(account.status, account.comment, lift_deleted=True):
        raise AccountInactive()
    if installation is not None and not _may_act_again(installation.status, installation.comment, installing):
        raise AccountInactive()

    moved = account is not None and account.domain_url != domain
    if address_taken or moved:
        _release_address(domain, member_id)
    if moved and account is not None:  # all the portal's rows follow
        Bitrix24Account.objects.filter(member_id=member_id, domain_url=account.domain_url).update(domain_url=domain)
    verified = _verified_fields(placement, app_info)
    if account is None:
        return Bitrix24Account.objects.create(
            member_id=member_id, b24_user_id=user_id, status=AccountStatus.ACTIVE.value, **verified
        )
    if account.status not in ACTIVE_STATUSES:  # set by the backend, as checked: the grant works again
        verified.update(status=AccountStatus.ACTIVE, comment=None)
    for name, value in verified.items():
        setattr(account, name, value)
    account.save(update_fields=[*verified, "updated_at_utc"])
    if installation is not None and installation.status == AccountStatus.BLOCKED:  # by the backend, as checked
        blocked = ApplicationInstallation.objects.filter(pk=installation.pk, status=AccountStatus.BLOCKED)
        blocked.filter(comment__startswith=AUTOMATIC).update(status=AccountStatus.ACTIVE, comment=None)
    return account


@dataclass(frozen=True)
class _PortalInstallation:
    """The portal's current installation, as SAVE_LOOKUP reads it alongside the accounts."""

    pk: uuid.UUID | str  # as the database driver returns it
    status: str
    comment: str | None

    @classmethod
    def on(cls, rows: list[Bitrix24Account]) -> _PortalInstallation | None:
        """From the lookup's rows (each carries it); None for a portal without one, or without accounts yet."""
        for row in rows:
            columns = vars(row)  # the raw query's extra columns are the row's attributes
            if columns["installation_id"] is not None:
                return cls(columns["installation_id"], columns["installation_status"], columns["installation_comment"])
        return None


def _lock_accounts() -> str:
    """Locks the accounts' rows the save decides on, on databases that lock rows (`OF a`: not the installation)."""
    features = connection.features
    if features.has_select_for_update_of:
        return " FOR UPDATE OF a"
    return " FOR UPDATE" if features.has_select_for_update else ""


def _may_act_again(status: str, comment: str | None, lift_deleted: bool) -> bool:
    """Whether a verified placement lets a row with this status act: a status the backend set is lifted (a deletion
    only where `lift_deleted`), an operator's never."""
    if status in ACTIVE_STATUSES:
        return True
    if not set_automatically(comment):
        return False
    return status != AccountStatus.DELETED or lift_deleted


def _release_address(domain: str, member_id: str) -> None:
    """`domain` is this portal's now: another portal's rows there give it up."""
    others = Bitrix24Account.objects.filter(domain_url=domain).exclude(member_id=member_id)
    others.update(domain_url=Concat(F("member_id"), Value(RELEASED_ADDRESS)))


# --- Expired placement tokens ------------------------------------------------------------------------------------


def _renewed_account(placement: OAuthPlacementData) -> Bitrix24Account:
    """Renew an expired placement token with its refresh token, once, then verify and save it like any placement.

    Refresh tokens are single-use: the claim row makes a concurrent request with the same placement wait, then take
    the account the first one renewed. A refused refresh token is `PlacementRejected`.
    """
    refresh_token = placement.oauth_token.refresh_token
    if not refresh_token:
        raise PlacementTokenExpired()
    key = hashlib.sha256(refresh_token.encode()).hexdigest()
    for attempt in range(1, CLAIM_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                if _claim(key):
                    renewed = renewed_oauth(refresh_token)
                    fresh = dataclasses.replace(placement, oauth_token=renewed.oauth_token)
                    try:
                        account = save_verified_placement(fresh, verified_app_info(fresh))
                    except PlacementTokenExpired as error:
                        raise PlacementRejected() from error
                    PlacementRenewal.objects.filter(pk=key).update(account_id=account.pk)
                    return account
            break
        except _ClaimDeadlocked as deadlock:
            if attempt == CLAIM_ATTEMPTS:
                raise deadlock.error from None  # a database error: 503, try again
    renewal = PlacementRenewal.objects.filter(pk=key).first()
    if renewal is None or renewal.account_id is None:
        raise PlacementRejected()
    renewed_by_another = Bitrix24Account.objects.filter(pk=renewal.account_id).with_installation_status().first()
    if renewed_by_another is None:
        raise PlacementRejected()
    if not may_act(renewed_by_another.status, renewed_by_another.installation_status):
        raise AccountInactive()
    return renewed_by_another


class _ClaimDeadlocked(Exception):
    """MySQL rolled this request's transaction back while it claimed a renewal: nothing was spent, it may claim again.

    InnoDB makes a request that waits on another's uncommitted claim hold a shared lock on it. When that renewal fails
    and rolls back, two such waiters each need the row exclusively: a deadlock, whose victim InnoDB rolls back
    (PostgreSQL lets the waiters through one at a time).
    """

    def __init__(self, error: OperationalError) -> None:
        super().__init__(error)
        self.error = error


def _claim(key: str) -> bool:
    """Insert the renewal's row, waiting for a concurrent renewal of the same token: False if that one committed."""
    PlacementRenewal.objects.filter(renewed_at__lt=dt.datetime.now(dt.UTC) - RENEWALS_KEPT).delete()
    try:
        with transaction.atomic():
            PlacementRenewal.objects.create(refresh_token_hash=key)
    except IntegrityError:
        return False
    except OperationalError as error:
        if error.args[:1] == (MYSQL_DEADLOCK,):
            raise _ClaimDeadlocked(error) from error
        raise
    return True
