"""Builders for the pricing tests: a standard tariff, local times, readings, discounts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.domain.clock import LOCAL_TZ
from shared.domain.discounts import Discount, DiscountKind
from shared.domain.pricing import MeterReading
from shared.domain.tariffs import PeriodKind, PowerBand, Tariff, TariffPeriod

CREATED_AT = datetime(2026, 1, 1, tzinfo=UTC)
TARIFF_ID = "tf-" + "1" * 20
OPERATOR_ID = "op-" + "1" * 20


def local(hour: int, minute: int = 0, second: int = 0, *, day: int = 2) -> datetime:
    """An instant given in Asia/Shanghai wall time on 2026-11-<day>."""
    return datetime(2026, 11, day, hour, minute, second, tzinfo=LOCAL_TZ)


def reading(at: datetime, register_wh: int) -> MeterReading:
    return MeterReading(at=at, register_wh=register_wh)


STANDARD_PERIODS = (
    TariffPeriod(PeriodKind.VALLEY, "23:00", "07:00", 30, 40),
    TariffPeriod(PeriodKind.FLAT, "07:00", "08:00", 60, 50),
    TariffPeriod(PeriodKind.PEAK, "08:00", "11:00", 100, 80),
    TariffPeriod(PeriodKind.SHARP, "11:00", "13:00", 120, 80),
    TariffPeriod(PeriodKind.FLAT, "13:00", "23:00", 60, 50),
)
STANDARD_BANDS = (PowerBand(200, 100), PowerBand(500, 200), PowerBand(1000, 300))


def a_tariff(**overrides: Any) -> Tariff:
    """Valley 23-07 (0.30+0.40), flat 07-08 and 13-23 (0.60+0.50), peak 08-11 (1.00+0.80),
    sharp 11-13 (1.20+0.80) yuan per kWh; e-bike bands 200 W 1.00, 500 W 2.00, 1000 W 3.00
    yuan per hour."""
    values: dict[str, Any] = {
        "tariff_id": TARIFF_ID,
        "operator_id": OPERATOR_ID,
        "name": "standard",
        "periods": STANDARD_PERIODS,
        "version": 1,
        "created_at": CREATED_AT,
        "updated_at": CREATED_AT,
        "ebike_power_bands": STANDARD_BANDS,
    }
    values.update(overrides)
    return Tariff(**values)


def a_discount(
    kind: DiscountKind, starts_at: datetime, ends_at: datetime, **amount: int
) -> Discount:
    return Discount(
        discount_id="dc-" + "1" * 20,
        operator_id=OPERATOR_ID,
        name="promo",
        kind=kind,
        starts_at=starts_at,
        ends_at=ends_at,
        station_ids=(),
        created_at=CREATED_AT,
        updated_at=CREATED_AT,
        **amount,
    )
