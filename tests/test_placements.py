"""The account a placement proves (main/placements.py): a user is the portal's member_id plus the user id; portals
that move keep their accounts, a portal that takes over a freed address gets its own; an expired access token is
renewed once with the placement's refresh token; self-hosted portal hosts only when the operator lists them."""

from __future__ import annotations

import pytest

from main import placements as placements_module
from main.jwts import issue_jwt, verify_jwt
from main.models import Bitrix24Account, PlacementRenewal
from main.placements import RELEASED_ADDRESS
from tests.support.fake_bitrix24 import PORTAL_A, Portal
from tests.support.invariants import assert_refused, rows
from tests.support.threads import at_once, hold_together

pytestmark = pytest.mark.django_db

APP_INFO, TOKEN = "/rest/app.info/", "/oauth/token/"


def _get_token(client, placement: dict):
    return client.post("/api/getToken", placement, content_type="application/json")


def _account_of(response) -> Bitrix24Account:
    assert response.status_code == 200, response.content
    return Bitrix24Account.objects.get(pk=verify_jwt(response.json()["token"]).account_id)


# --- Portals that move, addresses that are reused ------------------------------------------------------------


def test_a_portal_that_moved_keeps_its_accounts_and_their_domain_follows(client, fake_b24):
    first = _account_of(_get_token(client, fake_b24.placement(fake_b24.grant(PORTAL_A, user_id=1))))
    colleague = _account_of(_get_token(client, fake_b24.placement(fake_b24.grant(PORTAL_A, user_id=2))))
    moved = fake_b24.move_portal(PORTAL_A, "renamed-portal.bitrix24.com")

    again = _account_of(_get_token(client, fake_b24.placement(fake_b24.grant(moved, user_id=1))))

    assert again.pk == first.pk
    assert Bitrix24Account.objects.count() == 2
    colleague.refresh_from_db()
    assert (again.domain_url, colleague.domain_url) == ("renamed-portal.bitrix24.com",) * 2


def test_a_new_portal_at_a_freed_address_gets_accounts_of_its_own(client, fake_b24):
    old = _account_of(_get_token(client, fake_b24.placement(fake_b24.grant(PORTAL_A, user_id=1))))
    newcomer = Portal(PORTAL_A.domain, "member-c-0000000000000000000000000003")

    new = _account_of(_get_token(client, fake_b24.placement(fake_b24.grant(newcomer, user_id=1))))

    assert new.pk != old.pk
    assert (new.member_id, new.domain_url) == (newcomer.member_id, PORTAL_A.domain)
    old_row = Bitrix24Account.objects.get(pk=old.pk)
    assert (old_row.member_id, old_row.access_token) == (PORTAL_A.member_id, old.access_token)
    assert old_row.domain_url == PORTAL_A.member_id + RELEASED_ADDRESS  # the address is the new portal's now


def test_the_old_portal_gets_its_accounts_back_at_its_new_address(client, fake_b24):
    old = _account_of(_get_token(client, fake_b24.placement(fake_b24.grant(PORTAL_A, user_id=1))))
    _get_token(client, fake_b24.placement(fake_b24.grant(Portal(PORTAL_A.domain, "member-c-0003"), user_id=1)))
    elsewhere = Portal("portal-a-renamed.bitrix24.com", PORTAL_A.member_id)

    back = _account_of(_get_token(client, fake_b24.placement(fake_b24.grant(elsewhere, user_id=1))))

    assert back.pk == old.pk
    assert back.domain_url == elsewhere.domain


# --- Expired placement tokens ---------------------------------------------------------------------------------


def test_an_expired_placement_token_is_renewed_once_verified_and_saved(client, fake_b24):
    expired = fake_b24.grant(PORTAL_A, user_id=4, expired=True)

    account = _account_of(_get_token(client, fake_b24.placement(expired)))

    assert fake_b24.calls_to(TOKEN) == 1
    assert fake_b24.calls_to(APP_INFO) == 2  # the expired token, then the renewed one
    renewed = fake_b24.grants[account.access_token]
    assert (renewed.portal, renewed.user_id) == (PORTAL_A, 4)
    assert account.refresh_token == renewed.refresh_token != expired.refresh_token


def test_the_same_expired_placement_again_takes_the_account_renewed_the_first_time(client, fake_b24):
    placement = fake_b24.placement(fake_b24.grant(PORTAL_A, user_id=4, expired=True))
    first = _account_of(_get_token(client, placement))

    again = _account_of(_get_token(client, placement))

    assert again.pk == first.pk
    assert fake_b24.calls_to(TOKEN) == 1  # the spent refresh token was not sent again


def test_a_refused_refresh_token_is_401_and_writes_nothing(client, fake_b24):
    placement = fake_b24.placement(fake_b24.grant(PORTAL_A, expired=True), REFRESH_ID="rt-never-issued-000000")
    before = rows()

    response = _get_token(client, placement)

    assert assert_refused(response, before, 401, [placement["AUTH_ID"]]) == "Bitrix24 refused the refresh token"
    assert not PlacementRenewal.objects.exists()


def _concurrently(placements: list[dict]) -> list:
    """POST each placement to getToken at once, each from a thread with its own database connection; the answers."""
    from django.test import Client

    return at_once([lambda placement=placement: _get_token(Client(), placement) for placement in placements])


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_placements_of_one_user_make_one_account(fake_b24, monkeypatch):
    # Four tabs of a new user open the app at once, each with an access token of its own. All four requests are
    # held until each has verified its token, so that all of them look for the user's row before any has made it.
    placements = [fake_b24.placement(fake_b24.grant(PORTAL_A, user_id=5)) for _ in range(4)]
    hold_together(monkeypatch, placements_module, "_save", len(placements))

    answers = _concurrently(placements)

    assert [answer.status_code for answer in answers] == [200] * 4
    assert len({verify_jwt(answer.json()["token"]).account_id for answer in answers}) == 1
    assert Bitrix24Account.objects.count() == 1
    row = Bitrix24Account.objects.get()
    assert (row.member_id, row.b24_user_id, row.domain_url) == (PORTAL_A.member_id, 5, PORTAL_A.domain)
    assert row.access_token in {placement["AUTH_ID"] for placement in placements}  # one of them, saved whole
    assert row.refresh_token == fake_b24.grants[row.access_token].refresh_token


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_expired_placement_spend_its_refresh_token_once(fake_b24):
    placement = fake_b24.placement(fake_b24.grant(PORTAL_A, user_id=6, expired=True))

    answers = _concurrently([placement] * 4)

    assert [answer.status_code for answer in answers] == [200] * 4
    assert len({verify_jwt(answer.json()["token"]).account_id for answer in answers}) == 1
    assert fake_b24.calls_to(TOKEN) == 1
    assert Bitrix24Account.objects.count() == 1


# --- Portal hosts ----------------------------------------------------------------------------------------------

SELF_HOSTED = ["intranet.example.com:8443", "10.0.0.5", "bitrix"]


@pytest.mark.parametrize("domain", SELF_HOSTED)
def test_a_self_hosted_portal_host_is_refused_unless_listed(client, fake_b24, domain):
    placement = fake_b24.placement(fake_b24.grant(Portal(domain, "member-self-hosted-0001")))
    before = rows()

    response = _get_token(client, placement)

    assert "DOMAIN must be a portal host name" in assert_refused(response, before, 400)
    assert fake_b24.requests == []


@pytest.mark.parametrize("domain", SELF_HOSTED)
def test_a_portal_host_the_operator_lists_is_accepted(client, fake_b24, settings, domain):
    settings.BITRIX24_EXTRA_PORTAL_HOSTS = ["other.example.com:1", domain.upper()]

    account = _account_of(_get_token(client, fake_b24.placement(fake_b24.grant(Portal(domain, "member-sh-0001")))))

    assert account.domain_url == domain


def test_a_portal_redirecting_rest_calls_to_a_host_that_is_no_portal_is_not_followed(client, fake_b24, portal_admin):
    fake_b24.moved_domains[portal_admin.domain_url] = "127.0.0.1:9"
    response = client.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {issue_jwt(portal_admin.pk)}")

    assert response.status_code == 502
    assert "not an allowed portal" in response.json()["error"]
    assert Bitrix24Account.objects.get(pk=portal_admin.pk).domain_url == PORTAL_A.domain
    assert [path for _, path in fake_b24.requests].count("/rest/profile.json") == 1  # never sent to the other host


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_refused_refresh_token_are_all_401(fake_b24, monkeypatch):
    # All four claim the renewal at once; each that finds the one before it failed renews in its turn and is refused.
    # (On MySQL, waiters released by a failed renewal deadlock on their own claims: the victim claims again.)
    placement = fake_b24.placement(fake_b24.grant(PORTAL_A, expired=True), REFRESH_ID="rt-never-issued-000000")
    hold_together(monkeypatch, placements_module, "_claim", 4)

    answers = _concurrently([placement] * 4)

    assert [(answer.status_code, answer.json()) for answer in answers] == [
        (401, {"error": "Bitrix24 refused the refresh token"})
    ] * 4
    assert not PlacementRenewal.objects.exists()
    assert not Bitrix24Account.objects.exists()
