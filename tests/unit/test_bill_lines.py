"""The bill's lines on a settled paid charge: stored once by ``settle_cost`` (per time-of-use
period crossed by energy, per period and power band by time), minus the discount they sum
EXACTLY to ``cost_fen``; bounded on a long charge; refused when they do not add up; kept
through the DynamoDB item; shown in the driver's charge detail."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.adapters.dynamodb.base_data_items import decode_item, encode_item
from shared.adapters.dynamodb.payment_orders import order_from, order_item
from shared.domain.discounts import DiscountKind
from shared.domain.errors import InvalidInput
from shared.domain.payment_orders import (
    MAX_BILL_LINES,
    BillLine,
    OrderState,
    PaymentOrder,
    SettleBasis,
    bill_lines,
    check_bill,
    money_problems,
    settle,
)
from shared.domain.pricing import Cost, MeterReading, price_energy, price_time
from shared.domain.tariffs import PeriodKind, Tariff
from shared.services import payment_workflow
from tests.unit.pricing_builders import a_discount, a_tariff, local
from tests.unit.test_payment_workflow import order, pay, run
from tests.unit.test_payment_workflow_fakes import (
    OPERATOR,
    T0,
    TARIFF,
    FakeFacts,
    World,
    a_request,
)

# T0 is 10:00 in Asia/Shanghai: peak 08-11, sharp 11-13, flat 13-23 (pricing_builders).
TOU = a_tariff(tariff_id=TARIFF, operator_id=OPERATOR)
PREPAID = 2_000


def gross(lines: tuple[BillLine, ...]) -> int:
    return sum(line.amount_fen for line in lines)


def started_world(tariff: Tariff = TOU) -> World:
    world = World()
    world.base_data.tariffs[(TARIFF, 1)] = tariff
    payment_workflow.start_paid_session(
        world.ports, a_request(prepaid_fen=PREPAID, target_value=PREPAID)
    )
    run(world, "create_prepay_order")
    run(world, "wait_for_paid", "tok-paid")
    pay(world, amount=PREPAID)
    run(world, "remote_start")
    run(world, "wait_for_session_end", "tok-end")
    return world


def answer(world: World, facts: Any) -> None:
    world.charging.outcome = lambda order_no: facts  # type: ignore[method-assign]


def car_facts(*readings: tuple[timedelta, int]) -> FakeFacts:
    metered = tuple(MeterReading(at=T0 + after, register_wh=wh) for after, wh in readings)
    return FakeFacts(True, "se-1", metered[-1].register_wh - metered[0].register_wh, metered)


@dataclass(frozen=True)
class EbikeFacts:
    """What ``paid_charging.ChargeOutcome`` carries for an e-bike port priced by time."""

    started_at: datetime
    stopped_at: datetime
    power_samples: tuple[tuple[datetime, int], ...]
    energy_wh: int = 90
    started: bool = True
    ended: bool = True
    session_id: str = "ebike-1"
    tariff_id: str = TARIFF
    tariff_version: int = 1
    is_priced_by_time: bool = True

    @property
    def readings(self) -> tuple[MeterReading, ...]:
        return (
            MeterReading(at=self.started_at, register_wh=0),
            MeterReading(at=self.stopped_at, register_wh=self.energy_wh),
        )


# ---------------------------------------------------------------- through settle_cost


def test_a_car_charge_crossing_peak_sharp_and_flat_is_billed_per_period() -> None:
    world = started_world()
    # 10:30 -> 13:30 local, 3000 Wh evenly: 500 Wh peak, 2000 Wh sharp, 500 Wh flat.
    answer(
        world, car_facts((timedelta(minutes=30), 1_000), (timedelta(hours=3, minutes=30), 4_000))
    )

    result = run(world, "settle_cost")

    settled = order(world)
    kinds = [(line.period_kind, line.energy_wh) for line in settled.bill_lines]
    assert kinds == [(PeriodKind.PEAK, 500), (PeriodKind.SHARP, 2_000), (PeriodKind.FLAT, 500)]
    assert [(x.electricity_fen, x.service_fen) for x in settled.bill_lines] == [
        (50, 40),
        (240, 160),
        (30, 25),
    ]
    assert settled.bill_lines[0].starts_at == local(10, 30)
    assert settled.bill_lines[1].starts_at == local(11) == settled.bill_lines[0].ends_at
    assert settled.bill_lines[2].ends_at == local(13, 30)
    assert settled.discount_fen == 0
    assert gross(settled.bill_lines) == settled.cost_fen == result["cost_fen"] == 545
    assert settled.consumed_fen == 545
    assert money_problems(settled) == []
    assert money_problems(replace(settled, discount_fen=1)) == ["bill lines - discount != cost"]


def test_a_retried_settle_keeps_the_lines_it_stored() -> None:
    world = started_world()
    answer(world, car_facts((timedelta(minutes=30), 1_000), (timedelta(hours=3), 3_000)))
    run(world, "settle_cost")
    first = order(world)
    # Late readings arrive; the retry (or the lost-end path) must not rewrite the bill.
    answer(world, car_facts((timedelta(minutes=30), 1_000), (timedelta(hours=5), 9_000)))
    run(world, "settle_cost", session_end_lost={"Error": "States.Timeout"})

    again = order(world)
    assert again.bill_lines == first.bill_lines
    assert (again.cost_fen, again.revision) == (first.cost_fen, first.revision)


def test_an_ebike_charge_by_time_is_billed_per_period_and_power_band() -> None:
    world = started_world()
    start = T0 + timedelta(minutes=50)  # 10:50 local: 10 min peak, then sharp
    samples = ((start, 150), (start + timedelta(minutes=20), 450))
    answer(world, EbikeFacts(start, start + timedelta(minutes=40), samples))

    run(world, "settle_cost")

    settled = order(world)
    lines = [
        (x.period_kind, x.band_max_power_w, x.starts_at, x.ends_at, x.service_fen)
        for x in settled.bill_lines
    ]
    # 200 W band: 1.00 yuan/h; 500 W band: 2.00 yuan/h; no electricity line by time.
    assert lines == [
        (PeriodKind.PEAK, 200, start, local(11), 17),
        (PeriodKind.SHARP, 200, local(11), local(11, 10), 16),
        (PeriodKind.SHARP, 500, local(11, 10), local(11, 30), 67),
    ]
    assert all(x.energy_wh == 0 and x.electricity_fen == 0 for x in settled.bill_lines)
    assert gross(settled.bill_lines) == settled.cost_fen == 100
    assert settled.energy_wh == 90


def test_lines_that_do_not_add_up_are_refused_and_nothing_is_stored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = started_world()
    answer(world, car_facts((timedelta(minutes=30), 1_000), (timedelta(hours=2), 3_000)))

    def off_by_one(cost: Cost) -> tuple[BillLine, ...]:
        lines = bill_lines(cost)
        return (replace(lines[0], service_fen=lines[0].service_fen + 1), *lines[1:])

    monkeypatch.setattr(payment_workflow, "bill_lines", off_by_one)
    before = order(world)
    with pytest.raises(InvalidInput):
        run(world, "settle_cost")

    after = order(world)
    assert after == before
    assert after.state is OrderState.STARTED and after.bill_lines == ()


def test_an_order_that_consumed_nothing_has_an_empty_bill() -> None:
    world = started_world()
    answer(world, FakeFacts(False, None, 0, ()))
    run(world, "settle_cost")
    assert (order(world).bill_lines, order(world).cost_fen) == ((), 0)


# ---------------------------------------------------------------- the domain rules


def test_a_discount_comes_off_the_gross_lines_exactly() -> None:
    discount = a_discount(DiscountKind.PERCENT_OFF_SERVICE, local(11), local(12), percent_bp=3_333)
    readings = [MeterReading(local(10, 30), 0), MeterReading(local(13, 30), 3_001)]
    cost = price_energy(TOU, readings, discount)
    lines = bill_lines(cost)

    assert cost.discount_fen > 0
    assert gross(lines) - cost.discount_fen == cost.total_fen
    settled = settle(
        paid_order(),
        cost_fen=cost.total_fen,
        consumed_fen=min(cost.total_fen, PREPAID),
        energy_wh=cost.energy_wh,
        session_id="se-1",
        basis=SettleBasis.SESSION_END,
        now=T0,
        bill=lines,
        discount_fen=cost.discount_fen,
    )
    assert (settled.bill_lines, settled.discount_fen) == (lines, cost.discount_fen)
    with pytest.raises(InvalidInput):
        check_bill(lines, cost.discount_fen + 1, cost.total_fen)
    with pytest.raises(InvalidInput):
        check_bill(lines, -1, cost.total_fen + cost.discount_fen + 1)


def test_a_long_charge_is_bounded_and_still_sums_to_its_cost() -> None:
    # 20 days with a reading every hour: 5 period runs a day, 100 lines unmerged.
    readings = [MeterReading(local(0) + timedelta(hours=h), 3_000 * h) for h in range(20 * 24)]
    cost = price_energy(TOU, readings)
    lines = bill_lines(cost)

    assert len(cost.lines) > MAX_BILL_LINES
    assert len(lines) <= 4  # one summary line per period kind
    assert sum(line.runs for line in lines) == len(cost.lines)
    assert gross(lines) == cost.total_fen
    assert sum(line.energy_wh for line in lines) == cost.energy_wh
    check_bill(lines, cost.discount_fen, cost.total_fen)


def test_an_ebike_whose_power_flips_every_minute_is_bounded_per_band() -> None:
    start = local(9)
    samples = [(start + timedelta(minutes=m), 150 if m % 2 else 800) for m in range(24 * 60)]
    cost = price_time(TOU, start, start + timedelta(hours=24), samples)
    lines = bill_lines(cost)

    assert len(cost.lines) > MAX_BILL_LINES
    assert len(lines) <= 4 * 3
    assert gross(lines) == cost.total_fen


def test_consecutive_lines_of_one_period_are_merged() -> None:
    readings = [MeterReading(local(13), 0), MeterReading(local(16), 3_000)]
    cost = price_energy(TOU, readings, cut_at=[local(14), local(15)])
    lines = bill_lines(cost)
    assert len(cost.lines) == 3
    assert [(x.period_kind, x.starts_at, x.ends_at, x.runs) for x in lines] == [
        (PeriodKind.FLAT, local(13), local(16), 3)
    ]


def test_the_bill_survives_the_dynamodb_item_and_old_orders_read_empty() -> None:
    cost = price_time(TOU, local(10, 50), local(11, 30), [(local(10, 50), 450)])
    settled = settle(
        paid_order(),
        cost_fen=cost.total_fen,
        consumed_fen=cost.total_fen,
        energy_wh=0,
        session_id="ebike-1",
        basis=SettleBasis.SESSION_END,
        now=T0,
        bill=bill_lines(cost),
    )
    assert order_from(decode_item(encode_item(order_item(settled)))) == settled

    old = order_item(paid_order())
    assert "bill_lines" not in encode_item(old)
    assert order_from(decode_item(encode_item(old))).bill_lines == ()


def test_the_driver_sees_the_bill_in_the_charge_detail() -> None:
    from functions.driver_api.routes.charging import charge_view
    from functions.driver_api.routes.common import dump
    from shared.services.driver_charging import DriverCharge

    world = started_world()
    before = dump(charge_view(DriverCharge(order=order(world))))
    assert (before["bill_lines"], before["discount_fen"]) == ([], 0)
    answer(
        world, car_facts((timedelta(minutes=30), 1_000), (timedelta(hours=3, minutes=30), 4_000))
    )
    run(world, "settle_cost")

    view = dump(charge_view(DriverCharge(order=order(world))))
    assert [line["period_kind"] for line in view["bill_lines"]] == ["peak", "sharp", "flat"]
    assert view["bill_lines"][0] == {
        "period_kind": "peak",
        "starts_at": "2026-11-02T02:30:00.000Z",
        "ends_at": "2026-11-02T03:00:00.000Z",
        "energy_wh": 500,
        "electricity_fen": 50,
        "service_fen": 40,
        "amount_fen": 90,
        "band_max_power_w": None,
        "runs": 1,
    }
    assert (
        sum(x["amount_fen"] for x in view["bill_lines"]) - view["discount_fen"] == view["cost_fen"]
    )


# ---------------------------------------------------------------- properties


def paid_order() -> PaymentOrder:
    stored: PaymentOrder = order(started_world())
    return stored


_PAID = paid_order()


@st.composite
def meter_readings(draw: st.DrawFn) -> list[MeterReading]:
    """Up to 12 readings over up to 3 days, registers rising with the odd reset to 0."""
    offsets = sorted(draw(st.sets(st.integers(0, 3 * 24 * 60), min_size=2, max_size=12)))
    register = draw(st.integers(0, 1_000_000))
    found: list[MeterReading] = []
    for minute in offsets:
        register = 0 if draw(st.booleans()) and draw(st.booleans()) else register
        register += draw(st.integers(0, 20_000))
        found.append(MeterReading(T0 + timedelta(minutes=minute), register))
    return found


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    readings=meter_readings(), cap=st.integers(1, MAX_BILL_LINES), percent=st.integers(1, 10_000)
)
def test_stored_lines_always_sum_to_the_cost(
    readings: list[MeterReading], cap: int, percent: int
) -> None:
    discount = a_discount(
        DiscountKind.PERCENT_OFF_SERVICE, T0, T0 + timedelta(days=1), percent_bp=percent
    )
    cost = price_energy(TOU, readings, discount)
    lines = bill_lines(cost, max_lines=cap)
    settled = settle(
        _PAID,
        cost_fen=cost.total_fen,
        consumed_fen=min(cost.total_fen, _PAID.prepaid_fen),
        energy_wh=cost.energy_wh,
        session_id="se-1",
        basis=SettleBasis.SESSION_END,
        now=T0,
        bill=lines,
        discount_fen=cost.discount_fen,
    )
    assert gross(settled.bill_lines) - settled.discount_fen == settled.cost_fen
    assert sum(line.energy_wh for line in settled.bill_lines) == settled.energy_wh
    assert len(settled.bill_lines) <= max(cap, 4)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(readings=meter_readings())
def test_the_workflow_stores_lines_that_sum_to_cost_fen(readings: list[MeterReading]) -> None:
    world = started_world()
    energy = readings[-1].register_wh - readings[0].register_wh
    answer(world, FakeFacts(True, "se-1", max(energy, 0), tuple(readings)))
    run(world, "settle_cost")
    settled = order(world)
    assert gross(settled.bill_lines) - settled.discount_fen == settled.cost_fen
    assert settled.state is OrderState.SETTLED
    assert money_problems(settled) == []


@settings(max_examples=60, deadline=None)
@given(
    minutes=st.integers(0, 6 * 60),
    powers=st.lists(st.tuples(st.integers(0, 6 * 60), st.integers(0, 1_500)), max_size=40),
    cap=st.integers(1, MAX_BILL_LINES),
)
def test_ebike_lines_by_time_always_sum_to_the_cost(
    minutes: int, powers: list[tuple[int, int]], cap: int
) -> None:
    start = T0 + timedelta(minutes=37)
    samples = [(start + timedelta(minutes=m), w) for m, w in powers]
    cost = price_time(TOU, start, start + timedelta(minutes=minutes, seconds=13), samples)
    lines = bill_lines(cost, max_lines=cap)
    check_bill(lines, cost.discount_fen, cost.total_fen)
    assert len(lines) <= max(cap, 4 * len(TOU.ebike_power_bands))
