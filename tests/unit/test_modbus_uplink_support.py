"""Builders and in-memory fakes for the Modbus uplink tests (no tests here).

Frames are built with pymodbus exactly as a device sends them (address, function, byte
count, registers, CRC); port blocks are laid out from the register map file, so a change
of the map is a change of what these frames hold.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ExceptionResponse
from pymodbus.pdu.register_message import ReadHoldingRegistersResponse, ReadInputRegistersResponse

from functions.modbus_bridge.rtu import PymodbusRtuDecoder
from shared.domain.gateways import BusDevice, GatewayConfig, GatewaySeen, PendingRead
from shared.domain.modbus_maps import RegisterMap, encode_port_registers, register_map
from shared.domain.modbus_readings import PortReading, PortSample, PortState, SiteLoad, fold_samples
from shared.domain.ocpp.availability import FaultEvent, StatusReport
from shared.services.modbus_uplink import UplinkPorts

EBIKE = "cc-ebike-10"
ADL400 = "acrel-adl400"
PILE_ADDRESS = 1
METER_ADDRESS = 2


def the_map(map_id: str) -> RegisterMap:
    found = register_map(map_id)
    assert found is not None
    return found


@dataclass(frozen=True)
class Port:
    """One port as a test drives it (integer units in the names)."""

    energy_raw: int = 0
    power_w: int = 0
    voltage_dv: int = 2200
    current_ma: int = 0
    temperature_dc: int = 250
    state: str = "idle"
    stop_reason: str = "none"
    faults: tuple[str, ...] = ()


def port_registers(ports: Sequence[Port]) -> list[int]:
    """The pile's port blocks, built with the map's own encoder."""
    return encode_port_registers(
        the_map(EBIKE),
        [
            {
                "voltage": port.voltage_dv,
                "current": port.current_ma,
                "power": port.power_w,
                "energy": port.energy_raw,
                "temperature": port.temperature_dc,
                "state": port.state,
                "stop_reason": port.stop_reason,
                "faults": port.faults,
            }
            for port in ports
        ],
    )


def rtu(address: int, registers: Sequence[int], function: int = 3) -> bytes:
    response: Any = (ReadInputRegistersResponse if function == 4 else ReadHoldingRegistersResponse)(
        dev_id=address, registers=list(registers)
    )
    frame: bytes = FramerRTU(DecodePDU(is_server=True)).buildFrame(response)
    return frame


def exception_rtu(address: int, function: int, code: int) -> bytes:
    frame: bytes = FramerRTU(DecodePDU(is_server=True)).buildFrame(
        ExceptionResponse(function, code, device_id=address)
    )
    return frame


def b64(frame: bytes) -> str:
    return base64.b64encode(frame).decode()


def pile_frame(ports: Sequence[Port], address: int = PILE_ADDRESS) -> dict[str, Any]:
    return {"rtu": b64(rtu(address, port_registers(ports))), "poll": "ports"}


def meter_frames(
    power_w: int, energy_wh: int, address: int = METER_ADDRESS
) -> list[dict[str, Any]]:
    """ADL400 secondary registers: energy in 0.01 kWh, power in W (int32), V/I."""
    energy = [0] * 12
    energy[0], energy[1] = (energy_wh // 10) >> 16, (energy_wh // 10) & 0xFFFF
    energy[10], energy[11] = energy[0], energy[1]
    raw_power = power_w & 0xFFFF_FFFF
    power = [0, 0, 0, 0, 0, 0, raw_power >> 16, raw_power & 0xFFFF]
    vi = [2200, 2210, 2190, 1000, 1100, 1200]
    return [
        {"rtu": b64(rtu(address, energy)), "poll": "energy"},
        {"rtu": b64(rtu(address, vi)), "start": 97, "count": 6},
        {"rtu": b64(rtu(address, power)), "poll": "power"},
    ]


def devices(pt: int = 1, ct: int = 1) -> dict[int, BusDevice]:
    return {
        PILE_ADDRESS: BusDevice(PILE_ADDRESS, EBIKE, "op-1", station_id="st-1", pile_id="EB-1"),
        METER_ADDRESS: BusDevice(METER_ADDRESS, ADL400, "op-1", station_id="st-1", pt=pt, ct=ct),
    }


class FakeGateways:
    def __init__(self, bus: Mapping[int, BusDevice]) -> None:
        self.devices = dict(bus)
        self.states: dict[str, str] = {}
        self.states_at: datetime | None = None
        self.last_seq: int | None = None
        self.iccid: str | None = None
        self.counts: dict[str, int] = {}
        self.seen = 0
        self.pending: PendingRead | None = None
        self.cycle_started_at: datetime | None = None
        self.sims: dict[str, str] = {}
        self.presence_due: datetime | None = None
        self.present_piles: frozenset[str] = frozenset()
        self.offline_after_s: int | None = None
        self.paid_ports: dict[str, str] = {}
        self.due_moves = 0  # presence due times written (each a keys-only index write)

    def config(self, gateway_id: str) -> GatewayConfig | None:
        return GatewayConfig(
            gateway_id,
            dict(self.devices),
            dict(self.states),
            self.states_at,
            pending=self.pending,
            cycle_started_at=self.cycle_started_at,
            presence_due=self.presence_due,
            present_piles=self.present_piles,
            offline_after_s=self.offline_after_s,
            paid_ports=dict(self.paid_ports),
        )

    def record(self, seen: GatewaySeen) -> bool:
        self.seen += 1
        if seen.iccid is not None:
            self.iccid = seen.iccid
        if seen.presence is not None:
            self.present_piles = seen.presence.present
            if seen.presence.due is not None:
                self.presence_due = seen.presence.due
                self.due_moves += 1
        if seen.set_pending:
            self.pending = seen.pending
            if seen.pending is not None and seen.pending.index == 0:
                self.cycle_started_at = seen.pending.cycle_started_at
        if seen.states_at is None:
            return True
        if self.states_at is not None and seen.states_at <= self.states_at:
            return False
        self.states_at = seen.states_at
        self.last_seq = seen.seq
        if seen.port_states is not None:
            self.states = dict(seen.port_states)
        return True

    def record_sim(self, pile_id: str, iccid: str, vendor: str, model: str, at: datetime) -> bool:
        self.sims[pile_id] = iccid
        return True

    def count_frames(
        self, gateway_id: str, day: str, counts: Mapping[str, int], at: datetime
    ) -> None:
        for verdict, count in counts.items():
            self.counts[verdict] = self.counts.get(verdict, 0) + count


class FakeReadings:
    """Keeps every stored cycle by (pile, at); ``puts`` counts store calls (PutItems)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, datetime], dict[int, PortSample]] = {}
        self.fold: tuple[int | None, int | None] = (None, None)
        self.puts = 0

    def store(
        self,
        pile_id: str,
        cycles: Sequence[tuple[datetime, Mapping[int, PortSample]]],
        *,
        modulus: int | None = None,
        max_power_w: int | None = None,
    ) -> None:
        self.puts += 1
        for at, samples in cycles:
            self.items[(pile_id, at)] = dict(samples)
        self.fold = (modulus, max_power_w)

    def port_readings(
        self, pile_id: str, port_no: int, since: datetime, until: datetime
    ) -> list[PortReading]:
        samples = [
            ports[port_no]
            for (pile, at), ports in self.items.items()
            if pile == pile_id and since <= at <= until and port_no in ports
        ]
        return fold_samples(samples, modulus=self.fold[0], max_power_w=self.fold[1])


@dataclass
class FakeStatuses:
    reports: list[tuple[str, StatusReport]] = field(default_factory=list)

    def set_gun_status(self, pile_id: str, report: StatusReport) -> object:
        self.reports.append((pile_id, report))
        return "applied"


@dataclass
class FakeFaults:
    faults: dict[str, FaultEvent] = field(default_factory=dict)

    def record(self, fault: FaultEvent) -> bool:
        if fault.fault_id in self.faults:
            return False
        self.faults[fault.fault_id] = fault
        return True


@dataclass
class FakeSiteLoads:
    loads: dict[str, SiteLoad] = field(default_factory=dict)
    writes: int = 0

    def record(self, load: SiteLoad) -> bool:
        self.writes += 1
        current = self.loads.get(load.station_id)
        if current is not None and current.at >= load.at:
            return False
        self.loads[load.station_id] = load
        return True


@dataclass
class FakePresence:
    """Pile items' presence: pile_id -> (is_online, last_seen_at); ``writes`` counts them."""

    piles: dict[str, tuple[bool, datetime]] = field(default_factory=dict)
    writes: int = 0

    def mark_bus_online(self, pile_id: str, at: datetime) -> bool:
        self.writes += 1
        self.piles[pile_id] = (True, at)
        return True


@dataclass
class RecordingEvents:
    readings: list[tuple[str, int, PortReading]] = field(default_factory=list)
    states: list[tuple[str, int, PortState]] = field(default_factory=list)

    def reading(self, pile_id: str, port_no: int, reading: PortReading) -> None:
        self.readings.append((pile_id, port_no, reading))

    def state(self, pile_id: str, port_no: int, state: PortState) -> None:
        self.states.append((pile_id, port_no, state))


@dataclass
class Uplink:
    gateways: FakeGateways
    readings: FakeReadings
    statuses: FakeStatuses
    faults: FakeFaults
    site_loads: FakeSiteLoads
    events: RecordingEvents
    ports: UplinkPorts
    presence: FakePresence


def an_uplink(bus: Mapping[int, BusDevice] | None = None) -> Uplink:
    gateways = FakeGateways(bus if bus is not None else devices())
    readings = FakeReadings()
    statuses = FakeStatuses()
    faults = FakeFaults()
    site_loads = FakeSiteLoads()
    events = RecordingEvents()
    presence = FakePresence()
    from shared.domain.modbus_maps import shipped_maps

    ports = UplinkPorts(
        gateways=gateways,
        decoder=PymodbusRtuDecoder(),
        readings=readings,
        statuses=statuses,
        faults=faults,
        site_loads=site_loads,
        maps=shipped_maps(),
        presence=presence,
        events=events,
    )
    return Uplink(gateways, readings, statuses, faults, site_loads, events, ports, presence)
