"""The Modbus uplink: decoded RTU responses from a gateway's bus -> port readings, port
states, fault events and the site's live load.

Ports used here (adapters in ``shared/adapters/dynamodb``): ``PortReadingStore``
(SessionsTable, ``port_readings.py``), ``PortEvents`` (a hook the e-bike session side
implements; default no-op).
"""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from shared.domain.clock import to_wire
from shared.domain.gateways import (
    BusDevice,
    GatewayConfig,
    GatewaySeen,
    PendingRead,
    PresenceChange,
    RtuReading,
    cycles_of,
    decode_frame_text,
    has_valid_crc,
    presence_change,
)
from shared.domain.modbus_commands import WriteAnswer
from shared.domain.modbus_decode import (
    FrameVerdict,
    ReadAnswer,
    ReadRequest,
    fault_mask,
    match_answer,
    meter_values,
    port_samples,
    register_words,
    request_for,
)
from shared.domain.modbus_maps import DeviceKind, Poll, RegisterMap
from shared.domain.modbus_readings import (
    FAULT_ERROR_CODES,
    OCPP_STATUS,
    PortReading,
    PortSample,
    PortState,
    SiteLoad,
)
from shared.domain.ocpp.availability import FaultEvent, StatusReport

if TYPE_CHECKING:
    # pydantic models: loaded with the first message parsed, not at import
    from shared.domain.gateway_messages import BatchMessage, DataMessage, FrameRef, RawMessage


class PortEvents(Protocol):
    """Called by the uplink after a port reading is stored and when a port's state changes
    (by the gateway's clock: a late, older sample never changes the state), for the ports
    with a paid charge only (the gateway item's ``paid_ports``, read with the message: the
    other ports cost paid charging no lookup at all)."""

    def reading(self, pile_id: str, port_no: int, reading: PortReading) -> None:
        """A newly stored reading; ``reading.energy_wh`` is the RAW counter (Wh), not folded:
        use ``PortReadingStore.port_readings`` for energy across a wrap or reset."""

    def state(self, pile_id: str, port_no: int, state: PortState) -> None:
        """The port's current state changed to ``state``."""


class NoPortEvents:
    """The default hook: nothing listens."""

    def reading(self, pile_id: str, port_no: int, reading: PortReading) -> None:
        return None

    def state(self, pile_id: str, port_no: int, state: PortState) -> None:
        return None


class WriteAnswers(Protocol):
    """Write answers (echoes of functions 05/06/15/16, or exception responses to them) the
    bridge found in the uplink, either form: the command side confirms its commands."""

    def answer(self, answer: WriteAnswer) -> None:
        """Raises: UpstreamFailure."""


class NoWriteAnswers:
    def answer(self, answer: WriteAnswer) -> None:
        return None


WRITE_FUNCTIONS = frozenset({5, 6, 15, 16})


def write_answer_of(gateway_id: str, reading: RtuReading) -> WriteAnswer | None:
    """The write answer in a decoded response, or None when it answers a read."""
    if reading.function_code not in WRITE_FUNCTIONS:
        return None
    return WriteAnswer(
        gateway_id=gateway_id,
        device_address=reading.device_address,
        function_code=reading.function_code,
        address=reading.address if reading.exception_code is None else None,
        value=reading.value if reading.exception_code is None else None,
        exception_code=reading.exception_code,
    )


class PortReadingStore(Protocol):
    def store(
        self,
        pile_id: str,
        cycles: Sequence[tuple[datetime, Mapping[int, PortSample]]],
        *,
        modulus: int | None = None,
        max_power_w: int | None = None,
    ) -> None:
        """Store a message's poll cycles of one pile (gateway time, port_no -> sample),
        idempotently (the same cycles again write the same item). ``modulus`` and
        ``max_power_w``: how the pile's energy counters fold (its register map).

        DynamoDB: 1 PutItem per hour the cycles span. Raises: UpstreamFailure.
        """

    def port_readings(
        self, pile_id: str, port_no: int, since: datetime, until: datetime
    ) -> list[PortReading]:
        """Readings of one port with ``since <= at <= until`` (gateway time), deduplicated by
        (gateway, seq), ordered by time, energy folded to a monotonic register.

        Raises: UpstreamFailure.
        """


class RtuDecoder(Protocol):
    def decode(self, frame: bytes) -> RtuReading | None:
        """The response in a CRC-checked RTU frame, or None when it is not one."""


class UplinkGateways(Protocol):
    def config(self, gateway_id: str) -> GatewayConfig | None:
        """Bus devices and last port states (1 GetItem). Raises: UpstreamFailure."""

    def record_sim(self, pile_id: str, iccid: str, vendor: str, model: str, at: datetime) -> bool:
        """The pile's SIM record (its boot map) from its gateway's ICCID; False when the pile
        does not exist. Raises: UpstreamFailure."""

    def record(self, seen: GatewaySeen) -> bool:
        """Stamp the gateway; False when the message is not its newest. Raises: UpstreamFailure."""

    def count_frames(
        self, gateway_id: str, day: str, counts: Mapping[str, int], at: datetime
    ) -> None:
        """ADD bad-frame counts to the gateway's day counter (1 UpdateItem).

        Raises: UpstreamFailure."""


def record_sims(config: GatewayConfig, iccid: str, ports: UplinkPorts, now: datetime) -> int:
    """A gateway registered with ``iccid``: every pile on its bus rides that SIM.

    DynamoDB: 1 UpdateItem per pile on the bus. Raises: UpstreamFailure."""
    written = 0
    for device in config.devices.values():
        register_map = ports.maps.get(device.map_id)
        if device.pile_id is None or register_map is None:
            continue
        if ports.gateways.record_sim(
            device.pile_id, iccid, register_map.vendor, register_map.model, now
        ):
            written += 1
    return written


class PortStatuses(Protocol):
    def set_gun_status(self, pile_id: str, report: StatusReport) -> object:
        """The gun/port status item the OCPP side writes. Raises: UpstreamFailure."""


class FaultRecorder(Protocol):
    def record(self, fault: FaultEvent) -> bool:
        """A fault event in FaultsTable (idempotent by fault_id). Raises: UpstreamFailure."""


class BusPresence(Protocol):
    def mark_bus_online(self, pile_id: str, at: datetime) -> bool:
        """The pile item's ``is_online`` and ``last_seen_at`` (OCPP presence's fields);
        False when the pile does not exist. Raises: UpstreamFailure."""


def mark_present(config: GatewayConfig, ports: UplinkPorts, now: datetime) -> PresenceChange | None:
    """The gateway spoke: mark its bus's piles online when they were not (after a silence,
    or a pile new on the bus); the returned change goes on the gateway item with the
    message's record. Nothing is written while they are online already (every steady
    message): presence costs writes only on a change.

    DynamoDB: 1 UpdateItem per pile marked. Raises: UpstreamFailure."""
    change = presence_change(config, now)
    if change is None:
        return None
    for pile_id in sorted(change.to_mark):
        ports.presence.mark_bus_online(pile_id, now)
    return change


class SiteLoads(Protocol):
    def record(self, load: SiteLoad) -> bool:
        """The station's live load item, kept at the newest gateway timestamp.

        Raises: UpstreamFailure."""


@dataclass(frozen=True, slots=True)
class UplinkPorts:
    gateways: UplinkGateways
    decoder: RtuDecoder
    readings: PortReadingStore
    statuses: PortStatuses
    faults: FaultRecorder
    site_loads: SiteLoads
    maps: Mapping[str, RegisterMap]
    presence: BusPresence
    events: PortEvents = field(default_factory=NoPortEvents)
    write_answers: WriteAnswers = field(default_factory=NoWriteAnswers)


_NOT_BAD = frozenset({FrameVerdict.GOOD.value, FrameVerdict.WRITE_ANSWER.value})


@dataclass(frozen=True, slots=True)
class UplinkResult:
    verdicts: Mapping[str, int]  # FrameVerdict value -> frames
    is_newest: bool
    piles_stored: int = 0
    status_writes: int = 0
    faults_recorded: int = 0
    site_loads: int = 0

    @property
    def bad_frames(self) -> int:
        return sum(n for verdict, n in self.verdicts.items() if verdict not in _NOT_BAD)


def classify_frame(
    item: str | FrameRef,
    config: GatewayConfig,
    ports: UplinkPorts,
) -> ReadAnswer | FrameVerdict:
    """One frame of an envelope: base64 -> CRC (explicit: pymodbus drops a bad CRC
    silently) -> pymodbus decode -> matched against the read it answers."""
    text, ref = (item, None) if isinstance(item, str) else (item.rtu, item)
    frame = decode_frame_text(text)
    if frame is None:
        return FrameVerdict.NOT_RTU
    if not has_valid_crc(frame):
        return FrameVerdict.BAD_CRC
    reading = ports.decoder.decode(frame)
    if reading is None:
        return FrameVerdict.UNDECODABLE
    answer = write_answer_of(config.gateway_id, reading)
    if answer is not None:
        ports.write_answers.answer(answer)
        return FrameVerdict.WRITE_ANSWER
    request = None
    if ref is not None:
        request = request_for(
            config.devices.get(reading.device_address),
            ports.maps,
            start=ref.start,
            count=ref.count,
            poll_id=ref.poll,
            function=ref.fn,
        )
    return match_answer(reading, request, config.devices, ports.maps)


def _state_value(sample: PortSample, register_map: RegisterMap) -> str:
    return f"{sample.state}|{fault_mask(register_map, sample.faults)}"


def _old_state(value: str | None) -> tuple[str | None, int]:
    if value is None:
        return None, 0
    state, _, mask = value.partition("|")
    return state, int(mask) if mask.isdigit() else 0


def handle_data(
    message: DataMessage | BatchMessage,
    *,
    ports: UplinkPorts,
    now: datetime,
    local_day: str,
) -> UplinkResult:
    """One polling-gateway message (one cycle, or a batch of cycles in any order): readings
    for every pile, states and faults for the cycles newer than the gateway's newest, the
    site load of the newest cycle, bad frames counted.

    DynamoDB per message (whatever the number of cycles): 1 GetItem (gateway) + 1 PutItem
    per pile (+1 per extra hour a batch spans) + 1 UpdateItem per meter + 1-2 UpdateItem
    (gateway) + 1 UpdateItem (day counter, only with bad frames) + 1 UpdateItem per port
    state/fault change + 1 PutItem per new fault bit + 1 UpdateItem per pile marked online
    (only after a silence or when the pile joined the bus: ``mark_present``).

    Raises: UpstreamFailure (the IoT rule's asynchronous invoke retries; every write is
    idempotent).
    """
    gateway_id = message.gateway_id
    config = ports.gateways.config(gateway_id) or GatewayConfig(gateway_id, {}, {})
    verdicts: Counter[str] = Counter()
    cycles: list[tuple[int | None, datetime, list[ReadAnswer]]] = []
    for cycle in cycles_of(message):
        answers: list[ReadAnswer] = []
        for item in cycle.frames:
            outcome = classify_frame(item, config, ports)
            if isinstance(outcome, FrameVerdict):
                verdicts[outcome.value] += 1
                continue
            verdicts[FrameVerdict.GOOD.value] += 1
            answers.append(outcome)
        cycles.append((cycle.seq, cycle.ts, answers))
    applied = _apply_cycles(gateway_id, cycles, config, ports, now=now)
    last_seq, last_at, _ = cycles[-1]
    is_newest = ports.gateways.record(
        GatewaySeen(
            gateway_id,
            now,
            seq=last_seq,
            port_states=applied.states,
            states_at=last_at,
            presence=mark_present(config, ports, now),
        )
    )
    _count_bad(ports, gateway_id, local_day, verdicts, now)
    return UplinkResult(
        dict(verdicts),
        is_newest,
        applied.piles,
        applied.status_writes,
        applied.faults,
        applied.loads,
    )


def _count_bad(
    ports: UplinkPorts, gateway_id: str, local_day: str, verdicts: Mapping[str, int], now: datetime
) -> None:
    bad = {verdict: n for verdict, n in verdicts.items() if verdict not in _NOT_BAD}
    if bad:
        ports.gateways.count_frames(gateway_id, local_day, bad, now)


@dataclass(frozen=True, slots=True)
class _Applied:
    states: Mapping[str, str] | None  # the merged port states to store, None when all late
    piles: int
    status_writes: int
    faults: int
    loads: int


def _apply_cycles(
    gateway_id: str,
    cycles: Sequence[tuple[int | None, datetime, Sequence[ReadAnswer]]],
    config: GatewayConfig,
    ports: UplinkPorts,
    *,
    now: datetime,
) -> _Applied:
    """Cycles in gateway-time order -> one readings write per pile, state changes in order
    for the cycles newer than the stored state, the newest load per meter."""
    states = dict(config.port_states)
    states_at = config.states_at
    any_newer = False
    per_pile: dict[str, list[tuple[datetime, dict[int, PortSample]]]] = {}
    pile_maps: dict[str, RegisterMap] = {}
    loads: dict[int, tuple[datetime, BusDevice, dict[str, int]]] = {}
    # State changes reach ``ports.events`` once the readings are stored: a paid charge
    # that ends on a state change is measured up to the reading that showed it.
    changed: list[tuple[str, int, PortState]] = []
    late: dict[tuple[str, int], list[_LateSample]] = {}  # readings older than the state
    status_writes = faults = 0
    for seq, at, answers in cycles:
        is_newer = states_at is None or at > states_at
        by_device: dict[int, list[ReadAnswer]] = {}
        for answer in answers:
            by_device.setdefault(answer.device.address, []).append(answer)
        for address, device_answers in sorted(by_device.items()):
            device = config.devices[address]
            register_map = ports.maps[device.map_id]
            words = register_words(device_answers)
            if register_map.kind is DeviceKind.EBIKE_PILE and device.pile_id is not None:
                samples = port_samples(register_map, words, at=at, gateway_id=gateway_id, seq=seq)
                if not samples:
                    continue
                per_pile.setdefault(device.pile_id, []).append((at, samples))
                pile_maps[device.pile_id] = register_map
                if not is_newer:
                    for port_no, sample in samples.items():
                        late.setdefault((device.pile_id, port_no), []).append(
                            _LateSample(at, device, register_map, sample)
                        )
                if is_newer:
                    written, recorded = _apply_states(
                        device,
                        register_map,
                        samples,
                        states,
                        ports,
                        changed=changed,
                        at=at,
                        now=now,
                    )
                    status_writes += written
                    faults += recorded
            elif register_map.kind is DeviceKind.METER and device.station_id is not None:
                values = meter_values(register_map, words, pt=device.pt, ct=device.ct)
                if "power_total" in values and (address not in loads or loads[address][0] < at):
                    loads[address] = (at, device, values)
        if is_newer:
            states_at = at
            any_newer = True
    for pile_id, pile_cycles in per_pile.items():
        register_map = pile_maps[pile_id]
        ports.readings.store(
            pile_id,
            pile_cycles,
            modulus=register_map.energy_modulus_wh,
            max_power_w=register_map.max_power_w,
        )
        for _, samples in pile_cycles:
            for port_no, sample in sorted(samples.items()):
                if config.is_paid(pile_id, port_no):
                    ports.events.reading(pile_id, port_no, _raw_reading(sample))
    for pile_id, port_no, state in changed:
        if config.is_paid(pile_id, port_no):
            ports.events.state(pile_id, port_no, state)
    if late:
        faults += backlog_faults(late, config.port_states, ports, now)
    for at, device, values in loads.values():
        ports.site_loads.record(_site_load(device, values, at, now, gateway_id))
    return _Applied(states if any_newer else None, len(per_pile), status_writes, faults, len(loads))


# Transparent DTUs ---------------------------------------------------------------------

POLL_INTERVAL_S = 60  # a new cycle when the DTU's heartbeat comes this long after the last
READ_TIMEOUT_S = 20  # an unanswered read is given up (counted) at the next message after this
_ICCID_CHARS = frozenset(b"0123456789ABCDEFabcdef")


class DownLink(Protocol):
    def publish(self, gateway_id: str, payload: bytes) -> None:
        """Raw bytes to ``gw/{gateway_id}/down`` (QoS 1). Raises: UpstreamFailure."""


class ReadEncoder(Protocol):
    def read_request(self, address: int, function: int, start: int, count: int) -> bytes:
        """An RTU read request frame with its CRC."""


@dataclass(frozen=True, slots=True)
class Transparent:
    downlink: DownLink
    encoder: ReadEncoder


@dataclass(frozen=True, slots=True)
class RawResult:
    kind: str  # answer | register | heartbeat | write_answer
    verdicts: Mapping[str, int]
    sent: PendingRead | None  # the read sent down after this message, if any


def poll_schedule(
    config: GatewayConfig, maps: Mapping[str, RegisterMap]
) -> list[tuple[BusDevice, Poll]]:
    """The reads of one cycle: every device by address, every cycle poll of its map."""
    schedule: list[tuple[BusDevice, Poll]] = []
    for address in sorted(config.devices):
        device = config.devices[address]
        register_map = maps.get(device.map_id)
        if register_map is not None:
            schedule.extend((device, poll) for poll in register_map.polls if poll.every_cycle)
    return schedule


def is_registration(data: bytes) -> bool:
    """A DTU registration packet: the SIM's ICCID as ASCII (18-22 digits, hex F allowed)."""
    return 18 <= len(data) <= 22 and all(byte in _ICCID_CHARS for byte in data)


def handle_raw(
    message: RawMessage,
    *,
    ports: UplinkPorts,
    transparent: Transparent,
    now: datetime,
    local_day: str,
) -> RawResult:
    """One message from a transparent DTU: an RTU answer to the outstanding read (stored like
    a one-frame cycle at our clock, then the next read of the cycle goes down), a
    registration (ICCID recorded; a cycle starts), a heartbeat (a cycle starts when the last
    one began ``POLL_INTERVAL_S`` ago), or a write answer (handed to the command side).

    DynamoDB: 1 GetItem + 1 UpdateItem (gateway) + the writes of ``handle_data`` for one
    frame; IoT: at most 1 publish.

    Raises: UpstreamFailure.
    """
    gateway_id = message.gateway_id
    config = ports.gateways.config(gateway_id) or GatewayConfig(gateway_id, {}, {})
    verdicts: Counter[str] = Counter()
    data = decode_frame_text(message.raw) if message.raw else None
    pending = config.pending
    if pending is not None and (now - pending.sent_at).total_seconds() > READ_TIMEOUT_S:
        verdicts["read_timeout"] += 1
    if data is not None and has_valid_crc(data):
        reading = ports.decoder.decode(data)
        answer = write_answer_of(gateway_id, reading) if reading is not None else None
        if answer is not None:
            # a command's answer: the outstanding read is still awaited
            ports.write_answers.answer(answer)
            ports.gateways.record(
                GatewaySeen(gateway_id, now, presence=mark_present(config, ports, now))
            )
            return RawResult("write_answer", {FrameVerdict.WRITE_ANSWER.value: 1}, None)
        applied: _Applied | None = None
        if reading is None:
            verdicts[FrameVerdict.UNDECODABLE.value] += 1
        elif pending is None:
            verdicts[FrameVerdict.UNMATCHED.value] += 1
        else:
            request = ReadRequest(pending.function, pending.start, pending.count)
            outcome = match_answer(reading, request, config.devices, ports.maps)
            if reading.device_address != pending.address:
                verdicts[FrameVerdict.UNMATCHED.value] += 1
            elif isinstance(outcome, FrameVerdict):
                verdicts[outcome.value] += 1
            else:
                verdicts[FrameVerdict.GOOD.value] += 1
                applied = _apply_cycles(
                    gateway_id, [(None, now, [outcome])], config, ports, now=now
                )
        following = _next_read(config, ports, pending, now) if pending is not None else None
        return _finish(
            "answer",
            gateway_id,
            config,
            ports,
            transparent,
            verdicts,
            following,
            now,
            local_day,
            applied=applied,
        )
    if data is not None and pending is not None and data[0] == pending.address:
        # an answer from the awaited device that failed its CRC: line noise; go on
        verdicts[FrameVerdict.BAD_CRC.value] += 1
        following = _next_read(config, ports, pending, now)
        return _finish(
            "answer", gateway_id, config, ports, transparent, verdicts, following, now, local_day
        )
    raw = _bytes_of(message.raw)
    kind = "register" if is_registration(raw) else "heartbeat"
    after: PendingRead | _Keep | None = _KEEP
    if kind == "register":
        after = _first_read(config, ports, now)  # a DTU that (re)connected: a fresh cycle
        record_sims(config, raw.decode("ascii"), ports, now)
    elif pending is not None and verdicts["read_timeout"]:
        after = _next_read(config, ports, pending, now)
    elif pending is None and (
        config.cycle_started_at is None
        or (now - config.cycle_started_at).total_seconds() >= POLL_INTERVAL_S - 5
    ):
        after = _first_read(config, ports, now)
    return _finish(
        kind,
        gateway_id,
        config,
        ports,
        transparent,
        verdicts,
        after,
        now,
        local_day,
        iccid=raw.decode("ascii") if kind == "register" else None,
    )


def _bytes_of(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return b""


class _Keep:
    """``_finish``: leave the outstanding read as it is."""


_KEEP = _Keep()


def _first_read(config: GatewayConfig, ports: UplinkPorts, now: datetime) -> PendingRead | None:
    schedule = poll_schedule(config, ports.maps)
    if not schedule:
        return None
    device, poll = schedule[0]
    return PendingRead(device.address, poll.function, poll.start, poll.count, 0, now, now)


def _next_read(
    config: GatewayConfig, ports: UplinkPorts, pending: PendingRead, now: datetime
) -> PendingRead | None:
    schedule = poll_schedule(config, ports.maps)
    index = pending.index + 1
    if index >= len(schedule):
        return None  # the cycle is complete; the next heartbeat after the interval starts one
    device, poll = schedule[index]
    return PendingRead(
        device.address,
        poll.function,
        poll.start,
        poll.count,
        index,
        now,
        pending.cycle_started_at,
    )


def _finish(  # noqa: PLR0917 - the one exit of handle_raw
    kind: str,
    gateway_id: str,
    config: GatewayConfig,
    ports: UplinkPorts,
    transparent: Transparent,
    verdicts: Counter[str],
    following: PendingRead | _Keep | None,
    now: datetime,
    local_day: str,
    *,
    applied: _Applied | None = None,
    iccid: str | None = None,
) -> RawResult:
    sent = following if isinstance(following, PendingRead) else None
    if sent is not None:
        frame = transparent.encoder.read_request(
            sent.address, sent.function, sent.start, sent.count
        )
        transparent.downlink.publish(gateway_id, frame)
    ports.gateways.record(
        GatewaySeen(
            gateway_id,
            now,
            iccid=iccid,
            port_states=applied.states if applied is not None else None,
            states_at=now if applied is not None and applied.states is not None else None,
            set_pending=not isinstance(following, _Keep),
            pending=sent,
            presence=mark_present(config, ports, now),
        )
    )
    _count_bad(ports, gateway_id, local_day, verdicts, now)
    return RawResult(kind, dict(verdicts), sent)


def _raw_reading(sample: PortSample) -> PortReading:
    return PortReading(
        at=sample.at,
        energy_wh=sample.energy_raw,
        power_w=sample.power_w,
        voltage_dv=sample.voltage_dv,
        current_ma=sample.current_ma,
        temperature_dc=sample.temperature_dc,
        state=sample.state,
        stop_reason=sample.stop_reason,
        faults=sample.faults,
    )


def _apply_states(
    device: BusDevice,
    register_map: RegisterMap,
    samples: Mapping[int, PortSample],
    states: dict[str, str],
    ports: UplinkPorts,
    *,
    changed: list[tuple[str, int, PortState]],
    at: datetime,
    now: datetime,
) -> tuple[int, int]:
    assert device.pile_id is not None
    written = recorded = 0
    for port_no, sample in sorted(samples.items()):
        key = f"{device.pile_id}#{port_no}"
        value = _state_value(sample, register_map)
        old = states.get(key)
        states[key] = value
        if value == old:
            continue
        old_state, old_mask = _old_state(old)
        mask = fault_mask(register_map, sample.faults)
        ports.statuses.set_gun_status(
            device.pile_id,
            StatusReport(
                gun_no=port_no,
                status=OCPP_STATUS[sample.state],
                error_code=_error_code(sample.faults) if sample.faults else None,
                vendor_error_code=",".join(sample.faults) or None,
                info=sample.stop_reason if sample.stop_reason != "none" else None,
                reported_at=at,
                received_at=now,
            ),
        )
        written += 1
        if old_state != sample.state.value:
            changed.append((device.pile_id, port_no, sample.state))
        new_bits = mask & ~old_mask
        for name in sample.faults:
            if not new_bits & fault_mask(register_map, [name]):
                continue
            ports.faults.record(_fault_event(device, port_no, name, at, now))
            recorded += 1
    return written, recorded


def _fault_event(
    device: BusDevice, port_no: int, name: str, at: datetime, now: datetime
) -> FaultEvent:
    """A fault bit's rise, reported at the gateway time of the reading that showed it; the
    id is that reading's (pile, port, bit, gateway time), so the same rise seen again (a
    replayed message, a backlog) is the same event."""
    assert device.pile_id is not None
    stamp = to_wire(at).replace(":", "").replace("-", "").replace(".", "")
    return FaultEvent(
        fault_id=f"mb-{device.pile_id}-{port_no}-{name}-{stamp}",
        pile_id=device.pile_id,
        operator_id=device.operator_id,
        station_id=device.station_id,
        gun_no=port_no,
        error_code=FAULT_ERROR_CODES.get(name, "OtherError"),
        vendor_error_code=name,
        info=f"modbus fault bit {name}",
        reported_at=at,
        created_at=now,
    )


BACKLOG_LOOKBACK = timedelta(hours=1)  # how far back a backlog's first reading is compared


@dataclass(frozen=True, slots=True)
class _LateSample:
    at: datetime
    device: BusDevice
    register_map: RegisterMap
    sample: PortSample


def backlog_faults(
    late: Mapping[tuple[str, int], Sequence[_LateSample]],
    stored_states: Mapping[str, str],
    ports: UplinkPorts,
    now: datetime,
) -> int:
    """Fault bits that rose inside a late backlog (readings older than the port's stored
    state, which they never change): each rise, a bit set in a reading and not in the one
    before it (in the backlog, or for its first reading the port's stored reading before
    it, within ``BACKLOG_LOOKBACK``), becomes a fault event at that reading's gateway time.
    A bit still set at the end of the backlog and set in the stored state is the fault the
    newer messages raised already: not raised again. Clearing closes nothing (fault events
    have no close; OCPP's do not either). Returns the events recorded (idempotent ids: a
    replayed backlog records nothing new).

    DynamoDB: 1 PutItem per rise; 1 Query per port whose first backlog reading has a bit
    set."""
    recorded = 0
    for (pile_id, port_no), samples in sorted(late.items()):
        ordered = sorted(samples, key=lambda entry: entry.at)
        _, stored_mask = _old_state(stored_states.get(f"{pile_id}#{port_no}"))
        masks = [fault_mask(entry.register_map, entry.sample.faults) for entry in ordered]
        previous = 0
        if masks[0]:
            # A bit set in the backlog's first reading: rose there, or earlier in a part
            # of the backlog stored before (its readings tell: 1 Query, only in this case).
            first = ordered[0]
            before = [
                reading
                for reading in ports.readings.port_readings(
                    pile_id, port_no, first.at - BACKLOG_LOOKBACK, first.at
                )
                if reading.at < first.at
            ]
            if before:
                previous = fault_mask(first.register_map, before[-1].faults)
        for index, entry in enumerate(ordered):
            rising = masks[index] & ~previous
            previous = masks[index]
            for name in entry.sample.faults:
                bit = fault_mask(entry.register_map, [name])
                if not rising & bit:
                    continue
                lasts = all(mask & bit for mask in masks[index:])
                if lasts and stored_mask & bit:
                    continue  # the ongoing fault: raised when it reached the stored state
                if ports.faults.record(_fault_event(entry.device, port_no, name, entry.at, now)):
                    recorded += 1
    return recorded


def _error_code(faults: Sequence[str]) -> str:
    return FAULT_ERROR_CODES.get(faults[0], "OtherError")


def _site_load(
    device: BusDevice, values: Mapping[str, int], at: datetime, now: datetime, gateway_id: str
) -> SiteLoad:
    assert device.station_id is not None

    def triple(prefix: str) -> tuple[int, int, int] | None:
        found = [values.get(f"{prefix}_{phase}") for phase in "abc"]
        if any(value is None for value in found):
            return None
        return (int(found[0] or 0), int(found[1] or 0), int(found[2] or 0))

    return SiteLoad(
        station_id=device.station_id,
        at=at,
        received_at=now,
        gateway_id=gateway_id,
        power_w=values["power_total"],
        energy_import_wh=values.get("energy_import"),
        current_ma=triple("current"),
        voltage_dv=triple("voltage"),
    )
