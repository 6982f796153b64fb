"""Attacks with Bearer JWTs, each a named test. Every one gets a 401 JSON error, never reaches Bitrix24, echoes no
token or secret, and writes nothing.

Covered in `test_auth_required.py` and not repeated here: HS256 with another secret (`[wrong-secret]`), a bad signature,
expired, missing `exp`/`iat`/`account_id`, `account_id` not a UUID, unknown account, HS512 against HS256 (all in
`test_bad_bearer_tokens_get_401_with_their_reason`), `alg: none` (`test_alg_none_token_is_refused`) and a deleted
account (`test_deleted_account_loses_access`).
"""

import base64
import datetime as dt
import hashlib
import hmac
import json
import uuid

import jwt
import pytest

from config import config
from main.jwts import issue_jwt
from main.models import Bitrix24Account
from tests.support.invariants import assert_refused, rows
from tests.support.jwts import claims_for

pytestmark = pytest.mark.django_db

LIST = ["element 1", "element 2", "element 3"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _part(obj: dict) -> str:
    return _b64(json.dumps(obj, separators=(",", ":")).encode())


def _signed(header: dict, claims: dict, secret: str = config.jwt_secret) -> str:
    """A JWT with any header, HMAC-SHA256-signed with `secret`: what an attacker who knew the secret could make."""
    signing_input = f"{_part(header)}.{_part(claims)}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _refused(client, authorization: str, before: list[tuple]) -> str:
    response = client.get("/api/list", HTTP_AUTHORIZATION=authorization)
    return assert_refused(response, before, 401, [authorization.partition(" ")[2]])


@pytest.fixture
def before(account):
    return rows()


# --- Algorithms ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_unsigned_token_in_any_spelling_of_alg_none_is_401(client, account, fake_b24, before, alg):
    token = f"{_part({'alg': alg, 'typ': 'JWT'})}.{_part(claims_for(account))}."

    assert _refused(client, f"Bearer {token}", before) == "Invalid JWT token"
    assert fake_b24.requests == []


@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256", "EdDSA"])
def test_token_of_another_algorithm_family_is_401_even_if_hmac_signed_with_our_secret(
    client, account, fake_b24, before, alg
):
    # The classic confusion: an asymmetric `alg` whose "public key" is our shared secret.
    token = _signed({"alg": alg, "typ": "JWT"}, claims_for(account))

    assert _refused(client, f"Bearer {token}", before) == "Invalid JWT token"
    assert fake_b24.requests == []


def test_token_with_our_algorithm_but_an_empty_signature_is_401(client, account, before):
    token = _signed({"alg": "HS256", "typ": "JWT"}, claims_for(account)).rpartition(".")[0] + "."

    assert _refused(client, f"Bearer {token}", before) == "Invalid JWT token"


def test_key_location_headers_are_ignored_and_never_fetched(client, account, fake_b24, before):
    header = {"alg": "HS256", "jku": "https://portal-a.bitrix24.com/keys", "x5u": "https://evil.example/k", "kid": "1"}
    token = _signed(header, claims_for(account), secret="attacker-chosen-secret-0123456789")

    assert _refused(client, f"Bearer {token}", before) == "Invalid JWT token"
    assert fake_b24.requests == []


# --- Claims ----------------------------------------------------------------------------------------------


def test_token_issued_in_the_future_is_401(client, account, before):
    later = int(dt.datetime.now(dt.UTC).timestamp()) + 3600
    token = jwt.encode(claims_for(account, iat=later, exp=later + 300), config.jwt_secret, algorithm="HS256")

    assert _refused(client, f"Bearer {token}", before) == "Invalid JWT token"


def test_token_not_valid_before_a_future_time_is_401(client, account, before):
    later = int(dt.datetime.now(dt.UTC).timestamp()) + 3600
    token = jwt.encode(claims_for(account, nbf=later), config.jwt_secret, algorithm="HS256")

    assert _refused(client, f"Bearer {token}", before) == "Invalid JWT token"


def test_token_with_all_claims_missing_is_401(client, account, before):
    token = jwt.encode({}, config.jwt_secret, algorithm="HS256")

    assert _refused(client, f"Bearer {token}", before) == "Invalid JWT token"


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"exp": "tomorrow"}, id="exp-text"),
        pytest.param({"iat": "now"}, id="iat-text"),
        pytest.param({"account_id": 12345}, id="account_id-number"),
        pytest.param({"account_id": ["a", "b"]}, id="account_id-array"),
        pytest.param({"account_id": {"id": "x"}}, id="account_id-object"),
        pytest.param({"account_id": ""}, id="account_id-empty"),
        pytest.param({"account_id": "' OR 1=1 --"}, id="account_id-sql"),
        pytest.param({"account_id": str(uuid.UUID(int=0))}, id="account_id-nil-uuid"),
    ],
)
def test_token_with_claims_of_the_wrong_type_is_401(client, account, before, claims):
    token = jwt.encode(claims_for(account, **claims), config.jwt_secret, algorithm="HS256")

    assert _refused(client, f"Bearer {token}", before) == "Invalid JWT token"


def test_tampered_payload_naming_another_account_is_401(client, account, before):
    other = Bitrix24Account.objects.create(
        b24_user_id=8, domain_url=account.domain_url, member_id=account.member_id, status="active"
    )
    before = rows()
    header, _, signature = issue_jwt(account.pk).split(".")
    token = f"{header}.{_part(claims_for(other))}.{signature}"

    assert _refused(client, f"Bearer {token}", before) == "Invalid JWT token"


def test_tampered_payload_with_a_later_expiry_is_401(client, account, before):
    header, payload, signature = issue_jwt(account.pk, minutes=1).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    token = f"{header}.{_part({**claims, 'exp': claims['exp'] + 10**6})}.{signature}"

    assert _refused(client, f"Bearer {token}", before) == "Invalid JWT token"


# --- The Authorization header ----------------------------------------------------------------------------


@pytest.mark.parametrize("authorization", ["Bearer", "Bearer ", "Bearer     ", "bearer", "Bearer \t"])
def test_empty_bearer_is_401(client, account, before, authorization):
    assert _refused(client, authorization, before) == "Invalid JWT token"


def test_bearer_with_two_tokens_is_401(client, account, before):
    token = issue_jwt(account.pk)

    assert _refused(client, f"Bearer {token} {token}", before) == "Invalid JWT token"


def test_bearer_with_a_token_and_trailing_garbage_is_401(client, account, before):
    assert _refused(client, f"Bearer {issue_jwt(account.pk)} x", before) == "Invalid JWT token"


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR"])
def test_scheme_is_case_insensitive_as_rfc_9110_says(client, account, fake_b24, scheme):
    response = client.get("/api/list", HTTP_AUTHORIZATION=f"{scheme} {issue_jwt(account.pk)}")

    assert response.status_code == 200
    assert response.json() == LIST
    assert fake_b24.requests == []


def test_lowercase_bearer_with_a_bad_token_is_the_same_401(client, account, before):
    assert _refused(client, "bearer not.a.token", before) == "Invalid JWT token"


def test_100_kb_token_is_401(client, account, fake_b24, before):
    token = _signed({"alg": "HS256"}, {**claims_for(account), "pad": "x" * 100_000}, secret="guessed-secret-0123456789")

    assert len(token) > 100_000
    assert _refused(client, f"Bearer {token}", before) == "Invalid JWT token"
    assert fake_b24.requests == []


def test_100_kb_of_garbage_as_token_is_401(client, account, before):
    assert _refused(client, "Bearer " + "A" * 100_000, before) == "Invalid JWT token"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("\u00e9\u00e8.\u00e0.\u00fc", id="latin-1-letters"),
        pytest.param("a.b.c.d.e", id="five-parts"),
        pytest.param("...", id="only-dots"),
        pytest.param("eyJ.eyJ.", id="truncated-base64"),
    ],
)
def test_malformed_token_is_401(client, account, before, token):
    assert _refused(client, f"Bearer {token}", before) == "Invalid JWT token"


def test_other_schemes_fall_back_to_placement_data_and_are_400(client, account, fake_b24, before):
    response = client.get("/api/list", HTTP_AUTHORIZATION="Basic YWRtaW46YWRtaW4=")

    assert "Missing required field" in assert_refused(response, before, 400)
    assert fake_b24.requests == []


def test_refused_token_never_appears_in_the_log(client, account, caplog):
    token = _signed({"alg": "RS256"}, claims_for(account))

    client.get("/api/list", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert caplog.records, "the refusal is logged"
    assert token not in caplog.text
