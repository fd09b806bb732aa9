"""Cost engine examples with hand-computed figures: time-of-use periods, register resets,
the rounding rule, e-bike power bands, discounts, charge modes, settlement and shares."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest

from shared.domain.discounts import DiscountKind
from shared.domain.errors import InvalidInput, TariffMissing
from shared.domain.pricing import (
    ChargeMode,
    ChargeTarget,
    Cost,
    LiveCharge,
    MeterReading,
    ProfitSplit,
    Settlement,
    StopReason,
    estimate_energy_wh,
    mileage_target,
    price_energy,
    price_time,
    require_tariff,
    round_half_up,
    settle,
    split_profit,
    stop_decision,
)
from shared.domain.sessions import register_energy_wh
from shared.domain.tariffs import PeriodKind, TariffPeriod
from tests.unit.pricing_builders import a_discount, a_tariff, local, reading

TARIFF = a_tariff()


def figures(cost: Cost) -> list[tuple[str, int, int, int]]:
    return [
        (line.period_kind.value, line.energy_wh, line.electricity_fen, line.service_fen)
        for line in cost.lines
    ]


# --- by energy, time of use --------------------------------------------------------------


def test_session_over_the_0800_and_1100_boundaries_is_priced_per_period() -> None:
    # 07:30-09:30 10 kWh (5 kWh/h), 09:30-11:30 4 kWh (2 kWh/h)
    cost = price_energy(
        TARIFF,
        [
            reading(local(7, 30), 1_000),
            reading(local(9, 30), 11_000),
            reading(local(11, 30), 15_000),
        ],
    )

    assert figures(cost) == [
        ("flat", 2_500, 150, 125),  # 07:30-08:00: 2.5 kWh x 0.60 / 0.50
        ("peak", 10_500, 1_050, 840),  # 08:00-11:00: 7.5 + 3 kWh x 1.00 / 0.80
        ("sharp", 1_000, 120, 80),  # 11:00-11:30: 1 kWh x 1.20 / 0.80
    ]
    assert [(line.starts_at, line.ends_at) for line in cost.lines] == [
        (local(7, 30), local(8)),
        (local(8), local(11)),
        (local(11), local(11, 30)),
    ]
    assert (cost.energy_wh, cost.electricity_fen, cost.service_fen) == (14_000, 1_320, 1_045)
    assert (cost.discount_fen, cost.total_fen) == (0, 2_365)


def test_register_reset_counts_the_new_reading_from_zero_when_the_register_drops() -> None:
    readings = [
        reading(local(7, 30), 1_000),
        reading(local(8, 30), 5_000),  # 4 kWh: half flat, half peak
        reading(local(9), 200),  # reset: 200 Wh since 0
        reading(local(10), 2_200),
    ]

    cost = price_energy(TARIFF, readings)

    assert figures(cost) == [("flat", 2_000, 120, 100), ("peak", 4_200, 420, 336)]
    assert cost.energy_wh == register_energy_wh((r.at, r.register_wh) for r in readings) == 6_200
    assert cost.total_fen == 976


def test_readings_in_any_order_and_repeated_cost_the_same_when_the_set_is_the_same() -> None:
    readings = [reading(local(7, 30), 1_000), reading(local(9), 5_000), reading(local(12), 9_000)]
    shuffled = [readings[2], readings[0], readings[1], readings[0], readings[2]]

    assert price_energy(TARIFF, shuffled) == price_energy(TARIFF, readings)


def test_rounding_rounds_cumulative_amounts_half_up_when_a_step_straddles_a_boundary() -> None:
    # 1,001 Wh over 07:59-08:01: 500.5 Wh flat then 500.5 Wh peak
    cost = price_energy(TARIFF, [reading(local(7, 59), 0), reading(local(8, 1), 1_001)])

    # energy: R(500.5)=501, R(1001)-501=500
    # electricity: R(30.03)=30, R(30.03+50.05=80.08)-30=50
    # service: R(25.025)=25, R(25.025+40.04=65.065)-25=40
    assert figures(cost) == [("flat", 501, 30, 25), ("peak", 500, 50, 40)]
    assert cost.total_fen == 145


def test_round_half_up_rounds_halves_up_when_exactly_between() -> None:
    assert [round_half_up(Fraction(n, 2)) for n in range(6)] == [0, 1, 1, 2, 2, 3]
    assert round_half_up(Fraction(2499, 1000)) == 2


def test_midnight_inside_the_valley_cuts_no_line_when_the_period_wraps() -> None:
    cost = price_energy(
        TARIFF, [reading(local(23, 30, day=1), 0), reading(local(1, 30, day=2), 4_000)]
    )

    assert figures(cost) == [("valley", 4_000, 120, 160)]


def test_a_step_seen_at_a_boundary_instant_belongs_to_the_period_ending_there() -> None:
    # two readings at 08:00: the 300 Wh between them were consumed before 08:00
    cost = price_energy(
        TARIFF,
        [
            reading(local(7, 30), 0),
            reading(local(8), 1_000),
            reading(local(8), 1_300),
            reading(local(8, 30), 2_300),
        ],
    )

    assert figures(cost) == [("flat", 1_300, 78, 65), ("peak", 1_000, 100, 80)]


def test_cut_at_adds_lines_without_changing_totals_when_given_billing_points() -> None:
    readings = [reading(local(7, 59), 0), reading(local(8, 1), 1_001), reading(local(8, 7), 1_777)]
    whole = price_energy(TARIFF, readings)

    cut = price_energy(TARIFF, readings, cut_at=[local(8, 0, 30), local(8, 3), local(20)])

    assert [line.ends_at for line in cut.lines] == [
        local(8),
        local(8, 0, 30),
        local(8, 3),
        local(8, 7),
    ]
    assert (cut.energy_wh, cut.electricity_fen, cut.service_fen, cut.total_fen) == (
        whole.energy_wh,
        whole.electricity_fen,
        whole.service_fen,
        whole.total_fen,
    )


def test_one_reading_or_none_costs_nothing_when_no_energy_was_measured() -> None:
    assert price_energy(TARIFF, []).total_fen == 0
    single = price_energy(TARIFF, [reading(local(9), 500)])
    assert single.total_fen == 0
    assert figures(single) == [("peak", 0, 0, 0)]


def test_free_period_prices_zero_when_the_tariff_says_so() -> None:
    free = a_tariff(periods=(TariffPeriod(PeriodKind.FLAT, "00:00", "24:00", 0, 0),))

    assert price_energy(free, [reading(local(9), 0), reading(local(10), 5_000)]).total_fen == 0


@pytest.mark.parametrize(
    "build",
    [
        lambda: MeterReading(at=datetime(2026, 11, 2, 9), register_wh=0),
        lambda: MeterReading(at=local(9), register_wh=-1),
        lambda: MeterReading(at=local(9), register_wh=True),
    ],
)
def test_bad_reading_is_refused_when_naive_or_negative(build: Any) -> None:
    with pytest.raises(InvalidInput):
        build()


def test_readings_over_31_days_apart_are_refused_when_a_clock_went_wrong() -> None:
    far = local(9) + timedelta(days=32)
    with pytest.raises(InvalidInput):
        price_energy(TARIFF, [reading(local(9), 0), reading(far, 10)])


def test_missing_tariff_is_an_error_when_the_lookup_found_nothing() -> None:
    with pytest.raises(TariffMissing) as caught:
        require_tariff(None, "tf-" + "9" * 20, 3)
    assert caught.value.fields == {"tariff_id": "tf-" + "9" * 20, "version": 3}
    assert require_tariff(TARIFF, TARIFF.tariff_id, 1) is TARIFF


# --- discounts ---------------------------------------------------------------------------


def test_percent_off_service_applies_only_to_energy_inside_the_window() -> None:
    # 20 % off the service fee from 08:30 to 09:00; 2 kWh/h from 08:00 to 10:00
    promo = a_discount(DiscountKind.PERCENT_OFF_SERVICE, local(8, 30), local(9), percent_bp=2_000)
    cost = price_energy(TARIFF, [reading(local(8), 0), reading(local(10), 4_000)], promo)

    # service 4 kWh x 0.80 = 320; inside the window 1 kWh x 0.80 x 20 % = 16 off
    assert (cost.electricity_fen, cost.service_fen, cost.discount_fen) == (400, 320, 16)
    assert cost.total_fen == 704


def test_percent_off_service_takes_nothing_when_the_charge_is_outside_the_window() -> None:
    promo = a_discount(DiscountKind.PERCENT_OFF_SERVICE, local(12), local(13), percent_bp=5_000)

    cost = price_energy(TARIFF, [reading(local(8), 0), reading(local(10), 4_000)], promo)

    assert cost.discount_fen == 0


def test_fixed_off_applies_when_the_charge_starts_inside_the_window() -> None:
    promo = a_discount(DiscountKind.FIXED_OFF_FEN, local(7), local(8, 30), amount_fen=100)
    readings = [reading(local(8), 0), reading(local(10), 4_000)]

    assert price_energy(TARIFF, readings, promo).total_fen == 720 - 100
    late = a_discount(DiscountKind.FIXED_OFF_FEN, local(8, 1), local(12), amount_fen=100)
    assert price_energy(TARIFF, readings, late).total_fen == 720


def test_fixed_off_never_takes_the_total_below_zero_when_larger_than_the_cost() -> None:
    promo = a_discount(DiscountKind.FIXED_OFF_FEN, local(7), local(12), amount_fen=50_000)

    cost = price_energy(TARIFF, [reading(local(8), 0), reading(local(10), 4_000)], promo)

    assert (cost.discount_fen, cost.total_fen) == (720, 0)


# --- by time, power bands (e-bike) -------------------------------------------------------


def test_power_bands_price_each_started_minute_by_the_highest_power_seen() -> None:
    samples = [(local(8, 10), 150), (local(8, 20), 300), (local(8, 40), 900)]

    cost = price_time(TARIFF, local(7, 59), local(9), samples)

    # 07:59-08:20 band 200 W at 1.00/h (the first sample's power back to the start),
    # 08:20-08:40 band 500 W at 2.00/h, 08:40-09:00 band 1000 W at 3.00/h
    # cumulative 21/60*100 = 35, + 20/60*200 = 101.67, + 20/60*300 = 201.67
    assert [
        (line.period_kind, line.band_max_power_w, line.service_fen, line.starts_at, line.ends_at)
        for line in cost.lines
    ] == [
        (PeriodKind.FLAT, 200, 2, local(7, 59), local(8)),  # R(1.67)
        (PeriodKind.PEAK, 200, 33, local(8), local(8, 20)),  # R(35) - 2
        (PeriodKind.PEAK, 500, 67, local(8, 20), local(8, 40)),  # R(101.67) - 35
        (PeriodKind.PEAK, 1000, 100, local(8, 40), local(9)),  # R(201.67) - 102
    ]
    assert (cost.electricity_fen, cost.service_fen, cost.energy_wh, cost.total_fen) == (
        0,
        202,
        0,
        202,
    )


def test_power_above_every_band_pays_the_top_band_when_measured() -> None:
    cost = price_time(TARIFF, local(9), local(10), [(local(9), 2_500)])

    assert [line.band_max_power_w for line in cost.lines] == [1000]
    assert cost.total_fen == 300


def test_a_short_peak_inside_a_minute_bills_that_whole_minute_at_its_band() -> None:
    samples = [(local(9), 100), (local(9, 5, 30), 450), (local(9, 5, 40), 100)]

    cost = price_time(TARIFF, local(9), local(9, 10), samples)

    assert [(line.band_max_power_w, line.ends_at) for line in cost.lines] == [
        (200, local(9, 5)),
        (500, local(9, 6)),
        (200, local(9, 10)),
    ]


def test_a_started_minute_is_billed_whole_when_the_charge_ends_inside_it() -> None:
    cost = price_time(TARIFF, local(9), local(9, 0, 1), [(local(9), 100)])

    assert cost.total_fen == round_half_up(Fraction(100, 60)) == 2
    assert price_time(TARIFF, local(9), local(9), [(local(9), 100)]).total_fen == 0


def test_no_power_sample_bills_the_lowest_band_when_nothing_was_measured() -> None:
    cost = price_time(TARIFF, local(9), local(11), [])

    assert cost.total_fen == 200
    assert [line.band_max_power_w for line in cost.lines] == [200]


def test_samples_after_until_are_ignored_when_pricing_up_to_now() -> None:
    cost = price_time(TARIFF, local(9), local(10), [(local(9), 100), (local(10), 900)])

    assert cost.total_fen == 100


def test_price_time_without_bands_is_tariff_missing_when_the_tariff_has_none() -> None:
    with pytest.raises(TariffMissing):
        price_time(a_tariff(ebike_power_bands=()), local(9), local(10), [])


@pytest.mark.parametrize(
    ("started_at", "until", "samples", "field"),
    [
        (local(10), local(9), [], "until"),
        (datetime(2026, 11, 2, 9), local(10), [], "started_at"),
        (local(9), local(10), [(local(9), -5)], "power_w"),
        (local(9), local(9) + timedelta(days=40), [], "until"),
    ],
)
def test_price_time_refuses_bad_input_when_times_or_powers_are_wrong(
    started_at: datetime, until: datetime, samples: list[tuple[datetime, int]], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        price_time(TARIFF, started_at, until, samples)
    assert caught.value.fields["field"] == field


def test_percent_off_applies_to_minutes_starting_inside_the_window_when_priced_by_time() -> None:
    promo = a_discount(DiscountKind.PERCENT_OFF_SERVICE, local(9, 30), local(12), percent_bp=5_000)

    cost = price_time(TARIFF, local(9), local(10), [(local(9), 100)], promo)

    assert (cost.service_fen, cost.discount_fen, cost.total_fen) == (100, 25, 75)


# --- charge modes and stopping -----------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "value"),
    [
        (ChargeMode.TIME, 59),
        (ChargeMode.TIME, None),
        (ChargeMode.TIME, 86_401),
        (ChargeMode.AMOUNT, 0),
        (ChargeMode.AMOUNT, 1.5),
        (ChargeMode.ENERGY, True),
        (ChargeMode.FULL, 100),
        ("mileage", 10),
        (["time"], 60),
        (None, None),
    ],
)
def test_charge_target_is_refused_when_the_value_does_not_fit_the_mode(
    mode: Any, value: Any
) -> None:
    with pytest.raises(InvalidInput):
        ChargeTarget(mode, value)


def test_charge_target_round_trips_when_given_as_a_dict() -> None:
    target = ChargeTarget.from_dict({"mode": "amount", "value": 400})

    assert target == ChargeTarget(ChargeMode.AMOUNT, 400)
    assert ChargeTarget.from_dict(target.to_dict()) == target
    assert ChargeTarget.from_dict({"mode": "full"}) == ChargeTarget(ChargeMode.FULL)
    with pytest.raises(InvalidInput):
        ChargeTarget.from_dict({"mode": "full", "extra": 1})


def test_mileage_target_turns_distance_into_energy_when_given_consumption() -> None:
    assert mileage_target(100, 150) == ChargeTarget(ChargeMode.ENERGY, 15_000)
    with pytest.raises(InvalidInput):
        mileage_target(0, 150)


@pytest.mark.parametrize(
    ("target", "live", "margin", "expected"),
    [
        (ChargeTarget(ChargeMode.TIME, 3_600), LiveCharge(3_599, 0, 10), 0, None),
        (
            ChargeTarget(ChargeMode.TIME, 3_600),
            LiveCharge(3_600, 0, 10),
            0,
            StopReason.TARGET_REACHED,
        ),
        (
            ChargeTarget(ChargeMode.ENERGY, 5_000),
            LiveCharge(60, 5_000, 10),
            0,
            StopReason.TARGET_REACHED,
        ),
        (ChargeTarget(ChargeMode.AMOUNT, 300), LiveCharge(60, 10, 290), 0, None),
        (
            ChargeTarget(ChargeMode.AMOUNT, 300),
            LiveCharge(60, 10, 290),
            10,
            StopReason.TARGET_REACHED,
        ),
        (
            ChargeTarget(ChargeMode.AMOUNT, 400),
            LiveCharge(60, 10, 400),
            0,
            StopReason.TARGET_REACHED,
        ),
        (ChargeTarget(ChargeMode.FULL), LiveCharge(99_999, 99_999, 399), 0, None),
        (ChargeTarget(ChargeMode.FULL), LiveCharge(60, 10, 400), 0, StopReason.CAP_REACHED),
        (ChargeTarget(ChargeMode.FULL), LiveCharge(60, 10, 390), 10, StopReason.CAP_REACHED),
        (
            ChargeTarget(ChargeMode.ENERGY, 50_000),
            LiveCharge(60, 10, 401),
            0,
            StopReason.CAP_REACHED,
        ),
    ],
)
def test_stop_decision_names_the_reason_when_the_target_or_the_cap_is_reached(
    target: ChargeTarget, live: LiveCharge, margin: int, expected: StopReason | None
) -> None:
    assert stop_decision(target, 400, live, margin_fen=margin) is expected


def test_stop_decision_refuses_negative_cap_or_margin_when_given() -> None:
    live = LiveCharge(0, 0, 0)
    with pytest.raises(InvalidInput):
        stop_decision(ChargeTarget(ChargeMode.FULL), -1, live)
    with pytest.raises(InvalidInput):
        stop_decision(ChargeTarget(ChargeMode.FULL), 400, live, margin_fen=-1)
    with pytest.raises(InvalidInput):
        LiveCharge(0, -1, 0)


# --- settlement and profit sharing -------------------------------------------------------


def test_settle_refunds_the_unused_part_when_the_cost_is_below_the_prepaid_amount() -> None:
    assert settle(400, 300) == Settlement(prepaid_fen=400, consumed_fen=300, refund_fen=100)
    assert settle(400, 455) == Settlement(prepaid_fen=400, consumed_fen=400, refund_fen=0)
    assert settle(0, 0) == Settlement(0, 0, 0)


@pytest.mark.parametrize(("prepaid", "cost"), [(-1, 0), (400, -1), (400.0, 1), (True, 1)])
def test_settle_refuses_bad_amounts_when_negative_or_not_integers(prepaid: Any, cost: Any) -> None:
    with pytest.raises(InvalidInput):
        settle(prepaid, cost)


def test_settlement_refuses_figures_that_do_not_add_up_when_built_by_hand() -> None:
    with pytest.raises(InvalidInput):
        Settlement(prepaid_fen=400, consumed_fen=300, refund_fen=99)


def test_split_profit_rounds_the_partner_share_down_when_it_is_not_whole() -> None:
    assert split_profit(301, 5_000) == ProfitSplit(platform_fen=151, partner_fen=150)
    assert split_profit(300, 3_333) == ProfitSplit(platform_fen=201, partner_fen=99)
    assert split_profit(300, 0) == ProfitSplit(platform_fen=300, partner_fen=0)
    assert split_profit(300, 10_000) == ProfitSplit(platform_fen=0, partner_fen=300)


@pytest.mark.parametrize(("consumed", "bp"), [(-1, 5_000), (100, -1), (100, 10_001), (100, 50.0)])
def test_split_profit_refuses_bad_input_when_out_of_range(consumed: Any, bp: Any) -> None:
    with pytest.raises(InvalidInput):
        split_profit(consumed, bp)


# --- estimates ---------------------------------------------------------------------------


def test_estimate_energy_uses_the_period_price_in_force_when_asked() -> None:
    assert estimate_energy_wh(TARIFF, 400, local(9)) == 2_222  # 4.00 / 1.80 per kWh
    assert estimate_energy_wh(TARIFF, 400, local(2)) == 5_714  # 4.00 / 0.70 per kWh
    assert estimate_energy_wh(TARIFF, 0, local(2)) == 0


def test_estimate_energy_is_refused_when_the_period_is_free_or_input_bad() -> None:
    free = a_tariff(periods=(TariffPeriod(PeriodKind.FLAT, "00:00", "24:00", 0, 0),))
    with pytest.raises(InvalidInput):
        estimate_energy_wh(free, 400, local(9))
    with pytest.raises(InvalidInput):
        estimate_energy_wh(TARIFF, -1, local(9))
    with pytest.raises(InvalidInput):
        estimate_energy_wh(TARIFF, 400, datetime(2026, 11, 2, 9))


def test_times_are_compared_as_instants_when_given_in_other_zones() -> None:
    utc = [
        reading(local(7, 30).astimezone(UTC), 1_000),
        reading(local(9, 30).astimezone(UTC), 11_000),
    ]
    shanghai = [reading(local(7, 30), 1_000), reading(local(9, 30), 11_000)]

    assert price_energy(TARIFF, utc) == price_energy(TARIFF, shanghai)


def test_a_step_seen_at_the_window_end_is_discounted_when_consumed_inside_it() -> None:
    readings = [reading(local(8), 0), reading(local(8, 30), 1_000), reading(local(8, 30), 1_500)]
    ending = a_discount(DiscountKind.PERCENT_OFF_SERVICE, local(8), local(8, 30), percent_bp=10_000)
    starting = a_discount(
        DiscountKind.PERCENT_OFF_SERVICE, local(8, 30), local(9), percent_bp=10_000
    )

    assert price_energy(TARIFF, readings, ending).discount_fen == 120  # 1.5 kWh x 0.80
    assert price_energy(TARIFF, readings, starting).discount_fen == 0


def test_cost_to_dict_is_json_ready_when_sent_to_the_workflow() -> None:
    cost = price_time(TARIFF, local(7, 59), local(8, 1), [(local(7, 59), 100)])

    assert cost.to_dict() == {
        "energy_wh": 0,
        "electricity_fen": 0,
        "service_fen": 3,
        "discount_fen": 0,
        "total_fen": 3,
        "lines": [
            {
                "period_kind": "flat",
                "starts_at": "2026-11-01T23:59:00.000Z",
                "ends_at": "2026-11-02T00:00:00.000Z",
                "energy_wh": 0,
                "electricity_fen": 0,
                "service_fen": 2,
                "band_max_power_w": 200,
            },
            {
                "period_kind": "peak",
                "starts_at": "2026-11-02T00:00:00.000Z",
                "ends_at": "2026-11-02T00:01:00.000Z",
                "energy_wh": 0,
                "electricity_fen": 0,
                "service_fen": 1,
                "band_max_power_w": 200,
            },
        ],
    }
