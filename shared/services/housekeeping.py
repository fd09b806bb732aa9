"""The scheduled housekeeping job (EventBridge: ``{"job": "minute"}`` every minute).

The minute job times out CSMS calls nobody answered and undelivered calls whose pile did
not come back, and e-bike port commands no gateway confirmed, delivers the waiting calls of
piles that are online again, and closes
charging sessions that have had no message for hours (``sessions.close_stale_sessions``,
so no transaction stays open forever), and marks offline the Modbus piles whose gateway
went silent (``gateway_presence.sweep_silent_gateways``: an index query of the due
gateways only). Each part runs on its own: a failing one is reported in the result and
the others still run (the next minute covers what was missed; the schedule does not retry).

The daily reconciliation of payments and ledger runs in the reports function
(``shared/services/reconciliation.py``); here it is an unknown job like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.domain.clock import Clock
from shared.domain.errors import InvalidInput, UpstreamFailure
from shared.domain.sessions import Session
from shared.observability import logger
from shared.services import ebike_charging, paid_charging, sessions
from shared.services.ocpp import remote_calls
from shared.services.ocpp.ports import FrameSender, PendingCallStore, PileStore
from shared.services.paid_charging import PaidChargePorts
from shared.services.sessions import SessionStore

if TYPE_CHECKING:
    from shared.services.gateway_presence import PresencePorts

MINUTE = "minute"


@dataclass(frozen=True, slots=True)
class HousekeepingPorts:
    piles: PileStore
    pending_calls: PendingCallStore
    sender: FrameSender
    sessions: SessionStore
    clock: Clock
    # Paid charging: the deployed wiring sets it (remote starts that never started, paid
    # sessions closed stale); without it those parts do not run.
    paid: PaidChargePorts | None = None
    # Modbus presence: the deployed wiring sets it; without it the sweep does not run.
    gateway_presence: PresencePorts | None = None


def run_job(job: str, ports: HousekeepingPorts) -> dict[str, Any]:
    """Run the named job; the result says which parts ran, what they did, which failed.

    Raises: InvalidInput for a job name the schedule never sends.
    """
    if job == MINUTE:
        return _minute(ports)
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
        sweep = sessions.close_stale_sessions(
            ports.clock(), sessions=ports.sessions, on_closed=_paid_session_closed(ports)
        )
        return {"sessions_closed": len(sweep.closed), "sessions_checked": sweep.checked}

    def time_out_port_commands(paid: PaidChargePorts) -> dict[str, int]:
        return {"port_commands_timed_out": ebike_charging.time_out_port_commands(paid)}

    def fail_unstarted_paid_charges(paid: PaidChargePorts) -> dict[str, int]:
        sweep = paid_charging.sweep_unstarted(paid, ports.clock())
        return {"paid_never_started": len(sweep.failed), "paid_starts_checked": sweep.checked}

    def mark_silent_gateways_offline(presence: PresencePorts) -> dict[str, int]:
        from shared.services.gateway_presence import sweep_silent_gateways

        sweep = sweep_silent_gateways(presence.store, presence.piles, ports.clock())
        return {
            "gateways_checked": sweep.checked,
            "gateways_silent": len(sweep.silent),
            "modbus_piles_offline": sweep.piles_offline,
        }

    # Time out first, so a call past its delivery deadline is reported, never sent late.
    parts: list[tuple[str, Callable[[], dict[str, int]]]] = [
        ("time_out_calls", time_out_calls),
        ("deliver_waiting_calls", deliver_waiting_calls),
        ("close_stale_sessions", close_stale_sessions),
    ]
    paid = ports.paid
    if paid is not None and paid.ebike is not None:
        # E-bike port commands nobody answered (a paid start among them fails its workflow).
        parts.append(("time_out_port_commands", lambda: time_out_port_commands(paid)))
    if paid is not None:
        # After the timeouts above, so a remote start nobody answered is failed this minute.
        parts.append(("fail_unstarted_paid_charges", lambda: fail_unstarted_paid_charges(paid)))
    presence = ports.gateway_presence
    if presence is not None:
        parts.append(
            ("mark_silent_gateways_offline", lambda: mark_silent_gateways_offline(presence))
        )
    for name, part in parts:
        try:
            result.update(part())
        except UpstreamFailure as failure:
            logger.error("housekeeping part failed", extra={"part": name, "code": failure.code})
            result["failed"].append(name)
            continue
        result["ran"].append(name)
    return result


def _paid_session_closed(ports: HousekeepingPorts) -> Callable[[Session], None] | None:
    paid = ports.paid
    if paid is None:
        return None

    def resume(session: Session) -> None:
        # The session is closed whatever happens here; a workflow that cannot be resumed
        # now settles by its last meter value when its 24-hour wait times out.
        try:
            paid_charging.session_ended(paid, session)
        except UpstreamFailure as failure:
            logger.error(
                "paid session closed stale but its workflow was not resumed",
                extra={"session_id": session.session_id, "code": failure.code},
            )

    return resume
