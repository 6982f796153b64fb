"""The API. Each view states its methods (`api_view`) and whether it needs the caller's Bitrix24 account
(`auth_required`); see main/utils/decorators/ for what they do."""

from __future__ import annotations

import time
from http import HTTPStatus

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from main.app_events import process_event
from main.bitrix24 import portal_answer
from main.installations import InstallDetails, install_for_account, install_from_placement
from main.jwts import issue_jwt
from main.openapi import openapi_description
from main.placement_data import parse_placement_data
from main.utils.authorized_request import AuthorizedRequest, RequestWithData
from main.utils.decorators.api_view import api_view
from main.utils.decorators.auth_required import allowed_jwt, auth_required, bearer_token


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
def install(request: RequestWithData) -> JsonResponse:
    """Authenticates like `auth_required`, but only after reading its own fields: a refused install writes nothing."""
    details = InstallDetails.from_data(request.data)
    token = bearer_token(request)
    if token is None:
        install_from_placement(parse_placement_data(request.data), details)
    else:
        install_for_account(allowed_jwt(token).account_id, details)
    return JsonResponse({"message": "Installation successful"})


@api_view("POST")
@auth_required
def get_token(request: AuthorizedRequest) -> JsonResponse:
    """A new JWT: for placement data, or for a Bearer JWT whose `auth_time` is not JWT_MAX_AGE_HOURS old yet."""
    return JsonResponse({"token": issue_jwt(request.bitrix24_account.pk, auth_time=request.auth_time)})


@api_view("GET")
@auth_required
def me(request: AuthorizedRequest) -> JsonResponse:
    """The caller's profile on their portal: an example of a view that calls Bitrix24 as the user (README)."""
    client = request.bitrix24_account.client
    return JsonResponse(portal_answer(lambda: client.profile().result))


@api_view("POST")
def app_events(request: RequestWithData) -> JsonResponse:
    """Bitrix24's ONAPPINSTALL and ONAPPUNINSTALL callbacks (main/app_events.py): applied at once, or, with
    ENABLE_RABBITMQ on, checked and queued for a worker (main/tasks.py)."""
    if settings.ENABLE_RABBITMQ:
        from main.tasks import queue_app_event  # Celery is loaded (0.3 s, 6 MB) only where events are queued

        queue_app_event(request.data)
        return JsonResponse({"status": "queued"})
    return JsonResponse({"status": process_event(request.data)})


@api_view("GET")
def healthz(request: HttpRequest) -> JsonResponse:
    """Public liveness and readiness probe for load balancers: 200 when the database answers, 503 otherwise."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return JsonResponse({"status": "unhealthy", "database": "unavailable"}, status=HTTPStatus.SERVICE_UNAVAILABLE)
    return JsonResponse({"status": "healthy", "database": "ok"})


@api_view("GET")
def openapi(request: HttpRequest) -> JsonResponse:
    """The API's OpenAPI description (main/openapi.py); development only."""
    if not settings.DEBUG:
        return not_found(request)
    return JsonResponse(openapi_description())


@api_view("GET")
def docs(request: HttpRequest) -> HttpResponse:
    """Swagger UI showing the description, its files served by the backend (drf-spectacular-sidecar's copy of
    swagger-ui-dist, through `staticfiles`), so the page works offline; development only."""
    if not settings.DEBUG:
        return not_found(request)
    return render(request, "main/api_docs.html", {"openapi_url": reverse("openapi")})


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
