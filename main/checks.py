"""System checks that refuse to run production with placeholder or weak secrets.

They run with every management command and at gunicorn start-up (gunicorn.conf.py), so an unsafe production
deployment stops before it serves a request. `MainConfig.ready()` registers them.
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error

from config import DEFAULT_JWT_SECRET, PLACEHOLDER_CLIENT_ID, PLACEHOLDER_CLIENT_SECRET

MIN_JWT_SECRET_LENGTH = 32


def check_production_settings(app_configs, **kwargs) -> list[Error]:
    """What makes the settings unsafe to run in production (nothing in development, where DEBUG is on)."""
    if settings.DEBUG:
        return []
    errors = []
    if settings.JWT_SECRET == DEFAULT_JWT_SECRET or len(settings.JWT_SECRET) < MIN_JWT_SECRET_LENGTH:
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
    return errors
