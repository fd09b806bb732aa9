"""OCPP use cases on in-memory fakes: the router's edges (stale reads, failures, our own
answer's schema), the dispatch table as the extension point, and remote calls."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.adapters.ocpp_schemas import OcppSchemas
from shared.domain.errors import UpstreamFailure
from shared.domain.ocpp.authorization import CardRecord
from shared.domain.ocpp.availability import FaultEvent, StatusReport
from shared.domain.ocpp.frames import CallResult
from shared.domain.ocpp.handshake import PileAccess
from shared.domain.ocpp.provisioning import BootInfo, RegistrationStatus
from shared.domain.ocpp.remote_calls import CallStatus, PendingCall
from shared.domain.ocpp.versions import OcppVersion
from shared.domain.presence import Connection, expiry_epoch
from shared.services.ocpp import dispatch
from shared.services.ocpp.ports import BootWrite, OcppPorts, PileRoute, StatusWrite
from shared.services.ocpp.remote_calls import complete_call, send_call
from shared.services.ocpp.router import handle_frame
from tests.unit.ocpp_command_fakes import FakePendingCalls, FakePileEvents, FakeSender
from tests.unit.sessions_fakes import FakeSessionStore

NOW = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


def a_connection(**overrides: Any) -> Connection:
    values: dict[str, Any] = {
        "connection_id": "c1",
        "pile_id": "CP-1",
        "version": OcppVersion.V16,
        "operator_id": "op-1",
        "station_id": "st-1",
        "registration_status": "Accepted",
        "connected_at": NOW,
        "last_seen_at": NOW,
        "source_ip": None,
        "expires_at": expiry_epoch(NOW),
    }
    values.update(overrides)
    return Connection(**values)


@dataclass
class FakeConnections:
    eventual: dict[str, Connection] = field(default_factory=dict)
    consistent: dict[str, Connection] = field(default_factory=dict)
    touched: list[str] = field(default_factory=list)

    def add(self, connection: Connection, *, stale: Connection | None = None) -> None:
        self.consistent[connection.connection_id] = connection
        if stale is not None:
            self.eventual[connection.connection_id] = stale

    def get(self, connection_id: str, *, consistent: bool = False) -> Connection | None:
        if consistent:
            return self.consistent.get(connection_id)
        return self.eventual.get(connection_id, self.consistent.get(connection_id))

    def put(self, connection: Connection) -> None:
        self.consistent[connection.connection_id] = connection

    def delete(self, connection_id: str) -> Connection | None:
        self.eventual.pop(connection_id, None)
        return self.consistent.pop(connection_id, None)

    def set_registration(self, connection_id: str, status: RegistrationStatus) -> None:
        current = self.consistent[connection_id]
        self.consistent[connection_id] = replace(current, registration_status=status.value)

    def touch(self, connection_id: str, now: datetime) -> None:
        self.touched.append(connection_id)


@dataclass
class FakePiles:
    enabled: bool = True
    boots: list[tuple[BootInfo, RegistrationStatus]] = field(default_factory=list)
    statuses: list[StatusReport] = field(default_factory=list)
    cards: dict[str, CardRecord] = field(default_factory=dict)
    route: PileRoute | None = None
    is_failing: bool = False

    def _maybe_fail(self) -> None:
        if self.is_failing:
            raise UpstreamFailure("DynamoDB GetItem failed", operation="GetItem")

    def get_access(self, pile_id: str) -> PileAccess | None:
        return None

    def get_route(self, pile_id: str) -> PileRoute | None:
        return self.route

    def mark_connected(self, pile_id: str, connection_id: str, connected_at: datetime) -> bool:
        return True

    def mark_disconnected(self, pile_id: str, connection_id: str, now: datetime) -> bool:
        return True

    def record_boot(
        self,
        pile_id: str,
        connection_id: str,
        boot: BootInfo,
        status: RegistrationStatus,
        *,
        only_if_enabled: bool,
    ) -> BootWrite:
        if only_if_enabled and not self.enabled:
            return BootWrite.PILE_DISABLED
        self.boots.append((boot, status))
        return BootWrite.WRITTEN

    def set_gun_status(self, pile_id: str, report: StatusReport) -> StatusWrite:
        self.statuses.append(report)
        return StatusWrite.APPLIED

    def find_card(self, card_no: str) -> CardRecord | None:
        self._maybe_fail()
        return self.cards.get(card_no)


@dataclass
class FakeFaults:
    recorded: dict[str, FaultEvent] = field(default_factory=dict)

    def record(self, fault: FaultEvent) -> bool:
        is_new = fault.fault_id not in self.recorded
        self.recorded[fault.fault_id] = fault
        return is_new


@dataclass
class World:
    connections: FakeConnections = field(default_factory=FakeConnections)
    piles: FakePiles = field(default_factory=FakePiles)
    faults: FakeFaults = field(default_factory=FakeFaults)
    pending: FakePendingCalls = field(default_factory=FakePendingCalls)
    sender: FakeSender = field(default_factory=FakeSender)
    events: FakePileEvents = field(default_factory=FakePileEvents)
    now: datetime = NOW

    def ports(self) -> OcppPorts:
        return OcppPorts(
            connections=self.connections,
            piles=self.piles,
            faults=self.faults,
            pending_calls=self.pending,
            schemas=SCHEMAS,
            clock=lambda: self.now,
            sender=self.sender,
            pile_events=self.events,
            sessions=FakeSessionStore(),
        )

    def send(self, frame: Any, connection_id: str = "c1") -> Any:
        outcome = handle_frame(json.dumps(frame), connection_id, self.ports())
        return json.loads(outcome.reply) if outcome.reply else None


SCHEMAS = OcppSchemas()


@pytest.fixture
def world() -> World:
    return World()


def test_boot_updates_the_connection_when_its_registration_changes(world: World) -> None:
    world.connections.add(a_connection(registration_status=None))

    answer = world.send(
        [2, "b", "BootNotification", {"chargePointVendor": "A", "chargePointModel": "B"}]
    )

    assert answer[2]["status"] == "Accepted"
    assert world.connections.consistent["c1"].registration_status == "Accepted"
    assert [status for _, status in world.piles.boots] == [RegistrationStatus.ACCEPTED]


def test_boot_of_a_disabled_pile_is_stored_as_rejected(world: World) -> None:
    world.connections.add(a_connection(registration_status=None))
    world.piles.enabled = False

    answer = world.send(
        [2, "b", "BootNotification", {"chargePointVendor": "A", "chargePointModel": "B"}]
    )

    assert answer[2]["status"] == "Rejected"
    assert [status for _, status in world.piles.boots] == [RegistrationStatus.REJECTED]
    assert world.connections.consistent["c1"].registration_status == "Rejected"


def test_gate_reads_again_consistently_before_refusing_a_freshly_accepted_pile(
    world: World,
) -> None:
    world.connections.add(a_connection(), stale=a_connection(registration_status=None))

    answer = world.send([2, "h", "Heartbeat", {}])

    assert answer[0] == 3


def test_connection_written_a_moment_ago_is_found_by_a_consistent_read(world: World) -> None:
    world.connections.consistent["c1"] = a_connection()

    assert world.send([2, "h", "Heartbeat", {}])[0] == 3


def test_upstream_failure_inside_an_action_becomes_internal_error(world: World) -> None:
    world.connections.add(a_connection())
    world.piles.is_failing = True

    answer = world.send([2, "a", "Authorize", {"idTag": "X"}])

    assert answer[:3] == [4, "a", "InternalError"]


def test_heartbeat_writes_no_presence_however_long_the_connection_lasts(world: World) -> None:
    world.connections.add(a_connection())
    world.now = NOW + timedelta(hours=1, minutes=59)

    answer = world.send([2, "h", "Heartbeat", {}])

    assert answer == [3, "h", {"currentTime": "2026-11-01T03:59:00.000Z"}]
    assert world.connections.touched == []


def test_answer_failing_its_own_schema_becomes_internal_error(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.connections.add(a_connection())
    monkeypatch.setitem(
        dispatch.HANDLERS, (OcppVersion.V16, "Heartbeat"), lambda ctx, payload, ports: {}
    )

    answer = world.send([2, "h", "Heartbeat", {}])

    assert answer[:3] == [4, "h", "InternalError"]


def test_a_new_dispatch_entry_is_all_an_action_needs(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.connections.add(a_connection(version=OcppVersion.V201))
    update = {"reservationId": 7, "reservationUpdateStatus": "Expired"}
    assert world.send([2, "r", "ReservationStatusUpdate", update])[2] == "NotImplemented"
    monkeypatch.setitem(
        dispatch.HANDLERS,
        (OcppVersion.V201, "ReservationStatusUpdate"),
        lambda ctx, payload, ports: {},
    )

    answer = world.send([2, "r", "ReservationStatusUpdate", update])

    assert answer == [3, "r", {}]


def test_status_report_of_the_pile_itself_records_only_the_fault(world: World) -> None:
    world.connections.add(a_connection())

    world.send(
        [
            2,
            "s",
            "StatusNotification",
            {"connectorId": 0, "status": "Faulted", "errorCode": "OverVoltage"},
        ]
    )

    assert world.piles.statuses == []
    assert [fault.error_code for fault in world.faults.recorded.values()] == ["OverVoltage"]


def route(is_online: bool = True) -> PileRoute:
    return PileRoute("CP-1", "op-1", "ocpp2.0.1", "c1" if is_online else None, is_online)


def send_reset(world: World, sender: FakeSender) -> PendingCall:
    return send_call(
        "CP-1",
        "Reset",
        {"type": "OnIdle"},
        on_behalf_of=None,
        piles=world.piles,
        pending_calls=world.pending,
        schemas=SCHEMAS,
        sender=sender,
        clock=lambda: world.now,
        new_id=lambda prefix: f"{prefix}-1",
    )


def test_send_call_keeps_the_call_as_undelivered_when_the_connection_is_gone(
    world: World,
) -> None:
    world.piles.route = route()

    call = send_reset(world, FakeSender(is_gone=True))

    assert call.status is CallStatus.UNDELIVERED
    assert world.pending.calls[("CP-1", call.unique_id)].status is CallStatus.UNDELIVERED


def test_send_call_stores_before_posting_and_times_out_after_a_minute(world: World) -> None:
    world.piles.route = route()
    sender = FakeSender()

    call = send_reset(world, sender)

    assert call.unique_id == "261101020000000-1"
    assert sender.sent == [("c1", '[2,"261101020000000-1","Reset",{"type":"OnIdle"}]')]
    assert call.timeout_at == NOW + timedelta(seconds=60)
    assert world.pending.calls[("CP-1", call.unique_id)].status is CallStatus.PENDING


def test_complete_call_ignores_a_second_answer(world: World) -> None:
    world.piles.route = route()
    call = send_reset(world, FakeSender())
    connection = a_connection(version=OcppVersion.V201)
    ports = world.ports()

    first = complete_call(
        connection,
        CallResult(call.unique_id, {"status": "Accepted"}),
        pending_calls=world.pending,
        schemas=SCHEMAS,
        clock=ports.clock,
    )
    second = complete_call(
        connection,
        CallResult(call.unique_id, {"status": "Rejected"}),
        pending_calls=world.pending,
        schemas=SCHEMAS,
        clock=ports.clock,
    )

    assert first is not None
    assert first.status is CallStatus.ANSWERED
    assert second is None
    assert world.pending.calls[("CP-1", call.unique_id)].response_json == '{"status":"Accepted"}'
