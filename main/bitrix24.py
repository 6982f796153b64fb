"""Calls to Bitrix24, with their failures as the app's errors (main/exceptions.py):

- `verified_app_info`: who issued an access token (`app.info` on the OAuth server), checked against the portal and
  app the caller claims. Without the three checks (member_id, domain, client_id) a valid token of one portal, or of
  another app, could claim any other account.
- `renewed_oauth`: a new token pair for a refresh token.
- `renew_account_token`: a stored account's token pair renewed and saved (the periodic renewal, main/token_renewal.py).
- `portal_answer`: a REST call on a portal (through `account.client` or `token_for(...)`).
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Protocol, TypeVar

from b24pysdk import BitrixToken
from b24pysdk.api.responses import B24AppInfoResult
from b24pysdk.credentials import OAuthToken, RenewedOAuth
from b24pysdk.errors import (
    BitrixAPIError,
    BitrixAPIExpiredToken,
    BitrixRequestError,
    BitrixRequestTimeout,
    BitrixResponseError,
)
from django.conf import settings
from django.db import connection

from main.b24sdk import VerificationToken, bitrix_app
from main.exceptions import (
    AccountInactive,
    ApiError,
    Bitrix24Refused,
    Bitrix24Timeout,
    Bitrix24Unavailable,
    PlacementRejected,
    PlacementTokenExpired,
)

if TYPE_CHECKING:
    from main.models import Bitrix24Account

T = TypeVar("T")


class Credentials(Protocol):
    """What placement data (`OAuthPlacementData`) and an event's `auth` (`EventOAuth`) both claim."""

    @property
    def domain(self) -> str: ...
    @property
    def member_id(self) -> str: ...
    @property
    def oauth_token(self) -> OAuthToken | None: ...


def _answer(call: Callable[[], T], refusal: Callable[[BitrixAPIError], ApiError]) -> T:
    """`call`'s answer from Bitrix24; an error answer becomes `refusal(error)`, any other failure 502 or 504."""
    _give_back_database_connection()
    try:
        return call()
    except BitrixRequestTimeout as error:
        raise Bitrix24Timeout() from error
    except BitrixRequestError as error:
        raise Bitrix24Unavailable() from error
    except BitrixAPIError as error:
        if error.status_code >= 500 or error.status_code == HTTPStatus.TOO_MANY_REQUESTS:  # nothing about the call
            raise Bitrix24Unavailable() from error
        raise refusal(error) from error
    except (BitrixResponseError, AttributeError, KeyError, TypeError, ValueError) as error:  # an answer of odd shape
        raise Bitrix24Unavailable() from error


def _give_back_database_connection() -> None:
    """Where connections come from a pool (gevent's workers, main/postgresql_pool/), a request does not hold one while
    it waits on Bitrix24, up to BITRIX24_TIMEOUT: a few slow calls would otherwise take every connection of the pool
    and stop requests that only need the database. Not inside a transaction, which keeps its connection (the token
    renewal's row lock), and not where connections persist per thread (closing would cost a new login)."""
    if getattr(connection, "gives_back_connections", False) and not connection.in_atomic_block:
        connection.close()


def _token_refusal(message: str) -> Callable[[BitrixAPIError], ApiError]:
    def refusal(error: BitrixAPIError) -> ApiError:
        return PlacementTokenExpired() if isinstance(error, BitrixAPIExpiredToken) else PlacementRejected(message)

    return refusal


def _limits() -> dict:
    return {"timeout": settings.BITRIX24_TIMEOUT, "max_retries": settings.BITRIX24_MAX_RETRIES}


def verified_app_info(credentials: Credentials) -> B24AppInfoResult:
    """`app.info` for the credentials' access token, once it names their portal and this app.

    `PlacementTokenExpired` for an expired token, `PlacementRejected` when Bitrix24 refuses the token or names another
    portal or app, `Bitrix24Timeout` or `Bitrix24Unavailable` when it cannot be asked.
    """
    if credentials.oauth_token is None:
        raise PlacementRejected("No access token to verify")
    app = bitrix_app()
    token = VerificationToken(
        domain=credentials.domain, auth_token=credentials.oauth_token.access_token, bitrix_app=app
    )
    app_info = _answer(
        lambda: token.get_app_info(**_limits()).result, _token_refusal("Bitrix24 rejected the access token")
    )
    # member_id and domain, compared here: b24pysdk's event check compares the host of `client_endpoint` without
    # its port, so a self-hosted portal on a port could never pass.
    install = app_info.install
    if (install.member_id, install.domain) != (credentials.member_id, credentials.domain):
        raise PlacementRejected()
    if app_info.client_id != app.client_id:
        raise PlacementRejected()
    return app_info


def renewed_oauth(refresh_token: str) -> RenewedOAuth:
    """A new token pair for a refresh token, from Bitrix24's OAuth server (which spends the refresh token).

    `PlacementRejected` when Bitrix24 refuses the refresh token.
    """
    app = bitrix_app()
    refused = _token_refusal("Bitrix24 refused the refresh token")
    return _answer(lambda: app.refresh_oauth_token(refresh_token, **_limits()), refused)


def renew_account_token(account: Bitrix24Account) -> None:
    """Renew the account's access token with its stored refresh token, under the account's refresh lock; the new
    pair is saved (`Bitrix24Account.refresh_and_set_oauth_token`).

    `AccountInactive` when Bitrix24's refusal means the grant is gone: the account's status has followed, as after
    any call (`Bitrix24Account.follow_error`). `Bitrix24Refused` for another refusal, `Bitrix24Timeout` or
    `Bitrix24Unavailable` when Bitrix24 cannot be asked.
    """

    def refusal(error: BitrixAPIError) -> ApiError:
        if account.follow_error(error):
            return AccountInactive()
        return Bitrix24Refused(f"Bitrix24 refused to renew the token: {error.error}")

    _answer(lambda: account.refresh_and_set_oauth_token(**_limits()), refusal)


def token_for(credentials: Credentials) -> BitrixToken:
    """An SDK token for calls on the credentials' portal with their (verified) access token; never renewed."""
    oauth_token = credentials.oauth_token
    if oauth_token is None:
        raise PlacementRejected("No access token to call Bitrix24 with")
    return VerificationToken(domain=credentials.domain, auth_token=oauth_token.access_token, bitrix_app=bitrix_app())


def portal_answer(call: Callable[[], T]) -> T:
    """The answer to a REST call on a portal. An answer that means the grant or the app is gone has already moved
    the statuses and ended in `AccountInactive` (`Bitrix24Account.call_method`); any other error answer is
    `Bitrix24Refused`, naming Bitrix24's error code."""
    return _answer(call, lambda error: Bitrix24Refused(f"Bitrix24 refused the call: {error.error}"))
