"""The developer tools (main/management/commands/): `manage.py issue_jwt` prints a JWT for curl in development and
refuses in production; `manage.py b24_call` calls the portal as an account through b24pysdk, saving renewed tokens,
and turns Bitrix24's refusals into a clear message and exit status 1, never a traceback with tokens.

The commands run through `call_command` (the fake Bitrix24 answers b24_call's calls), and once each as a real
`manage.py` process for the exit status and what reaches the terminal.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from main.jwts import verify_jwt
from main.models import Bitrix24Account
from tests.support.fake_bitrix24 import NOT_INSTALLED, RestError
from tests.support.network import free_port
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.django_db


def _run(name: str, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# --- issue_jwt -------------------------------------------------------------------------------------------------


def test_issue_jwt_prints_a_jwt_of_the_account_named_by_its_id(account, development):
    out, err = _run("issue_jwt", str(account.pk))

    assert verify_jwt(out.strip()).account_id == account.pk
    assert err == ""


def test_issue_jwt_finds_the_account_by_portal_domain_and_user_id(account, development):
    out, _ = _run("issue_jwt", account.domain_url, str(account.b24_user_id))

    verified = verify_jwt(out.strip())
    assert verified.account_id == account.pk
    assert verified.expires - time.time() == pytest.approx(60 * 60, abs=5)  # JWT_LIFETIME_MINUTES


def test_issue_jwt_takes_a_lifetime(account, development):
    out, _ = _run("issue_jwt", str(account.pk), "--minutes", "5")

    assert verify_jwt(out.strip()).expires - time.time() == pytest.approx(5 * 60, abs=5)


def test_the_printed_jwt_works_with_the_api(client, account, development):
    out, _ = _run("issue_jwt", str(account.pk))

    response = client.get("/api/list", HTTP_AUTHORIZATION=f"Bearer {out.strip()}")

    assert response.status_code == 200


def test_issue_jwt_warns_when_the_account_may_not_act(account, development):
    Bitrix24Account.objects.filter(pk=account.pk).update(status="blocked")

    out, err = _run("issue_jwt", str(account.pk))

    assert verify_jwt(out.strip()).account_id == account.pk
    assert "may not act (status blocked): the API will answer 403" in err


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["00000000-0000-0000-0000-000000000000"], "No account has the id 00000000-0000-0000-0000-000000000000."),
        (["portal-a.bitrix24.com", "99"], "No account of user 99 on portal-a.bitrix24.com."),
        (["portal-a.bitrix24.com"], "after a portal domain give the Bitrix24 user id"),
        (["portal-a.bitrix24.com", "seven"], "after a portal domain give the Bitrix24 user id"),
        (["portal-a.bitrix24.com", "7", "extra"], "Unexpected arguments: extra"),
    ],
)
def test_issue_jwt_says_what_is_wrong_with_the_account_named(account, development, words, message):
    with pytest.raises(CommandError, match=message.replace(".", r"\.")):
        _run("issue_jwt", *words)


def test_issue_jwt_refuses_in_production(account):
    with pytest.raises(CommandError, match=r"for development only and refuses in production \(BUILD_TARGET=production"):
        _run("issue_jwt", str(account.pk))  # DEBUG off, as in production


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    """`python manage.py ...` as a developer runs it, on the tests' database."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_manage_py_issue_jwt_exits_non_zero_in_production_with_a_clear_message():
    production = {"BUILD_TARGET": "production", "JWT_SECRET": "a-production-secret-" + "0" * 32}

    result = _manage("issue_jwt", "portal-a.bitrix24.com", "7", **production)

    assert result.returncode == 1
    assert "eyJ" not in result.stdout  # no JWT (stdout has the log lines)
    assert result.stderr.startswith("CommandError: issue_jwt is for development only and refuses in production")
    assert "Traceback" not in result.stderr


# --- b24_call --------------------------------------------------------------------------------------------------


def test_b24_call_prints_bitrix24s_json_answer(portal_admin):
    out, _ = _run("b24_call", str(portal_admin.pk), "profile")

    answer = json.loads(out)
    assert answer["result"] == {"ID": "7", "ADMIN": True, "NAME": "Test", "LAST_NAME": "User 7"}


def test_b24_call_sends_the_params_and_names_the_account_by_domain_and_user(account, fake_b24):
    fake_b24.grant_behind(account)
    fake_b24.rest_results["crm.deal.get"] = {"ID": "12", "TITLE": "A deal"}

    out, _ = _run("b24_call", account.domain_url, str(account.b24_user_id), "crm.deal.get", '{"ID": 12}')

    assert json.loads(out)["result"] == {"ID": "12", "TITLE": "A deal"}
    assert ("POST", "/rest/crm.deal.get.json") in fake_b24.requests


def test_b24_call_renews_an_expired_token_and_saves_the_new_pair(account, fake_b24):
    grant = fake_b24.grant_behind(account)
    grant.expired = True  # Bitrix24 answers expired_token; the SDK renews with the refresh token

    out, _ = _run("b24_call", str(account.pk), "profile")

    assert json.loads(out)["result"]["ID"] == "7"
    renewed = fake_b24.live_grant()
    row = Bitrix24Account.objects.get(pk=account.pk)
    assert (row.access_token, row.refresh_token) == (renewed.access_token, renewed.refresh_token)
    assert row.refresh_token != grant.refresh_token
    assert fake_b24.calls_to("/oauth/token/") == 1


def test_b24_call_prints_bitrix24s_refusal_without_tokens(account, fake_b24):
    fake_b24.grant_behind(account)
    fake_b24.command_errors["crm.deal.get"] = RestError(400, "ERROR_NOT_FOUND", "Not found")

    with pytest.raises(CommandError) as refused:
        _run("b24_call", str(account.pk), "crm.deal.get", '{"ID": 404}')

    assert str(refused.value) == "Bitrix24 refused the call: ERROR_NOT_FOUND (Not found)"


def test_b24_call_moves_the_statuses_when_the_app_is_gone(account, fake_b24):
    fake_b24.grant_behind(account)
    fake_b24.failing_rest_calls[account.domain_url] = NOT_INSTALLED

    with pytest.raises(CommandError, match=r"This Bitrix24 account is not active \(Application not installed\)"):
        _run("b24_call", str(account.pk), "profile")


def test_b24_call_says_when_the_refresh_token_is_refused(account, fake_b24):
    grant = fake_b24.grant_behind(account)
    grant.expired, grant.refresh_token = True, None  # expired, and its refresh token spent already

    with pytest.raises(CommandError) as refused:
        _run("b24_call", str(account.pk), "profile")

    assert str(refused.value).startswith("This Bitrix24 account is not active")
    assert account.access_token not in str(refused.value)
    assert account.refresh_token not in str(refused.value)
    assert Bitrix24Account.objects.get(pk=account.pk).status == "blocked"


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ([], "Give the REST method"),
        (["profile", "[1, 2]"], "The params must be a JSON object"),
        (["profile", "{not json"], "The params must be a JSON object"),
        (["profile", "{}", "extra"], "Give the REST method"),
    ],
)
def test_b24_call_says_what_is_wrong_with_the_method_or_params(account, fake_b24, words, message):
    with pytest.raises(CommandError, match=message):
        _run("b24_call", str(account.pk), *words)
    assert fake_b24.requests == []


@pytest.fixture
def committed_account(transactional_db, account):
    """`account` committed, for another process to read; deleted afterwards (the flush after a transactional test
    leaves the unmanaged shared tables alone)."""
    yield account
    Bitrix24Account.objects.filter(pk=account.pk).delete()


def test_manage_py_b24_call_exits_non_zero_with_no_traceback_and_no_token(committed_account):
    """A real process whose calls to Bitrix24 fail: they go to a proxy on a closed local port (nothing leaves the
    machine), so the SDK's connection fails."""
    account = committed_account
    unreachable = f"http://127.0.0.1:{free_port()}"
    database = connection.settings_dict["NAME"]

    result = _manage("b24_call", str(account.pk), "profile", DB_NAME=database, https_proxy=unreachable, no_proxy="")

    assert result.returncode == 1
    assert result.stderr == "CommandError: Bitrix24 is not answering correctly; try again later\n"
    for token in (account.access_token, account.refresh_token):
        assert token not in result.stdout + result.stderr
