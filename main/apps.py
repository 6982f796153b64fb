from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _read_json_columns_as_text(sender, connection, **kwargs) -> None:
    """Let Django's `JSONField` decode `JSON` columns itself, as it does for `JSONB`.

    The shared schema uses `JSON` columns; psycopg2 would decode them first and `JSONField` would then fail.
    """
    if connection.vendor == "postgresql":
        from psycopg2.extras import register_default_json

        register_default_json(conn_or_curs=connection.connection, loads=lambda text: text)


class MainConfig(AppConfig):
    name = "main"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        connection_created.connect(_read_json_columns_as_text, dispatch_uid="main.read_json_columns_as_text")
