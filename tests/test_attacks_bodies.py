"""Attacks with request bodies, query strings and their mix, each a named test.

Covered in `test_collect_request_data.py` and not repeated here: invalid JSON, non-UTF-8 bytes and deeply nested
JSON (`test_body_that_is_not_json_is_400`), a JSON array, string or number (`test_json_that_is_not_an_object_is_400`),
JSON and form bodies over the limit (`test_body_over_the_size_limit_is_413`), and repeated keys becoming lists.
"""

import json

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from config import config
from tests.support.fake_bitrix24 import PORTAL_A, PORTAL_B
from tests.support.invariants import assert_refused, rows

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"


def _post(client, body, content_type="application/json", path="/api/getToken", **extra):
    return client.generic("POST", path, body, content_type=content_type, **extra)


# --- Size limits -----------------------------------------------------------------------------------------


def test_the_body_limit_is_max_body_bytes_from_the_configuration():
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == config.max_body_bytes


def test_json_body_one_byte_over_the_configured_limit_is_413(client, fake_b24):
    body = json.dumps({"padding": ""}).encode()
    body = json.dumps({"padding": "x" * (config.max_body_bytes + 1 - len(body))}).encode()
    before = rows()

    response = _post(client, body)

    assert len(body) == config.max_body_bytes + 1
    assert assert_refused(response, before, 413) == "Request body is too large"
    assert fake_b24.requests == []


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_multipart_file_over_the_limit_is_413_not_streamed_to_disk(client, fake_b24):
    upload = SimpleUploadedFile("big.bin", b"x" * 4096)
    before = rows()

    response = client.post("/api/getToken", {"AUTH_ID": "x", "file": upload})

    assert assert_refused(response, before, 413) == "Request body is too large"
    assert fake_b24.requests == []


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_content_length_header_over_the_limit_is_413_whatever_the_body(client, fake_b24):
    before = rows()

    response = _post(client, b"{}", CONTENT_LENGTH="999999999999")

    assert_refused(response, before, 413)


@pytest.mark.parametrize("content_length", ["-1", "abc", "1e3", ""])
def test_malformed_content_length_is_a_clean_refusal(client, fake_b24, content_length):
    before = rows()

    response = _post(client, b'{"a": 1}', CONTENT_LENGTH=content_length)

    assert_refused(response, before, 400)
    assert fake_b24.requests == []


def test_content_length_shorter_than_the_body_truncates_it_into_invalid_json(client, fake_b24):
    before = rows()

    response = _post(client, b'{"AUTH_ID": "x", "DOMAIN": "y"}', CONTENT_LENGTH="10")

    assert assert_refused(response, before, 400) == "Request body is not valid JSON"


# --- Too many fields ------------------------------------------------------------------------------------


def _many_fields(count: int) -> str:
    return "&".join(f"f{i}=1" for i in range(count))


def test_query_string_with_more_fields_than_django_allows_is_400(client, fake_b24):
    before = rows()

    response = client.get(f"/api/list?{_many_fields(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}")

    assert assert_refused(response, before, 400) == "Request has too many fields"


def test_form_with_more_fields_than_django_allows_is_400(client, fake_b24):
    before = rows()

    response = _post(client, _many_fields(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1), FORM)

    assert assert_refused(response, before, 400) == "Request has too many fields"


@override_settings(DATA_UPLOAD_MAX_NUMBER_FILES=2)
def test_multipart_with_more_files_than_django_allows_is_400(client, fake_b24):
    files = {f"file{i}": SimpleUploadedFile(f"f{i}.txt", b"x") for i in range(3)}
    before = rows()

    response = client.post("/api/getToken", files)

    assert assert_refused(response, before, 400) == "Request has too many fields"


# --- Malformed forms and content types -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        pytest.param("multipart/form-data", b"--x\r\n", id="multipart-without-boundary"),
        pytest.param("multipart/form-data; boundary=", b"--\r\n", id="multipart-empty-boundary"),
        pytest.param("multipart/form-data; boundary=" + "b" * 300, b"--b\r\n", id="multipart-boundary-too-long"),
    ],
)
def test_malformed_multipart_is_400(client, fake_b24, content_type, body):
    before = rows()

    response = _post(client, body, content_type)

    assert assert_refused(response, before, 400) == "Request body is not a valid form"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded; charset=no-such-charset",
        "application/json; charset=no-such-charset",
        "text/plain",
        "application/octet-stream",
        "",
    ],
)
def test_odd_content_types_get_a_clean_answer(client, fake_b24, content_type):
    before = rows()

    response = _post(client, b"AUTH_ID=\xff\xfe&DOMAIN=%ff", content_type)

    assert_refused(response, before, 400)
    assert fake_b24.requests == []


# --- Form and JSON mixed ---------------------------------------------------------------------------------


def test_json_body_sent_as_a_form_is_not_read_as_placement(client, fake_b24):
    payload = fake_b24.placement(fake_b24.grant(PORTAL_A))
    before = rows()

    response = _post(client, json.dumps(payload), FORM)

    assert "Missing required field" in assert_refused(response, before, 400, [payload["AUTH_ID"]])
    assert fake_b24.requests == []


def test_form_body_sent_as_json_is_400(client, fake_b24):
    payload = fake_b24.placement(fake_b24.grant(PORTAL_A))
    form = "&".join(f"{k}={v}" for k, v in payload.items())
    before = rows()

    response = _post(client, form)

    assert assert_refused(response, before, 400, [payload["AUTH_ID"]]) == "Request body is not valid JSON"


def test_query_string_cannot_swap_the_portal_of_a_valid_json_placement(client, fake_b24):
    grant = fake_b24.grant(PORTAL_A)
    victim = fake_b24.grant(PORTAL_B)
    client.post("/api/getToken", fake_b24.placement(victim), content_type="application/json")
    before = rows()

    response = client.post(
        f"/api/getToken?DOMAIN={PORTAL_B.domain}&member_id={PORTAL_B.member_id}",
        fake_b24.placement(grant),
        content_type="application/json",
    )

    assert_refused(response, before, 401, [grant.access_token, grant.refresh_token])


def test_form_field_cannot_swap_the_token_of_a_query_string_placement(client, fake_b24):
    grant = fake_b24.grant(PORTAL_A)
    payload = fake_b24.placement(grant)
    query = "&".join(f"{k}={v}" for k, v in payload.items())
    before = rows()

    response = _post(client, "AUTH_ID=at-never-issued-by-bitrix24", FORM, path=f"/api/getToken?{query}")

    assert_refused(response, before, 401, [grant.access_token, grant.refresh_token])
    assert fake_b24.calls_to("/rest/app.info/") == 1


# --- Repeated keys ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["DOMAIN", "AUTH_ID", "member_id", "status"])
def test_repeated_key_in_the_query_string_is_400_naming_it(client, fake_b24, field):
    payload = fake_b24.placement(fake_b24.grant(PORTAL_A))
    query = "&".join(f"{k}={v}" for k, v in payload.items()) + f"&{field}={payload[field]}"
    before = rows()

    response = client.get(f"/api/list?{query}")

    assert field in assert_refused(response, before, 400, [payload["AUTH_ID"]])
    assert fake_b24.requests == []


@pytest.mark.parametrize("field", ["DOMAIN", "AUTH_ID", "member_id"])
def test_repeated_key_in_a_json_body_is_400_naming_it_not_last_one_wins(client, fake_b24, field):
    attacker, victim = fake_b24.grant(PORTAL_A), fake_b24.grant(PORTAL_B)
    payload, other = fake_b24.placement(attacker), fake_b24.placement(victim)
    body = json.dumps(payload)[:-1] + f", {json.dumps(field)}: {json.dumps(other[field])}}}"
    before = rows()

    response = _post(client, body)

    assert field in assert_refused(response, before, 400, [attacker.access_token, victim.access_token])
    assert fake_b24.requests == []


def test_repeated_key_in_a_form_is_400_naming_it(client, fake_b24):
    payload = fake_b24.placement(fake_b24.grant(PORTAL_A))
    form = "&".join(f"{k}={v}" for k, v in payload.items()) + f"&DOMAIN={PORTAL_B.domain}"
    before = rows()

    response = _post(client, form, FORM)

    assert "DOMAIN" in assert_refused(response, before, 400, [payload["AUTH_ID"]])
    assert fake_b24.requests == []


# --- Odd values ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"AUTH_ID": NaN}', id="nan"),
        pytest.param(b'{"AUTH_EXPIRES": Infinity}', id="infinity"),
        pytest.param(b'{"AUTH_EXPIRES": 1e999}', id="float-overflow"),
        pytest.param(b'{"AUTH_EXPIRES": ' + b"9" * 5000 + b"}", id="5000-digit-number"),
        pytest.param(b'{"\\u0000": "\\u0000", "DOMAIN": "\\ud800"}', id="nul-and-lone-surrogate"),
        pytest.param(b"\xef\xbb\xbf{}", id="utf-8-bom"),
        pytest.param('{"DOMAIN": "x"}'.encode("utf-16"), id="utf-16"),
        pytest.param(b'{"' + b"k" * 100_000 + b'": 1}', id="100-kb-key"),
    ],
)
def test_odd_json_values_are_a_clean_400(client, fake_b24, body):
    before = rows()

    response = _post(client, body)

    assert_refused(response, before, 400)
    assert fake_b24.requests == []
