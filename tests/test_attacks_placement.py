"""Attacks with Bitrix24 placement data (the way in without a JWT), each a named test.

Every malformed placement is refused with a 400 that names the field, before Bitrix24 is asked and before any row is
written. Covered in `test_auth_required.py` and not repeated here: each required field missing in turn
(`test_missing_placement_field_is_400_naming_it`), a valid token of portal A with portal B's identity
(`test_valid_token_of_portal_a_cannot_claim_portal_b`), a valid token of another app
(`test_valid_token_of_another_app_is_refused`) and a token Bitrix24 rejects
(`test_token_that_bitrix24_rejects_is_401_and_writes_nothing`).
"""

import json

import pytest

from tests.support.fake_bitrix24 import PORTAL_A, PORTAL_B
from tests.support.invariants import assert_refused, rows

pytestmark = pytest.mark.django_db

TEXT_FIELDS = ("AUTH_ID", "REFRESH_ID", "DOMAIN", "LANG", "APP_SID", "member_id", "status")
NUMBER_FIELDS = ("AUTH_EXPIRES", "PROTOCOL")


def _refused_placement(client, fake_b24, **overrides) -> str:
    """Post a placement of a valid grant with `overrides`; check it is a clean 400 that asked nobody."""
    grant = fake_b24.grant(PORTAL_A)
    before = rows()

    response = client.post("/api/getToken", fake_b24.placement(grant, **overrides), content_type="application/json")

    error = assert_refused(response, before, 400, [grant.access_token, grant.refresh_token])
    assert fake_b24.requests == [], "malformed placement data must not reach Bitrix24"
    return error


# --- Wrong types ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", TEXT_FIELDS)
@pytest.mark.parametrize(
    "value",
    [
        pytest.param(["a", "b"], id="array"),
        pytest.param({"value": "x"}, id="object"),
        pytest.param(12345, id="number"),
        pytest.param(1.5, id="float"),
        pytest.param(True, id="boolean"),
        pytest.param("", id="empty-string"),
        pytest.param("x" * 256, id="over-255-characters"),
        pytest.param("at-\x00-nul", id="nul-character"),
        pytest.param("line\nbreak", id="control-character"),
    ],
)
def test_text_field_of_the_wrong_type_is_400_naming_it(client, fake_b24, field, value):
    assert field in _refused_placement(client, fake_b24, **{field: value})


@pytest.mark.parametrize("field", NUMBER_FIELDS)
@pytest.mark.parametrize(
    "value",
    [
        pytest.param([1], id="array"),
        pytest.param({"n": 1}, id="object"),
        pytest.param(True, id="boolean"),
        pytest.param(1.5, id="float"),
        pytest.param("1.5", id="decimal-string"),
        pytest.param("one", id="word"),
        pytest.param(" 1", id="padded"),
        pytest.param("\u0661", id="arabic-indic-digit"),
        pytest.param("", id="empty-string"),
        pytest.param(-1, id="negative"),
        pytest.param(2**31, id="beyond-the-integer-column"),
        pytest.param("9999999999", id="ten-digits-beyond-the-integer-column"),
        pytest.param(10**400, id="huge"),
    ],
)
def test_number_field_of_the_wrong_type_or_range_is_400_naming_it(client, fake_b24, field, value):
    assert field in _refused_placement(client, fake_b24, **{field: value})


@pytest.mark.parametrize("value", [2, -1, "2", "10", 255])
def test_protocol_other_than_0_or_1_is_400(client, fake_b24, value):
    assert "PROTOCOL" in _refused_placement(client, fake_b24, PROTOCOL=value)


@pytest.mark.parametrize("value", ["X", "l", "LL", "active", "L ", "\uff2c"])  # the last: a fullwidth L
def test_status_outside_bitrix24_codes_is_400(client, fake_b24, value):
    assert "status" in _refused_placement(client, fake_b24, status=value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("{not json", id="invalid-json"),
        pytest.param('{"a": 1', id="truncated-json"),
        pytest.param("[1, 2]", id="json-array"),
        pytest.param('"text"', id="json-string"),
        pytest.param("42", id="json-number"),
        pytest.param("null", id="json-null"),
        pytest.param("", id="empty-string"),
        pytest.param("[" * 50_000 + "]" * 50_000, id="deeply-nested-json"),
        pytest.param([1, 2], id="array"),
        pytest.param(42, id="number"),
    ],
)
def test_placement_options_that_are_not_an_object_are_400(client, fake_b24, value):
    assert "PLACEMENT_OPTIONS" in _refused_placement(client, fake_b24, PLACEMENT_OPTIONS=value)


@pytest.mark.parametrize("value", [{"ID": 5}, json.dumps({"ID": 5})])
def test_placement_options_as_object_or_json_string_are_accepted(client, fake_b24, value):
    grant = fake_b24.grant(PORTAL_A)

    response = client.post(
        "/api/getToken", fake_b24.placement(grant, PLACEMENT_OPTIONS=value), content_type="application/json"
    )

    assert response.status_code == 200


# --- DOMAIN ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "domain",
    [
        pytest.param("https://portal-a.bitrix24.com", id="https-scheme"),
        pytest.param("http://portal-a.bitrix24.com", id="http-scheme"),
        pytest.param("//portal-a.bitrix24.com", id="scheme-relative"),
        pytest.param("portal-a.bitrix24.com/rest/", id="path"),
        pytest.param("portal-a.bitrix24.com?x=1", id="query"),
        pytest.param("portal-a.bitrix24.com#x", id="fragment"),
        pytest.param("a@b", id="userinfo-a@b"),
        pytest.param("user@portal-a.bitrix24.com", id="userinfo"),
        pytest.param("evil.com\\@portal-a.bitrix24.com", id="backslash-userinfo"),
        pytest.param("portal-a.bitrix24.com:443", id="port"),
        pytest.param("portal-a.bitrix24.com:8080", id="other-port"),
        pytest.param("127.0.0.1", id="ipv4-literal"),
        pytest.param("169.254.169.254", id="cloud-metadata-ip"),
        pytest.param("[::1]", id="ipv6-literal"),
        pytest.param("2130706433", id="ip-as-integer"),
        pytest.param("localhost", id="single-label"),
        pytest.param("портал.bitrix24.ru", id="unicode"),
        pytest.param("portal-\u0430.bitrix24.com", id="cyrillic-lookalike-letter"),
        pytest.param("x" * 64 + ".bitrix24.com", id="label-over-63"),
        pytest.param(("a" * 63 + ".") * 4 + "com", id="name-over-253"),
        pytest.param("-portal.bitrix24.com", id="label-starting-with-hyphen"),
        pytest.param("portal-.bitrix24.com", id="label-ending-with-hyphen"),
        pytest.param("portal..bitrix24.com", id="empty-label"),
        pytest.param("portal-a.bitrix24.com.", id="trailing-dot"),
        pytest.param("portal a.bitrix24.com", id="space"),
        pytest.param("portal-a.bitrix24.com\n", id="trailing-newline"),
        pytest.param("portal-a.bitrix24.com\x00.evil.com", id="nul-byte"),
        pytest.param("portal_a.bitrix24.com", id="underscore"),
    ],
)
def test_domain_that_is_not_a_bare_host_name_is_400_without_calling_bitrix24(client, fake_b24, domain):
    assert "DOMAIN" in _refused_placement(client, fake_b24, DOMAIN=domain)


@pytest.mark.parametrize(
    "forgery",
    [
        pytest.param({"DOMAIN": PORTAL_A.domain.upper()}, id="domain-in-capitals"),
        pytest.param({"DOMAIN": "xn--80ak6aa92e.bitrix24.com"}, id="punycode-of-another-name"),
        pytest.param({"member_id": PORTAL_A.member_id.upper()}, id="member_id-in-capitals"),
    ],
)
def test_well_formed_identity_that_bitrix24_does_not_confirm_is_401_and_writes_nothing(client, fake_b24, forgery):
    victim = fake_b24.grant(PORTAL_B, user_id=1)
    client.post("/api/getToken", fake_b24.placement(victim), content_type="application/json")
    attacker = fake_b24.grant(PORTAL_A, user_id=1)
    before = rows()

    response = client.post("/api/getToken", fake_b24.placement(attacker, **forgery), content_type="application/json")

    assert_refused(response, before, 401, [attacker.access_token, attacker.refresh_token])
    assert fake_b24.calls_to("/rest/app.info/") == 2  # the victim's own login, then the refused attempt


def test_install_refused_after_valid_placement_data_writes_nothing(client, fake_b24):
    """The placement data is fine, the install field is not: the account row must not be created either."""
    payload = fake_b24.placement(fake_b24.grant(PORTAL_A), LICENSE_FAMILY=["a", "b"])
    before = rows()

    response = client.post("/api/install", payload, content_type="application/json")

    assert "LICENSE_FAMILY" in assert_refused(response, before, 400)
