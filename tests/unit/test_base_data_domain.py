"""Base-data domain rules: geohash, tariff day coverage, piles and guns, discounts, cards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain import geohash
from shared.domain.base_data import Operator, PageRequest, StaffMember, resolve_operator
from shared.domain.cards import Card, CardStatus
from shared.domain.discounts import Discount, DiscountKind
from shared.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.domain.passwords import hash_password
from shared.domain.piles import Pile, PileKind, PileProtocol, guns_of
from shared.domain.stations import Station
from shared.domain.tariffs import (
    MINUTES_PER_DAY,
    PeriodKind,
    PowerBand,
    Tariff,
    TariffPeriod,
    check_day_coverage,
)
from shared.domain.tenancy import Principal, Role

AT = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
OP_A = "op-" + "a" * 20
OP_B = "op-" + "b" * 20


# --- geohash -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lat", "lng", "precision", "expected"),
    [
        (57.64911, 10.40744, 11, "u4pruydqqvj"),  # Wikipedia's worked example
        (42.605, -5.603, 5, "ezs42"),  # geohash.org's example cell
        (31.2304, 121.4737, 5, "wtw3s"),  # People's Square, Shanghai
        (39.9087, 116.3975, 5, "wx4g0"),  # Tiananmen, Beijing
        (-90.0, -180.0, 5, "00000"),
        (90.0, 180.0, 5, "zzzzz"),
    ],
)
def test_geohash_matches_published_values_when_encoding_known_points(lat, lng, precision, expected):
    assert geohash.encode(lat, lng, precision) == expected


def test_geohash_neighbours_are_the_eight_published_cells_when_asked_around_ezs42():
    assert sorted(geohash.neighbours("ezs42")) == sorted(
        ["ezs42", "ezs48", "ezs49", "ezs43", "ezs41", "ezs40", "ezefp", "ezefr", "ezefx"]
    )


@given(st.floats(-90, 90), st.floats(-180, 180), st.integers(1, 12))
def test_geohash_cell_contains_its_point_when_decoded(lat, lng, precision):
    lat_min, lat_max, lng_min, lng_max = geohash.bounds(geohash.encode(lat, lng, precision))
    assert lat_min <= lat <= lat_max
    assert lng_min <= lng <= lng_max


@pytest.mark.parametrize(("lat", "lng"), [(91, 0), (0, 181), (-90.1, 0)])
def test_geohash_refuses_points_off_the_globe_when_encoding(lat, lng):
    with pytest.raises(ValueError, match="latitude"):
        geohash.encode(lat, lng)


# --- tariffs ---------------------------------------------------------------------------------


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _period(
    start: int, end: int, kind: PeriodKind = PeriodKind.FLAT, fen: int = 80
) -> TariffPeriod:
    return TariffPeriod(
        kind=kind,
        start=_clock(start),
        end=_clock(end),
        electricity_fen_per_kwh=fen,
        service_fen_per_kwh=40,
    )


def _tariff(periods, **overrides) -> Tariff:
    values: dict[str, Any] = {
        "tariff_id": "tf-" + "1" * 20,
        "operator_id": OP_A,
        "name": "TOU",
        "periods": tuple(periods),
        "version": 1,
        "created_at": AT,
        "updated_at": AT,
    }
    values.update(overrides)
    return Tariff(**values)


@st.composite
def day_partitions(draw):
    """Cut points that split the local day into 1..12 periods, rotated so one may wrap midnight."""
    cuts = sorted(draw(st.sets(st.integers(1, MINUTES_PER_DAY - 1), min_size=0, max_size=11)))
    bounds = [0, *cuts, MINUTES_PER_DAY]
    spans = list(pairwise(bounds))
    shift = draw(st.integers(0, MINUTES_PER_DAY - 1)) if len(spans) > 1 else 0
    kinds = list(PeriodKind)
    return [
        _period(
            (a + shift) % MINUTES_PER_DAY,
            (b + shift) % MINUTES_PER_DAY or MINUTES_PER_DAY,
            kinds[i % 4],
        )
        for i, (a, b) in enumerate(spans)
    ]


@given(day_partitions())
def test_every_minute_falls_in_exactly_one_period_when_periods_tile_the_day(periods):
    check_day_coverage(periods)
    for minute in range(0, MINUTES_PER_DAY, 7):
        assert sum(period.covers(minute) for period in periods) == 1


@given(day_partitions(), st.data())
def test_coverage_is_refused_when_a_period_is_dropped(periods, data):
    if len(periods) < 2:
        return
    index = data.draw(st.integers(0, len(periods) - 1))
    with pytest.raises(InvalidInput, match="uncovered"):
        check_day_coverage(periods[:index] + periods[index + 1 :])


@given(day_partitions(), st.integers(0, MINUTES_PER_DAY - 2), st.integers(1, 120))
def test_coverage_is_refused_when_an_extra_period_overlaps(periods, start, length):
    extra = _period(start, min(start + length, MINUTES_PER_DAY))
    with pytest.raises(InvalidInput, match="overlap"):
        check_day_coverage([*periods, extra])


def test_period_at_reads_shanghai_local_time_when_the_valley_wraps_midnight():
    tariff = _tariff(
        [
            _period(23 * 60, 7 * 60, PeriodKind.VALLEY, fen=30),
            _period(7 * 60, 10 * 60, PeriodKind.FLAT, fen=60),
            _period(10 * 60, 12 * 60, PeriodKind.PEAK, fen=90),
            _period(12 * 60, 23 * 60, PeriodKind.FLAT, fen=60),
        ]
    )
    # 02:00 UTC is 10:00 in Shanghai (peak); 16:30 UTC is 00:30 local (valley).
    assert tariff.period_at(datetime(2026, 11, 1, 2, 0, tzinfo=UTC)).kind is PeriodKind.PEAK
    assert tariff.period_at(datetime(2026, 11, 1, 16, 30, tzinfo=UTC)).kind is PeriodKind.VALLEY
    assert tariff.period_at(datetime(2026, 11, 1, 1, 59, tzinfo=UTC)).kind is PeriodKind.FLAT


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("24:00", "01:00", "cannot start at 24:00"),
        ("08:00", "08:00", "must not start where"),
        ("8:00", "09:00", "HH:MM"),
        ("08:60", "09:00", "HH:MM"),
        ("00:00", "24:01", "HH:MM"),
    ],
)
def test_period_is_refused_when_its_clock_times_are_wrong(start, end, message):
    with pytest.raises(InvalidInput, match=message):
        TariffPeriod(PeriodKind.FLAT, start, end, 80, 40)


def test_power_bands_must_rise_when_an_ebike_tariff_lists_them():
    whole_day = [_period(0, MINUTES_PER_DAY)]
    tariff = _tariff(whole_day, ebike_power_bands=(PowerBand(300, 50), PowerBand(800, 100)))
    assert tariff.band_for(250) == PowerBand(300, 50)
    assert tariff.band_for(800) == PowerBand(800, 100)
    assert tariff.band_for(801) is None
    with pytest.raises(InvalidInput, match="rising"):
        _tariff(whole_day, ebike_power_bands=(PowerBand(800, 100), PowerBand(300, 50)))


def test_a_higher_power_band_that_costs_less_is_refused():
    # A charge is priced at the highest band it reached: a cheaper higher band would make a
    # longer charge cost less (found by the pricing property test).
    whole_day = [_period(0, MINUTES_PER_DAY)]
    with pytest.raises(InvalidInput, match="must not cost less") as refused:
        _tariff(whole_day, ebike_power_bands=(PowerBand(300, 50), PowerBand(800, 40)))
    assert refused.value.fields["field"] == "ebike_power_bands"
    assert _tariff(whole_day, ebike_power_bands=(PowerBand(300, 50), PowerBand(800, 50)))


# --- stations, piles, guns ------------------------------------------------------------------


def _station(**overrides) -> Station:
    values: dict[str, Any] = {
        "station_id": "st-" + "1" * 20,
        "operator_id": OP_A,
        "name": "Site",
        "address": "1 Road",
        "lat": 31.2304,
        "lng": 121.4737,
        "transformer_capacity_kva": 630,
        "partner_share_bp": 5000,
        "created_at": AT,
        "updated_at": AT,
    }
    values.update(overrides)
    return Station(**values)


def test_station_keeps_its_geohash_cell_when_created():
    assert _station().geohash5 == "wtw3s"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("partner_share_bp", 10_001),
        ("partner_share_bp", -1),
        ("lat", 90.5),
        ("name", "  "),
        ("transformer_capacity_kva", 0),
    ],
)
def test_station_is_refused_when_a_field_is_out_of_range(field, value):
    with pytest.raises(InvalidInput) as caught:
        _station(**{field: value})
    assert caught.value.fields["field"] == field


HASH = hash_password("p" * 16, b"0" * 16, iterations=1)


def _pile(**overrides) -> Pile:
    values: dict[str, Any] = {
        "pile_id": "CP-001",
        "operator_id": OP_A,
        "station_id": "st-" + "1" * 20,
        "name": "CP-001",
        "serial": "SN1",
        "kind": PileKind.CAR,
        "protocol": PileProtocol.OCPP16,
        "model": "AC7",
        "rated_power_w": 7000,
        "gun_count": 2,
        "is_enabled": True,
        "created_at": AT,
        "updated_at": AT,
        "password_hash": HASH,
    }
    values.update(overrides)
    return Pile(**values)


def test_new_pile_gets_numbered_enabled_guns_when_created():
    guns = guns_of(_pile(gun_count=2))
    assert [(g.gun_no, g.name, g.is_enabled) for g in guns] == [
        (1, "Gun 1", True),
        (2, "Gun 2", True),
    ]
    ports = guns_of(
        _pile(
            kind=PileKind.EBIKE,
            protocol=PileProtocol.MODBUS,
            gun_count=10,
            password_hash=None,
            gateway_id="GW-1",
            modbus_address=3,
        )
    )
    assert [p.name for p in ports][-1] == "Port 10"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"gun_count": 9}, "gun_count"),
        ({"kind": PileKind.EBIKE, "gun_count": 21}, "gun_count"),
        ({"pile_id": "bad/id"}, "pile_id"),
        ({"pile_id": "x" * 49}, "pile_id"),
        ({"password_hash": None}, "password"),
        ({"modbus_address": 3}, "modbus_address"),
        (
            {
                "protocol": PileProtocol.MODBUS,
                "password_hash": None,
                "gateway_id": "G",
                "modbus_address": 1,
            },
            "protocol",
        ),
        (
            {
                "kind": PileKind.EBIKE,
                "protocol": PileProtocol.MODBUS,
                "password_hash": None,
                "modbus_address": 1,
            },
            "gateway_id",
        ),
        (
            {
                "kind": PileKind.EBIKE,
                "protocol": PileProtocol.MODBUS,
                "password_hash": None,
                "gateway_id": "G",
                "modbus_address": 248,
            },
            "modbus_address",
        ),
        (
            {
                "kind": PileKind.EBIKE,
                "protocol": PileProtocol.MODBUS,
                "gateway_id": "G",
                "modbus_address": 1,
            },
            "password",
        ),
        ({"rated_power_w": 0}, "rated_power_w"),
    ],
)
def test_pile_is_refused_when_it_breaks_a_rule(overrides, field):
    with pytest.raises(InvalidInput) as caught:
        _pile(**overrides)
    assert caught.value.fields["field"] == field


# --- discounts, cards, operators ---------------------------------------------------------------


def _discount(**overrides) -> Discount:
    values: dict[str, Any] = {
        "discount_id": "dc-" + "1" * 20,
        "operator_id": OP_A,
        "name": "Night",
        "kind": DiscountKind.PERCENT_OFF_SERVICE,
        "percent_bp": 2000,
        "starts_at": AT,
        "ends_at": AT + timedelta(days=7),
        "station_ids": (),
        "created_at": AT,
        "updated_at": AT,
    }
    values.update(overrides)
    return Discount(**values)


def test_discount_applies_inside_its_window_when_no_station_is_named():
    discount = _discount()
    assert discount.is_active_at(AT, "st-" + "9" * 20)
    assert not discount.is_active_at(AT + timedelta(days=7), "st-" + "9" * 20)
    named = _discount(station_ids=("st-" + "1" * 20,))
    assert not named.is_active_at(AT, "st-" + "9" * 20)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"ends_at": AT}, "ends_at"),
        ({"percent_bp": None}, "percent_bp"),
        ({"amount_fen": 100}, "percent_bp"),
        ({"kind": DiscountKind.FIXED_OFF_FEN}, "amount_fen"),
        ({"kind": DiscountKind.FIXED_OFF_FEN, "percent_bp": None, "amount_fen": 0}, "amount_fen"),
        ({"station_ids": ("st-" + "1" * 20, "st-" + "1" * 20)}, "station_ids"),
        ({"percent_bp": 10_001}, "percent_bp"),
    ],
)
def test_discount_is_refused_when_it_breaks_a_rule(overrides, field):
    with pytest.raises(InvalidInput) as caught:
        _discount(**overrides)
    assert caught.value.fields["field"] == field


def _card(**overrides) -> Card:
    values: dict[str, Any] = {
        "card_no": "CARD-1",
        "operator_id": OP_A,
        "holder_name": "Li",
        "phone": "13800000000",
        "created_at": AT,
        "updated_at": AT,
    }
    values.update(overrides)
    return Card(**values)


def test_card_moves_between_states_when_frozen_unfrozen_and_unbound():
    card = _card()
    assert card.is_authorizable
    frozen = card.frozen(AT)
    assert frozen.status is CardStatus.FROZEN and not frozen.is_authorizable
    assert frozen.unfrozen(AT).status is CardStatus.ACTIVE
    unbound = frozen.unbound(AT, balance_fen=0)
    assert unbound.status is CardStatus.UNBOUND
    with pytest.raises(Conflict):
        unbound.frozen(AT)
    with pytest.raises(Conflict):
        unbound.unfrozen(AT)
    with pytest.raises(Conflict):
        unbound.unbound(AT, balance_fen=0)


def test_card_cannot_be_unbound_when_money_is_left():
    with pytest.raises(Conflict, match="refund_balance"):
        _card().unbound(AT, balance_fen=1)


@pytest.mark.parametrize(
    ("field", "value"),
    [("card_no", "x" * 21), ("card_no", "a b"), ("phone", "12"), ("holder_name", "")],
)
def test_card_is_refused_when_a_field_is_malformed(field, value):
    with pytest.raises(InvalidInput) as caught:
        _card(**{field: value})
    assert caught.value.fields["field"] == field


def test_operator_and_staff_rules_hold_when_created():
    with pytest.raises(InvalidInput):
        Operator(operator_id=OP_A, name="", created_at=AT, updated_at=AT)
    with pytest.raises(InvalidInput, match="staff role"):
        StaffMember(username="boss", operator_id=OP_A, role=Role.PLATFORM_ADMIN, created_at=AT)
    with pytest.raises(InvalidInput, match="username"):
        StaffMember(username="a b", operator_id=OP_A, role=Role.MAINTENANCE, created_at=AT)
    with pytest.raises(InvalidInput, match="limit"):
        PageRequest(limit=101)


def test_resolve_operator_names_the_callers_own_when_staff_omit_it():
    staff = Principal("a", Role.OPERATOR_ADMIN, OP_A)
    admin = Principal("root", Role.PLATFORM_ADMIN, None)
    assert resolve_operator(staff, None) == OP_A
    assert resolve_operator(staff, OP_A) == OP_A
    assert resolve_operator(admin, OP_B) == OP_B
    with pytest.raises(NotFound):
        resolve_operator(staff, OP_B)
    with pytest.raises(InvalidInput, match="operator_id is required"):
        resolve_operator(admin, None)
    with pytest.raises(Forbidden):
        resolve_operator(Principal("x", Role.MAINTENANCE, None), None)
