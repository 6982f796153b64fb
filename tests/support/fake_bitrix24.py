"""A fake Bitrix24 for tests: the OAuth server (`app.info`, token refresh) and portals' REST API.

The backend and b24pysdk run unchanged; `responses` intercepts their HTTP requests at the transport level and
answers them from this object's state, the way Bitrix24 answers (see `../shared/bitrix24-protocol.md`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import responses

OAUTH_SERVER = "https://oauth.bitrix24.tech"
CLIENT_ID = "local.test-app.123456"
CLIENT_SECRET = "test-client-secret-0123456789abcdef"


@dataclass
class Portal:
    domain: str
    member_id: str


PORTAL_A = Portal("portal-a.bitrix24.com", "member-a-0000000000000000000000000001")
PORTAL_B = Portal("portal-b.bitrix24.com", "member-b-0000000000000000000000000002")


@dataclass
class Grant:
    """An access token Bitrix24 issued, and what `app.info` tells about it."""

    portal: Portal
    user_id: int
    client_id: str = CLIENT_ID
    access_token: str = field(default_factory=lambda: "at-" + secrets.token_hex(16))
    refresh_token: str = field(default_factory=lambda: "rt-" + secrets.token_hex(16))
    expired: bool = False
    expires: int | None = None  # Unix seconds, for tokens issued by a refresh


def _time_section() -> dict:
    now = dt.datetime.now(dt.UTC).isoformat()
    return {"start": 0.0, "finish": 0.01, "duration": 0.01, "processing": 0.0, "date_start": now, "date_finish": now}


class FakeBitrix24:
    def __init__(self) -> None:
        self.grants: dict[str, Grant] = {}
        self.requests: list[tuple[str, str]] = []  # (method, URL path) of every request received
        self.rest_results: dict[str, object] = {}
        self.moved_domains: dict[str, str] = {}  # old portal domain -> new one

    def move_portal(self, portal: Portal, new_domain: str) -> Portal:
        """The portal gets a new domain: its tokens work there, and REST calls to the old one answer 302."""
        moved = Portal(new_domain, portal.member_id)
        self.moved_domains[portal.domain] = new_domain
        for grant in self.grants.values():
            if grant.portal == portal:
                grant.portal = moved
        return moved

    def grant(self, portal: Portal = PORTAL_A, user_id: int = 1, **kwargs) -> Grant:
        grant = Grant(portal=portal, user_id=user_id, **kwargs)
        self.grants[grant.access_token] = grant
        return grant

    def placement(self, grant: Grant, **overrides) -> dict:
        """The JSON body the frontend posts to getToken for this grant."""
        payload = {
            "DOMAIN": grant.portal.domain,
            "PROTOCOL": 1,
            "LANG": "en",
            "APP_SID": "app-sid-" + secrets.token_hex(4),
            "AUTH_ID": grant.access_token,
            "AUTH_EXPIRES": 3600,
            "REFRESH_ID": grant.refresh_token,
            "REFRESH_TOKEN": grant.refresh_token,
            "member_id": grant.portal.member_id,
            "user_id": grant.user_id,
            "status": "L",
        }
        payload.update(overrides)
        return {k: v for k, v in payload.items() if v is not None}

    def calls_to(self, path: str) -> int:
        return sum(1 for _, p in self.requests if p == path)

    # --- answers ---------------------------------------------------------------------------------

    def answer(self, method: str, url: str, body: bytes | None) -> tuple[int, dict]:
        parts = urlsplit(url)
        self.requests.append((method, parts.path))
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.netloc == urlsplit(OAUTH_SERVER).netloc:
            if parts.path == "/rest/app.info/":
                return self._app_info(query.get("auth", ""))
            if parts.path == "/oauth/token/":
                return self._refresh(query)
            return 404, {"error": "NOT_FOUND"}
        match = re.fullmatch(r"/rest/(.+)\.json", parts.path)
        if match is None:
            return 404, {"error": "NOT_FOUND"}
        payload = json.loads(body or b"{}")
        return self._rest(parts.netloc, match.group(1), payload.get("auth", ""))

    def _app_info(self, access_token: str) -> tuple[int, dict]:
        grant = self.grants.get(access_token)
        if grant is None:
            return 401, {"error": "invalid_token", "error_description": "The access token provided is invalid."}
        if grant.expired:
            return 401, {"error": "expired_token", "error_description": "The access token provided has expired."}
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        result = {
            "client_id": grant.client_id,
            "scope": "crm,user",
            "expires": expires.isoformat(),
            "user_id": grant.user_id,
            "install": {
                "installed": True,
                "version": 3,
                "status": "L",
                "scope": "crm,user",
                "domain": grant.portal.domain,
                "uri": f"https://{grant.portal.domain}",
                "client_endpoint": f"https://{grant.portal.domain}/rest/",
                "member_id": grant.portal.member_id,
                "member_type": "PORTAL",
            },
        }
        return 200, {"result": result, "time": _time_section()}

    def _refresh(self, query: dict) -> tuple[int, dict]:
        old = next((g for g in self.grants.values() if g.refresh_token == query.get("refresh_token")), None)
        if old is None or query.get("client_secret") != CLIENT_SECRET or query.get("client_id") != old.client_id:
            return 400, {"error": "invalid_grant", "error_description": "Invalid refresh token"}
        del self.grants[old.access_token]  # refresh tokens are single-use
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        new = self.grant(old.portal, old.user_id, client_id=old.client_id, expires=int(expires.timestamp()))
        return 200, {
            "access_token": new.access_token,
            "refresh_token": new.refresh_token,
            "expires": new.expires,
            "expires_in": 3600,
            "scope": "crm,user",
            "domain": "oauth.bitrix24.tech",
            "member_id": old.portal.member_id,
            "user_id": old.user_id,
            "status": "L",
            "client_endpoint": f"https://{old.portal.domain}/rest/",
            "server_endpoint": f"{OAUTH_SERVER}/rest/",
        }

    def _rest(self, host: str, method: str, access_token: str) -> tuple[int, dict]:
        grant = self.grants.get(access_token)
        if grant is None or grant.portal.domain != host:
            return 401, {"error": "invalid_token", "error_description": "Unable to authorize"}
        if grant.expired:
            return 401, {"error": "expired_token", "error_description": "The access token provided has expired."}
        return 200, {"result": self.rest_results.get(method, {}), "time": _time_section()}

    # --- transport ------------------------------------------------------------------------------

    def _callback(self, request) -> tuple[int, dict, str]:
        parts = urlsplit(request.url)
        if parts.netloc in self.moved_domains:  # Bitrix24 redirects a moved portal's old domain, with an HTML body
            self.requests.append((request.method, parts.path))
            location = parts._replace(netloc=self.moved_domains[parts.netloc]).geturl()
            return 302, {"Location": location, "Content-Type": "text/html"}, "<html>Moved</html>"
        status, payload = self.answer(request.method, request.url, request.body)
        return status, {"Content-Type": "application/json"}, json.dumps(payload)

    def install(self, mock: responses.RequestsMock) -> None:
        """Answer every HTTPS request from this fake (nothing reaches the network)."""
        for method in (responses.GET, responses.POST):
            mock.add_callback(method, re.compile(r"https://.*"), callback=self._callback)
