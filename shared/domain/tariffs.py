"""Price strategies (tariffs): time-of-use periods in Asia/Shanghai local time, each with an
electricity price and a service fee per kWh, plus per-hour prices by power band for e-bike
ports.

The periods of a tariff tile the local day exactly: every minute of 00:00-24:00 falls in
one period, none in two. A period may wrap midnight (``23:00``-``07:00``, the usual valley).
A tariff never changes in place: each change is a new immutable version, and a session
keeps the version it started under.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from itertools import pairwise

from shared.domain.base_data import require_range, require_text
from shared.domain.clock import LOCAL_TZ
from shared.domain.errors import InvalidInput

MINUTES_PER_DAY = 24 * 60
MAX_PERIODS = 48
MAX_POWER_BANDS = 20
MAX_FEN_PER_KWH = 100_000
MAX_FEN_PER_HOUR = 100_000
MAX_BAND_POWER_W = 100_000
MAX_MIN_START_BALANCE_FEN = 10_000_000
_CLOCK_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])|24:00")


class PeriodKind(StrEnum):
    SHARP = "sharp"
    PEAK = "peak"
    FLAT = "flat"
    VALLEY = "valley"


def minute_of_day(text: str, field_name: str) -> int:
    """``"HH:MM"`` as minutes since local midnight; ``"24:00"`` is 1440 (an end only).

    Raises:
        InvalidInput: not a clock time.
    """
    if _CLOCK_TIME.fullmatch(text) is None:
        raise InvalidInput(f"{field_name} must be HH:MM between 00:00 and 24:00", field=field_name)
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


@dataclass(frozen=True, slots=True)
class TariffPeriod:
    """One time-of-use period: local ``start`` (inclusive) to ``end`` (exclusive), ``HH:MM``."""

    kind: PeriodKind
    start: str
    end: str
    electricity_fen_per_kwh: int
    service_fen_per_kwh: int

    def __post_init__(self) -> None:
        if not isinstance(self.kind, PeriodKind):
            if self.kind not in set(PeriodKind):
                raise InvalidInput(f"kind must be one of {', '.join(PeriodKind)}", field="kind")
            object.__setattr__(self, "kind", PeriodKind(self.kind))
        start = minute_of_day(self.start, "start")
        end = minute_of_day(self.end, "end")
        if start == MINUTES_PER_DAY:
            raise InvalidInput("a period cannot start at 24:00", field="start")
        if start == end:
            raise InvalidInput("a period must not start where it ends", field="end")
        require_range(self.electricity_fen_per_kwh, "electricity_fen_per_kwh", 0, MAX_FEN_PER_KWH)
        require_range(self.service_fen_per_kwh, "service_fen_per_kwh", 0, MAX_FEN_PER_KWH)

    def intervals(self) -> list[tuple[int, int]]:
        """Half-open minute intervals ``[a, b)`` of the local day; two when it wraps midnight."""
        start = minute_of_day(self.start, "start")
        end = minute_of_day(self.end, "end")
        if start < end:
            return [(start, end)]
        if end == 0:
            return [(start, MINUTES_PER_DAY)]
        return [(start, MINUTES_PER_DAY), (0, end)]

    def covers(self, minute: int) -> bool:
        return any(a <= minute < b for a, b in self.intervals())


@dataclass(frozen=True, slots=True)
class PowerBand:
    """E-bike price by time: up to ``max_power_w`` the port costs ``fen_per_hour``."""

    max_power_w: int
    fen_per_hour: int

    def __post_init__(self) -> None:
        require_range(self.max_power_w, "max_power_w", 1, MAX_BAND_POWER_W)
        require_range(self.fen_per_hour, "fen_per_hour", 0, MAX_FEN_PER_HOUR)


def check_day_coverage(periods: Sequence[TariffPeriod]) -> None:
    """Raise InvalidInput unless the periods cover the local day exactly once.

    Raises:
        InvalidInput: with ``field="periods"`` and the first gap or overlap in the message.
    """
    if not 1 <= len(periods) <= MAX_PERIODS:
        raise InvalidInput(f"a tariff has 1..{MAX_PERIODS} periods", field="periods")
    intervals = sorted(interval for period in periods for interval in period.intervals())
    reached = 0
    for start, end in intervals:
        if start > reached:
            raise InvalidInput(
                f"periods leave {_clock(reached)}-{_clock(start)} uncovered", field="periods"
            )
        if start < reached:
            raise InvalidInput(
                f"periods overlap at {_clock(start)}-{_clock(min(end, reached))}",
                field="periods",
            )
        reached = end
    if reached != MINUTES_PER_DAY:
        raise InvalidInput(f"periods leave {_clock(reached)}-24:00 uncovered", field="periods")


def check_power_bands(bands: Sequence[PowerBand]) -> None:
    """Raise InvalidInput unless bands rise strictly by ``max_power_w`` (at most 20) and
    a higher band never costs less per hour: a charge is priced at the highest band its
    power reached, so a cheaper higher band would make a longer charge cost less."""
    if len(bands) > MAX_POWER_BANDS:
        raise InvalidInput(f"at most {MAX_POWER_BANDS} power bands", field="ebike_power_bands")
    for lower, upper in pairwise(bands):
        if upper.max_power_w <= lower.max_power_w:
            raise InvalidInput(
                "power bands must be listed by rising max_power_w", field="ebike_power_bands"
            )
        if upper.fen_per_hour < lower.fen_per_hour:
            raise InvalidInput(
                "a higher power band must not cost less per hour", field="ebike_power_bands"
            )


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@dataclass(frozen=True, slots=True)
class Tariff:
    """A price strategy of one operator, at one version."""

    tariff_id: str
    operator_id: str
    name: str
    periods: tuple[TariffPeriod, ...]
    version: int
    created_at: datetime
    updated_at: datetime
    ebike_power_bands: tuple[PowerBand, ...] = ()
    min_start_balance_fen: int = 0

    def __post_init__(self) -> None:
        require_text(self.name, "name", max_length=100)
        check_day_coverage(self.periods)
        check_power_bands(self.ebike_power_bands)
        require_range(
            self.min_start_balance_fen, "min_start_balance_fen", 0, MAX_MIN_START_BALANCE_FEN
        )
        require_range(self.version, "version", 1, 999_999)

    def period_at(self, at: datetime) -> TariffPeriod:
        """The period in force at an instant (read in Asia/Shanghai local time)."""
        local = at.astimezone(LOCAL_TZ)
        minute = local.hour * 60 + local.minute
        for period in self.periods:
            if period.covers(minute):
                return period
        raise AssertionError("check_day_coverage guarantees a period for every minute")

    def band_for(self, power_w: int) -> PowerBand | None:
        """The e-bike band whose ``max_power_w`` first reaches ``power_w``; None above all bands."""
        for band in self.ebike_power_bands:
            if power_w <= band.max_power_w:
                return band
        return None
