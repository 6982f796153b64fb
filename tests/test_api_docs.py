"""`GET /api/openapi.json` and `/api/docs`: the description and Swagger UI in development, a JSON 404 in production.

The page's files come from the backend itself (drf-spectacular-sidecar through `staticfiles`), never from another
host, so the docs work offline. tests/test_make_run.py loads them through `make run`, tests/test_gunicorn.py checks
that the production server has neither the routes nor the files.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.handlers.wsgi import WSGIHandler
from django.test import Client, RequestFactory

from main.openapi import openapi_description
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.django_db

DOCS_ROUTES = ("/api/openapi.json", "/api/docs")


def test_the_description_is_served_as_json_in_development(client: Client, development):
    response = client.get("/api/openapi.json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == json.loads(json.dumps(openapi_description()))
    assert response.json()["openapi"] == "3.1.0"


def test_the_docs_page_shows_the_description_with_files_of_the_backend_only(client: Client, development):
    response = client.get("/api/docs")
    page = response.content.decode()
    files = re.findall(r'(?:src|href)="([^"]*)"', page)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert 'data-openapi-url="/api/openapi.json"' in page
    assert sorted(files) == [
        "/api/static/drf_spectacular_sidecar/swagger-ui-dist/favicon-32x32.png",
        "/api/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
        "/api/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css",
    ]
    assert "validatorUrl: null" in page  # Swagger UI would otherwise send the description to validator.swagger.io


def test_the_docs_files_are_served_as_runserver_serves_static_files(development):
    """runserver wraps the app in `StaticFilesHandler` with DEBUG on; so does this test."""
    app = StaticFilesHandler(WSGIHandler())
    environ = RequestFactory().get("/api/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js").environ
    started: list[str] = []

    body = b"".join(app(environ, lambda status, headers, *args: started.append(status)))

    assert started == ["200 OK"]
    assert b"SwaggerUIBundle" in body


@pytest.mark.parametrize("path", DOCS_ROUTES)
def test_production_answers_a_json_404(client: Client, path):
    response = client.get(path)  # DEBUG is off, as in production

    assert response.status_code == 404
    assert response.json() == {"error": f"Not found: {path}"}


@pytest.mark.parametrize("path", DOCS_ROUTES)
def test_other_methods_get_a_json_405(client: Client, development, path):
    response = client.post(path)

    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert response.json() == {"error": "Method POST not allowed; use GET"}


def test_production_does_not_install_the_swagger_ui_files():
    """Production neither serves the page nor collects its files (a few MB) into the image."""
    script = "import settings; print('drf_spectacular_sidecar' in settings.INSTALLED_APPS)"
    answers = {
        target: subprocess.run(
            [sys.executable, "-c", script], cwd=REPO_ROOT, env={"BUILD_TARGET": target}, capture_output=True, text=True
        )
        for target in ("production", "dev")
    }

    assert {target: answer.stdout for target, answer in answers.items()} == {"production": "False\n", "dev": "True\n"}
