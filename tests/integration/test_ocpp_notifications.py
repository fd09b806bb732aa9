"""Pile messages outside transactions through ocpp_router on moto: answers, DynamoDB
calls, the stored pile events and latest statuses, read back through the operator API."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.operator_api_support import api, tenants
from tests.integration.test_ocpp_router_support import pile_side
from tests.integration.test_operator_api_commands_support import Fleet, fleet

__all__ = ["api", "fleet", "pile_side", "tenants"]

EVENT_AND_STATUS = {"PutItem": 1, "UpdateItem": 1}
# connection, action, payload, DynamoDB calls beyond the connection read
MESSAGES: list[tuple[str, str, dict[str, Any], dict[str, int]]] = [
    ("a16", "FirmwareStatusNotification", {"status": "Downloaded"}, EVENT_AND_STATUS),
    ("a16", "DiagnosticsStatusNotification", {"status": "Uploading"}, EVENT_AND_STATUS),
    (
        "a201",
        "FirmwareStatusNotification",
        {"status": "Installing", "requestId": 12},
        EVENT_AND_STATUS,
    ),
    ("a201", "LogStatusNotification", {"status": "Uploaded", "requestId": 13}, EVENT_AND_STATUS),
    (
        "a201",
        "NotifyEvent",
        {
            "generatedAt": "2026-11-01T01:59:59Z",
            "seqNo": 0,
            "tbc": False,
            "eventData": [
                {
                    "eventId": 7,
                    "timestamp": "2026-11-01T01:59:58Z",
                    "trigger": "Delta",
                    "actualValue": "Faulted",
                    "eventNotificationType": "HardWiredNotification",
                    "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                    "variable": {"name": "AvailabilityState"},
                }
            ],
        },
        {"PutItem": 1},
    ),
    (
        "a201",
        "SecurityEventNotification",
        {"type": "SettingSystemTime", "timestamp": "2026-11-01T01:59:00Z"},
        {"PutItem": 1},
    ),
    (
        "a201",
        "NotifyReport",
        {
            "requestId": 21,
            "generatedAt": "2026-11-01T01:59:00Z",
            "seqNo": 0,
            "tbc": False,
            "reportData": [
                {
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                    # the schema's defaults, which validation fills in, are given
                    "variableAttribute": [
                        {"type": "Actual", "value": "540", "persistent": False, "constant": False}
                    ],
                }
            ],
        },
        {"PutItem": 1},
    ),
]


@pytest.mark.parametrize(
    ("connection_id", "action", "payload", "writes"),
    MESSAGES,
    ids=[f"{case[1]}-{case[0]}" for case in MESSAGES],
)
def test_notification_is_answered_and_listed_as_a_pile_event(
    fleet: Fleet, connection_id: str, action: str, payload: dict[str, Any], writes: dict[str, int]
) -> None:
    pile_id = fleet.pile16 if connection_id == "a16" else fleet.pile201
    fleet.clock.advance(seconds=5)
    fleet.side.counter.reset()

    answer = fleet.answer(connection_id, [2, "n-1", action, payload])

    assert answer == [3, "n-1", {}]
    assert dict(fleet.side.counter.calls) == {"GetItem": 1, **writes}
    events = fleet.command("GET", "events", pile=pile_id)
    assert events.status == 200, events.body
    (event,) = events.body["items"]
    assert event["message_id"] == "n-1"
    assert event["received_at"] == "2026-11-01T02:00:05.000Z"
    assert event["detail"] == payload
    assert event["request_id"] == payload.get("requestId")


def test_progress_reports_show_the_latest_status_per_kind(fleet: Fleet) -> None:
    for status in ("Downloading", "Downloaded", "Installing"):
        fleet.clock.advance(seconds=30)
        fleet.answer("a201", [2, f"f-{status}", "FirmwareStatusNotification", {"status": status}])
    fleet.answer(
        "a201", [2, "l-1", "LogStatusNotification", {"status": "Uploading", "requestId": 4}]
    )

    latest = fleet.command("GET", "maintenance", pile=fleet.pile201)
    events = fleet.command("GET", "events", pile=fleet.pile201, query={"limit": "3"})

    assert latest.status == 200
    assert latest.body == {
        "items": [
            {
                "kind": "firmware",
                "status": "Installing",
                "received_at": "2026-11-01T02:01:30.000Z",
                "request_id": None,
            },
            {
                "kind": "log",
                "status": "Uploading",
                "received_at": "2026-11-01T02:01:30.000Z",
                "request_id": 4,
            },
        ]
    }
    assert [item["summary"] for item in events.body["items"]] == [
        "Uploading",
        "Installing",
        "Downloaded",
    ]
    rest = fleet.command(
        "GET", "events", pile=fleet.pile201, query={"next_token": events.body["next_token"]}
    )
    assert [item["summary"] for item in rest.body["items"]] == ["Downloading"]
    assert fleet.command("GET", "maintenance", pile=fleet.pile16).body == {"items": []}


@pytest.mark.parametrize(
    ("connection_id", "payload"),
    [
        ("a16", {"vendorId": "cn.acme", "messageId": "Temperature", "data": "41.5"}),
        ("a201", {"vendorId": "cn.acme", "data": {"temperature_c": 41.5}}),
    ],
)
def test_data_transfer_is_answered_unknown_vendor_without_a_write(
    fleet: Fleet, connection_id: str, payload: dict[str, Any]
) -> None:
    before = fleet.side.snapshot()
    fleet.side.counter.reset()

    answer = fleet.answer(connection_id, [2, "d-1", "DataTransfer", payload])

    assert answer == [3, "d-1", {"status": "UnknownVendorId"}]
    assert dict(fleet.side.counter.calls) == {"GetItem": 1}
    assert fleet.side.snapshot() == before


def test_notification_outside_the_schema_is_refused_and_nothing_is_kept(fleet: Fleet) -> None:
    before = fleet.side.snapshot()

    answer = fleet.answer("a16", [2, "x-1", "DiagnosticsStatusNotification", {"status": "Done"}])

    assert answer[:3] == [4, "x-1", "PropertyConstraintViolation"]
    assert fleet.side.snapshot() == before


def test_base_report_arrives_as_events_carrying_the_commands_request_id(fleet: Fleet) -> None:
    sent = fleet.command(
        "POST", "base-report", pile=fleet.pile201, body={"report": "full_inventory"}
    )
    request_id = sent.body["request"]["requestId"]
    fleet.answer("a201", [3, sent.body["call_id"], {"status": "Accepted"}])

    for seq_no in (0, 1):
        part = {
            "requestId": request_id,
            "generatedAt": "2026-11-01T02:00:00Z",
            "seqNo": seq_no,
            "tbc": seq_no == 0,
        }
        assert fleet.answer("a201", [2, f"r-{seq_no}", "NotifyReport", part]) == [
            3,
            f"r-{seq_no}",
            {},
        ]

    items = fleet.command("GET", "events", pile=fleet.pile201).body["items"]
    assert {item["request_id"] for item in items} == {request_id}
    assert sorted(item["summary"] for item in items) == [
        "report part 0, more to come",
        "report part 1",
    ]
