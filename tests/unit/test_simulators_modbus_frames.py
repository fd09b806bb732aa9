"""RTU frames the simulated e-bike gateway sends: golden hex, CRC, the register maps' layout,
decode round trip through the platform's own map decoding (``modbus_maps.field_value``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU

from infra.local.simulators.modbus_frames import (
    ControlValues,
    MeterReading,
    PortFault,
    PortReading,
    PortState,
    StopReason,
    crc16_modbus,
    meter_map,
    meter_registers,
    pile_map,
    pile_registers,
    poll_frames,
    port_block,
    read_response_frame,
    u16,
    u32_words,
)
from shared.domain.modbus_maps import field_value

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
        "current_ma": 1500,
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
        current_ma=(10000, 10010, 10020),
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


def test_words_split_in_the_maps_word_order_and_signed_values_use_twos_complement() -> None:
    assert u32_words(0x0001_E240) == (0x0001, 0xE240)
    assert u32_words(0x0001_E240, "low_first") == (0xE240, 0x0001)
    assert u32_words(-2) == (0xFFFF, 0xFFFE)
    assert u16(-55) == 0xFFC9
    with pytest.raises(ValueError):
        u16(0x1_0000)
    with pytest.raises(ValueError):
        u32_words(0x1_0000_0000)


def test_port_block_decodes_back_through_the_pile_map_when_every_field_is_set() -> None:
    reading = a_port(
        energy_wh=70_000,
        temperature_dc=-55,
        state=PortState.FAULTED,
        fault_bits=PortFault.OVER_TEMPERATURE | PortFault.SMOKE,
        stop_reason=StopReason.FAULT,
        elapsed_s=0,
    )
    the_map = pile_map()
    assert the_map.ports is not None
    block = port_block(reading)
    assert block == [2200, 1500, 330, 0x0001, 0x1170, 0xFFC9, 4, 6, 0b0100_0001, 0]
    decoded = {
        spec.name: field_value(spec, block[spec.address : spec.address + spec.words], "high_first")
        for spec in the_map.ports.fields
    }
    assert decoded == {
        "voltage": 2200,
        "current": 1500,
        "power": 330,
        "energy": 70_000,
        "temperature": -55,
        "state": 4,
        "stop_reason": 6,
        "fault_bits": 0b0100_0001,
        "elapsed": 0,
    }
    assert the_map.ports.states[4] == "fault" and the_map.ports.stop_reasons[6] == "fault"
    assert {the_map.ports.fault_bits[0], the_map.ports.fault_bits[6]} == {
        "over_temperature",
        "smoke",
    }


def test_energy_counter_wraps_at_the_maps_modulus_when_encoded() -> None:
    block = port_block(a_port(energy_wh=2**32 + 5))
    assert (block[3], block[4]) == (0, 5)


def test_pile_registers_lay_ports_and_controls_out_by_the_map_when_ten_ports_are_read() -> None:
    ports = [a_port(power_w=100 + n) for n in range(10)]
    controls = [
        ControlValues(power_limit_w=n, time_limit_min=60, energy_limit_wh=0) for n in range(10)
    ]
    words = pile_registers(ports, controls)
    assert [words[10 * n + 2] for n in range(10)] == [100 + n for n in range(10)]
    assert [words[256 + 4 * n + 1] for n in range(10)] == list(range(10))
    assert all(words[256 + 4 * n] == 0 and words[256 + 4 * n + 2] == 60 for n in range(10))
    with pytest.raises(ValueError):
        pile_registers(ports[:9])


def test_meter_registers_decode_back_through_the_adl400_map_when_encoded() -> None:
    words = meter_registers(a_meter())
    the_map = meter_map()
    decoded = {
        spec.name: field_value(
            spec, [words[spec.address + i] for i in range(spec.words)], the_map.word_order
        )
        for spec in the_map.fields
    }
    assert decoded["energy_total"] == 1234560  # the meter counts 0.01 kWh
    assert [decoded[f"voltage_{p}"] for p in "abc"] == [2201, 2202, 2203]
    assert [decoded[f"current_{p}"] for p in "abc"] == [10000, 10010, 10020]
    assert decoded["power_total"] == 66300


def test_poll_cycle_answers_every_poll_of_both_maps_and_decodes_back() -> None:
    frames = poll_frames(1, [a_port()] * 10, 2, a_meter())
    plan = [(1, poll) for poll in pile_map().polls] + [(2, poll) for poll in meter_map().polls]
    assert [f.poll_id for f in frames] == [poll.poll_id for _, poll in plan]
    for polled, (device, poll) in zip(frames, plan, strict=True):
        address, registers = _decode(polled.frame)
        assert (address, len(registers)) == (device, poll.count)
    assert frames[-1].frame.hex() == "020310000055f000005654000056b8000102fc64e8"
