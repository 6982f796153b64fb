"""The two tables this backend shares with the sibling PHP backend (columns: `../shared/schema.md`).

Both models are unmanaged: Django never alters these tables. Migration 0001 creates them only where they are
missing, so the backend runs beside the PHP backend's schema and on an empty database alike.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
import uuid
from http import HTTPStatus

import jwt
from b24pysdk import BitrixApp, BitrixToken, Client
from b24pysdk.credentials import AbstractBitrixToken, OAuthPlacementData
from b24pysdk.errors import (
    BitrixAPIError,
    BitrixRequestError,
    BitrixRequestTimeout,
    BitrixResponseError,
    BitrixValidationError,
)
from b24pysdk.events import OAuthTokenRenewedEvent, PortalDomainChangedEvent
from b24pysdk.utils.functional import classproperty
from django.core.cache import cache
from django.db import connections, models, transaction
from django.db.models.expressions import Col

from config import config
from main import bitrix24_app
from main.exceptions import (
    AccountInactive,
    Bitrix24Timeout,
    Bitrix24Unavailable,
    ExpiredJWTToken,
    InvalidJWTToken,
    PlacementRejected,
)
from main.fields import UTCDateTimeField

JWT_CLAIMS = ("account_id", "iat", "exp")


class AccountStatus(models.TextChoices):
    """Lifecycle of an account and of an installation, with the values the PHP backend writes."""

    NEW = "new"
    ACTIVE = "active"
    BLOCKED = "blocked"
    DELETED = "deleted"


ACTIVE_ACCOUNT_STATUSES = (AccountStatus.NEW, AccountStatus.ACTIVE)


def _may_act(account_status: str, installation_status: str | None) -> bool:
    """An account acts while it is new or active and its installation, if there is one, is not deleted."""
    return account_status in ACTIVE_ACCOUNT_STATUSES and installation_status != AccountStatus.DELETED


_TOKEN_FIELDS = ("access_token", "refresh_token", "expires_timestamp", "expires_in", "current_scope")
_HOLDER_LOOKUP = ("domain_url", "member_id", "access_token", "expires_timestamp")


class _VerificationToken(BitrixToken):
    """The token a placement arrived with, used only to ask `app.info` about itself.

    It is never refreshed: an expired placement token is refused, and the frontend sends a fresh one.
    """

    _AUTO_REFRESH_EXPIRED_TOKEN = False


def _verified_app_info(placement: OAuthPlacementData, bitrix_app: BitrixApp):
    """Ask Bitrix24's OAuth server who issued the placement's access token, and check that it is this placement.

    Without the three checks a valid token of one portal (or of another app) could claim any other account.
    """
    token = _VerificationToken.from_oauth_placement_data(placement, bitrix_app)
    try:
        app_info = token.get_app_info(timeout=config.bitrix24_timeout, max_retries=config.bitrix24_max_retries).result
    except BitrixRequestTimeout as error:
        raise Bitrix24Timeout() from error
    except BitrixRequestError as error:
        raise Bitrix24Unavailable() from error
    except BitrixAPIError as error:
        # A 4xx judges the token; 429 (rate limit) and 5xx say nothing about it.
        if error.status_code < 500 and error.status_code != HTTPStatus.TOO_MANY_REQUESTS:
            raise PlacementRejected("Bitrix24 rejected the access token") from error
        raise Bitrix24Unavailable() from error
    except (BitrixResponseError, AttributeError, KeyError, TypeError, ValueError) as error:  # an answer of odd shape
        raise Bitrix24Unavailable() from error

    try:
        placement.validate_against_app_info(app_info)  # member_id and domain
    except BitrixValidationError as error:
        raise PlacementRejected() from error
    if app_info.client_id != bitrix_app.client_id:
        raise PlacementRejected()
    return app_info


@functools.lru_cache(maxsize=4096)
def _verified_jwt(token: str) -> tuple[uuid.UUID, int]:
    """The account id and expiry (Unix seconds) of a JWT of ours, after checking its signature and claims.

    Memoized: a token never changes, and PyJWT's checks are most of a Bearer request's own cost, so a token seen
    again costs a lookup. Its expiry is compared on every use by the caller; refused tokens are not memoized.
    """
    try:
        claims = jwt.decode(
            token, config.jwt_secret, algorithms=[config.jwt_algorithm], options={"require": list(JWT_CLAIMS)}
        )
    except jwt.ExpiredSignatureError as error:
        raise ExpiredJWTToken() from error
    except jwt.InvalidTokenError as error:
        raise InvalidJWTToken() from error
    try:
        return uuid.UUID(claims["account_id"]), int(claims["exp"])  # PyJWT accepted exp as int(exp)
    except (TypeError, ValueError, AttributeError) as error:
        raise InvalidJWTToken() from error


# The placement path's statements, built once per database: the ORM would compile them on every request, which
# costs more than PostgreSQL takes to run them. Identifiers come from the models and are quoted; every value is a
# parameter.


@functools.cache
def _row_reader(alias: str) -> tuple[list[str], list[tuple[Col, list]]]:
    """The attribute names of `bitrix24account`'s columns, and each column with the converters that turn its raw
    value into what the ORM reads."""
    connection, fields = connections[alias], Bitrix24Account._meta.concrete_fields
    converted = []
    for field in fields:
        column = field.get_col(Bitrix24Account._meta.db_table)
        converted.append((column, [*connection.ops.get_db_converters(column), *column.get_db_converters(connection)]))
    return [f.attname for f in fields], converted


def _account_from_row(alias: str, row: tuple) -> Bitrix24Account:
    """The account in a row of all its columns (in the model's order), as the ORM would have read it."""
    connection = connections[alias]
    attnames, converted = _row_reader(alias)
    values = []
    for (column, converters), value in zip(converted, row, strict=True):
        for convert in converters:
            value = convert(value, column, connection)
        values.append(value)
    return Bitrix24Account.from_db(alias, attnames, values)


@functools.cache
def _holder_sql(alias: str) -> str:
    """`Bitrix24Account._holding_verified_token`'s statement: the account's columns, then the installation's status."""
    meta, quote = Bitrix24Account._meta, connections[alias].ops.quote_name
    table, installations = quote(meta.db_table), quote(ApplicationInstallation._meta.db_table)
    columns = ", ".join(f"{table}.{quote(f.column)}" for f in meta.concrete_fields)
    domain, member, token, expires = (quote(meta.get_field(name).column) for name in _HOLDER_LOOKUP)
    return (
        f"SELECT {columns}, {installations}.{quote('status')} FROM {table} "  # noqa: S608
        f"LEFT JOIN {installations} ON {installations}.{quote('bitrix_24_account_id')} = {table}.{quote('id')} "
        f"WHERE {table}.{domain} = %s AND {table}.{member} = %s AND {table}.{token} = %s AND {table}.{expires} > %s "
        "LIMIT 1"  # an access token belongs to one user of one portal
    )


@functools.cache
def _upsert_sql(alias: str, inserted: tuple[str, ...], updated: tuple[str, ...]) -> str:
    """`Bitrix24Account._upsert_unless_inactive`'s statement."""
    meta, quote = Bitrix24Account._meta, connections[alias].ops.quote_name
    table, status = quote(meta.db_table), quote("status")
    installations = quote(ApplicationInstallation._meta.db_table)
    columns = ", ".join(quote(meta.get_field(name).column) for name in inserted)
    assignments = ", ".join(
        f"{quote(column)} = EXCLUDED.{quote(column)}" for column in (meta.get_field(name).column for name in updated)
    )
    returning = ", ".join(quote(f.column) for f in meta.concrete_fields)
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(inserted))}) "  # noqa: S608
        f"ON CONFLICT ({quote('b24_user_id')}, {quote('domain_url')}) DO UPDATE SET {assignments} "
        f"WHERE {table}.{status} IN (%s, %s) AND NOT EXISTS (SELECT 1 FROM {installations} "
        f"WHERE {quote('bitrix_24_account_id')} = {table}.{quote('id')} AND {installations}.{status} = %s) "
        f"RETURNING {returning}"
    )


def _access_key(account_id: uuid.UUID) -> str:
    return f"account-access:{account_id}"


class _RecentAccounts:
    """The accounts this process checked since it last renewed their cached access answers.

    Cached one by one, each answer would expire on its own and cost a query when next used: with many active
    accounts spread over several workers, that is a large share of requests. Renewed together, a busy process
    asks the database once per ACCESS_CHECK_SECONDS, and no answer gets older than that.
    """

    def __init__(self) -> None:
        self._used: set[uuid.UUID] = set()
        self._renewed_at = time.monotonic()

    def due(self) -> bool:
        return config.access_check_seconds > 0 and time.monotonic() - self._renewed_at >= config.access_check_seconds

    def take(self) -> set[uuid.UUID]:
        """The accounts to renew now; the next period starts empty."""
        self._renewed_at = time.monotonic()
        used, self._used = self._used, set()
        return used

    def add(self, account_id: uuid.UUID) -> None:
        self._used.add(account_id)


_recent_accounts = _RecentAccounts()


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
        return bitrix24_app.bitrix_app()

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

    # --- JWTs of this backend ---------------------------------------------------------------------------

    def create_jwt_token(self, minutes: int | None = None) -> str:
        """A JWT that stands for this account for `minutes` (default JWT_LIFETIME_MINUTES, 60)."""
        return self.jwt_for(self.pk, minutes)

    @staticmethod
    def jwt_for(account_id: uuid.UUID, minutes: int | None = None) -> str:
        """`create_jwt_token` for an account known only by its id (its row is not needed)."""
        now = dt.datetime.now(dt.UTC)
        lifetime = dt.timedelta(minutes=config.jwt_lifetime_minutes if minutes is None else minutes)
        claims = {"account_id": str(account_id), "iat": now, "exp": now + lifetime}
        return jwt.encode(claims, config.jwt_secret, algorithm=config.jwt_algorithm)

    @classmethod
    def get_from_jwt_token(cls, token: str) -> Bitrix24Account:
        """The account a JWT of ours stands for; `InvalidJWTToken`, `ExpiredJWTToken` or `AccountInactive` otherwise."""
        return cls.load(cls.account_id_from_jwt_token(token))

    @classmethod
    def load(cls, account_id: uuid.UUID) -> Bitrix24Account:
        account = cls.objects.filter(pk=account_id).first()
        if account is None:
            raise InvalidJWTToken()
        return account

    @classmethod
    def account_id_from_jwt_token(cls, token: str) -> uuid.UUID:
        """Check a JWT of ours and that its account may still act; the database is asked only every few seconds."""
        account_id, expires = _verified_jwt(token)
        if time.time() >= expires:  # PyJWT's rule: valid while now < exp
            raise ExpiredJWTToken()
        cls.check_access(account_id)
        return account_id

    # --- Revocation ------------------------------------------------------------------------------------

    @classmethod
    def check_access(cls, account_id: uuid.UUID) -> None:
        """Raise unless the account exists, is new or active, and its installation (if any) is not deleted.

        The answer is cached for ACCESS_CHECK_SECONDS per process: a JWT costs no query on most requests, and an
        account that is blocked, deleted or uninstalled loses access within that time. The answers of all accounts
        used lately are renewed together (`_recent_accounts`), so that they do not expire one by one.
        """
        if _recent_accounts.due():
            cls._read_access(_recent_accounts.take())
        access = cache.get(_access_key(account_id))
        if access is None:
            access = cls._read_access({account_id})[_access_key(account_id)]
        _recent_accounts.add(account_id)
        if access == "unknown":
            raise InvalidJWTToken()
        if access == "inactive":
            raise AccountInactive()

    @classmethod
    def _read_access(cls, account_ids: set[uuid.UUID]) -> dict[str, str]:
        """Read the accounts' access and cache it until ACCESS_CHECK_SECONDS after the reading began."""
        began = time.monotonic()
        access = cls._access_in_database(account_ids)
        cache.set_many(access, max(config.access_check_seconds - (time.monotonic() - began), 0))
        return access

    @classmethod
    def _access_in_database(cls, account_ids: set[uuid.UUID]) -> dict[str, str]:
        """Cache key -> "active", "inactive" or "unknown" (no such account), read in one query."""
        rows = cls.objects.filter(pk__in=account_ids).values_list("pk", "status", "installation__status")
        access = {_access_key(account_id): "unknown" for account_id in account_ids}
        for account_id, status, installation_status in rows:
            access[_access_key(account_id)] = "active" if _may_act(status, installation_status) else "inactive"
        return access

    # --- Placement data from Bitrix24 -------------------------------------------------------------------

    @classmethod
    def update_or_create_from_oauth_placement_data(cls, placement: OAuthPlacementData) -> Bitrix24Account:
        """Verify placement data with Bitrix24 (`app.info`) and save the account it proves.

        An access token that Bitrix24 already confirmed for this portal (it is stored on an account and has not
        expired) is not asked about again. Raises `PlacementRejected` (nothing written) when Bitrix24 rejects the
        token or its answer does not match the placement, `AccountInactive` for a blocked, deleted or uninstalled
        account, and `Bitrix24Timeout` or `Bitrix24Unavailable` when Bitrix24 cannot be asked.
        """
        oauth_token = placement.oauth_token
        known = cls._holding_verified_token(placement)
        if known is not None:
            account, installation_status = known
            if not _may_act(account.status, installation_status):
                raise AccountInactive()
            return account

        app_info = _verified_app_info(placement, cls.bitrix_app)
        verified = {
            "member_id": placement.member_id,
            "access_token": oauth_token.access_token,
            "refresh_token": oauth_token.refresh_token,
            "expires_timestamp": int(app_info.expires.timestamp()),
            "expires_in": oauth_token.expires_in,
            "current_scope": app_info.scope,
            "application_version": app_info.install.version,
        }
        account = cls._upsert_unless_inactive(
            {"domain_url": placement.domain, "b24_user_id": app_info.user_id}, verified
        )
        if account is None:
            raise AccountInactive()
        return account

    @classmethod
    def _upsert_unless_inactive(cls, lookup: dict, verified: dict) -> Bitrix24Account | None:
        """Create the account, or update its row unless it is blocked, deleted or uninstalled (then `None`).

        One statement, `INSERT ... ON CONFLICT DO UPDATE ... WHERE ... RETURNING` (PostgreSQL and SQLite): a
        placement's first call waits on it, and concurrent first calls for one account cannot collide.
        """
        now = dt.datetime.now(dt.UTC)
        created = {
            "id": uuid.uuid4(),
            **lookup,
            **verified,
            "status": AccountStatus.ACTIVE,
            "is_b24_user_admin": False,
            "created_at_utc": now,
            "updated_at_utc": now,
        }
        alias = cls.objects.db
        connection = connections[alias]
        params = [cls._meta.get_field(name).get_db_prep_save(value, connection) for name, value in created.items()]
        params += [*ACTIVE_ACCOUNT_STATUSES, AccountStatus.DELETED]
        with connection.cursor() as cursor:
            cursor.execute(_upsert_sql(alias, tuple(created), (*verified, "updated_at_utc")), params)
            row = cursor.fetchone()
        return None if row is None else _account_from_row(alias, row)

    @classmethod
    def _holding_verified_token(cls, placement: OAuthPlacementData) -> tuple[Bitrix24Account, str | None] | None:
        """The account already holding this access token, which `app.info` confirmed for this portal and app, and
        its installation's status (None without one): the row answers whether it may act, without another query.
        """
        alias = cls.objects.db
        params = [  # in the order of _HOLDER_LOOKUP
            placement.domain,
            placement.member_id,
            placement.oauth_token.access_token,
            int(dt.datetime.now(dt.UTC).timestamp()),
        ]
        with connections[alias].cursor() as cursor:
            cursor.execute(_holder_sql(alias), params)
            row = cursor.fetchone()
        return None if row is None else (_account_from_row(alias, row[:-1]), row[-1])


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
