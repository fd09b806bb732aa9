"""Discounts and promotions: a percentage off the service fee or a fixed amount off a session,
valid in a time window at some or all of an operator's stations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shared.domain.base_data import STATION_ID_PATTERN, is_valid_id, require_range, require_text
from shared.domain.errors import InvalidInput

FULL_PERCENT_BP = 10_000
MAX_FIXED_OFF_FEN = 1_000_000
MAX_STATIONS = 100


class DiscountKind(StrEnum):
    PERCENT_OFF_SERVICE = "percent_off_service"
    FIXED_OFF_FEN = "fixed_off_fen"


@dataclass(frozen=True, slots=True)
class Discount:
    """A promotion of one operator; no ``station_ids`` means every station of the operator."""

    discount_id: str
    operator_id: str
    name: str
    kind: DiscountKind
    starts_at: datetime
    ends_at: datetime
    station_ids: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    percent_bp: int | None = None
    amount_fen: int | None = None

    def __post_init__(self) -> None:
        require_text(self.name, "name", max_length=100)
        if not isinstance(self.kind, DiscountKind):
            if self.kind not in set(DiscountKind):
                raise InvalidInput(f"kind must be one of {', '.join(DiscountKind)}", field="kind")
            object.__setattr__(self, "kind", DiscountKind(self.kind))
        if self.kind is DiscountKind.PERCENT_OFF_SERVICE:
            if self.percent_bp is None or self.amount_fen is not None:
                raise InvalidInput(
                    "percent_off_service takes percent_bp and no amount_fen", field="percent_bp"
                )
            require_range(self.percent_bp, "percent_bp", 1, FULL_PERCENT_BP)
        else:
            if self.amount_fen is None or self.percent_bp is not None:
                raise InvalidInput(
                    "fixed_off_fen takes amount_fen and no percent_bp", field="amount_fen"
                )
            require_range(self.amount_fen, "amount_fen", 1, MAX_FIXED_OFF_FEN)
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise InvalidInput("starts_at and ends_at need a time zone", field="starts_at")
        if self.ends_at <= self.starts_at:
            raise InvalidInput("ends_at must be after starts_at", field="ends_at")
        if len(self.station_ids) > MAX_STATIONS:
            raise InvalidInput(f"at most {MAX_STATIONS} stations", field="station_ids")
        if len(set(self.station_ids)) != len(self.station_ids):
            raise InvalidInput("station_ids must not repeat", field="station_ids")
        if not all(is_valid_id(STATION_ID_PATTERN, sid) for sid in self.station_ids):
            raise InvalidInput("station_ids must be station ids", field="station_ids")

    def is_active_at(self, at: datetime, station_id: str) -> bool:
        """True when the promotion applies to a session starting at ``at`` at ``station_id``."""
        in_window = self.starts_at <= at < self.ends_at
        return in_window and (not self.station_ids or station_id in self.station_ids)
