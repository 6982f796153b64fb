"""Waiting for something another process or thread does, with a deadline (a hang guard, not a speed requirement)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(check: Callable[[], object], timeout: float, failure: str | Callable[[], str]) -> None:
    """Return once `check()` is true; fail the test with `failure` (or what it returns) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            raise AssertionError(failure() if callable(failure) else failure)
        time.sleep(0.02)
