"""Commands and CSMS calls on in-memory fakes: who may send, calls kept for offline piles
and delivered when they come back, timeouts, and the housekeeping minute job."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.domain.errors import Conflict, Forbidden, NotFound, UpstreamFailure
from shared.domain.ocpp import commands as cmd
from shared.domain.ocpp.frames import CallResult
from shared.domain.ocpp.remote_calls import NOT_ANSWERED, NOT_DELIVERED, CallStatus, PendingCall
from shared.domain.ocpp.versions import OcppVersion
from shared.domain.tenancy import Principal, Role
from shared.services import housekeeping
from shared.services.ocpp import commands
from shared.services.ocpp.ports import PileRoute
from shared.services.ocpp.remote_calls import (
    complete_call,
    retry_undelivered,
    time_out_due_calls,
)
from tests.unit.ocpp_command_fakes import FakePendingCalls, FakeSender
from tests.unit.sessions_fakes import FakeSessionStore
from tests.unit.test_ocpp_services import NOW, SCHEMAS, FakePiles, World, a_connection

ADMIN = Principal("admin", Role.OPERATOR_ADMIN, "op-1")
TECH = Principal("tech", Role.MAINTENANCE, "op-1")
STRANGER = Principal("stranger", Role.OPERATOR_ADMIN, "op-2")
ROOT = Principal("root", Role.PLATFORM_ADMIN, None)
BOOT_16 = [2, "b", "BootNotification", {"chargePointVendor": "A", "chargePointModel": "B"}]


class Routes(FakePiles):
    """Pile routes by pile id (the router's fake knows one pile at a time)."""

    def __init__(self, *routes: PileRoute) -> None:
        super().__init__()
        self.routes = {route.pile_id: route for route in routes}

    def get_route(self, pile_id: str) -> PileRoute | None:
        return self.routes.get(pile_id)


def online(
    pile_id: str = "CP-1", connection_id: str = "c1", protocol: str = "ocpp1.6"
) -> PileRoute:
    return PileRoute(pile_id, "op-1", protocol, connection_id, True)


def offline(pile_id: str = "CP-1", protocol: str = "ocpp1.6") -> PileRoute:
    return PileRoute(pile_id, "op-1", protocol, None, False)


@dataclass
class Desk:
    """The operator side: command ports over fakes, with a clock tests move."""

    piles: Routes
    calls: FakePendingCalls
    sender: FakeSender
    now: datetime = NOW
    ids: int = 0

    def new_id(self, prefix: str) -> str:
        self.ids += 1
        return f"{prefix}-{self.ids:020d}"

    def ports(self) -> commands.CommandPorts:
        return commands.CommandPorts(
            piles=self.piles,
            pending_calls=self.calls,
            schemas=SCHEMAS,
            sender=self.sender,
            clock=lambda: self.now,
            new_id=self.new_id,
        )

    def issue(
        self, command: cmd.PileCommand, who: Principal = ADMIN, pile: str = "CP-1"
    ) -> PendingCall:
        return commands.issue_command(who, pile, command, self.ports())

    def housekeeping(self) -> dict[str, Any]:
        return housekeeping.run_job(
            "minute",
            housekeeping.HousekeepingPorts(
                piles=self.piles,
                pending_calls=self.calls,
                sender=self.sender,
                sessions=FakeSessionStore(),
                clock=lambda: self.now,
            ),
        )

    def status(self, call: PendingCall) -> CallStatus:
        stored = self.calls.get(call.pile_id, call.unique_id)
        assert stored is not None
        return stored.status


def desk(*routes: PileRoute) -> Desk:
    return Desk(Routes(*(routes or (online(),))), FakePendingCalls(), FakeSender())


def sent_frames(sender: FakeSender) -> list[tuple[str, list[Any]]]:
    return [(connection_id, json.loads(text)) for connection_id, text in sender.sent]


# -- sending


@pytest.mark.parametrize(
    "who", [ADMIN, TECH, ROOT], ids=["operator-admin", "maintenance", "platform"]
)
def test_command_is_posted_and_pending_when_staff_sends_it(who: Principal) -> None:
    office = desk()

    call = office.issue(cmd.Reset(cmd.ResetKind.HARD), who)

    assert call.status is CallStatus.PENDING
    assert call.requested_by == who.username
    assert sent_frames(office.sender) == [("c1", [2, call.unique_id, "Reset", {"type": "Hard"}])]
    assert call.timeout_at == NOW + timedelta(seconds=60)


def test_command_to_another_operators_pile_is_not_found_and_changes_nothing() -> None:
    office = desk()

    with pytest.raises(NotFound):
        office.issue(cmd.Reset(cmd.ResetKind.SOFT), STRANGER)
    with pytest.raises(NotFound):
        office.issue(cmd.Reset(cmd.ResetKind.SOFT), pile="CP-404")

    assert office.calls.calls == {} and office.sender.sent == []


def test_command_of_another_version_is_a_conflict_and_changes_nothing() -> None:
    office = desk(online(protocol="ocpp1.6"))

    with pytest.raises(cmd.CommandNotSupported):
        office.issue(cmd.GetBaseReport(cmd.ReportBase.FULL_INVENTORY))

    assert office.calls.calls == {} and office.sender.sent == []


def test_command_to_a_pile_without_ocpp_is_a_conflict() -> None:
    office = desk(PileRoute("EB-1", "op-1", "modbus", None, False))

    with pytest.raises(Conflict):
        office.issue(cmd.ClearCache(), pile="EB-1")


def test_request_ids_come_from_the_call_id() -> None:
    office = desk(online(protocol="ocpp2.0.1"))

    first = office.issue(cmd.GetBaseReport(cmd.ReportBase.SUMMARY_INVENTORY))
    second = office.issue(cmd.GetBaseReport(cmd.ReportBase.SUMMARY_INVENTORY))

    ids = [json.loads(call.request_json)["requestId"] for call in (first, second)]
    assert ids[0] != ids[1]
    assert all(1 <= request_id < 2**31 for request_id in ids)


# -- offline piles and reconnects


def test_command_to_an_offline_pile_waits_undelivered_for_ten_minutes() -> None:
    office = desk(offline())

    call = office.issue(cmd.UnlockConnector(1))

    assert call.status is CallStatus.UNDELIVERED
    assert call.connection_id is None
    assert call.timeout_at == NOW + timedelta(minutes=10)
    assert office.sender.sent == []


def test_waiting_calls_go_out_in_order_when_the_pile_boots_again() -> None:
    world = World()
    office = Desk(Routes(offline()), world.pending, world.sender)
    first = office.issue(cmd.UnlockConnector(1))
    office.now += timedelta(seconds=1)
    second = office.issue(cmd.Reset(cmd.ResetKind.SOFT))
    world.now = office.now + timedelta(minutes=2)
    world.connections.add(a_connection(connection_id="c9", registration_status=None))

    answer = world.send(BOOT_16, "c9")

    assert answer[2]["status"] == "Accepted"
    assert [frame[1] for _, frame in sent_frames(world.sender)] == [
        first.unique_id,
        second.unique_id,
    ]
    assert {connection for connection, _ in world.sender.sent} == {"c9"}
    delivered = world.pending.calls[("CP-1", first.unique_id)]
    assert (delivered.status, delivered.connection_id) == (CallStatus.PENDING, "c9")
    assert delivered.timeout_at == world.now + timedelta(seconds=60)


def test_boot_after_the_delivery_window_sends_nothing_late() -> None:
    world = World()
    office = Desk(Routes(offline()), world.pending, world.sender)
    call = office.issue(cmd.Reset(cmd.ResetKind.HARD))
    world.now = NOW + timedelta(minutes=10, seconds=1)
    world.connections.add(a_connection(registration_status=None))

    world.send(BOOT_16)

    assert world.sender.sent == []
    assert office.status(call) is CallStatus.UNDELIVERED  # housekeeping reports it


def test_rejected_boot_gets_no_waiting_calls() -> None:
    world = World()
    office = Desk(Routes(offline()), world.pending, world.sender)
    office.issue(cmd.Reset(cmd.ResetKind.HARD))
    world.piles.enabled = False
    world.connections.add(a_connection(registration_status=None))

    assert world.send(BOOT_16)[2]["status"] == "Rejected"
    assert world.sender.sent == []


def test_boot_is_answered_even_when_waiting_calls_cannot_be_read() -> None:
    world = World()

    def broken(pile_id: str, since: datetime) -> list[PendingCall]:
        raise UpstreamFailure("DynamoDB Query failed", operation="Query")

    world.pending.queued_for_pile = broken  # type: ignore[method-assign]
    world.connections.add(a_connection(registration_status=None))

    assert world.send(BOOT_16)[2]["status"] == "Accepted"


def test_connection_gone_while_delivering_keeps_the_call_waiting_with_its_deadline() -> None:
    world = World()
    office = Desk(Routes(offline()), world.pending, world.sender)
    call = office.issue(cmd.Reset(cmd.ResetKind.HARD))
    world.sender.gone.add("c1")
    world.connections.add(a_connection(registration_status=None))

    world.send(BOOT_16)

    stored = world.pending.calls[("CP-1", call.unique_id)]
    assert (stored.status, stored.timeout_at) == (CallStatus.UNDELIVERED, call.timeout_at)


def test_housekeeping_delivers_to_a_pile_that_reconnected_without_booting() -> None:
    office = desk(offline("CP-1"), offline("CP-2"))
    waiting = office.issue(cmd.ClearCache())
    still_away = office.issue(cmd.ClearCache(), pile="CP-2")
    office.piles.routes["CP-1"] = online(connection_id="c7")
    office.now += timedelta(minutes=1)

    result = office.housekeeping()

    assert result["calls_delivered"] == 1
    assert sent_frames(office.sender) == [("c7", [2, waiting.unique_id, "ClearCache", {}])]
    assert office.status(waiting) is CallStatus.PENDING
    assert office.status(still_away) is CallStatus.UNDELIVERED


def test_only_one_of_two_concurrent_deliveries_posts_a_call() -> None:
    office = desk(offline())
    call = office.issue(cmd.ClearCache())
    office.piles.routes["CP-1"] = online()

    posted = [
        retry_undelivered(
            piles=office.piles, pending_calls=office.calls, sender=office.sender, clock=lambda: NOW
        )
        for _ in range(2)
    ]

    assert posted == [1, 0]
    assert len(office.sender.sent) == 1
    assert office.status(call) is CallStatus.PENDING


# -- timeouts


def test_unanswered_call_times_out_after_a_minute_and_a_late_answer_changes_nothing() -> None:
    office = desk()
    call = office.issue(cmd.Reset(cmd.ResetKind.SOFT))
    office.now += timedelta(seconds=59)
    assert office.housekeeping()["calls_not_answered"] == 0
    office.now += timedelta(seconds=2)

    result = office.housekeeping()

    assert result["calls_not_answered"] == 1
    stored = office.calls.get("CP-1", call.unique_id)
    assert stored is not None
    assert (stored.status, stored.error_description) == (CallStatus.TIMED_OUT, NOT_ANSWERED)
    assert stored.timed_out_at == office.now
    late = complete_call(
        a_connection(),
        CallResult(call.unique_id, {"status": "Accepted"}),
        pending_calls=office.calls,
        schemas=SCHEMAS,
        clock=lambda: office.now,
    )
    assert late is None
    assert office.status(call) is CallStatus.TIMED_OUT


def test_answered_call_is_never_timed_out() -> None:
    office = desk()
    call = office.issue(cmd.Reset(cmd.ResetKind.SOFT))
    complete_call(
        a_connection(),
        CallResult(call.unique_id, {"status": "Accepted"}),
        pending_calls=office.calls,
        schemas=SCHEMAS,
        clock=lambda: office.now,
    )
    office.now += timedelta(minutes=5)

    assert office.housekeeping()["calls_not_answered"] == 0
    assert office.status(call) is CallStatus.ANSWERED


def test_call_whose_pile_stays_away_is_reported_not_delivered() -> None:
    office = desk(offline())
    call = office.issue(cmd.Reset(cmd.ResetKind.SOFT))
    office.now += timedelta(minutes=10)

    result = office.housekeeping()

    assert result["calls_not_delivered"] == 1
    stored = office.calls.get("CP-1", call.unique_id)
    assert stored is not None
    assert (stored.status, stored.error_description) == (CallStatus.TIMED_OUT, NOT_DELIVERED)


def test_call_due_is_timed_out_not_delivered_when_its_pile_comes_back_too_late() -> None:
    office = desk(offline())
    call = office.issue(cmd.Reset(cmd.ResetKind.SOFT))
    office.piles.routes["CP-1"] = online()
    office.now += timedelta(minutes=11)

    result = office.housekeeping()

    assert (result["calls_not_delivered"], result["calls_delivered"]) == (1, 0)
    assert office.sender.sent == []
    assert office.status(call) is CallStatus.TIMED_OUT


def test_time_out_leaves_calls_not_yet_due() -> None:
    office = desk()
    office.issue(cmd.ClearCache())

    count = time_out_due_calls(
        pending_calls=office.calls, clock=lambda: NOW + timedelta(seconds=30)
    )

    assert (count.not_answered, count.not_delivered) == (0, 0)


# -- housekeeping jobs


def test_minute_job_reports_the_parts_it_ran() -> None:
    result = desk().housekeeping()

    assert result == {
        "job": "minute",
        "ran": ["time_out_calls", "deliver_waiting_calls", "close_stale_sessions"],
        "failed": [],
        "calls_not_answered": 0,
        "calls_not_delivered": 0,
        "calls_delivered": 0,
        "sessions_closed": 0,
        "sessions_checked": 0,
    }


def test_minute_job_still_delivers_when_timing_out_fails() -> None:
    office = desk(offline())
    office.issue(cmd.ClearCache())
    office.piles.routes["CP-1"] = online()

    def broken(*args: Any, **kwargs: Any) -> bool:
        raise UpstreamFailure("DynamoDB UpdateItem failed", operation="UpdateItem")

    office.calls.time_out = broken  # type: ignore[method-assign]
    office.calls.create(
        replace(
            office.calls.open_calls(CallStatus.UNDELIVERED, due_by=None, limit=1)[0],
            unique_id="old",
            status=CallStatus.PENDING,
            timeout_at=NOW - timedelta(seconds=1),
        )
    )

    result = office.housekeeping()

    assert result["failed"] == ["time_out_calls"]
    assert result["ran"] == ["deliver_waiting_calls", "close_stale_sessions"]
    assert result["calls_delivered"] == 1


# -- reading commands and stopping sessions


def test_command_of_another_operator_is_not_found() -> None:
    office = desk()
    call = office.issue(cmd.ClearCache())

    assert commands.get_command(ADMIN, "CP-1", call.unique_id, office.ports()) == call
    with pytest.raises(NotFound):
        commands.get_command(STRANGER, "CP-1", call.unique_id, office.ports())
    with pytest.raises(NotFound):
        commands.get_command(ADMIN, "CP-1", "no-such-call", office.ports())


def test_commands_are_listed_newest_first_in_pages() -> None:
    office = desk()
    made = []
    for _ in range(3):
        made.append(office.issue(cmd.ClearCache()))
        office.now += timedelta(seconds=1)

    first, token = commands.list_commands(ADMIN, "CP-1", 2, None, office.ports())
    rest, end = commands.list_commands(ADMIN, "CP-1", 2, token, office.ports())

    assert [call.unique_id for call in first + rest] == [c.unique_id for c in reversed(made)]
    assert end is None


@dataclass(frozen=True)
class FakeSession:
    pile_id: str
    operator_id: str
    ocpp_transaction_id: str
    is_open: bool = True


@dataclass
class FakeSessions:
    sessions: dict[str, FakeSession]

    def get(self, session_id: str, *, consistent: bool = False) -> FakeSession | None:
        return self.sessions.get(session_id)


SESSIONS = FakeSessions(
    {
        "se-1": FakeSession("CP-1", "op-1", "41"),
        "se-ended": FakeSession("CP-1", "op-1", "42", is_open=False),
        "se-other-pile": FakeSession("CP-2", "op-1", "43"),
        "se-foreign": FakeSession("CP-1", "op-2", "44"),
    }
)


def test_session_is_stopped_by_its_transaction_id() -> None:
    office = desk()

    call = commands.stop_session(TECH, "CP-1", "se-1", sessions=SESSIONS, ports=office.ports())

    assert (call.action, json.loads(call.request_json)) == (
        "RemoteStopTransaction",
        {"transactionId": 41},
    )


@pytest.mark.parametrize(
    ("session_id", "error"),
    [
        ("se-404", NotFound),
        ("se-other-pile", NotFound),
        ("se-foreign", NotFound),
        ("se-ended", Conflict),
    ],
)
def test_stop_of_a_session_not_open_on_this_pile_is_refused(
    session_id: str, error: type[Exception]
) -> None:
    office = desk()

    with pytest.raises(error):
        commands.stop_session(ADMIN, "CP-1", session_id, sessions=SESSIONS, ports=office.ports())

    assert office.calls.calls == {}


def test_a_role_outside_staff_may_not_send_commands() -> None:
    office = desk()
    driver = Principal("someone", "driver", "op-1")  # type: ignore[arg-type]

    with pytest.raises(Forbidden):
        office.issue(cmd.ClearCache(), driver)


def test_command_to_a_201_pile_maps_the_gun_to_its_evse() -> None:
    office = desk(online(protocol=OcppVersion.V201.value))

    office.issue(cmd.UnlockConnector(2))

    assert sent_frames(office.sender)[0][1][2:] == [
        "UnlockConnector",
        {"evseId": 2, "connectorId": 1},
    ]
