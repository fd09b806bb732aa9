"""Driver domain (pure): the cells a nearby search queries cover the circle, distances, the
price now and until when, QR payloads, gun states for drivers."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain import geohash
from shared.domain.drivers import (
    GunState,
    cells_covering,
    distance_m,
    gun_state,
    parse_qr,
    price_now,
    qr_payload,
)
from shared.domain.errors import InvalidInput
from shared.domain.tariffs import PeriodKind, Tariff, TariffPeriod

AT = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


@given(
    lat=st.floats(min_value=-60, max_value=60),
    lng=st.floats(min_value=-179.9, max_value=179.9),
    radius_m=st.integers(min_value=1, max_value=10_000),
    bearing=st.floats(min_value=0, max_value=2 * math.pi),
    fraction=st.floats(min_value=0, max_value=1),
)
def test_every_point_within_the_radius_lies_in_a_queried_cell(
    lat: float, lng: float, radius_m: int, bearing: float, fraction: float
) -> None:
    reach = radius_m * fraction / 6_371_008.8
    point_lat = lat + math.degrees(reach * math.cos(bearing))
    point_lng = lng + math.degrees(reach * math.sin(bearing)) / math.cos(math.radians(lat))
    point_lng = (point_lng + 180.0) % 360.0 - 180.0
    if distance_m(lat, lng, point_lat, point_lng) > radius_m:
        return
    assert geohash.encode(point_lat, point_lng) in cells_covering(lat, lng, radius_m)


def test_a_small_radius_inside_one_cell_queries_that_cell_only() -> None:
    assert cells_covering(31.23, 121.47, 100) == [geohash.encode(31.23, 121.47)]


@pytest.mark.parametrize("radius_m", [0, 10_001, True])
def test_a_radius_out_of_range_is_refused(radius_m: int) -> None:
    with pytest.raises(InvalidInput):
        cells_covering(31.23, 121.47, radius_m)


def test_distance_of_a_degree_of_latitude_is_about_111_km() -> None:
    assert 111_000 < distance_m(31.0, 121.0, 32.0, 121.0) < 111_400


def _tariff(*periods: TariffPeriod) -> Tariff:
    return Tariff(
        tariff_id="tf-1",
        operator_id="op-1",
        name="t",
        periods=periods,
        version=1,
        created_at=AT,
        updated_at=AT,
    )


def test_the_price_now_names_its_period_and_when_it_ends_in_local_time() -> None:
    tariff = _tariff(
        TariffPeriod(PeriodKind.VALLEY, "23:00", "08:00", 30, 40),
        TariffPeriod(PeriodKind.PEAK, "08:00", "23:00", 95, 40),
    )
    at_night = datetime(2026, 11, 1, 16, 30, 45, tzinfo=UTC)  # 00:30:45 in Shanghai

    price = price_now(tariff, at_night)

    assert (price.period_kind, price.total_fen_per_kwh) == (PeriodKind.VALLEY, 70)
    assert price.until == datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # 08:00 local


def test_a_one_period_tariff_holds_for_a_day_at_least() -> None:
    tariff = _tariff(TariffPeriod(PeriodKind.FLAT, "00:00", "24:00", 60, 40))
    assert (price_now(tariff, AT).until - AT).days >= 1


def test_a_qr_payload_names_its_gun_on_any_host() -> None:
    text = qr_payload("https://charge.example.cn/", "CP-1", 2)
    assert text == "https://charge.example.cn/q/CP-1/2"
    assert parse_qr(text).pile_id == "CP-1"
    assert parse_qr("http://other.example/q/CP-1/2/").gun_no == 2


@pytest.mark.parametrize(
    "text",
    ["", "CP-1/2", "https://h/q/CP-1/0", "https://h/q/CP-1/21", "https://h/q/CP 1/2", 5, None],
)
def test_a_code_that_is_not_a_gun_is_refused(text: object) -> None:
    with pytest.raises(InvalidInput):
        parse_qr(text)


@pytest.mark.parametrize(
    ("online", "enabled", "status", "state"),
    [
        (False, True, "Available", GunState.OFFLINE),
        (True, False, "Available", GunState.UNAVAILABLE),
        (True, True, None, GunState.UNKNOWN),
        (True, True, "Available", GunState.FREE),
        (True, True, "Preparing", GunState.PLUGGED),
        (True, True, "SuspendedEV", GunState.BUSY),
        (True, True, "Faulted", GunState.FAULTED),
        (True, True, "Reserved", GunState.RESERVED),
        (True, True, "Whatever", GunState.UNAVAILABLE),
    ],
)
def test_a_reported_status_becomes_what_a_driver_needs(
    online: bool, enabled: bool, status: str | None, state: GunState
) -> None:
    assert gun_state(is_online=online, is_enabled=enabled, status=status) is state
