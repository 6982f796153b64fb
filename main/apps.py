from django.apps import AppConfig
from django.db.backends.signals import connection_created

from config import DEFAULT_OAUTH_SERVER, config


def _read_json_columns_as_text(sender, connection, **kwargs) -> None:
    """Let Django's `JSONField` decode `JSON` columns itself, as it does for `JSONB`.

    The shared schema uses `JSON` columns; psycopg2 would decode them first and `JSONField` would then fail.
    """
    if connection.vendor == "postgresql":
        from psycopg2.extras import register_default_json

        register_default_json(conn_or_curs=connection.connection, loads=lambda text: text)


def _point_sdk_at_oauth_server(base_url: str) -> None:
    """Send b24pysdk's OAuth calls (`app.info`, token refresh) to BITRIX24_OAUTH_SERVER.

    The SDK has the address as a class constant; a fake Bitrix24 (tests, benchmarks) needs another one.
    """
    from b24pysdk.api.requesters import BitrixOAuthRequester

    BitrixOAuthRequester._OAUTH_TOKEN_URL = f"{base_url}/oauth/token/"
    BitrixOAuthRequester._APP_INFO_URL = f"{base_url}/rest/app.info/"


class MainConfig(AppConfig):
    name = "main"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from main import checks  # noqa: F401 - registers the system checks

        connection_created.connect(_read_json_columns_as_text, dispatch_uid="main.read_json_columns_as_text")
        if config.bitrix24_oauth_server != DEFAULT_OAUTH_SERVER:
            _point_sdk_at_oauth_server(config.bitrix24_oauth_server)
