"""Register map files: every shipped map validates; the loader refuses broken maps."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from shared.domain.errors import InvalidInput
from shared.domain.modbus_maps import (
    MAPS_DIR,
    DeviceKind,
    encode_field,
    encode_port_registers,
    field_value,
    parse_register_map,
    register_map,
    shipped_maps,
)


def raw_map(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((MAPS_DIR / name).read_text(encoding="utf-8"))
    return loaded


def test_every_shipped_map_loads_when_the_package_is_read() -> None:
    maps = shipped_maps()
    assert set(maps) >= {"cc-ebike-10", "acrel-adl400", "acrel-adw300", "eastron-sdm630"}
    assert maps["cc-ebike-10"].kind is DeviceKind.EBIKE_PILE
    assert maps["eastron-sdm630"].kind is DeviceKind.METER


def test_ebike_map_lays_out_ten_ports_and_their_control_registers() -> None:
    ebike = register_map("cc-ebike-10")
    assert ebike is not None and ebike.ports is not None and ebike.control is not None
    assert ebike.ports.count == 10
    assert ebike.ports.block_address(1) == 0
    assert ebike.ports.block_address(10) == 90
    assert ebike.control.address(1, "command") == 256
    assert ebike.control.address(3, "time_limit") == 256 + 2 * 4 + 2
    assert ebike.control.value("command", "start") == 1
    assert ebike.control.value("command", "stop") == 2
    assert set(ebike.ports.fault_bits.values()) >= {
        "over_temperature",
        "leakage",
        "over_voltage",
        "under_voltage",
        "over_current",
        "no_load",
        "smoke",
        "emergency_stop",
    }


def test_meter_scales_convert_exactly_to_integer_units() -> None:
    adl400 = register_map("acrel-adl400")
    assert adl400 is not None
    by_name = {spec.name: spec for spec in adl400.fields}
    # 0.01 kWh per count -> 10 Wh; 0.001 kW -> 1 W; 0.01 A -> 10 mA
    assert field_value(by_name["energy_import"], [0x0001, 0x0000], "high_first") == 655_360
    assert field_value(by_name["power_total"], [0xFFFF, 0xFF9C], "high_first") == -100
    assert field_value(by_name["current_a"], [1234], "high_first") == 12_340
    sdm = register_map("eastron-sdm630")
    assert sdm is not None
    power = next(spec for spec in sdm.fields if spec.name == "power_total")
    # 1234.5 W as IEEE-754 0x449A5000
    assert field_value(power, [0x449A, 0x5000], "high_first") == 1234
    assert field_value(power, [0x7FC0, 0x0000], "high_first") is None  # NaN


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda m: m.pop("polls"), "polls"),
        (lambda m: m["fields"][0].update(type="uint24"), "fields.0.type"),
        (lambda m: m["fields"][0].update(unit="furlong"), "fields.0.unit"),
        (lambda m: m["fields"][2].update(scale=0.001), "fields.2.scale"),
        (lambda m: m["fields"][2].update(address=5000), "fields.2"),
        (lambda m: m["fields"][3].update(address=97), "fields"),
        (lambda m: m.update(kind="toaster"), "kind"),
        (lambda m: m["polls"][0].update(count=126), "polls.0.count"),
        (
            lambda m: m.update(fields=[f for f in m["fields"] if f["name"] != "power_total"]),
            "fields",
        ),
    ],
)
def test_loader_refuses_a_broken_meter_map_when_validating(mutate: Any, field: str) -> None:
    broken = copy.deepcopy(raw_map("acrel-adl400.json"))
    mutate(broken)
    with pytest.raises(InvalidInput) as error:
        parse_register_map(broken)
    assert error.value.fields.get("field") == field


@pytest.mark.parametrize(
    "mutate",
    [
        lambda m: m["ports"]["fields"][0].update(offset=10),
        lambda m: m["ports"].update(count=13),
        lambda m: m["ports"]["states"].pop("4"),
        lambda m: m["ports"]["fields"].pop(3),
        lambda m: m["control"]["registers"][1].update(offset=0),
    ],
)
def test_loader_refuses_a_broken_ebike_map_when_validating(mutate: Any) -> None:
    broken = copy.deepcopy(raw_map("ebike-10port.json"))
    mutate(broken)
    with pytest.raises(InvalidInput):
        parse_register_map(broken)


def test_encoded_values_decode_back_when_any_map_field_round_trips() -> None:
    for device_map in shipped_maps().values():
        fields = device_map.fields or (device_map.ports.fields if device_map.ports else ())
        for spec in fields:
            value = 1234 * spec.int_factor if spec.int_factor else 1234
            words = encode_field(spec, value, device_map.word_order)
            assert field_value(spec, words, device_map.word_order) == value, spec.name


def test_port_encoder_refuses_values_that_do_not_fit() -> None:
    ebike = register_map("cc-ebike-10")
    assert ebike is not None
    ports: list[dict[str, Any]] = [{} for _ in range(10)]
    assert len(encode_port_registers(ebike, ports)) == 100
    with pytest.raises(ValueError, match="power"):
        encode_port_registers(ebike, [{"power": 70_000}, *ports[1:]])
    with pytest.raises(ValueError, match="state"):
        encode_port_registers(ebike, [{"state": "exploded"}, *ports[1:]])
    with pytest.raises(ValueError):
        encode_port_registers(ebike, ports[:9])
