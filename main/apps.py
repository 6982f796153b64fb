from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.core.signals import setting_changed
from django.db.backends.signals import connection_created


def _read_json_columns_as_text(sender, connection, **kwargs) -> None:
    """Let Django's `JSONField` decode `JSON` columns itself, as it does for `JSONB`.

    The shared schema uses `JSON` columns; psycopg2 would decode them first and `JSONField` would then fail.
    """
    if connection.vendor == "postgresql":
        from psycopg2.extras import register_default_json

        register_default_json(conn_or_curs=connection.connection, loads=lambda text: text)


class MainConfig(AppConfig):
    """The app's wiring, all of it here: signal receivers, system checks and the SDK's OAuth server."""

    name = "main"

    def ready(self) -> None:
        from main import b24sdk
        from main.checks import check_production_settings, check_static_files_collected

        checks.register(check_production_settings, checks.Tags.security)
        checks.register(check_static_files_collected, checks.Tags.staticfiles, deploy=True)
        connection_created.connect(_read_json_columns_as_text, dispatch_uid="main.read_json_columns_as_text")
        b24sdk.use_oauth_server(settings.BITRIX24_OAUTH_SERVER)
        setting_changed.connect(b24sdk.follow_oauth_server_setting, dispatch_uid="main.follow_oauth_server_setting")
