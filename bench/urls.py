"""The backend's routes plus `GET /api/ceiling`: the benchmark's upper bound.

It answers what `/api/list` answers through the same middleware stack, without authentication or database, so
the ratio of an endpoint's throughput to this one is what auth and data access cost.
"""

from django.http import HttpRequest, JsonResponse
from django.urls import path

import urls


def ceiling(request: HttpRequest) -> JsonResponse:
    return JsonResponse(["element 1", "element 2", "element 3"], safe=False)


# First, so that resolving it costs no more than resolving the real endpoints.
urlpatterns = [path("api/ceiling", ceiling), *urls.urlpatterns]

handler400, handler403, handler404, handler500 = urls.handler400, urls.handler403, urls.handler404, urls.handler500
