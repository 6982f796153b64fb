"""Failed admin logins: each one is logged (never the password) and, after too many, the login is refused.

Failures are counted per username and client address in Django's cache for ADMIN_LOGIN_LOCKOUT_SECONDS from the
first failure; from the ADMIN_LOGIN_MAX_FAILURES-th on, `admin_login` answers 429 without checking the password.
A successful login clears the count (`MainConfig.ready()` connects both receivers). The default cache is per
process: with several workers, give Django a shared cache (e.g. Redis) so the limit holds across them.
"""

from __future__ import annotations

import hashlib
import logging
from http import HTTPStatus

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.forms import UsernameField
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger("main.admin_login")


def max_failures() -> int:
    return settings.ADMIN_LOGIN_MAX_FAILURES


def lockout_seconds() -> int:
    return settings.ADMIN_LOGIN_LOCKOUT_SECONDS


def _client_address(request: HttpRequest) -> str:
    # REMOTE_ADDR, not X-Forwarded-For: a client can write that header. Behind a proxy this counts per username.
    return request.META.get("REMOTE_ADDR", "")


def _key(username: str, request: HttpRequest) -> str:
    # Cleaned as the login form cleans it (stripped, NFKC), so spelling variants of one username share a count.
    username = UsernameField().to_python(username)
    digest = hashlib.sha256(f"{username}\0{_client_address(request)}".encode()).hexdigest()
    return f"admin-login-failures:{digest}"


def failures(username: str, request: HttpRequest) -> int:
    return cache.get(_key(username, request), 0)


def count_failed_login(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    if request is None:  # not a login over HTTP (e.g. `authenticate()` in a shell)
        return
    username = credentials.get("username", "")
    key = _key(username, request)
    cache.add(key, 0, lockout_seconds())
    count = cache.incr(key)
    logger.warning(
        "Failed admin login for username %r from %s (%d of %d allowed)",
        username,
        _client_address(request),
        count,
        max_failures(),
    )


def clear_failed_logins(sender, request: HttpRequest | None, user, **kwargs) -> None:
    if request is not None:
        cache.delete(_key(user.get_username(), request))


def admin_login(request: HttpRequest, **kwargs) -> HttpResponse:
    """The admin's login view, refusing a username that failed too often from this address."""
    username = request.POST.get("username", "") if request.method == "POST" else ""
    if username and failures(username, request) >= max_failures():
        logger.warning(
            "Refused admin login for username %r from %s: too many failures", username, _client_address(request)
        )
        response = JsonResponse(
            {"error": "Too many failed logins; try again later"}, status=HTTPStatus.TOO_MANY_REQUESTS
        )
        response["Retry-After"] = str(lockout_seconds())
        return response
    return admin.site.login(request, **kwargs)
