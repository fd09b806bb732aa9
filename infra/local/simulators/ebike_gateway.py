"""A simulated 4G DTU gateway in front of a 10-port e-bike pile and an Acrel ADL400 site meter.

It is a real MQTT client (paho-mqtt) publishing up and hearing ``gw/{gateway_id}/down``, in
one of two forms:

- ``mode="envelope"`` (a gateway that polls its bus itself), on ``gw/{gateway_id}/up``: on
  every (re)connect a registration ``{"type": "register", "iccid": "..."}``; every
  ``report_interval_s`` an envelope ``{"seq": n, "ts": "<RFC 3339>", "frames":
  [{"rtu": "<base64>", "poll": id}, ...]}`` holding the read responses of one poll cycle
  (every poll of the pile's and the meter's register map, ``shared/domain/register_maps``);
  ``{"type": "heartbeat"}`` only when nothing else went out for ``heartbeat_interval_s``.
  ``seq`` grows by one per envelope and starts from the wall clock in seconds, so it keeps
  growing across restarts, as a counter kept in flash would.
- ``mode="transparent"`` (a plain DTU), on ``gw/{gateway_id}/raw``: raw bytes only, the
  ICCID in ASCII as its registration packet on every connect, ``heartbeat_payload`` as its
  heartbeat, no polling of its own: the platform sends read requests down, one at a time
  per bus.

Commands: whatever arrives on the down topic is written to the bus as a transparent DTU
does. The pile obeys writes to its ports' control block (``control`` in its map: command
start/stop, power limit W, time limit min, energy limit Wh): a start switches a plugged
port on at its charger's draw (capped by the power limit), the time and energy limits
switch it off by themselves (``stop_reason`` time_limit / energy_limit), a stop leaves it
plugged (remote_stop). It answers a write with its echo, a write to any other register
with exception 02 (03 for a bad value), a read (03) with the registers; frames for other
device addresses or with a bad CRC get no answer (RS485 stays silent). Answers go up at
once: raw (transparent) or as a bare base64 frame in an envelope of their own.

Store and forward: while the broker is unreachable, or between ``go_offline()`` and
``go_online()``, envelopes queue (up to a day's worth) and the down topic is not heard;
``go_online(shuffle=..., repeat_fraction=...)`` replays the backlog, optionally out of
order and with repeats, as replays after an outage may arrive.

Drive the ports from any thread: ``plug_in``, ``start_charging``, ``stop_charging``,
``unplug``, ``fault``, ``recover``.

Time: ``speed`` (default 1) runs the pile's and the meter's own clock that many times
faster than the wall clock: energy counters, charge timers and the time and energy limits
move ``speed`` x as fast while powers stay realistic (a 300 W charger at ``speed=120``
counts 10 Wh a second), so tests and demos reach a target in seconds. Envelope times
(``ts``) stay the wall clock.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from infra.local.simulators.modbus_frames import (
    ControlValues,
    MeterReading,
    PortFault,
    PortReading,
    PortState,
    RtuRequest,
    StopReason,
    decode_request,
    exception_frame,
    meter_registers,
    pile_map,
    pile_registers,
    poll_frames,
    read_response_frame,
    read_words,
    write_echo_frame,
)
from shared.domain.clock import system_clock, to_wire

log = logging.getLogger("charging_cloud.simulators.gateway")

BACKLOG_LIMIT = 1440  # a day of envelopes at one a minute
AMBIENT_DC = 250  # 25.0 degC
MAINS_DV = 2200  # 220.0 V (Chinese single-phase mains)
DEFAULT_DRAW_W = 400  # an e-bike charger's usual draw
MAX_PORT_POWER_W = 3_000
ILLEGAL_DATA_ADDRESS = 2
ILLEGAL_DATA_VALUE = 3
MS_PER_MIN = 60_000
MAX_SPEED = 3_600.0  # an hour a second
GatewayMode = Literal["envelope", "transparent"]
Message = dict[str, Any] | bytes


@dataclass(slots=True)
class _Port:
    state: PortState = PortState.IDLE
    power_w: int = 0
    energy_mws: int = 0  # milliwatt-seconds, so no energy is lost between polls
    temperature_dc: int = AMBIENT_DC
    fault_bits: PortFault = PortFault.NONE
    stop_reason: StopReason = StopReason.NONE
    draw_w: int = DEFAULT_DRAW_W  # what the plugged charger draws when switched on
    power_limit_w: int = 0  # 0 = the pile's default (no cap)
    time_limit_min: int = 0  # 0 = none
    energy_limit_wh: int = 0  # 0 = none
    charge_ms: int = 0  # time charged since switched on
    charge_mws: int = 0  # energy charged since switched on


@dataclass(slots=True)
class GatewayStats:
    connects: int = 0
    registrations: int = 0
    heartbeats: int = 0
    envelopes_published: int = 0
    last_seq: int | None = None
    commands_received: int = 0
    answers_sent: int = 0


class EbikeGatewaySimulator:
    """One gateway: ``run(stop_event)`` blocks, publishing until the event is set."""

    def __init__(
        self,
        gateway_id: str,
        iccid: str,
        mqtt_host: str,
        mqtt_port: int,
        *,
        pile_address: int = 1,
        meter_address: int = 2,
        report_interval_s: float = 60.0,
        heartbeat_interval_s: float = 300.0,
        site_base_load_w: int = 60_000,
        meter_start_wh: int = 8_000_000,
        first_seq: int | None = None,
        clock: Callable[[], datetime] = system_clock,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
        rng: random.Random | None = None,
        mode: GatewayMode = "envelope",
        heartbeat_payload: bytes = b"HB",
        speed: float = 1.0,
    ) -> None:
        """``monotonic_ns`` paces energy counting (tests pass a fake); ``speed`` runs the
        devices' clock that many times faster than it."""
        if report_interval_s <= 0 or heartbeat_interval_s <= 0:
            raise ValueError("intervals must be positive")
        if not 0 < speed <= MAX_SPEED:
            raise ValueError(f"speed must be in (0, {MAX_SPEED}]")
        self.gateway_id = gateway_id
        self.iccid = iccid
        self.mode: GatewayMode = mode
        # Transparent DTUs send binary on their own topic (the rule base64-encodes it).
        self.topic = f"gw/{gateway_id}/{'raw' if mode == 'transparent' else 'up'}"
        self.down_topic = f"gw/{gateway_id}/down"
        self.stats = GatewayStats()
        self.listening = threading.Event()  # subscribed to the down topic
        self._host = mqtt_host
        self._port = mqtt_port
        self._pile_address = pile_address
        self._meter_address = meter_address
        self._report_interval_s = report_interval_s
        self._heartbeat_interval_s = heartbeat_interval_s
        self._heartbeat_payload = heartbeat_payload
        self._site_base_load_w = site_base_load_w
        self._clock = clock
        self._monotonic_ns = monotonic_ns
        self._speed = speed
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        the_map = pile_map()
        assert the_map.ports is not None and the_map.control is not None
        self._control = the_map.control
        self._ports = [_Port() for _ in range(the_map.ports.count)]
        self._meter_mws = meter_start_wh * 3_600_000
        self._last_advance_ns = monotonic_ns()
        self._next_seq = first_seq if first_seq is not None else int(clock().timestamp())
        self._backlog: deque[dict[str, Any]] = deque(maxlen=BACKLOG_LIMIT)
        self._answers: deque[bytes] = deque()
        self._connected = threading.Event()
        self._offline = threading.Event()
        self._last_publish = time.monotonic()

    # -- driving the ports (any thread) -------------------------------------------------

    @property
    def port_count(self) -> int:
        return len(self._ports)

    def plug_in(self, port_no: int, draw_w: int = DEFAULT_DRAW_W) -> None:
        """A charger is plugged in; it draws ``draw_w`` once the port is switched on."""
        _check_power(draw_w)
        with self._lock:
            self._advance()
            port = self._port_at(port_no)
            self._set(port, PortState.PLUGGED, 0)
            port.fault_bits = PortFault.NONE
            port.draw_w = draw_w

    def start_charging(self, port_no: int, power_w: int) -> None:
        """The port charges at ``power_w`` (as if started at the pile itself)."""
        _check_power(power_w)
        with self._lock:
            self._advance()
            port = self._port_at(port_no)
            port.draw_w = power_w
            port.fault_bits = PortFault.NONE
            self._switch_on(port)

    def stop_charging(self, port_no: int) -> None:
        """Charging ends (battery full), the charger is still plugged."""
        with self._lock:
            self._advance()
            self._set(self._port_at(port_no), PortState.FULL, 0, StopReason.FULL)

    def unplug(self, port_no: int) -> None:
        with self._lock:
            self._advance()
            port = self._port_at(port_no)
            was_charging = port.state is PortState.CHARGING
            self._set(port, PortState.IDLE, 0, StopReason.UNPLUGGED if was_charging else None)
            port.fault_bits = PortFault.NONE

    def fault(self, port_no: int, bits: PortFault = PortFault.OVER_TEMPERATURE) -> None:
        with self._lock:
            self._advance()
            port = self._port_at(port_no)
            self._set(port, PortState.FAULTED, 0, StopReason.FAULT)
            port.fault_bits = bits

    def recover(self, port_no: int) -> None:
        with self._lock:
            self._advance()
            port = self._port_at(port_no)
            self._set(port, PortState.IDLE, 0)
            port.fault_bits = PortFault.NONE

    def port_state(self, port_no: int) -> PortState:
        with self._lock:
            self._advance()
            return self._port_at(port_no).state

    def port_limits(self, port_no: int) -> ControlValues:
        """The port's control registers as last written (0 = none)."""
        with self._lock:
            return _controls_of(self._port_at(port_no))

    def _port_at(self, port_no: int) -> _Port:
        if not 1 <= port_no <= len(self._ports):
            raise ValueError("no such port")
        return self._ports[port_no - 1]

    @staticmethod
    def _set(port: _Port, state: PortState, power_w: int, reason: StopReason | None = None) -> None:
        port.state = state
        port.power_w = power_w
        if reason is not None:
            port.stop_reason = reason

    @staticmethod
    def _switch_on(port: _Port) -> None:
        port.state = PortState.CHARGING
        port.power_w = _draw_of(port)
        port.stop_reason = StopReason.NONE
        port.charge_ms = 0
        port.charge_mws = 0

    # -- readings and envelopes ---------------------------------------------------------

    def _advance(self) -> None:
        """Integrate energy, run the ports' own limits and drift temperatures up to now
        (caller holds the lock)."""
        now_ns = self._monotonic_ns()
        elapsed_ns = max(0, now_ns - self._last_advance_ns)
        elapsed_ms = int(elapsed_ns * self._speed) // 1_000_000
        self._last_advance_ns = now_ns
        pile_w = 0
        for port in self._ports:
            if port.state is PortState.CHARGING:
                pile_w += port.power_w
                self._charge(port, elapsed_ms)
                target_dc = AMBIENT_DC + port.power_w // 20
            elif port.state is PortState.FAULTED and port.fault_bits & PortFault.OVER_TEMPERATURE:
                target_dc = 780
            else:
                target_dc = AMBIENT_DC
            port.temperature_dc += (target_dc - port.temperature_dc) // 4
        self._meter_mws += (self._site_base_load_w + pile_w) * elapsed_ms

    @staticmethod
    def _charge(port: _Port, elapsed_ms: int) -> None:
        """Charge for ``elapsed_ms`` unless a limit switches the port off first (exactly at
        the limit: the pile's own timer and energy counter, not the poll, decide)."""
        charged_ms = elapsed_ms
        reason: StopReason | None = None
        if port.time_limit_min:
            left_ms = max(0, port.time_limit_min * MS_PER_MIN - port.charge_ms)
            if left_ms <= charged_ms:
                charged_ms, reason = left_ms, StopReason.TIME_LIMIT
        if port.energy_limit_wh and port.power_w:
            left_mws = max(0, port.energy_limit_wh * 3_600_000 - port.charge_mws)
            left_ms = -(-left_mws // port.power_w)
            if left_ms <= charged_ms:
                charged_ms, reason = left_ms, StopReason.ENERGY_LIMIT
        port.energy_mws += port.power_w * charged_ms
        port.charge_mws += port.power_w * charged_ms
        port.charge_ms += charged_ms
        if reason is not None:
            port.state = PortState.PLUGGED
            port.power_w = 0
            port.stop_reason = reason

    def readings(self) -> tuple[list[PortReading], MeterReading]:
        """Register-level readings as of now (power and voltage jitter like a real meter)."""
        with self._lock:
            self._advance()
            voltage_dv = MAINS_DV + self._rng.randint(-30, 30)
            ports: list[PortReading] = []
            for port in self._ports:
                power_w = port.power_w
                if port.state is PortState.CHARGING:
                    power_w = max(1, power_w + self._rng.randint(-power_w // 30, power_w // 30))
                ports.append(
                    PortReading(
                        voltage_dv=voltage_dv,
                        current_ma=power_w * 10_000 // voltage_dv,
                        power_w=power_w,
                        energy_wh=port.energy_mws // 3_600_000,
                        temperature_dc=port.temperature_dc,
                        state=port.state,
                        fault_bits=port.fault_bits,
                        stop_reason=port.stop_reason,
                        elapsed_s=port.charge_ms // 1000 if port.state is PortState.CHARGING else 0,
                    )
                )
            meter = self._meter_reading(sum(p.power_w for p in ports))
        return ports, meter

    def _controls(self) -> list[ControlValues]:
        with self._lock:
            return [_controls_of(port) for port in self._ports]

    def _meter_reading(self, pile_w: int) -> MeterReading:
        hour = self._clock().hour
        # Residential load swings over the day; the pile sits on phase A.
        swing = int(self._site_base_load_w * 0.25 * math.sin(hour / 24 * 2 * math.pi))
        phase_w = (self._site_base_load_w + swing) // 3
        power = (
            phase_w + pile_w + self._rng.randint(-500, 500),
            phase_w + self._rng.randint(-500, 500),
            phase_w + self._rng.randint(-500, 500),
        )
        voltage = tuple(MAINS_DV + self._rng.randint(-20, 20) for _ in range(3))
        current = tuple(max(0, p) * 10_000 // v for p, v in zip(power, voltage, strict=True))
        return MeterReading(
            voltage_dv=(voltage[0], voltage[1], voltage[2]),
            current_ma=(current[0], current[1], current[2]),
            power_w=power,
            energy_wh=self._meter_mws // 3_600_000,
        )

    def build_envelope(self) -> dict[str, Any]:
        """The next uplink envelope (takes the next ``seq``)."""
        ports, meter = self.readings()
        frames = poll_frames(
            self._pile_address, ports, self._meter_address, meter, self._controls()
        )
        return self._envelope(
            [{"rtu": _b64(polled.frame), "poll": polled.poll_id} for polled in frames]
        )

    def _envelope(self, frames: list[Any]) -> dict[str, Any]:
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
        return {"seq": seq, "ts": to_wire(self._clock()), "frames": frames}

    # -- commands from the down topic -----------------------------------------------------

    def handle_down(self, frame: bytes) -> bytes | None:
        """What the bus answers to one request frame (None: no device answers)."""
        request = decode_request(frame)
        if request is None:
            return None
        if request.device_address == self._meter_address and request.function == 3:
            _, meter = self.readings()
            return self._read_answer(request, meter_registers(meter))
        if request.device_address != self._pile_address:
            return None
        if request.function == 3:
            ports, _ = self.readings()
            return self._read_answer(request, pile_registers(ports, self._controls()))
        with self._lock:
            self._advance()
            writes = self._control_writes(request)
            if writes is None:
                return exception_frame(
                    request.device_address, request.function, ILLEGAL_DATA_ADDRESS
                )
            if any(not _is_valid(name, value) for _, name, value in writes):
                return exception_frame(request.device_address, request.function, ILLEGAL_DATA_VALUE)
            # Limits first, the command last: a start in one frame runs with its limits.
            for port, name, value in sorted(writes, key=lambda w: w[1] == "command"):
                self._apply(port, name, value)
        return write_echo_frame(request)

    @staticmethod
    def _read_answer(request: RtuRequest, words: dict[int, int]) -> bytes:
        read = read_words(words, request.address, request.count)
        if read is None:
            return exception_frame(request.device_address, 3, ILLEGAL_DATA_ADDRESS)
        return read_response_frame(request.device_address, read)

    def _control_writes(self, request: RtuRequest) -> list[tuple[_Port, str, int]] | None:
        """(port, register name, value) per register written; None when one is not a
        control register."""
        control = self._control
        names = {register.offset: register.name for register in control.registers}
        writes: list[tuple[_Port, str, int]] = []
        for index, value in enumerate(request.values):
            offset = request.address + index - control.block_start
            port_index, field = divmod(offset, control.block_size)
            name = names.get(field)
            if offset < 0 or name is None or port_index >= len(self._ports):
                return None
            writes.append((self._ports[port_index], name, value))
        return writes

    def _apply(self, port: _Port, name: str, value: int) -> None:
        if name == "power_limit":
            port.power_limit_w = value
            if port.state is PortState.CHARGING:
                port.power_w = _draw_of(port)
        elif name == "time_limit":
            port.time_limit_min = value
        elif name == "energy_limit":
            port.energy_limit_wh = value
        elif value == self._control.value("command", "start"):
            if port.state in (PortState.PLUGGED, PortState.FULL):
                self._switch_on(port)
        elif value == self._control.value("command", "stop") and port.state is PortState.CHARGING:
            self._set(port, PortState.PLUGGED, 0, StopReason.REMOTE_STOP)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: Any) -> None:
        if self._offline.is_set():
            return  # the 4G link is down: the command never reaches the bus
        self.stats.commands_received += 1
        answer = self.handle_down(bytes(message.payload))
        if answer is not None:
            self._answers.append(answer)

    # -- store and forward ----------------------------------------------------------------

    def go_offline(self) -> None:
        """The 4G link drops: envelopes stay in the backlog, commands are not heard."""
        self._offline.set()

    def go_online(self, *, shuffle: bool = False, repeat_fraction: float = 0.0) -> None:
        """The link is back: the backlog goes out, shuffled and with a share of repeats
        when asked."""
        with self._lock:
            backlog = list(self._backlog)
            repeats = [e for e in backlog if self._rng.random() < repeat_fraction]
            backlog.extend(repeats)
            if shuffle:
                self._rng.shuffle(backlog)
            self._backlog = deque(backlog, maxlen=BACKLOG_LIMIT + len(repeats))
        self._offline.clear()

    def queue_envelope(self) -> dict[str, Any]:
        """Build the next envelope and queue it now (outside the poll timer)."""
        envelope = self.build_envelope()
        self._backlog.append(envelope)
        return envelope

    @property
    def backlog_size(self) -> int:
        return len(self._backlog)

    # -- MQTT ---------------------------------------------------------------------------

    def run(self, stop_event: threading.Event) -> None:
        """Connect (retrying forever), report until ``stop_event`` is set, then disconnect."""
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.gateway_id,
            protocol=mqtt.MQTTv311,
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = lambda *_: self.listening.set()
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.connect_async(self._host, self._port, keepalive=60)
        client.loop_start()
        next_report = time.monotonic()
        try:
            while not stop_event.is_set():
                now = time.monotonic()
                if now >= next_report:
                    if self.mode == "envelope":
                        self._backlog.append(self.build_envelope())
                    next_report += self._report_interval_s
                if self._connected.is_set() and not self._offline.is_set():
                    self._send_answers(client)
                    self._flush(client)
                    if time.monotonic() - self._last_publish >= self._heartbeat_interval_s:
                        self._publish(client, self._heartbeat())
                        self.stats.heartbeats += 1
                stop_event.wait(max(0.02, min(next_report - time.monotonic(), 0.05)))
        finally:
            self._connected.clear()
            client.disconnect()
            client.loop_stop()

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: Any, _props: Any
    ) -> None:
        if reason_code.is_failure:
            log.warning("gateway %s refused by the broker: %s", self.gateway_id, reason_code)
            return
        self.stats.connects += 1
        client.subscribe(self.down_topic, qos=1)
        registration: Message = {"type": "register", "iccid": self.iccid}
        if self.mode == "transparent":
            registration = self.iccid.encode("ascii")
        self._publish(client, registration)
        self.stats.registrations += 1
        self._connected.set()
        log.info("gateway %s connected", self.gateway_id)

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, _reason: Any, _props: Any
    ) -> None:
        self._connected.clear()
        self.listening.clear()
        log.info("gateway %s disconnected", self.gateway_id)

    def _heartbeat(self) -> Message:
        return self._heartbeat_payload if self.mode == "transparent" else {"type": "heartbeat"}

    def _send_answers(self, client: mqtt.Client) -> None:
        """Answers to commands go up at once: raw (transparent) or in their own envelope."""
        while self._answers:
            frame = self._answers.popleft()
            if self.mode == "transparent":
                self._publish(client, frame)
            else:
                self._backlog.append(self._envelope([_b64(frame)]))
            self.stats.answers_sent += 1

    def _flush(self, client: mqtt.Client) -> None:
        while self._backlog and self._connected.is_set() and not self._offline.is_set():
            envelope = self._backlog[0]
            if not self._publish(client, envelope):
                return
            self._backlog.popleft()
            self.stats.envelopes_published += 1
            self.stats.last_seq = envelope["seq"]

    def _publish(self, client: mqtt.Client, message: Message) -> bool:
        payload = (
            message if isinstance(message, bytes) else json.dumps(message, separators=(",", ":"))
        )
        info = client.publish(self.topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return False
        self._last_publish = time.monotonic()
        return True


def _b64(frame: bytes) -> str:
    return base64.b64encode(frame).decode("ascii")


def _check_power(power_w: int) -> None:
    if not 0 < power_w <= 2_000:
        raise ValueError("an e-bike port draws 1..2000 W")


def _draw_of(port: _Port) -> int:
    if port.power_limit_w:
        return max(1, min(port.draw_w, port.power_limit_w))
    return port.draw_w


def _is_valid(name: str, value: int) -> bool:
    if name == "command":
        return value in (1, 2)
    if name == "power_limit":
        return value <= MAX_PORT_POWER_W
    return True


def _controls_of(port: _Port) -> ControlValues:
    return ControlValues(port.power_limit_w, port.time_limit_min, port.energy_limit_wh)
