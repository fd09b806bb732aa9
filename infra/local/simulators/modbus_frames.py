"""Modbus RTU frames as a 10-port e-bike pile and a site meter answer them on a gateway's
RS485 bus, laid out by the platform's own register map files.

The layouts are the data files the bridge decodes with (``shared/domain/register_maps``:
``cc-ebike-10`` for the pile, ``acrel-adl400`` for the meter by default), so the simulator
and the platform can never disagree on an address: this module turns readings in integer
units into register words (the inverse of ``modbus_maps.field_value``) and then into RTU
frames built by pymodbus, so the address byte, function code, byte count and CRC-16 are
exactly what a real device sends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from struct import error as struct_error
from typing import Any

from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU
from pymodbus.pdu.register_message import ReadHoldingRegistersResponse

from shared.domain.modbus_maps import FieldSpec, RegisterMap, encode_field, register_map

PILE_MAP_ID = "cc-ebike-10"
METER_MAP_ID = "acrel-adl400"

# A read response holds at most 125 registers (Modbus application protocol 6.3).
MAX_REGISTERS_PER_READ = 125


class PortState(IntEnum):
    """Value of a port's ``state`` register (the map's ``states``)."""

    IDLE = 0
    PLUGGED = 1
    CHARGING = 2
    FULL = 3
    FAULTED = 4


class PortFault(IntFlag):
    """Bits of a port's ``fault_bits`` register (the map's ``fault_bits``)."""

    NONE = 0
    OVER_TEMPERATURE = 1 << 0
    LEAKAGE = 1 << 1
    OVER_VOLTAGE = 1 << 2
    UNDER_VOLTAGE = 1 << 3
    OVER_CURRENT = 1 << 4
    NO_LOAD = 1 << 5
    SMOKE = 1 << 6
    EMERGENCY_STOP = 1 << 7


class StopReason(IntEnum):
    """Value of a port's ``stop_reason`` register (the map's ``stop_reasons``)."""

    NONE = 0
    FULL = 1
    TIME_LIMIT = 2
    POWER_LIMIT = 3
    UNPLUGGED = 4
    REMOTE_STOP = 5
    FAULT = 6
    NO_LOAD = 7
    EMERGENCY_STOP = 8
    ENERGY_LIMIT = 9


@dataclass(frozen=True, slots=True)
class PortReading:
    """One port as its registers hold it (integer units named in the field)."""

    voltage_dv: int  # 0.1 V
    current_ma: int
    power_w: int
    energy_wh: int  # cumulative counter (wraps at the map's modulus)
    temperature_dc: int  # 0.1 degC, may be negative
    state: PortState
    fault_bits: PortFault = PortFault.NONE
    stop_reason: StopReason = StopReason.NONE
    elapsed_s: int = 0  # since the current charge started, saturating at 65535


@dataclass(frozen=True, slots=True)
class MeterReading:
    """A three-phase meter reading, secondary values (PT = CT = 1 for the demo's meter)."""

    voltage_dv: tuple[int, int, int]  # 0.1 V per phase
    current_ma: tuple[int, int, int]
    power_w: tuple[int, int, int]  # per phase, signed (negative = export)
    energy_wh: int  # total active energy

    @property
    def total_power_w(self) -> int:
        return sum(self.power_w)


@dataclass(frozen=True, slots=True)
class ControlValues:
    """A port's control registers as they read back (``command`` reads 0)."""

    power_limit_w: int = 0
    time_limit_min: int = 0
    energy_limit_wh: int = 0


def pile_map() -> RegisterMap:
    return _map(PILE_MAP_ID)


def meter_map() -> RegisterMap:
    return _map(METER_MAP_ID)


def _map(map_id: str) -> RegisterMap:
    found = register_map(map_id)
    if found is None:
        raise ValueError(f"no register map {map_id}")
    return found


def u16(value: int) -> int:
    """A signed or unsigned 16-bit value as a register word (two's complement).

    Raises:
        ValueError: the value does not fit in 16 bits.
    """
    if not -0x8000 <= value <= 0xFFFF:
        raise ValueError("value does not fit in 16 bits")
    return value & 0xFFFF


def u32_words(value: int, word_order: str = "high_first") -> tuple[int, int]:
    """A signed or unsigned 32-bit value as two register words in ``word_order``.

    Raises:
        ValueError: the value does not fit in 32 bits.
    """
    if not -0x8000_0000 <= value <= 0xFFFF_FFFF:
        raise ValueError("value does not fit in 32 bits")
    raw = value & 0xFFFF_FFFF
    high, low = raw >> 16, raw & 0xFFFF
    return (high, low) if word_order == "high_first" else (low, high)


def field_words(spec: FieldSpec, value: int, word_order: str) -> list[int]:
    """The register words of ``value`` (in the field's integer unit), as the device holds
    it: a meter counts in whole raw units (0.01 kWh), so what is below one is not shown yet.

    Raises:
        ValueError: a value that does not fit the register.
    """
    if spec.factor.denominator == 1 and spec.factor > 1:
        step = int(spec.factor)
        value -= value % step
    return encode_field(spec, value, word_order)


def crc16_modbus(data: bytes) -> bytes:
    """The two CRC bytes that end an RTU frame over ``data`` (low byte first on the wire)."""
    return FramerRTU.compute_CRC(data).to_bytes(2, "big")


def read_response_frame(device_address: int, registers: Sequence[int]) -> bytes:
    """A complete RTU frame answering a function 0x03 read: address, 0x03, byte count,
    registers, CRC.

    Raises:
        ValueError: bad device address, too many registers or a word out of range.
    """
    if not 1 <= device_address <= 247:
        raise ValueError("device address must be 1..247")
    if not 1 <= len(registers) <= MAX_REGISTERS_PER_READ:
        raise ValueError("a read answers 1..125 registers")
    if any(not 0 <= word <= 0xFFFF for word in registers):
        raise ValueError("register words are 0..0xFFFF")
    pdu = ReadHoldingRegistersResponse(dev_id=device_address, registers=list(registers))
    frame: bytes = FramerRTU(DecodePDU(is_server=True)).buildFrame(pdu)
    return frame


def port_block(reading: PortReading, the_map: RegisterMap | None = None) -> list[int]:
    """The register block of one port, laid out by the map's port fields."""
    the_map = the_map or pile_map()
    assert the_map.ports is not None
    values = {
        "voltage": reading.voltage_dv,
        "current": reading.current_ma,
        "power": reading.power_w,
        "energy": reading.energy_wh % (the_map.energy_modulus_wh or 2**32),
        "temperature": reading.temperature_dc,
        "state": int(reading.state),
        "stop_reason": int(reading.stop_reason),
        "fault_bits": int(reading.fault_bits),
        "elapsed": min(reading.elapsed_s, 0xFFFF),
    }
    block = [0] * the_map.ports.block_size
    for spec in the_map.ports.fields:
        if spec.name in values:
            words = field_words(spec, values[spec.name], the_map.word_order)
            block[spec.address : spec.address + len(words)] = words
    return block


def pile_registers(
    readings: Sequence[PortReading], controls: Sequence[ControlValues] | None = None
) -> dict[int, int]:
    """Register address -> word for every port block and control block of the pile.

    Raises:
        ValueError: the number of readings is not the map's port count.
    """
    the_map = pile_map()
    assert the_map.ports is not None
    if len(readings) != the_map.ports.count:
        raise ValueError("one reading per port is needed")
    words: dict[int, int] = {}
    for port_no, reading in enumerate(readings, start=1):
        start = the_map.ports.block_address(port_no)
        for index, word in enumerate(port_block(reading, the_map)):
            words[start + index] = word
    control = the_map.control
    if control is not None:
        for port_no in range(1, the_map.ports.count + 1):
            values = controls[port_no - 1] if controls else ControlValues()
            named = {
                "command": 0,
                "power_limit": values.power_limit_w,
                "time_limit": values.time_limit_min,
                "energy_limit": values.energy_limit_wh,
            }
            for register in control.registers:
                words[control.address(port_no, register.name)] = named.get(register.name, 0)
    return words


def meter_registers(reading: MeterReading) -> dict[int, int]:
    """Meter register address -> word for every field of the meter's map."""
    the_map = meter_map()
    values: dict[str, int] = {
        "energy_total": reading.energy_wh,
        "energy_import": reading.energy_wh,
        "power_total": reading.total_power_w,
    }
    for index, phase in enumerate("abc"):
        values[f"voltage_{phase}"] = reading.voltage_dv[index]
        values[f"current_{phase}"] = reading.current_ma[index]
        values[f"power_{phase}"] = reading.power_w[index]
    # Registers the map does not name (energy of other tariffs...) read as 0, as on a
    # meter that has not counted them.
    words = {a: 0 for poll in the_map.polls for a in range(poll.start, poll.start + poll.count)}
    for spec in the_map.fields:
        if spec.name in values:
            for index, word in enumerate(field_words(spec, values[spec.name], the_map.word_order)):
                words[spec.address + index] = word
    return words


def read_words(words: Mapping[int, int], start: int, count: int) -> list[int] | None:
    """``count`` words from ``start``; None when one is not held (illegal data address)."""
    if not 1 <= count <= MAX_REGISTERS_PER_READ:
        return None
    span = range(start, start + count)
    if any(address not in words for address in span):
        return None
    return [words[address] for address in span]


@dataclass(frozen=True, slots=True)
class PolledFrame:
    """One read response of a poll cycle and the read it answers (its map's poll id)."""

    poll_id: str
    frame: bytes


def poll_frames(
    pile_address: int,
    ports: Sequence[PortReading],
    meter_address: int,
    meter: MeterReading,
    controls: Sequence[ControlValues] | None = None,
) -> list[PolledFrame]:
    """The RTU response frames of one poll cycle: every poll of the pile's map, then every
    poll of the meter's map.

    Raises:
        ValueError: a poll reads a register the device does not hold.
    """
    frames: list[PolledFrame] = []
    for address, the_map, words in (
        (pile_address, pile_map(), pile_registers(ports, controls)),
        (meter_address, meter_map(), meter_registers(meter)),
    ):
        for poll in the_map.polls:
            read = read_words(words, poll.start, poll.count)
            if read is None:
                raise ValueError(f"poll {poll.poll_id} reads a register the device lacks")
            frames.append(PolledFrame(poll.poll_id, read_response_frame(address, read)))
    return frames


# -- the requests the platform sends down, and the device's answers ----------------------


@dataclass(frozen=True, slots=True)
class RtuRequest:
    """A request frame from the down topic: a read (03, ``count``) or a write (06/16,
    ``values``)."""

    device_address: int
    function: int
    address: int
    count: int = 0
    values: tuple[int, ...] = ()


def decode_request(frame: bytes) -> RtuRequest | None:
    """The request in an RTU frame as a device decodes it; None for a bad CRC, a short
    frame or a function the device does not serve (03, 06, 16)."""
    if len(frame) < 4 or crc16_modbus(frame[:-2]) != frame[-2:]:
        return None
    try:
        _, pdu = FramerRTU(DecodePDU(is_server=True)).handleFrame(frame, 0, 0)
    except (ValueError, IndexError, struct_error):
        return None
    if pdu is None:
        return None
    function = int(pdu.function_code)
    if function == 3:
        return RtuRequest(int(pdu.dev_id), 3, int(pdu.address), count=int(pdu.count))
    if function in (6, 16):
        values = tuple(int(v) for v in pdu.registers)
        return RtuRequest(int(pdu.dev_id), function, int(pdu.address), values=values)
    return None


def write_echo_frame(request: RtuRequest) -> bytes:
    """The device's answer to a write it carried out: 06 echoes address and value, 16
    address and count."""
    from pymodbus.pdu.register_message import (
        WriteMultipleRegistersResponse,
        WriteSingleRegisterResponse,
    )

    pdu: Any
    if request.function == 6:
        pdu = WriteSingleRegisterResponse(
            dev_id=request.device_address, address=request.address, registers=[request.values[0]]
        )
    else:
        pdu = WriteMultipleRegistersResponse(
            dev_id=request.device_address, address=request.address, count=len(request.values)
        )
    frame: bytes = FramerRTU(DecodePDU(is_server=True)).buildFrame(pdu)
    return frame


def exception_frame(device_address: int, function: int, code: int) -> bytes:
    """A Modbus exception response (function | 0x80, exception code)."""
    from pymodbus.pdu import ExceptionResponse

    pdu = ExceptionResponse(function, code, device_id=device_address)
    frame: bytes = FramerRTU(DecodePDU(is_server=True)).buildFrame(pdu)
    return frame
