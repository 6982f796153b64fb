"""The API's description (main/openapi.py) run against the live app with schemathesis: requests generated from the
description, valid and invalid, go through the project's WSGI app in process (no server), with the fake Bitrix24
answering every call the app makes to Bitrix24. Every answer must:

- not be a 5xx;
- have a status the description lists for the route, the content type it gives for that status, a body that
  matches its schema, and the headers it requires (`X-Request-ID`, `Allow` on a 405).

One test per route, each bounded: SCHEMATHESIS_EXAMPLES (default 25) generated requests, plus schemathesis' own
coverage cases (boundary values of each field, other methods) and the description's examples, each answered within
5 s. About half the requests to routes that take a Bearer JWT carry a valid one of a portal admin (chosen by a hash
of the request, so a failing case replays alike); the others authenticate with the placement data they carry. The
description's example placement is a grant of the fake Bitrix24, installed, so its examples succeed too.
`POST /api/app-events` runs a second time with ENABLE_RABBITMQ on (this run's broker), whose answers differ.
"""

from __future__ import annotations

import copy
import json
import os
import zlib
from collections.abc import Callable
from datetime import timedelta

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.test import Client
from hypothesis import HealthCheck
from hypothesis import settings as run_settings

from main.jwts import issue_jwt
from main.openapi import PLACEMENT_EXAMPLE, openapi_description
from tests.support.fake_bitrix24 import Portal
from tests.support.wsgi import keeping_the_test_connection

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25"))
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
]

# Loaded from main/openapi.py (a copy: schemathesis may add to what it loads); tests/test_api_docs.py shows that
# `GET /api/openapi.json` serves the same. Not `from_fixture` with `from_wsgi`: schemathesis 4.32's lazy loader
# fails on pytest 9's node ids.
schema = schemathesis.openapi.from_dict(copy.deepcopy(openapi_description()))


@pytest.fixture
def wsgi_app(db) -> Callable:
    """The project's WSGI app, keeping the test's database connection across requests as Django's test client does."""
    app = WSGIHandler()

    def keeping_the_connection(environ: dict, start_response: Callable) -> list[bytes]:
        with keeping_the_test_connection():
            response = app(environ, start_response)
            try:
                return list(response)
            finally:
                response.close()  # request_finished, as a WSGI server sends it

    return keeping_the_connection


@pytest.fixture
def example_portal(fake_b24):
    """The description's example placement, issued by the fake Bitrix24 to an admin, and the app installed with it."""
    portal = Portal(PLACEMENT_EXAMPLE["DOMAIN"], PLACEMENT_EXAMPLE["member_id"])
    grant = fake_b24.grant(
        portal, access_token=PLACEMENT_EXAMPLE["AUTH_ID"], refresh_token=PLACEMENT_EXAMPLE["REFRESH_ID"]
    )
    fake_b24.make_admin(grant)
    installed = Client().post("/api/install", PLACEMENT_EXAMPLE, content_type="application/json")
    assert installed.status_code == 200, installed.content


@pytest.fixture
def bearer_token(portal_admin) -> str:
    return issue_jwt(portal_admin.pk, minutes=60)


def _takes_bearer(case: schemathesis.Case) -> bool:
    return {"bearerAuth": []} in case.operation.definition.raw.get("security", [])


def _with_bearer_half_the_time(case: schemathesis.Case, token: str) -> None:
    if not _takes_bearer(case):
        return
    request = json.dumps([case.method, case.path, case.query, case.body], default=str, sort_keys=True)
    if zlib.crc32(request.encode()) % 2:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}


bounded = run_settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@schema.parametrize()
@bounded
def test_every_answer_is_as_described(case, settings, wsgi_app, example_portal, bearer_token):
    settings.DEBUG = True  # as in development, where /api/openapi.json and /api/docs answer
    _with_bearer_half_the_time(case, bearer_token)
    case.call_and_validate(app=wsgi_app, checks=CHECKS)


@schema.include(path="/api/app-events").parametrize()
@bounded
def test_every_answer_with_events_queued_is_as_described(case, settings, wsgi_app, example_portal, rabbitmq_vhost):
    settings.ENABLE_RABBITMQ = True  # events go to this run's broker (no worker: nothing applies them)
    case.call_and_validate(app=wsgi_app, checks=CHECKS)


def test_the_run_covers_every_route():
    operations = [result.ok() for result in schema.get_all_operations()]

    assert {operation.path for operation in operations} == set(openapi_description()["paths"])
