"""Functional block E (transactions) and J (meter values) on the wire, both versions.

Reads schema-valid payloads into domain values and builds the answers:

- 1.6 StartTransaction / StopTransaction (with ``transactionData``) / MeterValues;
- 2.0.1 TransactionEvent (Started / Updated / Ended, ``seqNo``) and MeterValues.

Sampled values become ``MeterSample`` fields: Energy.Active.Import.Register -> Wh,
Power.Active.Import -> W, Voltage -> V, Current.Import -> A, SoC -> %, Temperature -> degC.
1.6 values are decimal strings with ``unit`` (Wh, kWh, W, kW, ...); 2.0.1 values are
numbers with ``unitOfMeasure`` (``unit``, ``multiplier`` = power of ten). Defaults follow
both specs: a value with no measurand is the active import energy register in Wh.
Per-phase values are folded into one figure (power summed, voltage and current averaged);
the total, when the pile sends one, wins. A value that cannot be read (signed data, not a
number, an unknown unit) is skipped rather than refusing the whole message: the pile
would resend it forever.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from shared.domain.clock import from_wire
from shared.domain.ocpp.authorization import Authorization, authorize_response
from shared.domain.ocpp.rpc_errors import OcppFault, RpcFault
from shared.domain.ocpp.versions import OcppVersion
from shared.domain.sessions import MeterSample, StartIdentity

# 1.6 transactionId is a JSON integer; piles store it in a signed 32-bit int.
MAX_TRANSACTION_ID_16 = 2**31 - 1
UNKNOWN_TRANSACTION_16 = -1
DEFAULT_STOP_REASON = "Local"  # both versions: an absent reason means Local

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
VOLTAGE = "Voltage"
CURRENT = "Current.Import"
SOC = "SoC"
TEMPERATURE = "Temperature"
_MEASURANDS = {ENERGY, POWER, VOLTAGE, CURRENT, SOC, TEMPERATURE}
# Where the pile meters what it delivers; an EV's own readings are not the session's.
_OUTLET_LOCATIONS = {None, "Outlet", "Cable", "Body"}
_ENERGY_UNITS = {"Wh": 0, "kWh": 3}
_POWER_UNITS = {"W": 0, "kW": 3}
_MAX_READING = Decimal(10**15)  # beyond any meter: a corrupt value, skipped


class EventType(StrEnum):
    STARTED = "Started"
    UPDATED = "Updated"
    ENDED = "Ended"


@dataclass(frozen=True, slots=True)
class StartTransaction16:
    gun_no: int
    id_tag: str
    meter_start_wh: int
    started_at: datetime
    reservation_id: int | None

    @property
    def identity(self) -> StartIdentity:
        return StartIdentity(self.gun_no, self.started_at, self.meter_start_wh, self.id_tag)


@dataclass(frozen=True, slots=True)
class StopTransaction16:
    transaction_id: int
    id_tag: str | None
    meter_stop_wh: int
    stopped_at: datetime
    reason: str
    samples: tuple[MeterSample, ...]


@dataclass(frozen=True, slots=True)
class MeterValuesReport:
    """MeterValues of either version: 1.6 ``connectorId`` / 2.0.1 ``evseId`` (0 = the
    pile's main meter) and, in 1.6 only, the transaction they belong to."""

    gun_no: int
    transaction_id: int | None
    samples: tuple[MeterSample, ...]


@dataclass(frozen=True, slots=True)
class TransactionEvent201:
    event_type: EventType
    seq_no: int
    at: datetime
    trigger_reason: str
    transaction_id: str
    gun_no: int | None
    id_token: str | None
    charging_state: str | None
    stopped_reason: str | None
    remote_start_id: int | None
    is_offline: bool
    samples: tuple[MeterSample, ...]


def pile_time(text: str) -> datetime:
    """A pile timestamp as aware UTC (kept as the pile gave it: it orders readings).

    Raises:
        OcppFault: PropertyConstraintViolation, not a real date-time.
    """
    try:
        return from_wire(text)
    except ValueError as exc:
        raise OcppFault(
            RpcFault.PROPERTY_CONSTRAINT_VIOLATION, "timestamp is not a date-time"
        ) from exc


def start_transaction_16(payload: Mapping[str, Any]) -> StartTransaction16:
    """Raises: OcppFault for an impossible timestamp or a negative register."""
    return StartTransaction16(
        gun_no=int(payload["connectorId"]),
        id_tag=str(payload["idTag"]),
        meter_start_wh=_register(payload["meterStart"], "meterStart"),
        started_at=pile_time(payload["timestamp"]),
        reservation_id=payload.get("reservationId"),
    )


def stop_transaction_16(payload: Mapping[str, Any]) -> StopTransaction16:
    """Raises: OcppFault for an impossible timestamp or a negative register."""
    id_tag = payload.get("idTag")
    return StopTransaction16(
        transaction_id=int(payload["transactionId"]),
        id_tag=str(id_tag) if id_tag is not None else None,
        meter_stop_wh=_register(payload["meterStop"], "meterStop"),
        stopped_at=pile_time(payload["timestamp"]),
        reason=str(payload.get("reason") or DEFAULT_STOP_REASON),
        samples=samples_from(OcppVersion.V16, payload.get("transactionData") or []),
    )


def meter_values(version: OcppVersion, payload: Mapping[str, Any]) -> MeterValuesReport:
    """Raises: OcppFault for an impossible timestamp."""
    if version is OcppVersion.V16:
        transaction_id = payload.get("transactionId")
        return MeterValuesReport(
            gun_no=int(payload["connectorId"]),
            transaction_id=int(transaction_id) if transaction_id is not None else None,
            samples=samples_from(version, payload["meterValue"]),
        )
    return MeterValuesReport(
        gun_no=int(payload["evseId"]),
        transaction_id=None,
        samples=samples_from(version, payload["meterValue"]),
    )


def transaction_event_201(payload: Mapping[str, Any]) -> TransactionEvent201:
    """Raises: OcppFault for an impossible timestamp."""
    info = payload["transactionInfo"]
    evse = payload.get("evse")
    id_token = payload.get("idToken")
    return TransactionEvent201(
        event_type=EventType(payload["eventType"]),
        seq_no=int(payload["seqNo"]),
        at=pile_time(payload["timestamp"]),
        trigger_reason=str(payload["triggerReason"]),
        transaction_id=str(info["transactionId"]),
        gun_no=int(evse["id"]) if evse is not None else None,
        id_token=str(id_token["idToken"]) if id_token is not None else None,
        charging_state=info.get("chargingState"),
        stopped_reason=info.get("stoppedReason"),
        remote_start_id=info.get("remoteStartId"),
        is_offline=bool(payload.get("offline", False)),
        samples=samples_from(OcppVersion.V201, payload.get("meterValue") or []),
    )


def _register(value: Any, name: str) -> int:
    wh = int(value)
    if wh < 0:
        raise OcppFault(RpcFault.PROPERTY_CONSTRAINT_VIOLATION, f"{name} must not be negative")
    return wh


# --- sampled values ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Quantity:
    """One sampled value read into our units."""

    measurand: str
    phase: str | None
    value: Decimal


def samples_from(
    version: OcppVersion, meter_values: Iterable[Mapping[str, Any]]
) -> tuple[MeterSample, ...]:
    """One ``MeterSample`` per ``meterValue`` element that carries a readable value.

    Raises:
        OcppFault: PropertyConstraintViolation for an impossible timestamp.
    """
    samples = []
    for meter_value in meter_values:
        at = pile_time(meter_value["timestamp"])
        quantities = [
            quantity
            for sampled in meter_value["sampledValue"]
            if (quantity := sampled_quantity(version, sampled)) is not None
        ]
        sample = _sample(at, quantities)
        if sample.has_values:
            samples.append(sample)
    return tuple(samples)


def sampled_quantity(version: OcppVersion, sampled: Mapping[str, Any]) -> Quantity | None:
    """A sampled value in our unit (Wh, W, V, A, %, degC), or None when it is not one we
    keep or cannot be read."""
    measurand = sampled.get("measurand", ENERGY)
    if measurand not in _MEASURANDS or sampled.get("location") not in _OUTLET_LOCATIONS:
        return None
    if version is OcppVersion.V16:
        if sampled.get("format") == "SignedData":
            return None
        unit = sampled.get("unit")
        exponent = 0
    else:
        unit_of_measure = sampled.get("unitOfMeasure") or {}
        unit = unit_of_measure.get("unit")
        exponent = int(unit_of_measure.get("multiplier", 0))
    number = _decimal(sampled["value"])
    if number is None or not -24 <= exponent <= 24:
        return None
    scaled = _in_our_unit(measurand, unit, number.scaleb(exponent))
    if scaled is None or not abs(scaled) < _MAX_READING:
        return None
    return Quantity(measurand, sampled.get("phase"), scaled)


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _in_our_unit(measurand: str, unit: str | None, value: Decimal) -> Decimal | None:
    if measurand == ENERGY:
        return _scaled(_ENERGY_UNITS, unit or "Wh", value)
    if measurand == POWER:
        return _scaled(_POWER_UNITS, unit or "W", value)
    if measurand == VOLTAGE:
        return value if unit in (None, "V") else None
    if measurand == CURRENT:
        return value if unit in (None, "A") else None
    if measurand == SOC:
        return value if unit in (None, "Percent") else None
    return _celsius(unit, value)


def _scaled(units: Mapping[str, int], unit: str, value: Decimal) -> Decimal | None:
    if unit not in units:
        return None
    return value.scaleb(units[unit])


def _celsius(unit: str | None, value: Decimal) -> Decimal | None:
    if unit in (None, "Celsius", "Celcius"):  # 1.6 lists both spellings
        return value
    if unit == "Fahrenheit":
        return (value - 32) * 5 / 9
    if unit == "K":
        return value - Decimal("273.15")
    return None


def _sample(at: datetime, quantities: list[Quantity]) -> MeterSample:
    energy = _total(quantities, ENERGY, sum_phases=False)
    power = _total(quantities, POWER, sum_phases=True)
    energy_wh = _whole(energy)
    return MeterSample(
        sampled_at=at,
        energy_wh=energy_wh if energy_wh is not None and energy_wh >= 0 else None,
        power_w=_whole(power),
        voltage_v=_figure(_total(quantities, VOLTAGE, sum_phases=False)),
        current_a=_figure(_total(quantities, CURRENT, sum_phases=False)),
        soc_percent=_figure(_total(quantities, SOC, sum_phases=False)),
        temperature_c=_figure(_total(quantities, TEMPERATURE, sum_phases=False)),
    )


def _total(quantities: list[Quantity], measurand: str, *, sum_phases: bool) -> Decimal | None:
    """The value without a phase (the total) if present; else the phases' sum or mean.
    Energy registers per phase are not summed: only a total register is a session's."""
    of_kind = [q for q in quantities if q.measurand == measurand]
    totals = [q.value for q in of_kind if q.phase is None]
    if totals:
        return totals[0]
    if measurand == ENERGY:
        return None
    phases = [q.value for q in of_kind if q.phase is not None and q.phase != "N"]
    if not phases:
        return None
    total = sum(phases, Decimal(0))
    return total if sum_phases else total / len(phases)


def _whole(value: Decimal | None) -> int | None:
    if value is None:
        return None
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def _figure(value: Decimal | None) -> float | None:
    if value is None:
        return None
    return float(value.quantize(Decimal("0.001"), rounding=ROUND_HALF_EVEN))


# --- answers -------------------------------------------------------------------------------


def start_response_16(transaction_id: int, card: Authorization) -> dict[str, Any]:
    return {"transactionId": transaction_id, **authorize_response(OcppVersion.V16, card)}


def stop_response_16(card: Authorization | None) -> dict[str, Any]:
    """StopTransaction.conf: ``idTagInfo`` only when the request named an idTag."""
    if card is None:
        return {}
    return authorize_response(OcppVersion.V16, card)


def transaction_event_response(card: Authorization | None) -> dict[str, Any]:
    """TransactionEventResponse: ``idTokenInfo`` when the event carried an idToken."""
    if card is None:
        return {}
    return authorize_response(OcppVersion.V201, card)


def meter_values_response() -> dict[str, Any]:
    return {}


CardCheck = Callable[[str], Authorization]
