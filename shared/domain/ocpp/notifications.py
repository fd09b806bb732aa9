"""Pile messages outside transactions, authorization and status: firmware, diagnostics and
log uploads, monitoring and security events, configuration reports, vendor data.

| message | versions | answer | kept |
| --- | --- | --- | --- |
| FirmwareStatusNotification | 1.6, 2.0.1 | ``{}`` | pile event + latest firmware status |
| DiagnosticsStatusNotification | 1.6 | ``{}`` | pile event + latest diagnostics status |
| LogStatusNotification | 2.0.1 | ``{}`` | pile event + latest log status |
| NotifyEvent | 2.0.1 | ``{}`` | pile event (the event data) |
| SecurityEventNotification | 2.0.1 | ``{}`` | pile event |
| NotifyReport | 2.0.1 | ``{}`` | pile event per part (request id, seqNo, tbc) |
| DataTransfer | 1.6, 2.0.1 | ``UnknownVendorId`` | nothing (logged) |

DataTransfer: 1.6 §4.3 / 2.0.1 P01.FR.05: a receiver without an implementation for the
vendorId answers UnknownVendorId; the platform implements no vendor extension. It is not
stored: some piles send vendor telemetry every minute, which would cost a write each time
for data nobody reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.domain.clock import from_wire
from shared.domain.ocpp.versions import OcppVersion

PILE_EVENT_RETENTION = timedelta(days=30)
_SUMMARY_LENGTH = 200


class EventKind(StrEnum):
    FIRMWARE_STATUS = "firmware_status"
    DIAGNOSTICS_STATUS = "diagnostics_status"
    LOG_STATUS = "log_status"
    NOTIFY_EVENT = "notify_event"
    SECURITY_EVENT = "security_event"
    NOTIFY_REPORT = "notify_report"


class MaintenanceKind(StrEnum):
    """What a pile reports progress of, one latest status each."""

    FIRMWARE = "firmware"
    DIAGNOSTICS = "diagnostics"
    LOG = "log"


EVENT_KINDS: dict[str, EventKind] = {
    "FirmwareStatusNotification": EventKind.FIRMWARE_STATUS,
    "DiagnosticsStatusNotification": EventKind.DIAGNOSTICS_STATUS,
    "LogStatusNotification": EventKind.LOG_STATUS,
    "NotifyEvent": EventKind.NOTIFY_EVENT,
    "SecurityEventNotification": EventKind.SECURITY_EVENT,
    "NotifyReport": EventKind.NOTIFY_REPORT,
}

_MAINTENANCE_KINDS = {
    EventKind.FIRMWARE_STATUS: MaintenanceKind.FIRMWARE,
    EventKind.DIAGNOSTICS_STATUS: MaintenanceKind.DIAGNOSTICS,
    EventKind.LOG_STATUS: MaintenanceKind.LOG,
}


@dataclass(frozen=True, slots=True)
class PileEvent:
    """One pile message kept for the operator (30 days, TTL)."""

    pile_id: str
    operator_id: str
    kind: EventKind
    message_id: str
    received_at: datetime
    summary: str  # a status, an event type, a report part: what a list shows
    detail_json: str  # the payload as the pile sent it (schema defaults filled in)
    expires_at: int  # epoch seconds (TTL)
    reported_at: datetime | None = None  # the pile's clock, when the message has one
    request_id: int | None = None  # the CSMS request it reports on (UpdateFirmware, GetLog, ...)


@dataclass(frozen=True, slots=True)
class MaintenanceStatus:
    """The latest firmware / diagnostics / log progress a pile reported."""

    kind: MaintenanceKind
    status: str
    received_at: datetime
    request_id: int | None = None


def _pile_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return from_wire(value)
    except ValueError:
        return None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _summary(action: str, payload: dict[str, Any]) -> str:
    if action == "NotifyEvent":
        events = payload.get("eventData") or []
        first = events[0] if events else {}
        text = (
            f"{first.get('component', {}).get('name', '?')}/"
            f"{first.get('variable', {}).get('name', '?')}={first.get('actualValue', '')}"
        )
        return text if len(events) == 1 else f"{text} (+{len(events) - 1} more)"
    if action == "SecurityEventNotification":
        return str(payload.get("type", ""))
    if action == "NotifyReport":
        more = ", more to come" if payload.get("tbc") else ""
        return f"report part {payload.get('seqNo')}{more}"
    return str(payload.get("status", ""))


def pile_event_from(
    action: str,
    payload: dict[str, Any],
    *,
    pile_id: str,
    operator_id: str,
    message_id: str,
    received_at: datetime,
) -> PileEvent:
    """The event a schema-valid notification becomes (``action`` one of ``EVENT_KINDS``)."""
    reported = payload.get("generatedAt") or payload.get("timestamp")
    return PileEvent(
        pile_id=pile_id,
        operator_id=operator_id,
        kind=EVENT_KINDS[action],
        message_id=message_id,
        received_at=received_at,
        summary=_summary(action, payload)[:_SUMMARY_LENGTH],
        detail_json=json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
        expires_at=int((received_at + PILE_EVENT_RETENTION).timestamp()),
        reported_at=_pile_time(reported),
        request_id=_int_or_none(payload.get("requestId")),
    )


def maintenance_status_of(event: PileEvent) -> MaintenanceStatus | None:
    """The latest-status update a firmware / diagnostics / log notification carries."""
    kind = _MAINTENANCE_KINDS.get(event.kind)
    if kind is None:
        return None
    return MaintenanceStatus(
        kind=kind, status=event.summary, received_at=event.received_at, request_id=event.request_id
    )


def data_transfer_response(version: OcppVersion) -> dict[str, Any]:
    """Both versions: no vendor extension is implemented, so every vendorId is unknown."""
    del version  # same answer in 1.6 and 2.0.1
    return {"status": "UnknownVendorId"}
