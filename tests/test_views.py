"""Every route of the API: status and JSON body, method guards, unknown paths, the public health check, headers."""

import time

import jwt
import pytest
from django.db import connections
from django.test import Client

from config import config
from main.jwts import issue_jwt, verify_jwt
from main.models import ApplicationInstallation, Bitrix24Account
from main.placement_data import REQUIRED_NUMBER_FIELDS, REQUIRED_TEXT_FIELDS
from tests.support.fake_bitrix24 import PORTAL_A
from tests.support.invariants import API_ROUTES, PUBLIC_ROUTES
from tests.support.network import free_port

pytestmark = pytest.mark.django_db

ROUTES = API_ROUTES
AUTHENTICATED_ROUTES = {path: method for path, method in ROUTES.items() if path not in PUBLIC_ROUTES}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
WRONG_METHODS = [(path, method) for path, allowed in ROUTES.items() for method in METHODS if method != allowed]


@pytest.fixture
def client() -> Client:
    """A client that gets CSRF checks like curl or a browser would (Django's test client skips them by default)."""
    return Client(enforce_csrf_checks=True)


def _post_json(client: Client, path: str, data: dict, **headers):
    return client.post(path, data, content_type="application/json", **headers)


# --- Answers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api", {"message": "Python Backend is running"}),
        ("/api/enum", ["option 1", "option 2", "option 3"]),
        ("/api/list", ["element 1", "element 2", "element 3"]),
    ],
)
def test_get_routes_answer_their_json(client, bearer, path, body):
    response = client.get(path, **bearer)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == body


def test_health_reports_the_python_backend_and_the_current_time(client, bearer):
    before = time.time()
    response = client.get("/api/health", **bearer)
    after = time.time()

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "backend", "timestamp"}
    assert (body["status"], body["backend"]) == ("healthy", "python")
    assert isinstance(body["timestamp"], float)
    assert before <= body["timestamp"] <= after


def test_get_token_with_a_bearer_jwt_issues_a_new_token_for_the_same_account(client, account):
    short_lived = issue_jwt(account.pk, minutes=5)

    response = client.post("/api/getToken", HTTP_AUTHORIZATION=f"Bearer {short_lived}")

    assert response.status_code == 200
    assert set(response.json()) == {"token"}
    token = response.json()["token"]
    claims = jwt.decode(token, config.jwt_secret, algorithms=[config.jwt_algorithm])
    assert claims["account_id"] == str(account.pk)
    assert claims["exp"] - claims["iat"] == config.jwt_lifetime_minutes * 60
    assert verify_jwt(token).account_id == account.pk


# --- install -----------------------------------------------------------------------------------------


def test_install_with_placement_data_creates_the_installation(client, fake_b24):
    grant = fake_b24.make_admin(fake_b24.grant(PORTAL_A, user_id=3))

    response = _post_json(client, "/api/install", fake_b24.placement(grant, LICENSE_FAMILY="basic"))

    assert response.status_code == 200
    assert response.json() == {"message": "Installation successful"}
    installation = ApplicationInstallation.objects.get()
    assert installation.bitrix_24_account == Bitrix24Account.objects.get(domain_url=PORTAL_A.domain, b24_user_id=3)
    assert (installation.status, installation.status_code, installation.portal_license_family) == (
        "new",  # until Bitrix24's ONAPPINSTALL confirms it (tests/test_app_lifecycle.py)
        "L",
        "basic",
    )


def test_second_install_updates_the_same_installation(client, fake_b24):
    grant = fake_b24.make_admin(fake_b24.grant(PORTAL_A, user_id=3))
    _post_json(client, "/api/install", fake_b24.placement(grant, LICENSE_FAMILY="basic"))
    created = ApplicationInstallation.objects.get()
    second = fake_b24.make_admin(fake_b24.grant(PORTAL_A, user_id=3))

    response = _post_json(client, "/api/install", fake_b24.placement(second, LICENSE_FAMILY="pro", status="P"))

    assert response.status_code == 200
    updated = ApplicationInstallation.objects.get()
    assert updated.pk == created.pk
    assert (updated.status, updated.status_code, updated.portal_license_family) == ("new", "P", "pro")
    assert updated.created_at_utc == created.created_at_utc


@pytest.mark.parametrize("license_family", [42, ["basic", "pro"], {"family": "basic"}, True])
def test_install_with_a_non_text_license_family_is_400_and_writes_nothing(client, bearer, license_family):
    response = _post_json(client, "/api/install", {"LICENSE_FAMILY": license_family}, **bearer)

    assert response.status_code == 400
    assert "LICENSE_FAMILY" in response.json()["error"]
    assert not ApplicationInstallation.objects.exists()


# --- Errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "method"), WRONG_METHODS)
def test_wrong_method_is_405_json_with_allow_header(client, path, method):
    allowed = ROUTES[path]

    response = client.generic(method, path)

    assert response.status_code == 405
    assert response.json() == {"error": f"Method {method} not allowed; use {allowed}"}
    assert response["Allow"] == allowed


@pytest.mark.parametrize("path", ["/api/", "/api/unknown", "/api/list/", "/api/v2/list"])
def test_unknown_api_path_is_404_json(client, bearer, path):
    response = client.get(path, **bearer)

    assert response.status_code == 404
    assert response.json() == {"error": f"Not found: {path}"}


@pytest.mark.parametrize(("path", "method"), AUTHENTICATED_ROUTES.items())
def test_request_without_any_auth_is_400_naming_a_missing_placement_field(client, fake_b24, path, method):
    response = client.generic(method, path)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith("Missing required field in placement data: ")
    assert error.rpartition(": ")[2] in (*REQUIRED_TEXT_FIELDS, *REQUIRED_NUMBER_FIELDS)
    assert fake_b24.requests == []
    assert not Bitrix24Account.objects.exists()


# --- /api/healthz ------------------------------------------------------------------------------------


@pytest.fixture
def unreachable_database():
    """Point `default` at a fresh connection to a local port where nothing listens, for this test only."""
    port = free_port()
    working = connections["default"]
    connections["default"] = type(working)({**working.settings_dict, "HOST": "127.0.0.1", "PORT": port})
    yield
    connections["default"].close()
    connections["default"] = working


def test_healthz_needs_no_auth_and_reports_the_database(client):
    response = client.get("/api/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "healthy", "database": "ok"}


def test_healthz_is_503_json_when_the_database_is_unreachable(client, unreachable_database):
    response = client.get("/api/healthz")

    assert response.status_code == 503
    assert response.json() == {"status": "unhealthy", "database": "unavailable"}


# --- Headers and CSRF --------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "method"), {**AUTHENTICATED_ROUTES, "/api/healthz": "GET"}.items())
@pytest.mark.usefixtures("portal_admin")
def test_api_answers_may_be_framed_by_bitrix24(client, bearer, path, method):
    answer, wrong_method = client.generic(method, path, **bearer), client.generic("PUT", path)

    assert answer.status_code == 200
    assert wrong_method.status_code == 405
    assert "X-Frame-Options" not in answer
    assert "X-Frame-Options" not in wrong_method


@pytest.mark.parametrize("path", ["/api/install", "/api/getToken"])
@pytest.mark.usefixtures("portal_admin")
def test_post_views_need_no_csrf_token(client, bearer, path):
    response = client.post(path, **bearer)

    assert response.status_code == 200
