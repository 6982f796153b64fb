"""`POST /api/install` (main/installations.py): the lifecycle events bound in one batch call, the installation
recorded with its master account, reinstalls, and every refusal writing nothing."""

from __future__ import annotations

import pytest
import requests

from main.jwts import issue_jwt
from main.models import ApplicationInstallation, Bitrix24Account
from main.statuses import UNINSTALLED
from tests.support.fake_bitrix24 import LIFECYCLE_EVENTS, PAYMENT_REQUIRED, PORTAL_A, RestError
from tests.support.invariants import assert_refused, rows

pytestmark = pytest.mark.django_db

EVENTS_URL = "https://app_base_url/api/app-events"  # the first VIRTUAL_HOST of the tests' configuration


def _install(client, payload: dict | None = None, **headers):
    return client.post("/api/install", payload or {}, content_type="application/json", **headers)


def _installed(client, fake_b24, user_id: int = 1, **fields) -> Bitrix24Account:
    """The account of a portal admin who installed the app with placement data."""
    placement = fake_b24.placement(fake_b24.make_admin(fake_b24.grant(PORTAL_A, user_id=user_id)), **fields)
    assert _install(client, placement).status_code == 200
    return Bitrix24Account.objects.get(member_id=PORTAL_A.member_id, b24_user_id=user_id)


def test_install_binds_both_lifecycle_events_and_asks_for_admin_rights_in_one_batch(client, fake_b24):
    account = _installed(client, fake_b24)

    assert fake_b24.bound(PORTAL_A) == {(event, EVENTS_URL) for event in LIFECYCLE_EVENTS}
    assert fake_b24.calls_to("/rest/batch.json") == 1
    assert (account.is_master_account, account.is_b24_user_admin) == (True, True)
    installation = ApplicationInstallation.objects.get()
    assert (installation.bitrix_24_account_id, installation.status) == (account.pk, "new")


def test_installing_again_succeeds_though_the_events_are_bound_already(client, fake_b24):
    account = _installed(client, fake_b24)
    again = fake_b24.placement(fake_b24.make_admin(fake_b24.grant(PORTAL_A, user_id=1)))

    response = _install(client, again)

    assert response.status_code == 200
    assert ApplicationInstallation.objects.get().bitrix_24_account_id == account.pk
    assert len(fake_b24.bound(PORTAL_A)) == 2


def test_another_admin_installing_becomes_the_master_account(client, fake_b24):
    first = _installed(client, fake_b24, user_id=1)

    second = _installed(client, fake_b24, user_id=2)

    first.refresh_from_db()
    assert (first.is_master_account, second.is_master_account) == (False, True)
    current = ApplicationInstallation.objects.of_portal(PORTAL_A.member_id).first()
    assert (current.bitrix_24_account_id, current.status) == (second.pk, "new")
    assert ApplicationInstallation.objects.get(bitrix_24_account=first).status == "deleted"  # replaced


def test_a_user_who_is_no_portal_admin_cannot_install(client, fake_b24):
    placement = fake_b24.placement(fake_b24.grant(PORTAL_A, user_id=5))
    before = rows()

    response = _install(client, placement)

    error = assert_refused(response, before, 403, [placement["AUTH_ID"]])
    assert error == "Only an administrator of the Bitrix24 portal can install the app"


@pytest.mark.parametrize(
    ("failure", "status"),
    [
        pytest.param(requests.exceptions.ConnectTimeout("timed out"), 504, id="timeout"),
        pytest.param(requests.exceptions.ConnectionError("refused"), 502, id="unreachable"),
        pytest.param(RestError(500, "INTERNAL_SERVER_ERROR", "Internal error"), 502, id="server-error"),
        pytest.param(PAYMENT_REQUIRED, 502, id="refused"),
    ],
)
def test_bitrix24_failing_the_bind_is_502_or_504_and_writes_nothing(client, fake_b24, failure, status):
    placement = fake_b24.placement(fake_b24.make_admin(fake_b24.grant(PORTAL_A)))
    fake_b24.failing_rest_calls[PORTAL_A.domain] = failure
    before = rows()

    response = _install(client, placement)

    assert_refused(response, before, status, [placement["AUTH_ID"], placement["REFRESH_ID"]])


def test_a_bind_that_bitrix24_refuses_is_502_naming_the_event(client, fake_b24):
    placement = fake_b24.placement(fake_b24.make_admin(fake_b24.grant(PORTAL_A)))
    fake_b24.command_errors["event.bind"] = RestError(400, "WRONG_HANDLER_URL", "Handler URL host is not allowed")
    before = rows()

    response = _install(client, placement)

    assert assert_refused(response, before, 502) == "Bitrix24 refused to bind ONAPPINSTALL: WRONG_HANDLER_URL"


@pytest.mark.parametrize("how", ["blocked", "deleted"])
def test_a_bearer_install_cannot_lift_what_an_operator_set(client, fake_b24, portal_admin, how):
    assert _install(client, **_bearer(portal_admin)).status_code == 200
    ApplicationInstallation.objects.update(status=how)
    before = rows()

    response = _install(client, **_bearer(portal_admin))

    assert_refused(response, before, 403)


def test_a_bearer_install_cannot_undo_an_uninstall(client, fake_b24, portal_admin):
    assert _install(client, **_bearer(portal_admin)).status_code == 200
    ApplicationInstallation.objects.update(status="deleted", comment=UNINSTALLED)
    Bitrix24Account.objects.update(status="deleted", comment=UNINSTALLED)
    before = rows()

    response = _install(client, **_bearer(portal_admin))

    assert_refused(response, before, 403)


def test_an_install_with_verified_placement_data_brings_an_uninstalled_app_back(client, fake_b24):
    account = _installed(client, fake_b24, user_id=1)
    colleague = _installed(client, fake_b24, user_id=2)
    ApplicationInstallation.objects.update(status="deleted", comment=UNINSTALLED)
    Bitrix24Account.objects.update(status="deleted", comment=UNINSTALLED)

    back = _installed(client, fake_b24, user_id=1)

    assert back.pk == account.pk
    assert ApplicationInstallation.objects.of_portal(PORTAL_A.member_id).first().status == "new"
    assert set(Bitrix24Account.objects.values_list("status", flat=True)) == {"active"}
    user_two = fake_b24.placement(fake_b24.grant(PORTAL_A, user_id=2))
    assert client.post("/api/getToken", user_two, content_type="application/json").status_code == 200
    assert Bitrix24Account.objects.get(pk=colleague.pk).status == "active"


def test_an_operator_deleted_installation_is_not_brought_back_by_placement_data(client, fake_b24):
    _installed(client, fake_b24)
    ApplicationInstallation.objects.update(status="deleted", comment="removed by the support team")
    placement = fake_b24.placement(fake_b24.make_admin(fake_b24.grant(PORTAL_A)))
    before = rows()

    response = _install(client, placement)

    assert_refused(response, before, 403, [placement["AUTH_ID"]])


def _bearer(account: Bitrix24Account) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {issue_jwt(account.pk)}"}
