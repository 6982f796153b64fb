"""The two tables this backend shares with the sibling PHP backend (columns: `../shared/schema.md`).

Both models are unmanaged: Django never alters these tables. Migration 0001 creates them only where they are
missing, so the backend runs beside the PHP backend's schema and on an empty database alike.
"""

from __future__ import annotations

import datetime as dt
import uuid

from b24pysdk import BitrixApp, Client
from b24pysdk.credentials import AbstractBitrixToken
from b24pysdk.events import OAuthTokenRenewedEvent, PortalDomainChangedEvent
from b24pysdk.utils.functional import classproperty
from django.db import models, transaction

from main.b24sdk import bitrix_app
from main.fields import UTCDateTimeField


class AccountStatus(models.TextChoices):
    """Lifecycle of an account and of an installation, with the values the PHP backend writes."""

    NEW = "new"
    ACTIVE = "active"
    BLOCKED = "blocked"
    DELETED = "deleted"


ACTIVE_ACCOUNT_STATUSES = (AccountStatus.NEW, AccountStatus.ACTIVE)
_TOKEN_FIELDS = ("access_token", "refresh_token", "expires_timestamp", "expires_in", "current_scope")


class Bitrix24Account(models.Model, AbstractBitrixToken):
    """A Bitrix24 user of a portal that runs the app, with the OAuth tokens that act for them.

    It is also b24pysdk's token object: the SDK's `domain`, `auth_token` and `expires` map onto the columns
    `domain_url`, `access_token` and `expires` (Unix seconds), so `account.client` calls the portal's REST API and
    renewed tokens or a moved portal domain are saved as soon as the SDK reports them.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    b24_user_id = models.IntegerField()
    is_b24_user_admin = models.BooleanField(default=False)
    member_id = models.CharField(max_length=255, db_index=True)
    is_master_account = models.BooleanField(null=True, blank=True)
    domain_url = models.CharField(max_length=255, db_index=True)
    status = models.CharField(max_length=255)
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

    @property
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
    def client(self) -> Client:
        """A b24pysdk client for REST calls on this account's portal, as this user."""
        return Client(self)

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
        self.domain_url = event.new_domain
        self._save_fields("domain_url")

    def _save_fields(self, *names: str) -> None:
        if not self._state.adding:
            self.save(update_fields=[*names, "updated_at_utc"])


class ApplicationInstallation(models.Model):
    """The app's installation on a portal, one per account that installed it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=255, db_index=True)
    created_at_utc = UTCDateTimeField(auto_now_add=True)
    update_at_utc = UTCDateTimeField(auto_now=True)
    bitrix_24_account = models.OneToOneField(
        Bitrix24Account,
        on_delete=models.CASCADE,
        db_column="bitrix_24_account_id",
        related_name="installation",
    )
    contact_person_id = models.UUIDField(null=True, blank=True)
    bitrix_24_partner_contact_person_id = models.UUIDField(null=True, blank=True)
    bitrix_24_partner_id = models.UUIDField(null=True, blank=True)
    external_id = models.CharField(max_length=255, null=True, blank=True)
    portal_license_family = models.CharField(max_length=255, db_index=True)
    portal_users_count = models.IntegerField(null=True, blank=True)
    application_token = models.CharField(max_length=255, null=True, blank=True)
    comment = models.TextField(null=True, blank=True)
    status_code = models.JSONField(null=True, blank=True)

    class Meta:
        managed = False
        db_table = "application_installation"

    def __str__(self) -> str:
        return f"installation on {self.bitrix_24_account.domain_url}"
