"""Django settings. Every value that varies between deployments comes from `config`.

The app (`main/`) reads its own settings below from here, never from `config`, so tests change them with Django's
`override_settings`.
"""

import tempfile
from pathlib import Path

from config import BASE_DIR, config

SECRET_KEY = config.jwt_secret
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
    "main",
]

MIDDLEWARE = [
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
]

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
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": config.db_name,
            "USER": config.db_user,
            "PASSWORD": config.db_password,
            "HOST": config.db_host,
            "PORT": config.db_port,
            # Reuse connections: opening one costs more than most requests do.
            "CONN_MAX_AGE": config.db_conn_max_age,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": {"connect_timeout": 5},
        }
    }

# Per-process cache, used only by the admin login throttle (main/admin_login.py).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

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
JWT_ALGORITHM = config.jwt_algorithm
JWT_LIFETIME_MINUTES = config.jwt_lifetime_minutes
# How long a process trusts its last look at an account's status (main/access.py).
ACCESS_CHECK_SECONDS = config.access_check_seconds

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
            "schedule": float(config.token_refresh_interval_seconds),
        }
    }
    if config.token_refresh_enabled
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
# Failed admin logins per username and address before the login answers 429 (main/admin_login.py).
ADMIN_LOGIN_MAX_FAILURES = config.admin_login_max_failures
ADMIN_LOGIN_LOCKOUT_SECONDS = config.admin_login_lockout_seconds

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
        }
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "line",
            "filters": ["redact_secrets"],
        },
    },
    "root": {"handlers": ["stdout"], "level": config.log_level},
}
