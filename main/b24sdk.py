"""Everything this backend does to b24pysdk beyond its public API, in one place: re-check it on SDK upgrades.

- `bitrix_app()`: this app as the SDK knows it (BITRIX24_CLIENT_ID, BITRIX24_CLIENT_SECRET). Its `app.info` calls
  reuse the process's open connections. The SDK opens a new connection for every OAuth call, and `app.info` is
  asked for every new placement token while the frontend waits: a new connection costs a TCP and TLS handshake
  with Bitrix24's OAuth server. One session per process, not per thread: gevent's workers serve every request in a
  green thread of its own, where a session per thread would be a new connection per request. urllib3's pool hands
  each concurrent call a connection of its own; one the server closed meanwhile is noticed before reuse and
  replaced. Token renewal keeps the SDK's own path: a refresh token is spent by the first request that reaches
  Bitrix24, so it must never be sent twice.
- `VerificationToken`: a placement's or event's token, used as it came: never renewed.
- `GuardedDomainToken`: a portal that moved answers REST calls with a redirect, which the SDK follows with the
  user's token; it may follow only to a host a placement's DOMAIN could name (main/placement_data.py).
- `use_oauth_server()`: the OAuth server's address is a class constant of the SDK; BITRIX24_OAUTH_SERVER replaces
  it (a fake Bitrix24 in tests and benchmarks).
- `keep_ports_of_redirects()`: the SDK takes a moved portal's new domain from the redirect without its port, so a
  self-hosted portal on a port would be called on 443 (and fail the host check).
"""

from __future__ import annotations

import functools
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import urlsplit

import requests
from b24pysdk import BitrixApp, BitrixToken
from b24pysdk.api.requesters import BitrixOAuthRequester
from b24pysdk.api.responses import BitrixAppInfoResponse
from b24pysdk.credentials import AbstractBitrixToken
from b24pysdk.errors import BitrixResponse302JSONDecodeError
from django.conf import settings

from main.exceptions import PortalRedirectRefused
from main.placement_data import is_portal_host


@functools.cache
def _session() -> requests.Session:
    """The process's session for the OAuth server."""
    session = requests.Session()
    # One session serves every account: nothing the server sets may travel with another account's request.
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return session


class _KeepAliveOAuthRequester(BitrixOAuthRequester):
    def _request(self, url: str, params: dict) -> requests.Response:
        return _session().get(url, params=params, headers=self._headers, timeout=self._timeout)


class KeepAliveBitrixApp(BitrixApp):
    """A `BitrixApp` whose `app.info` calls reuse the process's open connections (token renewal does not)."""

    def get_app_info(self, auth_token: str, **kwargs) -> BitrixAppInfoResponse:
        return BitrixAppInfoResponse.from_dict(_KeepAliveOAuthRequester(self, **kwargs).get_app_info(auth_token))


@functools.lru_cache(maxsize=4)
def _app(client_id: str, client_secret: str) -> KeepAliveBitrixApp:
    return KeepAliveBitrixApp(client_id=client_id, client_secret=client_secret)


def bitrix_app() -> KeepAliveBitrixApp:
    return _app(settings.BITRIX24_CLIENT_ID, settings.BITRIX24_CLIENT_SECRET)


class GuardedDomainToken(AbstractBitrixToken):
    def _check_and_change_domain(self, new_domain: str) -> bool:
        if new_domain and not is_portal_host(new_domain):
            raise PortalRedirectRefused()
        return super()._check_and_change_domain(new_domain)


class VerificationToken(GuardedDomainToken, BitrixToken):
    """A token as a placement or an event brought it: an expired one is refused, not renewed with its refresh token
    (main/placements.py renews a placement's once, under a claim that keeps concurrent requests from spending it
    twice)."""

    _AUTO_REFRESH_EXPIRED_TOKEN = False


def _redirect_host(error: BitrixResponse302JSONDecodeError) -> str | None:
    """The redirect's `host[:port]`, as a placement's DOMAIN names a portal."""
    parts = urlsplit(error.redirect_url or "")
    if not parts.hostname:
        return None
    return parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"


def keep_ports_of_redirects() -> None:
    BitrixResponse302JSONDecodeError.new_domain = property(_redirect_host)  # type: ignore[method-assign, assignment]


def use_oauth_server(base_url: str) -> None:
    """Send the SDK's OAuth calls (`app.info`, token renewal) to `base_url`."""
    # Final in the SDK: replacing them is this function's purpose.
    BitrixOAuthRequester._OAUTH_TOKEN_URL = f"{base_url}/oauth/token/"  # type: ignore[misc]
    BitrixOAuthRequester._APP_INFO_URL = f"{base_url}/rest/app.info/"  # type: ignore[misc]


def follow_oauth_server_setting(*, setting: str, value: str, **kwargs) -> None:
    """`setting_changed` receiver: `override_settings(BITRIX24_OAUTH_SERVER=...)` applies to the SDK too."""
    if setting == "BITRIX24_OAUTH_SERVER":
        use_oauth_server(value)
