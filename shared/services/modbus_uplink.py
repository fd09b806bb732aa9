"""The Modbus uplink: decoded RTU responses from a gateway's bus -> port readings, port
states, fault events and the site's live load.

Ports used here (adapters in ``shared/adapters/dynamodb``): ``PortReadingStore``
(SessionsTable, ``port_readings.py``), ``PortEvents`` (a hook the e-bike session side
implements; default no-op).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from shared.domain.clock import to_wire
from shared.domain.gateways import (
    BusDevice,
    DataMessage,
    FrameRef,
    GatewayConfig,
    GatewaySeen,
    RtuReading,
    decode_frame_text,
    has_valid_crc,
)
from shared.domain.modbus_decode import (
    FrameVerdict,
    ReadAnswer,
    fault_mask,
    match_answer,
    meter_values,
    port_samples,
    register_words,
    request_for,
)
from shared.domain.modbus_maps import DeviceKind, RegisterMap
from shared.domain.modbus_readings import (
    FAULT_ERROR_CODES,
    OCPP_STATUS,
    PortReading,
    PortSample,
    PortState,
    SiteLoad,
)
from shared.domain.ocpp.availability import FaultEvent, StatusReport


class PortEvents(Protocol):
    """Called by the uplink after a port reading is stored and when a port's state changes
    (by the gateway's clock: a late, older sample never changes the state)."""

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


class PortReadingStore(Protocol):
    def store(
        self,
        pile_id: str,
        at: datetime,
        samples: Mapping[int, PortSample],
        *,
        modulus: int | None = None,
        max_power_w: int | None = None,
    ) -> None:
        """Store one poll cycle of a pile (port_no -> sample); idempotent per (pile, at).
        ``modulus``/``max_power_w``: how the pile's energy counters fold (its register map).

        DynamoDB: 1 PutItem. Raises: UpstreamFailure.
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

    def record(self, seen: GatewaySeen) -> bool:
        """Stamp the gateway; False when the message is not its newest. Raises: UpstreamFailure."""

    def count_frames(
        self, gateway_id: str, day: str, counts: Mapping[str, int], at: datetime
    ) -> None:
        """ADD bad-frame counts to the gateway's day counter (1 UpdateItem).

        Raises: UpstreamFailure."""


class PortStatuses(Protocol):
    def set_gun_status(self, pile_id: str, report: StatusReport) -> object:
        """The gun/port status item the OCPP side writes. Raises: UpstreamFailure."""


class FaultRecorder(Protocol):
    def record(self, fault: FaultEvent) -> bool:
        """A fault event in FaultsTable (idempotent by fault_id). Raises: UpstreamFailure."""


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
    events: PortEvents = field(default_factory=NoPortEvents)


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
        return sum(n for verdict, n in self.verdicts.items() if verdict != FrameVerdict.GOOD)


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
    message: DataMessage,
    *,
    ports: UplinkPorts,
    now: datetime,
    local_day: str,
) -> UplinkResult:
    """One polling-gateway envelope: readings for every pile, states and faults when it is the
    gateway's newest message, the site load, bad frames counted.

    DynamoDB: 1 GetItem (gateway) + 1 PutItem per pile + 1 UpdateItem per meter + 1-2
    UpdateItem (gateway) + 1 UpdateItem (day counter, only with bad frames) + 1 UpdateItem
    per port whose state or faults changed + 1 PutItem per new fault bit.

    Raises: UpstreamFailure (the IoT rule's asynchronous invoke retries; every write is
    idempotent).
    """
    gateway_id = message.gateway_id
    config = ports.gateways.config(gateway_id) or GatewayConfig(gateway_id, {}, {})
    verdicts: Counter[str] = Counter()
    answers: dict[int, list[ReadAnswer]] = {}
    for item in message.frames:
        outcome = classify_frame(item, config, ports)
        if isinstance(outcome, FrameVerdict):
            verdicts[outcome.value] += 1
            continue
        verdicts[FrameVerdict.GOOD.value] += 1
        answers.setdefault(outcome.device.address, []).append(outcome)
    at = message.ts
    is_newest = config.states_at is None or at > config.states_at
    new_states: dict[str, str] = {}
    piles = status_writes = faults = loads = 0
    for address, device_answers in answers.items():
        device = config.devices[address]
        register_map = ports.maps[device.map_id]
        words = register_words(device_answers)
        if register_map.kind is DeviceKind.EBIKE_PILE and device.pile_id is not None:
            samples = port_samples(
                register_map, words, at=at, gateway_id=gateway_id, seq=message.seq
            )
            if not samples:
                continue
            ports.readings.store(
                device.pile_id,
                at,
                samples,
                modulus=register_map.energy_modulus_wh,
                max_power_w=register_map.max_power_w,
            )
            piles += 1
            for port_no, sample in sorted(samples.items()):
                ports.events.reading(device.pile_id, port_no, _raw_reading(sample))
            if is_newest:
                written, recorded = _apply_states(
                    device, register_map, samples, config, new_states, ports, at=at, now=now
                )
                status_writes += written
                faults += recorded
        elif register_map.kind is DeviceKind.METER and device.station_id is not None:
            values = meter_values(register_map, words, pt=device.pt, ct=device.ct)
            if "power_total" in values:
                ports.site_loads.record(_site_load(device, values, at, now, gateway_id))
                loads += 1
    merged = {**config.port_states, **new_states} if is_newest else None
    is_newest = ports.gateways.record(
        GatewaySeen(
            gateway_id,
            now,
            seq=message.seq,
            port_states=merged,
            states_at=at,
        )
    )
    bad = {verdict: n for verdict, n in verdicts.items() if verdict != FrameVerdict.GOOD.value}
    if bad:
        ports.gateways.count_frames(gateway_id, local_day, bad, now)
    return UplinkResult(dict(verdicts), is_newest, piles, status_writes, faults, loads)


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


def _apply_states(  # noqa: PLR0917 - one call site, names at the call
    device: BusDevice,
    register_map: RegisterMap,
    samples: Mapping[int, PortSample],
    config: GatewayConfig,
    new_states: dict[str, str],
    ports: UplinkPorts,
    *,
    at: datetime,
    now: datetime,
) -> tuple[int, int]:
    assert device.pile_id is not None
    written = recorded = 0
    for port_no, sample in sorted(samples.items()):
        key = f"{device.pile_id}#{port_no}"
        value = _state_value(sample, register_map)
        old = config.port_states.get(key)
        new_states[key] = value
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
            ports.events.state(device.pile_id, port_no, sample.state)
        new_bits = mask & ~old_mask
        for name in sample.faults:
            if not new_bits & fault_mask(register_map, [name]):
                continue
            stamp = to_wire(at).replace(":", "").replace("-", "").replace(".", "")
            ports.faults.record(
                FaultEvent(
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
            )
            recorded += 1
    return written, recorded


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
