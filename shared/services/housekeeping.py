"""The scheduled housekeeping jobs (EventBridge: ``{"job": "minute"}`` every minute,
``{"job": "daily_reconciliation"}`` at 02:00 Asia/Shanghai).

The minute job times out CSMS calls nobody answered and undelivered calls whose pile did
not come back, delivers the waiting calls of piles that are online again, and closes
charging sessions that have had no message for hours (``sessions.close_stale_sessions``,
so no transaction stays open forever). Each part runs on its own: a failing one is
reported in the result and the others still run (the next minute covers what was missed;
the schedule does not retry).

The daily reconciliation of payments and ledger belongs to issue 5; until it exists the
job runs nothing and says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.domain.clock import Clock
from shared.domain.errors import InvalidInput, UpstreamFailure
from shared.observability import logger
from shared.services import sessions
from shared.services.ocpp import remote_calls
from shared.services.ocpp.ports import FrameSender, PendingCallStore, PileStore
from shared.services.sessions import SessionStore

MINUTE = "minute"
DAILY_RECONCILIATION = "daily_reconciliation"


@dataclass(frozen=True, slots=True)
class HousekeepingPorts:
    piles: PileStore
    pending_calls: PendingCallStore
    sender: FrameSender
    sessions: SessionStore
    clock: Clock


def run_job(job: str, ports: HousekeepingPorts) -> dict[str, Any]:
    """Run the named job; the result says which parts ran, what they did, which failed.

    Raises: InvalidInput for a job name the schedule never sends.
    """
    if job == MINUTE:
        return _minute(ports)
    if job == DAILY_RECONCILIATION:
        return {"job": job, "ran": [], "failed": []}
    raise InvalidInput(f"unknown housekeeping job {job[:64]!r}", field="job")


def _minute(ports: HousekeepingPorts) -> dict[str, Any]:
    result: dict[str, Any] = {"job": MINUTE, "ran": [], "failed": []}

    def time_out_calls() -> dict[str, int]:
        count = remote_calls.time_out_due_calls(
            pending_calls=ports.pending_calls, clock=ports.clock
        )
        return {
            "calls_not_answered": count.not_answered,
            "calls_not_delivered": count.not_delivered,
        }

    def deliver_waiting_calls() -> dict[str, int]:
        posted = remote_calls.retry_undelivered(
            piles=ports.piles,
            pending_calls=ports.pending_calls,
            sender=ports.sender,
            clock=ports.clock,
        )
        return {"calls_delivered": posted}

    def close_stale_sessions() -> dict[str, int]:
        sweep = sessions.close_stale_sessions(ports.clock(), sessions=ports.sessions)
        return {"sessions_closed": len(sweep.closed), "sessions_checked": sweep.checked}

    # Time out first, so a call past its delivery deadline is reported, never sent late.
    parts: list[tuple[str, Callable[[], dict[str, int]]]] = [
        ("time_out_calls", time_out_calls),
        ("deliver_waiting_calls", deliver_waiting_calls),
        ("close_stale_sessions", close_stale_sessions),
    ]
    for name, part in parts:
        try:
            result.update(part())
        except UpstreamFailure as failure:
            logger.error("housekeeping part failed", extra={"part": name, "code": failure.code})
            result["failed"].append(name)
            continue
        result["ran"].append(name)
    return result
