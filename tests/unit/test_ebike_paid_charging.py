"""Paid charging on e-bike ports, on fakes: begin switches the port on with the target's
limits (once per order, refusals change nothing), the start's echo links the charge, a
refused or unanswered start fails the workflow, readings price the charge by energy or by
time with power bands and switch the port off once at the target or the cap, the port
leaving ``charging`` or the stop's echo ends it, and the settle step's outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.domain.errors import Conflict, NotFound
from shared.domain.modbus_commands import (
    CommandStatus,
    PortCommand,
    PortCommandKind,
    WriteAnswer,
    default_control,
    write_for,
    write_frame,
)
from shared.domain.modbus_readings import PortReading, PortState
from shared.domain.paid_charging import NEVER_STARTED, PaidChargeState
from shared.domain.pricing import ChargeMode, ChargeTarget, price_energy, price_time
from shared.domain.tariffs import PowerBand, Tariff
from shared.services import ebike_charging, modbus_commands, paid_charging
from shared.services.ebike_charging import EbikeChargePorts, EbikePortEvents
from shared.services.modbus_commands import ModbusCommandPorts
from shared.services.ocpp.ports import PileRoute
from tests.unit.modbus_command_fakes import (
    GATEWAY,
    FakeCommands,
    FakePiles,
    FakePublisher,
    an_ebike_pile,
)
from tests.unit.test_paid_charging_fakes import (
    FLAT,
    T0,
    FakePaidCharges,
    FakeResumer,
    a_request,
)
from tests.unit.test_paid_charging_fakes import FakePiles as FakeRoutes

BANDS = Tariff(
    tariff_id="tf-bands",
    operator_id="op-1",
    name="by time",
    periods=FLAT.periods,
    version=1,
    created_at=T0,
    updated_at=T0,
    ebike_power_bands=(PowerBand(500, 120), PowerBand(1000, 240)),
)


@dataclass
class FakeReadings:
    readings: dict[tuple[str, int], list[PortReading]] = field(default_factory=dict)

    def port_readings(
        self, pile_id: str, port_no: int, since: datetime, until: datetime
    ) -> list[PortReading]:
        found = self.readings.get((pile_id, port_no), [])
        return sorted((r for r in found if since <= r.at <= until), key=lambda r: r.at)


class World:
    """An e-bike pile ``EB-1`` (10 ports, gateway ``GW-1``) with port 1 plugged."""

    def __init__(self) -> None:
        self.now = T0
        self.paid = FakePaidCharges()
        self.paid.tariffs[(FLAT.tariff_id, FLAT.version)] = FLAT
        self.paid.tariffs[(BANDS.tariff_id, BANDS.version)] = BANDS
        self.paid.guns.update({("EB-1", n): "Available" for n in range(1, 11)})
        self.paid.guns[("EB-1", 1)] = "Preparing"
        self.commands = FakeCommands()
        self.publisher = FakePublisher()
        self.readings = FakeReadings()
        self.resumer = FakeResumer()
        self.routes = FakeRoutes({"EB-1": PileRoute("EB-1", "op-1", "modbus", None, False)})
        self._ids = 0
        self.energy_wh = 5_000  # the port's counter

    def clock(self) -> datetime:
        return self.now

    def new_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}-{self._ids:020x}"

    @property
    def command_ports(self) -> ModbusCommandPorts:
        return ModbusCommandPorts(
            commands=self.commands,
            piles=FakePiles(an_ebike_pile()),
            publisher=self.publisher,
            clock=self.clock,
            new_id=self.new_id,
        )

    @property
    def ports(self) -> paid_charging.PaidChargePorts:
        return paid_charging.PaidChargePorts(
            paid_charges=self.paid,
            sessions=None,  # type: ignore[arg-type]
            piles=self.routes,  # type: ignore[arg-type]
            pending_calls=None,  # type: ignore[arg-type]
            schemas=None,  # type: ignore[arg-type]
            sender=None,  # type: ignore[arg-type]
            workflow=self.resumer,
            clock=self.clock,
            new_id=self.new_id,
            ebike=EbikeChargePorts(commands=self.command_ports, readings=self.readings),
        )

    def begin(self, **overrides: Any) -> str:
        values: dict[str, Any] = {"pile_id": "EB-1", "gun_no": 1}
        values.update(overrides)
        return paid_charging.begin_paid_charge(self.ports, a_request(**values), self.now)

    def answer(self, **fields: Any) -> Any:
        return modbus_commands.write_answered(
            WriteAnswer(gateway_id=GATEWAY, device_address=1, **fields),
            commands=self.commands,
            clock=self.clock,
            on_finished=lambda command: ebike_charging.command_finished(self.ports, command),
        )

    def echo_start(self) -> None:
        assert self.answer(function_code=16, address=0x0100, value=4) is not None

    def reading(self, power_w: int, *, state: PortState = PortState.CHARGING, **extra: Any) -> None:
        """The port's poll a minute later at ``power_w`` (energy counted over that minute)."""
        self.now += timedelta(minutes=1)
        self.energy_wh += power_w // 60
        reading = PortReading(
            at=self.now,
            energy_wh=self.energy_wh,
            power_w=power_w,
            voltage_dv=2200,
            current_ma=power_w * 10_000 // 2200,
            temperature_dc=300,
            state=state,
            **extra,
        )
        self.readings.readings.setdefault(("EB-1", 1), []).append(reading)
        events = EbikePortEvents(self.ports)
        events.reading("EB-1", 1, reading)
        if state is not PortState.CHARGING:
            events.state("EB-1", 1, state)

    def baseline(self) -> None:
        """The port's reading just before the start (plugged, counter at rest)."""
        reading = PortReading(
            self.now - timedelta(seconds=30), self.energy_wh, 0, 2200, 0, 250, PortState.PLUGGED
        )
        self.readings.readings.setdefault(("EB-1", 1), []).append(reading)

    def token(self) -> None:
        paid_charging.await_session_end(self.ports, "PO-1", "tok-1", self.now)


@pytest.fixture
def world() -> World:
    return World()


def test_begin_switches_the_port_on_with_the_time_targets_limit_once_per_order(
    world: World,
) -> None:
    target = ChargeTarget(ChargeMode.TIME, 1_500)
    command_id = world.begin(target=target)
    charge = world.paid.get("PO-1")
    assert charge is not None and charge.is_ebike and charge.is_starting
    assert charge.call_id == command_id
    [(topic, frame)] = world.publisher.published
    start = world.commands.get("EB-1", command_id)
    assert start is not None and start.purpose == "paid:PO-1"
    assert frame == write_frame(start.write)
    assert start.values == (1, 0, 25, 0)  # start, default power, 25 min (rounded up), no Wh
    assert topic == f"gw/{GATEWAY}/down"
    assert world.begin(target=target) == command_id
    assert len(world.publisher.published) == 1
    assert world.paid.find_start("EB-1", "P#1") == "PO-1"
    with pytest.raises(Conflict):
        world.begin(target=ChargeTarget(ChargeMode.TIME, 1_600))


def test_energy_target_becomes_the_ports_own_energy_limit() -> None:
    world = World()
    world.begin(target=ChargeTarget(ChargeMode.ENERGY, 300))
    [command] = world.commands.items.values()
    assert command.values == (1, 0, 0, 300)


@pytest.mark.parametrize(
    ("overrides", "status", "error"),
    [
        ({"gun_no": 2}, "Charging", Conflict),
        ({"gun_no": 2}, "Faulted", Conflict),
        ({"gun_no": 11}, None, NotFound),
        ({"operator_id": "op-2"}, None, NotFound),
    ],
)
def test_begin_is_refused_and_nothing_stored_or_sent_when_the_port_cannot_start(
    world: World, overrides: dict[str, Any], status: str | None, error: type[Exception]
) -> None:
    if status is not None:
        world.paid.guns[("EB-1", 2)] = status
    with pytest.raises(error):
        world.begin(**overrides)
    assert world.paid.charges == {} and world.commands.items == {}
    assert world.publisher.published == []


def test_start_echo_links_the_charge_and_a_repeated_echo_changes_nothing(world: World) -> None:
    world.begin()
    world.echo_start()
    charge = world.paid.get("PO-1")
    assert charge is not None and charge.state is PaidChargeState.CHARGING
    assert charge.session_id == "ebike-PO-1" and charge.linked_at == T0
    assert world.paid.get_link("ebike-PO-1") is not None
    assert world.answer(function_code=16, address=0x0100, value=4) is None


def test_refused_start_fails_the_workflow_with_pile_never_started(world: World) -> None:
    world.begin()
    world.token()
    world.answer(function_code=16, exception_code=2)
    charge = world.paid.get("PO-1")
    assert charge is not None and charge.state is PaidChargeState.NEVER_STARTED
    [(token, error, _)] = world.resumer.failed
    assert (token, error) == ("tok-1", NEVER_STARTED)


def test_unanswered_start_times_out_and_fails_the_workflow(world: World) -> None:
    world.begin()
    world.token()
    world.now += timedelta(seconds=59)
    assert ebike_charging.time_out_port_commands(world.ports) == 0
    world.now += timedelta(seconds=2)
    assert ebike_charging.time_out_port_commands(world.ports) == 1
    assert [error for _, error, _ in world.resumer.failed] == [NEVER_STARTED]
    assert ebike_charging.time_out_port_commands(world.ports) == 0


def test_housekeeping_sweep_fails_a_start_whose_command_timed_out_unheard(world: World) -> None:
    world.begin()
    world.token()
    world.now += timedelta(seconds=30)
    sweep = paid_charging.sweep_unstarted(world.ports, world.now + timedelta(seconds=40))
    assert sweep.postponed == 1 and sweep.failed == ()
    world.now += timedelta(seconds=40)
    modbus_commands.time_out_due_commands(commands=world.commands, clock=world.clock)
    world.now += timedelta(seconds=10)
    sweep = paid_charging.sweep_unstarted(world.ports, world.now)
    assert sweep.failed == ("PO-1",)
    assert [error for _, error, _ in world.resumer.failed] == [NEVER_STARTED]


def test_amount_target_stops_the_port_once_and_the_stop_echo_ends_the_charge(
    world: World,
) -> None:
    world.begin(target=ChargeTarget(ChargeMode.AMOUNT, 100), prepaid_cap_fen=400)
    world.baseline()
    world.echo_start()
    world.token()
    for _ in range(16):  # 600 W: 10 Wh a minute at 1.50/kWh; 100 fen needs 667 Wh
        world.reading(600)
    link = world.paid.get_link("ebike-PO-1")
    assert link is not None and not link.is_stop_requested
    for _ in range(60):
        world.reading(600)
        link = world.paid.get_link("ebike-PO-1")
        assert link is not None
        if link.is_stop_requested:
            break
    assert link.stop_reason == "target_reached"
    stops = [c for c in world.commands.items.values() if c.kind.value == "stop"]
    assert len(stops) == 1
    world.reading(600)  # a later reading before the port stops sends nothing more
    assert len([c for c in world.commands.items.values() if c.kind.value == "stop"]) == 1
    stop_register = write_for(PortCommand(PortCommandKind.STOP, 1), default_control(), 1).address
    assert world.answer(function_code=6, address=stop_register, value=2) is not None
    [(token, output)] = world.resumer.succeeded
    assert token == "tok-1" and output["stop_reason"] == "target_reached"
    assert output["energy_wh"] == world.energy_wh - 5_000
    outcome = paid_charging.charge_outcome(world.ports, "PO-1")
    assert outcome.started and outcome.ended and not outcome.is_priced_by_time
    assert price_energy(FLAT, outcome.readings).total_fen >= 100
    assert outcome.energy_wh == world.energy_wh - 5_000
    world.reading(0, state=PortState.PLUGGED)  # the port's own state change ends nothing new
    assert len(world.resumer.succeeded) == 1


def test_time_priced_tariff_bills_power_bands_and_stops_at_the_time_target(world: World) -> None:
    world.begin(
        target=ChargeTarget(ChargeMode.TIME, 1_800),
        prepaid_cap_fen=400,
        tariff_id=BANDS.tariff_id,
        tariff_version=BANDS.version,
    )
    world.baseline()
    world.echo_start()
    for minute in range(40):
        world.reading(400 if minute < 10 else 700)
        link = world.paid.get_link("ebike-PO-1")
        assert link is not None
        if link.is_stop_requested:
            break
    assert link is not None and link.stop_reason == "target_reached"
    assert world.now - T0 == timedelta(minutes=30)
    world.reading(0, state=PortState.PLUGGED, stop_reason="remote_stop")
    outcome = paid_charging.charge_outcome(world.ports, "PO-1")
    assert outcome.is_priced_by_time and outcome.started_at == T0
    assert outcome.stopped_at == T0 + timedelta(minutes=31)
    assert outcome.stop_reason == "target_reached"
    assert outcome.started_at is not None and outcome.stopped_at is not None
    cost = price_time(BANDS, outcome.started_at, outcome.stopped_at, outcome.power_samples)
    # 10 minutes in the 500 W band (2 fen/min), 20 in the 1000 W band (4 fen/min), and the
    # started minute of the stop at 0 W.
    assert cost.total_fen == 10 * 2 + 20 * 4 + 2


def test_port_leaving_charging_ends_the_charge_with_its_own_stop_reason(world: World) -> None:
    world.begin()
    world.baseline()
    world.echo_start()
    world.reading(300)
    world.reading(300)
    world.token()
    world.reading(0, state=PortState.FULL, stop_reason="full")
    [(_, output)] = world.resumer.succeeded
    assert output == {
        "order_no": "PO-1",
        "session_id": "ebike-PO-1",
        "energy_wh": 10,
        "stop_reason": "full",
    }
    charge = world.paid.get("PO-1")
    assert charge is not None and charge.state is PaidChargeState.ENDED


def test_outcome_of_a_start_never_confirmed_is_not_started(world: World) -> None:
    world.begin()
    outcome = paid_charging.charge_outcome(world.ports, "PO-1")
    assert not outcome.started and outcome.readings == () and outcome.energy_wh == 0
    start = world.commands.get("EB-1", world.paid.charges["PO-1"].call_id)
    assert start is not None and start.status is CommandStatus.PENDING


def test_settle_step_prices_a_time_priced_outcome_with_price_time(world: World) -> None:
    from types import SimpleNamespace

    from shared.services import payment_workflow

    world.begin(tariff_id=BANDS.tariff_id, tariff_version=BANDS.version)
    world.baseline()
    world.echo_start()
    for _ in range(12):
        world.reading(450)
    world.reading(0, state=PortState.FULL, stop_reason="full")
    outcome = paid_charging.charge_outcome(world.ports, "PO-1")
    ports: Any = SimpleNamespace(
        charging=SimpleNamespace(outcome=lambda order_no: outcome),
        base_data=SimpleNamespace(tariff_version=lambda tariff_id, version: BANDS),
    )
    order: Any = SimpleNamespace(
        order_no="PO-1", tariff_id=BANDS.tariff_id, tariff_version=BANDS.version
    )
    cost_fen, energy_wh, session_id = payment_workflow._cost_of(ports, order)
    assert (cost_fen, energy_wh, session_id) == (13 * 2, 12 * 7, "ebike-PO-1")


def test_readings_of_ports_that_are_not_charging_read_nothing(world: World) -> None:
    looked_up: list[tuple[str, str]] = []
    original = world.paid.find_start

    def counting(pile_id: str, key: str) -> str | None:
        looked_up.append((pile_id, key))
        return original(pile_id, key)

    world.paid.find_start = counting  # type: ignore[method-assign]
    reading = PortReading(T0, 5_000, 0, 2200, 0, 250, PortState.PLUGGED)
    assert ebike_charging.port_reading(world.ports, "EB-1", 1, reading) is None
    assert looked_up == []
    charging = PortReading(T0, 5_000, 300, 2200, 1363, 300, PortState.CHARGING)
    assert ebike_charging.port_reading(world.ports, "EB-1", 1, charging) is None
    assert looked_up == [("EB-1", "P#1")]


def test_charge_stopped_before_its_first_reading_costs_nothing_by_time(world: World) -> None:
    from types import SimpleNamespace

    from shared.services import payment_workflow

    world.begin(tariff_id=BANDS.tariff_id, tariff_version=BANDS.version)
    world.baseline()
    world.echo_start()
    charge = world.paid.get("PO-1")
    assert charge is not None
    assert ebike_charging.end_charge(world.ports, charge, pile_reason="idle")
    outcome = paid_charging.charge_outcome(world.ports, "PO-1")
    assert outcome.stopped_at == outcome.started_at == T0
    ports: Any = SimpleNamespace(
        charging=SimpleNamespace(outcome=lambda order_no: outcome),
        base_data=SimpleNamespace(tariff_version=lambda tariff_id, version: BANDS),
    )
    order: Any = SimpleNamespace(order_no="PO-1", tariff_id="x", tariff_version=1)
    assert payment_workflow._cost_of(ports, order)[0] == 0


def test_unheard_stop_is_sent_again_until_the_gateway_answers(world: World) -> None:
    world.begin(target=ChargeTarget(ChargeMode.AMOUNT, 10))
    world.baseline()
    world.echo_start()
    world.token()
    for _ in range(10):
        world.reading(600)
    stops = [c for c in world.commands.items.values() if c.kind is PortCommandKind.STOP]
    assert len(stops) == 1
    world.now += timedelta(seconds=61)
    assert ebike_charging.time_out_port_commands(world.ports) == 1
    stops = [c for c in world.commands.items.values() if c.kind is PortCommandKind.STOP]
    assert [c.status for c in sorted(stops, key=lambda c: c.command_id)] == [
        CommandStatus.TIMED_OUT,
        CommandStatus.PENDING,
    ]
    stop_register = write_for(PortCommand(PortCommandKind.STOP, 1), default_control(), 1).address
    assert world.answer(function_code=6, address=stop_register, value=2) is not None
    [(_, output)] = world.resumer.succeeded
    assert output["stop_reason"] == "target_reached"
    world.now += timedelta(hours=2)
    assert ebike_charging.time_out_port_commands(world.ports) == 0


def test_stop_is_no_longer_sent_an_hour_after_the_first(world: World) -> None:
    world.begin(target=ChargeTarget(ChargeMode.AMOUNT, 10))
    world.baseline()
    world.echo_start()
    for _ in range(10):
        world.reading(600)
    world.now += timedelta(seconds=61)
    assert ebike_charging.time_out_port_commands(world.ports) == 1
    world.now += timedelta(hours=1)
    assert ebike_charging.time_out_port_commands(world.ports) == 1  # the resent one
    stops = [c for c in world.commands.items.values() if c.kind is PortCommandKind.STOP]
    assert len(stops) == 2 and all(c.status is CommandStatus.TIMED_OUT for c in stops)
