"""A fake Bitrix24 for tests: the OAuth server (`app.info`, token refresh) and portals' REST API.

The backend and b24pysdk run unchanged; `responses` intercepts their HTTP requests at the transport level and
answers them from this object's state, the way Bitrix24 answers (see `../shared/bitrix24-protocol.md`).
tests/support/fake_bitrix24_server.py serves the same answers (`respond`) over real HTTP or HTTPS.
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
    refresh_token: str | None = field(default_factory=lambda: "rt-" + secrets.token_hex(16))
    expired: bool = False
    expires: int | None = None  # Unix seconds, for tokens issued by a refresh


def _time_section() -> dict:
    now = dt.datetime.now(dt.UTC).isoformat()
    return {"start": 0.0, "finish": 0.01, "duration": 0.01, "processing": 0.0, "date_start": now, "date_finish": now}


@dataclass(frozen=True)
class RestError:
    """An error answer of the portal's REST API."""

    status: int
    error: str
    description: str

    def body(self) -> dict:
        return {"error": self.error, "error_description": self.description}


PAYMENT_REQUIRED = RestError(402, "PAYMENT_REQUIRED", "Subscription has been ended")
NOT_INSTALLED = RestError(401, "NO_AUTH_FOUND", "Application not installed")
NO_ACCESS = RestError(401, "INVALID_CREDENTIALS", "The user does not have access to the application.")
ACCESS_DENIED = RestError(403, "ACCESS_DENIED", "Access denied!")
ALREADY_BOUND = RestError(400, "ERROR_CORE", "Handler already binded")
LIFECYCLE_EVENTS = ("ONAPPINSTALL", "ONAPPUNINSTALL")


class FakeBitrix24:
    def __init__(self) -> None:
        self.grants: dict[str, Grant] = {}
        self.requests: list[tuple[str, str]] = []  # (method, URL path) of every request received
        self.rest_results: dict[str, object] = {}
        self.moved_domains: dict[str, str] = {}  # old portal domain -> new one
        self.bindings: dict[str, set[tuple[str, str]]] = {}  # member_id -> (event, handler) bound with event.bind
        self.admins: set[tuple[str, int]] = set()  # (member_id, user_id) of portal administrators
        # Portal domain -> what every REST call on the portal gets: an error answer, or an exception of `requests`
        # (a timeout, a refused connection) raised where the HTTP request would be sent.
        self.failing_rest_calls: dict[str, RestError | Exception] = {}
        self.command_errors: dict[str, RestError] = {}  # REST method -> the error it answers, on every portal
        self.application_tokens: dict[str, str] = {}  # member_id -> the app's token, sent with every event

    def grant_behind(self, account) -> Grant:
        """The grant whose tokens an account row that a test wrote itself holds (`Bitrix24Account`)."""
        portal = Portal(account.domain_url, account.member_id)
        grant = Grant(
            portal, account.b24_user_id, access_token=account.access_token, refresh_token=account.refresh_token
        )
        self.grants[grant.access_token] = grant
        return grant

    def live_grant(self, user_id: int | None = None) -> Grant:
        """The one grant (of `user_id`) whose tokens still work; fails unless there is exactly one."""
        (grant,) = (g for g in self.grants.values() if not g.expired and user_id in (None, g.user_id))
        return grant

    def make_admin(self, grant: Grant) -> Grant:
        self.admins.add((grant.portal.member_id, grant.user_id))
        return grant

    def bound(self, portal: Portal) -> set[tuple[str, str]]:
        return self.bindings.get(portal.member_id, set())

    def event(self, name: str, portal: Portal, grant: Grant | None = None, **overrides: str) -> dict[str, str]:
        """The form fields Bitrix24 POSTs to an event handler: with `grant`, the user's tokens as ONAPPINSTALL has
        them; ONAPPUNINSTALL has only the application token."""
        token = self.application_tokens.setdefault(portal.member_id, "apptoken-" + secrets.token_hex(16))
        fields = {
            "event": name,
            "event_handler_id": "17",
            "ts": str(int(dt.datetime.now(dt.UTC).timestamp())),
            "data[LANGUAGE_ID]": "en",
            "auth[domain]": portal.domain,
            "auth[client_endpoint]": f"https://{portal.domain}/rest/",
            "auth[server_endpoint]": f"{OAUTH_SERVER}/rest/",
            "auth[member_id]": portal.member_id,
            "auth[status]": "L",
            "auth[application_token]": token,
        }
        if name == "ONAPPUNINSTALL":
            fields["data[CLEAN]"] = "0"
        else:
            fields.update({"data[VERSION]": "3", "data[ACTIVE]": "Y", "data[INSTALLED]": "Y"})
        if grant is not None:
            fields.update(
                {
                    "auth[access_token]": grant.access_token,
                    "auth[refresh_token]": grant.refresh_token,
                    "auth[expires]": str(int(dt.datetime.now(dt.UTC).timestamp()) + 3600),
                    "auth[expires_in]": "3600",
                    "auth[scope]": "crm,user",
                    "auth[user_id]": str(grant.user_id),
                }
            )
        fields.update(overrides)
        return fields

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
        return self._rest(parts.netloc, match.group(1), payload)

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
        old.refresh_token, old.expired = None, True  # refresh tokens are single-use; the old access token is done
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

    def _rest(self, host: str, method: str, payload: dict) -> tuple[int, dict]:
        grant = self.grants.get(payload.pop("auth", ""))
        if grant is None or grant.portal.domain != host:
            return 401, {"error": "invalid_token", "error_description": "Unable to authorize"}
        if grant.expired:
            return 401, {"error": "expired_token", "error_description": "The access token provided has expired."}
        error = self.failing_rest_calls.get(host)
        if isinstance(error, RestError):
            return error.status, error.body()
        if method == "batch":
            return 200, {"result": self._batch(grant, payload.get("cmd", {})), "time": _time_section()}
        outcome = self._command(grant, method, payload)
        if isinstance(outcome, RestError):
            return outcome.status, outcome.body()
        return 200, {"result": outcome, "time": _time_section()}

    def _batch(self, grant: Grant, commands: dict[str, str]) -> dict:
        results, errors = {}, {}
        for key, command in commands.items():
            method, _, query = command.partition("?")
            outcome = self._command(grant, method, {k: v[0] for k, v in parse_qs(query).items()})
            if isinstance(outcome, RestError):
                errors[key] = outcome.body()
            else:
                results[key] = outcome
        # Bitrix24 is PHP: an empty map is sent as an empty list.
        return {
            "result": results,
            "result_error": errors or [],
            "result_total": [],
            "result_next": [],
            "result_time": {},
        }

    def _command(self, grant: Grant, method: str, params: dict) -> object:
        if method in self.command_errors:
            return self.command_errors[method]
        if method in self.rest_results:
            return self.rest_results[method]
        member_id = grant.portal.member_id
        is_admin = (member_id, grant.user_id) in self.admins
        if method == "user.admin":
            return is_admin
        if method == "profile":
            return {"ID": str(grant.user_id), "ADMIN": is_admin, "NAME": "Test", "LAST_NAME": f"User {grant.user_id}"}
        if method == "event.bind":
            if not is_admin:
                return ACCESS_DENIED
            binding = (params.get("event", "").upper(), params.get("handler", ""))
            if binding in self.bound(grant.portal):
                return ALREADY_BOUND
            self.bindings.setdefault(member_id, set()).add(binding)
            return True
        return {}

    # --- transport ------------------------------------------------------------------------------

    def respond(self, method: str, url: str, body: bytes | None) -> tuple[int, dict[str, str], str]:
        """The HTTP answer (status, headers, body) to a request, for every transport (`install`'s `responses` and
        tests/support/fake_bitrix24_server.py): a moved portal's old domain redirects, anything else is `answer`."""
        parts = urlsplit(url)
        if parts.netloc in self.moved_domains:  # Bitrix24 redirects a moved portal's old domain, with an HTML body
            self.requests.append((method, parts.path))
            location = parts._replace(netloc=self.moved_domains[parts.netloc]).geturl()
            return 302, {"Location": location, "Content-Type": "text/html"}, "<html>Moved</html>"
        status, payload = self.answer(method, url, body)
        return status, {"Content-Type": "application/json"}, json.dumps(payload)

    def _callback(self, request) -> tuple[int, dict[str, str], str]:
        failure = self.failing_rest_calls.get(urlsplit(request.url).netloc)
        if isinstance(failure, Exception):
            raise failure
        return self.respond(request.method, request.url, request.body)

    def install(self, mock: responses.RequestsMock) -> None:
        """Answer every HTTPS request from this fake (nothing reaches the network)."""
        for method in (responses.GET, responses.POST):
            mock.add_callback(method, re.compile(r"https://.*"), callback=self._callback)
