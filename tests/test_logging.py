"""What reaches the log: every event as a line on stdout, and never a token, a secret or an Authorization header."""

import logging
import sys

import pytest

from config import config
from main.logging import OneLineFormatter
from tests.support.fake_bitrix24 import CLIENT_SECRET

pytestmark = pytest.mark.django_db


def test_full_flow_and_refusals_log_no_credentials(client, fake_b24, log_output):
    grant = fake_b24.make_admin(fake_b24.grant(user_id=3))
    placement = fake_b24.placement(grant)

    token = client.post("/api/getToken", placement, content_type="application/json").json()["token"]
    assert client.get("/api/list", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    assert client.get("/api/list", HTTP_AUTHORIZATION=f"Bearer {token}x").status_code == 401

    output = log_output.getvalue()
    assert "Unauthorized: /api/list" in output
    for secret in (token, grant.access_token, grant.refresh_token, config.jwt_secret, CLIENT_SECRET):
        assert secret not in output
    assert f"Bearer {token}"[:20] not in output


def test_a_logged_exception_that_quotes_secrets_is_masked(log_output):
    logger = logging.getLogger("main.test")
    try:
        raise RuntimeError(f"failed with client_secret={CLIENT_SECRET} and jwt {config.jwt_secret}")
    except RuntimeError:
        logger.exception("GET https://oauth.bitrix24.tech/oauth/token/?client_secret=%s&refresh_token=rt-1234567", "x1")

    output = log_output.getvalue()
    assert CLIENT_SECRET not in output
    assert config.jwt_secret not in output
    assert "rt-1234567" not in output
    assert "RuntimeError" in output


def test_the_previous_jwt_secret_is_masked_too(log_output, settings):
    settings.JWT_SECRET_PREVIOUS = "the-secret-before-the-rotation-0123456789abcdef"

    logging.getLogger("main.test").warning("rotating from %s", settings.JWT_SECRET_PREVIOUS)

    assert "rotating from ***" in log_output.getvalue()
    assert settings.JWT_SECRET_PREVIOUS not in log_output.getvalue()


def test_a_logged_event_body_has_its_credentials_masked(log_output):
    body = "event=ONAPPINSTALL&auth[access_token]=at-secret-1&auth[application_token]=apptoken-secret-2"

    logging.getLogger("main.test").warning("Event body: %s", body)

    output = log_output.getvalue()
    assert "event=ONAPPINSTALL" in output
    assert "at-secret-1" not in output
    assert "apptoken-secret-2" not in output


def test_production_format_keeps_each_event_on_one_line():
    formatter = OneLineFormatter("%(levelname)s %(name)s %(message)s")
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("install", logging.ERROR, __file__, 1, "Unhandled error", None, sys.exc_info())

    line = formatter.format(record)

    assert "\n" not in line
    assert line.startswith("ERROR install Unhandled error")
    assert "ValueError: boom" in line
