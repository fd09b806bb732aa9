"""Transparent DTUs on fakes: the platform polls each bus one read at a time; answers are
matched to the outstanding read, stored, and the next read goes down; registration and
heartbeat share the channel; write answers go to the command side."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from functions.modbus_bridge.rtu import PymodbusRtuDecoder
from shared.domain.gateway_messages import RawMessage
from shared.domain.gateways import crc16_modbus
from shared.domain.modbus_commands import WriteAnswer
from shared.services.modbus_uplink import Transparent, handle_raw
from tests.unit.test_modbus_uplink_support import (
    METER_ADDRESS,
    PILE_ADDRESS,
    Port,
    Uplink,
    an_uplink,
    port_registers,
    rtu,
)

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
ICCID = b"89860412345678901234"


@dataclass
class FakeDownLink:
    sent: list[tuple[str, bytes]] = field(default_factory=list)

    def publish(self, gateway_id: str, payload: bytes) -> None:
        self.sent.append((gateway_id, payload))


@dataclass
class RecordingAnswers:
    answers: list[WriteAnswer] = field(default_factory=list)

    def answer(self, answer: WriteAnswer) -> None:
        self.answers.append(answer)


class Dtu:
    def __init__(self) -> None:
        self.uplink: Uplink = an_uplink()
        self.down = FakeDownLink()
        self.answers = RecordingAnswers()
        self.uplink.ports = replace(self.uplink.ports, write_answers=self.answers)
        self.transparent = Transparent(downlink=self.down, encoder=PymodbusRtuDecoder())
        self.now = T0

    def send(self, payload: bytes) -> Any:
        message = RawMessage(gateway_id="GW-1", raw=base64.b64encode(payload).decode())
        result = handle_raw(
            message,
            ports=self.uplink.ports,
            transparent=self.transparent,
            now=self.now,
            local_day="2026-12-01",
        )
        return result


def test_registration_starts_a_cycle_and_each_answer_sends_the_next_read() -> None:
    dtu = Dtu()
    result = dtu.send(ICCID)

    assert result.kind == "register"
    assert dtu.uplink.gateways.iccid == ICCID.decode()
    assert dtu.uplink.gateways.sims == {"EB-1": ICCID.decode()}  # the pile's SIM record
    # first read of the cycle: the pile's port block, function 03, 0..99
    assert dtu.down.sent == [("GW-1", bytes.fromhex("010300000064") + dtu.down.sent[0][1][-2:])]
    assert dtu.uplink.gateways.pending is not None

    dtu.now += timedelta(seconds=1)
    ports = [Port(energy_raw=42, state="charging")] + [Port() for _ in range(9)]
    answer = dtu.send(rtu(PILE_ADDRESS, port_registers(ports)))

    assert answer.kind == "answer" and answer.verdicts == {"good": 1}
    assert dtu.uplink.readings.items[("EB-1", dtu.now)][1].energy_raw == 42
    # next: the ADL400's first poll (energy, 0..11)
    assert dtu.down.sent[-1][1][:6] == bytes.fromhex("02030000000c")

    for registers in ([0] * 12, [2200, 2200, 2200, 10, 10, 10], [0, 1, 0, 2, 0, 3, 0, 6]):
        dtu.now += timedelta(seconds=1)
        dtu.send(rtu(METER_ADDRESS, registers))
    assert dtu.uplink.site_loads.loads["st-1"].power_w == 6
    assert dtu.uplink.gateways.pending is None  # the cycle is complete
    assert len(dtu.down.sent) == 4


def test_heartbeat_starts_the_next_cycle_only_after_the_interval() -> None:
    dtu = Dtu()
    dtu.send(b"OK")
    assert len(dtu.down.sent) == 1  # never polled: a cycle starts
    dtu.uplink.gateways.pending = None  # as if the cycle completed
    dtu.now += timedelta(seconds=30)

    dtu.send(b"OK")
    assert len(dtu.down.sent) == 1

    dtu.now += timedelta(seconds=30)
    dtu.send(b"OK")
    assert len(dtu.down.sent) == 2


def test_unanswered_read_times_out_and_the_cycle_goes_on() -> None:
    dtu = Dtu()
    dtu.send(ICCID)
    dtu.now += timedelta(seconds=61)

    result = dtu.send(b"OK")

    assert result.verdicts == {"read_timeout": 1}
    assert dtu.uplink.gateways.counts == {"read_timeout": 1}
    assert dtu.down.sent[-1][1][:6] == bytes.fromhex("02030000000c")


def test_answer_from_another_device_or_with_bad_crc_is_counted_not_stored() -> None:
    dtu = Dtu()
    dtu.send(ICCID)
    stray = rtu(METER_ADDRESS, [0] * 100)
    assert dtu.send(stray).verdicts == {"unmatched": 1}

    dtu2 = Dtu()
    dtu2.send(ICCID)
    damaged = bytearray(rtu(PILE_ADDRESS, port_registers([Port() for _ in range(10)])))
    damaged[20] ^= 0xFF
    assert dtu2.send(bytes(damaged)).verdicts == {"bad_crc": 1}
    assert dtu.uplink.readings.items == {} and dtu2.uplink.readings.items == {}


def test_write_echo_goes_to_the_command_side_and_keeps_the_read_outstanding() -> None:
    dtu = Dtu()
    dtu.send(ICCID)
    pending = dtu.uplink.gateways.pending

    echo = bytes.fromhex("010601000002")
    result = dtu.send(echo + crc16_modbus(echo).to_bytes(2, "little"))

    assert result.kind == "write_answer"
    assert dtu.answers.answers == [
        WriteAnswer("GW-1", 1, 6, address=0x100, value=2, exception_code=None)
    ]
    assert dtu.uplink.gateways.pending == pending


@settings(max_examples=150, deadline=None)
@given(payloads=st.lists(st.binary(max_size=60), min_size=1, max_size=6), gap_s=st.integers(0, 90))
def test_arbitrary_dtu_bytes_never_raise_and_store_nothing_unasked(
    payloads: list[bytes], gap_s: int
) -> None:
    dtu = Dtu()
    for payload in payloads:
        result = dtu.send(payload)
        assert result.kind in {"answer", "register", "heartbeat", "write_answer"}
        dtu.now += timedelta(seconds=gap_s)
    # random bytes never pass as the pile's 100-register answer
    assert dtu.uplink.readings.items == {}
