"""Pile messages outside transactions on in-memory fakes: the answer of each version, what
is kept as a pile event, the latest maintenance status, DataTransfer's UnknownVendorId."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.adapters.ocpp_schemas import OcppSchemas
from shared.domain.ocpp.actions import Direction
from shared.domain.ocpp.notifications import (
    EventKind,
    MaintenanceKind,
    maintenance_status_of,
    pile_event_from,
)
from shared.domain.ocpp.versions import OcppVersion
from tests.unit.test_ocpp_services import NOW, World, a_connection

V16 = OcppVersion.V16
V201 = OcppVersion.V201
EVENT = {
    "eventId": 1,
    "timestamp": "2026-11-01T01:59:00Z",
    "trigger": "Alerting",
    "actualValue": "true",
    "eventNotificationType": "HardWiredNotification",
    "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
    "variable": {"name": "Problem"},
}

# version, action, payload, event kind, summary, request id, maintenance status
NOTIFICATIONS: list[tuple[OcppVersion, str, dict[str, Any], EventKind, str, int | None]] = [
    (
        V16,
        "FirmwareStatusNotification",
        {"status": "Downloading"},
        EventKind.FIRMWARE_STATUS,
        "Downloading",
        None,
    ),
    (
        V16,
        "DiagnosticsStatusNotification",
        {"status": "Uploaded"},
        EventKind.DIAGNOSTICS_STATUS,
        "Uploaded",
        None,
    ),
    (
        V201,
        "FirmwareStatusNotification",
        {"status": "Installed", "requestId": 77},
        EventKind.FIRMWARE_STATUS,
        "Installed",
        77,
    ),
    (
        V201,
        "LogStatusNotification",
        {"status": "UploadFailure", "requestId": 5},
        EventKind.LOG_STATUS,
        "UploadFailure",
        5,
    ),
    (
        V201,
        "NotifyEvent",
        {
            "generatedAt": "2026-11-01T01:59:30Z",
            "seqNo": 0,
            "eventData": [EVENT, EVENT | {"eventId": 2}],
        },
        EventKind.NOTIFY_EVENT,
        "Connector/Problem=true (+1 more)",
        None,
    ),
    (
        V201,
        "SecurityEventNotification",
        {"type": "FirmwareUpdated", "timestamp": "2026-11-01T01:58:00Z", "techInfo": "v2.1"},
        EventKind.SECURITY_EVENT,
        "FirmwareUpdated",
        None,
    ),
    (
        V201,
        "NotifyReport",
        {"requestId": 9, "generatedAt": "2026-11-01T01:59:00Z", "seqNo": 3, "tbc": True},
        EventKind.NOTIFY_REPORT,
        "report part 3, more to come",
        9,
    ),
]


@pytest.mark.parametrize(
    ("version", "action", "payload", "kind", "summary", "request_id"),
    NOTIFICATIONS,
    ids=[f"{case[1]}-{case[0].value}" for case in NOTIFICATIONS],
)
def test_notification_is_answered_empty_and_kept_as_a_pile_event(
    version: OcppVersion,
    action: str,
    payload: dict[str, Any],
    kind: EventKind,
    summary: str,
    request_id: int | None,
) -> None:
    world = World()
    world.connections.add(a_connection(version=version))

    answer = world.send([2, "n1", action, payload])

    assert answer == [3, "n1", {}]
    OcppSchemas().validate(version, action, Direction.RESPONSE, answer[2])
    (event,) = world.events.events
    assert (event.kind, event.summary, event.request_id) == (kind, summary, request_id)
    assert (event.pile_id, event.operator_id, event.message_id) == ("CP-1", "op-1", "n1")
    # As the pile sent it, with the schema's defaults filled in (NotifyEvent tbc=false).
    assert json.loads(event.detail_json).items() >= payload.items()
    assert event.received_at == NOW
    assert event.expires_at == int((NOW + timedelta(days=30)).timestamp())


@pytest.mark.parametrize(
    ("version", "action", "status", "kind"),
    [
        (V16, "FirmwareStatusNotification", "Installed", MaintenanceKind.FIRMWARE),
        (V16, "DiagnosticsStatusNotification", "UploadFailed", MaintenanceKind.DIAGNOSTICS),
        (V201, "FirmwareStatusNotification", "InstallRebooting", MaintenanceKind.FIRMWARE),
        (V201, "LogStatusNotification", "Uploading", MaintenanceKind.LOG),
    ],
)
def test_progress_notification_becomes_the_piles_latest_status(
    version: OcppVersion, action: str, status: str, kind: MaintenanceKind
) -> None:
    world = World()
    world.connections.add(a_connection(version=version))

    world.send([2, "n1", action, {"status": "Idle"}])
    world.now = NOW + timedelta(minutes=3)
    world.send([2, "n2", action, {"status": status}])

    latest = world.events.statuses[("CP-1", kind.value)]
    assert (latest.status, latest.received_at) == (status, NOW + timedelta(minutes=3))
    assert len(world.events.events) == 2


def test_event_of_a_kind_without_progress_sets_no_status() -> None:
    event = pile_event_from(
        "SecurityEventNotification",
        {"type": "TamperDetectionActivated", "timestamp": "2026-11-01T01:58:00Z"},
        pile_id="CP-1",
        operator_id="op-1",
        message_id="m",
        received_at=NOW,
    )

    assert maintenance_status_of(event) is None
    assert event.reported_at == datetime(2026, 11, 1, 1, 58, tzinfo=UTC)


def test_pile_clock_that_cannot_be_read_is_left_out() -> None:
    event = pile_event_from(
        "NotifyReport",
        {"requestId": 1, "generatedAt": "yesterday-ish", "seqNo": 0},
        pile_id="CP-1",
        operator_id="op-1",
        message_id="m",
        received_at=NOW,
    )

    assert event.reported_at is None


@pytest.mark.parametrize(
    ("version", "payload"),
    [
        (V16, {"vendorId": "com.acme", "messageId": "Temp", "data": "41.5"}),
        (V201, {"vendorId": "com.acme", "data": {"t": 41, "unit": "C"}}),
        (V201, {"vendorId": "org.openchargealliance.costmsg"}),
    ],
)
def test_data_transfer_answers_unknown_vendor_and_keeps_nothing(
    version: OcppVersion, payload: dict[str, Any]
) -> None:
    world = World()
    world.connections.add(a_connection(version=version))

    answer = world.send([2, "d1", "DataTransfer", payload])

    assert answer == [3, "d1", {"status": "UnknownVendorId"}]
    assert world.events.events == []


@pytest.mark.parametrize(
    ("version", "action", "payload", "code"),
    [
        (V16, "FirmwareStatusNotification", {"status": "Exploded"}, "PropertyConstraintViolation"),
        (V201, "LogStatusNotification", {}, "OccurrenceConstraintViolation"),
        (
            V201,
            "NotifyEvent",
            {"generatedAt": "2026-11-01T00:00:00Z", "seqNo": "0", "eventData": []},
            "TypeConstraintViolation",
        ),
        (V16, "DataTransfer", {"vendorId": "v" * 256}, "PropertyConstraintViolation"),
    ],
)
def test_notification_outside_its_schema_is_refused_and_nothing_kept(
    version: OcppVersion, action: str, payload: dict[str, Any], code: str
) -> None:
    world = World()
    world.connections.add(a_connection(version=version))

    answer = world.send([2, "x1", action, payload])

    assert answer[:3] == [4, "x1", code]
    assert world.events.events == [] and world.events.statuses == {}


def test_notification_before_an_accepted_boot_is_a_security_error() -> None:
    world = World()
    world.connections.add(a_connection(version=V201, registration_status="Pending"))

    answer = world.send(
        [2, "x1", "SecurityEventNotification", {"type": "t", "timestamp": "2026-11-01T00:00:00Z"}]
    )

    assert answer[2] == "SecurityError"
    assert world.events.events == []
