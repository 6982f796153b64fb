from django.urls import path, re_path

from main import views

urlpatterns = [
    path("api", views.root, name="root"),
    path("api/health", views.health, name="health"),
    path("api/healthz", views.healthz, name="healthz"),
    path("api/enum", views.get_enum, name="enum"),
    path("api/list", views.get_list, name="list"),
    path("api/install", views.install, name="install"),
    path("api/getToken", views.get_token, name="get_token"),
    path("api/me", views.me, name="me"),
    path("api/app-events", views.app_events, name="app_events"),
    path("api/openapi.json", views.openapi, name="openapi"),
    path("api/docs", views.docs, name="docs"),
]

# Anything else under /api answers in JSON too (also with DEBUG on, where Django would render an HTML page).
api_not_found = [re_path(r"^api(?:/.*)?$", views.not_found)]
