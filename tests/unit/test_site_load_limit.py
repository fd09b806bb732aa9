"""The site load limit on a driver's start and scan (shared/domain/site_load.py,
driver_charging, driver_discovery): ``start_allowance`` REFUSED (live load above 80 % of the
transformer's capacity, or the allowed power would overload it) refuses the start with 409
``site_at_load_limit`` and nothing stored, and the scan answers can_start false with that
reason; LIMITED (above 50 %) starts, and the scan tells the half-power limit; a stale
reading, an export or no meter never refuses."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.drivers import LoginApp
from shared.domain.errors import Conflict
from shared.domain.modbus_readings import SiteLoad
from shared.domain.site_load import STALE_AFTER, is_live, load_limit_breach
from shared.services import driver_charging, driver_discovery
from tests.unit.test_driver_api_services import USER, Setup, a_start, setup
from tests.unit.test_payment_workflow_fakes import PILE, STATION, T0

CAPACITY_KVA = 630  # the fake station's transformer
RATED_W = 7_000  # the fake pile's rated power


def a_load(
    power_w: int, *, age: timedelta = timedelta(seconds=30), skew: timedelta = timedelta()
) -> SiteLoad:
    return SiteLoad(
        station_id=STATION,
        at=T0 - age + skew,
        received_at=T0 - age,
        gateway_id="gw-1",
        power_w=power_w,
    )


class FakeSiteLoads:
    def __init__(self, load: SiteLoad | None) -> None:
        self.load = load
        self.asked: list[str] = []

    def get(self, station_id: str) -> SiteLoad | None:
        self.asked.append(station_id)
        return self.load


# ---------------------------------------------------------------- the rule (pure)


def test_the_last_watt_that_fits_starts_and_one_more_is_refused() -> None:
    fits = CAPACITY_KVA * 1000 - RATED_W
    assert (
        load_limit_breach(
            capacity_kva=CAPACITY_KVA, load=a_load(fits), rated_power_w=RATED_W, now=T0
        )
        is None
    )
    breach = load_limit_breach(
        capacity_kva=CAPACITY_KVA, load=a_load(fits + 1), rated_power_w=RATED_W, now=T0
    )
    assert breach is not None
    assert (breach.load_w, breach.rated_power_w, breach.capacity_w) == (fits + 1, RATED_W, 630_000)


@pytest.mark.parametrize(
    "load",
    [
        None,  # no meter has reported
        a_load(700_000, age=STALE_AFTER + timedelta(seconds=1)),  # received too long ago
        a_load(700_000, skew=-STALE_AFTER - timedelta(seconds=1)),  # replayed old gateway data
    ],
)
def test_no_live_reading_never_refuses(load: SiteLoad | None) -> None:
    assert (
        load_limit_breach(capacity_kva=CAPACITY_KVA, load=load, rated_power_w=RATED_W, now=T0)
        is None
    )


def test_a_reading_exactly_five_minutes_old_is_still_live() -> None:
    assert is_live(a_load(1, age=STALE_AFTER), T0)


@given(
    load_w=st.integers(-1_000_000, 2_000_000),
    rated_w=st.integers(1, 500_000),
    capacity_kva=st.integers(1, 100_000),
    age_s=st.integers(0, 600),
)
def test_refused_exactly_when_a_live_load_plus_the_pile_exceeds_the_capacity(
    load_w: int, rated_w: int, capacity_kva: int, age_s: int
) -> None:
    load = a_load(load_w, age=timedelta(seconds=age_s))
    breach = load_limit_breach(capacity_kva=capacity_kva, load=load, rated_power_w=rated_w, now=T0)
    over = max(load_w, 0) + rated_w > capacity_kva * 1000
    assert (breach is not None) == (over and age_s <= STALE_AFTER.total_seconds())


# ---------------------------------------------------------------- the driver's start


def _with_loads(load: SiteLoad | None) -> tuple[Setup, FakeSiteLoads]:
    s = setup()
    loads = FakeSiteLoads(load)
    s.ports = replace(s.ports, site_loads=loads)
    return s, loads


def test_a_start_at_the_load_limit_is_refused_and_stores_nothing() -> None:
    s, loads = _with_loads(a_load(625_000))
    with pytest.raises(Conflict) as refused:
        driver_charging.start_charge(s.ports, USER, LoginApp.WECHAT, a_start())
    assert refused.value.fields["reason"] == "site_at_load_limit"
    assert refused.value.fields["capacity_w"] == 630_000
    assert loads.asked == [STATION]
    assert s.world.orders.orders == {}
    assert s.world.starter.started == []


@pytest.mark.parametrize(
    "load",
    [None, a_load(100_000), a_load(-50_000), a_load(700_000, age=timedelta(minutes=6))],
)
def test_a_start_below_the_limit_or_without_a_live_reading_goes_ahead(
    load: SiteLoad | None,
) -> None:
    s, _ = _with_loads(load)
    order = driver_charging.start_charge(s.ports, USER, LoginApp.WECHAT, a_start())
    assert order.prepaid_fen == 400


# ---------------------------------------------------------------- load bands (start_allowance)

EIGHTY_PERCENT_W = CAPACITY_KVA * 1000 * 8 // 10  # 504 kW: the last watt that still starts


def test_a_start_above_eighty_percent_is_refused_with_the_band_and_stores_nothing() -> None:
    s, _ = _with_loads(a_load(EIGHTY_PERCENT_W + 1))
    with pytest.raises(Conflict) as refused:
        driver_charging.start_charge(s.ports, USER, LoginApp.WECHAT, a_start())
    assert refused.value.fields["reason"] == "site_at_load_limit"
    assert refused.value.fields["load_band"] == "refused"
    assert refused.value.fields["load_w"] == EIGHTY_PERCENT_W + 1
    assert (s.charges.requests, s.world.orders.orders, s.world.starter.started) == ({}, {}, [])


@pytest.mark.parametrize("load_w", [EIGHTY_PERCENT_W, 315_001, 400_000])
def test_a_start_in_the_limited_band_goes_ahead(load_w: int) -> None:
    s, _ = _with_loads(a_load(load_w))
    order = driver_charging.start_charge(s.ports, USER, LoginApp.WECHAT, a_start())
    assert order.prepaid_fen == 400
    assert len(s.world.starter.started) == 1


def _scan(s: Setup, gun_no: int = 1) -> driver_discovery.ScannedGun:
    return driver_discovery.scan_qr_code(
        s.ports.discovery, USER, f"https://q.example/q/{PILE}/{gun_no}", 400, T0
    )


def _discovery_loads(load: SiteLoad | None) -> tuple[Setup, FakeSiteLoads]:
    s = setup()
    loads = FakeSiteLoads(load)
    s.ports = replace(s.ports, discovery=replace(s.ports.discovery, site_loads=loads))
    return s, loads


@pytest.mark.parametrize(
    ("load", "band", "limit_w", "can_start"),
    [
        (None, "normal", None, True),  # no meter
        (a_load(315_000), "normal", None, True),  # exactly 50 %
        (a_load(315_001), "limited", RATED_W // 2, True),
        (a_load(EIGHTY_PERCENT_W), "limited", RATED_W // 2, True),
        (a_load(EIGHTY_PERCENT_W + 1), "refused", None, False),
        (a_load(700_000, age=timedelta(minutes=6)), "normal", None, True),  # stale
    ],
)
def test_a_scan_tells_the_load_band_before_paying(
    load: SiteLoad | None, band: str, limit_w: int | None, can_start: bool
) -> None:
    s, loads = _discovery_loads(load)
    found = _scan(s)
    assert found.allowance.band.value == band
    assert found.allowance.power_limit_w == limit_w
    assert (found.refusal is None) == can_start
    assert found.refusal_reason == (None if can_start else "site_at_load_limit")
    assert loads.asked == [STATION]


def test_a_busy_gun_at_a_loaded_site_is_refused_for_the_gun() -> None:
    s, _ = _discovery_loads(a_load(EIGHTY_PERCENT_W + 1))
    found = _scan(s, gun_no=2)  # gun 2 is charging
    assert found.refusal_reason == "gun_busy"
    assert found.allowance.is_refused


def test_a_scan_without_site_loads_wired_is_in_the_normal_band() -> None:
    found = _scan(setup())
    assert (found.allowance.band.value, found.refusal_reason) == ("normal", None)
