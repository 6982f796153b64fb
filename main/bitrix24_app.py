"""This app as b24pysdk knows it (CLIENT_ID, CLIENT_SECRET), asking `app.info` over connections kept open.

b24pysdk opens a new connection for every OAuth call. `app.info` is asked for every new placement token, while the
frontend waits: a new connection costs it a TCP and TLS handshake with Bitrix24's OAuth server, several round
trips. Here each thread keeps one session, and so one open connection, for it. A connection the server has closed
meanwhile is noticed before it is reused (urllib3 checks), and replaced.
"""

from __future__ import annotations

import functools
import threading
from http.cookiejar import DefaultCookiePolicy

import requests
from b24pysdk import BitrixApp
from b24pysdk.api.requesters import BitrixOAuthRequester
from b24pysdk.api.responses import BitrixAppInfoResponse

from config import config

_sessions = threading.local()


def _session() -> requests.Session:
    """This thread's session for the OAuth server."""
    session = getattr(_sessions, "session", None)
    if session is None:
        session = requests.Session()
        # One session serves every account: nothing the server sets may travel with another account's request.
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        _sessions.session = session
    return session


class _KeepAliveOAuthRequester(BitrixOAuthRequester):
    def _request(self, url: str, params: dict) -> requests.Response:
        return _session().get(url, params=params, headers=self._headers, timeout=self._timeout)


class KeepAliveBitrixApp(BitrixApp):
    """A `BitrixApp` whose `app.info` calls reuse the thread's open connection (token renewal does not: a refresh
    token is spent by the first request that reaches Bitrix24, so it must never be sent twice)."""

    def get_app_info(self, auth_token: str, **kwargs) -> BitrixAppInfoResponse:
        return BitrixAppInfoResponse.from_dict(_KeepAliveOAuthRequester(self, **kwargs).get_app_info(auth_token))


@functools.cache
def bitrix_app() -> KeepAliveBitrixApp:
    return KeepAliveBitrixApp(client_id=config.client_id, client_secret=config.client_secret)
