"""Loaded as a pytest plugin (`-p tests.environment` in pytest.ini) so it runs before Django reads `config`.

A developer's `.env` is not read (ENV_FILE): the tests set what they need; the database comes from the environment
(`make test` points it at PostgreSQL), the broker is a virtual host of this run on TEST_RABBITMQ_URL
(tests/support/rabbitmq.py). Events are processed in the request and tokens are not renewed in the background
unless a test turns that on.
"""

import os

from tests.support.rabbitmq import broker_url_of_this_run

os.environ.update(
    ENV_FILE=os.devnull,
    BUILD_TARGET="dev",
    CLIENT_ID="local.test-app.123456",
    CLIENT_SECRET="test-client-secret-0123456789abcdef",
    JWT_SECRET="test-jwt-secret-that-is-long-enough-0123456789",
    JWT_ALGORITHM="HS256",
    LOG_LEVEL="INFO",
    CELERY_BROKER_URL=broker_url_of_this_run(),
    ENABLE_RABBITMQ="0",
    TOKEN_REFRESH_ENABLED="0",
)
os.environ.setdefault("DB_ENGINE", "postgresql")
