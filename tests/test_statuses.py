"""Statuses follow what Bitrix24 answers (main/statuses.py): a call through `account.client` that shows the grant or
the app is gone blocks or deletes the account or the installation, later requests fail fast without calling
Bitrix24, and the next verified placement lifts what the backend set, never what an operator set."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from main.jwts import issue_jwt
from main.models import ApplicationInstallation, Bitrix24Account
from main.statuses import AUTOMATIC
from tests.support.fake_bitrix24 import NO_ACCESS, NOT_INSTALLED, PAYMENT_REQUIRED, PORTAL_A, RestError
from tests.support.invariants import INACTIVE

pytestmark = pytest.mark.django_db


@pytest.fixture
def installed(client, portal_admin, settings):
    """`portal_admin` installed the app (status new); access answers are not cached, so effects show at once."""
    settings.ACCESS_CHECK_SECONDS = 0
    response = client.post("/api/install", HTTP_AUTHORIZATION=f"Bearer {issue_jwt(portal_admin.pk)}")
    assert response.status_code == 200
    return portal_admin


def _me(client, account: Bitrix24Account):
    return client.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {issue_jwt(account.pk)}")


def _status_and_comment(model, **lookup) -> tuple[str, str | None]:
    return model.objects.values_list("status", "comment").get(**lookup)


def test_me_answers_the_callers_profile_from_the_portal(client, installed):
    response = _me(client, installed)

    assert response.status_code == 200
    assert response.json() == {"ID": "7", "ADMIN": True, "NAME": "Test", "LAST_NAME": "User 7"}


def test_a_refused_refresh_token_blocks_the_account_and_later_calls_fail_fast(client, fake_b24, installed):
    Bitrix24Account.objects.filter(pk=installed.pk).update(
        expires_timestamp=int(time.time()) - 60, refresh_token="rt-revoked-000000"
    )

    first = _me(client, installed)
    calls = len(fake_b24.requests)
    second = _me(client, installed)

    assert (first.status_code, first.json()) == (403, {"error": INACTIVE})
    status, comment = _status_and_comment(Bitrix24Account, pk=installed.pk)
    assert status == "blocked"
    assert comment.startswith(f"{AUTOMATIC}Bitrix24 answered INVALID_GRANT")
    assert (second.status_code, second.json()) == (403, {"error": INACTIVE})
    assert len(fake_b24.requests) == calls  # Bitrix24 was not asked again


@pytest.mark.parametrize(
    ("answer", "status", "of"),
    [
        pytest.param(NOT_INSTALLED, "deleted", ApplicationInstallation, id="not-installed"),
        pytest.param(PAYMENT_REQUIRED, "blocked", ApplicationInstallation, id="payment-required"),
        pytest.param(NO_ACCESS, "blocked", Bitrix24Account, id="user-has-no-access"),
    ],
)
def test_an_answer_that_the_app_or_grant_is_gone_moves_the_status(client, fake_b24, installed, answer, status, of):
    fake_b24.failing_rest_calls[PORTAL_A.domain] = answer

    response = _me(client, installed)

    assert (response.status_code, response.json()) == (403, {"error": INACTIVE})
    rows = of.objects.values_list("status", "comment")
    assert [(row_status, comment.startswith(AUTOMATIC)) for row_status, comment in rows] == [(status, True)]
    assert answer.description in rows[0][1]


def test_the_portals_installations_move_in_one_update_that_checks_the_status_as_it_writes(
    client, fake_b24, installed, monkeypatch
):
    # As on MySQL, which cannot UPDATE a table its own subquery reads: Django would read the installations' ids first
    # and update them in a second statement, overwriting a status an operator set in between.
    monkeypatch.setattr(connection.features, "update_can_self_select", False)
    fake_b24.failing_rest_calls[PORTAL_A.domain] = NOT_INSTALLED

    with CaptureQueriesContext(connection) as queries:
        response = _me(client, installed)

    assert (response.status_code, response.json()) == (403, {"error": INACTIVE})
    assert _status_and_comment(ApplicationInstallation, bitrix_24_account=installed)[0] == "deleted"
    touching = [query["sql"] for query in queries if "application_installation" in query["sql"]]
    (update,) = [sql for sql in touching if sql.startswith("UPDATE")]
    assert "status" in update.split(" WHERE ", 1)[1]  # the conditions are the UPDATE's own
    assert touching[-1] == update  # no SELECT of the ids to update before it


def test_an_answer_about_the_call_itself_moves_no_status(client, fake_b24, installed):
    fake_b24.command_errors["profile"] = RestError(400, "INVALID_ARG_VALUE", "Wrong argument")

    response = _me(client, installed)

    assert (response.status_code, response.json()) == (502, {"error": "Bitrix24 refused the call: INVALID_ARG_VALUE"})
    assert Bitrix24Account.objects.get(pk=installed.pk).status == "active"
    assert ApplicationInstallation.objects.get().status == "new"


@pytest.mark.parametrize("answer", [PAYMENT_REQUIRED, NO_ACCESS], ids=["installation", "account"])
def test_the_next_verified_placement_lifts_a_block_the_backend_set(client, fake_b24, installed, answer):
    fake_b24.failing_rest_calls[PORTAL_A.domain] = answer
    assert _me(client, installed).status_code == 403
    del fake_b24.failing_rest_calls[PORTAL_A.domain]

    placement = fake_b24.placement(fake_b24.grant(PORTAL_A, user_id=installed.b24_user_id))
    response = client.post("/api/getToken", placement, content_type="application/json")

    assert response.status_code == 200
    assert _status_and_comment(Bitrix24Account, pk=installed.pk) == ("active", None)
    assert ApplicationInstallation.objects.get().status in ("new", "active")
    assert _me(client, installed).status_code == 200


@pytest.mark.parametrize("model", [Bitrix24Account, ApplicationInstallation])
def test_a_block_an_operator_set_is_never_lifted_by_a_placement(client, fake_b24, installed, model):
    model.objects.update(status="blocked", comment="blocked by the support team")
    placement = fake_b24.placement(fake_b24.grant(PORTAL_A, user_id=installed.b24_user_id))

    response = client.post("/api/getToken", placement, content_type="application/json")

    assert (response.status_code, response.json()) == (403, {"error": INACTIVE})
    assert set(model.objects.values_list("status", "comment")) == {("blocked", "blocked by the support team")}


def test_the_admin_shows_why_the_backend_blocked_an_account(admin_client, client, fake_b24, installed):
    fake_b24.failing_rest_calls[PORTAL_A.domain] = NO_ACCESS
    _me(client, installed)

    page = admin_client.get("/api/admin/main/bitrix24account/").content.decode()

    assert "Blocked" in page
    assert f"{AUTOMATIC}Bitrix24 answered INVALID_CREDENTIALS" in page
