"""What must hold after any hostile request, shared by the attack tests and the fuzz test.

- the answer is below 500 (502/504 only when Bitrix24 fails) and, outside the admin's HTML pages, a JSON object
  `{"error": "..."}` for a refusal;
- it contains no secret: the JWT secret, the client secret, a token stored in the database, or a credential the
  request itself carried;
- a refused request writes and changes no row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from django.http import HttpResponse

from config import config
from main.models import ApplicationInstallation, Bitrix24Account

# The API's routes and the one method each accepts: the contract the tests hold the code to.
API_ROUTES = {
    "/api": "GET",
    "/api/health": "GET",
    "/api/healthz": "GET",
    "/api/enum": "GET",
    "/api/list": "GET",
    "/api/install": "POST",
    "/api/getToken": "POST",
    "/api/me": "GET",
    "/api/app-events": "POST",
}
# Routes that answer without a JWT or placement data.
PUBLIC_ROUTES = ("/api/healthz", "/api/app-events")

# The refusal of an account that may not act (blocked, deleted, uninstalled), as the API words it.
INACTIVE = "This Bitrix24 account is not active"
MIN_SECRET_LENGTH = 8  # shorter values would match ordinary words of an answer by chance


def rows() -> list[tuple]:
    """Every row of both tables, every column: equal before and after means nothing was written or changed."""
    accounts = Bitrix24Account.objects.order_by("pk").values_list()
    installations = ApplicationInstallation.objects.order_by("pk").values_list()
    return [*accounts, *installations]


def stored_tokens() -> list[str]:
    values = Bitrix24Account.objects.values_list("access_token", "refresh_token", "application_token")
    return [token for row in values for token in row if token]


def known_secrets(request_credentials: Iterable[str] = ()) -> list[str]:
    secrets = [config.jwt_secret, config.client_secret, *stored_tokens(), *request_credentials]
    return [s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LENGTH]


def assert_no_secret(response: HttpResponse, request_credentials: Iterable[str] = ()) -> None:
    body = response.content.decode("utf-8", errors="replace")
    headers = json.dumps(dict(response.items()))
    for secret in known_secrets(request_credentials):
        assert secret not in body, "a secret leaked into the response body"
        assert secret not in headers, "a secret leaked into the response headers"


def assert_json_error(response: HttpResponse, status: int | None = None) -> str:
    """A clean refusal: JSON `{"error": <text>}` with `status`, or any 4xx when `status` is None; returns the text."""
    if status is None:
        assert 400 <= response.status_code < 500, response.content[:300]
    else:
        assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert isinstance(body, dict)
    assert list(body) == ["error"]
    assert isinstance(body["error"], str)
    assert body["error"]
    return body["error"]


def assert_refused(
    response: HttpResponse, before: list[tuple], status: int | None = None, request_credentials: Iterable[str] = ()
) -> str:
    """All three invariants for a request that must be refused; returns the error text."""
    error = assert_json_error(response, status)
    assert_no_secret(response, request_credentials)
    assert rows() == before, "a refused request wrote or changed a row"
    return error
