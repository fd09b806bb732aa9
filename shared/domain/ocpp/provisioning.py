"""Functional block B (provisioning): BootNotification and Heartbeat, 1.6 and 2.0.1.

A pile is Accepted when it is registered and enabled; otherwise Rejected with a retry
interval (1.6 §4.2, 2.0.1 B03). The registration status outlives the connection: API
Gateway cuts every WebSocket after two hours and piles reconnect without booting again,
so ``ws_connect`` copies the stored status onto each new connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.domain.clock import to_wire
from shared.domain.ocpp.versions import OcppVersion

# API Gateway closes a WebSocket after 10 idle minutes. A heartbeat every 9 minutes keeps
# it open with a minute of slack and is the floor the cost target assumes (SPEC: "a
# heartbeat every 9 minutes"); 300 s would nearly double the message bill of an idle pile.
HEARTBEAT_INTERVAL_S = 540
# Minimum wait before a Rejected pile boots again (the "interval" of a non-Accepted answer).
RETRY_INTERVAL_S = 600


class RegistrationStatus(StrEnum):
    ACCEPTED = "Accepted"
    PENDING = "Pending"
    REJECTED = "Rejected"


@dataclass(frozen=True, slots=True)
class BootInfo:
    """What a pile says about itself at boot; stored as the pile item's ``boot`` map."""

    vendor: str
    model: str
    serial: str | None
    firmware: str | None
    iccid: str | None
    imsi: str | None
    booted_at: datetime


@dataclass(frozen=True, slots=True)
class BootDecision:
    status: RegistrationStatus
    interval_s: int
    current_time: datetime


def boot_info_from(
    version: OcppVersion, payload: dict[str, Any], received_at: datetime
) -> BootInfo:
    """Read a schema-valid BootNotification payload of ``version``."""
    if version is OcppVersion.V16:
        return BootInfo(
            vendor=payload["chargePointVendor"],
            model=payload["chargePointModel"],
            serial=payload.get("chargePointSerialNumber") or payload.get("chargeBoxSerialNumber"),
            firmware=payload.get("firmwareVersion"),
            iccid=payload.get("iccid"),
            imsi=payload.get("imsi"),
            booted_at=received_at,
        )
    station = payload["chargingStation"]
    modem = station.get("modem") or {}
    return BootInfo(
        vendor=station["vendorName"],
        model=station["model"],
        serial=station.get("serialNumber"),
        firmware=station.get("firmwareVersion"),
        iccid=modem.get("iccid"),
        imsi=modem.get("imsi"),
        booted_at=received_at,
    )


def decide_registration(*, is_registered: bool, is_enabled: bool, now: datetime) -> BootDecision:
    """Accepted for a registered, enabled pile; Rejected (retry later) otherwise."""
    if is_registered and is_enabled:
        return BootDecision(RegistrationStatus.ACCEPTED, HEARTBEAT_INTERVAL_S, now)
    return BootDecision(RegistrationStatus.REJECTED, RETRY_INTERVAL_S, now)


def boot_response(version: OcppVersion, decision: BootDecision) -> dict[str, Any]:
    """BootNotification.conf (1.6) / BootNotificationResponse (2.0.1): same three fields."""
    del version  # identical shape in both versions
    return {
        "status": decision.status.value,
        "currentTime": to_wire(decision.current_time),
        "interval": decision.interval_s,
    }


def heartbeat_response(version: OcppVersion, now: datetime) -> dict[str, Any]:
    """Heartbeat.conf / HeartbeatResponse: the central clock for the pile to follow."""
    del version  # identical shape in both versions
    return {"currentTime": to_wire(now)}
