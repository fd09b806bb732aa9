"""Commands down to an e-bike pile's port: Modbus RTU register writes through its gateway.

Design overview
---------------
A port command (switch on with limits, switch off, set the power limit, set the time
limit) becomes one RTU write request to the pile's device address on the gateway's bus:
function 06 (write single register) for one word, function 16 (write multiple registers)
for the start, which writes the port's whole control block (command, power limit, time
limit, energy limit) in one frame so a port never runs without its limits. The frame is
built with pymodbus (address, PDU, CRC-16) and published as raw bytes to
``gw/{gateway_id}/down``: a transparent DTU writes them to RS485 as they are.

A device answers a write with its echo (06: address and value; 16: address and count) or
an exception response. The echo confirms the command; an exception rejects it; nothing
within ``COMMAND_TIMEOUT`` times it out (housekeeping). Each command ends in exactly one
final state::

    pending --echo--> confirmed
        |--exception response--> rejected
        └--no echo within COMMAND_TIMEOUT--> timed_out

The port's control registers come from the pile's register map (``control`` of
``shared/domain/register_maps/*.json``, parsed by ``modbus_maps``). An echo is matched to
the open command of (gateway, device, first register), one at a time per register, as a
serial bus answers one request at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from shared.domain.errors import InvalidInput

if TYPE_CHECKING:
    # Loaded where a layout is built (``default_control``): the map module reads data
    # files, and the operator API imports this module for its port-command routes.
    from shared.domain.modbus_maps import ControlLayout

WRITE_SINGLE = 6
WRITE_MULTIPLE = 16
WRITE_FUNCTIONS = frozenset({WRITE_SINGLE, WRITE_MULTIPLE})
COMMAND_TIMEOUT = timedelta(seconds=60)
COMMAND_RETENTION = timedelta(days=7)
NOT_CONFIRMED = "no write response from the gateway within 60 s"
MAX_PORT_NO = 20
DEFAULT_PILE_MAP = "cc-ebike-10"
MAX_POWER_LIMIT_W = 3_000
MAX_TIME_LIMIT_MIN = 24 * 60
MAX_ENERGY_LIMIT_WH = 65_535


class PortCommandKind(StrEnum):
    START = "start"  # command start + power, time and energy limits, one function 16 write
    STOP = "stop"  # command stop (06)
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


def default_control() -> ControlLayout:
    """The control layout of the project's reference 10-port pile (``cc-ebike-10``)."""
    from shared.domain.modbus_maps import register_map

    found = register_map(DEFAULT_PILE_MAP)
    if found is None or found.control is None:
        raise InvalidInput("the reference pile map has no control block", field="control")
    return found.control


@dataclass(frozen=True, slots=True)
class PortCommand:
    """What an operator (or the payment workflow) asks of one port. Limits are the pile's
    own backstops (0 = none): it stops the port by itself when one is reached."""

    kind: PortCommandKind
    port_no: int
    power_limit_w: int | None = None  # START (0 = the pile's default) and POWER_LIMIT
    time_limit_min: int | None = None  # START (0 = none) and TIME_LIMIT
    energy_limit_wh: int | None = None  # START only (0 = none)

    def check(self, port_count: int) -> None:
        """Raises: InvalidInput naming the bad field."""
        if (
            isinstance(self.port_no, bool)
            or not isinstance(self.port_no, int)
            or not 1 <= self.port_no <= port_count
        ):
            raise InvalidInput(f"port_no must be within 1..{port_count}", field="port_no")
        is_start = self.kind is PortCommandKind.START
        low = 0 if is_start else 1
        _check_value(
            self.power_limit_w,
            "power_limit_w",
            is_start or self.kind is PortCommandKind.POWER_LIMIT,
            low,
            MAX_POWER_LIMIT_W,
        )
        _check_value(
            self.time_limit_min,
            "time_limit_min",
            is_start or self.kind is PortCommandKind.TIME_LIMIT,
            low,
            MAX_TIME_LIMIT_MIN,
        )
        _check_value(self.energy_limit_wh, "energy_limit_wh", is_start, 0, MAX_ENERGY_LIMIT_WH)


def _check_value(value: int | None, name: str, needed: bool, low: int, high: int) -> None:
    if not needed:
        if value is not None:
            raise InvalidInput(f"{name} is not part of this command", field=name)
        return
    if value is None or isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be an integer within {low}..{high}", field=name)
    if not low <= value <= high:
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


def write_for(command: PortCommand, control: ControlLayout, device_address: int) -> RegisterWrite:
    """The register write that carries ``command`` (checked beforehand).

    Raises: InvalidInput (the map's control block lacks a register the command needs).
    """
    port = command.port_no
    if command.kind is PortCommandKind.START:
        named = {
            "command": control.value("command", "start"),
            "power_limit": command.power_limit_w or 0,
            "time_limit": command.time_limit_min or 0,
            "energy_limit": command.energy_limit_wh or 0,
        }
        by_offset = {r.offset: r.name for r in control.registers}
        if sorted(by_offset) != list(range(control.block_size)):
            raise InvalidInput("the control block has gaps: no one-frame start", field="control")
        values = tuple(named.get(by_offset[offset], 0) for offset in range(control.block_size))
        return RegisterWrite(
            device_address, WRITE_MULTIPLE, control.address(port, by_offset[0]), values
        )
    if command.kind is PortCommandKind.STOP:
        name, value = "command", control.value("command", "stop")
    elif command.kind is PortCommandKind.POWER_LIMIT:
        name, value = "power_limit", command.power_limit_w or 0
    else:
        name, value = "time_limit", command.time_limit_min or 0
    return RegisterWrite(device_address, WRITE_SINGLE, control.address(port, name), (value,))


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
    time_limit_min: int | None = None
    energy_limit_wh: int | None = None
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
    control: ControlLayout,
    now: datetime,
    requested_by: str | None,
    purpose: str | None = None,
) -> ModbusCommand:
    """The stored command of a checked ``command`` (pending, due at ``now`` + timeout)."""
    write = write_for(command, control, device_address)
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
        time_limit_min=command.time_limit_min,
        energy_limit_wh=command.energy_limit_wh,
        requested_by=requested_by,
        purpose=purpose,
    )
