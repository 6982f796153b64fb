"""Who may act (main/access.py), and what it costs to ask: the account lifecycle (`status`: new, active, blocked,
deleted), an uninstalled app, ACCESS_CHECK_SECONDS, and placements whose access token Bitrix24 already confirmed.

The PHP backend (or an operator) blocks or deletes accounts by writing `status`; these tests write the rows the
same way, then call the API as the frontend does.
"""

from __future__ import annotations

import time

import pytest

from main.jwts import verify_jwt
from main.models import ApplicationInstallation, Bitrix24Account
from tests.support.fake_bitrix24 import PORTAL_A
from tests.support.invariants import INACTIVE, assert_refused, rows

pytestmark = pytest.mark.django_db

APP_INFO = "/rest/app.info/"


def _deactivate(account: Bitrix24Account, how: str) -> None:
    if how == "uninstalled":
        ApplicationInstallation.objects.create(bitrix_24_account=account, status="deleted", portal_license_family="")
    else:
        Bitrix24Account.objects.filter(pk=account.pk).update(status=how)


def _post_placement(client, placement: dict):
    return client.post("/api/getToken", placement, content_type="application/json")


def _placed_account(client, fake_b24, **grant) -> tuple[Bitrix24Account, dict]:
    """An account made by a first placement call, and that placement."""
    placement = fake_b24.placement(fake_b24.grant(PORTAL_A, **grant))
    assert _post_placement(client, placement).status_code == 200
    return Bitrix24Account.objects.get(access_token=placement["AUTH_ID"]), placement


# --- Bearer requests -------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["blocked", "deleted", "uninstalled"])
def test_inactive_account_gets_403_on_bearer_requests(client, account, bearer, settings, how):
    settings.ACCESS_CHECK_SECONDS = 0  # no cached answer: the database is asked on every request
    _deactivate(account, how)

    response = client.get("/api/list", **bearer)

    assert response.status_code == 403
    assert response.json() == {"error": INACTIVE}


@pytest.mark.parametrize("status", ["new", "active"])
def test_new_and_active_accounts_may_act(client, account, bearer, status):
    Bitrix24Account.objects.filter(pk=account.pk).update(status=status)
    ApplicationInstallation.objects.create(bitrix_24_account=account, status="active", portal_license_family="")

    response = client.get("/api/list", **bearer)

    assert response.status_code == 200


def test_blocked_account_loses_access_within_access_check_seconds(client, account, bearer, settings):
    settings.ACCESS_CHECK_SECONDS = 0.5
    assert client.get("/api/list", **bearer).status_code == 200
    _deactivate(account, "blocked")

    cached = client.get("/api/list", **bearer)  # within the period the answer read before blocking holds
    time.sleep(0.6)
    after = client.get("/api/list", **bearer)

    assert cached.status_code == 200
    assert after.status_code == 403
    assert after.json() == {"error": INACTIVE}


def test_reactivated_account_gets_access_back(client, account, bearer, settings):
    settings.ACCESS_CHECK_SECONDS = 0
    _deactivate(account, "blocked")
    assert client.get("/api/list", **bearer).status_code == 403

    Bitrix24Account.objects.filter(pk=account.pk).update(status="active")

    assert client.get("/api/list", **bearer).status_code == 200


# --- Placements --------------------------------------------------------------------------------------------


def test_placement_with_an_access_token_already_confirmed_does_not_ask_bitrix24_again(client, fake_b24):
    account, placement = _placed_account(client, fake_b24)
    before = rows()

    response = _post_placement(client, placement)

    assert response.status_code == 200
    assert verify_jwt(response.json()["token"]).account_id == account.pk
    assert fake_b24.calls_to(APP_INFO) == 1  # the first call's only
    assert rows() == before


def test_placement_with_a_new_access_token_asks_bitrix24(client, fake_b24):
    account, _ = _placed_account(client, fake_b24, user_id=5)
    renewed = fake_b24.placement(fake_b24.grant(PORTAL_A, user_id=5))

    response = _post_placement(client, renewed)

    assert response.status_code == 200
    assert fake_b24.calls_to(APP_INFO) == 2
    account.refresh_from_db()
    assert account.access_token == renewed["AUTH_ID"]


def test_stored_access_token_that_has_expired_is_asked_about_again(client, fake_b24):
    account, placement = _placed_account(client, fake_b24)
    Bitrix24Account.objects.filter(pk=account.pk).update(expires_timestamp=int(time.time()) - 1)

    response = _post_placement(client, placement)

    assert response.status_code == 200
    assert fake_b24.calls_to(APP_INFO) == 2


@pytest.mark.parametrize("how", ["blocked", "deleted", "uninstalled"])
def test_inactive_account_gets_403_on_a_repeated_placement_without_asking_bitrix24(client, fake_b24, how):
    account, placement = _placed_account(client, fake_b24)
    _deactivate(account, how)
    before = rows()

    response = _post_placement(client, placement)

    assert assert_refused(response, before, 403, [placement["AUTH_ID"], placement["REFRESH_ID"]]) == INACTIVE
    assert fake_b24.calls_to(APP_INFO) == 1


@pytest.mark.parametrize("how", ["blocked", "deleted", "uninstalled"])
def test_inactive_account_is_not_revived_by_a_placement_with_a_new_token(client, fake_b24, how):
    account, _ = _placed_account(client, fake_b24, user_id=5)
    _deactivate(account, how)
    before = rows()
    renewed = fake_b24.placement(fake_b24.grant(PORTAL_A, user_id=5))

    response = _post_placement(client, renewed)

    assert assert_refused(response, before, 403, [renewed["AUTH_ID"], renewed["REFRESH_ID"]]) == INACTIVE
    assert fake_b24.calls_to(APP_INFO) == 2  # Bitrix24 vouched for the token; the account still may not act
