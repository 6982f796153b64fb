"""What django-axes asks of the project for the admin login (the AXES_* settings configure the rest).

Axes counts failed logins per username and client address in the database, so every worker shares the count, and
refuses a login from the AXES_FAILURE_LIMIT-th failure on until AXES_COOLOFF_TIME has passed. It logs each failure
with the username and address (never the password).
"""

from __future__ import annotations

import ipaddress
from http import HTTPStatus

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


def client_address(request: HttpRequest) -> str:
    """AXES_CLIENT_IP_CALLABLE: the address failures are counted for.

    REMOTE_ADDR, unless TRUSTED_PROXY_COUNT proxies are in front, each appending the address it saw to
    X-Forwarded-For: then the address the outermost of them saw, `count` entries from the right. Entries further left
    are whatever the client sent, so they are never read, and without trusted proxies neither is the header. An
    entry that is not an address means the proxies are not as configured: REMOTE_ADDR then.
    """
    count = settings.TRUSTED_PROXY_COUNT
    forwarded = [entry.strip() for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if count and len(forwarded) >= count and _is_address(forwarded[-count]):
        return forwarded[-count]
    return request.META.get("REMOTE_ADDR", "")


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> JsonResponse:
    """AXES_LOCKOUT_CALLABLE: the answer to a login refused for too many failures, in the API's JSON."""
    response = JsonResponse({"error": "Too many failed logins; try again later"}, status=HTTPStatus.TOO_MANY_REQUESTS)
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response
