"""Serving requests through the project's WSGI application inside a test's database transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.signals import request_finished, request_started
from django.db import close_old_connections


@contextmanager
def keeping_the_test_connection() -> Iterator[None]:
    """As Django's test client does: the test's database connection, inside its transaction, serves the requests
    (`close_old_connections`, connected to the request signals, would close it, and with it the transaction)."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    try:
        yield
    finally:
        for signal in (request_started, request_finished):
            signal.connect(close_old_connections)
