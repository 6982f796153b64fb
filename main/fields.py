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
