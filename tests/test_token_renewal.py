"""The periodic renewal of access tokens (main/token_renewal.py), run here as the task beat sends
(`main.tasks.renew_expiring_tokens`), in this process against the fake Bitrix24. tests/test_tasks.py runs it
through a real beat and worker.
"""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from main.exceptions import Bitrix24Timeout
from main.models import ApplicationInstallation, Bitrix24Account
from main.tasks import renew_expiring_tokens
from tests.support.accounts import stored_account
from tests.support.fake_bitrix24 import OAUTH_SERVER, PORTAL_A, FakeBitrix24
from tests.support.invariants import rows

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _renewal_on(settings):
    settings.TOKEN_REFRESH_ENABLED = True
    settings.TOKEN_REFRESH_WINDOW_MINUTES = 15


def _expiring_account(fake_b24: FakeBitrix24, user_id: int, minutes: int = 5, **fields) -> Bitrix24Account:
    grant = fake_b24.grant(PORTAL_A, user_id=user_id)
    return stored_account(user_id, dt.timedelta(minutes=minutes), grant, **fields)


def _tokens(account: Bitrix24Account) -> tuple:
    row = Bitrix24Account.objects.get(pk=account.pk)
    return row.access_token, row.refresh_token, row.expires_timestamp


def test_renews_tokens_that_expire_within_the_window_and_only_those(fake_b24):
    expiring, expired = _expiring_account(fake_b24, 1), _expiring_account(fake_b24, 2, minutes=-30)
    later = _expiring_account(fake_b24, 3, minutes=20)

    assert renew_expiring_tokens() == {"renewed": 2, "refused": 0}

    for account in (expiring, expired):
        grant = fake_b24.live_grant(user_id=account.b24_user_id)
        assert _tokens(account) == (grant.access_token, grant.refresh_token, grant.expires)
    assert _tokens(later) == (later.access_token, later.refresh_token, later.expires_timestamp)
    assert renew_expiring_tokens() == {"renewed": 0, "refused": 0}  # renewed ones no longer expire soon
    assert fake_b24.calls_to("/oauth/token/") == 2


def test_accounts_that_may_not_act_are_left_alone(fake_b24):
    _expiring_account(fake_b24, 1, status="blocked", comment="unpaid invoice")
    _expiring_account(fake_b24, 2, status="deleted", comment="Set by the backend: uninstalled")
    on_uninstalled_portal = _expiring_account(fake_b24, 3)
    ApplicationInstallation.objects.create(
        bitrix_24_account=on_uninstalled_portal, status="deleted", portal_license_family=""
    )
    _expiring_account(fake_b24, 4, refresh_token=None)
    before = rows()

    assert renew_expiring_tokens() == {"renewed": 0, "refused": 0}

    assert rows() == before
    assert fake_b24.calls_to("/oauth/token/") == 0


def test_a_refused_refresh_token_blocks_the_account_and_the_sweep_goes_on(fake_b24, caplog):
    refused = _expiring_account(fake_b24, 1, minutes=1, refresh_token="rt-spent-000000000000000000")
    renewable = _expiring_account(fake_b24, 2)

    assert renew_expiring_tokens() == {"renewed": 1, "refused": 1}

    row = Bitrix24Account.objects.get(pk=refused.pk)
    assert (row.status, row.comment) == (
        "blocked",
        "Set by the backend: Bitrix24 answered INVALID_GRANT: Invalid refresh token",
    )
    assert _tokens(renewable) != _tokens(refused)
    assert Bitrix24Account.objects.get(pk=renewable.pk).status == "active"
    assert f"Bitrix24 refused to renew the token of account {refused.pk}: invalid_grant" in caplog.text
    assert "rt-spent-000000000000000000" not in caplog.text


def test_a_slow_bitrix24_stops_the_sweep_for_a_retry_and_changes_nothing(fake_b24):
    _expiring_account(fake_b24, 1, minutes=1)
    _expiring_account(fake_b24, 2, minutes=2)
    fake_b24.failing_rest_calls[OAUTH_SERVER.removeprefix("https://")] = requests.ReadTimeout()
    before = rows()

    with pytest.raises(Bitrix24Timeout):  # the task is retried later (autoretry_for)
        renew_expiring_tokens()

    assert rows() == before
    assert len(fake_b24.grants) == 2  # the second account was not tried: Bitrix24 is the same for all


def test_nothing_happens_while_the_renewal_is_off(fake_b24, settings, caplog):
    settings.TOKEN_REFRESH_ENABLED = False
    _expiring_account(fake_b24, 1)
    before = rows()

    assert renew_expiring_tokens() == {}

    assert rows() == before
    assert "Token renewal is off (TOKEN_REFRESH_ENABLED)" in caplog.text
