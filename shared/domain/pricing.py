"""The cost engine: what a charge costs under a tariff, when a session must stop, how the
prepaid money is settled and how the consumed part is shared.

Design overview
---------------
By energy (``price_energy``, car guns and e-bike ports metered by energy): the register
readings are ordered and deduplicated as in ``shared.domain.sessions`` (a drop is a meter
reset, and the step counts the new reading from 0). The energy of each step between two
readings is spread over the time between them in proportion to time, and each part is
priced with the time-of-use period (Asia/Shanghai local time) it falls in.

By time (``price_time``, e-bike ports "按功率分档计时"): every started minute costs
``fen_per_hour / 60`` of the power band picked by the highest power measured in that minute.

The rounding rule (the only one): amounts are exact fractions (``fractions.Fraction``, or
integers in 1/60 fen) accumulated from the start of the charge; a part's integer amount is
the cumulative amount at its end rounded half up, minus the cumulative amount at its start
rounded half up. Parts therefore always sum to the whole, however the charge is cut
(period boundaries, billing points, a live reading). See docs/pricing.md.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from fractions import Fraction
from itertools import pairwise
from typing import Any

from shared.domain.clock import LOCAL_TZ, to_wire
from shared.domain.discounts import FULL_PERCENT_BP, Discount, DiscountKind
from shared.domain.errors import InvalidInput, TariffMissing
from shared.domain.sessions import MeterSample, Session, register_energy_wh, session_readings
from shared.domain.tariffs import MINUTES_PER_DAY, PeriodKind, PowerBand, Tariff, TariffPeriod

WH_PER_KWH = 1_000
MINUTES_PER_HOUR = 60
BILLING_MINUTE = timedelta(minutes=1)
# Longer than any real charge; bounds the work a wrong clock can cause.
MAX_CHARGE_SPAN = timedelta(days=31)
MIN_TIME_TARGET_S = 60
MAX_TIME_TARGET_S = 24 * 3600
MAX_AMOUNT_TARGET_FEN = 10_000_000
MAX_ENERGY_TARGET_WH = 1_000_000
MAX_DISTANCE_KM = 2_000
MAX_CONSUMPTION_WH_PER_KM = 1_000
_MICROSECOND = timedelta(microseconds=1)


def round_half_up(amount: Fraction) -> int:
    """The one rounding function: a non-negative exact amount to the nearest integer, .5 up."""
    return math.floor(amount + Fraction(1, 2))


def _require_int(value: object, field_name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field_name} must be an integer", field=field_name)
    if value < low or (high is not None and value > high):
        upper = "" if high is None else str(high)
        raise InvalidInput(f"{field_name} must be within {low}..{upper}", field=field_name)
    return value


def _require_aware(value: object, field_name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidInput(f"{field_name} must be a datetime with a time zone", field=field_name)
    return value


def require_tariff(tariff: Tariff | None, tariff_id: str, version: int) -> Tariff:
    """The tariff a session started under, or an error: a missing tariff never prices at 0.

    Raises:
        TariffMissing: ``tariff`` is None (the id/version was not found).
    """
    if tariff is None:
        raise TariffMissing(
            f"tariff {tariff_id} version {version} not found", tariff_id=tariff_id, version=version
        )
    return tariff


@dataclass(frozen=True, slots=True)
class MeterReading:
    """One reading of the energy register (Wh, as the pile counts it) at an instant."""

    at: datetime
    register_wh: int

    def __post_init__(self) -> None:
        _require_aware(self.at, "at")
        _require_int(self.register_wh, "register_wh", 0)


@dataclass(frozen=True, slots=True)
class CostLine:
    """One part of a charge: a run of one tariff period (and, by time, one power band)."""

    period_kind: PeriodKind
    starts_at: datetime
    ends_at: datetime
    energy_wh: int
    electricity_fen: int
    service_fen: int
    band_max_power_w: int | None = None

    @property
    def amount_fen(self) -> int:
        return self.electricity_fen + self.service_fen

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (workflow output, API): times RFC 3339 with ``Z``."""
        line: dict[str, Any] = {
            "period_kind": self.period_kind.value,
            "starts_at": to_wire(self.starts_at),
            "ends_at": to_wire(self.ends_at),
            "energy_wh": self.energy_wh,
            "electricity_fen": self.electricity_fen,
            "service_fen": self.service_fen,
        }
        if self.band_max_power_w is not None:
            line["band_max_power_w"] = self.band_max_power_w
        return line


@dataclass(frozen=True, slots=True)
class Cost:
    """A charge's cost: gross lines, their totals, the discount, and what is owed."""

    lines: tuple[CostLine, ...]
    energy_wh: int
    electricity_fen: int
    service_fen: int
    discount_fen: int
    total_fen: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (workflow output, API): integer fen and Wh, lines in time order."""
        return {
            "energy_wh": self.energy_wh,
            "electricity_fen": self.electricity_fen,
            "service_fen": self.service_fen,
            "discount_fen": self.discount_fen,
            "total_fen": self.total_fen,
            "lines": [line.to_dict() for line in self.lines],
        }


ZERO_COST = Cost(
    lines=(), energy_wh=0, electricity_fen=0, service_fen=0, discount_fen=0, total_fen=0
)


@dataclass(frozen=True, slots=True)
class _Piece:
    """A stretch of a charge inside one line and one side of the discount window."""

    starts_at: datetime
    ends_at: datetime
    energy_wh: Fraction


def _local_midnight_utc(day_offset: int, first: datetime) -> datetime:
    local_day = first.astimezone(LOCAL_TZ).date() + timedelta(days=day_offset)
    return datetime.combine(local_day, time(0), LOCAL_TZ).astimezone(UTC)


def _period_boundaries(tariff: Tariff, first: datetime, last: datetime) -> list[datetime]:
    """Every instant strictly between ``first`` and ``last`` where a period starts."""
    minutes = sorted(
        start
        for period in tariff.periods
        for start, _ in period.intervals()
        if not period.covers((start - 1) % MINUTES_PER_DAY)  # midnight inside a period is no edge
    )
    found: list[datetime] = []
    day = 0
    while True:
        midnight = _local_midnight_utc(day, first)
        if midnight > last:
            return found
        for minute in minutes:
            instant = midnight + timedelta(minutes=minute)
            if first < instant < last:
                found.append(instant)
        day += 1


def _period_at(tariff: Tariff, at: datetime) -> TariffPeriod:
    try:
        return tariff.period_at(at)
    except AssertionError as exc:  # only a tariff built without its checks gets here
        raise TariffMissing(
            "no tariff period covers the instant", tariff_id=tariff.tariff_id, at=at.isoformat()
        ) from exc


def _cuts(first: datetime, last: datetime, extra: Sequence[datetime]) -> list[datetime]:
    inside = {_require_aware(at, "cut_at").astimezone(UTC) for at in extra}
    return sorted(at for at in inside if first < at < last)


def _check_span(first: datetime, last: datetime, field_name: str) -> None:
    if last - first > MAX_CHARGE_SPAN:
        raise InvalidInput(f"a charge spans at most {MAX_CHARGE_SPAN.days} days", field=field_name)


def _window(discount: Discount | None) -> tuple[datetime, datetime] | None:
    if discount is None:
        return None
    return discount.starts_at.astimezone(UTC), discount.ends_at.astimezone(UTC)


def _is_in_window(piece: _Piece, window: tuple[datetime, datetime] | None) -> bool:
    if window is None:
        return False
    opens, closes = window
    if piece.starts_at == piece.ends_at:  # a step seen at an instant was consumed just before it
        return opens < piece.ends_at <= closes
    return opens <= piece.starts_at and piece.ends_at <= closes


def _spread(
    starts_at: datetime, ends_at: datetime, step_wh: int, cuts: Sequence[datetime]
) -> list[_Piece]:
    """A step's energy spread over its interval in proportion to time, cut at ``cuts``."""
    if starts_at == ends_at:
        return [_Piece(starts_at, ends_at, Fraction(step_wh))]
    span_us = (ends_at - starts_at) // _MICROSECOND
    edges = [starts_at, *(at for at in cuts if starts_at < at < ends_at), ends_at]
    return [
        _Piece(a, b, Fraction(step_wh * ((b - a) // _MICROSECOND), span_us))
        for a, b in pairwise(edges)
    ]


def price_energy(
    tariff: Tariff,
    readings: Sequence[MeterReading],
    discount: Discount | None = None,
    *,
    cut_at: Sequence[datetime] = (),
) -> Cost:
    """The cost of a charge metered by energy, from its register readings (any order, repeats).

    Lines follow the tariff periods (Asia/Shanghai); ``cut_at`` adds billing points that cut
    lines further without changing any total. A percent discount takes the service fee of
    the energy delivered inside its window; a fixed one comes off the whole when the charge
    starts inside its window (which stations it covers is the caller's check).

    Raises:
        InvalidInput: a reading or cut without a time zone, or readings over 31 days apart.
        TariffMissing: no period covers an instant.
    """
    ordered = sorted(
        {(_require_aware(r.at, "at").astimezone(UTC), r.register_wh) for r in readings}
    )
    if not ordered:
        return ZERO_COST
    first, last = ordered[0][0], ordered[-1][0]
    _check_span(first, last, "readings")
    line_cuts = sorted({*_period_boundaries(tariff, first, last), *_cuts(first, last, cut_at)})
    line_edges = [first, *line_cuts, last]
    line_ends = line_edges[1:]
    window = _window(discount)
    piece_cuts = sorted({*line_cuts, *(at for at in window or () if first < at < last)})
    line_energy = [Fraction(0)] * len(line_ends)
    line_service = [Fraction(0)] * len(line_ends)
    line_electricity = [Fraction(0)] * len(line_ends)
    net_service = Fraction(0)
    periods = [_period_at(tariff, at) for at in line_edges[: len(line_ends)]]
    percent_kept = Fraction(1)
    if discount is not None and discount.kind is DiscountKind.PERCENT_OFF_SERVICE:
        percent_kept = 1 - Fraction(discount.percent_bp or 0, FULL_PERCENT_BP)
    for (a, wh_a), (b, wh_b) in pairwise(ordered):
        step_wh = register_energy_wh([(a, wh_a), (b, wh_b)])
        for piece in _spread(a, b, step_wh, piece_cuts):
            index = bisect_left(line_ends, piece.ends_at)
            period = periods[index]
            service = piece.energy_wh * period.service_fen_per_kwh / WH_PER_KWH
            line_energy[index] += piece.energy_wh
            line_electricity[index] += piece.energy_wh * period.electricity_fen_per_kwh / WH_PER_KWH
            line_service[index] += service
            net_service += service * percent_kept if _is_in_window(piece, window) else service
    lines = _rounded_lines(
        [
            (period.kind, start, end, None)
            for period, start, end in zip(periods, line_edges, line_ends, strict=False)
        ],
        line_energy,
        line_electricity,
        line_service,
    )
    return _with_discount(lines, round_half_up(net_service), discount, first)


def session_meter_readings(
    session: Session, samples: Iterable[MeterSample]
) -> tuple[MeterReading, ...]:
    """A car session's register readings for pricing: its start and stop, the readings kept
    on the session item and every sample's energy within its bounds, ordered, once each."""
    pairs = sorted(set(session_readings(session, [*samples, *session.extra_samples])))
    return tuple(MeterReading(at=at, register_wh=wh) for at, wh in pairs)


def session_cost(tariff: Tariff, session: Session, samples: Iterable[MeterSample]) -> Cost:
    """A car session's cost over its readings: the one figure the paid stop check, the
    driver's live view and the settlement price a session by."""
    return price_energy(tariff, session_meter_readings(session, samples))


def _rounded_lines(
    heads: Sequence[tuple[PeriodKind, datetime, datetime, int | None]],
    energy: Sequence[Fraction],
    electricity: Sequence[Fraction],
    service: Sequence[Fraction],
) -> tuple[CostLine, ...]:
    """Lines whose integers are differences of the rounded cumulative amounts."""
    lines: list[CostLine] = []
    cum_e = cum_el = cum_sv = Fraction(0)
    for (kind, start, end, band_w), e, el, sv in zip(
        heads, energy, electricity, service, strict=True
    ):
        lines.append(
            CostLine(
                period_kind=kind,
                starts_at=start,
                ends_at=end,
                energy_wh=round_half_up(cum_e + e) - round_half_up(cum_e),
                electricity_fen=round_half_up(cum_el + el) - round_half_up(cum_el),
                service_fen=round_half_up(cum_sv + sv) - round_half_up(cum_sv),
                band_max_power_w=band_w,
            )
        )
        cum_e, cum_el, cum_sv = cum_e + e, cum_el + el, cum_sv + sv
    return tuple(lines)


def _with_discount(
    lines: tuple[CostLine, ...], net_service_fen: int, discount: Discount | None, first: datetime
) -> Cost:
    electricity_fen = sum(line.electricity_fen for line in lines)
    service_fen = sum(line.service_fen for line in lines)
    discount_fen = service_fen - net_service_fen
    window = _window(discount)
    if (
        discount is not None
        and discount.kind is DiscountKind.FIXED_OFF_FEN
        and window is not None
        and window[0] <= first < window[1]
    ):
        discount_fen += min(discount.amount_fen or 0, electricity_fen + net_service_fen)
    return Cost(
        lines=lines,
        energy_wh=sum(line.energy_wh for line in lines),
        electricity_fen=electricity_fen,
        service_fen=service_fen,
        discount_fen=discount_fen,
        total_fen=electricity_fen + service_fen - discount_fen,
    )


def _band_of(bands: Sequence[PowerBand], power_w: int) -> PowerBand:
    for band in bands:
        if power_w <= band.max_power_w:
            return band
    return bands[-1]  # above every band: the top band's price


def _minute_powers(
    started_at: datetime, until: datetime, minutes: int, samples: Sequence[tuple[datetime, int]]
) -> list[int]:
    """The highest power seen in each started minute (power holds until the next sample;
    before the first sample, the first sample's power; with no sample at all, 0 W)."""
    times = [at for at, _ in samples]
    powers: list[int] = []
    for minute in range(minutes):
        opens = started_at + minute * BILLING_MINUTE
        closes = min(opens + BILLING_MINUTE, until)
        at_open = bisect_right(times, opens) - 1
        in_force = samples[at_open][1] if at_open >= 0 else (samples[0][1] if samples else 0)
        inside = [w for at, w in samples[bisect_right(times, opens) : bisect_left(times, closes)]]
        powers.append(max([in_force, *inside]))
    return powers


def price_time(
    tariff: Tariff,
    started_at: datetime,
    until: datetime,
    power_samples: Sequence[tuple[datetime, int]],
    discount: Discount | None = None,
) -> Cost:
    """The cost of an e-bike charge by time with power bands, from ``started_at`` to ``until``.

    Every started minute costs ``fen_per_hour / 60`` of the band of the highest power (W)
    seen in it; power above every band pays the top band. The fee is a service fee (no
    electricity line, no energy). Discounts as in ``price_energy``, by minute start.

    Raises:
        InvalidInput: naive times, ``until`` before ``started_at``, a span over 31 days,
            a negative power.
        TariffMissing: the tariff has no power bands.
    """
    started_at = _require_aware(started_at, "started_at").astimezone(UTC)
    until = _require_aware(until, "until").astimezone(UTC)
    if until < started_at:
        raise InvalidInput("until must not be before started_at", field="until")
    _check_span(started_at, until, "until")
    if not tariff.ebike_power_bands:
        raise TariffMissing(
            "the tariff has no e-bike power bands",
            tariff_id=tariff.tariff_id,
            version=tariff.version,
        )
    samples = sorted(
        {
            (_require_aware(at, "power_samples").astimezone(UTC), _require_int(w, "power_w", 0))
            for at, w in power_samples
        }
    )
    samples = [sample for sample in samples if sample[0] < until]
    minutes = -((started_at - until) // BILLING_MINUTE)  # started minutes, ceil
    window = _window(discount)
    percent_kept = Fraction(1)
    if discount is not None and discount.kind is DiscountKind.PERCENT_OFF_SERVICE:
        percent_kept = 1 - Fraction(discount.percent_bp or 0, FULL_PERCENT_BP)
    heads: list[tuple[PeriodKind, datetime, datetime, int | None]] = []
    service: list[Fraction] = []
    net_service = Fraction(0)
    for minute, power_w in enumerate(_minute_powers(started_at, until, minutes, samples)):
        opens = started_at + minute * BILLING_MINUTE
        closes = min(opens + BILLING_MINUTE, until)
        band = _band_of(tariff.ebike_power_bands, power_w)
        kind = _period_at(tariff, opens).kind
        fee = Fraction(band.fen_per_hour, MINUTES_PER_HOUR)
        is_in_window = window is not None and window[0] <= opens < window[1]
        net_service += fee * percent_kept if is_in_window else fee
        if heads and heads[-1][0] == kind and heads[-1][3] == band.max_power_w:
            heads[-1] = (kind, heads[-1][1], closes, band.max_power_w)
            service[-1] += fee
        else:
            heads.append((kind, opens, closes, band.max_power_w))
            service.append(fee)
    zeros = [Fraction(0)] * len(heads)
    lines = _rounded_lines(heads, zeros, zeros, service)
    return _with_discount(lines, round_half_up(net_service), discount, started_at)


class ChargeMode(StrEnum):
    TIME = "time"
    AMOUNT = "amount"
    ENERGY = "energy"
    FULL = "full"


_TARGET_LIMITS: Mapping[ChargeMode, tuple[str, int]] = {
    ChargeMode.TIME: ("seconds", MAX_TIME_TARGET_S),
    ChargeMode.AMOUNT: ("fen", MAX_AMOUNT_TARGET_FEN),
    ChargeMode.ENERGY: ("Wh", MAX_ENERGY_TARGET_WH),
}


@dataclass(frozen=True, slots=True)
class ChargeTarget:
    """What the driver asked for: seconds (TIME), fen (AMOUNT), Wh (ENERGY), None (FULL)."""

    mode: ChargeMode
    value: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.mode, ChargeMode):
            if not isinstance(self.mode, str) or self.mode not in set(ChargeMode):
                raise InvalidInput(f"mode must be one of {', '.join(ChargeMode)}", field="mode")
            object.__setattr__(self, "mode", ChargeMode(self.mode))
        if self.mode is ChargeMode.FULL:
            if self.value is not None:
                raise InvalidInput("mode full takes no value", field="value")
            return
        unit, high = _TARGET_LIMITS[self.mode]
        if self.value is None:
            raise InvalidInput(f"mode {self.mode} needs a value in {unit}", field="value")
        low = MIN_TIME_TARGET_S if self.mode is ChargeMode.TIME else 1
        _require_int(self.value, "value", low, high)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode.value, "value": self.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChargeTarget:
        """Raises: InvalidInput: not a target."""
        if not isinstance(data, Mapping) or set(data) - {"mode", "value"} or "mode" not in data:
            raise InvalidInput("a target is {mode, value}", field="target")
        return cls(mode=data["mode"], value=data.get("value"))


def mileage_target(distance_km: int, consumption_wh_per_km: int) -> ChargeTarget:
    """Charge by mileage: the distance turned into energy by the vehicle's consumption.

    Raises:
        InvalidInput: distance or consumption out of range.
    """
    _require_int(distance_km, "distance_km", 1, MAX_DISTANCE_KM)
    _require_int(consumption_wh_per_km, "consumption_wh_per_km", 1, MAX_CONSUMPTION_WH_PER_KM)
    return ChargeTarget(ChargeMode.ENERGY, distance_km * consumption_wh_per_km)


@dataclass(frozen=True, slots=True)
class LiveCharge:
    """A running charge as the platform sees it: seconds since start, energy, cost so far."""

    elapsed_s: int
    energy_wh: int
    cost_fen: int

    def __post_init__(self) -> None:
        _require_int(self.elapsed_s, "elapsed_s", 0)
        _require_int(self.energy_wh, "energy_wh", 0)
        _require_int(self.cost_fen, "cost_fen", 0)


class StopReason(StrEnum):
    TARGET_REACHED = "target_reached"
    CAP_REACHED = "cap_reached"


def stop_decision(
    target: ChargeTarget, prepaid_cap_fen: int, live: LiveCharge, *, margin_fen: int = 0
) -> StopReason | None:
    """Why the platform must stop the charge now, or None to let it run.

    ``margin_fen`` stops that much before an amount is reached (the cost grows while the
    stop travels to the pile). The driver's target wins when both are reached.

    Raises:
        InvalidInput: a negative cap or margin.
    """
    _require_int(prepaid_cap_fen, "prepaid_cap_fen", 0)
    _require_int(margin_fen, "margin_fen", 0)
    measured = {
        ChargeMode.TIME: live.elapsed_s,
        ChargeMode.AMOUNT: live.cost_fen + margin_fen,
        ChargeMode.ENERGY: live.energy_wh,
    }
    if target.value is not None and measured[target.mode] >= target.value:
        return StopReason.TARGET_REACHED
    if live.cost_fen + margin_fen >= prepaid_cap_fen:
        return StopReason.CAP_REACHED
    return None


@dataclass(frozen=True, slots=True)
class Settlement:
    """A prepaid charge settled: ``prepaid_fen == consumed_fen + refund_fen``, all >= 0."""

    prepaid_fen: int
    consumed_fen: int
    refund_fen: int

    def __post_init__(self) -> None:
        if min(self.prepaid_fen, self.consumed_fen, self.refund_fen) < 0 or (
            self.prepaid_fen != self.consumed_fen + self.refund_fen
        ):
            raise InvalidInput("prepaid must equal consumed + refund", field="settlement")


def settle(prepaid_fen: int, cost_fen: int) -> Settlement:
    """What the prepaid amount pays (up to the cost) and what goes back.

    Raises:
        InvalidInput: a negative or non-integer amount.
    """
    _require_int(prepaid_fen, "prepaid_fen", 0)
    _require_int(cost_fen, "cost_fen", 0)
    consumed = min(cost_fen, prepaid_fen)
    return Settlement(
        prepaid_fen=prepaid_fen, consumed_fen=consumed, refund_fen=prepaid_fen - consumed
    )


@dataclass(frozen=True, slots=True)
class ProfitSplit:
    """The consumed amount shared: ``platform_fen + partner_fen == consumed``."""

    platform_fen: int
    partner_fen: int


def split_profit(consumed_fen: int, partner_share_bp: int) -> ProfitSplit:
    """The site partner's share rounded down (``floor(consumed * bp / 10000)``); the rest
    is the platform's.

    Raises:
        InvalidInput: a negative amount or a share outside 0..10000 basis points.
    """
    _require_int(consumed_fen, "consumed_fen", 0)
    _require_int(partner_share_bp, "partner_share_bp", 0, FULL_PERCENT_BP)
    partner = consumed_fen * partner_share_bp // FULL_PERCENT_BP
    return ProfitSplit(platform_fen=consumed_fen - partner, partner_fen=partner)


def estimate_energy_wh(tariff: Tariff, amount_fen: int, at: datetime) -> int:
    """About how much energy ``amount_fen`` buys at the period price in force at ``at``
    (electricity + service, rounded down); for display before a charge by amount.

    Raises:
        InvalidInput: a negative amount, a naive time, or a free period (no finite figure).
        TariffMissing: no period covers ``at``.
    """
    _require_int(amount_fen, "amount_fen", 0)
    period = _period_at(tariff, _require_aware(at, "at"))
    fen_per_kwh = period.electricity_fen_per_kwh + period.service_fen_per_kwh
    if fen_per_kwh == 0:
        raise InvalidInput("the period is free: an amount buys no finite energy", field="at")
    return amount_fen * WH_PER_KWH // fen_per_kwh
