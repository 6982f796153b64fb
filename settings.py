"""Django settings. Every value that varies between deployments comes from `config`.

The app (`main/`) reads its own settings below from here, never from `config`, so tests change them with Django's
`override_settings`.
"""

import datetime as dt
import sys
import tempfile
from pathlib import Path

from config import BASE_DIR, config

SECRET_KEY = config.jwt_secret
# After a rotation, admin sessions signed with the previous secret stay valid too.
SECRET_KEY_FALLBACKS = [config.jwt_secret_previous] if config.jwt_secret_previous else []
DEBUG = config.debug

ALLOWED_HOSTS = [*config.public_hostnames, "localhost", "127.0.0.1", "api-python"]
CSRF_TRUSTED_ORIGINS = config.public_origins

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "axes",
    "main",
    # Swagger UI's files for /api/docs, which only development serves (production does not collect them either).
    *(["drf_spectacular_sidecar"] if config.debug else []),
]

MIDDLEWARE = [
    # First, so every answer carries X-Request-ID and every log line of the request knows it (main/request_log.py).
    "main.request_log.request_log_middleware",
    # A span per request when OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise it leaves the chain at start-up.
    "main.middleware.tracing_middleware",
    "corsheaders.middleware.CorsMiddleware",
    "main.middleware.request_secrets_middleware",
    "django.middleware.security.SecurityMiddleware",
    # In production (gunicorn, DEBUG off) WhiteNoise serves the admin's collected static files.
    *(["whitenoise.middleware.WhiteNoiseMiddleware"] if config.is_production else []),
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a login refused for too many failures into AXES_LOCKOUT_CALLABLE's answer.
    "axes.middleware.AxesMiddleware",
]

# django-axes first: it refuses a login that failed too often before Django checks the password.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]

ROOT_URLCONF = "urls"
WSGI_APPLICATION = "wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if config.db_engine == "sqlite":
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": config.sqlite_path}}
else:
    db_options: dict[str, object] = {"connect_timeout": 5}
    DATABASES = {
        "default": {
            # mysql: Django's MySQL/MariaDB backend, creating its tables in utf8mb4 (main/mysql/).
            "ENGINE": {"postgresql": "django.db.backends.postgresql", "mysql": "main.mysql"}[config.db_engine],
            "NAME": config.db_name,
            "USER": config.db_user,
            "PASSWORD": config.db_password,
            "HOST": config.db_host,
            "PORT": config.db_port,
            # Reuse connections: opening one costs more than most requests do.
            "CONN_MAX_AGE": config.db_conn_max_age,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": db_options,
        }
    }
if config.db_engine == "mysql":
    # utf8mb4 on the connection and for the test database; READ COMMITTED (Django's default, stated because the
    # row locks of main/placements.py and main/models.py rely on it: no gap locks, a locking read sees the latest
    # committed row). Sessions keep the server's time zone, as the PHP backend's do: Django writes DATETIME values
    # in UTC itself, and TIMESTAMP columns then read back as written on both sides.
    db_options.update(charset="utf8mb4", isolation_level="read committed")
    DATABASES["default"]["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}

# gunicorn's gevent workers (gunicorn.conf.py) serve every request in a green thread of its own, and Django keeps a
# connection per thread: there, PostgreSQL connections come from a pool of DB_POOL_SIZE per worker instead, taken
# for a request and given back after it (main/postgresql_pool/).
ON_GEVENT = "gevent.monkey" in sys.modules and sys.modules["gevent.monkey"].is_module_patched("threading")
if ON_GEVENT and config.db_engine == "postgresql":
    DATABASES["default"].update(ENGINE="main.postgresql_pool", CONN_MAX_AGE=0, CONN_HEALTH_CHECKS=False)
    db_options.update(MAX_CONNS=config.db_pool_size, REUSE_CONNS=config.db_pool_size)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- The app's own settings ------------------------------------------------------------------------------------
# Your Bitrix24 app's OAuth credentials, and the OAuth server b24pysdk asks (tests and benchmarks use a fake).
BITRIX24_CLIENT_ID = config.client_id
BITRIX24_CLIENT_SECRET = config.client_secret
BITRIX24_OAUTH_SERVER = config.bitrix24_oauth_server
# Portal hosts accepted besides cloud host names (self-hosted Bitrix24 on a port, an IP address or a single label).
BITRIX24_EXTRA_PORTAL_HOSTS = config.bitrix24_extra_portal_hosts
# Where Bitrix24 sends the app's lifecycle events (bound by POST /api/install): the app's public URL.
APP_EVENTS_URL = f"{config.public_origins[0]}/api/app-events"
# Limits for each call to Bitrix24: seconds per connection and read, and attempts for answers of 503.
BITRIX24_TIMEOUT = config.bitrix24_timeout
BITRIX24_MAX_RETRIES = config.bitrix24_max_retries
# The backend's own JWTs (main/jwts.py).
JWT_SECRET = config.jwt_secret
JWT_SECRET_PREVIOUS = config.jwt_secret_previous  # "" when no rotation is under way
JWT_ALGORITHM = config.jwt_algorithm
JWT_LIFETIME_MINUTES = config.jwt_lifetime_minutes
JWT_MAX_AGE_HOURS = config.jwt_max_age_hours
# How long a process trusts its last look at an account's status (main/access.py).
ACCESS_CHECK_SECONDS = config.access_check_seconds
# Logs, error reports and traces; Sentry and OpenTelemetry are off, and not even imported, while these are empty.
# `text` or `json` (main/logging.py's JsonFormatter; the app then logs each request: main/request_log.py).
LOG_FORMAT = config.log_format
# Errors to Sentry, scrubbed of every credential (main/sentry.py).
SENTRY_DSN = config.sentry_dsn
SENTRY_ENVIRONMENT = config.sentry_environment
# Spans of requests and of calls to Bitrix24 to an OTLP/HTTP collector (main/tracing.py).
OTEL_EXPORTER_OTLP_ENDPOINT = config.otel_exporter_otlp_endpoint
OTEL_SERVICE_NAME = config.otel_service_name

# --- Background work: Celery on RabbitMQ (celery_app.py, main/tasks.py) ---------------------------------------
# On: POST /api/app-events checks what it can at once, queues the event and answers; a worker applies it.
ENABLE_RABBITMQ = config.enable_rabbitmq
# The periodic renewal of access tokens that expire within the window (scheduled by `celery beat`).
TOKEN_REFRESH_ENABLED = config.token_refresh_enabled
TOKEN_REFRESH_WINDOW_MINUTES = config.token_refresh_window_minutes
TOKEN_REFRESH_INTERVAL_SECONDS = config.token_refresh_interval_seconds
# Publishing an event gives up quickly when the broker is away (the request answers 503 and Bitrix24 retries):
# seconds to connect, to send and to have the message confirmed, and one more attempt after a short pause.
EVENT_PUBLISH_TIMEOUT = 2.0
EVENT_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0.2, "interval_step": 0, "interval_max": 0.2}

CELERY_BROKER_URL = config.celery_broker_url
CELERY_BROKER_CONNECTION_TIMEOUT = EVENT_PUBLISH_TIMEOUT
# A worker waits for the broker at start and after losing it, as long as it takes.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# The broker confirms every message before the request that queued it is answered.
CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
# A message is acknowledged after its task ran, and given back when the worker process dies, so a killed worker
# loses nothing: the tasks are idempotent, a redelivered message changes nothing that was already done.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Messages a worker process holds at a time beyond the one it runs.
CELERY_WORKER_PREFETCH_MULTIPLIER = config.rabbitmq_prefetch
CELERY_TASK_SERIALIZER = CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True  # no result backend: nothing reads task results
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = (
    {
        "renew-expiring-tokens": {
            "task": "main.tasks.renew_expiring_tokens",
            "schedule": float(TOKEN_REFRESH_INTERVAL_SECONDS),
        }
    }
    if TOKEN_REFRESH_ENABLED
    else {}
)
# Beat keeps its last run times here: a writable place also in the production image, whose code is read-only.
CELERY_BEAT_SCHEDULE_FILENAME = str(Path(tempfile.gettempdir()) / "bitrix24-app-celerybeat-schedule")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/api/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed, compressed files need `collectstatic`, which the production image runs.
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if config.is_production
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# The admin's CSRF failures answer in JSON like everything else (main/views.py).
CSRF_FAILURE_VIEW = "main.views.csrf_failure"
# Failed admin logins (django-axes): counted per username and client address in the database (axes' tables), so
# every worker shares them. At AXES_FAILURE_LIMIT the login answers 429 (main/admin_login.py) until
# AXES_COOLOFF_TIME has passed since the last failure; a successful login clears the count.
AXES_FAILURE_LIMIT = config.admin_login_max_failures
AXES_COOLOFF_TIME = dt.timedelta(seconds=config.admin_login_lockout_seconds)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "main.admin_login.client_address"
AXES_LOCKOUT_CALLABLE = "main.admin_login.lockout_response"
# Failures are logged with username and address (the password never); the stored form data leaves out the CSRF token.
AXES_SENSITIVE_PARAMETERS = ["csrfmiddlewaretoken"]
# Proxies in front that append the client's address to X-Forwarded-For (main/admin_login.py reads it behind them).
TRUSTED_PROXY_COUNT = config.trusted_proxy_count

# Bodies over this size are refused with 413 by `collect_request_data`.
DATA_UPLOAD_MAX_MEMORY_SIZE = config.max_body_bytes

if config.is_production:
    CORS_ALLOWED_ORIGINS = config.cors_allowed_origins
else:
    CORS_ALLOW_ALL_ORIGINS = True

# Behind the TLS-terminating proxy that Bitrix24 requires (HTTPS), the proxy says which scheme the client used.
if config.trust_x_forwarded_proto:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = config.secure_cookies
# The admin lives in a normal tab, the API in Bitrix24's iframe: cookies are only the admin's, so Lax fits.
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = config.secure_ssl_redirect
SECURE_REDIRECT_EXEMPT = [r"^api/healthz$"]  # container health checks speak plain HTTP
SECURE_HSTS_SECONDS = config.secure_hsts_seconds
SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "main.logging.RedactSecretsFilter"}},
    "formatters": {
        "line": {
            "()": "main.logging.OneLineFormatter" if config.is_production else "logging.Formatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        "json": {"()": "main.logging.JsonFormatter"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json" if config.log_format == "json" else "line",
            "filters": ["redact_secrets"],
        },
    },
    "root": {"handlers": ["stdout"], "level": config.log_level},
    # Django's own defaults (django.utils.log.DEFAULT_LOGGING) give these loggers handlers without the filter: the
    # console (DEBUG on), which printed every django.* record a second time, unmasked; mail_admins; and runserver's
    # request log, which printed query strings with tokens. No handlers here: their records reach the root's.
    "loggers": {
        "django": {"handlers": [], "level": "INFO"},  # INFO, as Django's default: no SQL with its values at DEBUG
        "django.server": {"handlers": [], "propagate": True},
    },
}
