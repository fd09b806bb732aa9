"""From a CRC-checked, pymodbus-decoded RTU response to values, with the register map of
the device that answered.

Every frame ends in exactly one ``FrameVerdict``. Only ``GOOD`` frames produce values, and
only when the response matches its request exactly (known device, the request's function,
the requested register count): anything else is counted, never written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shared.domain.gateways import BusDevice, RtuReading
from shared.domain.modbus_maps import FieldSpec, RegisterMap, field_value, raw_field_value
from shared.domain.modbus_readings import PortSample, PortState


class FrameVerdict(StrEnum):
    GOOD = "good"
    NOT_RTU = "not_rtu"  # not base64, or shorter/longer than an RTU frame
    BAD_CRC = "bad_crc"
    UNDECODABLE = "undecodable"  # pymodbus found no valid response in it
    UNKNOWN_DEVICE = "unknown_device"
    WRONG_FUNCTION = "wrong_function"
    EXCEPTION = "exception"  # the device answered with a Modbus exception
    UNMATCHED = "unmatched"  # no request known, or the size does not match it
    WRITE_ANSWER = "write_answer"  # a command's echo or exception: the command side's


@dataclass(frozen=True, slots=True)
class ReadRequest:
    function: int
    start: int
    count: int


@dataclass(frozen=True, slots=True)
class ReadAnswer:
    device: BusDevice
    function: int
    start: int
    registers: tuple[int, ...]


def match_answer(
    reading: RtuReading,
    request: ReadRequest | None,
    devices: Mapping[int, BusDevice],
    maps: Mapping[str, RegisterMap],
) -> ReadAnswer | FrameVerdict:
    """The answer to ``request`` in ``reading``, or why it is not one."""
    device = devices.get(reading.device_address)
    if device is None or device.map_id not in maps:
        return FrameVerdict.UNKNOWN_DEVICE
    if reading.exception_code is not None:
        return FrameVerdict.EXCEPTION
    if request is None:
        return FrameVerdict.UNMATCHED
    if reading.function_code != request.function:
        return FrameVerdict.WRONG_FUNCTION
    if len(reading.registers) != request.count:
        return FrameVerdict.UNMATCHED
    return ReadAnswer(device, request.function, request.start, reading.registers)


def request_for(
    device: BusDevice | None,
    maps: Mapping[str, RegisterMap],
    *,
    start: int | None,
    count: int | None,
    poll_id: str | None,
    function: int | None,
) -> ReadRequest | None:
    """The read a frame reference names (by start + count, or by the map's poll id); the
    function is the reference's, else the one the device's map reads with."""
    register_map = maps.get(device.map_id) if device is not None else None
    if start is not None and count is not None:
        if function is None:
            functions = {poll.function for poll in register_map.polls} if register_map else set()
            function = functions.pop() if len(functions) == 1 else 3
        return ReadRequest(function, start, count)
    if poll_id is None or register_map is None:
        return None
    poll = register_map.poll(poll_id) if register_map is not None else None
    if poll is None:
        return None
    return ReadRequest(poll.function, poll.start, poll.count)


def register_words(answers: Iterable[ReadAnswer]) -> dict[tuple[int, int], int]:
    """(function, address) -> word over every answer of one device in one cycle."""
    words: dict[tuple[int, int], int] = {}
    for answer in answers:
        for index, word in enumerate(answer.registers):
            words[(answer.function, answer.start + index)] = word
    return words


def _words(words: Mapping[tuple[int, int], int], spec: FieldSpec, base: int) -> list[int] | None:
    address = base + spec.address
    first = words.get((spec.function, address))
    if first is None:
        return None
    if spec.words == 1:
        return [first]
    second = words.get((spec.function, address + 1))
    return None if second is None else [first, second]


def port_samples(
    register_map: RegisterMap,
    words: Mapping[tuple[int, int], int],
    *,
    at: datetime,
    gateway_id: str,
    seq: int | None,
) -> dict[int, PortSample]:
    """The ports whose whole block was read, port_no -> sample. A port whose state code is
    not in the map is left out (never guessed)."""
    layout = register_map.ports
    if layout is None:
        return {}
    samples: dict[int, PortSample] = {}
    for port_no in range(1, layout.count + 1):
        base = layout.block_address(port_no)
        values: dict[str, int] = {}
        energy_raw: int | None = None
        for spec in layout.fields:
            found = _words(words, spec, base)
            if found is None:
                break
            value = field_value(spec, found, register_map.word_order)
            if value is None:
                break
            values[spec.name] = value
            if spec.name == "energy":
                energy_raw = raw_field_value(spec, found, register_map.word_order)
        else:
            state_name = layout.states.get(values["state"])
            if state_name is None or energy_raw is None:
                continue
            mask = values.get("fault_bits", 0)
            samples[port_no] = PortSample(
                at=at,
                gateway_id=gateway_id,
                seq=seq,
                energy_raw=energy_raw,
                power_w=values["power"],
                voltage_dv=values["voltage"],
                current_ma=values["current"],
                temperature_dc=values["temperature"],
                state=PortState(state_name),
                stop_reason=layout.stop_reasons.get(values.get("stop_reason", 0)),
                faults=tuple(
                    name for bit, name in sorted(layout.fault_bits.items()) if mask >> bit & 1
                ),
            )
    return samples


def fault_mask(register_map: RegisterMap, faults: Iterable[str]) -> int:
    layout = register_map.ports
    if layout is None:
        return 0
    bits = {name: bit for bit, name in layout.fault_bits.items()}
    return sum(1 << bits[name] for name in set(faults) if name in bits)


def meter_values(
    register_map: RegisterMap, words: Mapping[tuple[int, int], int], *, pt: int, ct: int
) -> dict[str, int]:
    """Every meter field that was read, in integer units, with PT/CT applied."""
    multiplier = {"none": 1, "pt": pt, "ct": ct, "pt_ct": pt * ct}
    values: dict[str, int] = {}
    for spec in register_map.fields:
        found = _words(words, spec, 0)
        if found is None:
            continue
        value = field_value(spec, found, register_map.word_order)
        if value is not None:
            values[spec.name] = value * multiplier[spec.ratio]
    return values
