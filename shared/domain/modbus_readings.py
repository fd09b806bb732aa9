"""E-bike port readings decoded from Modbus registers, and the folding of a port's raw
energy counter into a monotonic register.

A ``PortSample`` is one port in one poll cycle as stored: the raw energy counter, stamped
with the gateway's timestamp and ``(gateway_id, seq)``. Samples arrive late, shuffled and
repeated (store-and-forward), so nothing is folded on arrival: ``fold_samples`` dedups by
``(gateway_id, seq)``, orders by the gateway timestamp and folds the counter, so the same
set of samples always gives the same energy, whatever order it arrived in.

Folding: a counter that goes down either wrapped (``raw + modulus - previous`` is no more
than the port could have drawn at ``max_power_w`` in the elapsed time) or was reset (the
board restarted at 0: the energy since the reset is ``raw``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class PortState(StrEnum):
    IDLE = "idle"
    PLUGGED = "plugged"
    CHARGING = "charging"
    FULL = "full"
    FAULT = "fault"


# The gun/port status item the OCPP side writes (same item, same values), so monitoring,
# the operator API and the driver API read e-bike ports as they read guns.
OCPP_STATUS: dict[PortState, str] = {
    PortState.IDLE: "Available",
    PortState.PLUGGED: "Preparing",
    PortState.CHARGING: "Charging",
    PortState.FULL: "Finishing",
    PortState.FAULT: "Faulted",
}


@dataclass(frozen=True, slots=True)
class PortSample:
    """One port in one poll cycle, integer units in the names; ``energy_raw`` in Wh as the
    register holds it (not folded)."""

    at: datetime  # the gateway's timestamp of the poll cycle
    gateway_id: str
    seq: int | None  # None for transparent DTUs (the platform polls; no backlog)
    energy_raw: int
    power_w: int
    voltage_dv: int
    current_ma: int
    temperature_dc: int
    state: PortState
    stop_reason: str | None = None
    faults: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PortReading:
    """What ``port_readings`` returns: ``energy_wh`` is cumulative and monotonic (wraps and
    resets folded) from the first sample of the queried range."""

    at: datetime
    energy_wh: int
    power_w: int
    voltage_dv: int
    current_ma: int
    temperature_dc: int
    state: PortState
    stop_reason: str | None = None
    faults: tuple[str, ...] = ()


def dedup_samples(samples: Iterable[PortSample]) -> list[PortSample]:
    """One sample per ``(gateway_id, seq)`` (or per timestamp when ``seq`` is None),
    ordered by the gateway timestamp."""
    unique: dict[tuple[str, int | str], PortSample] = {}
    for sample in samples:
        key: tuple[str, int | str] = (
            sample.gateway_id,
            sample.seq if sample.seq is not None else sample.at.isoformat(),
        )
        unique.setdefault(key, sample)
    return sorted(unique.values(), key=lambda s: (s.at, s.seq if s.seq is not None else -1))


def counter_step(
    previous_raw: int,
    raw: int,
    elapsed_s: float,
    *,
    modulus: int | None,
    max_power_w: int | None,
) -> int:
    """Wh counted between two raw values of one counter (never negative)."""
    if raw >= previous_raw:
        return raw - previous_raw
    if modulus is not None:
        wrapped = raw + modulus - previous_raw
        bound = (max_power_w or 0) * max(elapsed_s, 0.0) / 3600 + 1
        if max_power_w is None or wrapped <= bound:
            return wrapped
    return raw  # the counter restarted at 0


def fold_samples(
    samples: Iterable[PortSample], *, modulus: int | None, max_power_w: int | None
) -> list[PortReading]:
    """Deduplicated, time-ordered readings with a monotonic ``energy_wh``."""
    readings: list[PortReading] = []
    previous: PortSample | None = None
    energy_wh = 0
    for sample in dedup_samples(samples):
        if previous is None:
            energy_wh = sample.energy_raw
        else:
            energy_wh += counter_step(
                previous.energy_raw,
                sample.energy_raw,
                (sample.at - previous.at).total_seconds(),
                modulus=modulus,
                max_power_w=max_power_w,
            )
        previous = sample
        readings.append(
            PortReading(
                at=sample.at,
                energy_wh=energy_wh,
                power_w=sample.power_w,
                voltage_dv=sample.voltage_dv,
                current_ma=sample.current_ma,
                temperature_dc=sample.temperature_dc,
                state=sample.state,
                stop_reason=sample.stop_reason,
                faults=sample.faults,
            )
        )
    return readings


@dataclass(frozen=True, slots=True)
class SiteLoad:
    """The site's live load from its transformer meter (PT/CT applied), for load management."""

    station_id: str
    at: datetime  # the gateway's timestamp
    received_at: datetime
    gateway_id: str
    power_w: int  # total active power, negative = export
    energy_import_wh: int | None = None
    current_ma: tuple[int, int, int] | None = None
    voltage_dv: tuple[int, int, int] | None = None


# Port faults as the OCPP side names them (1.6 ChargePointErrorCode), so a fault work order
# reads the same for a car gun and an e-bike port; other bits are OtherError + the bit name.
FAULT_ERROR_CODES: dict[str, str] = {
    "over_temperature": "HighTemperature",
    "over_current": "OverCurrentFailure",
    "over_voltage": "OverVoltage",
    "under_voltage": "UnderVoltage",
    "leakage": "GroundFailure",
}
