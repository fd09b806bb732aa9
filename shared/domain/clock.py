"""Time rules: aware UTC inside, RFC 3339 with ``Z`` on the wire, Asia/Shanghai for local days.

Services receive a ``Clock`` (a zero-argument callable returning an aware UTC
datetime) instead of reading the system time, so tests fix it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

Clock = Callable[[], datetime]

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def system_clock() -> datetime:
    """The real clock, aware UTC; only wiring passes it to services."""
    return datetime.now(UTC)


def to_wire(at: datetime) -> str:
    """Format an aware datetime as RFC 3339 UTC with millisecond precision and ``Z``."""
    if at.tzinfo is None:
        raise ValueError("naive datetime")
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def from_wire(text: str) -> datetime:
    """Parse an RFC 3339 / ISO-8601 timestamp with an offset or ``Z`` into aware UTC.

    Raises:
        ValueError: the text is not a timestamp or has no offset.
    """
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("timestamp without offset")
    return parsed.astimezone(UTC)


def local_day(at: datetime) -> date:
    """The Asia/Shanghai calendar day an instant falls on (reports, daily counters)."""
    return at.astimezone(LOCAL_TZ).date()
