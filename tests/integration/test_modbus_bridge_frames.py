"""Golden RTU frames: CRC-16/Modbus and decoding with pymodbus' client-side RTU framer."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.framer import FramerRTU

from functions.modbus_bridge.rtu import PymodbusRtuDecoder
from shared.domain.gateway_messages import FrameRef
from shared.domain.gateways import (
    BusDevice,
    GatewayConfig,
    RtuReading,
    crc16_modbus,
    decode_frame_text,
    has_valid_crc,
)
from shared.domain.modbus_decode import FrameVerdict
from shared.services.modbus_uplink import classify_frame
from tests.unit.test_modbus_uplink_support import an_uplink

# Published examples: the Modbus over Serial Line spec (slave 0x11, read 3 registers at
# 0x6B: CRC 0x8776 sent as 76 87) and the classic "read 1 / read 10 registers" requests.
PUBLISHED = ["1103006b00037687", "010300000001840a", "01030000000ac5cd", "01030200017984"]

GOLDEN_RESPONSES = [
    ("010304006400323a39", RtuReading(1, 3, registers=(100, 50))),
    ("02030a00e6001403e800190001e733", RtuReading(2, 3, registers=(230, 20, 1000, 25, 1))),
    ("010402000178f0", RtuReading(1, 4, registers=(1,))),
    ("0101010d904d", RtuReading(1, 1, bits=(True, False, True, True, False, False, False, False))),
    ("0106000100ff984a", RtuReading(1, 6, address=1, value=255)),
    ("01100001000a11ce", RtuReading(1, 16, address=1, value=10)),
    ("018302c0f1", RtuReading(1, 3, exception_code=2)),
]


@pytest.mark.parametrize("frame_hex", PUBLISHED + [hexed for hexed, _ in GOLDEN_RESPONSES])
def test_crc_matches_the_published_and_pymodbus_values_when_frame_is_intact(
    frame_hex: str,
) -> None:
    frame = bytes.fromhex(frame_hex)

    assert has_valid_crc(frame)
    assert crc16_modbus(frame[:-2]) == int.from_bytes(frame[-2:], "little")
    assert FramerRTU.check_CRC(frame[:-2], int.from_bytes(frame[-2:], "big"))


@given(st.binary(min_size=2, max_size=254))
def test_crc_agrees_with_pymodbus_when_data_is_arbitrary(data: bytes) -> None:
    ours = crc16_modbus(data)

    assert ours.to_bytes(2, "little") == FramerRTU.compute_CRC(data).to_bytes(2, "big")


@pytest.mark.parametrize(("frame_hex", "reading"), GOLDEN_RESPONSES)
def test_decoder_reads_registers_bits_and_exceptions_when_frame_is_golden(
    frame_hex: str, reading: RtuReading
) -> None:
    assert PymodbusRtuDecoder().decode(bytes.fromhex(frame_hex)) == reading


@pytest.mark.parametrize(
    "frame_hex",
    [
        "010304006400323a38",  # last CRC byte flipped
        "010304006500323a39",  # a data bit flipped
        "3a39",  # too short to carry a CRC
    ],
)
def test_crc_check_fails_when_frame_is_damaged(frame_hex: str) -> None:
    assert not has_valid_crc(bytes.fromhex(frame_hex))


def test_classify_frame_sorts_good_bad_crc_and_undecodable_frames() -> None:
    config = GatewayConfig("GW-1", {1: BusDevice(1, "acrel-adl400", "op-1", station_id="s")}, {})
    ports = an_uplink().ports

    def verdict(frame: bytes | str) -> object:
        text = frame if isinstance(frame, str) else base64.b64encode(frame).decode()
        outcome = classify_frame(FrameRef(rtu=text, start=0, count=2), config, ports)
        return outcome if isinstance(outcome, FrameVerdict) else "good"

    assert verdict(bytes.fromhex("010304006400323a39")) == "good"
    assert verdict(bytes.fromhex("010304006400323a38")) == FrameVerdict.BAD_CRC
    assert verdict(bytes.fromhex("0101060f13bc")) == FrameVerdict.UNDECODABLE  # count lies
    # a request, not a response: decodes as a 1-register answer, not the 2 asked for
    assert verdict(bytes.fromhex("010300000001840a")) == FrameVerdict.UNDECODABLE
    assert verdict("not base64 at all!") == FrameVerdict.NOT_RTU
    assert verdict(b"\x01\x03") == FrameVerdict.NOT_RTU


def test_frame_text_is_refused_when_longer_than_an_rtu_adu() -> None:
    assert decode_frame_text(base64.b64encode(bytes(257)).decode()) is None
    assert decode_frame_text(base64.b64encode(bytes(256)).decode()) == bytes(256)
