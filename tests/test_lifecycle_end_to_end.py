"""The app's whole life on a portal, end to end: install with event binding, ONAPPINSTALL, Bearer calls,
an expired placement renewed, a moved portal, ONAPPUNINSTALL, refused, reinstall, allowed again.

The backend runs in this process on PostgreSQL; b24pysdk's own HTTP code talks real TLS to a fake Bitrix24
(tests/support/fake_bitrix24_server.py) on 127.0.0.1, whose certificate `requests` checks against a test CA
(REQUESTS_CA_BUNDLE), as it checks Bitrix24's in production. The OAuth server is the fake's own address
(BITRIX24_OAUTH_SERVER); cloud portals (`*.bitrix24.com`) reach it through its CONNECT tunnel (HTTPS_PROXY), and a
self-hosted portal on a port reaches it directly (BITRIX24_EXTRA_PORTAL_HOSTS lists it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.test import Client

from main.jwts import verify_jwt
from main.models import ApplicationInstallation, Bitrix24Account
from tests.support.fake_bitrix24 import LIFECYCLE_EVENTS, PORTAL_A, Portal
from tests.support.fake_bitrix24_server import FakeBitrix24Server
from tests.support.invariants import INACTIVE, assert_json_error, assert_refused, rows
from tests.support.test_ca import TestCA

pytestmark = pytest.mark.django_db

APP_INFO, TOKEN, BATCH, PROFILE = "/rest/app.info/", "/oauth/token/", "/rest/batch.json", "/rest/profile.json"
SELF_HOSTED_MEMBER_ID = "member-sh-0000000000000000000000000009"


@pytest.fixture(scope="module")
def ca() -> Iterator[TestCA]:
    authority = TestCA()
    yield authority
    authority.remove()


@pytest.fixture(scope="module")
def ca_bundle(ca) -> Path:
    return ca.bundle


@pytest.fixture
def bitrix24(ca, ca_bundle, settings, monkeypatch) -> Iterator[FakeBitrix24Server]:
    """A fake Bitrix24 over HTTPS that the backend reaches as it reaches Bitrix24: every certificate checked."""
    with FakeBitrix24Server(ca=ca) as server:
        # Read by `requests` on every request, the process-wide session of main/b24sdk.py included; its connection
        # pools are keyed by host, port and CA, so nothing opened before this test (another port) is reused.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_bundle))
        # Lower case, which wins over upper case: cloud portals through the tunnel, the loopback directly.
        monkeypatch.setenv("https_proxy", server.proxy_url)
        monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
        settings.BITRIX24_OAUTH_SERVER = server.url  # main/b24sdk.py re-points the SDK (setting_changed)
        settings.BITRIX24_EXTRA_PORTAL_HOSTS = [server.portal_host]
        settings.ACCESS_CHECK_SECONDS = 0  # an uninstall refuses the very next Bearer call
        yield server


def _post(client: Client, path: str, data: dict, **headers: str) -> HttpResponse:
    return client.post(path, data, content_type="application/json", **headers)


def _event(client: Client, fields: dict[str, str]) -> HttpResponse:
    return client.post("/api/app-events", fields)  # form-encoded, as Bitrix24 posts them


def _jwt(client: Client, placement: dict) -> str:
    response = _post(client, "/api/getToken", placement)
    assert response.status_code == 200, response.content
    return response.json()["token"]


def _bearer(jwt: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {jwt}"}


def _profile_id(client: Client, jwt: str) -> str:
    """The Bitrix24 user id `/api/me` read from the portal."""
    response = client.get("/api/me", **_bearer(jwt))
    assert response.status_code == 200, response.content
    return response.json()["ID"]


def _processed(response: HttpResponse) -> None:
    assert (response.status_code, response.json()) == (200, {"status": "processed"})


def _account(member_id: str, user_id: int) -> Bitrix24Account:
    return Bitrix24Account.objects.get(member_id=member_id, b24_user_id=user_id)


def test_the_apps_whole_life_on_a_portal(client, bitrix24, settings):
    fake = bitrix24.fake
    admin = fake.make_admin(fake.grant(PORTAL_A, user_id=1))

    # 1. The portal's admin installs with placement data: both lifecycle events bound in one batch call.
    response = _post(client, "/api/install", fake.placement(admin))
    assert (response.status_code, response.json()) == (200, {"message": "Installation successful"})
    assert fake.bound(PORTAL_A) == {(event, settings.APP_EVENTS_URL) for event in LIFECYCLE_EVENTS}
    assert fake.calls_to(BATCH) == 1
    master = _account(PORTAL_A.member_id, 1)
    assert (master.is_master_account, master.is_b24_user_admin, master.status) == (True, True, "active")
    installation = ApplicationInstallation.objects.get()
    assert (installation.bitrix_24_account_id, installation.status) == (master.pk, "new")
    assert installation.application_token is None

    # 2. Bitrix24 confirms with ONAPPINSTALL: the installation is active and holds the application token.
    _processed(_event(client, fake.event("ONAPPINSTALL", PORTAL_A, admin)))
    application_token = fake.application_tokens[PORTAL_A.member_id]
    installation.refresh_from_db()
    assert (installation.status, installation.application_token) == ("active", application_token)
    assert _account(PORTAL_A.member_id, 1).application_token == application_token

    # 3. A forged ONAPPUNINSTALL (not the portal's application token) changes nothing.
    forged = fake.event("ONAPPUNINSTALL", PORTAL_A, **{"auth[application_token]": "apptoken-forged-0000000000"})
    before = rows()
    assert_refused(_event(client, forged), before, 401, [application_token])

    # 4. A user of the portal gets a JWT with placement data; Bearer calls work, /api/me asks the portal.
    jwt = _jwt(client, fake.placement(fake.grant(PORTAL_A, user_id=2)))
    assert client.get("/api/list", **_bearer(jwt)).json() == ["element 1", "element 2", "element 3"]
    assert _profile_id(client, jwt) == "2"
    assert fake.calls_to(PROFILE) == 1

    # 5. Placement data whose AUTH_ID expired and whose REFRESH_ID is valid: renewed once, and a JWT.
    expired = fake.grant(PORTAL_A, user_id=3, expired=True)
    renewed_jwt = _jwt(client, fake.placement(expired))
    assert fake.calls_to(TOKEN) == 1
    renewed = Bitrix24Account.objects.get(pk=verify_jwt(renewed_jwt).account_id)
    assert renewed.b24_user_id == 3
    assert renewed.refresh_token == fake.grants[renewed.access_token].refresh_token != expired.refresh_token
    assert _profile_id(client, renewed_jwt) == "3"  # the renewed token is the one the portal gets

    # 6. The portal moves (same member_id). User 2's row still names the old address: the REST call follows
    #    Bitrix24's redirect and the row follows the portal. The next placement keeps the admin's row.
    moved = fake.move_portal(PORTAL_A, "portal-a-renamed.bitrix24.com")
    assert _profile_id(client, jwt) == "2"
    assert fake.calls_to(PROFILE) == 4  # step 4, step 5, then the redirected call and the one at the new address
    assert _account(PORTAL_A.member_id, 2).domain_url == moved.domain
    assert verify_jwt(_jwt(client, fake.placement(fake.grant(moved, user_id=1)))).account_id == master.pk
    assert sorted(Bitrix24Account.objects.values_list("b24_user_id", "domain_url")) == [
        (1, moved.domain),
        (2, moved.domain),
        (3, moved.domain),
    ]

    # 7. ONAPPUNINSTALL with the stored application token: the installation is deleted, and the portal's users are
    #    refused at once, Bearer calls without asking Bitrix24.
    _processed(_event(client, fake.event("ONAPPUNINSTALL", moved)))
    assert ApplicationInstallation.objects.get().status == "deleted"
    assert set(Bitrix24Account.objects.values_list("status", flat=True)) == {"deleted"}
    asked = len(fake.requests)
    for path in ("/api/list", "/api/me"):
        assert assert_json_error(client.get(path, **_bearer(jwt)), 403) == INACTIVE
    assert len(fake.requests) == asked
    before = rows()
    refused = _post(client, "/api/getToken", fake.placement(fake.grant(moved, user_id=2)))
    assert assert_refused(refused, before, 403) == INACTIVE

    # 8. The admin reinstalls with fresh placement data: the installation is back as new (the events were still
    #    bound, which counts as bound), and Bitrix24's ONAPPINSTALL, with a new application token, activates it.
    reinstaller = fake.grant(moved, user_id=1)
    response = _post(client, "/api/install", fake.placement(reinstaller))
    assert (response.status_code, response.json()) == (200, {"message": "Installation successful"})
    assert fake.calls_to(BATCH) == 2
    assert fake.bound(moved) == {(event, settings.APP_EVENTS_URL) for event in LIFECYCLE_EVENTS}
    assert ApplicationInstallation.objects.get().status == "new"
    del fake.application_tokens[moved.member_id]  # `fake.event` makes a new one
    _processed(_event(client, fake.event("ONAPPINSTALL", moved, reinstaller)))
    installation.refresh_from_db()
    assert installation.status == "active"
    assert installation.application_token == fake.application_tokens[moved.member_id] != application_token

    # 9. The portal's users are allowed again: new JWTs, and the ones they held.
    assert _profile_id(client, _jwt(client, fake.placement(fake.grant(moved, user_id=2)))) == "2"
    assert client.get("/api/list", **_bearer(renewed_jwt)).status_code == 200
    # The first installation's application token uninstalls nothing any more.
    replayed = fake.event("ONAPPUNINSTALL", moved, **{"auth[application_token]": application_token})
    before = rows()
    assert_refused(_event(client, replayed), before, 401)


# --- Focused: the TLS itself, and self-hosted portals on a port --------------------------------------------------


def test_a_bitrix24_whose_certificate_is_not_trusted_is_not_talked_to(client, bitrix24, ca_bundle, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    placement = bitrix24.fake.placement(bitrix24.fake.grant(PORTAL_A))
    before = rows()

    response = _post(client, "/api/getToken", placement)

    assert_refused(response, before, 502, [placement["AUTH_ID"], placement["REFRESH_ID"]])
    assert bitrix24.fake.requests == []  # the handshake failed: no request was sent
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_bundle))
    assert _jwt(client, placement)  # the same placement, once the test CA is trusted


@pytest.fixture
def self_hosted(bitrix24) -> Portal:
    """A self-hosted portal on the fake's port (`localhost:<port>`), which the operator listed."""
    return Portal(bitrix24.portal_host, SELF_HOSTED_MEMBER_ID)


def test_a_self_hosted_portal_on_a_port_is_installed_and_called_over_tls(client, bitrix24, self_hosted):
    fake = bitrix24.fake
    admin = fake.make_admin(fake.grant(self_hosted, user_id=1))

    assert _post(client, "/api/install", fake.placement(admin)).status_code == 200
    jwt = _jwt(client, fake.placement(fake.grant(self_hosted, user_id=2)))

    assert _profile_id(client, jwt) == "2"
    assert len(fake.bound(self_hosted)) == 2
    assert (fake.calls_to(BATCH), fake.calls_to(PROFILE)) == (1, 1)
    assert ApplicationInstallation.objects.get().bitrix_24_account.domain_url == self_hosted.domain


def test_onappinstall_from_a_self_hosted_portal_on_a_port_activates_the_installation(client, bitrix24, self_hosted):
    fake = bitrix24.fake
    admin = fake.make_admin(fake.grant(self_hosted, user_id=1))
    assert _post(client, "/api/install", fake.placement(admin)).status_code == 200  # app.info confirmed the DOMAIN

    response = _event(client, fake.event("ONAPPINSTALL", self_hosted, admin))

    _processed(response)
    assert ApplicationInstallation.objects.get().status == "active"


def test_a_rest_call_through_a_self_hosted_portals_old_address_follows_the_redirect(
    client, bitrix24, self_hosted, ca, settings
):
    fake = bitrix24.fake
    jwt = _jwt(client, fake.placement(fake.grant(self_hosted, user_id=2)))
    with FakeBitrix24Server(fake, ca=ca) as elsewhere:  # the portal's new address, on another port
        settings.BITRIX24_EXTRA_PORTAL_HOSTS = [self_hosted.domain, elsewhere.portal_host]
        moved = fake.move_portal(self_hosted, elsewhere.portal_host)

        response = client.get("/api/me", **_bearer(jwt))

    assert (response.status_code, response.json().get("ID")) == (200, "2")
    assert _account(SELF_HOSTED_MEMBER_ID, 2).domain_url == moved.domain
