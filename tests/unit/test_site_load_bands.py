"""The spec's load bands (shared/domain/site_load.start_allowance): at most 50 % of the
transformer's capacity a new charge gets its rated power, above 50 % half of it, above 80 %
none; a silent or stale meter never limits or refuses."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from shared.domain.site_load import (
    STALE_AFTER,
    LoadBand,
    band_of,
    site_load_status,
    start_allowance,
)
from tests.unit.test_payment_workflow_fakes import T0
from tests.unit.test_site_load_limit import CAPACITY_KVA, RATED_W, a_load

CAPACITY_W = CAPACITY_KVA * 1000


def allowance(power_w: int, **load_args: timedelta) -> LoadBand:
    return start_allowance(
        capacity_kva=CAPACITY_KVA, load=a_load(power_w, **load_args), rated_power_w=RATED_W, now=T0
    ).band


def test_full_power_when_the_load_is_at_most_half_the_capacity() -> None:
    decision = start_allowance(
        capacity_kva=CAPACITY_KVA, load=a_load(CAPACITY_W // 2), rated_power_w=RATED_W, now=T0
    )
    assert decision.band is LoadBand.NORMAL
    assert decision.power_limit_w is None
    assert decision.load_w == CAPACITY_W // 2
    assert decision.capacity_w == CAPACITY_W


def test_half_power_when_the_load_is_just_above_half_the_capacity() -> None:
    decision = start_allowance(
        capacity_kva=CAPACITY_KVA, load=a_load(CAPACITY_W // 2 + 1), rated_power_w=RATED_W, now=T0
    )
    assert decision.band is LoadBand.LIMITED
    assert decision.power_limit_w == RATED_W // 2


def test_refused_when_the_load_is_just_above_80_percent() -> None:
    assert allowance(CAPACITY_W * 8 // 10) is LoadBand.LIMITED
    assert allowance(CAPACITY_W * 8 // 10 + 1) is LoadBand.REFUSED


def test_never_limited_when_the_meter_is_silent_stale_or_exporting() -> None:
    assert (
        start_allowance(capacity_kva=CAPACITY_KVA, load=None, rated_power_w=RATED_W, now=T0).band
        is LoadBand.NORMAL
    )
    assert allowance(CAPACITY_W, age=STALE_AFTER + timedelta(seconds=1)) is LoadBand.NORMAL
    assert allowance(-CAPACITY_W) is LoadBand.NORMAL


def test_refused_when_even_half_power_would_overload_the_site() -> None:
    decision = start_allowance(capacity_kva=10, load=a_load(6_000), rated_power_w=10_000, now=T0)
    assert decision.is_refused


@given(load_w=st.integers(-(10**6), 2 * CAPACITY_W), rated_w=st.integers(1, 400_000))
def test_an_allowed_charge_never_pushes_the_load_over_the_capacity(
    load_w: int, rated_w: int
) -> None:
    decision = start_allowance(
        capacity_kva=CAPACITY_KVA, load=a_load(load_w), rated_power_w=rated_w, now=T0
    )
    if decision.is_refused:
        assert max(load_w, 0) * 10 > CAPACITY_W * 8 or max(load_w, 0) + rated_w // 2 > CAPACITY_W
        return
    allowed_w = rated_w if decision.power_limit_w is None else decision.power_limit_w
    assert max(load_w, 0) + allowed_w <= CAPACITY_W
    assert (decision.power_limit_w is not None) == (max(load_w, 0) * 2 > CAPACITY_W)


def test_the_monitor_shows_the_share_and_band_of_a_live_reading_and_no_band_when_stale() -> None:
    status = site_load_status(capacity_kva=CAPACITY_KVA, load=a_load(CAPACITY_W * 6 // 10), now=T0)
    assert (status.capacity_w, status.load_share_bp) == (CAPACITY_W, 6_000)
    assert status.is_live and status.band is LoadBand.LIMITED
    stale = site_load_status(
        capacity_kva=CAPACITY_KVA,
        load=a_load(CAPACITY_W, age=STALE_AFTER + timedelta(seconds=1)),
        now=T0,
    )
    assert not stale.is_live and stale.band is None and stale.load_share_bp == 10_000
    export = site_load_status(capacity_kva=CAPACITY_KVA, load=a_load(-5_000), now=T0)
    assert export.load_share_bp == 0 and export.band is LoadBand.NORMAL


@given(load_w=st.integers(-(10**6), 2 * CAPACITY_W))
def test_the_monitors_band_is_the_band_a_new_charge_sees(load_w: int) -> None:
    band = band_of(load_w, CAPACITY_W)
    tiny = start_allowance(
        capacity_kva=CAPACITY_KVA, load=a_load(load_w), rated_power_w=2, now=T0
    ).band
    assert band is tiny or (tiny is LoadBand.REFUSED and max(load_w, 0) + 1 > CAPACITY_W)
