import logging

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.core.signals import request_finished, setting_changed
from django.db.backends.signals import connection_created


def _read_json_columns_as_text(sender, connection, **kwargs) -> None:
    """Let Django's `JSONField` decode `JSON` columns itself, as it does for `JSONB`.

    The shared schema uses `JSON` columns; psycopg2 would decode them first and `JSONField` would then fail.
    """
    if connection.vendor == "postgresql":
        from psycopg2.extras import register_default_json

        register_default_json(conn_or_curs=connection.connection, loads=lambda text: text)


class MainConfig(AppConfig):
    """The app's wiring, all of it here: signal receivers, system checks, the SDK's OAuth server, and error reports
    and traces when they are configured."""

    name = "main"

    def ready(self) -> None:
        from main import b24sdk, request_log
        from main.checks import check_production_settings, check_static_files_collected

        checks.register(check_production_settings, checks.Tags.security)
        checks.register(check_static_files_collected, checks.Tags.staticfiles, deploy=True)
        connection_created.connect(_read_json_columns_as_text, dispatch_uid="main.read_json_columns_as_text")
        b24sdk.use_oauth_server(settings.BITRIX24_OAUTH_SERVER)
        b24sdk.keep_ports_of_redirects()
        setting_changed.connect(b24sdk.follow_oauth_server_setting, dispatch_uid="main.follow_oauth_server_setting")
        request_finished.connect(request_log.forget_request, dispatch_uid="main.forget_request")
        if settings.LOG_FORMAT == "json":
            logging.captureWarnings(True)  # Python's warnings as JSON lines too, not raw text on stderr
        # Each SDK is imported only when its address is set: off, they cost nothing.
        if settings.SENTRY_DSN:
            from main.sentry import start_sentry

            start_sentry()
        if settings.OTEL_EXPORTER_OTLP_ENDPOINT:
            from main.tracing import otlp_exporter, start_tracing

            start_tracing(otlp_exporter(settings.OTEL_EXPORTER_OTLP_ENDPOINT))
