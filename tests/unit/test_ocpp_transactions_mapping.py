"""Wire mapping of transaction messages: sampled values to our units (units, multipliers,
phases, locations, unreadable values) and the payloads of both versions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.adapters.ocpp_schemas import OcppSchemas
from shared.domain.ocpp.actions import Direction
from shared.domain.ocpp.authorization import Authorization
from shared.domain.ocpp.rpc_errors import OcppFault
from shared.domain.ocpp.transactions import (
    EventType,
    meter_values,
    sampled_quantity,
    samples_from,
    start_response_16,
    start_transaction_16,
    stop_response_16,
    stop_transaction_16,
    transaction_event_201,
    transaction_event_response,
)
from shared.domain.ocpp.versions import OcppVersion
from shared.domain.sessions import MeterSample

V16, V201 = OcppVersion.V16, OcppVersion.V201
TS = "2026-11-01T08:00:00Z"
AT = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def one_sample(version: OcppVersion, *sampled: dict[str, Any]) -> MeterSample:
    samples = samples_from(version, [{"timestamp": TS, "sampledValue": list(sampled)}])
    assert len(samples) == 1
    return samples[0]


# -- 1.6 sampled values


def test_a_bare_16_value_is_the_energy_register_in_wh() -> None:
    assert one_sample(V16, {"value": "12345"}).energy_wh == 12345


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [("12.345", "kWh", 12345), ("12.3456", "kWh", 12346), ("999.5", "Wh", 1000), ("7", None, 7)],
)
def test_16_energy_is_converted_to_wh_when_the_unit_is_given(
    value: str, unit: str | None, expected: int
) -> None:
    sampled: dict[str, Any] = {"value": value, "measurand": "Energy.Active.Import.Register"}
    if unit:
        sampled["unit"] = unit

    assert one_sample(V16, sampled).energy_wh == expected


def test_16_power_voltage_current_soc_and_temperature_are_read_in_our_units() -> None:
    sample = one_sample(
        V16,
        {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"},
        {"value": "229.8", "measurand": "Voltage", "unit": "V"},
        {"value": "31.3", "measurand": "Current.Import", "unit": "A"},
        {"value": "57", "measurand": "SoC", "unit": "Percent"},
        {"value": "104", "measurand": "Temperature", "unit": "Fahrenheit"},
    )

    assert sample.power_w == 7200
    assert sample.voltage_v == 229.8
    assert sample.current_a == 31.3
    assert sample.soc_percent == 57.0
    assert sample.temperature_c == 40.0
    assert sample.energy_wh is None


@pytest.mark.parametrize(
    ("unit", "expected"), [("Celsius", 35.5), ("Celcius", 35.5), ("K", -237.65)]
)
def test_16_temperature_units_are_all_read_as_celsius(unit: str, expected: float) -> None:
    sample = one_sample(V16, {"value": "35.5", "measurand": "Temperature", "unit": unit})

    assert sample.temperature_c == expected


def test_phases_are_summed_for_power_and_averaged_for_voltage_and_current() -> None:
    sample = one_sample(
        V16,
        *(
            {"value": str(p), "measurand": "Power.Active.Import", "unit": "W", "phase": phase}
            for p, phase in ((1000, "L1"), (2000, "L2"), (3000, "L3"))
        ),
        *(
            {"value": str(v), "measurand": "Voltage", "phase": phase}
            for v, phase in ((230, "L1-N"), (232, "L2-N"), (228, "L3-N"))
        ),
        *(
            {"value": str(a), "measurand": "Current.Import", "phase": phase}
            for a, phase in ((10, "L1"), (11, "L2"), (12, "L3"))
        ),
    )

    assert (sample.power_w, sample.voltage_v, sample.current_a) == (6000, 230.0, 11.0)


def test_a_total_wins_over_phases_and_per_phase_registers_are_not_the_session_energy() -> None:
    sample = one_sample(
        V16,
        {"value": "5000", "measurand": "Power.Active.Import"},
        {"value": "1000", "measurand": "Power.Active.Import", "phase": "L1"},
        {"value": "300", "measurand": "Energy.Active.Import.Register", "phase": "L1"},
    )

    assert sample.power_w == 5000
    assert sample.energy_wh is None


@pytest.mark.parametrize(
    "sampled",
    [
        {"value": "abc"},
        {"value": "1.0e400000"},
        {"value": "NaN"},
        {"value": "500", "format": "SignedData"},
        {"value": "500", "location": "EV"},
        {"value": "500", "unit": "kvarh"},
        {"value": "500", "measurand": "Energy.Reactive.Import.Register"},
        {"value": "500", "measurand": "Frequency"},
        {"value": "-5"},
    ],
)
def test_values_we_cannot_read_are_skipped_not_refused(sampled: dict[str, Any]) -> None:
    samples = samples_from(V16, [{"timestamp": TS, "sampledValue": [sampled]}])

    assert samples == ()


# -- 2.0.1 sampled values


@pytest.mark.parametrize(
    ("value", "unit_of_measure", "expected"),
    [
        (12.345, {"unit": "kWh"}, 12345),
        (12345, {}, 12345),
        (12345, None, 12345),
        (12.345, {"unit": "Wh", "multiplier": 3}, 12345),
        (123450, {"unit": "Wh", "multiplier": -1}, 12345),
        (0.012345, {"unit": "kWh", "multiplier": 3}, 12345),
    ],
)
def test_201_energy_honours_unit_and_multiplier(
    value: float, unit_of_measure: dict[str, Any] | None, expected: int
) -> None:
    sampled: dict[str, Any] = {"value": value}
    if unit_of_measure is not None:
        sampled["unitOfMeasure"] = unit_of_measure

    assert one_sample(V201, sampled).energy_wh == expected


def test_201_power_with_a_multiplier_is_watts() -> None:
    sample = one_sample(
        V201,
        {
            "value": 7.4,
            "measurand": "Power.Active.Import",
            "unitOfMeasure": {"unit": "W", "multiplier": 3},
        },
    )

    assert sample.power_w == 7400


@given(
    wh=st.integers(min_value=0, max_value=10**8), multiplier=st.integers(min_value=0, max_value=6)
)
def test_201_energy_is_exact_whatever_the_multiplier(wh: int, multiplier: int) -> None:
    sampled = {"value": wh, "unitOfMeasure": {"unit": "Wh", "multiplier": multiplier}}

    assert one_sample(V201, sampled).energy_wh == wh * 10**multiplier


def test_a_value_beyond_any_meter_is_skipped() -> None:
    assert sampled_quantity(V201, {"value": 1, "unitOfMeasure": {"multiplier": 20}}) is None


def test_meter_value_entries_without_a_readable_value_give_no_sample() -> None:
    samples = samples_from(
        V201,
        [
            {"timestamp": TS, "sampledValue": [{"value": 1, "measurand": "Frequency"}]},
            {"timestamp": "2026-11-01T08:01:00Z", "sampledValue": [{"value": 1500}]},
        ],
    )

    assert samples == (MeterSample(datetime(2026, 11, 1, 8, 1, tzinfo=UTC), energy_wh=1500),)


# -- payloads


def test_start_and_stop_16_read_their_fields() -> None:
    start = start_transaction_16(
        {"connectorId": 2, "idTag": "CARD-1", "meterStart": 100, "timestamp": TS}
    )
    stop = stop_transaction_16(
        {
            "transactionId": 7,
            "meterStop": 900,
            "timestamp": TS,
            "transactionData": [{"timestamp": TS, "sampledValue": [{"value": "500"}]}],
        }
    )

    assert (start.gun_no, start.id_tag, start.meter_start_wh, start.started_at) == (
        2,
        "CARD-1",
        100,
        AT,
    )
    assert (stop.transaction_id, stop.reason, stop.id_tag) == (7, "Local", None)
    assert stop.samples == (MeterSample(AT, energy_wh=500),)


@pytest.mark.parametrize(
    "payload",
    [
        {"connectorId": 1, "idTag": "C", "meterStart": -1, "timestamp": TS},
        {"connectorId": 1, "idTag": "C", "meterStart": 1, "timestamp": "2026-13-45T99:00:00Z"},
    ],
)
def test_a_negative_meter_or_impossible_time_is_a_property_violation(
    payload: dict[str, Any],
) -> None:
    with pytest.raises(OcppFault):
        start_transaction_16(payload)


def test_meter_values_name_the_gun_and_the_16_transaction() -> None:
    report = meter_values(
        V16,
        {
            "connectorId": 1,
            "transactionId": -1,
            "meterValue": [{"timestamp": TS, "sampledValue": [{"value": "10"}]}],
        },
    )
    main_meter = meter_values(
        V201, {"evseId": 0, "meterValue": [{"timestamp": TS, "sampledValue": [{"value": 10}]}]}
    )

    assert (report.gun_no, report.transaction_id) == (1, -1)
    assert (main_meter.gun_no, main_meter.transaction_id) == (0, None)


def test_transaction_event_reads_seq_no_evse_token_and_meter_values() -> None:
    event = transaction_event_201(
        {
            "eventType": "Ended",
            "timestamp": TS,
            "triggerReason": "StopAuthorized",
            "seqNo": 9,
            "transactionInfo": {"transactionId": "tx-9", "stoppedReason": "Remote"},
            "evse": {"id": 2, "connectorId": 1},
            "idToken": {"idToken": "CARD-1", "type": "ISO14443"},
            "meterValue": [
                {
                    "timestamp": TS,
                    "sampledValue": [{"value": 2.5, "unitOfMeasure": {"unit": "kWh"}}],
                }
            ],
        }
    )

    assert event.event_type is EventType.ENDED
    assert (event.seq_no, event.transaction_id, event.gun_no, event.id_token) == (
        9,
        "tx-9",
        2,
        "CARD-1",
    )
    assert event.stopped_reason == "Remote"
    assert event.samples == (MeterSample(AT, energy_wh=2500),)


def test_answers_pass_the_official_response_schemas() -> None:
    schemas = OcppSchemas()
    answers = [
        (V16, "StartTransaction", start_response_16(42, Authorization.ACCEPTED)),
        (V16, "StartTransaction", start_response_16(43, Authorization.UNKNOWN)),
        (V16, "StopTransaction", stop_response_16(None)),
        (V16, "StopTransaction", stop_response_16(Authorization.BLOCKED)),
        (V201, "TransactionEvent", transaction_event_response(None)),
        (V201, "TransactionEvent", transaction_event_response(Authorization.UNKNOWN)),
    ]

    for version, action, answer in answers:
        schemas.validate(version, action, Direction.RESPONSE, answer)
    assert start_response_16(43, Authorization.UNKNOWN)["idTagInfo"] == {"status": "Invalid"}
