"""Stations (charging sites): where piles stand, who shares the revenue, which tariff applies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.domain import geohash
from shared.domain.base_data import require_range, require_text

# Basis points of consumed revenue paid to the site partner (property company): 5000 = 50:50.
FULL_SHARE_BP = 10_000
MAX_TRANSFORMER_KVA = 100_000


@dataclass(frozen=True, slots=True)
class Station:
    """A charging site of one operator."""

    station_id: str
    operator_id: str
    name: str
    address: str
    lat: float
    lng: float
    transformer_capacity_kva: int
    partner_share_bp: int
    created_at: datetime
    updated_at: datetime
    tariff_id: str | None = None
    partner_name: str | None = None

    def __post_init__(self) -> None:
        require_text(self.name, "name", max_length=100)
        require_text(self.address, "address", max_length=200)
        require_range(self.lat, "lat", -90.0, 90.0)
        require_range(self.lng, "lng", -180.0, 180.0)
        require_range(
            self.transformer_capacity_kva, "transformer_capacity_kva", 1, MAX_TRANSFORMER_KVA
        )
        require_range(self.partner_share_bp, "partner_share_bp", 0, FULL_SHARE_BP)
        if self.partner_name is not None:
            require_text(self.partner_name, "partner_name", max_length=100)

    @property
    def geohash5(self) -> str:
        """The station's 5-character geohash cell (GSI2 partition for nearby searches)."""
        return geohash.encode(self.lat, self.lng, geohash.STATION_PRECISION)
