"""Property-based fuzzing of the whole stack: hypothesis builds requests (method, path, headers, query string, JSON,
form or raw bodies, placement data valid or mangled, good and bad Bearer tokens) and sends them through
`django.test.Client` with CSRF checks on, into `collect_request_data`, `auth_required` and the views, with the fake
Bitrix24 answering any call to it. For every request the invariants of `tests/support/invariants.py` must hold:

- the status is below 500, and the body is JSON (`{"error": "..."}` for every 4xx);
- no secret is in the answer, and the request's own credentials are neither in a refusal nor in the log;
- a refused request writes and changes no row.

`make test` runs FUZZ_EXAMPLES=200 examples (the default); more for a deeper search, e.g.
`FUZZ_EXAMPLES=5000 make test PYTEST_ARGS=tests/test_fuzz.py`.
"""

from __future__ import annotations

import json
import os
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from main.jwts import issue_jwt
from tests.support.fake_bitrix24 import PORTAL_A, PORTAL_B
from tests.support.invariants import API_ROUTES, assert_json_error, assert_no_secret, rows

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))

ROUTES = {
    **API_ROUTES,
    "/api/getToken/": "POST",  # not a route: trailing slash
    "/api/v2": "GET",  # not a route
}
OTHER_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
PLACEMENT_FIELDS = [
    "AUTH_ID",
    "REFRESH_ID",
    "AUTH_EXPIRES",
    "DOMAIN",
    "PROTOCOL",
    "LANG",
    "APP_SID",
    "member_id",
    "status",
    "PLACEMENT",
    "PLACEMENT_OPTIONS",
    "LICENSE_FAMILY",
]
FORM = "application/x-www-form-urlencoded"
CONTENT_TYPES = [
    "application/json",
    FORM,
    MULTIPART_CONTENT,
    "multipart/form-data",
    "text/plain",
    "application/json; charset=latin-1",
    "",
]

# Header values travel as latin-1 in WSGI.
header_text = st.text(st.characters(max_codepoint=255, exclude_categories=("Cs",)), max_size=80)
# Credentials the fuzzer invents or the fake Bitrix24 issues, and JWTs: long and distinctive, so finding one in an
# answer or a log line is never a coincidence. Other values of credential fields are not checked.
TOKEN_PREFIXES = ("tok-", "at-", "rt-", "eyJ")
invented_token = st.from_regex(r"tok-[0-9a-f]{16,40}", fullmatch=True)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40) | invented_token
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(PLACEMENT_FIELDS) | st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
form_values = st.text(max_size=40) | invented_token | st.lists(st.text(max_size=10), min_size=2, max_size=3)
keys = st.sampled_from(PLACEMENT_FIELDS) | st.text(min_size=1, max_size=12)


# Values close to what a field expects, where each field's edge cases hide: numbers around the column limits (as
# numbers or digit strings) for the number fields, any text for the others.
NUMBER_FIELDS = ("AUTH_EXPIRES", "PROTOCOL")
edge_numbers = st.sampled_from([2**31, 10**10 - 1, 2**31 - 1, 2**63, -1, 0, 1, 2]) | st.integers()
near_numbers = edge_numbers.flatmap(lambda n: st.sampled_from([n, str(n)]))
near_text = st.text(max_size=300) | st.from_regex(r"-?[0-9]{1,12}", fullmatch=True)


@st.composite
def placements(draw, fake) -> dict:
    """Placement data of a real grant, often with one mangling: a field dropped or replaced, or the identity swapped."""
    grant = fake.grant(draw(st.sampled_from([PORTAL_A, PORTAL_B])), user_id=draw(st.integers(1, 3)))
    data = fake.placement(grant)
    field = draw(st.sampled_from(PLACEMENT_FIELDS))
    mangling = draw(st.sampled_from(["none", "drop", "near", "near", "near", "any", "identity"]))
    if mangling == "drop":
        data.pop(field, None)
    elif mangling == "near":
        data[field] = draw(near_numbers if field in NUMBER_FIELDS else near_text)
    elif mangling == "any":
        data[field] = draw(json_values)
    elif mangling == "identity":
        other = draw(st.sampled_from([PORTAL_A, PORTAL_B]))
        data.update(DOMAIN=other.domain, member_id=other.member_id)
    return data


@st.composite
def authorizations(draw, account) -> str | None:
    if draw(st.booleans()):
        return None  # half the requests authenticate by their placement data
    token = issue_jwt(account.pk)
    header, payload, signature = token.split(".")
    return draw(
        st.sampled_from(
            [
                f"Bearer {token}",
                f"bearer {token}",
                f"Bearer {header}.{payload}.{signature[::-1]}",
                f"Bearer {header}.{payload}",
                f"Bearer {token} {token}",
                "Bearer",
                f"Basic {token}",
            ]
        )
        | header_text
        | invented_token.map(lambda t: f"Bearer {t}")
    )


def _as_form(data: dict) -> dict[str, str | list[str]]:
    return {
        str(k): [str(x) for x in v] if isinstance(v, list) else v if isinstance(v, str) else json.dumps(v)
        for k, v in data.items()
    }


@st.composite
def bodies(draw, data: dict) -> tuple[dict, bytes | str, str]:
    """Where the data travels: (query parameters, body, the body's natural content type)."""
    where = draw(st.sampled_from(["json", "query", "form", "multipart", "split", "raw"]))
    if where == "json":
        return {}, json.dumps(data if draw(st.integers(0, 3)) else draw(json_values)), "application/json"
    if where == "query":
        return _as_form(data), b"", ""
    if where == "form":
        return {}, urlencode(_as_form(data), doseq=True), FORM
    if where == "multipart":
        return {}, encode_multipart(BOUNDARY, _as_form(data)), MULTIPART_CONTENT
    if where == "split":  # Bitrix24's own iframe POST: part in the query string, part in the form
        names = draw(st.sets(st.sampled_from(sorted(data))) if data else st.just(set()))
        query = _as_form({k: v for k, v in data.items() if k in names})
        return query, urlencode(_as_form({k: v for k, v in data.items() if k not in names}), doseq=True), FORM
    return {}, draw(st.binary(max_size=300)), draw(st.sampled_from(CONTENT_TYPES))


@st.composite
def requests(draw, fake, account) -> dict:
    """Keyword arguments for `Client.generic`, plus the credentials the request carries."""
    data = draw(placements(fake) | st.dictionaries(keys, json_values, max_size=5))
    query, body, content_type = draw(bodies(data))
    if draw(st.integers(0, 3)) == 0:  # now and then a content type that does not match the body
        content_type = draw(st.sampled_from(CONTENT_TYPES))
    if draw(st.integers(0, 3)) == 0:  # now and then extra query parameters, which win over body fields
        query = {**query, **_as_form(draw(st.dictionaries(keys, form_values, min_size=1, max_size=3)))}
    path = draw(st.sampled_from(sorted(ROUTES)))
    method = draw(st.sampled_from([ROUTES[path]] * 6 + OTHER_METHODS))  # mostly the route's own method
    if query:
        path = f"{path}?{urlencode(query, doseq=True)}"
    extra = {f"HTTP_X_FUZZ_{i}": value for i, value in enumerate(draw(st.lists(header_text, max_size=2)))}
    authorization = draw(authorizations(account))
    if authorization is not None:
        extra["HTTP_AUTHORIZATION"] = authorization
    sent = [data.get("AUTH_ID"), data.get("REFRESH_ID"), authorization and authorization.partition(" ")[2]]
    credentials = [value for value in sent if isinstance(value, str) and value.startswith(TOKEN_PREFIXES)]
    return {
        "method": method,
        "path": path,
        "data": body,
        "content_type": content_type,
        "extra": extra,
        "credentials": credentials,
    }


def _check_invariants(response, before: list[tuple], credentials: list[str], log: str) -> None:
    assert response.status_code < 500, response.content[:300]
    if response.status_code >= 400:
        if response.content:  # HEAD answers carry no body
            assert_json_error(response)
        assert_no_secret(response, credentials)
        assert rows() == before, "a refused request wrote or changed a row"
    else:
        assert response["Content-Type"] == "application/json"
        assert_no_secret(response)
    for credential in credentials:
        assert credential not in log, "a credential of the request reached the log"


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_any_request_gets_a_clean_json_answer_and_refusals_write_nothing(data, fake_b24, portal_admin, caplog):
    request = data.draw(requests(fake_b24, portal_admin))
    client = Client(enforce_csrf_checks=True)
    before = rows()
    caplog.clear()

    response = client.generic(
        request["method"], request["path"], request["data"], request["content_type"], **request["extra"]
    )

    event(f"status {response.status_code}")  # the mix shows with --hypothesis-show-statistics
    _check_invariants(response, before, request["credentials"], caplog.text)
