"""Modbus RTU read-response frames as a 10-port e-bike pile and an Acrel ADL400 site meter
answer them on the gateway's RS485 bus.

The layout lives in ``ebike_gateway_map.json`` beside this module (the project's own
10-port pile block and the ADL400 secondary registers); this module turns readings in
integer units into register words and then into RTU frames built by pymodbus, so the
address byte, function 0x03, byte count and CRC-16 are exactly what a real device sends.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from functools import cache
from pathlib import Path
from struct import error as struct_error
from typing import Any

from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU
from pymodbus.pdu.register_message import ReadHoldingRegistersResponse

MAP_PATH = Path(__file__).with_name("ebike_gateway_map.json")

# A read response holds at most 125 registers (Modbus application protocol 6.3).
MAX_REGISTERS_PER_READ = 125


class PortState(IntEnum):
    """Value of a port's ``state`` register."""

    IDLE = 0
    PLUGGED = 1
    CHARGING = 2
    FULL = 3
    FAULTED = 4
    DISABLED = 5


class PortFault(IntFlag):
    """Bits of a port's ``fault_bits`` register."""

    NONE = 0
    OVER_TEMPERATURE = 1 << 0
    OVER_CURRENT = 1 << 1
    LEAKAGE = 1 << 2
    OVER_VOLTAGE = 1 << 3
    UNDER_VOLTAGE = 1 << 4
    RELAY_STUCK = 1 << 5
    SMOKE = 1 << 6
    NO_LOAD = 1 << 7


@dataclass(frozen=True, slots=True)
class PortReading:
    """One port as its registers hold it (integer units named in the field)."""

    voltage_dv: int  # 0.1 V
    current_ca: int  # 0.01 A
    power_w: int
    energy_wh: int  # cumulative counter
    temperature_dc: int  # 0.1 degC, may be negative
    state: PortState
    fault_bits: PortFault = PortFault.NONE


@dataclass(frozen=True, slots=True)
class MeterReading:
    """A three-phase meter reading in the ADL400's secondary units."""

    voltage_dv: tuple[int, int, int]  # 0.1 V per phase
    current_ca: tuple[int, int, int]  # 0.01 A per phase
    power_w: tuple[int, int, int]  # per phase, signed (negative = export)
    energy_wh: int  # total active energy; the meter counts in 0.01 kWh

    @property
    def total_power_w(self) -> int:
        return sum(self.power_w)


@dataclass(frozen=True, slots=True)
class PollRead:
    """One read of the gateway's poll plan."""

    device: str  # "pile" or "meter"
    function: int
    address: int
    count: int


@cache
def load_map() -> Mapping[str, Any]:
    """The register map data file, parsed once."""
    with MAP_PATH.open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = json.load(handle)
    return loaded


def poll_plan() -> list[PollRead]:
    """The reads the gateway makes each cycle, in envelope order."""
    return [PollRead(**read) for read in load_map()["poll"]]


def u16(value: int) -> int:
    """A signed or unsigned 16-bit value as a register word (two's complement).

    Raises:
        ValueError: the value does not fit in 16 bits.
    """
    if not -0x8000 <= value <= 0xFFFF:
        raise ValueError("value does not fit in 16 bits")
    return value & 0xFFFF


def u32_words(value: int) -> tuple[int, int]:
    """A signed or unsigned 32-bit value as two register words, high word first.

    Raises:
        ValueError: the value does not fit in 32 bits.
    """
    if not -0x8000_0000 <= value <= 0xFFFF_FFFF:
        raise ValueError("value does not fit in 32 bits")
    raw = value & 0xFFFF_FFFF
    return raw >> 16, raw & 0xFFFF


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
    return FramerRTU(DecodePDU(is_server=True)).buildFrame(pdu)


def port_block(reading: PortReading) -> list[int]:
    """The register block of one port, laid out by the map's ``port_fields``."""
    pile = load_map()["pile"]
    block = [0] * int(pile["port_block_size"])
    values: dict[str, int] = {
        "voltage_dv": reading.voltage_dv,
        "current_ca": reading.current_ca,
        "power_w": reading.power_w,
        "energy_wh": reading.energy_wh,
        "temperature_dc": reading.temperature_dc,
        "state": int(reading.state),
        "fault_bits": int(reading.fault_bits),
    }
    for field in pile["port_fields"]:
        offset = int(field["offset"])
        value = values[field["name"]]
        if field["type"] in ("uint32", "int32"):
            block[offset], block[offset + 1] = u32_words(value)
        else:
            block[offset] = u16(value)
    return block


def pile_registers(readings: Sequence[PortReading]) -> list[int]:
    """Every port block in port order (port 1 first), as one contiguous register range.

    Raises:
        ValueError: the number of readings is not the map's port count.
    """
    if len(readings) != int(load_map()["pile"]["port_count"]):
        raise ValueError("one reading per port is needed")
    words: list[int] = []
    for reading in readings:
        words.extend(port_block(reading))
    return words


def meter_registers(reading: MeterReading) -> dict[int, int]:
    """ADL400 register address -> word for every register the map lists."""
    values: dict[str, int] = {
        "energy_total_cwh": reading.energy_wh // 10,
        "voltage_a_dv": reading.voltage_dv[0],
        "voltage_b_dv": reading.voltage_dv[1],
        "voltage_c_dv": reading.voltage_dv[2],
        "current_a_ca": reading.current_ca[0],
        "current_b_ca": reading.current_ca[1],
        "current_c_ca": reading.current_ca[2],
        "power_a_w": reading.power_w[0],
        "power_b_w": reading.power_w[1],
        "power_c_w": reading.power_w[2],
        "power_total_w": reading.total_power_w,
    }
    words: dict[int, int] = {}
    for register in load_map()["meter"]["registers"]:
        address = int(register["address"])
        value = values[register["name"]]
        if register["type"] in ("uint32", "int32"):
            words[address], words[address + 1] = u32_words(value)
        else:
            words[address] = u16(value)
    return words


def poll_frames(
    pile_address: int,
    ports: Sequence[PortReading],
    meter_address: int,
    meter: MeterReading,
) -> list[bytes]:
    """The RTU response frames of one poll cycle, in the poll plan's order.

    Raises:
        ValueError: a read in the plan asks for a register the device does not hold.
    """
    pile_words = pile_registers(ports)
    meter_words = meter_registers(meter)
    frames: list[bytes] = []
    for read in poll_plan():
        span = range(read.address, read.address + read.count)
        if read.device == "pile":
            if read.address + read.count > len(pile_words):
                raise ValueError("poll reads past the pile's port blocks")
            frames.append(read_response_frame(pile_address, [pile_words[a] for a in span]))
        else:
            missing = [a for a in span if a not in meter_words]
            if missing:
                raise ValueError("poll reads a meter register the map does not list")
            frames.append(read_response_frame(meter_address, [meter_words[a] for a in span]))
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
    if len(frame) < 4 or FramerRTU.compute_CRC(frame[:-2]).to_bytes(2, "big") != frame[-2:]:
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
