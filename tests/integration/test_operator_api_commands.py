"""Pile commands end to end on moto: the operator API sends the CALL (captured from the
``@connections`` sender), the pile's answer comes back through the router, and the
command's state and answer are read back through the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared.domain.ocpp.remote_calls import numeric_id
from shared.domain.ocpp.versions import OcppVersion
from shared.domain.sessions import session_id_for
from tests.integration.operator_api_support import PILE_PASSWORD, api, tenants
from tests.integration.test_ocpp_router_support import basic, pile_side
from tests.integration.test_ocpp_transactions_support import (
    TransactionSide,
    start_16,
    transaction_side,
)
from tests.integration.test_operator_api_commands_support import Fleet, fleet

__all__ = ["api", "fleet", "pile_side", "tenants", "transaction_side"]

Expected = Callable[[int], dict[str, Any]]
MAX_PROFILE = {
    "profile_id": 7,
    "stack_level": 0,
    "purpose": "charging_station_max",
    "kind": "absolute",
    "schedule": {"rate_unit": "W", "periods": [{"start_s": 0, "limit": 11000}]},
}
TX_DEFAULT_PROFILE = {
    "profile_id": 8,
    "stack_level": 1,
    "purpose": "tx_default",
    "kind": "relative",
    "schedule": {
        "rate_unit": "A",
        "periods": [{"start_s": 0, "limit": 16, "phases": 3}, {"start_s": 1800, "limit": 8}],
    },
}


def same(payload: dict[str, Any]) -> Expected:
    return lambda request_id: payload


# name, version, method, path, body, query, OCPP action, expected payload, the pile's answer
CASES: list[
    tuple[str, str, str, str, Any, dict[str, str] | None, str, Expected, dict[str, Any]]
] = [
    (
        "remote-start",
        "ocpp1.6",
        "POST",
        "remote-start",
        {"gun_no": 1, "id_tag": "CARD-a"},
        None,
        "RemoteStartTransaction",
        same({"connectorId": 1, "idTag": "CARD-a"}),
        {"status": "Accepted"},
    ),
    (
        "remote-stop",
        "ocpp1.6",
        "POST",
        "remote-stop",
        {"ocpp_transaction_id": "17"},
        None,
        "RemoteStopTransaction",
        same({"transactionId": 17}),
        {"status": "Accepted"},
    ),
    (
        "reset",
        "ocpp1.6",
        "POST",
        "reset",
        {"type": "hard"},
        None,
        "Reset",
        same({"type": "Hard"}),
        {"status": "Accepted"},
    ),
    (
        "unlock",
        "ocpp1.6",
        "POST",
        "unlock",
        {"gun_no": 2},
        None,
        "UnlockConnector",
        same({"connectorId": 2}),
        {"status": "Unlocked"},
    ),
    (
        "availability",
        "ocpp1.6",
        "POST",
        "availability",
        {"operative": False},
        None,
        "ChangeAvailability",
        same({"connectorId": 0, "type": "Inoperative"}),
        {"status": "Scheduled"},
    ),
    (
        "get-configuration",
        "ocpp1.6",
        "GET",
        "configuration",
        None,
        {"keys": "HeartbeatInterval,MeterValueSampleInterval"},
        "GetConfiguration",
        same({"key": ["HeartbeatInterval", "MeterValueSampleInterval"]}),
        {
            "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "540"}],
            "unknownKey": ["MeterValueSampleInterval"],
        },
    ),
    (
        "change-configuration",
        "ocpp1.6",
        "PUT",
        "configuration",
        {"key": "HeartbeatInterval", "value": "300"},
        None,
        "ChangeConfiguration",
        same({"key": "HeartbeatInterval", "value": "300"}),
        {"status": "Accepted"},
    ),
    (
        "set-charging-profile",
        "ocpp1.6",
        "PUT",
        "charging-profiles",
        {"gun_no": 0, "profile": MAX_PROFILE},
        None,
        "SetChargingProfile",
        same(
            {
                "connectorId": 0,
                "csChargingProfiles": {
                    "chargingProfileId": 7,
                    "stackLevel": 0,
                    "chargingProfilePurpose": "ChargePointMaxProfile",
                    "chargingProfileKind": "Absolute",
                    "chargingSchedule": {
                        "chargingRateUnit": "W",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000}],
                    },
                },
            }
        ),
        {"status": "Accepted"},
    ),
    (
        "clear-charging-profile",
        "ocpp1.6",
        "DELETE",
        "charging-profiles",
        None,
        {"profile_id": "7"},
        "ClearChargingProfile",
        same({"id": 7}),
        {"status": "Accepted"},
    ),
    (
        "composite-schedule",
        "ocpp1.6",
        "POST",
        "composite-schedule",
        {"gun_no": 1, "duration_s": 3600, "rate_unit": "W"},
        None,
        "GetCompositeSchedule",
        same({"connectorId": 1, "duration": 3600, "chargingRateUnit": "W"}),
        {"status": "Rejected"},
    ),
    (
        "reserve",
        "ocpp1.6",
        "POST",
        "reservations",
        {"gun_no": 1, "id_tag": "CARD-a", "expires_at": "2026-11-01T11:00:00+08:00"},
        None,
        "ReserveNow",
        lambda rid: {
            "connectorId": 1,
            "expiryDate": "2026-11-01T03:00:00.000Z",
            "idTag": "CARD-a",
            "reservationId": rid,
        },
        {"status": "Accepted"},
    ),
    (
        "cancel-reservation",
        "ocpp1.6",
        "DELETE",
        "reservations/55",
        None,
        None,
        "CancelReservation",
        same({"reservationId": 55}),
        {"status": "Accepted"},
    ),
    (
        "firmware",
        "ocpp1.6",
        "POST",
        "firmware",
        {
            "location": "https://fw.example.com/ac7k-2.1.bin",
            "retrieve_at": "2026-11-01T04:00:00Z",
            "retries": 2,
            "retry_interval_s": 300,
        },
        None,
        "UpdateFirmware",
        same(
            {
                "location": "https://fw.example.com/ac7k-2.1.bin",
                "retrieveDate": "2026-11-01T04:00:00.000Z",
                "retries": 2,
                "retryInterval": 300,
            }
        ),
        {},
    ),
    (
        "diagnostics",
        "ocpp1.6",
        "POST",
        "diagnostics",
        {"location": "ftp://logs.example.com/incoming/"},
        None,
        "GetDiagnostics",
        same({"location": "ftp://logs.example.com/incoming/"}),
        {"fileName": "diag-CP-a.zip"},
    ),
    (
        "local-list",
        "ocpp1.6",
        "POST",
        "local-list",
        {"version": 2, "update": "full", "entries": [{"id_tag": "CARD-a", "status": "accepted"}]},
        None,
        "SendLocalList",
        same(
            {
                "listVersion": 2,
                "updateType": "Full",
                "localAuthorizationList": [
                    {"idTag": "CARD-a", "idTagInfo": {"status": "Accepted"}}
                ],
            }
        ),
        {"status": "Accepted"},
    ),
    (
        "local-list-version",
        "ocpp1.6",
        "GET",
        "local-list/version",
        None,
        None,
        "GetLocalListVersion",
        same({}),
        {"listVersion": 2},
    ),
    (
        "clear-cache",
        "ocpp1.6",
        "DELETE",
        "cache",
        None,
        None,
        "ClearCache",
        same({}),
        {"status": "Accepted"},
    ),
    (
        "data-transfer",
        "ocpp1.6",
        "POST",
        "data-transfer",
        {"vendor_id": "com.acme", "message_id": "Ping", "data": "hello"},
        None,
        "DataTransfer",
        same({"vendorId": "com.acme", "messageId": "Ping", "data": "hello"}),
        {"status": "Accepted", "data": "pong"},
    ),
    (
        "trigger",
        "ocpp1.6",
        "POST",
        "trigger",
        {"message": "StatusNotification", "gun_no": 1},
        None,
        "TriggerMessage",
        same({"requestedMessage": "StatusNotification", "connectorId": 1}),
        {"status": "Accepted"},
    ),
    (
        "remote-start",
        "ocpp2.0.1",
        "POST",
        "remote-start",
        {"gun_no": 1, "id_tag": "CARD-a-with-a-long-201-token-000001"},
        None,
        "RequestStartTransaction",
        lambda rid: {
            "evseId": 1,
            "remoteStartId": rid,
            "idToken": {"idToken": "CARD-a-with-a-long-201-token-000001", "type": "Central"},
        },
        {"status": "Accepted"},
    ),
    (
        "remote-stop",
        "ocpp2.0.1",
        "POST",
        "remote-stop",
        {"ocpp_transaction_id": "tx-9f3c"},
        None,
        "RequestStopTransaction",
        same({"transactionId": "tx-9f3c"}),
        {"status": "Rejected"},
    ),
    (
        "reset",
        "ocpp2.0.1",
        "POST",
        "reset",
        {"type": "soft"},
        None,
        "Reset",
        same({"type": "OnIdle"}),
        {"status": "Scheduled"},
    ),
    (
        "unlock",
        "ocpp2.0.1",
        "POST",
        "unlock",
        {"gun_no": 1},
        None,
        "UnlockConnector",
        same({"evseId": 1, "connectorId": 1}),
        {"status": "Unlocked"},
    ),
    (
        "availability",
        "ocpp2.0.1",
        "POST",
        "availability",
        {"operative": True, "gun_no": 2},
        None,
        "ChangeAvailability",
        same({"operationalStatus": "Operative", "evse": {"id": 2}}),
        {"status": "Accepted"},
    ),
    (
        "get-configuration",
        "ocpp2.0.1",
        "GET",
        "configuration",
        None,
        {"keys": "OCPPCommCtrlr/HeartbeatInterval"},
        "GetVariables",
        same(
            {
                "getVariableData": [
                    {
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "HeartbeatInterval"},
                    }
                ]
            }
        ),
        {
            "getVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "attributeValue": "540",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        },
    ),
    (
        "change-configuration",
        "ocpp2.0.1",
        "PUT",
        "configuration",
        {"key": "OCPPCommCtrlr/HeartbeatInterval", "value": "300"},
        None,
        "SetVariables",
        same(
            {
                "setVariableData": [
                    {
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "HeartbeatInterval"},
                        "attributeValue": "300",
                    }
                ]
            }
        ),
        {
            "setVariableResult": [
                {
                    "attributeStatus": "RebootRequired",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        },
    ),
    (
        "set-charging-profile",
        "ocpp2.0.1",
        "PUT",
        "charging-profiles",
        {"gun_no": 1, "profile": TX_DEFAULT_PROFILE},
        None,
        "SetChargingProfile",
        same(
            {
                "evseId": 1,
                "chargingProfile": {
                    "id": 8,
                    "stackLevel": 1,
                    "chargingProfilePurpose": "TxDefaultProfile",
                    "chargingProfileKind": "Relative",
                    "chargingSchedule": [
                        {
                            "id": 8,
                            "chargingRateUnit": "A",
                            "chargingSchedulePeriod": [
                                {"startPeriod": 0, "limit": 16, "numberPhases": 3},
                                {"startPeriod": 1800, "limit": 8},
                            ],
                        }
                    ],
                },
            }
        ),
        {"status": "Accepted"},
    ),
    (
        "clear-charging-profile",
        "ocpp2.0.1",
        "DELETE",
        "charging-profiles",
        None,
        {"gun_no": "1", "purpose": "tx_default"},
        "ClearChargingProfile",
        same(
            {"chargingProfileCriteria": {"evseId": 1, "chargingProfilePurpose": "TxDefaultProfile"}}
        ),
        {"status": "Unknown"},
    ),
    (
        "composite-schedule",
        "ocpp2.0.1",
        "POST",
        "composite-schedule",
        {"gun_no": 0, "duration_s": 600},
        None,
        "GetCompositeSchedule",
        same({"evseId": 0, "duration": 600}),
        {"status": "Rejected"},
    ),
    (
        "reserve",
        "ocpp2.0.1",
        "POST",
        "reservations",
        {"id_tag": "CARD-a", "expires_at": "2026-11-01T03:00:00Z"},
        None,
        "ReserveNow",
        lambda rid: {
            "id": rid,
            "expiryDateTime": "2026-11-01T03:00:00.000Z",
            "idToken": {"idToken": "CARD-a", "type": "Central"},
        },
        {"status": "Accepted"},
    ),
    (
        "cancel-reservation",
        "ocpp2.0.1",
        "DELETE",
        "reservations/55",
        None,
        None,
        "CancelReservation",
        same({"reservationId": 55}),
        {"status": "Rejected"},
    ),
    (
        "firmware",
        "ocpp2.0.1",
        "POST",
        "firmware",
        {
            "location": "https://fw.example.com/dc120-3.0.bin",
            "retrieve_at": "2026-11-01T04:00:00Z",
            "install_at": "2026-11-01T05:00:00Z",
        },
        None,
        "UpdateFirmware",
        lambda rid: {
            "requestId": rid,
            "firmware": {
                "location": "https://fw.example.com/dc120-3.0.bin",
                "retrieveDateTime": "2026-11-01T04:00:00.000Z",
                "installDateTime": "2026-11-01T05:00:00.000Z",
            },
        },
        {"status": "Accepted"},
    ),
    (
        "logs",
        "ocpp2.0.1",
        "POST",
        "logs",
        {"location": "https://logs.example.com/up", "log_type": "security"},
        None,
        "GetLog",
        lambda rid: {
            "logType": "SecurityLog",
            "requestId": rid,
            "log": {"remoteLocation": "https://logs.example.com/up"},
        },
        {"status": "Accepted", "filename": "security.log"},
    ),
    (
        "local-list",
        "ocpp2.0.1",
        "POST",
        "local-list",
        {"version": 3, "update": "differential", "entries": [{"id_tag": "CARD-gone"}]},
        None,
        "SendLocalList",
        same(
            {
                "versionNumber": 3,
                "updateType": "Differential",
                "localAuthorizationList": [
                    {"idToken": {"idToken": "CARD-gone", "type": "ISO14443"}}
                ],
            }
        ),
        {"status": "Accepted"},
    ),
    (
        "local-list-version",
        "ocpp2.0.1",
        "GET",
        "local-list/version",
        None,
        None,
        "GetLocalListVersion",
        same({}),
        {"versionNumber": 3},
    ),
    (
        "clear-cache",
        "ocpp2.0.1",
        "DELETE",
        "cache",
        None,
        None,
        "ClearCache",
        same({}),
        {"status": "Rejected"},
    ),
    (
        "data-transfer",
        "ocpp2.0.1",
        "POST",
        "data-transfer",
        {"vendor_id": "com.acme"},
        None,
        "DataTransfer",
        same({"vendorId": "com.acme"}),
        {"status": "UnknownVendorId"},
    ),
    (
        "trigger",
        "ocpp2.0.1",
        "POST",
        "trigger",
        {"message": "TransactionEvent", "gun_no": 1},
        None,
        "TriggerMessage",
        same({"requestedMessage": "TransactionEvent", "evse": {"id": 1}}),
        {"status": "Accepted"},
    ),
    (
        "base-report",
        "ocpp2.0.1",
        "POST",
        "base-report",
        {"report": "full_inventory"},
        None,
        "GetBaseReport",
        lambda rid: {"requestId": rid, "reportBase": "FullInventory"},
        {"status": "Accepted"},
    ),
]


def target(fleet: Fleet, version: str) -> tuple[str, str]:
    """The pile and its connection for ``version``."""
    return (fleet.pile16, "a16") if version == "ocpp1.6" else (fleet.pile201, "a201")


@pytest.mark.parametrize(
    ("name", "version", "method", "path", "body", "query", "action", "expected", "reply"),
    CASES,
    ids=[f"{case[0]}-{case[1]}" for case in CASES],
)
def test_command_reaches_the_pile_and_its_answer_is_readable(
    fleet: Fleet,
    name: str,
    version: str,
    method: str,
    path: str,
    body: Any,
    query: dict[str, str] | None,
    action: str,
    expected: Expected,
    reply: dict[str, Any],
) -> None:
    pile_id, connection_id = target(fleet, version)
    fleet.side.counter.reset()

    sent = fleet.command(method, path, pile=pile_id, body=body, query=query)

    assert sent.status == 202, sent.body
    call_id = sent.body["call_id"]
    payload = expected(numeric_id(call_id))
    assert sent.body == {
        "call_id": call_id,
        "status": "pending",
        "action": action,
        "request": payload,
    }
    assert dict(fleet.side.counter.calls) == {"GetItem": 1, "PutItem": 1}
    assert fleet.posted()[-1] == (connection_id, [2, call_id, action, payload])
    fleet.clock.advance(seconds=3)

    assert fleet.answer(connection_id, [3, call_id, reply]) is None

    read = fleet.command("GET", f"commands/{call_id}", pile=pile_id)
    assert read.status == 200, read.body
    assert read.body == {
        "call_id": call_id,
        "pile_id": pile_id,
        "action": action,
        "protocol": version,
        "status": "answered",
        "request": payload,
        "response": reply,
        "error_code": None,
        "error_description": None,
        "requested_by": "admin-a",
        "created_at": "2026-11-01T02:00:00.000Z",
        "timeout_at": "2026-11-01T02:01:00.000Z",
        "answered_at": "2026-11-01T02:00:03.000Z",
        "timed_out_at": None,
    }


def test_maintenance_staff_may_command_and_the_pile_may_refuse(fleet: Fleet) -> None:
    sent = fleet.command("POST", "reset", who=fleet.a.maintenance, body={"type": "soft"})
    assert sent.status == 202
    call_id = sent.body["call_id"]

    fleet.answer("a16", [4, call_id, "NotSupported", "no soft reset here", {}])

    read = fleet.command("GET", f"commands/{call_id}")
    assert (read.body["status"], read.body["error_code"], read.body["requested_by"]) == (
        "rejected",
        "NotSupported",
        "tech-a",
    )
    assert read.body["error_description"] == "no soft reset here"


def test_answer_outside_the_schema_is_kept_as_invalid(fleet: Fleet) -> None:
    call_id = fleet.command("POST", "unlock", body={"gun_no": 1}).body["call_id"]

    fleet.answer("a16", [3, call_id, {"status": "Opened"}])

    read = fleet.command("GET", f"commands/{call_id}").body
    assert (read["status"], read["response"]) == ("invalid_response", {"status": "Opened"})
    assert read["error_code"] == "PropertyConstraintViolation"


@pytest.mark.parametrize(
    ("version", "path", "body", "words"),
    [
        ("ocpp1.6", "base-report", {"report": "summary_inventory"}, "OCPP 1.6"),
        ("ocpp1.6", "logs", {"location": "https://logs.example.com/up"}, "diagnostics"),
        ("ocpp2.0.1", "diagnostics", {"location": "https://logs.example.com/up"}, "logs"),
        ("ocpp1.6", "trigger", {"message": "LogStatusNotification"}, "cannot trigger"),
        ("ocpp2.0.1", "trigger", {"message": "DiagnosticsStatusNotification"}, "cannot trigger"),
    ],
)
def test_command_the_piles_version_lacks_is_409_and_changes_nothing(
    fleet: Fleet, version: str, path: str, body: dict[str, Any], words: str
) -> None:
    pile_id, _ = target(fleet, version)
    before = fleet.side.snapshot()
    posted = len(fleet.sender.sent)

    answer = fleet.command("POST", path, pile=pile_id, body=body)

    assert answer.status == 409, answer.body
    assert answer.error["code"] == "command_not_supported"
    assert words in answer.error["message"]
    assert fleet.side.snapshot() == before
    assert len(fleet.sender.sent) == posted


# -- reading back


def test_commands_are_listed_newest_first_with_pages(fleet: Fleet) -> None:
    ids = []
    for gun_no in (1, 2, 1):
        ids.append(fleet.command("POST", "unlock", body={"gun_no": gun_no}).body["call_id"])
        fleet.clock.advance(seconds=1)

    first = fleet.command("GET", "commands", query={"limit": "2"})
    rest = fleet.command(
        "GET", "commands", query={"limit": "2", "next_token": first.body["next_token"]}
    )

    assert first.status == rest.status == 200
    listed = [item["call_id"] for item in first.body["items"] + rest.body["items"]]
    assert listed == list(reversed(ids))
    assert rest.body["next_token"] is None
    assert first.body["items"][0]["status"] == "pending"


def test_unknown_or_foreign_command_is_404(fleet: Fleet) -> None:
    call_id = fleet.command("POST", "unlock", body={"gun_no": 1}).body["call_id"]

    assert fleet.command("GET", "commands/261101020000000-nothing").status == 404
    assert fleet.command("GET", f"commands/{call_id}", who=fleet.b.admin).status == 404
    assert fleet.command("GET", "commands", who=fleet.b.maintenance).status == 404
    assert fleet.command("GET", f"commands/{call_id}", pile=fleet.pile201).status == 404


# -- piles that are not there


def test_command_to_an_offline_pile_goes_out_when_it_boots_again(fleet: Fleet) -> None:
    fleet.side.disconnect("a16")

    sent = fleet.command("POST", "reset", body={"type": "hard"})

    assert sent.status == 202 and sent.body["status"] == "undelivered"
    call_id = sent.body["call_id"]
    assert fleet.command("GET", f"commands/{call_id}").body["timeout_at"] == (
        "2026-11-01T02:10:00.000Z"
    )
    assert [frame[1] for _, frame in fleet.posted()] == []
    fleet.clock.advance(minutes=2)

    fleet.bring_online(fleet.pile16, "a16-again", "ocpp1.6")

    assert fleet.posted() == [("a16-again", [2, call_id, "Reset", {"type": "Hard"}])]
    assert fleet.command("GET", f"commands/{call_id}").body["status"] == "pending"
    fleet.answer("a16-again", [3, call_id, {"status": "Accepted"}])
    assert fleet.command("GET", f"commands/{call_id}").body["status"] == "answered"


def test_command_whose_connection_is_gone_is_delivered_by_housekeeping_after_a_reconnect(
    fleet: Fleet,
) -> None:
    fleet.sender.gone.add("a16")  # API Gateway cut the socket; $disconnect not yet seen

    sent = fleet.command("POST", "unlock", body={"gun_no": 2})

    assert sent.body["status"] == "undelivered"
    call_id = sent.body["call_id"]
    fleet.clock.advance(seconds=30)
    reconnected = fleet.side.connect(
        fleet.pile16, connection_id="a16-new", authorization=basic(fleet.pile16, PILE_PASSWORD)
    )
    assert reconnected["statusCode"] == 200

    result = fleet.housekeeping()

    assert result["calls_delivered"] == 1
    assert fleet.posted() == [("a16-new", [2, call_id, "UnlockConnector", {"connectorId": 2}])]
    fleet.answer("a16-new", [3, call_id, {"status": "Unlocked"}])
    assert fleet.command("GET", f"commands/{call_id}").body["status"] == "answered"


def test_unanswered_command_is_timed_out_by_housekeeping(fleet: Fleet) -> None:
    call_id = fleet.command("POST", "reset", body={"type": "soft"}).body["call_id"]
    fleet.clock.advance(seconds=61)

    result = fleet.housekeeping()

    assert result["calls_not_answered"] == 1
    read = fleet.command("GET", f"commands/{call_id}").body
    assert (read["status"], read["timed_out_at"]) == ("timed_out", "2026-11-01T02:01:01.000Z")
    assert read["error_description"] == "no answer from the pile within 60 s"
    fleet.answer("a16", [3, call_id, {"status": "Accepted"}])  # too late
    assert fleet.command("GET", f"commands/{call_id}").body["status"] == "timed_out"
    assert fleet.housekeeping()["calls_not_answered"] == 0


def test_command_to_a_pile_that_never_comes_back_is_reported_not_delivered(
    fleet: Fleet,
) -> None:
    fleet.side.disconnect("a201")
    call_id = fleet.command("DELETE", "cache", pile=fleet.pile201).body["call_id"]
    fleet.clock.advance(minutes=10)

    assert fleet.housekeeping()["calls_not_delivered"] == 1

    read = fleet.command("GET", f"commands/{call_id}", pile=fleet.pile201).body
    assert read["status"] == "timed_out"
    assert read["error_description"].startswith("not delivered")
    assert fleet.posted() == []


# -- stopping one of our sessions


def test_remote_stop_by_session_id_sends_the_piles_transaction_id(
    fleet: Fleet, transaction_side: TransactionSide
) -> None:
    started = transaction_side.result(
        "a16", "StartTransaction", start_16(1, fleet.a.card_no, 1000, 0)
    )
    transaction_id = started["transactionId"]
    session_id = session_id_for(fleet.pile16, OcppVersion.V16, str(transaction_id))

    sent = fleet.command(
        "POST", "remote-stop", who=fleet.a.maintenance, body={"session_id": session_id}
    )

    assert sent.status == 202, sent.body
    assert fleet.posted() == [
        (
            "a16",
            [2, sent.body["call_id"], "RemoteStopTransaction", {"transactionId": transaction_id}],
        )
    ]


def test_remote_stop_of_a_session_not_on_this_pile_for_this_caller_is_404(
    fleet: Fleet, transaction_side: TransactionSide
) -> None:
    started = transaction_side.result(
        "a16", "StartTransaction", start_16(1, fleet.a.card_no, 1000, 0)
    )
    session_id = session_id_for(fleet.pile16, OcppVersion.V16, str(started["transactionId"]))
    before = fleet.side.snapshot()

    for pile, who, session in (
        (fleet.pile16, fleet.a.admin, "se-00000000000000000000"),
        (fleet.pile201, fleet.a.admin, session_id),
        (fleet.pile16, fleet.b.admin, session_id),
    ):
        answer = fleet.command(
            "POST", "remote-stop", pile=pile, who=who, body={"session_id": session}
        )
        assert answer.status == 404, answer.body

    assert fleet.side.snapshot() == before
    assert fleet.posted() == []
