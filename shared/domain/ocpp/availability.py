"""Functional block G (availability): StatusNotification of a gun, or of the pile itself.

1.6 reports per connector: ``connectorId`` 0 is the pile as a whole, 1.. are guns. 2.0.1
reports per EVSE and connector; our piles have one connector per EVSE, so ``evseId`` is
the gun number (``evseId`` 0 would be the station). Order comes from the pile's own
timestamp, because queued messages arrive late and out of order after an outage; a
timestamp far in the future (a pile clock gone wrong) is replaced by the time of receipt
so it cannot freeze a gun's status.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.domain.clock import from_wire, to_wire
from shared.domain.ocpp.rpc_errors import OcppFault, RpcFault
from shared.domain.ocpp.versions import OcppVersion

PILE_LEVEL = 0
MAX_GUN_NO = 999  # gun items are keyed GUN#{gun_no:03d}
NO_ERROR = "NoError"
FAULTED = "Faulted"
MAX_CLOCK_AHEAD = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class StatusReport:
    """One status of a gun (``gun_no`` >= 1) or of the pile (``gun_no`` 0)."""

    gun_no: int
    status: str
    error_code: str | None
    vendor_error_code: str | None
    info: str | None
    reported_at: datetime  # the pile's clock (ordering)
    received_at: datetime  # ours

    @property
    def is_pile_level(self) -> bool:
        return self.gun_no == PILE_LEVEL

    @property
    def is_known_gun_shape(self) -> bool:
        return PILE_LEVEL < self.gun_no <= MAX_GUN_NO

    @property
    def is_fault(self) -> bool:
        """A 1.6 errorCode other than NoError, or a Faulted connector (2.0.1 has no code)."""
        has_error = self.error_code is not None and self.error_code != NO_ERROR
        return has_error or self.status == FAULTED


@dataclass(frozen=True, slots=True)
class FaultEvent:
    """A fault a pile reported, for the faults capability to turn into a work order."""

    fault_id: str
    pile_id: str
    operator_id: str
    station_id: str | None
    gun_no: int
    error_code: str
    vendor_error_code: str | None
    info: str | None
    reported_at: datetime
    created_at: datetime


def parse_pile_timestamp(text: str, received_at: datetime) -> datetime:
    """A pile timestamp as aware UTC, bounded by ``MAX_CLOCK_AHEAD`` past our clock.

    Raises:
        OcppFault: PropertyConstraintViolation, the text is not a real date-time.
    """
    try:
        reported_at = from_wire(text)
    except ValueError as exc:
        raise OcppFault(
            RpcFault.PROPERTY_CONSTRAINT_VIOLATION, "timestamp is not a date-time"
        ) from exc
    if reported_at > received_at + MAX_CLOCK_AHEAD:
        return received_at
    return reported_at


def status_report_from(
    version: OcppVersion, payload: dict[str, Any], received_at: datetime
) -> StatusReport:
    """Read a schema-valid StatusNotification payload of ``version``.

    Raises:
        OcppFault: PropertyConstraintViolation for an impossible timestamp.
    """
    timestamp = payload.get("timestamp")
    reported_at = (
        parse_pile_timestamp(timestamp, received_at) if timestamp is not None else received_at
    )
    if version is OcppVersion.V16:
        return StatusReport(
            gun_no=int(payload["connectorId"]),
            status=payload["status"],
            error_code=payload["errorCode"],
            vendor_error_code=payload.get("vendorErrorCode"),
            info=payload.get("info"),
            reported_at=reported_at,
            received_at=received_at,
        )
    return StatusReport(
        gun_no=int(payload["evseId"]),
        status=payload["connectorStatus"],
        error_code=None,
        vendor_error_code=None,
        info=None,
        reported_at=reported_at,
        received_at=received_at,
    )


def fault_from(
    report: StatusReport, *, pile_id: str, operator_id: str, station_id: str | None
) -> FaultEvent:
    """The fault event of a faulty report; its id is derived from the report itself, so a
    retransmitted StatusNotification names the same fault and is stored once."""
    error_code = FAULTED
    if report.error_code is not None and report.error_code != NO_ERROR:
        error_code = report.error_code
    identity = "|".join(
        (pile_id, str(report.gun_no), to_wire(report.reported_at), error_code, report.status)
    )
    digest = hashlib.sha256(identity.encode()).hexdigest()[:20]
    return FaultEvent(
        fault_id=f"ft-{digest}",
        pile_id=pile_id,
        operator_id=operator_id,
        station_id=station_id,
        gun_no=report.gun_no,
        error_code=error_code,
        vendor_error_code=report.vendor_error_code,
        info=report.info,
        reported_at=report.reported_at,
        created_at=report.received_at,
    )


def status_response(version: OcppVersion) -> dict[str, Any]:
    """StatusNotification.conf / StatusNotificationResponse carry nothing."""
    del version
    return {}
