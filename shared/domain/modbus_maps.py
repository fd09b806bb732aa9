"""Register maps of Modbus devices on a gateway's bus, kept as data files.

Each model is one JSON file in ``shared/domain/register_maps/`` (adding a model is adding a
file). ``parse_register_map`` validates a file's content into a ``RegisterMap``;
``register_map(map_id)`` loads the shipped file with that ``id`` (read once, a code asset,
not a runtime input).

Every field is converted to one integer unit per quantity, with an exact factor (no
floats for integer registers): voltage in 0.1 V (``_dv``), current in mA, power in W,
energy in Wh, temperature in 0.1 degC (``_dc``). A map's ``scale`` and ``unit`` are the
manual's (``0.01`` ``kWh``); the factor is ``scale * unit-to-target`` as a Fraction and
must be an integer for integer registers. Float registers (Eastron) are rounded to the
nearest integer unit.
"""

from __future__ import annotations

import functools
import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Any

from shared.domain.errors import InvalidInput

MAPS_DIR = Path(__file__).with_name("register_maps")
MAX_READ_COUNT = 125  # registers in one read response (Modbus application protocol 6.3)
READ_FUNCTIONS = (3, 4)  # read holding / read input registers

TYPE_WORDS = {"uint16": 1, "int16": 1, "uint32": 2, "int32": 2, "float32": 2}

# manual unit -> (our unit suffix, factor to it)
UNIT_TARGETS: dict[str, tuple[str, Fraction]] = {
    "V": ("dv", Fraction(10)),
    "A": ("ma", Fraction(1000)),
    "W": ("w", Fraction(1)),
    "kW": ("w", Fraction(1000)),
    "Wh": ("wh", Fraction(1)),
    "kWh": ("wh", Fraction(1000)),
    "degC": ("dc", Fraction(10)),
    "s": ("s", Fraction(1)),
    "": ("", Fraction(1)),
}
RATIOS = ("none", "pt", "ct", "pt_ct")
REQUIRED_PORT_FIELDS = ("voltage", "current", "power", "energy", "temperature", "state")
REQUIRED_METER_FIELDS = ("power_total",)


class DeviceKind(StrEnum):
    EBIKE_PILE = "ebike_pile"
    METER = "meter"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One quantity: ``address`` is absolute (meters) or the offset in a port block."""

    name: str
    address: int
    function: int
    type: str
    factor: Fraction  # raw register value -> integer in ``unit``
    unit: str  # dv, ma, w, wh, dc, s or ""
    ratio: str = "none"
    words: int = 1  # registers the field spans
    int_factor: int | None = None  # ``factor`` when it is an integer (hot path)

    def __post_init__(self) -> None:
        object.__setattr__(self, "words", TYPE_WORDS[self.type])
        integral = self.factor.numerator if self.factor.denominator == 1 else None
        object.__setattr__(self, "int_factor", integral)


@dataclass(frozen=True, slots=True)
class Poll:
    """One read the gateway (or the platform, for transparent DTUs) makes each cycle."""

    poll_id: str
    function: int
    start: int
    count: int
    every_cycle: bool = True  # False: read on demand only (the e-bike control registers)


@dataclass(frozen=True, slots=True)
class PortLayout:
    count: int
    function: int
    block_start: int
    block_size: int
    fields: tuple[FieldSpec, ...]
    states: Mapping[int, str]
    stop_reasons: Mapping[int, str]
    fault_bits: Mapping[int, str]

    def block_address(self, port_no: int) -> int:
        return self.block_start + (port_no - 1) * self.block_size


@dataclass(frozen=True, slots=True)
class ControlRegister:
    name: str
    offset: int
    unit: str
    values: Mapping[int, str]


@dataclass(frozen=True, slots=True)
class ControlLayout:
    block_start: int
    block_size: int
    registers: tuple[ControlRegister, ...]

    def address(self, port_no: int, name: str) -> int:
        """The holding register of control ``name`` for ``port_no`` (1-based).

        Raises:
            InvalidInput: no such control register.
        """
        for register in self.registers:
            if register.name == name:
                return self.block_start + (port_no - 1) * self.block_size + register.offset
        raise InvalidInput("no such control register", field="name")

    def value(self, name: str, meaning: str) -> int:
        """The code of ``meaning`` in control ``name`` (``command``, ``start`` -> 1).

        Raises:
            InvalidInput: no such register or value.
        """
        for register in self.registers:
            if register.name == name:
                for code, text in register.values.items():
                    if text == meaning:
                        return code
        raise InvalidInput("no such control value", field="value")


@dataclass(frozen=True, slots=True)
class RegisterMap:
    map_id: str
    kind: DeviceKind
    vendor: str
    model: str
    word_order: str  # high_first | low_first
    fields: tuple[FieldSpec, ...]  # meters: absolute addresses
    polls: tuple[Poll, ...]
    ports: PortLayout | None = None
    control: ControlLayout | None = None
    energy_modulus_wh: int | None = None  # where the raw counter wraps, in Wh
    max_power_w: int | None = None

    def poll(self, poll_id: str) -> Poll | None:
        return next((poll for poll in self.polls if poll.poll_id == poll_id), None)


def _require(condition: bool, message: str, field: str) -> None:
    if not condition:
        raise InvalidInput(message, field=field)


def _int(value: Any, field: str, low: int, high: int) -> int:
    _require(
        isinstance(value, int) and not isinstance(value, bool) and low <= value <= high,
        f"{field} must be an integer {low}..{high}",
        field,
    )
    result: int = value
    return result


def _text(value: Any, field: str) -> str:
    _require(isinstance(value, str) and 0 < len(value) <= 200, f"{field} must be text", field)
    result: str = value
    return result


def _field(raw: Any, where: str, *, absolute: bool, default_function: int) -> FieldSpec:
    _require(isinstance(raw, Mapping), "a field must be an object", where)
    name = _text(raw.get("name"), f"{where}.name")
    kind = raw.get("type")
    _require(kind in TYPE_WORDS, "unknown register type", f"{where}.type")
    unit = raw.get("unit", "")
    _require(unit in UNIT_TARGETS, "unknown unit", f"{where}.unit")
    scale = raw.get("scale", 1)
    _require(
        isinstance(scale, int | float) and not isinstance(scale, bool) and scale > 0,
        "scale must be a positive number",
        f"{where}.scale",
    )
    suffix, to_target = UNIT_TARGETS[unit]
    factor = Fraction(str(scale)) * to_target
    if kind != "float32":
        _require(
            factor.denominator == 1,
            "an integer register must convert to an integer unit exactly",
            f"{where}.scale",
        )
    ratio = raw.get("ratio", "none")
    _require(ratio in RATIOS, "ratio must be none, pt, ct or pt_ct", f"{where}.ratio")
    address = _int(raw.get("address" if absolute else "offset"), f"{where}.address", 0, 65535)
    function = _int(raw.get("function", default_function), f"{where}.function", 3, 4)
    return FieldSpec(name, address, function, str(kind), factor, suffix, str(ratio))


def _codes(raw: Any, where: str) -> dict[int, str]:
    _require(isinstance(raw, Mapping), "must be an object of code -> name", where)
    codes: dict[int, str] = {}
    for key, value in raw.items():
        _require(isinstance(key, str) and key.isdigit(), "codes are decimal", where)
        codes[int(key)] = _text(value, where)
    return codes


def _check_no_overlap(fields: Sequence[FieldSpec], where: str) -> None:
    used: dict[tuple[int, int], str] = {}
    names: set[str] = set()
    for spec in fields:
        _require(spec.name not in names, "field names are unique", where)
        names.add(spec.name)
        for word in range(spec.address, spec.address + spec.words):
            _require((spec.function, word) not in used, "fields overlap", where)
            used[(spec.function, word)] = spec.name


def parse_register_map(raw: Mapping[str, Any]) -> RegisterMap:
    """Validate a register map file's content.

    Raises:
        InvalidInput: a field missing, out of range, overlapping or never polled.
    """
    map_id = _text(raw.get("id"), "id")
    kind_text = raw.get("kind")
    _require(kind_text in {k.value for k in DeviceKind}, "unknown kind", "kind")
    kind = DeviceKind(str(kind_text))
    word_order = raw.get("word_order", "high_first")
    _require(word_order in ("high_first", "low_first"), "unknown word order", "word_order")
    _require(raw.get("byte_order", "big") == "big", "Modbus registers are big-endian", "byte_order")
    polls_raw: list[Any] = raw.get("polls") or []
    _require(isinstance(polls_raw, list) and len(polls_raw) > 0, "polls are needed", "polls")
    polls: list[Poll] = []
    for index, poll in enumerate(polls_raw):
        where = f"polls.{index}"
        _require(isinstance(poll, Mapping), "a poll must be an object", where)
        polls.append(
            Poll(
                _text(poll.get("id"), f"{where}.id"),
                _int(poll.get("function"), f"{where}.function", 3, 4),
                _int(poll.get("start"), f"{where}.start", 0, 65535),
                _int(poll.get("count"), f"{where}.count", 1, MAX_READ_COUNT),
                poll.get("every_cycle", True) is not False,
            )
        )
    _require(len({p.poll_id for p in polls}) == len(polls), "poll ids are unique", "polls")
    for poll in polls:
        _require(poll.start + poll.count <= 65536, "a poll reads past 0xFFFF", "polls")

    def polled(function: int, address: int, words: int) -> bool:
        return any(
            p.function == function and p.start <= address and address + words <= p.start + p.count
            for p in polls
        )

    fields: list[FieldSpec] = []
    ports: PortLayout | None = None
    control: ControlLayout | None = None
    if kind is DeviceKind.METER:
        fields_raw = raw.get("fields")
        _require(isinstance(fields_raw, list) and len(fields_raw) > 0, "fields needed", "fields")
        assert isinstance(fields_raw, list)
        for index, item in enumerate(fields_raw):
            spec = _field(item, f"fields.{index}", absolute=True, default_function=3)
            _require(
                polled(spec.function, spec.address, spec.words),
                "every field is read by a poll",
                f"fields.{index}",
            )
            fields.append(spec)
        _check_no_overlap(fields, "fields")
        names = {spec.name for spec in fields}
        for required in REQUIRED_METER_FIELDS:
            _require(required in names, f"a meter map needs {required}", "fields")
    else:
        ports = _ports(raw.get("ports"), polled)
        control = _control(raw.get("control"), ports.count)
    counter = raw.get("energy_counter", {})
    _require(isinstance(counter, Mapping), "energy_counter must be an object", "energy_counter")
    modulus = counter.get("modulus")
    max_power = counter.get("max_power_w")
    return RegisterMap(
        map_id=map_id,
        kind=kind,
        vendor=_text(raw.get("vendor"), "vendor"),
        model=_text(raw.get("model"), "model"),
        word_order=str(word_order),
        fields=tuple(fields),
        polls=tuple(polls),
        ports=ports,
        control=control,
        energy_modulus_wh=(
            None if modulus is None else _int(modulus, "energy_counter.modulus", 2, 2**64)
        ),
        max_power_w=(
            None
            if max_power is None
            else _int(max_power, "energy_counter.max_power_w", 1, 10_000_000)
        ),
    )


def _ports(raw: Any, polled: Any) -> PortLayout:
    _require(isinstance(raw, Mapping), "an e-bike map needs ports", "ports")
    count = _int(raw.get("count"), "ports.count", 1, 20)
    function = _int(raw.get("function", 3), "ports.function", 3, 4)
    block_start = _int(raw.get("block_start"), "ports.block_start", 0, 65535)
    block_size = _int(raw.get("block_size"), "ports.block_size", 1, MAX_READ_COUNT)
    fields_raw: list[Any] = raw.get("fields") or []
    _require(isinstance(fields_raw, list) and len(fields_raw) > 0, "fields needed", "ports.fields")
    fields = tuple(
        _field(item, f"ports.fields.{i}", absolute=False, default_function=function)
        for i, item in enumerate(fields_raw)
    )
    _check_no_overlap(fields, "ports.fields")
    for spec in fields:
        _require(spec.address + spec.words <= block_size, "a field leaves its block", "ports")
    names = {spec.name for spec in fields}
    for required in REQUIRED_PORT_FIELDS:
        _require(required in names, f"a port needs {required}", "ports.fields")
    for port_no in range(1, count + 1):
        _require(
            polled(function, block_start + (port_no - 1) * block_size, block_size),
            "every port block is read whole by one poll",
            "polls",
        )
    states = _codes(raw.get("states"), "ports.states")
    _require(
        set(states.values()) >= {"idle", "plugged", "charging", "full", "fault"},
        "states idle, plugged, charging, full, fault are needed",
        "ports.states",
    )
    fault_bits = _codes(raw.get("fault_bits", {}), "ports.fault_bits")
    _require(all(bit < 16 for bit in fault_bits), "fault bits are 0..15", "ports.fault_bits")
    return PortLayout(
        count=count,
        function=function,
        block_start=block_start,
        block_size=block_size,
        fields=fields,
        states=states,
        stop_reasons=_codes(raw.get("stop_reasons", {}), "ports.stop_reasons"),
        fault_bits=fault_bits,
    )


def _control(raw: Any, port_count: int) -> ControlLayout | None:
    if raw is None:
        return None
    _require(isinstance(raw, Mapping), "control must be an object", "control")
    block_start = _int(raw.get("block_start"), "control.block_start", 0, 65535)
    block_size = _int(raw.get("block_size"), "control.block_size", 1, MAX_READ_COUNT)
    _require(block_start + port_count * block_size <= 65536, "control past 0xFFFF", "control")
    registers: list[ControlRegister] = []
    registers_raw: list[Any] = raw.get("registers") or []
    _require(isinstance(registers_raw, list), "registers must be a list", "control.registers")
    for index, item in enumerate(registers_raw):
        where = f"control.registers.{index}"
        _require(isinstance(item, Mapping), "a register must be an object", where)
        registers.append(
            ControlRegister(
                name=_text(item.get("name"), f"{where}.name"),
                offset=_int(item.get("offset"), f"{where}.offset", 0, block_size - 1),
                unit=str(item.get("unit", "")),
                values=_codes(item.get("values", {}), f"{where}.values"),
            )
        )
    _require(len({r.name for r in registers}) == len(registers), "names unique", "control")
    _require(len({r.offset for r in registers}) == len(registers), "offsets unique", "control")
    return ControlLayout(block_start, block_size, tuple(registers))


@functools.cache
def shipped_maps() -> Mapping[str, RegisterMap]:
    """Every map file in ``register_maps/``, by id.

    Raises:
        InvalidInput: a shipped file is invalid, or two files share an id.
    """
    maps: dict[str, RegisterMap] = {}
    for path in sorted(MAPS_DIR.glob("*.json")):
        parsed = parse_register_map(json.loads(path.read_text(encoding="utf-8")))
        _require(parsed.map_id not in maps, "two map files share an id", "id")
        maps[parsed.map_id] = parsed
    return maps


def register_map(map_id: str) -> RegisterMap | None:
    """The shipped map with this id, or None."""
    return shipped_maps().get(map_id)


def _word_value(spec: FieldSpec, words: Sequence[int], word_order: str) -> int | float:
    if spec.words == 1:
        raw = words[0]
        return raw - 0x10000 if spec.type == "int16" and raw & 0x8000 else raw
    high, low = (words[0], words[1]) if word_order == "high_first" else (words[1], words[0])
    combined = (high << 16) | low
    if spec.type == "int32":
        return combined - 0x1_0000_0000 if combined & 0x8000_0000 else combined
    if spec.type == "float32":
        value: float = struct.unpack(">f", combined.to_bytes(4, "big"))[0]
        return value
    return combined


def field_value(spec: FieldSpec, words: Sequence[int], word_order: str) -> int | None:
    """The field in its integer unit, or None for a float that is NaN or infinite."""
    raw = _word_value(spec, words, word_order)
    if isinstance(raw, float):
        if not math.isfinite(raw) or abs(raw) > 1e15:
            return None
        return round(Fraction(raw) * spec.factor)
    factor = spec.int_factor
    return raw * factor if factor is not None else int(raw * spec.factor)


def raw_field_value(spec: FieldSpec, words: Sequence[int], word_order: str) -> int | None:
    """The field as the register holds it, before scaling (counters fold on this)."""
    raw = _word_value(spec, words, word_order)
    if isinstance(raw, float):
        return None
    return raw


def _raw_of(spec: FieldSpec, value: int) -> int:
    """Our integer unit back to the register's raw value (exact for integer registers)."""
    raw = Fraction(value) / spec.factor
    if raw.denominator != 1:
        raise ValueError(f"{spec.name}: {value} is not a whole number of register units")
    return int(raw)


def encode_field(spec: FieldSpec, value: int, word_order: str = "high_first") -> list[int]:
    """The register words holding ``value`` (in our unit) for ``spec`` (simulators, tests).

    Raises:
        ValueError: the value does not fit the register or is not a whole raw unit.
    """
    if spec.type == "float32":
        packed = struct.pack(">f", float(Fraction(value) / spec.factor))
        words = [int.from_bytes(packed[:2], "big"), int.from_bytes(packed[2:], "big")]
    else:
        raw = _raw_of(spec, value)
        bits = 16 * spec.words
        low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
        if spec.type.startswith("uint"):
            low, high = 0, (1 << bits) - 1
        if not low <= raw <= high:
            raise ValueError(f"{spec.name}: {value} does not fit {spec.type}")
        raw &= (1 << bits) - 1
        words = [raw] if spec.words == 1 else [raw >> 16, raw & 0xFFFF]
    return words if word_order == "high_first" else list(reversed(words))


def encode_port_registers(
    register_map: RegisterMap, ports: Sequence[Mapping[str, int | str | Sequence[str]]]
) -> list[int]:
    """Every port block of an e-bike map as one register range (port 1 first), from values
    named as the map's port fields in our units; ``state`` and ``stop_reason`` may be names,
    ``faults`` a list of fault-bit names (simulators and tests build frames with this).

    Raises:
        ValueError: not an e-bike map, a wrong number of ports, or a value that does not fit.
    """
    layout = register_map.ports
    if layout is None or len(ports) != layout.count:
        raise ValueError("one value set per port of an e-bike map is needed")
    codes = {
        "state": {name: code for code, name in layout.states.items()},
        "stop_reason": {name: code for code, name in layout.stop_reasons.items()},
    }
    bits = {name: bit for bit, name in layout.fault_bits.items()}
    words = [0] * (layout.count * layout.block_size)
    for index, values in enumerate(ports):
        base = index * layout.block_size
        for spec in layout.fields:
            value = values.get(spec.name, 0)
            faults = values.get("faults")
            if spec.name == "fault_bits" and isinstance(faults, list | tuple):
                value = 0
                for name in faults:
                    value |= 1 << bits[name]
            if isinstance(value, str):
                value = codes.get(spec.name, {}).get(value, -1)
                if value < 0:
                    raise ValueError(f"{spec.name}: unknown name")
            if not isinstance(value, int):
                raise ValueError(f"{spec.name}: an integer is needed")
            for offset, word in enumerate(encode_field(spec, value, register_map.word_order)):
                words[base + spec.address + offset] = word
    return words
