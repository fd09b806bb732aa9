"""What a driver keeps besides charges: complaints about a gun and reservations of a gun
(records only; the use cases are in ``shared.services.driver_care``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.domain.ocpp.remote_calls import numeric_id


@dataclass(frozen=True, slots=True)
class Complaint:
    complaint_id: str
    user_id: str
    operator_id: str
    station_id: str
    pile_id: str
    gun_no: int | None
    category: str
    text: str
    photo_key: str | None
    status: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Reservation:
    reservation_id: str
    user_id: str
    operator_id: str
    pile_id: str
    gun_no: int
    created_at: datetime
    expires_at: datetime
    call_id: str | None = None
    cancelled_at: datetime | None = None

    def status(self, now: datetime) -> str:
        if self.cancelled_at is not None:
            return "cancelled"
        return "active" if now < self.expires_at else "expired"

    @property
    def ocpp_reservation_id(self) -> int | None:
        return None if self.call_id is None else numeric_id(self.call_id)
