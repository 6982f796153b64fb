"""`auth_required`: both ways in (Bearer JWT, Bitrix24 placement data) and every error it maps to JSON."""

import datetime as dt
import json

import jwt
import pytest

from main.jwts import issue_jwt, verify_jwt
from main.models import Bitrix24Account
from tests.support.fake_bitrix24 import CLIENT_ID, PORTAL_A, PORTAL_B
from tests.support.jwts import claims_for, decoded, signed

pytestmark = pytest.mark.django_db


def _get_list(client, token: str):
    return client.get("/api/list", HTTP_AUTHORIZATION=f"Bearer {token}")


def _account_rows() -> list[tuple]:
    return list(Bitrix24Account.objects.order_by("pk").values_list("pk", "domain_url", "member_id", "access_token"))


# --- Bearer JWT ------------------------------------------------------------------------------------------


def test_bearer_jwt_round_trip_reaches_the_view_without_calling_bitrix24(client, account, fake_b24):
    response = _get_list(client, issue_jwt(account.pk))

    assert response.status_code == 200
    assert response.json() == ["element 1", "element 2", "element 3"]
    assert fake_b24.requests == []


def test_jwt_claims_are_account_id_iat_exp_and_auth_time(account):
    claims = decoded(issue_jwt(account.pk, minutes=5))

    assert set(claims) == {"account_id", "iat", "exp", "auth_time"}
    assert claims["account_id"] == str(account.pk)
    assert claims["exp"] - claims["iat"] == 300
    assert claims["auth_time"] == claims["iat"]  # issued for placement data: Bitrix24 vouched just now
    assert verify_jwt(issue_jwt(account.pk)).account_id == account.pk


@pytest.mark.parametrize(
    ("make_token", "expected"),
    [
        pytest.param(
            lambda a: signed(claims_for(a), secret="another-secret-0123456789abcdef0123"),
            "Invalid JWT token",
            id="wrong-secret",
        ),
        pytest.param(lambda a: signed(claims_for(a))[:-4] + "AAAA", "Invalid JWT token", id="bad-signature"),
        pytest.param(
            lambda a: signed(claims_for(a, exp=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5))),
            "JWT token has expired",
            id="expired",
        ),
        pytest.param(lambda a: signed(claims_for(a, exp=None)), "Invalid JWT token", id="missing-exp"),
        pytest.param(lambda a: signed(claims_for(a, iat=None)), "Invalid JWT token", id="missing-iat"),
        pytest.param(lambda a: signed(claims_for(a, account_id=None)), "Invalid JWT token", id="missing-account_id"),
        pytest.param(
            lambda a: signed(claims_for(a, account_id="not-a-uuid")), "Invalid JWT token", id="account-not-uuid"
        ),
        pytest.param(
            lambda a: signed(claims_for(a, account_id="6f1c3f5e-0000-4000-8000-000000000000")),
            "Invalid JWT token",
            id="unknown-account",
        ),
        pytest.param(
            lambda a: signed(claims_for(a), algorithm="HS512"), "Invalid JWT token", id="other-hmac-algorithm"
        ),
        pytest.param(lambda a: "not.a.jwt", "Invalid JWT token", id="garbage"),
    ],
)
def test_bad_bearer_tokens_get_401_with_their_reason(client, account, fake_b24, make_token, expected):
    response = _get_list(client, make_token(account))

    assert response.status_code == 401
    assert response.json() == {"error": expected}
    assert fake_b24.requests == []


def test_alg_none_token_is_refused(client, account):
    unsigned = jwt.encode(claims_for(account), key=None, algorithm="none")

    response = _get_list(client, unsigned)

    assert response.status_code == 401
    assert response.json() == {"error": "Invalid JWT token"}


def test_deleted_account_loses_access(client, account, bearer):
    account.delete()

    response = client.get("/api/list", **bearer)

    assert response.status_code == 401
    assert response.json() == {"error": "Invalid JWT token"}


# --- Placement data -----------------------------------------------------------------------------------


def test_placement_creates_account_and_returns_a_jwt_for_it(client, fake_b24):
    grant = fake_b24.grant(PORTAL_A, user_id=42)

    response = client.post("/api/getToken", fake_b24.placement(grant), content_type="application/json")

    assert response.status_code == 200
    account = Bitrix24Account.objects.get()
    assert (account.domain_url, account.member_id, account.b24_user_id) == (PORTAL_A.domain, PORTAL_A.member_id, 42)
    assert (account.access_token, account.refresh_token) == (grant.access_token, grant.refresh_token)
    assert account.status == "active"
    assert account.current_scope == ["crm", "user"]
    assert account.application_version == 3
    assert account.expires_timestamp > dt.datetime.now(dt.UTC).timestamp() + 3000
    assert verify_jwt(response.json()["token"]).account_id == account.pk
    assert fake_b24.calls_to("/rest/app.info/") == 1


def test_placement_updates_the_existing_account_of_the_same_user_and_portal(client, fake_b24):
    first, second = fake_b24.grant(PORTAL_A, user_id=42), fake_b24.grant(PORTAL_A, user_id=42)
    client.post("/api/getToken", fake_b24.placement(first), content_type="application/json")

    response = client.post("/api/getToken", fake_b24.placement(second), content_type="application/json")

    assert response.status_code == 200
    account = Bitrix24Account.objects.get()
    assert account.access_token == second.access_token


def test_bitrix24_iframe_form_post_with_query_string_is_accepted(client, fake_b24):
    grant = fake_b24.grant(PORTAL_A, user_id=5)
    payload = fake_b24.placement(grant, PLACEMENT="DEFAULT", PLACEMENT_OPTIONS=json.dumps({"any": "thing"}))
    query = {k: payload.pop(k) for k in ("DOMAIN", "PROTOCOL", "LANG", "APP_SID")}

    response = client.post(f"/api/getToken?{'&'.join(f'{k}={v}' for k, v in query.items())}", payload)

    assert response.status_code == 200
    assert Bitrix24Account.objects.get().domain_url == PORTAL_A.domain


@pytest.mark.parametrize(
    "field", ["AUTH_ID", "REFRESH_ID", "AUTH_EXPIRES", "DOMAIN", "PROTOCOL", "LANG", "APP_SID", "member_id", "status"]
)
def test_missing_placement_field_is_400_naming_it(client, fake_b24, field):
    payload = fake_b24.placement(fake_b24.grant())
    del payload[field]

    response = client.post("/api/getToken", payload, content_type="application/json")

    assert response.status_code == 400
    assert field in response.json()["error"]
    assert fake_b24.requests == []
    assert not Bitrix24Account.objects.exists()


def test_token_that_bitrix24_rejects_is_401_and_writes_nothing(client, fake_b24):
    payload = fake_b24.placement(fake_b24.grant())
    payload["AUTH_ID"] = "at-never-issued"

    response = client.post("/api/getToken", payload, content_type="application/json")

    assert response.status_code == 401
    assert response.json() == {"error": "Bitrix24 rejected the access token"}
    assert not Bitrix24Account.objects.exists()


@pytest.mark.parametrize(
    "forgery",
    [
        pytest.param({"DOMAIN": PORTAL_B.domain}, id="domain-of-another-portal"),
        pytest.param({"member_id": PORTAL_B.member_id}, id="member_id-of-another-portal"),
        pytest.param(
            {"DOMAIN": PORTAL_B.domain, "member_id": PORTAL_B.member_id}, id="whole-identity-of-another-portal"
        ),
    ],
)
def test_valid_token_of_portal_a_cannot_claim_portal_b(client, fake_b24, forgery):
    victim_grant = fake_b24.grant(PORTAL_B, user_id=1)
    client.post("/api/getToken", fake_b24.placement(victim_grant), content_type="application/json")
    before = _account_rows()
    attacker = fake_b24.grant(PORTAL_A, user_id=1)

    response = client.post("/api/getToken", fake_b24.placement(attacker, **forgery), content_type="application/json")

    assert response.status_code == 401
    assert "token" not in response.json()
    assert _account_rows() == before


def test_valid_token_of_another_app_is_refused(client, fake_b24):
    foreign = fake_b24.grant(PORTAL_A, user_id=1, client_id="local.other-app.999")

    response = client.post("/api/getToken", fake_b24.placement(foreign), content_type="application/json")

    assert response.status_code == 401
    assert not Bitrix24Account.objects.exists()
    assert foreign.client_id != CLIENT_ID


def test_placement_on_a_get_view_authenticates_by_query_string(client, fake_b24):
    payload = fake_b24.placement(fake_b24.grant())

    response = client.get("/api/enum", payload)

    assert response.status_code == 200
    assert response.json() == ["option 1", "option 2", "option 3"]
