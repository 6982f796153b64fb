"""`POST /api/app-events` (main/app_events.py): Bitrix24's ONAPPINSTALL and ONAPPUNINSTALL callbacks, as form posts
with bracketed keys. Verified events move the installation; forged, replayed and malformed ones change nothing."""

from __future__ import annotations

import pytest

from main.jwts import issue_jwt
from main.models import ApplicationInstallation, Bitrix24Account
from tests.support.fake_bitrix24 import PORTAL_A, PORTAL_B
from tests.support.invariants import INACTIVE, assert_refused, rows

pytestmark = pytest.mark.django_db


def _post_event(client, fields: dict):
    return client.post("/api/app-events", fields)  # form-encoded, as Bitrix24 sends them


@pytest.fixture
def confirmed(client, fake_b24, installed):
    """After Bitrix24's ONAPPINSTALL: the application token is stored."""
    assert _post_event(client, fake_b24.event("ONAPPINSTALL", PORTAL_A, installed)).json() == {"status": "processed"}
    return installed


# --- ONAPPINSTALL ------------------------------------------------------------------------------------------------


def test_onappinstall_stores_the_application_token_and_activates_the_installation(client, fake_b24, installed):
    response = _post_event(client, fake_b24.event("ONAPPINSTALL", PORTAL_A, installed))

    assert response.status_code == 200
    token = fake_b24.application_tokens[PORTAL_A.member_id]
    installation = ApplicationInstallation.objects.get()
    assert (installation.status, installation.application_token) == ("active", token)
    assert installation.bitrix_24_account.application_token == token
    assert fake_b24.calls_to("/rest/app.info/") == 2  # the install's placement, then the event's token


def test_onappinstall_whose_token_bitrix24_does_not_confirm_changes_nothing(client, fake_b24, installed):
    other_portal = fake_b24.grant(PORTAL_B, user_id=1)  # a real token, of another portal
    forged = fake_b24.event("ONAPPINSTALL", PORTAL_A, other_portal)
    before = rows()

    response = _post_event(client, forged)

    assert_refused(response, before, 401, [other_portal.access_token, forged["auth[application_token]"]])


def test_onappinstall_with_an_unknown_access_token_changes_nothing(client, fake_b24, installed):
    forged = fake_b24.event("ONAPPINSTALL", PORTAL_A, installed, **{"auth[access_token]": "at-forged-0000000000"})
    before = rows()

    assert_refused(_post_event(client, forged), before, 401, [forged["auth[application_token]"]])


def test_onappinstall_for_a_portal_that_never_installed_is_404(client, fake_b24):
    grant = fake_b24.grant(PORTAL_B, user_id=1)
    before = rows()

    response = _post_event(client, fake_b24.event("ONAPPINSTALL", PORTAL_B, grant))

    assert assert_refused(response, before, 404) == "The app is not installed on this portal"


def test_onappinstall_replayed_changes_nothing(client, fake_b24, confirmed):
    before = rows()

    response = _post_event(client, fake_b24.event("ONAPPINSTALL", PORTAL_A, confirmed))

    assert response.status_code == 200
    assert rows() == before


# --- ONAPPUNINSTALL ----------------------------------------------------------------------------------------------


def test_onappuninstall_deletes_the_installation_and_the_portals_users_lose_access(client, fake_b24, confirmed):
    colleague = fake_b24.grant(PORTAL_A, user_id=2)
    client.post("/api/getToken", fake_b24.placement(colleague), content_type="application/json")
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {issue_jwt(Bitrix24Account.objects.get(b24_user_id=2).pk)}"}

    response = _post_event(client, fake_b24.event("ONAPPUNINSTALL", PORTAL_A))

    assert response.json() == {"status": "processed"}
    assert ApplicationInstallation.objects.get().status == "deleted"
    assert set(Bitrix24Account.objects.values_list("status", flat=True)) == {"deleted"}
    assert client.get("/api/list", **bearer).json() == {"error": INACTIVE}
    again = client.post("/api/getToken", fake_b24.placement(colleague), content_type="application/json")
    assert (again.status_code, again.json()) == (403, {"error": INACTIVE})


@pytest.mark.parametrize(
    "token",
    [pytest.param("apptoken-forged-000000000000", id="wrong"), pytest.param("", id="empty")],
)
def test_onappuninstall_with_another_application_token_changes_nothing(client, fake_b24, confirmed, token):
    forged = fake_b24.event("ONAPPUNINSTALL", PORTAL_A, **{"auth[application_token]": token})
    before = rows()

    response = _post_event(client, forged)

    assert assert_refused(response, before, 401) == "The event's application token is not this portal's"


def test_onappuninstall_without_an_application_token_is_400(client, fake_b24, confirmed):
    forged = fake_b24.event("ONAPPUNINSTALL", PORTAL_A)
    del forged["auth[application_token]"]
    before = rows()

    assert "application_token" in assert_refused(_post_event(client, forged), before, 400)


def test_onappuninstall_before_bitrix24_confirmed_the_install_is_refused(client, fake_b24, installed):
    before = rows()  # no ONAPPINSTALL yet: no application token to compare with

    assert_refused(_post_event(client, fake_b24.event("ONAPPUNINSTALL", PORTAL_A)), before, 401)


def test_onappuninstall_for_an_unknown_portal_is_404(client, fake_b24, confirmed):
    before = rows()

    assert_refused(_post_event(client, fake_b24.event("ONAPPUNINSTALL", PORTAL_B)), before, 404)


def test_onappuninstall_replayed_changes_nothing(client, fake_b24, confirmed):
    uninstall = fake_b24.event("ONAPPUNINSTALL", PORTAL_A)
    assert _post_event(client, uninstall).status_code == 200
    before = rows()

    response = _post_event(client, uninstall)

    assert response.status_code == 200
    assert rows() == before


def test_onappinstall_arriving_after_the_uninstall_changes_nothing(client, fake_b24, confirmed):
    assert _post_event(client, fake_b24.event("ONAPPUNINSTALL", PORTAL_A)).status_code == 200
    before = rows()

    response = _post_event(client, fake_b24.event("ONAPPINSTALL", PORTAL_A, confirmed))

    assert response.status_code == 200
    assert rows() == before


def test_onappuninstall_keeps_a_block_an_operator_set(client, fake_b24, confirmed):
    ApplicationInstallation.objects.update(status="blocked", comment="unpaid invoice")

    assert _post_event(client, fake_b24.event("ONAPPUNINSTALL", PORTAL_A)).status_code == 200

    assert ApplicationInstallation.objects.values_list("status", "comment").get() == ("blocked", "unpaid invoice")


# --- Other events and bad bodies ---------------------------------------------------------------------------------


def test_an_event_the_backend_does_not_handle_is_acknowledged_and_logged(client, fake_b24, confirmed, caplog):
    before = rows()

    response = _post_event(client, fake_b24.event("ONCRMDEALADD", PORTAL_A))

    assert (response.status_code, response.json()) == (200, {"status": "ignored"})
    assert rows() == before
    assert f"Ignored event ONCRMDEALADD from portal {PORTAL_A.member_id}" in caplog.text


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"event": None}, id="no-event"),
        pytest.param({"ts": "yesterday"}, id="bad-ts"),
        pytest.param({"event_handler_id": "x"}, id="bad-handler-id"),
        pytest.param({"auth[member_id]": None}, id="no-member-id"),
        pytest.param({"auth[domain]": "127.0.0.1:8000"}, id="domain-not-a-portal"),
        # A field sent twice is a list: found by the property-based run of the API's description.
        pytest.param({"auth[domain]": [PORTAL_A.domain, PORTAL_B.domain]}, id="domain-twice"),
        pytest.param({"event": ["ONAPPUNINSTALL", "ONAPPINSTALL"]}, id="event-twice"),
        pytest.param({"auth[member_id]": [PORTAL_A.member_id] * 2}, id="member-id-twice"),
        pytest.param({"auth[application_token]": ["a-token", "another"]}, id="application-token-twice"),
    ],
)
def test_a_malformed_event_is_400_and_changes_nothing(client, fake_b24, confirmed, change):
    fields = fake_b24.event("ONAPPUNINSTALL", PORTAL_A)
    fields.update(change)
    before = rows()

    assert_refused(_post_event(client, {k: v for k, v in fields.items() if v is not None}), before, 400)


def test_a_json_event_whose_domain_is_not_text_is_400(client, fake_b24, confirmed):
    fields = fake_b24.event("ONAPPUNINSTALL", PORTAL_A)
    event = {
        **{name: value for name, value in fields.items() if not name.startswith("auth[")},
        "auth": {**{name[5:-1]: value for name, value in fields.items() if name.startswith("auth[")}, "domain": 5},
    }
    before = rows()

    error = assert_refused(client.post("/api/app-events", event, "application/json"), before, 400)

    assert error == "Invalid event: auth[domain] must be text of at most 255 characters"


def test_onappinstall_with_an_application_token_too_long_to_store_is_400(client, fake_b24, installed):
    """Found by the property-based run of the API's description: the column holds 255 characters (it was a 500)."""
    event = fake_b24.event("ONAPPINSTALL", PORTAL_A, installed, **{"auth[application_token]": "t" * 256})
    before = rows()

    error = assert_refused(_post_event(client, event), before, 400)

    assert error == "Invalid event: auth[application_token] must be text of at most 255 characters"


def test_an_event_as_json_is_read_too(client, fake_b24, confirmed):
    response = client.post("/api/app-events", fake_b24.event("ONAPPUNINSTALL", PORTAL_A), "application/json")

    assert response.status_code == 200
    assert ApplicationInstallation.objects.get().status == "deleted"
