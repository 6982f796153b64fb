"""config.py: the environment is read once, and a value outside what a setting allows stops the start."""

import pytest
from environs import Env, EnvValidationError

from config import load_config


@pytest.mark.parametrize(
    ("name", "value", "read"),
    [
        ("BUILD_TARGET", "production", lambda config: config.is_production),
        ("LOG_FORMAT", "json", lambda config: config.log_format == "json"),
        ("DB_ENGINE", "sqlite", lambda config: config.db_engine == "sqlite"),
        ("JWT_ALGORITHM", "HS512", lambda config: config.jwt_algorithm == "HS512"),
        ("ACCESS_CHECK_SECONDS", "10", lambda config: config.access_check_seconds == 10),
    ],
)
def test_an_allowed_value_is_read(monkeypatch, name, value, read):
    monkeypatch.setenv(name, value)

    assert read(load_config(Env()))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BUILD_TARGET", "prod"),  # a typo must not run with DEBUG on
        ("LOG_FORMAT", "xml"),
        ("DB_ENGINE", "oracle"),
        ("JWT_ALGORITHM", "RS256"),
        ("JWT_ALGORITHM", "none"),
        ("ACCESS_CHECK_SECONDS", "11"),
        ("ACCESS_CHECK_SECONDS", "-1"),
    ],
)
def test_a_value_outside_the_allowed_ones_stops_the_start(monkeypatch, name, value):
    monkeypatch.setenv(name, value)

    with pytest.raises(EnvValidationError, match=name):
        load_config(Env())
