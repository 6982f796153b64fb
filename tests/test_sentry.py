"""SENTRY_DSN: a bug reaches Sentry as a report with its stack trace, the request and the log lines before it, and
no credential anywhere in what would be sent.

Requests are served through Django's WSGI application, as gunicorn serves them (Sentry's WSGI middleware, which
records the request's URL, query string and headers, wraps exactly that). Reports go to a transport that keeps
them in memory: nothing leaves the machine. Bitrix24's OAuth server is the fake one over real HTTP on 127.0.0.1,
so Sentry also records the `app.info` call, with its query string, as a breadcrumb.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import requests
import sentry_sdk
from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.urls import path
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from main.jwts import issue_jwt
from main.sentry import start_sentry
from main.tasks import process_app_event
from main.utils.authorized_request import AuthorizedRequest
from main.utils.decorators.api_view import api_view
from main.utils.decorators.auth_required import auth_required
from tests.support.fake_bitrix24 import CLIENT_SECRET, OAUTH_SERVER, PORTAL_A, FakeBitrix24
from tests.support.fake_bitrix24_server import FakeBitrix24Server
from tests.support.wsgi import keeping_the_test_connection

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

logger = logging.getLogger(__name__)


@api_view("POST")
@auth_required
def leaky(request: AuthorizedRequest) -> HttpResponse:
    """A bug that logs and then raises every credential it can reach."""
    auth_id, refresh_id = request.data.get("AUTH_ID"), request.data.get("REFRESH_ID")
    authorization = request.headers.get("Authorization", "")
    logger.info("working with %s and %s", auth_id, authorization)
    raise RuntimeError(
        f"secrets {settings.JWT_SECRET} {settings.BITRIX24_CLIENT_SECRET} placement {auth_id} {refresh_id} "
        f"header {authorization}"
    )


def outside_the_api(request: HttpRequest) -> HttpResponse:
    """A plain Django view: its error reaches Django itself (and Sentry's Django integration), not `log_errors`."""
    raise ValueError(f"client_secret={settings.BITRIX24_CLIENT_SECRET}")


urlpatterns = [path("leaky", leaky), path("outside", outside_the_api)]


class KeptEnvelopes(Transport):
    """Sentry's transport, keeping what it would send."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)

    def events(self) -> list[dict]:
        return [envelope.get_event() for envelope in self.envelopes if envelope.get_event() is not None]

    def sent(self) -> str:
        """Everything as it would go over the wire."""
        return b"".join(envelope.serialize() for envelope in self.envelopes).decode()


@pytest.fixture
def sentry(settings) -> Iterator[KeptEnvelopes]:
    settings.SENTRY_DSN = "https://public-key@sentry.example.test/1"
    transport = KeptEnvelopes()
    start_sentry(transport)
    sentry_sdk.get_isolation_scope().clear_breadcrumbs()  # none from earlier tests of this process
    yield transport
    sentry_sdk.get_global_scope().set_client(None)


@pytest.fixture
def oauth_server(settings) -> Iterator[FakeBitrix24Server]:
    with FakeBitrix24Server() as server:
        settings.BITRIX24_OAUTH_SERVER = server.url
        yield server


def serve(request: WSGIRequest) -> tuple[int, dict[str, str]]:
    """Serve `request` through Django's WSGI application; its status and headers."""
    answer: dict = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info=None) -> None:
        answer.update(status=int(status.split()[0]), headers=dict(headers))

    with keeping_the_test_connection():
        response = get_wsgi_application()(request.environ, start_response)
        b"".join(response)
        response.close()
    return answer["status"], answer["headers"]


def test_a_bug_in_a_placement_request_is_reported_without_any_credential(sentry, oauth_server):
    grant = oauth_server.fake.grant(user_id=9)
    placement = oauth_server.fake.placement(grant)
    query = f"AUTH_ID={grant.access_token}&REFRESH_ID={grant.refresh_token}&DOMAIN={grant.portal.domain}"

    status, headers = serve(RequestFactory().post(f"/leaky?{query}", placement, content_type="application/json"))

    (event,) = sentry.events()
    sent = sentry.sent()
    assert status == 500
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "RuntimeError"
    assert exception["stacktrace"]["frames"][-1]["function"] == "leaky"
    assert event["logentry"]["message"] == "Unhandled error in POST /leaky"
    assert event["tags"]["request_id"] == headers["X-Request-ID"]
    assert event["tags"]["account_id"]
    assert event["request"]["method"] == "POST"
    assert f"DOMAIN={grant.portal.domain}" in event["request"]["query_string"]
    assert event["request"]["data"]["DOMAIN"] == grant.portal.domain
    breadcrumbs = json.dumps(event["breadcrumbs"])
    assert "/rest/app.info/" in breadcrumbs
    assert "working with *** and" in breadcrumbs
    for secret in (settings.JWT_SECRET, CLIENT_SECRET, grant.access_token, grant.refresh_token):
        assert secret not in sent


def test_a_bug_in_a_bearer_request_is_reported_without_the_jwt(sentry, account):
    token = issue_jwt(account.pk)
    request = RequestFactory().post("/leaky", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_COOKIE="sessionid=cookie-1")

    status, headers = serve(request)

    (event,) = sentry.events()
    sent = sentry.sent()
    assert status == 500
    assert event["tags"] == {"request_id": headers["X-Request-ID"], "account_id": str(account.pk)}
    assert event["request"]["headers"]["Authorization"] == "***"
    for secret in (settings.JWT_SECRET, CLIENT_SECRET, token, token.split(".")[2], "cookie-1"):
        assert secret not in sent


def test_an_error_outside_the_api_views_is_reported_once(sentry):
    status, _ = serve(RequestFactory().get("/outside?AUTH_ID=at-0123456789abcdef&DOMAIN=portal-a.bitrix24.com"))

    (event,) = sentry.events()
    sent = sentry.sent()
    assert status == 500
    assert event["exception"]["values"][-1]["type"] == "ValueError"
    assert "DOMAIN=portal-a.bitrix24.com" in event["request"]["query_string"]
    for secret in (CLIENT_SECRET, "at-0123456789abcdef"):
        assert secret not in sent


def test_bitrix24_being_down_is_no_report(sentry, settings):
    settings.BITRIX24_OAUTH_SERVER = "http://127.0.0.1:9"  # nothing listens there
    fake = FakeBitrix24()
    placement = fake.placement(fake.grant())

    status, _ = serve(RequestFactory().post("/leaky", placement, content_type="application/json"))

    assert status == 502
    assert sentry.events() == []


def test_a_failed_celery_task_is_reported_without_its_arguments(sentry, fake_b24):
    """A queued event (main/tasks.py) carries the portal's tokens: the report of a task that gave up names the task
    and its error, never its arguments."""
    grant = fake_b24.grant(PORTAL_A, user_id=1)
    event = fake_b24.event("ONAPPINSTALL", PORTAL_A, grant)
    fake_b24.failing_rest_calls[OAUTH_SERVER.removeprefix("https://")] = requests.ConnectionError()

    assert process_app_event.apply(args=(event,)).state == "FAILURE"  # retried in place, then given up

    (report,) = sentry.events()
    assert report["extra"]["celery-job"]["task_name"] == "main.tasks.process_app_event"
    assert report["exception"]["values"][-1]["type"] == "Bitrix24Unavailable"
    sent = sentry.sent()
    for secret in (grant.access_token, grant.refresh_token, event["auth[application_token]"]):
        assert secret not in sent
