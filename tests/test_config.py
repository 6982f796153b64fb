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
        ("DB_ENGINE", "mysql", lambda config: config.db_engine == "mysql"),
        ("JWT_ALGORITHM", "HS512", lambda config: config.jwt_algorithm == "HS512"),
        ("ACCESS_CHECK_SECONDS", "10", lambda config: config.access_check_seconds == 10),
        ("RABBITMQ_PREFETCH", "4", lambda config: config.rabbitmq_prefetch == 4),
        ("TOKEN_REFRESH_INTERVAL_SECONDS", "899", lambda config: config.token_refresh_interval_seconds == 899),
    ],
)
def test_an_allowed_value_is_read(monkeypatch, name, value, read):
    monkeypatch.setenv(name, value)

    assert read(load_config(Env()))


@pytest.mark.parametrize(("engine", "port"), [("postgresql", 5432), ("mysql", 3306)])
def test_db_port_defaults_to_the_engines_own(monkeypatch, engine, port):
    monkeypatch.setenv("DB_ENGINE", engine)
    monkeypatch.delenv("DB_PORT", raising=False)

    assert load_config(Env()).db_port == port
    monkeypatch.setenv("DB_PORT", "13306")
    assert load_config(Env()).db_port == 13306


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
        ("RABBITMQ_PREFETCH", "0"),
        ("JWT_MAX_AGE_HOURS", "0"),
        ("TRUSTED_PROXY_COUNT", "-1"),  # would read an X-Forwarded-For entry the client wrote
        ("TOKEN_REFRESH_WINDOW_MINUTES", "0"),
        ("TOKEN_REFRESH_INTERVAL_SECONDS", "900"),  # not shorter than the window (15 minutes): tokens could lapse
        ("TOKEN_REFRESH_INTERVAL_SECONDS", "0"),
    ],
)
def test_a_value_outside_the_allowed_ones_stops_the_start(monkeypatch, name, value):
    monkeypatch.setenv(name, value)

    with pytest.raises(EnvValidationError, match=name):
        load_config(Env())


@pytest.mark.parametrize(
    ("environment", "broker"),
    [
        pytest.param({}, "amqp://appuser:apppass@rabbitmq:5672//", id="compose-default"),
        pytest.param(
            {"RABBITMQ_USER": "rabbit", "RABBITMQ_PASSWORD": "p@ss/word"},
            "amqp://rabbit:p%40ss%2Fword@rabbitmq:5672//",
            id="compose-credentials-quoted",
        ),
        pytest.param(
            {"RABBITMQ_DSN": "amqp://dsn@broker:5672/app", "RABBITMQ_USER": "rabbit"},
            "amqp://dsn@broker:5672/app",
            id="dsn",
        ),
        pytest.param(
            {"CELERY_BROKER_URL": "amqp://celery@broker:5672//", "RABBITMQ_DSN": "amqp://dsn@broker:5672/app"},
            "amqp://celery@broker:5672//",
            id="celery-broker-url-first",
        ),
    ],
)
def test_the_broker_is_celery_broker_url_else_rabbitmq_dsn_else_compose_rabbitmq(monkeypatch, environment, broker):
    for name in ("CELERY_BROKER_URL", "RABBITMQ_DSN", "RABBITMQ_USER", "RABBITMQ_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    assert load_config(Env()).celery_broker_url == broker
