"""The account a placement proves: looked up when Bitrix24 already confirmed its access token, otherwise confirmed
with `app.info` (main/app_info.py) and saved.

A placement's first call waits on Bitrix24 and then on one statement that creates or updates the account; a
repeated placement (an access token stored on the account and not yet expired) costs one query and no call.
"""

from __future__ import annotations

import datetime as dt
import uuid

from b24pysdk.api.responses import B24AppInfoResult
from b24pysdk.credentials import OAuthPlacementData
from django.db import connections
from django.db.models import F

from main.access import may_act
from main.app_info import verified_app_info
from main.exceptions import AccountInactive
from main.models import AccountStatus, Bitrix24Account

# Create the account, or update its row unless the account is blocked or deleted or its app was uninstalled (then
# no row comes back). One statement (PostgreSQL and SQLite): concurrent first calls of one user cannot collide.
_UPSERT_UNLESS_INACTIVE = """
    INSERT INTO bitrix24account (
        id, b24_user_id, domain_url, member_id, status, is_b24_user_admin, access_token, refresh_token, expires,
        expires_in, current_scope, application_version, created_at_utc, updated_at_utc
    ) VALUES (
        %(id)s, %(b24_user_id)s, %(domain_url)s, %(member_id)s, %(status)s, %(is_b24_user_admin)s, %(access_token)s,
        %(refresh_token)s, %(expires)s, %(expires_in)s, %(current_scope)s, %(application_version)s,
        %(created_at_utc)s, %(updated_at_utc)s
    )
    ON CONFLICT (b24_user_id, domain_url) DO UPDATE SET
        member_id = EXCLUDED.member_id, access_token = EXCLUDED.access_token,
        refresh_token = EXCLUDED.refresh_token, expires = EXCLUDED.expires, expires_in = EXCLUDED.expires_in,
        current_scope = EXCLUDED.current_scope, application_version = EXCLUDED.application_version,
        updated_at_utc = EXCLUDED.updated_at_utc
    WHERE bitrix24account.status IN (%(new)s, %(active)s) AND NOT EXISTS (
        SELECT 1 FROM application_installation
        WHERE application_installation.bitrix_24_account_id = bitrix24account.id
            AND application_installation.status = %(deleted)s
    )
    RETURNING
        id, b24_user_id, is_b24_user_admin, member_id, is_master_account, domain_url, status, application_token,
        created_at_utc, updated_at_utc, application_version, comment, access_token, refresh_token, expires,
        expires_in, current_scope
"""


def account_for_placement(placement: OAuthPlacementData) -> Bitrix24Account:
    """The account the placement proves, created or brought up to date.

    `PlacementRejected` (nothing written) when Bitrix24 rejects the token or its answer does not match the
    placement, `AccountInactive` for a blocked, deleted or uninstalled account, `Bitrix24Timeout` or
    `Bitrix24Unavailable` when Bitrix24 cannot be asked.
    """
    account = _account_holding_verified_token(placement)
    if account is not None:
        if not may_act(account.status, account.installation_status):
            raise AccountInactive()
        return account
    account = _upsert_unless_inactive(placement, verified_app_info(placement))
    if account is None:
        raise AccountInactive()
    return account


def _account_holding_verified_token(placement: OAuthPlacementData) -> Bitrix24Account | None:
    """The account already holding this unexpired access token (so `app.info` confirmed it for this portal and app),
    with its installation's status: the row answers whether it may act, without another query."""
    now = int(dt.datetime.now(dt.UTC).timestamp())
    return (
        Bitrix24Account.objects.filter(
            domain_url=placement.domain,
            member_id=placement.member_id,
            access_token=placement.oauth_token.access_token,
            expires_timestamp__gt=now,
        )
        .annotate(installation_status=F("installation__status"))
        .first()
    )


def _upsert_unless_inactive(placement: OAuthPlacementData, app_info: B24AppInfoResult) -> Bitrix24Account | None:
    now = dt.datetime.now(dt.UTC)
    oauth_token = placement.oauth_token
    values = {
        "id": uuid.uuid4(),
        "b24_user_id": app_info.user_id,
        "domain_url": placement.domain,
        "member_id": placement.member_id,
        "status": AccountStatus.ACTIVE,
        "is_b24_user_admin": False,
        "access_token": oauth_token.access_token,
        "refresh_token": oauth_token.refresh_token,
        "expires_timestamp": int(app_info.expires.timestamp()),
        "expires_in": oauth_token.expires_in,
        "current_scope": app_info.scope,
        "application_version": app_info.install.version,
        "created_at_utc": now,
        "updated_at_utc": now,
    }
    accounts = Bitrix24Account.objects
    connection = connections[accounts.db]
    params = {
        field.column: field.get_db_prep_save(values[field.attname], connection)
        for field in (Bitrix24Account._meta.get_field(name) for name in values)
    }
    params.update(new=AccountStatus.NEW, active=AccountStatus.ACTIVE, deleted=AccountStatus.DELETED)
    return next(iter(accounts.raw(_UPSERT_UNLESS_INACTIVE, params)), None)
