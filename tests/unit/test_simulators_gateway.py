"""The simulated e-bike gateway publishing to a real mosquitto on a free port."""

from __future__ import annotations

import base64
import json
import random
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU

from infra.local.simulators.ebike_gateway import EbikeGatewaySimulator
from infra.local.simulators.modbus_frames import PortFault, PortState

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"

pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto not installed")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Broker:
    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.config = workdir / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=5)
            self.process = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    running = Broker(tmp_path)
    running.start()
    yield running
    running.stop()


class Listener:
    """Subscribes to every gateway's up topic and keeps what arrives, in order."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id="listener"
        )
        self.client.on_connect = lambda c, *_: c.subscribe("gw/+/up", qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = lambda _c, _u, msg: self.messages.append(
            (msg.topic, json.loads(msg.payload))
        )
        self.client.reconnect_delay_set(1, 2)
        self.client.connect_async("127.0.0.1", port)
        self.client.loop_start()
        assert self.subscribed.wait(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for _, m in self.messages if m.get("type") == kind]

    def envelopes(self) -> list[dict[str, Any]]:
        return [m for _, m in self.messages if "seq" in m]


def _until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _gateway(port: int, **overrides: Any) -> EbikeGatewaySimulator:
    values: dict[str, Any] = {
        "report_interval_s": 0.2,
        "heartbeat_interval_s": 300.0,
        "first_seq": 1000,
        "rng": random.Random(3),
    }
    values.update(overrides)
    return EbikeGatewaySimulator("GW-T1", "89860098765432109876", "127.0.0.1", port, **values)


def _started(gateway: EbikeGatewaySimulator) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=gateway.run, args=(stop,), daemon=True)
    thread.start()
    return stop, thread


def _registers(frame_ref: dict[str, str]) -> tuple[int, list[int]]:
    frame = base64.b64decode(frame_ref["rtu"])
    used, pdu = FramerRTU(DecodePDU(is_server=False)).handleFrame(frame, 0, 0)
    assert pdu is not None and used == len(frame)
    return pdu.dev_id, list(pdu.registers)


def test_gateway_registers_then_sends_envelopes_with_rising_seq_when_connected(
    broker: Broker,
) -> None:
    listener = Listener(broker.port)
    gateway = _gateway(broker.port)
    gateway.start_charging(1, 300)
    gateway.fault(7, PortFault.OVER_TEMPERATURE)
    stop, thread = _started(gateway)
    _until(lambda: len(listener.envelopes()) >= 3)
    stop.set()
    thread.join(5)
    listener.close()
    assert not thread.is_alive()
    assert listener.messages[0] == (
        "gw/GW-T1/up",
        {"type": "register", "iccid": "89860098765432109876"},
    )
    envelopes = listener.envelopes()
    assert [e["seq"] for e in envelopes[:3]] == [1000, 1001, 1002]
    assert all(e["ts"].endswith("Z") for e in envelopes)
    frames = envelopes[-1]["frames"]
    assert [f["poll"] for f in frames] == ["ports", "controls", "energy", "vi", "power"]
    device, pile = _registers(frames[0])
    assert device == 1 and len(pile) == 100
    assert pile[6] == PortState.CHARGING and 290 <= pile[2] <= 310
    assert pile[10 * 6 + 6] == PortState.FAULTED
    assert pile[10 * 6 + 8] == PortFault.OVER_TEMPERATURE
    assert pile[10 + 6] == PortState.IDLE and pile[10 + 2] == 0
    meter = [_registers(f) for f in frames[2:]]
    assert [(d, len(r)) for d, r in meter] == [(2, 12), (2, 6), (2, 8)]


def test_gateway_queues_while_the_broker_is_down_and_resends_in_order_when_it_returns(
    broker: Broker,
) -> None:
    gateway = _gateway(broker.port)
    stop, thread = _started(gateway)
    _until(lambda: gateway.stats.envelopes_published >= 1)
    broker.stop()
    published_before = gateway.stats.envelopes_published
    time.sleep(1.0)  # about five envelopes fall due while nobody listens
    broker.start()
    listener = Listener(broker.port)
    _until(lambda: gateway.stats.connects >= 2 and len(listener.envelopes()) >= 6)
    stop.set()
    thread.join(5)
    listener.close()
    seqs = [e["seq"] for e in listener.envelopes()]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert seqs[0] <= 1000 + published_before
    assert gateway.stats.registrations >= 2


def test_gateway_sends_heartbeats_only_when_idle_longer_than_the_interval(broker: Broker) -> None:
    listener = Listener(broker.port)
    gateway = _gateway(broker.port, report_interval_s=60.0, heartbeat_interval_s=0.3)
    stop, thread = _started(gateway)
    _until(lambda: len(listener.of_type("heartbeat")) >= 2)
    stop.set()
    thread.join(5)
    listener.close()
    assert len(listener.envelopes()) == 1  # the first poll goes out at once, the next in 60 s
    assert listener.of_type("heartbeat")[0] == {"type": "heartbeat"}


def test_gateway_counts_energy_exactly_while_a_port_charges() -> None:
    now_ns = [0]
    gateway = _gateway(1, monotonic_ns=lambda: now_ns[0], site_base_load_w=60_000)
    gateway.start_charging(3, 1800)
    now_ns[0] += 3600 * 10**9  # one hour
    ports, meter = gateway.readings()
    assert ports[2].state is PortState.CHARGING
    assert ports[2].energy_wh == 1800
    assert meter.energy_wh == 8_000_000 + 60_000 + 1800
    gateway.stop_charging(3)
    now_ns[0] += 3600 * 10**9
    ports, _ = gateway.readings()
    assert ports[2].state is PortState.FULL and ports[2].power_w == 0
    assert ports[2].energy_wh == 1800
    assert ports[2].temperature_dc < 400


def test_gateway_seq_starts_from_the_wall_clock_when_not_given() -> None:
    start = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
    gateway = EbikeGatewaySimulator("GW-T2", "8986", "127.0.0.1", 1, clock=lambda: start)
    assert gateway.build_envelope()["seq"] == int(start.timestamp())
    assert gateway.build_envelope()["seq"] == int(start.timestamp()) + 1


def test_gateway_refuses_when_ports_or_power_are_out_of_range() -> None:
    gateway = _gateway(1)
    with pytest.raises(ValueError):
        gateway.plug_in(11)
    with pytest.raises(ValueError):
        gateway.start_charging(1, 0)
