"""Views that fail on purpose, routed with `pytest.mark.urls("tests.support.failing_views")`. They carry the
project's real decorators (`api_view`), so requests pass through the whole middleware stack as API calls do."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import path

from main.utils.decorators.api_view import api_view


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
