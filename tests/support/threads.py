"""Requests at the same moment: threads with a database connection each, held together where a race is decided."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from django.db import connections

T = TypeVar("T")
JOIN_TIMEOUT = 30  # a hang guard


def at_once(calls: list[Callable[[], T]]) -> list[T]:
    """Run each call in a thread of its own, with its own database connections (closed after it); their results,
    in the order they finished."""
    results: list[T] = []

    def run(call: Callable[[], T]) -> None:
        try:
            results.append(call())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT)
    return results


def hold_together(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, count: int) -> None:
    """Hold `count` threads at `owner.name` (a function of a module, or a method) until all of them have reached it,
    once each; the real function runs after."""
    together, waited = threading.Barrier(count, timeout=10), threading.local()
    function = getattr(owner, name)

    def held(*args: Any, **kwargs: Any) -> Any:
        if not getattr(waited, "done", False):
            waited.done = True
            together.wait()
        return function(*args, **kwargs)

    monkeypatch.setattr(owner, name, held)
