"""4G gateways (DTUs) that carry e-bike piles' Modbus RTU frames over MQTT.

A gateway publishes on ``gw/{gateway_id}/up``; the IoT rule adds ``gateway_id`` from
``topic(2)``. Three messages share the topic (the DTU pattern: transparent data, a
registration packet with the SIM's ICCID, a heartbeat):

- data: ``{"seq": n, "ts": gateway time, "frames": ["<base64 RTU response>", ...]}``
  (``"type": "data"`` optional);
- registration: ``{"type": "register", "iccid": "8986..."}``;
- heartbeat: ``{"type": "heartbeat"}``.

Each RTU frame ends with its CRC-16/Modbus (polynomial 0xA001 reflected, initial 0xFFFF,
low byte first on the wire). A frame whose CRC fails is counted and dropped, never
decoded: line noise must not become a reading.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.domain.gateway_messages import BatchMessage, Cycle, DataMessage, GatewayMessage

# The message models (pydantic) live in ``gateway_messages``, loaded with the first message
# parsed: importing this module (the bridge's handler, the operator API) stays cheap.
_MESSAGE_NAMES = frozenset(
    {
        "BatchMessage",
        "Cycle",
        "DataMessage",
        "FrameRef",
        "GatewayMessage",
        "HeartbeatMessage",
        "RawMessage",
        "RegistrationMessage",
    }
)


def __getattr__(name: str) -> Any:
    if name in _MESSAGE_NAMES:
        from shared.domain import gateway_messages

        return getattr(gateway_messages, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def parse_gateway_message(raw: Mapping[str, Any]) -> GatewayMessage:
    """Validate the IoT rule's event.

    Raises:
        InvalidInput: unknown type, or a field missing or out of shape.
    """
    from shared.domain.gateway_messages import parse

    return parse(raw)


def cycles_of(message: DataMessage | BatchMessage) -> list[Cycle]:
    """The message's cycles in gateway-time order (one for a single-cycle envelope)."""
    from shared.domain.gateway_messages import cycles

    return cycles(message)


GATEWAY_ID_PATTERN = r"^[A-Za-z0-9._-]{1,48}$"
MAX_FRAMES_PER_MESSAGE = 64
MAX_CYCLES_PER_MESSAGE = 60  # an hour of one-minute polls
MIN_RTU_FRAME_BYTES = 4  # address, function code, CRC
MAX_RTU_FRAME_BYTES = 256  # Modbus over serial line: ADU of at most 256 bytes
MAX_FRAME_TEXT = 4 * (MAX_RTU_FRAME_BYTES // 3 + 1)


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16_modbus(data: bytes) -> int:
    """CRC-16/Modbus of ``data`` as an integer (append it low byte first)."""
    crc = 0xFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def has_valid_crc(frame: bytes) -> bool:
    """True when the last two bytes of an RTU frame are the CRC of the rest."""
    if len(frame) < MIN_RTU_FRAME_BYTES:
        return False
    return crc16_modbus(frame[:-2]) == int.from_bytes(frame[-2:], "little")


def decode_frame_text(text: str) -> bytes | None:
    """The bytes of one base64 frame, or None when it is not base64 or not RTU-sized."""
    try:
        frame = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not MIN_RTU_FRAME_BYTES <= len(frame) <= MAX_RTU_FRAME_BYTES:
        return None
    return frame


@dataclass(frozen=True, slots=True)
class RtuReading:
    """One decoded RTU response: registers or bits read, or an exception the device sent."""

    device_address: int
    function_code: int
    registers: tuple[int, ...] = ()
    bits: tuple[bool, ...] = ()
    exception_code: int | None = None
    address: int | None = None  # write answers: the register (or coil) written
    value: int | None = None  # write answers: 05/06 the value written, 15/16 the count


@dataclass(frozen=True, slots=True)
class BusDevice:
    """A device on a gateway's RS485 bus: an e-bike pile (``pile_id``) or the site's
    transformer meter (``station_id``, ``pt`` and ``ct`` ratios), read with ``map_id``."""

    address: int
    map_id: str
    operator_id: str
    station_id: str | None = None
    pile_id: str | None = None
    pt: int = 1
    ct: int = 1


@dataclass(frozen=True, slots=True)
class PendingRead:
    """The read request the platform sent a transparent DTU's bus and awaits an answer to
    (one at a time per bus): ``index`` in the gateway's poll schedule."""

    address: int
    function: int
    start: int
    count: int
    index: int
    sent_at: datetime
    cycle_started_at: datetime


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """What the bridge reads once per message: the bus devices and the last applied port
    states (``"{pile_id}#{port_no}" -> "{state}|{fault mask}"``, as of ``states_at``)."""

    gateway_id: str
    devices: Mapping[int, BusDevice]
    port_states: Mapping[str, str]
    states_at: datetime | None = None
    pending: PendingRead | None = None  # transparent DTUs only
    cycle_started_at: datetime | None = None  # transparent DTUs: the last poll cycle's start
    # Presence of the piles on the bus: when the offline sweep looks at the gateway next
    # (None: its piles are marked offline, or were never marked online), which piles the
    # bridge marked online, and the gateway's own silence threshold (seconds) if set.
    presence_due: datetime | None = None
    present_piles: frozenset[str] = frozenset()
    offline_after_s: int | None = None
    # Ports with a paid e-bike charge: ``"{pile_id}#{port_no}" -> order_no`` (set when the
    # charge is linked, cleared when it ends): only their readings reach paid charging.
    paid_ports: Mapping[str, str] = field(default_factory=dict)

    def is_paid(self, pile_id: str, port_no: int) -> bool:
        return paid_port_key(pile_id, port_no) in self.paid_ports


def paid_port_key(pile_id: str, port_no: int) -> str:
    """A port's key in the gateway item's ``paid_ports`` (and ``port_states``)."""
    return f"{pile_id}#{port_no}"


# Presence of the piles on a gateway's bus ------------------------------------------------
#
# A Modbus pile is online while its gateway speaks. The bridge writes the pile items only on
# a change (the gateway's piles were offline, or a pile joined the bus), never per message;
# the gateway item then carries ``presence_due`` (a sparse, keys-only index) which the
# bridge moves forward at most every half threshold, and the housekeeping minute job looks
# only at gateways whose due time has passed: one still heard from gets its due time moved
# to ``last_seen_at + threshold``, a silent one has its piles marked offline.

# A gateway that polls every minute and publishes 10 cycles a message is heard from every
# ~10 minutes; 25 minutes is 2.5 of those intervals (a message lost or delayed is no outage).
OFFLINE_AFTER = timedelta(minutes=25)
MIN_OFFLINE_AFTER = timedelta(minutes=2)
MAX_OFFLINE_AFTER = timedelta(hours=24)


def offline_after(configured_s: int | None) -> timedelta:
    """How long a gateway may stay silent before its piles count as offline: its own
    ``offline_after_s`` (clamped to 2 minutes .. 24 hours), else ``OFFLINE_AFTER``."""
    if configured_s is None:
        return OFFLINE_AFTER
    return min(max(timedelta(seconds=configured_s), MIN_OFFLINE_AFTER), MAX_OFFLINE_AFTER)


def bus_piles(devices: Mapping[int, BusDevice]) -> frozenset[str]:
    """The piles on a bus (meters have none)."""
    return frozenset(device.pile_id for device in devices.values() if device.pile_id)


@dataclass(frozen=True, slots=True)
class PresenceChange:
    """What a message changes in presence: ``to_mark`` piles to stamp online now;
    ``present`` the piles marked online afterwards; ``due`` the sweep's first look (None:
    keep the stored one)."""

    to_mark: frozenset[str]
    present: frozenset[str]
    due: datetime | None


def presence_change(config: GatewayConfig, now: datetime) -> PresenceChange | None:
    """What this message changes in presence; None in the steady case (no write at all).

    The piles are marked online when they were not (or join the bus). The sweep's due
    time moves to ``now + threshold`` once less than half the threshold is left: at most
    every half threshold (a gateway heard every 10 minutes: every 20 minutes), in the
    gateway update the message makes anyway (only the keys-only index entry is written);
    the sweep then reads only gateways silent for half the threshold or more."""
    piles = bus_piles(config.devices)
    threshold = offline_after(config.offline_after_s)
    if config.presence_due is None:
        if not piles:
            return None
        return PresenceChange(piles, piles, now + threshold)
    missing = piles - config.present_piles
    due = now + threshold if config.presence_due - now < threshold / 2 else None
    if not missing and due is None:
        return None
    return PresenceChange(missing, config.present_piles | missing, due)


@dataclass(frozen=True, slots=True)
class GatewayPresence:
    """What the offline sweep reads of a due gateway (consistent GetItem)."""

    gateway_id: str
    last_seen_at: datetime | None
    presence_due: datetime | None
    piles: frozenset[str]  # on the bus now, and those marked online before
    offline_after_s: int | None = None

    def is_silent(self, now: datetime) -> bool:
        """True when nothing came from the gateway for longer than its threshold."""
        if self.last_seen_at is None:
            return True
        return now >= self.last_seen_at + offline_after(self.offline_after_s)

    def next_due(self) -> datetime:
        """When the sweep should look again at a gateway still heard from."""
        assert self.last_seen_at is not None
        return self.last_seen_at + offline_after(self.offline_after_s)


@dataclass(frozen=True, slots=True)
class GatewaySeen:
    """The gateway record's update for one message."""

    gateway_id: str
    seen_at: datetime
    seq: int | None = None
    iccid: str | None = None
    # Port states after this message, written only when the message is the newest
    # (``states_at`` < its gateway timestamp).
    port_states: Mapping[str, str] | None = None
    states_at: datetime | None = None
    # Transparent DTUs: replace the outstanding read (``None`` clears it) when ``set_pending``.
    set_pending: bool = False
    pending: PendingRead | None = None
    # Presence: the piles now marked online and (when they were offline) the sweep's due.
    presence: PresenceChange | None = None


@dataclass(frozen=True, slots=True)
class GatewayRecord:
    """A gateway as the operator API shows and configures it: its bus devices, the operator
    that configured them (``operator_id``; older items carry it only on their devices),
    ``devices_version`` (bumped by every configuration write, for optimistic locking) and
    what the bridge last recorded."""

    gateway_id: str
    devices: Mapping[int, BusDevice]
    operator_id: str | None = None
    devices_version: int = 0
    last_seen_at: datetime | None = None
    last_seq: int | None = None
    states_at: datetime | None = None
    iccid: str | None = None
    offline_after_s: int | None = None  # the gateway's own silence threshold, if set

    @property
    def owner(self) -> str | None:
        """The operator the gateway belongs to, or None while nobody has configured it."""
        if self.operator_id is not None:
            return self.operator_id
        return next((device.operator_id for device in self.devices.values()), None)
