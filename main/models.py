"""The tables: the two this backend shares with the sibling PHP backend (columns: `../shared/schema.md`), and one of
its own.

The shared models are unmanaged: Django never alters these tables. Migration 0001 creates them only where they are
missing, so the backend runs beside the PHP backend's schema and on an empty database alike.
"""

from __future__ import annotations

import datetime as dt
import uuid

from b24pysdk import BitrixApp, Client
from b24pysdk.client import ClientV2
from b24pysdk.errors import BitrixAPIError
from b24pysdk.events import OAuthTokenRenewedEvent, PortalDomainChangedEvent
from b24pysdk.utils.functional import classproperty
from django.db import models, transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone

from main.b24sdk import GuardedDomainToken, bitrix_app
from main.exceptions import AccountInactive
from main.fields import SharedUUIDField, UTCDateTimeField
from main.statuses import AccountStatus, automatic_comment, change_for_error

_TOKEN_FIELDS = ("access_token", "refresh_token", "expires_timestamp", "expires_in", "current_scope")


def not_set_by_operator() -> Q:
    """Rows whose status the backend may change: acting ones, and those the backend itself blocked or deleted."""
    return Q(status__in=(AccountStatus.NEW, AccountStatus.ACTIVE)) | Q(comment__startswith=automatic_comment(""))


class AccountQuerySet(models.QuerySet):
    def with_installation_status(self) -> AccountQuerySet:
        """Annotate `installation_status`: the status of the app on the account's portal (its current installation,
        whichever account of the portal installed it), None where the app was never installed."""
        current = ApplicationInstallation.objects.of_portal(OuterRef("member_id")).values("status")[:1]
        return self.annotate(installation_status=Subquery(current))


class InstallationQuerySet(models.QuerySet):
    def of_portal(self, member_id: str | OuterRef) -> InstallationQuerySet:
        """The portal's installations, the current one first: the master account's (the user who installed the app
        last), else the newest."""
        master_first = F("bitrix_24_account__is_master_account").desc(nulls_last=True)
        return self.filter(bitrix_24_account__member_id=member_id).order_by(master_first, "-created_at_utc")

    def on_portal(self, member_id: str) -> InstallationQuerySet:
        """The portal's installations, for `update()`: filtered without a join, so the update is one statement that
        checks its conditions as it writes. (MySQL refuses an UPDATE whose subquery reads the updated table, so for
        a joined filter Django reads the ids first, then updates those rows whatever they hold by then.)"""
        return self.filter(bitrix_24_account__in=Bitrix24Account.objects.filter(member_id=member_id).values("pk"))


class Bitrix24Account(models.Model, GuardedDomainToken):
    """A Bitrix24 user of a portal that runs the app, with the OAuth tokens that act for them. A user is the portal's
    `member_id` plus `b24_user_id`; `domain_url` is where the portal is now.

    It is also b24pysdk's token object: the SDK's `domain`, `auth_token` and `expires` map onto the columns
    `domain_url`, `access_token` and `expires` (Unix seconds), so `account.client` calls the portal's REST API,
    renewed tokens or a moved portal domain are saved as soon as the SDK reports them, and an answer that says the
    grant or the installation is gone moves their status (main/statuses.py).
    """

    id = SharedUUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    b24_user_id = models.IntegerField()
    is_b24_user_admin = models.BooleanField(default=False)
    member_id = models.CharField(max_length=255, db_index=True)
    is_master_account = models.BooleanField(null=True, blank=True)
    domain_url = models.CharField(max_length=255, db_index=True)
    status = models.CharField(max_length=255, choices=AccountStatus)
    application_token = models.CharField(max_length=255, null=True, blank=True)
    created_at_utc = UTCDateTimeField(auto_now_add=True)
    updated_at_utc = UTCDateTimeField(auto_now=True)
    application_version = models.IntegerField(default=1)
    comment = models.TextField(null=True, blank=True)
    access_token = models.CharField(max_length=255, null=True, blank=True)
    refresh_token = models.CharField(max_length=255, null=True, blank=True)
    expires_timestamp = models.IntegerField(null=True, blank=True, db_column="expires")
    expires_in = models.IntegerField(null=True, blank=True)
    current_scope = models.JSONField(null=True, blank=True)

    objects = AccountQuerySet.as_manager()
    installation_status: str | None  # only on rows read through `with_installation_status()`

    class Meta:
        managed = False
        db_table = "bitrix24account"
        constraints = [
            models.UniqueConstraint(fields=["b24_user_id", "domain_url"], name="bitrix24account_user_domain_uniq"),
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.oauth_token_renewed_signal.connect(self._save_renewed_oauth_token)
        self.portal_domain_changed_signal.connect(self._save_new_domain)

    def __str__(self) -> str:
        return f"user {self.b24_user_id} of {self.domain_url}"

    # --- b24pysdk's token interface -------------------------------------------------------------------------

    @classproperty
    def bitrix_app(cls) -> BitrixApp:  # noqa: N805 - a class-level property
        return bitrix_app()

    @property
    def domain(self) -> str:
        return self.domain_url

    @domain.setter
    def domain(self, value: str) -> None:
        self.domain_url = value

    @property  # type: ignore[override]  # the SDK says str; the shared column is nullable
    def auth_token(self) -> str | None:
        return self.access_token

    @auth_token.setter
    def auth_token(self, value: str | None) -> None:
        self.access_token = value

    @property
    def expires(self) -> dt.datetime | None:
        if self.expires_timestamp is None:
            return None
        return dt.datetime.fromtimestamp(self.expires_timestamp, tz=dt.UTC)

    @expires.setter
    def expires(self, value: dt.datetime | None) -> None:
        self.expires_timestamp = None if value is None else int(value.timestamp())

    @property
    def client(self) -> ClientV2:
        """A b24pysdk client for REST calls on this account's portal, as this user."""
        return Client(self)

    def call_method(self, *args, **kwargs):
        """Every REST call of the SDK on this account (`client`, batches and lists too) passes here. An answer that
        says the grant or the app is gone moves the statuses, so later requests fail fast without calling Bitrix24,
        and this one ends in `AccountInactive`."""
        try:
            return super().call_method(*args, **kwargs)
        except BitrixAPIError as error:
            if not self.follow_error(error):
                raise
            raise AccountInactive() from error

    def follow_error(self, error: BitrixAPIError) -> bool:
        """Move the statuses an answer of Bitrix24 calls for (main/statuses.py): this account's, or its portal's
        installations'. Statuses an operator set stay. False when the answer says nothing about the grant or the
        app."""
        change = change_for_error(error)
        if change is None:
            return False
        now, moved = dt.datetime.now(dt.UTC), {"status": change.status, "comment": automatic_comment(change.reason)}
        if change.of_installation:
            installations = ApplicationInstallation.objects.on_portal(self.member_id)
            installations.filter(not_set_by_operator()).update(**moved, update_at_utc=now)
        else:
            accounts = Bitrix24Account.objects.filter(pk=self.pk)
            accounts.filter(not_set_by_operator()).update(**moved, updated_at_utc=now)
        return True

    def refresh_and_set_oauth_token(self, **kwargs) -> None:
        """Renew the access token with the refresh token, one process at a time per account.

        Refresh tokens are single-use: if two processes spent the same one, the second would get `invalid_grant`
        and the account would need a new placement. The row stays locked while Bitrix24 renews it; a process that
        finds the pair renewed meanwhile takes the new one instead of spending the old.
        """
        if self._state.adding:
            return super().refresh_and_set_oauth_token(**kwargs)
        with transaction.atomic():
            stored = type(self).objects.select_for_update().only(*_TOKEN_FIELDS).get(pk=self.pk)
            if stored.refresh_token != self.refresh_token:
                for name in _TOKEN_FIELDS:
                    setattr(self, name, getattr(stored, name))
                return None
            return super().refresh_and_set_oauth_token(**kwargs)  # the signal saves the new pair in this transaction

    def _save_renewed_oauth_token(self, event: OAuthTokenRenewedEvent) -> None:
        # The SDK has already put the new pair on this object; refresh tokens are single-use, so save it now.
        renewed = event.renewed_oauth_token
        self.oauth_token = renewed.oauth_token
        self.current_scope = renewed.scope
        self._save_fields(*_TOKEN_FIELDS)

    def _save_new_domain(self, event: PortalDomainChangedEvent) -> None:
        # GuardedDomainToken checked the host before the SDK changed it.
        self.domain_url = event.new_domain
        self._save_fields("domain_url")

    def _save_fields(self, *names: str) -> None:
        if not self._state.adding:
            self.save(update_fields=[*names, "updated_at_utc"])


class ApplicationInstallation(models.Model):
    """The app on a portal, recorded by the install of one of its users (the master account)."""

    id = SharedUUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=255, db_index=True, choices=AccountStatus)
    created_at_utc = UTCDateTimeField(auto_now_add=True)
    update_at_utc = UTCDateTimeField(auto_now=True)
    bitrix_24_account = models.OneToOneField(
        Bitrix24Account,
        on_delete=models.CASCADE,
        db_column="bitrix_24_account_id",
        related_name="installation",
    )
    contact_person_id = SharedUUIDField(null=True, blank=True)
    bitrix_24_partner_contact_person_id = SharedUUIDField(null=True, blank=True)
    bitrix_24_partner_id = SharedUUIDField(null=True, blank=True)
    external_id = models.CharField(max_length=255, null=True, blank=True)
    portal_license_family = models.CharField(max_length=255, db_index=True)
    portal_users_count = models.IntegerField(null=True, blank=True)
    application_token = models.CharField(max_length=255, null=True, blank=True)
    comment = models.TextField(null=True, blank=True)
    status_code = models.JSONField(null=True, blank=True)

    objects = InstallationQuerySet.as_manager()

    class Meta:
        managed = False
        db_table = "application_installation"

    def __str__(self) -> str:
        return f"installation on {self.bitrix_24_account.domain_url}"


class PlacementRenewal(models.Model):
    """An expired placement token renewed with its refresh token (this backend's own table).

    Refresh tokens are single-use. A renewal inserts its row first: a concurrent request with the same placement
    waits on that insert and then takes the account it renewed, instead of spending the refresh token again.
    """

    refresh_token_hash = models.CharField(max_length=64, primary_key=True)  # SHA-256: the token itself is not kept
    account_id = models.UUIDField(null=True)  # no foreign key: the accounts' table may be the PHP backend's
    renewed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        db_table = "bitrix24_placement_renewal"

    def __str__(self) -> str:
        return f"renewal for account {self.account_id}"
