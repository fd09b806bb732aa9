"""ocpp_router through its lambda_handler on moto: actions of both versions, presence cost,
malformed frames, pending CSMS calls."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_ocpp_router_support import (
    OTHER_OPERATOR,
    PileSide,
    pile_side,
)

__all__ = ["pile_side"]

VERSIONS = ["ocpp1.6", "ocpp2.0.1"]


def is_rfc3339_z(text: str) -> bool:
    return len(text) == 24 and text.endswith("Z") and text[10] == "T"


# -- BootNotification


def test_boot_is_accepted_and_stored_when_pile_is_registered_16(pile_side: PileSide) -> None:
    pile_side.put_pile("CP-1", protocol="ocpp1.6")
    pile_side.connect("CP-1", connection_id="c1")
    payload = {
        "chargePointVendor": "Acme",
        "chargePointModel": "AC22",
        "chargePointSerialNumber": "SN-0001",
        "firmwareVersion": "1.2.3",
        "iccid": "89860012345678901234",
        "imsi": "460001234567890",
    }

    answer = pile_side.send("c1", [2, "m1", "BootNotification", payload])

    assert answer[:2] == [3, "m1"]
    assert answer[2]["status"] == "Accepted"
    assert answer[2]["interval"] == 540
    assert answer[2]["currentTime"] == "2026-11-01T02:00:00.000Z"
    pile = pile_side.pile("CP-1")
    assert pile["registration_status"] == "Accepted"
    assert pile["boot"] == {
        "vendor": "Acme",
        "model": "AC22",
        "serial": "SN-0001",
        "firmware": "1.2.3",
        "iccid": "89860012345678901234",
        "imsi": "460001234567890",
        "booted_at": "2026-11-01T02:00:00.000Z",
    }
    assert pile_side.connection("c1")["registration_status"] == "Accepted"  # type: ignore[index]


def test_boot_is_accepted_and_stored_when_pile_is_registered_201(pile_side: PileSide) -> None:
    pile_side.put_pile("CP-2", protocol="ocpp2.0.1")
    pile_side.connect("CP-2", connection_id="c2")
    payload = {
        "reason": "PowerUp",
        "chargingStation": {
            "vendorName": "Acme",
            "model": "DC120",
            "serialNumber": "SN-2",
            "firmwareVersion": "4.5",
            "modem": {"iccid": "89860000000000000002", "imsi": "460000000000002"},
        },
    }

    answer = pile_side.send("c2", [2, "m1", "BootNotification", payload])

    assert answer[2]["status"] == "Accepted"
    assert answer[2]["interval"] == 540
    boot = pile_side.pile("CP-2")["boot"]
    assert (boot["vendor"], boot["model"], boot["serial"], boot["firmware"]) == (
        "Acme",
        "DC120",
        "SN-2",
        "4.5",
    )
    assert (boot["iccid"], boot["imsi"]) == ("89860000000000000002", "460000000000002")


@pytest.mark.parametrize("version", VERSIONS)
def test_boot_is_rejected_when_pile_was_disabled_after_connecting(
    pile_side: PileSide, version: str
) -> None:
    pile_side.put_pile("CP-1", protocol=version)
    pile_side.connect("CP-1", connection_id="c1")
    pile_side.set_enabled("CP-1", False)

    answer = pile_side.boot("c1", version)

    assert answer[2]["status"] == "Rejected"
    assert answer[2]["interval"] == 600
    assert pile_side.pile("CP-1")["registration_status"] == "Rejected"
    heartbeat = pile_side.send("c1", [2, "h1", "Heartbeat", {}])
    assert heartbeat[:3] == [4, "h1", "SecurityError"]


@pytest.mark.parametrize("version", VERSIONS)
def test_calls_get_security_error_when_pile_has_not_booted(
    pile_side: PileSide, version: str
) -> None:
    pile_side.put_pile("CP-1", protocol=version)
    pile_side.connect("CP-1", connection_id="c1")
    before = pile_side.snapshot()

    for action in ("Heartbeat", "Authorize", "StatusNotification", "NoSuchAction"):
        answer = pile_side.send("c1", [2, "x1", action, {}])
        assert answer[:3] == [4, "x1", "SecurityError"]
    assert pile_side.snapshot() == before


def test_registration_survives_a_reconnect_without_a_new_boot(
    pile_side: PileSide, clock: Any
) -> None:
    pile_side.online("CP-1", "ocpp1.6", connection_id="c1")
    clock.advance(hours=2)
    pile_side.connect("CP-1", connection_id="c2")
    pile_side.disconnect("c1")

    answer = pile_side.send("c2", [2, "h1", "Heartbeat", {}])

    assert answer[0] == 3


# -- Heartbeat


@pytest.mark.parametrize("version", VERSIONS)
def test_heartbeat_costs_one_read_and_no_write_in_steady_state(
    pile_side: PileSide, version: str, clock: Any
) -> None:
    pile_side.online("CP-1", version)
    clock.advance(minutes=9)
    before = pile_side.snapshot()
    pile_side.counter.reset()

    answer = pile_side.send("conn-1", [2, "hb", "Heartbeat", {}])

    assert answer == [3, "hb", {"currentTime": "2026-11-01T02:09:00.000Z"}]
    assert dict(pile_side.counter.calls) == {"GetItem": 1}
    assert pile_side.snapshot() == before


def test_heartbeat_writes_nothing_for_the_whole_life_of_a_connection(
    pile_side: PileSide, clock: Any
) -> None:
    pile_side.online("CP-1", "ocpp2.0.1")
    pile_side.counter.reset()

    for minute in range(9, 120, 9):
        clock.advance(minutes=9)
        pile_side.send("conn-1", [2, f"hb{minute}", "Heartbeat", {}])

    assert dict(pile_side.counter.calls) == {"GetItem": 13}
    assert pile_side.pile("CP-1")["last_seen_at"] == "2026-11-01T02:00:00.000Z"  # the boot


# -- StatusNotification


def status16(connector: int, status: str, error: str = "NoError", **extra: Any) -> dict[str, Any]:
    return {"connectorId": connector, "status": status, "errorCode": error, **extra}


def test_status_is_stored_on_the_gun_when_reported_16(pile_side: PileSide, clock: Any) -> None:
    pile_side.online("CP-1", "ocpp1.6")
    clock.advance(seconds=5)

    answer = pile_side.send(
        "conn-1",
        [2, "s1", "StatusNotification", status16(1, "Charging", timestamp="2026-11-01T02:00:03Z")],
    )

    assert answer == [3, "s1", {}]
    gun = pile_side.gun("CP-1", 1)
    assert gun is not None
    assert gun["status"] == "Charging"
    assert gun["error_code"] == "NoError"
    assert gun["status_reported_at"] == "2026-11-01T02:00:03.000Z"
    assert gun["status_at"] == "2026-11-01T02:00:05.000Z"
    assert pile_side.faults() == []


def test_status_is_stored_on_the_gun_when_reported_201(pile_side: PileSide) -> None:
    pile_side.online("CP-2", "ocpp2.0.1")
    payload = {
        "timestamp": "2026-11-01T01:59:59.500Z",
        "connectorStatus": "Occupied",
        "evseId": 2,
        "connectorId": 1,
    }

    answer = pile_side.send("conn-1", [2, "s1", "StatusNotification", payload])

    assert answer == [3, "s1", {}]
    gun = pile_side.gun("CP-2", 2)
    assert gun is not None
    assert (gun["status"], gun["status_reported_at"]) == ("Occupied", "2026-11-01T01:59:59.500Z")
    assert "error_code" not in gun


def test_older_status_never_overwrites_a_newer_one(pile_side: PileSide) -> None:
    pile_side.online("CP-1", "ocpp1.6")
    newer = status16(1, "Available", timestamp="2026-11-01T01:50:00Z")
    older = status16(1, "Charging", timestamp="2026-11-01T01:40:00Z")

    pile_side.send("conn-1", [2, "s1", "StatusNotification", newer])
    answer = pile_side.send("conn-1", [2, "s2", "StatusNotification", older])

    assert answer == [3, "s2", {}]
    gun = pile_side.gun("CP-1", 1)
    assert gun is not None
    assert gun["status"] == "Available"


def test_fault_is_recorded_once_when_error_code_is_reported(pile_side: PileSide) -> None:
    pile_side.online("CP-1", "ocpp1.6")
    payload = status16(
        2,
        "Faulted",
        "HighTemperature",
        timestamp="2026-11-01T01:59:00Z",
        vendorErrorCode="E42",
        info="gun 2 hot",
    )

    pile_side.send("conn-1", [2, "s1", "StatusNotification", payload])
    pile_side.send("conn-1", [2, "s1", "StatusNotification", payload])  # retransmission

    faults = pile_side.faults()
    assert len(faults) == 1
    fault = faults[0]
    assert fault["error_code"] == "HighTemperature"
    assert fault["vendor_error_code"] == "E42"
    assert fault["gun_no"] == 2
    assert fault["status"] == "open"
    assert fault["gsi1pk"] == "OPERATOR#op-00000000000000000001#open"
    assert fault["gsi2pk"] == "PILE#CP-1"
    assert fault["pk"] == f"FAULT#{fault['fault_id']}"
    gun = pile_side.gun("CP-1", 2)
    assert gun is not None
    assert (gun["status"], gun["error_code"], gun["vendor_error_code"]) == (
        "Faulted",
        "HighTemperature",
        "E42",
    )


def test_pile_level_fault_is_recorded_without_a_gun_write(pile_side: PileSide) -> None:
    pile_side.online("CP-1", "ocpp1.6")
    pile_side.counter.reset()

    answer = pile_side.send(
        "conn-1", [2, "s1", "StatusNotification", status16(0, "Faulted", "GroundFailure")]
    )

    assert answer == [3, "s1", {}]
    assert dict(pile_side.counter.calls) == {"GetItem": 1, "PutItem": 1}
    assert [fault["gun_no"] for fault in pile_side.faults()] == [0]


def test_faulted_connector_is_recorded_as_a_fault_201(pile_side: PileSide) -> None:
    pile_side.online("CP-2", "ocpp2.0.1")
    payload = {
        "timestamp": "2026-11-01T01:59:00Z",
        "connectorStatus": "Faulted",
        "evseId": 1,
        "connectorId": 1,
    }

    pile_side.send("conn-1", [2, "s1", "StatusNotification", payload])

    assert [fault["error_code"] for fault in pile_side.faults()] == ["Faulted"]


def test_status_of_a_gun_the_pile_lacks_is_answered_and_creates_nothing(
    pile_side: PileSide,
) -> None:
    pile_side.online("CP-1", "ocpp1.6")
    before = pile_side.snapshot()

    answer = pile_side.send("conn-1", [2, "s1", "StatusNotification", status16(7, "Available")])

    assert answer == [3, "s1", {}]
    assert pile_side.snapshot() == before


# -- Authorize


@pytest.mark.parametrize(
    ("card", "status_16", "status_201"),
    [
        ("active", "Accepted", "Accepted"),
        ("frozen", "Blocked", "Blocked"),
        ("unbound", "Invalid", "Invalid"),
        ("foreign", "Invalid", "Unknown"),
        ("unknown", "Invalid", "Unknown"),
    ],
)
@pytest.mark.parametrize("version", VERSIONS)
def test_authorize_answers_the_card_status(
    pile_side: PileSide, version: str, card: str, status_16: str, status_201: str
) -> None:
    pile_side.online("CP-1", version)
    if card == "foreign":
        pile_side.put_card("CARD-X", "active", operator_id=OTHER_OPERATOR)
    elif card != "unknown":
        pile_side.put_card("CARD-X", card)
    before = pile_side.snapshot()
    if version == "ocpp1.6":
        payload: dict[str, Any] = {"idTag": "CARD-X"}
    else:
        payload = {"idToken": {"idToken": "CARD-X", "type": "ISO14443"}}

    answer = pile_side.send("conn-1", [2, "a1", "Authorize", payload])

    info = "idTagInfo" if version == "ocpp1.6" else "idTokenInfo"
    expected = status_16 if version == "ocpp1.6" else status_201
    assert answer == [3, "a1", {info: {"status": expected}}]
    assert pile_side.snapshot() == before


# -- actions not handled here


@pytest.mark.parametrize(
    ("version", "action", "payload", "code"),
    [
        ("ocpp1.6", "SignedFirmwareStatusNotification", {"status": "Idle"}, "NotImplemented"),
        ("ocpp1.6", "LogStatusNotification", {"status": "Idle"}, "NotImplemented"),
        ("ocpp1.6", "SignCertificate", {"csr": "x"}, "NotImplemented"),
        ("ocpp1.6", "RemoteStartTransaction", {"idTag": "x"}, "NotSupported"),
        ("ocpp1.6", "TransactionEvent", {}, "NotImplemented"),
        ("ocpp1.6", "Frobnicate", {}, "NotImplemented"),
        ("ocpp2.0.1", "NotifyEVChargingNeeds", {}, "NotImplemented"),
        ("ocpp2.0.1", "NotifyChargingLimit", {}, "NotImplemented"),
        ("ocpp2.0.1", "RequestStartTransaction", {}, "NotSupported"),
        ("ocpp2.0.1", "StartTransaction", {}, "NotImplemented"),
    ],
)
def test_unhandled_actions_get_a_call_error_never_a_result(
    pile_side: PileSide, version: str, action: str, payload: dict[str, Any], code: str
) -> None:
    pile_side.online("CP-1", version)
    before = pile_side.snapshot()

    answer = pile_side.send("conn-1", [2, "u1", action, payload])

    assert answer[:3] == [4, "u1", code]
    assert isinstance(answer[3], str)
    assert answer[4] == {}
    assert pile_side.snapshot() == before


# -- malformed frames

MALFORMED: list[tuple[str, Any, str, str, str]] = [
    # (id, frame, answered id, 1.6 code, 2.0.1 code)
    ("not-json", "[2, 'x', ", "-1", "FormationViolation", "RpcFrameworkError"),
    ("nan", '[2,"n1","Heartbeat",{"x":NaN}]', "-1", "FormationViolation", "RpcFrameworkError"),
    ("not-array", '{"a": 1}', "-1", "FormationViolation", "RpcFrameworkError"),
    ("empty-array", "[]", "-1", "FormationViolation", "RpcFrameworkError"),
    ("number-id", '[2, 17, "Heartbeat", {}]', "-1", "FormationViolation", "RpcFrameworkError"),
    (
        "id-too-long",
        '[2, "' + "x" * 37 + '", "Heartbeat", {}]',
        "-1",
        "FormationViolation",
        "RpcFrameworkError",
    ),
    ("no-id", "[2]", "-1", "FormationViolation", "RpcFrameworkError"),
    (
        "type-as-text",
        '["2", "m1", "Heartbeat", {}]',
        "m1",
        "FormationViolation",
        "RpcFrameworkError",
    ),
    ("unknown-type", '[5, "m1", "Heartbeat", {}]', "m1", "GenericError", "MessageTypeNotSupported"),
    ("short-call", '[2, "m1", "Heartbeat"]', "m1", "FormationViolation", "RpcFrameworkError"),
    ("action-number", '[2, "m1", 7, {}]', "m1", "FormationViolation", "RpcFrameworkError"),
    ("payload-list", '[2, "m1", "Heartbeat", []]', "m1", "FormationViolation", "FormatViolation"),
    (
        "oversized",
        '[2, "m1", "Heartbeat", {"pad": "' + "x" * 70_000 + '"}]',
        "m1",
        "FormationViolation",
        "FormatViolation",
    ),
    (
        "huge",
        '[2, "m1", "Heartbeat", {"pad": "' + "x" * 140_000 + '"}]',
        "-1",
        "FormationViolation",
        "FormatViolation",
    ),
    (
        "extra-field",
        '[2, "m1", "Heartbeat", {"surprise": 1}]',
        "m1",
        "FormationViolation",
        "FormatViolation",
    ),
]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("frame", "answered_id", "code_16", "code_201"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_malformed_frames_get_the_versions_call_error_and_change_nothing(
    pile_side: PileSide, version: str, frame: str, answered_id: str, code_16: str, code_201: str
) -> None:
    pile_side.online("CP-1", version)
    before = pile_side.snapshot()

    answer = pile_side.send("conn-1", frame)

    assert answer[:3] == [4, answered_id, code_16 if version == "ocpp1.6" else code_201]
    assert len(answer) == 5
    assert pile_side.snapshot() == before


SCHEMA_VIOLATIONS: list[tuple[str, str, dict[str, Any], str, str]] = [
    # (id, action, 1.6 payload or 2.0.1 payload by version below, 1.6 code, 2.0.1 code)
    (
        "missing-required",
        "StatusNotification",
        {},
        "OccurenceConstraintViolation",
        "OccurrenceConstraintViolation",
    ),
    ("wrong-type", "Heartbeat", {}, "TypeConstraintViolation", "TypeConstraintViolation"),
    (
        "bad-enum",
        "StatusNotification",
        {},
        "PropertyConstraintViolation",
        "PropertyConstraintViolation",
    ),
    ("too-long", "Authorize", {}, "PropertyConstraintViolation", "PropertyConstraintViolation"),
    (
        "bad-timestamp",
        "StatusNotification",
        {},
        "PropertyConstraintViolation",
        "PropertyConstraintViolation",
    ),
    (
        "impossible-date",
        "StatusNotification",
        {},
        "PropertyConstraintViolation",
        "PropertyConstraintViolation",
    ),
]


def violating_payload(case: str, version: str) -> tuple[str, dict[str, Any]]:
    if version == "ocpp1.6":
        ok_status: dict[str, Any] = status16(1, "Available", timestamp="2026-11-01T01:00:00Z")
        status_key = "status"
    else:
        ok_status = {
            "timestamp": "2026-11-01T01:00:00Z",
            "connectorStatus": "Available",
            "evseId": 1,
            "connectorId": 1,
        }
        status_key = "connectorStatus"
    if case == "missing-required":
        return "StatusNotification", {"timestamp": "2026-11-01T01:00:00Z"}
    if case == "wrong-type":
        return "StatusNotification", {
            **ok_status,
            "evseId" if version != "ocpp1.6" else "connectorId": "one",
        }
    if case == "bad-enum":
        return "StatusNotification", {**ok_status, status_key: "Exploded"}
    if case == "too-long":
        if version == "ocpp1.6":
            return "Authorize", {"idTag": "X" * 21}
        return "Authorize", {"idToken": {"idToken": "X" * 37, "type": "ISO14443"}}
    if case == "bad-timestamp":
        return "StatusNotification", {**ok_status, "timestamp": "yesterday"}
    return "StatusNotification", {**ok_status, "timestamp": "2026-13-45T25:61:61Z"}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("case", "code_16", "code_201"),
    [(case[0], case[3], case[4]) for case in SCHEMA_VIOLATIONS],
    ids=[case[0] for case in SCHEMA_VIOLATIONS],
)
def test_schema_violations_get_the_versions_code_and_change_nothing(
    pile_side: PileSide, version: str, case: str, code_16: str, code_201: str
) -> None:
    pile_side.online("CP-1", version)
    action, payload = violating_payload(case, version)
    before = pile_side.snapshot()

    answer = pile_side.send("conn-1", [2, "v1", action, payload])

    assert answer[:3] == [4, "v1", code_16 if version == "ocpp1.6" else code_201]
    assert pile_side.snapshot() == before


@pytest.mark.parametrize("version", VERSIONS)
def test_binary_frame_is_answered_as_unreadable(pile_side: PileSide, version: str) -> None:
    pile_side.online("CP-1", version)
    before = pile_side.snapshot()

    answer = pile_side.send("conn-1", "WzIsIngiLCJIZWFydGJlYXQiLHt9XQ==", is_base64=True)

    expected = "FormationViolation" if version == "ocpp1.6" else "RpcFrameworkError"
    assert answer[:3] == [4, "-1", expected]
    assert pile_side.snapshot() == before


def test_frame_on_an_unknown_connection_gets_internal_error(pile_side: PileSide) -> None:
    before = pile_side.snapshot()

    answer = pile_side.send("no-such-connection", [2, "m1", "Heartbeat", {}])

    assert answer[:3] == [4, "m1", "InternalError"]
    assert pile_side.snapshot() == before
