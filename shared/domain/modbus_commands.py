"""Commands down to an e-bike pile's port: Modbus RTU register writes through its gateway.

Design overview
---------------
A port command (switch on with limits, switch off, set the power limit, set the time
limit) becomes one RTU write request to the pile's device address on the gateway's bus:
function 06 (write single register) for one word, function 16 (write multiple registers)
for the start, which writes the power limit, the time limit and the switch in one frame so
a port never runs without its limits. The frame is built with pymodbus (address, PDU,
CRC-16) and published as raw bytes to ``gw/{gateway_id}/down``: a transparent DTU writes
them to RS485 as they are.

A device answers a write with its echo (06: address and value; 16: address and count) or
an exception response. The echo confirms the command; an exception rejects it; nothing
within ``COMMAND_TIMEOUT`` times it out (housekeeping). Each command ends in exactly one
final state::

    pending --echo--> confirmed
        |--exception response--> rejected
        └--no echo within COMMAND_TIMEOUT--> timed_out

The port's control registers come from the pile's register map (``ControlLayout``); an
echo is matched to the open command of (gateway, device, first register), one at a time
per register, as a serial bus answers one request at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.domain.errors import InvalidInput

WRITE_SINGLE = 6
WRITE_MULTIPLE = 16
WRITE_FUNCTIONS = frozenset({WRITE_SINGLE, WRITE_MULTIPLE})
COMMAND_TIMEOUT = timedelta(seconds=60)
COMMAND_RETENTION = timedelta(days=7)
NOT_CONFIRMED = "no write response from the gateway within 60 s"
MAX_PORT_NO = 20
SWITCH_ON = 1
SWITCH_OFF = 0


class PortCommandKind(StrEnum):
    START = "start"  # power limit + time limit + switch on, one function 16 write
    STOP = "stop"  # switch off (06)
    POWER_LIMIT = "power_limit"  # 06
    TIME_LIMIT = "time_limit"  # 06


class CommandStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    TIMED_OUT = "timed_out"

    @property
    def is_open(self) -> bool:
        return self is CommandStatus.PENDING


@dataclass(frozen=True, slots=True)
class ControlLayout:
    """Where a port's control registers are: block ``port_no`` starts at
    ``base_address + (port_no - 1) * block_size``; the three offsets are within it, with
    power limit, time limit and switch contiguous in that order (one 16 write starts)."""

    base_address: int
    block_size: int
    power_limit_offset: int
    time_limit_offset: int
    switch_offset: int
    max_power_limit_w: int
    max_time_limit_s: int

    def __post_init__(self) -> None:
        if (self.time_limit_offset, self.switch_offset) != (
            self.power_limit_offset + 1,
            self.power_limit_offset + 2,
        ):
            raise InvalidInput("power limit, time limit and switch must be contiguous")

    def register(self, port_no: int, offset: int) -> int:
        return self.base_address + (port_no - 1) * self.block_size + offset


# The project's reference 10-port pile: per-port control block of 4 registers from 0x0100
# (power limit W, time limit s with 0 = none, switch 1/0, reserved).
DEFAULT_CONTROL = ControlLayout(
    base_address=0x0100,
    block_size=4,
    power_limit_offset=0,
    time_limit_offset=1,
    switch_offset=2,
    max_power_limit_w=2_000,
    max_time_limit_s=65_535,
)


def control_layout_from(register_map: Mapping[str, Any]) -> ControlLayout:
    """The control layout of a register map data file's ``control`` section.

    Raises: InvalidInput (missing or malformed section).
    """
    section = register_map.get("control")
    if not isinstance(section, Mapping):
        raise InvalidInput("the register map has no control section", field="control")
    try:
        return ControlLayout(
            base_address=int(section["base_address"]),
            block_size=int(section["block_size"]),
            power_limit_offset=int(section["power_limit_offset"]),
            time_limit_offset=int(section["time_limit_offset"]),
            switch_offset=int(section["switch_offset"]),
            max_power_limit_w=int(section["max_power_limit_w"]),
            max_time_limit_s=int(section["max_time_limit_s"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput("the register map's control section is malformed") from exc


@dataclass(frozen=True, slots=True)
class PortCommand:
    """What an operator (or the payment workflow) asks of one port."""

    kind: PortCommandKind
    port_no: int
    power_limit_w: int | None = None  # START (0 = no limit) and POWER_LIMIT
    time_limit_s: int | None = None  # START (0 = no limit) and TIME_LIMIT

    def check(self, port_count: int, layout: ControlLayout) -> None:
        """Raises: InvalidInput naming the bad field."""
        if isinstance(self.port_no, bool) or not 1 <= self.port_no <= port_count:
            raise InvalidInput(f"port_no must be within 1..{port_count}", field="port_no")
        needs_power = self.kind in (PortCommandKind.START, PortCommandKind.POWER_LIMIT)
        needs_time = self.kind in (PortCommandKind.START, PortCommandKind.TIME_LIMIT)
        _check_value(
            self.power_limit_w,
            "power_limit_w",
            needs_power,
            0 if self.kind is PortCommandKind.START else 1,
            layout.max_power_limit_w,
        )
        _check_value(
            self.time_limit_s,
            "time_limit_s",
            needs_time,
            0 if self.kind is PortCommandKind.START else 1,
            layout.max_time_limit_s,
        )


def _check_value(value: int | None, name: str, needed: bool, low: int, high: int) -> None:
    if not needed:
        if value is not None:
            raise InvalidInput(f"{name} is not part of this command", field=name)
        return
    if value is None or isinstance(value, bool) or not low <= value <= high:
        raise InvalidInput(f"{name} must be within {low}..{high}", field=name)


@dataclass(frozen=True, slots=True)
class RegisterWrite:
    """One RTU write request: function 06 (one value) or 16 (several from ``address``)."""

    device_address: int
    function_code: int
    address: int
    values: tuple[int, ...]

    @property
    def echo_value(self) -> int:
        """What the write response carries after the address: the value (06), the
        number of registers written (16)."""
        return self.values[0] if self.function_code == WRITE_SINGLE else len(self.values)


def write_for(command: PortCommand, layout: ControlLayout, device_address: int) -> RegisterWrite:
    """The register write that carries ``command`` (checked beforehand)."""
    port = command.port_no
    if command.kind is PortCommandKind.START:
        return RegisterWrite(
            device_address,
            WRITE_MULTIPLE,
            layout.register(port, layout.power_limit_offset),
            (command.power_limit_w or 0, command.time_limit_s or 0, SWITCH_ON),
        )
    value: int | None
    if command.kind is PortCommandKind.STOP:
        register, value = layout.register(port, layout.switch_offset), SWITCH_OFF
    elif command.kind is PortCommandKind.POWER_LIMIT:
        register, value = layout.register(port, layout.power_limit_offset), command.power_limit_w
    else:
        register, value = layout.register(port, layout.time_limit_offset), command.time_limit_s
    return RegisterWrite(device_address, WRITE_SINGLE, register, (int(value or 0),))


def write_frame(write: RegisterWrite) -> bytes:
    """The RTU request frame (address, PDU, CRC-16 low byte first), built by pymodbus.

    Raises: InvalidInput (a device address or value out of range).
    """
    if not 1 <= write.device_address <= 247:
        raise InvalidInput("device address must be 1..247", field="device_address")
    if not write.values or any(not 0 <= v <= 0xFFFF for v in write.values):
        raise InvalidInput("register values are 0..0xFFFF", field="values")
    from pymodbus.framer import FramerRTU
    from pymodbus.pdu import DecodePDU
    from pymodbus.pdu.register_message import (
        WriteMultipleRegistersRequest,
        WriteSingleRegisterRequest,
    )

    pdu: Any
    if write.function_code == WRITE_SINGLE:
        pdu = WriteSingleRegisterRequest(
            dev_id=write.device_address, address=write.address, registers=[write.values[0]]
        )
    else:
        pdu = WriteMultipleRegistersRequest(
            dev_id=write.device_address, address=write.address, registers=list(write.values)
        )
    frame: bytes = FramerRTU(DecodePDU(is_server=False)).buildFrame(pdu)
    return frame


@dataclass(frozen=True, slots=True)
class WriteAnswer:
    """A device's answer to a write, as the bridge decoded it from the uplink: the echo
    (``exception_code`` None) or an exception response to function 06/16."""

    gateway_id: str
    device_address: int
    function_code: int
    address: int | None = None  # None for an exception response (it names no register)
    value: int | None = None  # 06: the value written; 16: the count written
    exception_code: int | None = None


@dataclass(frozen=True, slots=True)
class ModbusCommand:
    """A port command as stored: what was written, and how it ended."""

    command_id: str
    pile_id: str
    operator_id: str
    gateway_id: str
    device_address: int
    port_no: int
    kind: PortCommandKind
    function_code: int
    register: int
    values: tuple[int, ...]
    status: CommandStatus
    created_at: datetime
    timeout_at: datetime
    expires_at: int  # epoch seconds (TTL)
    power_limit_w: int | None = None
    time_limit_s: int | None = None
    requested_by: str | None = None  # staff username; None for the platform
    purpose: str | None = None  # e.g. ``paid:{order_no}`` for the payment workflow's
    finished_at: datetime | None = None
    exception_code: int | None = None
    error_description: str | None = None

    @property
    def write(self) -> RegisterWrite:
        return RegisterWrite(self.device_address, self.function_code, self.register, self.values)

    def is_confirmed_by(self, answer: WriteAnswer) -> bool:
        """The echo of this very write (same device, function, register and value)."""
        return (
            answer.exception_code is None
            and answer.device_address == self.device_address
            and answer.function_code == self.function_code
            and answer.address == self.register
            and answer.value == self.write.echo_value
        )


def command_for(
    command: PortCommand,
    *,
    command_id: str,
    pile_id: str,
    operator_id: str,
    gateway_id: str,
    device_address: int,
    layout: ControlLayout,
    now: datetime,
    requested_by: str | None,
    purpose: str | None = None,
) -> ModbusCommand:
    """The stored command of a checked ``command`` (pending, due at ``now`` + timeout)."""
    write = write_for(command, layout, device_address)
    return ModbusCommand(
        command_id=command_id,
        pile_id=pile_id,
        operator_id=operator_id,
        gateway_id=gateway_id,
        device_address=device_address,
        port_no=command.port_no,
        kind=command.kind,
        function_code=write.function_code,
        register=write.address,
        values=write.values,
        status=CommandStatus.PENDING,
        created_at=now,
        timeout_at=now + COMMAND_TIMEOUT,
        expires_at=int((now + COMMAND_RETENTION).timestamp()),
        power_limit_w=command.power_limit_w,
        time_limit_s=command.time_limit_s,
        requested_by=requested_by,
        purpose=purpose,
    )
