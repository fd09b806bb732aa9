"""The simulated gateway obeys write commands (echo, exceptions, limits, its own timer),
answers read requests as a transparent DTU, and replays a backlog shuffled with repeats;
over a real mosquitto the answer to a down-topic command comes back on the up topic."""

from __future__ import annotations

import base64
import json
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU
from pymodbus.pdu.register_message import ReadHoldingRegistersRequest

from infra.local.simulators.ebike_gateway import EbikeGatewaySimulator
from infra.local.simulators.modbus_frames import ControlValues, PortState, StopReason
from shared.domain.gateways import has_valid_crc
from shared.domain.modbus_commands import (
    PortCommand,
    PortCommandKind,
    RegisterWrite,
    default_control,
    write_for,
    write_frame,
)
from tests.unit.test_simulators_gateway import MOSQUITTO, Broker, _until

HOUR_NS = 3600 * 10**9


class Clock:
    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> int:
        return self.ns


def _gateway(clock: Clock, **overrides: Any) -> EbikeGatewaySimulator:
    values: dict[str, Any] = {"first_seq": 1, "rng": random.Random(7), "monotonic_ns": clock}
    values.update(overrides)
    return EbikeGatewaySimulator("GW-C1", "89860011112222333344", "127.0.0.1", 1, **values)


def _command(command: PortCommand, device: int = 1) -> bytes:
    return write_frame(write_for(command, default_control(), device))


def _decoded(frame: bytes) -> Any:
    assert has_valid_crc(frame)
    _, pdu = FramerRTU(DecodePDU(is_server=False)).handleFrame(frame, 0, 0)
    assert pdu is not None
    return pdu


def _read(device: int, address: int, count: int) -> Any:
    return ReadHoldingRegistersRequest(address=address, count=count, dev_id=device)


def test_start_switches_a_plugged_port_on_capped_and_its_timer_switches_it_off() -> None:
    clock = Clock()
    gateway = _gateway(clock)
    gateway.plug_in(3, draw_w=900)
    start = PortCommand(PortCommandKind.START, 3, 600, time_limit_min=30, energy_limit_wh=0)
    echo = _decoded(gateway.handle_down(_command(start)) or b"")
    assert (echo.function_code, echo.address, echo.count) == (16, 0x0108, 4)
    assert gateway.port_state(3) is PortState.CHARGING
    assert gateway.port_limits(3) == ControlValues(600, 30, 0)
    clock.ns += HOUR_NS
    ports, _ = gateway.readings()
    assert ports[2].state is PortState.PLUGGED and ports[2].power_w == 0
    assert ports[2].stop_reason is StopReason.TIME_LIMIT
    assert ports[2].energy_wh == 300  # 600 W for the 30 minutes of the limit, not the hour


def test_energy_limit_switches_the_port_off_at_exactly_that_energy() -> None:
    clock = Clock()
    gateway = _gateway(clock)
    gateway.plug_in(2, draw_w=500)
    gateway.handle_down(_command(PortCommand(PortCommandKind.START, 2, 0, 0, energy_limit_wh=125)))
    clock.ns += HOUR_NS
    ports, _ = gateway.readings()
    assert ports[1].energy_wh == 125 and ports[1].stop_reason is StopReason.ENERGY_LIMIT


def test_speed_runs_the_devices_clock_faster_at_a_realistic_power() -> None:
    clock = Clock()
    gateway = _gateway(clock, speed=120.0)
    gateway.plug_in(4, draw_w=300)
    gateway.handle_down(_command(PortCommand(PortCommandKind.START, 4, 0, 0, energy_limit_wh=50)))
    clock.ns += 10**9  # one real second: two simulated minutes at 300 W
    ports, _ = gateway.readings()
    assert (ports[3].state, ports[3].energy_wh) == (PortState.CHARGING, 10)
    assert 290 <= ports[3].power_w <= 310 and ports[3].elapsed_s == 120
    clock.ns += 10 * 10**9
    ports, _ = gateway.readings()
    assert ports[3].energy_wh == 50 and ports[3].stop_reason is StopReason.ENERGY_LIMIT
    with pytest.raises(ValueError):
        _gateway(clock, speed=0)


def test_stop_and_power_limit_are_echoed_and_obeyed() -> None:
    clock = Clock()
    gateway = _gateway(clock)
    gateway.plug_in(1, draw_w=500)
    gateway.handle_down(_command(PortCommand(PortCommandKind.START, 1, 0, 0, 0)))
    answer = gateway.handle_down(_command(PortCommand(PortCommandKind.POWER_LIMIT, 1, 200)))
    echo = _decoded(answer or b"")
    assert (echo.function_code, echo.address, list(echo.registers)) == (6, 0x0101, [200])
    assert gateway.readings()[0][0].power_w in range(190, 211)
    stop = _decoded(gateway.handle_down(_command(PortCommand(PortCommandKind.STOP, 1))) or b"")
    assert (stop.function_code, stop.address, list(stop.registers)) == (6, 0x0100, [2])
    assert gateway.port_state(1) is PortState.PLUGGED
    assert gateway.readings()[0][0].stop_reason is StopReason.REMOTE_STOP


def _answer(gateway: EbikeGatewaySimulator, write: RegisterWrite) -> Any:
    return _decoded(gateway.handle_down(write_frame(write)) or b"")


def test_writes_outside_the_control_block_or_out_of_range_get_exceptions() -> None:
    gateway = _gateway(Clock())
    bad_register = _decoded(
        gateway.handle_down(write_frame(RegisterWrite(1, 6, 0x00FF, (1,)))) or b""
    )
    assert (bad_register.function_code, bad_register.exception_code) == (0x86, 2)
    bad_switch = _decoded(
        gateway.handle_down(write_frame(RegisterWrite(1, 6, 0x0100, (7,)))) or b""
    )
    assert (bad_switch.function_code, bad_switch.exception_code) == (0x86, 3)
    beyond = _decoded(
        gateway.handle_down(write_frame(RegisterWrite(1, 6, 0x0100 + 40, (1,)))) or b""
    )
    assert beyond.exception_code == 2
    assert gateway.port_state(1) is PortState.IDLE


def test_frames_for_other_devices_or_with_a_bad_crc_get_no_answer() -> None:
    gateway = _gateway(Clock())
    frame = _command(PortCommand(PortCommandKind.STOP, 1), device=9)
    assert gateway.handle_down(frame) is None
    good = _command(PortCommand(PortCommandKind.STOP, 1))
    assert gateway.handle_down(good[:-1] + bytes([good[-1] ^ 0xFF])) is None
    assert gateway.handle_down(b"\x01") is None


def test_read_requests_are_answered_like_the_poll_plan_as_a_transparent_dtu() -> None:
    clock = Clock()
    gateway = _gateway(clock, mode="transparent")
    gateway.start_charging(2, 300)
    builder = FramerRTU(DecodePDU(is_server=False))
    pile = _decoded(gateway.handle_down(builder.buildFrame(_read(1, 0, 80))) or b"")
    assert len(pile.registers) == 80 and pile.registers[10 + 6] == PortState.CHARGING
    meter = _decoded(gateway.handle_down(builder.buildFrame(_read(2, 356, 8))) or b"")
    assert meter.dev_id == 2 and len(meter.registers) == 8
    missing = gateway.handle_down(builder.buildFrame(_read(2, 40, 1)))
    assert _decoded(missing or b"").exception_code == 2


def test_backlog_is_replayed_shuffled_with_repeats_and_nothing_lost() -> None:
    gateway = _gateway(Clock())
    gateway.go_offline()
    for _ in range(40):
        gateway._backlog.append(gateway.build_envelope())
    gateway.go_online(shuffle=True, repeat_fraction=0.3)
    seqs = [envelope["seq"] for envelope in gateway._backlog]
    assert set(seqs) == set(range(1, 41))
    assert len(seqs) > 40 and seqs != sorted(seqs)


class Up:
    """Keeps what arrives on the gateway's up topic (raw bytes)."""

    def __init__(self, port: int, topic: str) -> None:
        self.payloads: list[bytes] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = lambda _c, _u, msg: self.payloads.append(bytes(msg.payload))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.ready.wait(5)

    def command(self, topic: str, frame: bytes) -> None:
        self.client.publish(topic, frame, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto not installed")
    running = Broker(tmp_path)
    running.start()
    yield running
    running.stop()


@pytest.mark.parametrize("mode", ["envelope", "transparent"])
def test_command_on_the_down_topic_is_answered_on_the_up_topic_over_mqtt(
    broker: Broker, mode: str
) -> None:
    gateway = EbikeGatewaySimulator(
        "GW-C2",
        "89860011112222333355",
        "127.0.0.1",
        broker.port,
        report_interval_s=60.0,
        first_seq=10,
        mode=mode,  # type: ignore[arg-type]
    )
    gateway.plug_in(5)
    up = Up(broker.port, gateway.topic)
    stop = threading.Event()
    thread = threading.Thread(target=gateway.run, args=(stop,), daemon=True)
    thread.start()
    try:
        _until(lambda: gateway.stats.connects >= 1 and len(up.payloads) >= 1)
        _until(lambda: mode == "transparent" or len(up.payloads) >= 2)  # registration + poll
        start = _command(PortCommand(PortCommandKind.START, 5, 0, 10, 0))
        _until(gateway.listening.is_set)
        up.command(gateway.down_topic, start)
        _until(lambda: len(up.payloads) >= (2 if mode == "transparent" else 3))
    finally:
        stop.set()
        thread.join(5)
        up.close()
    if mode == "transparent":
        assert up.payloads[0] == b"89860011112222333355"
        echo = up.payloads[-1]
    else:
        envelope = json.loads(up.payloads[-1])
        assert envelope["seq"] == 11
        [text] = envelope["frames"]  # a bare frame: the echo names its own register
        echo = base64.b64decode(text)
    pdu = _decoded(echo)
    assert (pdu.function_code, pdu.address, pdu.count) == (16, 0x0110, 4)
    assert gateway.port_state(5) is PortState.CHARGING
