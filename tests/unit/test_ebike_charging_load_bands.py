"""Load bands at an e-bike port's switch-on, on fakes (SPEC "Load management",
``site_load.start_allowance``): the pile ``EB-1`` is rated 10 kW over 10 ports (1 kW a
port), its station's transformer 100 kVA. A site at most 50 % loaded gets a plain START; above
50 % the START's power limit is half the port's rating; above 80 % (or when even that would
overload the site) no frame is sent and the order fails like a refused start
(``PileNeverStarted``: full refund). A stale or missing meter reading changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.modbus_readings import SiteLoad
from shared.domain.paid_charging import NEVER_STARTED, PaidChargeState
from shared.domain.pricing import ChargeMode, ChargeTarget
from shared.domain.site_load import SITE_AT_LOAD_LIMIT, STALE_AFTER
from shared.services import ebike_charging, paid_charging
from tests.unit.modbus_command_fakes import an_ebike_pile
from tests.unit.test_ebike_paid_charging import World
from tests.unit.test_paid_charging_fakes import T0

CAPACITY_KVA = 100
PORT_RATED_W = 1_000


def _world(load_w: int | None, *, age: timedelta = timedelta(seconds=30)) -> World:
    world = World()
    world.paid.capacities_kva["st-1"] = CAPACITY_KVA
    world.paid.rated_powers_w["EB-1"] = 10_000
    if load_w is not None:
        at = T0 - age
        world.paid.loads["st-1"] = SiteLoad("st-1", at, at, "GW-1", load_w)
    return world


def _start_values(world: World) -> tuple[int, ...]:
    [command] = world.commands.items.values()
    return command.values


def test_port_rated_power_is_the_piles_rating_over_its_ports() -> None:
    assert ebike_charging.port_rated_power_w(an_ebike_pile()) == PORT_RATED_W
    assert ebike_charging.port_rated_power_w(an_ebike_pile(rated_power_w=5, gun_count=10)) == 1


def test_site_at_most_half_loaded_gets_a_plain_start() -> None:
    world = _world(50_000)
    world.begin(target=ChargeTarget(ChargeMode.TIME, 1_500))
    assert _start_values(world) == (1, 0, 25, 0)  # start, the pile's default power, 25 min
    charge = world.paid.get("PO-1")
    assert charge is not None and charge.is_starting
    assert (charge.load_band, charge.power_limit_w) == ("normal", None)


def test_site_above_half_load_starts_the_port_at_half_its_rated_power_once() -> None:
    world = _world(60_000)
    target = ChargeTarget(ChargeMode.ENERGY, 300)
    command_id = world.begin(target=target)
    assert _start_values(world) == (1, PORT_RATED_W // 2, 0, 300)
    charge = world.paid.get("PO-1")
    assert charge is not None and (charge.load_band, charge.power_limit_w) == ("limited", 500)
    # A retry sends nothing new, even when the load has changed meanwhile.
    world.paid.loads.pop("st-1")
    assert world.begin(target=target) == command_id
    assert len(world.publisher.published) == 1


@pytest.mark.parametrize("load_w", [80_001, 99_600])  # above 80 %; 99.6 kW + 500 W > 100 kW
def test_site_above_its_limit_sends_nothing_and_the_order_never_starts(load_w: int) -> None:
    world = _world(load_w)
    command_id = world.begin()
    assert world.commands.items == {} and world.publisher.published == []
    charge = world.paid.get("PO-1")
    assert charge is not None and charge.state is PaidChargeState.NEVER_STARTED
    assert charge.call_id == command_id and charge.load_band == "refused"
    assert charge.failure is not None and charge.failure.startswith(SITE_AT_LOAD_LIMIT)
    # The workflow's wait fails at once, as for a START the pile refused: full refund.
    world.token()
    [(token, error, cause)] = world.resumer.failed
    assert (token, error, cause) == ("tok-1", NEVER_STARTED, charge.failure)
    outcome = paid_charging.charge_outcome(world.ports, "PO-1")
    assert not outcome.started and outcome.ended and outcome.energy_wh == 0
    # A retry of the begin step sends nothing either.
    assert world.begin() == command_id
    assert world.publisher.published == []


@pytest.mark.parametrize("age", [STALE_AFTER + timedelta(seconds=1), None])
def test_a_stale_or_missing_meter_reading_never_blocks_and_reads_nothing_more(
    age: timedelta | None,
) -> None:
    world = _world(None if age is None else 95_000, age=age or timedelta(0))
    world.begin()
    assert _start_values(world)[:2] == (1, 0)
    assert world.paid.limit_reads == 0
    charge = world.paid.get("PO-1")
    assert charge is not None and (charge.load_band, charge.power_limit_w) == (None, None)


@settings(max_examples=60, deadline=None)
@given(load_w=st.integers(-20_000, 120_000))
def test_a_port_switched_on_never_pushes_the_site_over_its_capacity(load_w: int) -> None:
    world = _world(load_w)
    world.begin()
    charge = world.paid.get("PO-1")
    assert charge is not None
    if charge.state is PaidChargeState.NEVER_STARTED:
        assert world.publisher.published == []
        assert load_w * 10 > CAPACITY_KVA * 1000 * 8 or load_w + 500 > CAPACITY_KVA * 1000
        return
    power_limit_w = _start_values(world)[1]
    allowed_w = power_limit_w or PORT_RATED_W
    assert max(load_w, 0) + allowed_w <= CAPACITY_KVA * 1000
    assert power_limit_w == (500 if load_w * 2 > CAPACITY_KVA * 1000 else 0)


def test_energy_counts_from_the_ports_last_idle_reading_before_the_link() -> None:
    """A poll between the pile switching the port on and the START's echo linking the order
    (by our clock) already shows this charge's energy: it is billed, not taken as the
    baseline."""
    from shared.domain.modbus_readings import PortReading, PortState

    world = _world(None)
    world.begin()
    world.baseline()  # plugged, 30 s before the link
    early = PortReading(
        world.now - timedelta(seconds=5),
        world.energy_wh + 4,
        300,
        2200,
        1363,
        300,
        PortState.CHARGING,
    )
    world.readings.readings[("EB-1", 1)].append(early)
    world.energy_wh += 4
    world.echo_start()
    world.token()
    world.reading(600)  # +10 Wh
    world.reading(0, state=PortState.FULL, stop_reason="full")
    [(_, output)] = world.resumer.succeeded
    assert output["energy_wh"] == 4 + 10
    outcome = paid_charging.charge_outcome(world.ports, "PO-1")
    assert outcome.energy_wh == 14 and outcome.readings[0].register_wh == 5_000


def test_the_driver_apis_band_for_a_port_is_the_one_its_start_gets() -> None:
    """Scan and start (driver API) weigh the same port share as the switch-on."""
    from types import SimpleNamespace
    from typing import Any

    from shared.services.driver_discovery import site_allowance

    load = SiteLoad("st-1", T0, T0, "GW-1", 60_000)
    loads: Any = SimpleNamespace(get=lambda station_id: load)
    station: Any = SimpleNamespace(station_id="st-1", transformer_capacity_kva=CAPACITY_KVA)
    allowance = site_allowance(loads, station, an_ebike_pile(), T0)
    assert (allowance.band.value, allowance.power_limit_w) == ("limited", PORT_RATED_W // 2)
    world = _world(60_000)
    world.begin()
    assert _start_values(world)[1] == allowance.power_limit_w
