"""`log_errors`: a failing view answers JSON 500 and is logged under the view's name, with no secret in log or
answer.

The failing views are tests/support/failing_views.py's.
"""

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.support.failing_views")]

LOGGER = "tests.support.failing_views.broken"


@pytest.fixture
def production(settings):
    settings.DEBUG = False


@pytest.mark.usefixtures("development")
def test_exception_in_the_view_is_a_500_json_naming_it_in_development(client):
    response = client.post("/broken")

    assert response.status_code == 500
    assert response.json() == {"error": "RuntimeError: the view broke"}


def test_exception_is_logged_under_the_view_name_with_its_traceback(client, caplog):
    client.post("/broken")

    (record,) = (r for r in caplog.records if r.name == LOGGER)
    assert record.levelname == "ERROR"
    assert record.getMessage() == "Unhandled error in POST /broken"
    assert "Traceback (most recent call last)" in caplog.text
    assert "RuntimeError: the view broke" in caplog.text


@pytest.mark.usefixtures("production")
def test_production_answer_is_only_internal_server_error(client):
    response = client.post("/broken")

    assert response.status_code == 500
    assert response.json() == {"error": "Internal server error"}


@pytest.mark.usefixtures("production")
def test_production_answer_to_a_leaking_exception_has_no_secret(client, leaky_request):
    response, leaked = leaky_request(client)

    assert response.status_code == 500
    assert response.json() == {"error": "Internal server error"}
    for secret in leaked:
        assert secret not in response.content.decode()


def test_logged_exception_shows_no_secret_of_the_app_or_the_request(client, leaky_request, log_output):
    response, leaked = leaky_request(client)

    assert response.status_code == 500
    output = log_output.getvalue()
    assert "tests.support.failing_views.leaky Unhandled error in POST /leaky" in output
    assert "Traceback" in output
    assert "RuntimeError: secrets" in output
    for secret in leaked:
        assert secret not in output
