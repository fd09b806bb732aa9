"""Properties of the cost engine over random tariffs, readings, resets and discounts.

- a cost is never negative, and its lines sum to its totals;
- cutting a charge at any instant (``cut_at``) changes no total;
- the cost of the readings up to any instant is exactly the part of the whole bill up to
  that instant (a live cost is what the final bill says about the same stretch);
- more energy or more time never costs less;
- readings in any order or repeated cost the same;
- settle: prepaid = consumed + refund, refund >= 0; shares always sum to the amount.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.discounts import Discount, DiscountKind
from shared.domain.pricing import (
    Cost,
    MeterReading,
    price_energy,
    price_time,
    settle,
    split_profit,
)
from shared.domain.sessions import register_energy_wh
from shared.domain.tariffs import PeriodKind, PowerBand, Tariff, TariffPeriod
from tests.unit.pricing_builders import a_discount, a_tariff

BASE = datetime(2026, 11, 1, 15, 0, tzinfo=UTC)  # 23:00 in Asia/Shanghai
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@st.composite
def tariffs(draw: st.DrawFn) -> Tariff:
    """A random tiling of the local day (wrapping midnight when the first edge is not 00:00)."""
    edges = sorted(draw(st.sets(st.integers(0, 24 * 60 - 1), min_size=1, max_size=6)))
    prices = st.integers(0, 3_000)
    if len(edges) == 1:  # one price all day, cut at midnight and at the edge when not 00:00
        edges = [0] if edges[0] == 0 else [0, edges[0]]
    periods = [
        TariffPeriod(
            draw(st.sampled_from(list(PeriodKind))),
            _clock(start),
            _clock(edges[(index + 1) % len(edges)]) if len(edges) > 1 else "24:00",
            draw(prices),
            draw(prices),
        )
        for index, start in enumerate(edges)
    ]
    powers = sorted(draw(st.sets(st.integers(1, 5_000), min_size=1, max_size=4)))
    prices = sorted(
        draw(st.lists(st.integers(0, 1_000), min_size=len(powers), max_size=len(powers)))
    )
    bands = tuple(PowerBand(w, fen) for w, fen in zip(powers, prices, strict=True))
    return a_tariff(periods=tuple(periods), ebike_power_bands=bands)


@st.composite
def charges(draw: st.DrawFn, *, with_resets: bool = True) -> list[MeterReading]:
    """Readings of one charge: gaps of 0 s to 3 h, steps, and sometimes a meter reset."""
    at = BASE + timedelta(seconds=draw(st.integers(0, 2 * 86_400)))
    register = draw(st.integers(0, 1_000_000))
    readings = [MeterReading(at, register)]
    for _ in range(draw(st.integers(0, 12))):
        at += timedelta(seconds=draw(st.integers(0, 3 * 3_600)))
        step = draw(st.integers(0, 30_000))
        if with_resets and draw(st.integers(0, 9)) == 0 and register > 0:
            register = min(step, register - 1)  # a drop: the register restarted from 0
        else:
            register += step
        readings.append(MeterReading(at, register))
    return readings


@st.composite
def discounts(draw: st.DrawFn) -> Discount | None:
    if draw(st.booleans()):
        return None
    starts_at = BASE + timedelta(minutes=draw(st.integers(-600, 4_000)))
    ends_at = starts_at + timedelta(minutes=draw(st.integers(1, 3_000)))
    if draw(st.booleans()):
        bp = draw(st.integers(1, 10_000))
        return a_discount(DiscountKind.PERCENT_OFF_SERVICE, starts_at, ends_at, percent_bp=bp)
    amount = draw(st.integers(1, 5_000))
    return a_discount(DiscountKind.FIXED_OFF_FEN, starts_at, ends_at, amount_fen=amount)


instants = st.integers(-3_600, 4 * 86_400).map(lambda s: BASE + timedelta(seconds=s))


def totals(cost: Cost) -> tuple[int, int, int, int, int]:
    return (
        cost.energy_wh,
        cost.electricity_fen,
        cost.service_fen,
        cost.discount_fen,
        cost.total_fen,
    )


def assert_consistent(cost: Cost) -> None:
    assert cost.total_fen >= 0
    assert 0 <= cost.discount_fen <= cost.electricity_fen + cost.service_fen
    assert cost.total_fen == cost.electricity_fen + cost.service_fen - cost.discount_fen
    assert all(
        min(line.energy_wh, line.electricity_fen, line.service_fen) >= 0 for line in cost.lines
    )
    assert sum(line.energy_wh for line in cost.lines) == cost.energy_wh
    assert sum(line.electricity_fen for line in cost.lines) == cost.electricity_fen
    assert sum(line.service_fen for line in cost.lines) == cost.service_fen
    assert all(a.ends_at == b.starts_at for a, b in zip(cost.lines, cost.lines[1:], strict=False))


@PROPERTY_SETTINGS
@given(tariffs(), charges(), discounts(), st.lists(instants, max_size=4))
def test_cost_is_never_negative_and_any_cut_changes_no_total(
    tariff: Tariff, readings: list[MeterReading], discount: Discount | None, cuts: list[datetime]
) -> None:
    whole = price_energy(tariff, readings, discount)
    cut = price_energy(tariff, readings, discount, cut_at=cuts)

    assert_consistent(whole)
    assert_consistent(cut)
    assert totals(cut) == totals(whole)
    assert whole.energy_wh == register_energy_wh((r.at, r.register_wh) for r in readings)


@PROPERTY_SETTINGS
@given(tariffs(), charges(), discounts(), st.data())
def test_cost_up_to_any_reading_is_the_whole_bill_up_to_it(
    tariff: Tariff, readings: list[MeterReading], discount: Discount | None, data: st.DataObject
) -> None:
    split_at = data.draw(st.sampled_from([r.at for r in readings]))
    before = [r for r in readings if r.at <= split_at]

    live = price_energy(tariff, before, discount)
    whole = price_energy(tariff, readings, discount, cut_at=[split_at])
    head = [line for line in whole.lines if line.ends_at <= split_at]

    assert live.energy_wh == sum(line.energy_wh for line in head)
    assert live.electricity_fen == sum(line.electricity_fen for line in head)
    assert live.service_fen == sum(line.service_fen for line in head)
    assert live.total_fen <= whole.total_fen  # more time never costs less


@PROPERTY_SETTINGS
@given(tariffs(), charges(with_resets=False), discounts(), st.data())
def test_more_energy_never_costs_less(
    tariff: Tariff, readings: list[MeterReading], discount: Discount | None, data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(readings) - 1))
    extra_wh = data.draw(st.integers(1, 20_000))
    more = [
        MeterReading(r.at, r.register_wh + (extra_wh if n >= index else 0))
        for n, r in enumerate(readings)
    ]

    cheaper, dearer = price_energy(tariff, readings, discount), price_energy(tariff, more, discount)

    assert dearer.energy_wh >= cheaper.energy_wh
    assert dearer.electricity_fen >= cheaper.electricity_fen
    assert dearer.service_fen >= cheaper.service_fen
    assert dearer.total_fen >= cheaper.total_fen


@PROPERTY_SETTINGS
@given(tariffs(), charges(), discounts(), st.randoms(use_true_random=False))
def test_order_and_repetition_of_readings_change_nothing(
    tariff: Tariff, readings: list[MeterReading], discount: Discount | None, rng: random.Random
) -> None:
    shuffled = [*readings, *readings[: len(readings) // 2]]
    rng.shuffle(shuffled)

    assert price_energy(tariff, shuffled, discount) == price_energy(tariff, readings, discount)


power_samples = st.lists(st.tuples(instants, st.integers(0, 8_000)), max_size=12)


@PROPERTY_SETTINGS
@given(
    tariffs(),
    instants,
    st.integers(0, 10 * 3_600),
    st.integers(0, 3 * 3_600),
    power_samples,
    discounts(),
)
def test_time_pricing_never_costs_less_for_longer_and_is_never_negative(
    tariff: Tariff,
    started_at: datetime,
    duration_s: int,
    longer_by_s: int,
    samples: list[tuple[datetime, int]],
    discount: Discount | None,
) -> None:
    until = started_at + timedelta(seconds=duration_s)
    shorter = price_time(tariff, started_at, until, samples, discount)
    longer = price_time(
        tariff, started_at, until + timedelta(seconds=longer_by_s), samples, discount
    )

    assert_consistent(shorter)
    assert_consistent(longer)
    assert longer.service_fen >= shorter.service_fen
    assert longer.total_fen >= shorter.total_fen
    minutes = -(-duration_s // 60)
    top = max(band.fen_per_hour for band in tariff.ebike_power_bands)
    assert shorter.service_fen <= -(-minutes * top // 60)


@PROPERTY_SETTINGS
@given(st.integers(0, 10**7), st.integers(0, 10**7))
def test_settle_keeps_prepaid_equal_to_consumed_plus_refund(prepaid: int, cost: int) -> None:
    settled = settle(prepaid, cost)

    assert settled.prepaid_fen == settled.consumed_fen + settled.refund_fen
    assert settled.refund_fen >= 0
    assert 0 <= settled.consumed_fen <= min(prepaid, cost)
    assert settled.consumed_fen == min(prepaid, cost)


@PROPERTY_SETTINGS
@given(st.integers(0, 10**7), st.integers(0, 10_000))
def test_shares_always_sum_to_the_consumed_amount(consumed: int, bp: int) -> None:
    split = split_profit(consumed, bp)

    assert split.platform_fen + split.partner_fen == consumed
    assert split.partner_fen >= 0
    assert split.platform_fen >= 0
    assert split.partner_fen * 10_000 <= consumed * bp < (split.partner_fen + 1) * 10_000
