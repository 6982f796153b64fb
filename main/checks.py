"""System checks that refuse to run production with placeholder or weak secrets, wildcard hosts or origins, or
without its collected static files.

They run with every management command, and gunicorn's workers run them, deployment checks included, before they
serve (gunicorn.conf.py), so an unsafe production deployment stops before it serves a request. `MainConfig.ready()`
registers them.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.checks import Error
from django.core.files.storage import storages

from config import DEFAULT_JWT_SECRET, PLACEHOLDER_CLIENT_ID, PLACEHOLDER_CLIENT_SECRET

MIN_JWT_SECRET_LENGTH = 32


def _weak(secret: str) -> bool:
    return secret == DEFAULT_JWT_SECRET or len(secret) < MIN_JWT_SECRET_LENGTH


def check_production_settings(app_configs, **kwargs) -> list[Error]:
    """What makes the settings unsafe to run in production (nothing in development, where DEBUG is on)."""
    if settings.DEBUG:
        return []
    errors = []
    if _weak(settings.JWT_SECRET):
        errors.append(
            Error(
                f"JWT_SECRET must be set to a random value of at least {MIN_JWT_SECRET_LENGTH} characters.",
                hint='Generate one with: python -c "import secrets; print(secrets.token_urlsafe(48))"',
                id="main.E001",
            )
        )
    if (
        settings.BITRIX24_CLIENT_ID == PLACEHOLDER_CLIENT_ID
        or settings.BITRIX24_CLIENT_SECRET == PLACEHOLDER_CLIENT_SECRET
    ):
        errors.append(
            Error(
                "CLIENT_ID and CLIENT_SECRET must be your Bitrix24 app's OAuth credentials, not the placeholders.",
                hint="Copy them from the app's page in your Bitrix24 developer resources into .env.",
                id="main.E002",
            )
        )
    # JWTs signed with it are accepted: a weak one would let anyone sign JWTs.
    if settings.JWT_SECRET_PREVIOUS and _weak(settings.JWT_SECRET_PREVIOUS):
        errors.append(
            Error(
                f"JWT_SECRET_PREVIOUS, when set, must be a random value of at least {MIN_JWT_SECRET_LENGTH} "
                "characters (the JWT_SECRET before the rotation).",
                hint="Leave it empty unless you are rotating JWT_SECRET.",
                id="main.E003",
            )
        )
    return errors + _wildcard_errors()


def _wildcard_errors() -> list[Error]:
    """`*` in VIRTUAL_HOST would accept any Host header (and CSRF origin), in CORS_ALLOWED_ORIGINS any website."""
    errors = []
    if any("*" in host for host in [*settings.ALLOWED_HOSTS, *settings.CSRF_TRUSTED_ORIGINS]):
        errors.append(
            Error(
                "VIRTUAL_HOST must name the app's public host(s): '*' would accept requests for any host.",
                hint="Set VIRTUAL_HOST=app.example.com (comma-separated for several) in .env.",
                id="main.E004",
            )
        )
    if any("*" in origin for origin in getattr(settings, "CORS_ALLOWED_ORIGINS", [])):
        errors.append(
            Error(
                "CORS_ALLOWED_ORIGINS must list your frontend's origins: '*' would let any website call the API.",
                hint="Set CORS_ALLOWED_ORIGINS=https://app.example.com in .env, or leave it out to use VIRTUAL_HOST.",
                id="main.E005",
            )
        )
    return errors


def check_static_files_collected(app_configs, **kwargs) -> list[Error]:
    """Production serves the admin's static files from `collectstatic`'s manifest (WhiteNoise): without it, every
    admin page is a 500. A deployment check: `migrate` and `collectstatic` itself must run without them."""
    storage = storages["staticfiles"]
    if settings.DEBUG or not isinstance(storage, ManifestFilesMixin) or storage.read_manifest() is not None:
        return []
    return [
        Error(
            f"The static files are not collected ({storage.manifest_name} is missing in {settings.STATIC_ROOT}): "
            "the admin would answer 500.",
            hint="Run: python manage.py collectstatic --noinput (with the production settings; the production "
            "image runs it when it is built).",
            id="main.E006",
        )
    ]
