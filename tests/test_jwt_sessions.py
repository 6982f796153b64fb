"""How long a JWT session lasts, and rotating the signing secret.

- `auth_time`: when Bitrix24 last vouched for the user. Placement data gets a JWT with `auth_time` = now; a Bearer
  renewal (`POST /api/getToken`) copies it, and is refused once it is JWT_MAX_AGE_HOURS old, so a stolen JWT cannot
  renew itself forever. A JWT issued before the claim existed counts its `iat`.
- JWT_SECRET_PREVIOUS: JWTs signed with it are accepted until they expire; new ones are signed with JWT_SECRET.
"""

from __future__ import annotations

import time

import jwt
import pytest

from tests.support.invariants import assert_refused, rows
from tests.support.jwts import claims_for, decoded, signed

pytestmark = pytest.mark.django_db

OLD_SECRET = "the-secret-before-the-rotation-0123456789abcdef"
HOUR = 3600
REFUSED_RENEWAL = "Fresh placement data is needed: this session is too old to renew its JWT"


def _token(account, secret: str | None = None, **claims: object) -> str:
    """A JWT of the account valid for five more minutes, vouched for now unless `auth_time` says otherwise
    (`auth_time=None` leaves the claim out)."""
    return signed(claims_for(account, **{"auth_time": int(time.time()), **claims}), secret)


def _renew(client, token: str):
    return client.post("/api/getToken", HTTP_AUTHORIZATION=f"Bearer {token}")


# --- auth_time ---------------------------------------------------------------------------------------------


def test_placement_data_gets_a_jwt_whose_auth_time_is_now(client, fake_b24):
    before = int(time.time())

    response = client.post("/api/getToken", fake_b24.placement(fake_b24.grant()), content_type="application/json")

    assert response.status_code == 200
    assert before <= decoded(response.json()["token"])["auth_time"] <= time.time()


def test_bearer_renewal_copies_auth_time(client, account, fake_b24):
    vouched = int(time.time()) - 23 * HOUR

    response = _renew(client, _token(account, auth_time=vouched, iat=int(time.time()) - 600))

    assert response.status_code == 200
    claims = decoded(response.json()["token"])
    assert claims["auth_time"] == vouched
    assert claims["iat"] >= time.time() - 5  # a new token...
    assert claims["account_id"] == str(account.pk)  # ...for the same account, without asking Bitrix24
    assert fake_b24.requests == []


def test_renewal_is_refused_once_auth_time_is_older_than_jwt_max_age_hours(client, account, fake_b24):
    token = _token(account, auth_time=int(time.time()) - 24 * HOUR - 1)
    before = rows()

    response = _renew(client, token)

    assert assert_refused(response, before, 401, [token]) == REFUSED_RENEWAL
    assert fake_b24.requests == []


def test_a_renewed_jwt_cannot_be_renewed_past_the_limit_either(client, account):
    """Renewing every hour never moves `auth_time` forward: the chain ends JWT_MAX_AGE_HOURS after the placement."""
    renewed = _renew(client, _token(account, auth_time=int(time.time()) - 24 * HOUR + 60)).json()["token"]

    assert decoded(renewed)["auth_time"] < time.time() - 24 * HOUR + 61
    assert _renew(client, renewed).status_code == 200
    assert decoded(_renew(client, renewed).json()["token"])["auth_time"] == decoded(renewed)["auth_time"]


def test_jwt_max_age_hours_comes_from_the_settings(client, account, settings):
    token = _token(account, auth_time=int(time.time()) - 2 * HOUR)

    settings.JWT_MAX_AGE_HOURS = 3
    assert _renew(client, token).status_code == 200
    settings.JWT_MAX_AGE_HOURS = 1
    assert _renew(client, token).json() == {"error": REFUSED_RENEWAL}


def test_a_jwt_without_auth_time_counts_its_iat(client, account):
    recent = int(time.time()) - HOUR
    long_ago = int(time.time()) - 25 * HOUR

    renewed = _renew(client, _token(account, auth_time=None, iat=recent))
    refused = _renew(client, _token(account, auth_time=None, iat=long_ago))

    assert renewed.status_code == 200
    assert decoded(renewed.json()["token"])["auth_time"] == recent
    assert (refused.status_code, refused.json()) == (401, {"error": REFUSED_RENEWAL})


def test_an_old_session_still_serves_other_calls_until_its_jwt_expires(client, account):
    token = _token(account, auth_time=int(time.time()) - 30 * HOUR)

    response = client.get("/api/list", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 200


def test_placement_data_renews_an_old_session(client, fake_b24, account):
    grant = fake_b24.grant()
    assert _renew(client, _token(account, auth_time=int(time.time()) - 30 * HOUR)).status_code == 401

    response = client.post("/api/getToken", fake_b24.placement(grant), content_type="application/json")

    assert response.status_code == 200
    assert decoded(response.json()["token"])["auth_time"] >= time.time() - 5


@pytest.mark.parametrize("auth_time", ["yesterday", [1], {"t": 1}], ids=["text", "array", "object"])
def test_auth_time_of_the_wrong_type_is_an_invalid_jwt(client, account, auth_time):
    before = rows()
    token = _token(account, auth_time=auth_time)

    response = _renew(client, token)

    assert assert_refused(response, before, 401, [token]) == "Invalid JWT token"


def test_a_bearer_renewal_costs_no_query_once_the_accounts_access_is_known(client, account, django_assert_num_queries):
    token = _token(account, auth_time=int(time.time()) - HOUR)
    assert _renew(client, token).status_code == 200  # reads the account's access once

    with django_assert_num_queries(0):
        assert _renew(client, token).status_code == 200


# --- JWT_SECRET_PREVIOUS -------------------------------------------------------------------------------------


def test_jwt_signed_with_the_previous_secret_is_accepted_and_renewed_with_the_current_one(client, account, settings):
    settings.JWT_SECRET_PREVIOUS = OLD_SECRET
    old = _token(account, secret=OLD_SECRET, auth_time=int(time.time()) - HOUR)

    listed = client.get("/api/list", HTTP_AUTHORIZATION=f"Bearer {old}")
    renewed = _renew(client, old)

    assert listed.status_code == 200
    assert renewed.status_code == 200
    token = renewed.json()["token"]
    assert decoded(token)["auth_time"] == decoded(old, OLD_SECRET)["auth_time"]
    with pytest.raises(jwt.InvalidSignatureError):
        decoded(token, OLD_SECRET)


def test_jwt_of_the_previous_secret_is_refused_once_the_setting_is_cleared(client, account, settings):
    settings.JWT_SECRET_PREVIOUS = OLD_SECRET
    old = _token(account, secret=OLD_SECRET)
    assert client.get("/api/list", HTTP_AUTHORIZATION=f"Bearer {old}").status_code == 200  # verified, memoized

    settings.JWT_SECRET_PREVIOUS = ""
    response = client.get("/api/list", HTTP_AUTHORIZATION=f"Bearer {old}")

    assert (response.status_code, response.json()) == (401, {"error": "Invalid JWT token"})


def test_expired_jwt_of_the_previous_secret_says_it_expired(client, account, settings):
    settings.JWT_SECRET_PREVIOUS = OLD_SECRET
    expired = _token(account, secret=OLD_SECRET, exp=int(time.time()) - 5)

    response = client.get("/api/list", HTTP_AUTHORIZATION=f"Bearer {expired}")

    assert (response.status_code, response.json()) == (401, {"error": "JWT token has expired"})


def test_a_third_secret_is_still_refused_during_a_rotation(client, account, settings):
    settings.JWT_SECRET_PREVIOUS = OLD_SECRET
    before = rows()
    forged = _token(account, secret="neither-the-current-nor-the-previous-secret-0123")

    response = client.get("/api/list", HTTP_AUTHORIZATION=f"Bearer {forged}")

    assert assert_refused(response, before, 401, [forged]) == "Invalid JWT token"
