from django.contrib import admin
from django.urls import include, path

from main.urls import api_not_found

urlpatterns = [
    path("api/admin/", admin.site.urls),
    path("", include("main.urls")),
    *api_not_found,
]

handler404 = "main.views.not_found"
