"""`log_errors`: a failing view answers JSON 500 and is logged under the view's name, with no secret in log or
answer.

The failing views are routed by this module (`pytest.mark.urls`) and carry the project's real decorators
(`api_view`), so the requests pass through the whole middleware stack as API calls do.
"""

import secrets

import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import path

from main.jwts import issue_jwt
from main.utils.decorators.api_view import api_view
from tests.support.fake_bitrix24 import CLIENT_SECRET

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

LOGGER = f"{__name__}.broken"


@api_view("POST")
def broken(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("the view broke")


@api_view("POST")
def leaky(request: HttpRequest) -> HttpResponse:
    """A bug that quotes every credential it can reach in its exception message."""
    authorization = request.headers.get("Authorization", "")
    raise RuntimeError(
        f"secrets {settings.JWT_SECRET} {settings.BITRIX24_CLIENT_SECRET} placement {request.data.get('AUTH_ID')} "
        f"{request.data.get('REFRESH_ID')} header {authorization} token {authorization.partition(' ')[2]}"
    )


urlpatterns = [path("broken", broken), path("leaky", leaky)]


@pytest.fixture
def development(settings):
    settings.DEBUG = True


@pytest.fixture
def production(settings):
    settings.DEBUG = False


@pytest.fixture
def leaky_request(account):
    """POSTs to the leaky view with placement credentials and a Bearer JWT; returns the response and the secrets."""

    def send(client):
        token = issue_jwt(account.pk)
        placement = {"AUTH_ID": secrets.token_hex(35), "REFRESH_ID": secrets.token_hex(35)}
        response = client.post(
            "/leaky", placement, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
        )
        return response, (settings.JWT_SECRET, CLIENT_SECRET, *placement.values(), token)

    return send


@pytest.mark.usefixtures("development")
def test_exception_in_the_view_is_a_500_json_naming_it_in_development(client):
    response = client.post("/broken")

    assert response.status_code == 500
    assert response.json() == {"error": "RuntimeError: the view broke"}


def test_exception_is_logged_under_the_view_name_with_its_traceback(client, caplog):
    client.post("/broken")

    (record,) = (r for r in caplog.records if r.name == LOGGER)
    assert record.levelname == "ERROR"
    assert record.getMessage() == "Unhandled error in POST /broken"
    assert "Traceback (most recent call last)" in caplog.text
    assert "RuntimeError: the view broke" in caplog.text


@pytest.mark.usefixtures("production")
def test_production_answer_is_only_internal_server_error(client):
    response = client.post("/broken")

    assert response.status_code == 500
    assert response.json() == {"error": "Internal server error"}


@pytest.mark.usefixtures("production")
def test_production_answer_to_a_leaking_exception_has_no_secret(client, leaky_request):
    response, leaked = leaky_request(client)

    assert response.status_code == 500
    assert response.json() == {"error": "Internal server error"}
    for secret in leaked:
        assert secret not in response.content.decode()


def test_logged_exception_shows_no_secret_of_the_app_or_the_request(client, leaky_request, log_output):
    response, leaked = leaky_request(client)

    assert response.status_code == 500
    output = log_output.getvalue()
    assert f"{__name__}.leaky Unhandled error in POST /leaky" in output
    assert "RuntimeError: secrets" in output
    for secret in leaked:
        assert secret not in output
