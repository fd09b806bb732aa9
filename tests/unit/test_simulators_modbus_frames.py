"""RTU frames the simulated e-bike gateway sends: golden hex, CRC, layout, decode round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU

from infra.local.simulators.modbus_frames import (
    MeterReading,
    PortFault,
    PortReading,
    PortState,
    crc16_modbus,
    load_map,
    meter_registers,
    pile_registers,
    poll_frames,
    poll_plan,
    port_block,
    read_response_frame,
    u16,
    u32_words,
)

SHARED_DEVICE_MAPS = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "modbus-device-maps.json"
)


def _crc_bitwise(data: bytes) -> bytes:
    """CRC-16/MODBUS straight from the serial-line spec (poly 0xA001 reflected, init 0xFFFF)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc.to_bytes(2, "little")


def _decode(frame: bytes) -> tuple[int, list[int]]:
    framer = FramerRTU(DecodePDU(is_server=False))
    used, pdu = framer.handleFrame(frame, 0, 0)
    assert used == len(frame)
    assert pdu is not None
    return pdu.dev_id, list(pdu.registers)


def a_port(**overrides: object) -> PortReading:
    values: dict[str, object] = {
        "voltage_dv": 2200,
        "current_ca": 150,
        "power_w": 330,
        "energy_wh": 12345,
        "temperature_dc": 251,
        "state": PortState.CHARGING,
        "fault_bits": PortFault.NONE,
    }
    values.update(overrides)
    return PortReading(**values)  # type: ignore[arg-type]


def a_meter() -> MeterReading:
    return MeterReading(
        voltage_dv=(2201, 2202, 2203),
        current_ca=(1000, 1001, 1002),
        power_w=(22000, 22100, 22200),
        energy_wh=1234567,
    )


def test_crc_matches_modbus_spec_examples_when_computed_over_known_frames() -> None:
    # Modbus over serial line spec and every RTU tutorial: read 10 registers from 0 of
    # device 1, and the spec's read of 3 registers at 0x006B from device 0x11.
    assert crc16_modbus(bytes.fromhex("01030000000A")).hex() == "c5cd"
    assert crc16_modbus(bytes.fromhex("1103006B0003")).hex() == "7687"


def test_read_response_frame_is_golden_when_answering_one_register() -> None:
    assert read_response_frame(1, [10]).hex() == "010302000a3843"


def test_read_response_frame_is_golden_when_answering_the_spec_example() -> None:
    # Modbus application protocol spec, function 03 example response.
    assert read_response_frame(0x11, [0x022B, 0x0000, 0x0064]).hex() == "110306022b00000064c8ba"


@given(
    address=st.integers(min_value=1, max_value=247),
    registers=st.lists(st.integers(min_value=0, max_value=0xFFFF), min_size=1, max_size=125),
)
def test_frames_carry_a_valid_crc_and_decode_back_when_built_from_any_registers(
    address: int, registers: list[int]
) -> None:
    frame = read_response_frame(address, registers)
    assert frame[:3] == bytes([address, 0x03, 2 * len(registers)])
    assert frame[-2:] == _crc_bitwise(frame[:-2])
    assert _decode(frame) == (address, registers)


def test_a_corrupted_frame_fails_the_crc_when_one_bit_flips() -> None:
    frame = bytearray(read_response_frame(1, [1, 2, 3]))
    frame[4] ^= 0x01
    assert _crc_bitwise(bytes(frame[:-2])) != bytes(frame[-2:])
    _, pdu = FramerRTU(DecodePDU(is_server=False)).handleFrame(bytes(frame), 0, 0)
    assert pdu is None


@pytest.mark.parametrize(
    ("device_address", "registers"),
    [(0, [1]), (248, [1]), (1, []), (1, [0] * 126), (1, [0x10000]), (1, [-1])],
)
def test_read_response_frame_refuses_when_out_of_range(
    device_address: int, registers: list[int]
) -> None:
    with pytest.raises(ValueError):
        read_response_frame(device_address, registers)


def test_words_split_high_first_and_signed_values_use_twos_complement_when_encoded() -> None:
    assert u32_words(0x0001_E240) == (0x0001, 0xE240)
    assert u32_words(-2) == (0xFFFF, 0xFFFE)
    assert u16(-55) == 0xFFC9
    with pytest.raises(ValueError):
        u16(0x1_0000)
    with pytest.raises(ValueError):
        u32_words(0x1_0000_0000)


def test_port_block_follows_the_map_when_every_field_is_set() -> None:
    block = port_block(
        a_port(
            energy_wh=70_000,
            temperature_dc=-55,
            state=PortState.FAULTED,
            fault_bits=PortFault.OVER_TEMPERATURE | PortFault.SMOKE,
        )
    )
    assert block == [2200, 150, 330, 0x0001, 0x1170, 0xFFC9, 4, 0b0100_0001]


def test_pile_registers_lay_ports_out_in_order_when_ten_ports_are_read() -> None:
    ports = [a_port(power_w=100 + n) for n in range(10)]
    words = pile_registers(ports)
    assert len(words) == 80
    assert [words[8 * n + 2] for n in range(10)] == [100 + n for n in range(10)]
    with pytest.raises(ValueError):
        pile_registers(ports[:9])


def test_meter_registers_use_adl400_addresses_and_units_when_encoded() -> None:
    words = meter_registers(a_meter())
    assert (words[0], words[1]) == u32_words(123456)  # 0.01 kWh
    assert [words[a] for a in (97, 98, 99, 100, 101, 102)] == [2201, 2202, 2203, 1000, 1001, 1002]
    assert (words[362], words[363]) == u32_words(66300)  # total active power, 1 W per LSB


def test_poll_cycle_is_golden_and_decodes_per_plan_when_built() -> None:
    frames = poll_frames(1, [a_port()] * 10, 2, a_meter())
    assert [f.hex() for f in frames[1:]] == [
        "02030c0899089a089b03e803e903eaaaf8",
        "020310000055f000005654000056b8000102fc64e8",
        "0203040001e240d1a3",
    ]
    assert frames[0][:3].hex() == "0103a0"
    assert frames[0][-2:].hex() == "f575"
    decoded = [_decode(frame) for frame in frames]
    plan = poll_plan()
    assert [d[0] for d in decoded] == [1, 2, 2, 2]
    assert [len(d[1]) for d in decoded] == [read.count for read in plan]


def test_poll_plan_reads_are_distinguishable_when_only_address_and_byte_count_are_seen() -> None:
    device_address = {"pile": 1, "meter": 2}
    keys = [(device_address[read.device], 2 * read.count) for read in poll_plan()]
    assert len(set(keys)) == len(keys)
    assert all(read.function == 3 and read.count <= 125 for read in poll_plan())


@pytest.mark.skipif(
    not SHARED_DEVICE_MAPS.exists(), reason="reference data not beside the checkout"
)
def test_meter_map_matches_the_adl400_reference_when_both_are_read() -> None:
    devices = json.loads(SHARED_DEVICE_MAPS.read_text(encoding="utf-8"))["devices"]
    adl400 = next(d for d in devices if d["model"].startswith("ADL400"))
    reference = {r["address_dec"]: r for r in adl400["registers"]}
    for register in load_map()["meter"]["registers"]:
        ref = reference[register["address"]]
        assert ref["type"] == register["type"]
        assert ref["scale"] == register["scale"]
        assert "03" in ref["function"]
