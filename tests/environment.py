"""Loaded as a pytest plugin (`-p tests.environment` in pytest.ini) so it runs before Django reads `config`.

The tests' own app credentials win over a developer's `.env`; the database comes from the environment
(`make test` points it at PostgreSQL).
"""

import os

os.environ.update(
    BUILD_TARGET="dev",
    CLIENT_ID="local.test-app.123456",
    CLIENT_SECRET="test-client-secret-0123456789abcdef",
    JWT_SECRET="test-jwt-secret-that-is-long-enough-0123456789",
    JWT_ALGORITHM="HS256",
    LOG_LEVEL="INFO",
)
os.environ.setdefault("DB_ENGINE", "postgresql")
