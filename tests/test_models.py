"""`Bitrix24Account` as b24pysdk's token (main/models.py): renewed tokens and a moved portal domain are saved on the
account row at once, and renewal is one process at a time per account.

The account makes real b24pysdk REST calls (`profile`); the fake Bitrix24 answers them, refreshes tokens on its
OAuth server and redirects a moved portal's old domain.
"""

import time

import pytest

from main.models import Bitrix24Account
from tests.support.fake_bitrix24 import PORTAL_A, FakeBitrix24, Grant
from tests.support.threads import at_once, hold_together

pytestmark = pytest.mark.django_db

PROFILE = {"ID": "7", "ADMIN": True, "NAME": "Anna", "LAST_NAME": "Ivanova", "PERSONAL_GENDER": "F", "TIME_ZONE": ""}


@pytest.fixture
def grant(fake_b24: FakeBitrix24) -> Grant:
    fake_b24.rest_results["profile"] = PROFILE
    return fake_b24.grant(PORTAL_A, user_id=7)


def _use_grant(account: Bitrix24Account, grant: Grant, expires_timestamp: int) -> None:
    account.access_token, account.refresh_token = grant.access_token, grant.refresh_token
    account.expires_timestamp = expires_timestamp
    account.current_scope = ["crm"]
    account.save()


def _profile_name(account: Bitrix24Account) -> str:
    return account.client.profile().result["NAME"]


def test_locally_expired_token_is_refreshed_and_the_new_pair_saved(account, fake_b24, grant):
    _use_grant(account, grant, expires_timestamp=int(time.time()) - 60)

    assert _profile_name(account) == "Anna"

    assert fake_b24.requests == [("GET", "/oauth/token/"), ("POST", "/rest/profile.json")]
    renewed = fake_b24.live_grant()
    row = Bitrix24Account.objects.get(pk=account.pk)
    assert (row.access_token, row.refresh_token) == (renewed.access_token, renewed.refresh_token)
    assert (row.expires_timestamp, row.expires_in) == (renewed.expires, 3600)
    assert row.current_scope == ["crm", "user"]


def test_old_refresh_token_is_spent_and_the_saved_one_works(account, fake_b24, grant):
    _use_grant(account, grant, expires_timestamp=int(time.time()) - 60)
    _profile_name(account)

    row = Bitrix24Account.objects.get(pk=account.pk)
    assert row.refresh_token != grant.refresh_token
    assert (grant.refresh_token, grant.expired) == (None, True)  # the fake honours single-use refresh tokens
    row.expires_timestamp = int(time.time()) - 60  # force another refresh, with the saved refresh token
    assert _profile_name(row) == "Anna"
    assert fake_b24.calls_to("/oauth/token/") == 2
    assert Bitrix24Account.objects.get(pk=account.pk).access_token == fake_b24.live_grant().access_token


def test_token_the_portal_calls_expired_is_refreshed_and_saved(account, fake_b24, grant):
    grant.expired = True  # not yet past `expires` locally, but Bitrix24 answers `expired_token`
    _use_grant(account, grant, expires_timestamp=int(time.time()) + 600)

    assert _profile_name(account) == "Anna"

    assert fake_b24.requests == [
        ("POST", "/rest/profile.json"),
        ("GET", "/oauth/token/"),
        ("POST", "/rest/profile.json"),
    ]
    renewed = fake_b24.live_grant()
    row = Bitrix24Account.objects.get(pk=account.pk)
    assert (row.access_token, row.refresh_token, row.expires_timestamp) == (
        renewed.access_token,
        renewed.refresh_token,
        renewed.expires,
    )


def test_portal_domain_change_is_followed_and_saved(account, fake_b24, grant):
    _use_grant(account, grant, expires_timestamp=int(time.time()) + 600)
    moved = fake_b24.move_portal(PORTAL_A, "portal-a-renamed.bitrix24.com")

    assert _profile_name(account) == "Anna"

    assert fake_b24.calls_to("/rest/profile.json") == 2  # the old domain's 302, then the new domain's answer
    row = Bitrix24Account.objects.get(pk=account.pk)
    assert row.domain_url == moved.domain
    assert row.access_token == grant.access_token


def test_a_process_holding_the_spent_refresh_token_takes_the_renewed_pair(account, fake_b24, grant):
    """Two processes load the account; the first renews its expired token. The second must not spend the old
    refresh token again (Bitrix24 would answer invalid_grant): it finds the renewed pair on the row and uses it."""
    _use_grant(account, grant, expires_timestamp=int(time.time()) - 60)
    first, second = Bitrix24Account.objects.get(pk=account.pk), Bitrix24Account.objects.get(pk=account.pk)

    assert _profile_name(first) == "Anna"
    assert _profile_name(second) == "Anna"

    assert fake_b24.calls_to("/oauth/token/") == 1
    renewed = fake_b24.live_grant()
    assert second.access_token == renewed.access_token
    row = Bitrix24Account.objects.get(pk=account.pk)
    assert (row.access_token, row.refresh_token) == (renewed.access_token, renewed.refresh_token)


@pytest.mark.django_db(transaction=True)
def test_two_processes_renewing_one_expired_token_at_once_spend_the_refresh_token_once(
    account, fake_b24, grant, monkeypatch
):
    """As the test above, but at the same time: two threads, each with its own database connection and its own copy
    of the account, start renewing together. The row lock makes one wait for the other's renewal and take it."""
    _use_grant(account, grant, expires_timestamp=int(time.time()) - 60)
    hold_together(monkeypatch, Bitrix24Account, "refresh_and_set_oauth_token", 2)
    copies = [Bitrix24Account.objects.get(pk=account.pk) for _ in range(2)]

    names = at_once([lambda copy=copy: _profile_name(copy) for copy in copies])

    assert names == ["Anna", "Anna"]
    assert fake_b24.calls_to("/oauth/token/") == 1
    renewed = fake_b24.live_grant()
    assert [copy.refresh_token for copy in copies] == [renewed.refresh_token] * 2
    row = Bitrix24Account.objects.get(pk=account.pk)
    assert (row.access_token, row.refresh_token) == (renewed.access_token, renewed.refresh_token)
