"""System checks that refuse to run production with placeholder or weak secrets.

They run with every management command and at gunicorn start-up (gunicorn.conf.py), so an unsafe production
deployment stops before it serves a request.
"""

from __future__ import annotations

from django.core.checks import Error, Tags, register

from config import DEFAULT_JWT_SECRET, PLACEHOLDER_CLIENT_ID, PLACEHOLDER_CLIENT_SECRET, Config, config

MIN_JWT_SECRET_LENGTH = 32


def production_config_errors(cfg: Config) -> list[Error]:
    """What makes `cfg` unsafe to run in production (nothing in development)."""
    if not cfg.is_production:
        return []
    errors = []
    if cfg.jwt_secret == DEFAULT_JWT_SECRET or len(cfg.jwt_secret) < MIN_JWT_SECRET_LENGTH:
        errors.append(
            Error(
                f"JWT_SECRET must be set to a random value of at least {MIN_JWT_SECRET_LENGTH} characters.",
                hint='Generate one with: python -c "import secrets; print(secrets.token_urlsafe(48))"',
                id="main.E001",
            )
        )
    if cfg.client_id == PLACEHOLDER_CLIENT_ID or cfg.client_secret == PLACEHOLDER_CLIENT_SECRET:
        errors.append(
            Error(
                "CLIENT_ID and CLIENT_SECRET must be your Bitrix24 app's OAuth credentials, not the placeholders.",
                hint="Copy them from the app's page in your Bitrix24 developer resources into .env.",
                id="main.E002",
            )
        )
    return errors


@register(Tags.security)
def check_production_config(app_configs, **kwargs) -> list[Error]:
    return production_config_errors(config)
