"""The site load limit for starting a charge (issue 6 "refused ... when the site is at its
load limit"; pure).

The transformer meter's live load (``SiteLoad``, written by the Modbus bridge) plus the
pile's rated power must fit the station's transformer: ``max(load_w, 0) + rated_power_w <=
transformer_capacity_kva x 1000``. kVA is taken as kW (power factor 1): the meter reports
active power only, and at a charging site's power factor near 1 this errs by a few percent
on the side of starting. An export (negative load) counts as 0. A reading older than
``STALE_AFTER`` (by the gateway's time or by when we received it, whichever is older) is
ignored: a silent meter never blocks charging, as before any meter reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain.modbus_readings import SiteLoad

STALE_AFTER = timedelta(minutes=5)
SITE_AT_LOAD_LIMIT = "site_at_load_limit"


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


__all__ = ["SITE_AT_LOAD_LIMIT", "STALE_AFTER", "LoadCheck", "is_live", "load_limit_breach"]
