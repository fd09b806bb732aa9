"""A thread-safe log of the events fake handlers received (handlers run in pool threads)."""

from __future__ import annotations

import threading
import time
from typing import Any

_lock = threading.Lock()
_events: dict[str, list[Any]] = {}


def record(name: str, event: Any) -> None:
    with _lock:
        _events.setdefault(name, []).append(event)


def events(name: str) -> list[Any]:
    with _lock:
        return list(_events.get(name, []))


def clear() -> None:
    with _lock:
        _events.clear()


def wait_for(name: str, count: int = 1, timeout_s: float = 5.0) -> list[Any]:
    """The events recorded under ``name`` once there are at least ``count`` (or a timeout)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = events(name)
        if len(found) >= count:
            return found
        time.sleep(0.01)
    return events(name)
