"""The site load limit for starting a charge (issue 6 "refused ... when the site is at its
load limit"; pure).

The transformer meter's live load (``SiteLoad``, written by the Modbus bridge) plus the
pile's rated power must fit the station's transformer: ``max(load_w, 0) + rated_power_w <=
transformer_capacity_kva x 1000``. kVA is taken as kW (power factor 1): the meter reports
active power only, and at a charging site's power factor near 1 this errs by a few percent
on the side of starting. An export (negative load) counts as 0. A reading older than
``STALE_AFTER`` (by the gateway's time or by when we received it, whichever is older) is
ignored: a silent meter never blocks charging, as before any meter reported.

Load bands (SPEC "Load management"): with the site above ``LIMIT_ABOVE_BP`` (50 %) of its
capacity, a newly started charge is limited to half its rated power; above
``REFUSE_ABOVE_BP`` (80 %) no new charge starts until the load falls. ``start_allowance``
gives the decision at the moment the pile is switched on (after payment), so a start paid
while the site was calm is still limited or refused if the load rose meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from shared.domain.modbus_readings import SiteLoad

STALE_AFTER = timedelta(minutes=5)
SITE_AT_LOAD_LIMIT = "site_at_load_limit"
LIMIT_ABOVE_BP = 5_000  # above 50 % of capacity: new charges at half power
REFUSE_ABOVE_BP = 8_000  # above 80 %: no new charge
LIMITED_SHARE_BP = 5_000  # the limited charge's share of its rated power


class LoadBand(StrEnum):
    """Where the site's live load sits for a new charge."""

    NORMAL = "normal"  # no live reading, or at most 50 %: full rated power
    LIMITED = "limited"  # above 50 %: half the rated power
    REFUSED = "refused"  # above 80 %, or even the allowed power would overload the site


@dataclass(frozen=True, slots=True)
class StartAllowance:
    """The decision for one new charge; ``power_limit_w`` None means the rated power."""

    band: LoadBand
    power_limit_w: int | None
    load_w: int | None  # None: no live reading
    capacity_w: int | None

    @property
    def is_refused(self) -> bool:
        return self.band is LoadBand.REFUSED


@dataclass(frozen=True, slots=True)
class LoadCheck:
    """The numbers behind a refusal (W)."""

    load_w: int
    rated_power_w: int
    capacity_w: int


def is_live(load: SiteLoad, now: datetime) -> bool:
    """The reading is at most ``STALE_AFTER`` old by both the gateway's and our clock."""
    return now - min(load.at, load.received_at) <= STALE_AFTER


def load_limit_breach(
    *, capacity_kva: int, load: SiteLoad | None, rated_power_w: int, now: datetime
) -> LoadCheck | None:
    """The figures when starting a pile of ``rated_power_w`` would overload the site, else
    None (no live reading: no refusal)."""
    if load is None or not is_live(load, now):
        return None
    capacity_w = capacity_kva * 1000
    load_w = max(load.power_w, 0)
    if load_w + rated_power_w <= capacity_w:
        return None
    return LoadCheck(load_w=load_w, rated_power_w=rated_power_w, capacity_w=capacity_w)


def band_of(load_w: int, capacity_w: int) -> LoadBand:
    """The band of a live load against the capacity, by the thresholds alone (no charge
    weighed): above 80 % REFUSED, above 50 % LIMITED, else NORMAL."""
    used_w = max(load_w, 0)
    if used_w * 10_000 > capacity_w * REFUSE_ABOVE_BP:
        return LoadBand.REFUSED
    if used_w * 10_000 > capacity_w * LIMIT_ABOVE_BP:
        return LoadBand.LIMITED
    return LoadBand.NORMAL


@dataclass(frozen=True, slots=True)
class SiteLoadStatus:
    """A station's live load as the monitor shows it: the reading, the share of the
    transformer's capacity (basis points, an export counts 0) and the band a new charge gets
    (None when the reading is stale: a silent meter limits nothing)."""

    load: SiteLoad
    capacity_w: int
    load_share_bp: int
    is_live: bool
    band: LoadBand | None


def site_load_status(*, capacity_kva: int, load: SiteLoad, now: datetime) -> SiteLoadStatus:
    """The monitor's view of ``load`` at a site of ``capacity_kva`` (kVA as kW)."""
    capacity_w = capacity_kva * 1000
    live = is_live(load, now)
    share_bp = max(load.power_w, 0) * 10_000 // capacity_w if capacity_w > 0 else 0
    band = band_of(load.power_w, capacity_w) if live and capacity_w > 0 else None
    return SiteLoadStatus(load, capacity_w, share_bp, live, band)


def start_allowance(
    *, capacity_kva: int | None, load: SiteLoad | None, rated_power_w: int, now: datetime
) -> StartAllowance:
    """The band and power limit for a charge of ``rated_power_w`` starting ``now``.

    No capacity or no live reading: NORMAL at full power (a silent meter never blocks).
    Above 80 % of capacity: REFUSED. Above 50 %: LIMITED to half the rated power (at least
    1 W). In any band, a charge whose allowed power would push the load over the capacity
    is REFUSED.
    """
    if capacity_kva is None or capacity_kva <= 0 or load is None or not is_live(load, now):
        return StartAllowance(LoadBand.NORMAL, None, None, None)
    capacity_w = capacity_kva * 1000
    load_w = max(load.power_w, 0)
    site_band = band_of(load_w, capacity_w)
    if site_band is LoadBand.REFUSED:
        return StartAllowance(LoadBand.REFUSED, None, load_w, capacity_w)
    if site_band is LoadBand.LIMITED:
        limit_w = max(rated_power_w * LIMITED_SHARE_BP // 10_000, 1)
        band, allowed_w, power_limit_w = LoadBand.LIMITED, limit_w, limit_w
    else:
        band, allowed_w, power_limit_w = LoadBand.NORMAL, rated_power_w, None
    if load_w + allowed_w > capacity_w:
        return StartAllowance(LoadBand.REFUSED, None, load_w, capacity_w)
    return StartAllowance(band, power_limit_w, load_w, capacity_w)


__all__ = [
    "LIMITED_SHARE_BP",
    "LIMIT_ABOVE_BP",
    "REFUSE_ABOVE_BP",
    "SITE_AT_LOAD_LIMIT",
    "STALE_AFTER",
    "LoadBand",
    "LoadCheck",
    "SiteLoadStatus",
    "StartAllowance",
    "band_of",
    "is_live",
    "load_limit_breach",
    "site_load_status",
    "start_allowance",
]
