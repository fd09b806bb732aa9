"""Error code spellings per version, and validation against the official schema files."""

from __future__ import annotations

from typing import Any

import pytest

from shared.adapters.ocpp_schemas import OcppSchemas, fault_for
from shared.domain.ocpp.actions import FROM_PILE, TO_PILE, ActionClass, Direction, classify_action
from shared.domain.ocpp.rpc_errors import (
    V16_ERROR_CODES,
    V201_ERROR_CODES,
    OcppFault,
    RpcFault,
    wire_code,
)
from shared.domain.ocpp.versions import OcppVersion

V16, V201 = OcppVersion.V16, OcppVersion.V201


def test_each_version_has_exactly_its_specified_error_codes() -> None:
    assert {
        "NotImplemented",
        "NotSupported",
        "InternalError",
        "ProtocolError",
        "SecurityError",
        "FormationViolation",
        "PropertyConstraintViolation",
        "OccurenceConstraintViolation",
        "TypeConstraintViolation",
        "GenericError",
    } == V16_ERROR_CODES
    assert {
        "FormatViolation",
        "GenericError",
        "InternalError",
        "MessageTypeNotSupported",
        "NotImplemented",
        "NotSupported",
        "OccurrenceConstraintViolation",
        "PropertyConstraintViolation",
        "ProtocolError",
        "RpcFrameworkError",
        "SecurityError",
        "TypeConstraintViolation",
    } == V201_ERROR_CODES


@pytest.mark.parametrize("fault", list(RpcFault))
@pytest.mark.parametrize("version", list(OcppVersion))
def test_every_fault_has_a_code_of_the_version_when_spelled(
    fault: RpcFault, version: OcppVersion
) -> None:
    codes = V16_ERROR_CODES if version is V16 else V201_ERROR_CODES
    assert wire_code(fault, version) in codes


def test_renamed_codes_are_spelled_per_version() -> None:
    assert wire_code(RpcFault.FORMAT_VIOLATION, V16) == "FormationViolation"
    assert wire_code(RpcFault.FORMAT_VIOLATION, V201) == "FormatViolation"
    assert wire_code(RpcFault.OCCURRENCE_CONSTRAINT_VIOLATION, V16) == (
        "OccurenceConstraintViolation"
    )
    assert wire_code(RpcFault.OCCURRENCE_CONSTRAINT_VIOLATION, V201) == (
        "OccurrenceConstraintViolation"
    )
    assert wire_code(RpcFault.RPC_FRAMEWORK_ERROR, V16) == "FormationViolation"
    assert wire_code(RpcFault.MESSAGE_TYPE_NOT_SUPPORTED, V16) == "GenericError"


def test_actions_are_classified_by_direction() -> None:
    assert classify_action(V16, "StartTransaction") is ActionClass.FROM_PILE
    assert classify_action(V16, "RemoteStartTransaction") is ActionClass.TO_PILE_ONLY
    assert classify_action(V16, "DataTransfer") is ActionClass.FROM_PILE
    assert classify_action(V201, "TransactionEvent") is ActionClass.FROM_PILE
    assert classify_action(V201, "StartTransaction") is ActionClass.UNKNOWN


@pytest.mark.parametrize("version", list(OcppVersion))
def test_every_catalogued_action_has_its_request_and_response_schema(
    version: OcppVersion,
) -> None:
    schemas = OcppSchemas()
    for action in FROM_PILE[version] | TO_PILE[version]:
        for direction in Direction:
            assert schemas.has_schema(version, action, direction), (action, direction)


@pytest.mark.parametrize(
    ("rule", "fault"),
    [
        ("type", RpcFault.TYPE_CONSTRAINT_VIOLATION),
        ("required", RpcFault.OCCURRENCE_CONSTRAINT_VIOLATION),
        ("maxItems", RpcFault.OCCURRENCE_CONSTRAINT_VIOLATION),
        ("additionalProperties", RpcFault.FORMAT_VIOLATION),
        ("enum", RpcFault.PROPERTY_CONSTRAINT_VIOLATION),
        ("maxLength", RpcFault.PROPERTY_CONSTRAINT_VIOLATION),
        ("format", RpcFault.PROPERTY_CONSTRAINT_VIOLATION),
    ],
)
def test_schema_keywords_map_to_faults(rule: str, fault: RpcFault) -> None:
    assert fault_for(rule) is fault


def test_validate_accepts_a_valid_payload_and_caches_the_compiled_schema() -> None:
    schemas = OcppSchemas()
    payload = {"chargePointVendor": "Acme", "chargePointModel": "AC22"}

    schemas.validate(V16, "BootNotification", Direction.REQUEST, payload)
    schemas.validate(V16, "BootNotification", Direction.REQUEST, payload)

    assert len(schemas._validators) == 1


@pytest.mark.parametrize(
    ("version", "action", "payload", "fault"),
    [
        (
            V16,
            "BootNotification",
            {"chargePointVendor": "A"},
            RpcFault.OCCURRENCE_CONSTRAINT_VIOLATION,
        ),
        (V16, "Authorize", {"idTag": 7}, RpcFault.TYPE_CONSTRAINT_VIOLATION),
        (V201, "Heartbeat", {"x": 1}, RpcFault.FORMAT_VIOLATION),
        (
            V201,
            "StatusNotification",
            {"timestamp": "now", "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1},
            RpcFault.PROPERTY_CONSTRAINT_VIOLATION,
        ),
    ],
)
def test_validate_raises_the_fault_of_the_violation(
    version: OcppVersion, action: str, payload: dict[str, Any], fault: RpcFault
) -> None:
    with pytest.raises(OcppFault) as raised:
        OcppSchemas().validate(version, action, Direction.REQUEST, payload)

    assert raised.value.fault is fault


@pytest.mark.parametrize("action", ["../../etc/passwd", "Nope", "", "Boot Notification"])
def test_validate_answers_not_implemented_when_no_schema_exists(action: str) -> None:
    with pytest.raises(OcppFault) as raised:
        OcppSchemas().validate(V16, action, Direction.REQUEST, {})

    assert raised.value.fault is RpcFault.NOT_IMPLEMENTED


def test_float_limits_of_16_schemas_accept_one_decimal_values() -> None:
    payload = {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}],
            },
        },
    }

    OcppSchemas().validate(V16, "SetChargingProfile", Direction.REQUEST, payload)
