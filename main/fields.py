"""Model fields that read the shared schema as the PHP backend writes it (see `../shared/schema.md`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import models


class UTCDateTimeField(models.DateTimeField):
    """A `TIMESTAMP` column without time zone that holds UTC wall-clock times.

    PostgreSQL returns such values naive; they are made aware here, so the model always holds aware UTC datetimes.
    (Django writes aware values in the connection's time zone, UTC, so writing needs nothing.)
    """

    def from_db_value(self, value: dt.datetime | None, expression: Any, connection: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


class SharedUUIDField(models.UUIDField):
    """A UUID column of the shared tables: `uuid` on PostgreSQL; on MySQL and MariaDB `CHAR(36)` holding the
    hyphenated form, as the PHP backend (Doctrine) writes it.

    Django's own `UUIDField` writes 32 hex digits there without hyphens (MySQL) or uses MariaDB's UUID type, so
    it would neither find the PHP backend's rows nor write ids the PHP backend can read.
    """

    def db_type(self, connection: Any) -> str | None:
        return "char(36)" if connection.vendor == "mysql" else super().db_type(connection)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if connection.vendor != "mysql" or value is None:
            return super().get_db_prep_value(value, connection, prepared)
        return str(self.to_python(value))
