"""Messages from 4G gateways (the Modbus bridge's use case): validate, record the
gateway, check and decode each RTU frame.

Issue 7 maps the decoded registers to port readings and faults with the device register
maps; this first version establishes the envelope, the gateway record and the frame
checks, and counts what it sees.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.domain.clock import Clock
from shared.domain.errors import InvalidInput
from shared.domain.gateways import (
    DataMessage,
    FrameBatch,
    GatewaySeen,
    RegistrationMessage,
    RtuReading,
    decode_frame_text,
    has_valid_crc,
    parse_gateway_message,
)


class RtuDecoder(Protocol):
    def decode(self, frame: bytes) -> RtuReading | None:
        """The response in a CRC-checked RTU frame, or None when it is not one."""


class GatewayStore(Protocol):
    def record(self, seen: GatewaySeen) -> bool:
        """Stamp the gateway; False for a replayed ``seq``. Raises: UpstreamFailure."""


@dataclass(frozen=True, slots=True)
class GatewayOutcome:
    kind: str  # data | register | heartbeat | invalid
    gateway_id: str | None = None
    batch: FrameBatch | None = None
    is_replay: bool = False
    invalid_fields: list[str] = field(default_factory=list)


def check_frames(frames: Sequence[str], decoder: RtuDecoder) -> FrameBatch:
    """CRC first (pymodbus drops a bad CRC silently, so it is counted here), then decode."""
    good = bad_crc = undecodable = 0
    readings: list[RtuReading] = []
    for text in frames:
        frame = decode_frame_text(text)
        if frame is None:
            undecodable += 1
            continue
        if not has_valid_crc(frame):
            bad_crc += 1
            continue
        reading = decoder.decode(frame)
        if reading is None:
            undecodable += 1
            continue
        good += 1
        readings.append(reading)
    return FrameBatch(good=good, bad_crc=bad_crc, undecodable=undecodable, readings=tuple(readings))


def handle_gateway_message(
    raw: Any, *, gateways: GatewayStore, decoder: RtuDecoder, clock: Clock
) -> GatewayOutcome:
    """Handle one message from ``gw/{id}/up``; bad input is reported, never raised.

    DynamoDB: 1 UpdateItem (gateway record); 2 when a data message's ``seq`` is not new.

    Raises: UpstreamFailure (the IoT rule's asynchronous invoke then retries).
    """
    if not isinstance(raw, Mapping):
        return GatewayOutcome(kind="invalid", invalid_fields=["event"])
    try:
        message = parse_gateway_message(raw)
    except InvalidInput as error:
        gateway_id = raw.get("gateway_id")
        return GatewayOutcome(
            kind="invalid",
            gateway_id=gateway_id if isinstance(gateway_id, str) else None,
            invalid_fields=list(error.fields.get("fields", [error.fields.get("field", "")])),
        )
    now = clock()
    if isinstance(message, DataMessage):
        batch = check_frames(message.frames, decoder)
        is_new = gateways.record(GatewaySeen(message.gateway_id, now, seq=message.seq))
        return GatewayOutcome("data", message.gateway_id, batch, is_replay=not is_new)
    if isinstance(message, RegistrationMessage):
        gateways.record(GatewaySeen(message.gateway_id, now, iccid=message.iccid))
        return GatewayOutcome("register", message.gateway_id)
    gateways.record(GatewaySeen(message.gateway_id, now))
    return GatewayOutcome("heartbeat", message.gateway_id)
