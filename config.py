"""The backend's configuration: every setting comes from the environment (or `.env`) through here.

Other modules read `config`, never `os.environ`, so `.env.example` documents the whole surface.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from environs import Env, validate

BASE_DIR = Path(__file__).resolve().parent

DEFAULT_JWT_SECRET = "default_jwt_secret"  # noqa: S105 - the placeholder production refuses
PLACEHOLDER_CLIENT_ID = "client_id"
PLACEHOLDER_CLIENT_SECRET = "client_secret"  # noqa: S105
DEFAULT_OAUTH_SERVER = "https://oauth.bitrix24.tech"
BUILD_TARGETS = ("dev", "production")
DB_ENGINES = ("postgresql", "mysql", "sqlite")  # mysql: MySQL or MariaDB
DEFAULT_DB_PORTS = {"postgresql": 5432, "mysql": 3306}
# JWT_SECRET is a shared secret, so only the HMAC family applies.
JWT_ALGORITHMS = ("HS256", "HS384", "HS512")
# `text` for people reading a terminal; `json` for log collectors (ELK, Loki): one JSON object per line.
LOG_FORMATS = ("text", "json")
# The compose file's RabbitMQ service (profile queue), with docker-compose.yml's default credentials.
COMPOSE_RABBITMQ = "rabbitmq:5672"


def _origin(url: str) -> str:
    """`example.com` -> `https://example.com`; an explicit scheme is kept, any path dropped."""
    parts = urlsplit(url if "://" in url else f"https://{url}")
    return f"{parts.scheme}://{parts.netloc}"


def _compose_broker_url(user: str, password: str) -> str:
    """The compose file's RabbitMQ (its default virtual host) as these credentials reach it."""
    return f"amqp://{quote(user, safe='')}:{quote(password, safe='')}@{COMPOSE_RABBITMQ}//"


@dataclass(frozen=True)
class Config:
    build_target: str
    log_level: int  # logging.INFO, ...: environs reads a name (INFO) or a number
    log_format: str

    # Error reporting and traces; each is off while its address is empty.
    sentry_dsn: str
    sentry_environment: str
    otel_exporter_otlp_endpoint: str
    otel_service_name: str

    db_engine: str
    db_name: str
    db_user: str
    db_password: str
    db_host: str
    db_port: int
    db_conn_max_age: int
    db_pool_size: int
    sqlite_path: Path

    jwt_secret: str
    jwt_secret_previous: str
    jwt_algorithm: str
    jwt_lifetime_minutes: int
    jwt_max_age_hours: int
    access_check_seconds: int

    client_id: str
    client_secret: str
    bitrix24_oauth_server: str
    bitrix24_extra_portal_hosts: list[str]
    bitrix24_timeout: float
    bitrix24_max_retries: int

    virtual_hosts: list[str]
    cors_allowed_origins: list[str]
    max_body_bytes: int
    admin_login_max_failures: int
    admin_login_lockout_seconds: int
    trusted_proxy_count: int
    trust_x_forwarded_proto: bool
    secure_cookies: bool
    secure_ssl_redirect: bool
    secure_hsts_seconds: int

    enable_rabbitmq: bool
    celery_broker_url: str
    rabbitmq_prefetch: int
    token_refresh_enabled: bool
    token_refresh_window_minutes: int
    token_refresh_interval_seconds: int

    @property
    def is_production(self) -> bool:
        return self.build_target == "production"

    @property
    def debug(self) -> bool:
        return not self.is_production

    @property
    def public_origins(self) -> list[str]:
        """The app's public URLs as origins (`https://host[:port]`)."""
        return [_origin(host) for host in self.virtual_hosts]

    @property
    def public_hostnames(self) -> list[str]:
        return [urlsplit(origin).hostname or "" for origin in self.public_origins]


def read_environment() -> Env:
    """The process's environment, with `.env` (or the file ENV_FILE names) read first when it exists; a variable
    already set wins."""
    env = Env()
    env.read_env(env.str("ENV_FILE", str(BASE_DIR / ".env")), recurse=False)
    return env


def load_config(env: Env | None = None) -> Config:
    """Read the configuration from the environment and `.env` (`read_environment`)."""
    if env is None:
        env = read_environment()

    virtual_hosts = env.list("VIRTUAL_HOST", ["app_base_url"])
    is_production = env.str("BUILD_TARGET", "dev") == "production"
    db_engine = env.str("DB_ENGINE", "postgresql", validate=validate.OneOf(DB_ENGINES))
    window_minutes = env.int("TOKEN_REFRESH_WINDOW_MINUTES", 15, validate=validate.Range(min=1))
    return Config(
        build_target=env.str("BUILD_TARGET", "dev", validate=validate.OneOf(BUILD_TARGETS)),
        log_level=env.log_level("LOG_LEVEL", logging.INFO),
        # Validators are marshmallow's (OneOf, Range): environs 15 (marshmallow 4) ignores a lambda that returns False.
        log_format=env.str("LOG_FORMAT", "text", validate=validate.OneOf(LOG_FORMATS)),
        sentry_dsn=env.str("SENTRY_DSN", ""),
        sentry_environment=env.str("SENTRY_ENVIRONMENT", "production" if is_production else "dev"),
        # The OTLP/HTTP collector's base URL, as OpenTelemetry defines it (traces go to its /v1/traces).
        otel_exporter_otlp_endpoint=env.str("OTEL_EXPORTER_OTLP_ENDPOINT", "").rstrip("/"),
        otel_service_name=env.str("OTEL_SERVICE_NAME", "api-python"),
        db_engine=db_engine,
        db_name=env.str("DB_NAME", "appdb"),
        db_user=env.str("DB_USER", "appuser"),
        db_password=env.str("DB_PASSWORD", "apppass"),
        db_host=env.str("DB_HOST", "database"),
        db_port=env.int("DB_PORT", DEFAULT_DB_PORTS.get(db_engine, 5432)),
        db_conn_max_age=env.int("DB_CONN_MAX_AGE", 60),
        db_pool_size=env.int("DB_POOL_SIZE", 10, validate=validate.Range(min=1)),
        sqlite_path=env.path("SQLITE_PATH", BASE_DIR / "db.sqlite3"),
        jwt_secret=env.str("JWT_SECRET", DEFAULT_JWT_SECRET),
        # The secret before the last rotation: JWTs it signed are accepted until they expire.
        jwt_secret_previous=env.str("JWT_SECRET_PREVIOUS", ""),
        jwt_algorithm=env.str("JWT_ALGORITHM", "HS256", validate=validate.OneOf(JWT_ALGORITHMS)),
        jwt_lifetime_minutes=env.int("JWT_LIFETIME_MINUTES", 60),
        # How long Bearer renewals may go on after Bitrix24 last vouched for the user (placement data).
        jwt_max_age_hours=env.int("JWT_MAX_AGE_HOURS", 24, validate=validate.Range(min=1)),
        # How long a process trusts its last look at an account's status (revocation delay); at most 10 s.
        access_check_seconds=env.int("ACCESS_CHECK_SECONDS", 5, validate=validate.Range(min=0, max=10)),
        client_id=env.str("CLIENT_ID", PLACEHOLDER_CLIENT_ID),
        client_secret=env.str("CLIENT_SECRET", PLACEHOLDER_CLIENT_SECRET),
        bitrix24_oauth_server=env.str("BITRIX24_OAUTH_SERVER", DEFAULT_OAUTH_SERVER).rstrip("/"),
        bitrix24_extra_portal_hosts=env.list("BITRIX24_EXTRA_PORTAL_HOSTS", []),
        bitrix24_timeout=env.float("BITRIX24_TIMEOUT", 5.0),
        bitrix24_max_retries=env.int("BITRIX24_MAX_RETRIES", 2),
        virtual_hosts=virtual_hosts,
        cors_allowed_origins=env.list("CORS_ALLOWED_ORIGINS", [_origin(h) for h in virtual_hosts]),
        max_body_bytes=env.int("MAX_BODY_BYTES", 1024 * 1024),
        admin_login_max_failures=env.int("ADMIN_LOGIN_MAX_FAILURES", 5),
        admin_login_lockout_seconds=env.int("ADMIN_LOGIN_LOCKOUT_SECONDS", 15 * 60),
        # Proxies in front that append the address they saw to X-Forwarded-For (the compose stack's TLS proxy: 1).
        trusted_proxy_count=env.int("TRUSTED_PROXY_COUNT", 0, validate=validate.Range(min=0)),
        trust_x_forwarded_proto=env.bool("TRUST_X_FORWARDED_PROTO", is_production),
        secure_cookies=env.bool("SECURE_COOKIES", is_production),
        secure_ssl_redirect=env.bool("SECURE_SSL_REDIRECT", False),
        secure_hsts_seconds=env.int("SECURE_HSTS_SECONDS", 0),
        enable_rabbitmq=env.bool("ENABLE_RABBITMQ", False),
        celery_broker_url=env.str("CELERY_BROKER_URL", "")
        or env.str("RABBITMQ_DSN", "")
        or _compose_broker_url(env.str("RABBITMQ_USER", "appuser"), env.str("RABBITMQ_PASSWORD", "apppass")),
        rabbitmq_prefetch=env.int("RABBITMQ_PREFETCH", 1, validate=validate.Range(min=1)),
        token_refresh_enabled=env.bool("TOKEN_REFRESH_ENABLED", False),
        token_refresh_window_minutes=window_minutes,
        # A sweep at least every window, so every expiring token is seen before it expires.
        token_refresh_interval_seconds=env.int(
            "TOKEN_REFRESH_INTERVAL_SECONDS", 300, validate=validate.Range(min=1, max=window_minutes * 60 - 1)
        ),
    )


config = load_config()
