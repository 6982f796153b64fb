from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from main.urls import api_not_found

urlpatterns = [
    path("api/admin", RedirectView.as_view(url="/api/admin/", permanent=True)),  # before the /api catch-all
    path("api/admin/", admin.site.urls),
    path("", include("main.urls")),
    *api_not_found,
]

# Django's error pages, in JSON like the rest of the API (they apply when DEBUG is off).
handler400 = "main.views.bad_request"
handler403 = "main.views.permission_denied"
handler404 = "main.views.not_found"
handler500 = "main.views.server_error"
