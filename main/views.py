"""The API. Each view states its methods (`api_view`) and whether it needs the caller's Bitrix24 account
(`auth_required`); see main/utils/decorators/ for what they do."""

from __future__ import annotations

import time
from http import HTTPStatus

from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from main.jwts import issue_jwt
from main.models import AccountStatus, ApplicationInstallation
from main.placement_data import optional_text
from main.utils.authorized_request import AuthorizedRequest
from main.utils.decorators.api_view import api_view
from main.utils.decorators.auth_required import auth_required


@api_view("GET")
@auth_required
def root(request: AuthorizedRequest) -> JsonResponse:
    return JsonResponse({"message": "Python Backend is running"})


@api_view("GET")
@auth_required
def health(request: AuthorizedRequest) -> JsonResponse:
    return JsonResponse({"status": "healthy", "backend": "python", "timestamp": time.time()})


@api_view("GET")
@auth_required
def get_enum(request: AuthorizedRequest) -> JsonResponse:
    return JsonResponse(["option 1", "option 2", "option 3"], safe=False)


@api_view("GET")
@auth_required
def get_list(request: AuthorizedRequest) -> JsonResponse:
    return JsonResponse(["element 1", "element 2", "element 3"], safe=False)


@api_view("POST")
@transaction.atomic  # a refused install also undoes the account update its placement data made
@auth_required
def install(request: AuthorizedRequest) -> JsonResponse:
    fields = {
        "status": AccountStatus.ACTIVE,
        "portal_license_family": optional_text(request.data, "LICENSE_FAMILY") or "",
    }
    app_status = optional_text(request.data, "status")  # the portal's app status code (F, D, T, P, L, S), when sent
    if app_status is not None:
        fields["status_code"] = app_status
    ApplicationInstallation.objects.update_or_create(bitrix_24_account=request.bitrix24_account, defaults=fields)
    return JsonResponse({"message": "Installation successful"})


@api_view("POST")
@auth_required
def get_token(request: AuthorizedRequest) -> JsonResponse:
    """A new JWT: for placement data, or for a Bearer JWT whose `auth_time` is not JWT_MAX_AGE_HOURS old yet."""
    return JsonResponse({"token": issue_jwt(request.bitrix24_account.pk, auth_time=request.auth_time)})


@api_view("GET")
def healthz(request: HttpRequest) -> JsonResponse:
    """Public liveness and readiness probe for load balancers: 200 when the database answers, 503 otherwise."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return JsonResponse({"status": "unhealthy", "database": "unavailable"}, status=HTTPStatus.SERVICE_UNAVAILABLE)
    return JsonResponse({"status": "healthy", "database": "ok"})


# --- Error pages: JSON like every other answer (wired in `urls.py` as Django's handler404/400/403/500) --------


@csrf_exempt  # the catch-all for /api/...: a POST to an unknown path is a 404, not a CSRF failure
def not_found(request: HttpRequest, exception: Exception | None = None, **kwargs) -> JsonResponse:
    return JsonResponse({"error": f"Not found: {request.path}"}, status=HTTPStatus.NOT_FOUND)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """Requests Django refuses before any view runs, e.g. a Host header that is not in ALLOWED_HOSTS."""
    return JsonResponse({"error": "Bad request"}, status=HTTPStatus.BAD_REQUEST)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"error": "Permission denied"}, status=HTTPStatus.FORBIDDEN)


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"error": "Internal server error"}, status=HTTPStatus.INTERNAL_SERVER_ERROR)


def csrf_failure(request: HttpRequest, reason: str = "") -> JsonResponse:
    """CSRF_FAILURE_VIEW: only the admin's forms are CSRF-protected (the API views are exempt)."""
    return JsonResponse({"error": f"CSRF verification failed: {reason}"}, status=HTTPStatus.FORBIDDEN)
