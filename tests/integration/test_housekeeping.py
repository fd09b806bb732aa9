"""The housekeeping function on moto: its scheduled events, the open-call index it reads
instead of scanning, timeouts and deliveries, and what each job reports."""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest

from functions.housekeeping import handler
from functions.housekeeping import wiring as housekeeping_wiring
from functions.ocpp_router import wiring as router_wiring
from shared.domain.ocpp.remote_calls import PendingCall
from shared.domain.tenancy import Principal, Role
from shared.services.ocpp.remote_calls import send_call
from tests.integration.test_ocpp_router_support import (
    OPERATOR,
    PileSide,
    lambda_context,
    pile_side,
)
from tests.integration.test_ocpp_transactions_support import (
    TransactionSide,
    start_16,
    transaction_side,
)
from tests.unit.ocpp_command_fakes import FakeSender

__all__ = ["pile_side", "transaction_side"]

ADMIN = Principal("admin", Role.OPERATOR_ADMIN, OPERATOR)


class Tick:
    """Runs the function as EventBridge does, with the router's clock and a fake sender."""

    def __init__(self, side: PileSide, clock: Any, sender: FakeSender) -> None:
        self.side = side
        self.clock = clock
        self.sender = sender
        self.ids = itertools.count(1)

    def run(self, job: str = "minute") -> dict[str, Any]:
        event = {
            "version": "0",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/EveryMinute"],
            "detail": {},
            "job": job,
        }
        result: dict[str, Any] = handler.lambda_handler(event, lambda_context())
        return result

    def send(self, pile_id: str, action: str, payload: dict[str, Any]) -> PendingCall:
        ports = router_wiring.ports()
        return send_call(
            pile_id,
            action,
            payload,
            on_behalf_of=ADMIN,
            piles=ports.piles,
            pending_calls=ports.pending_calls,
            schemas=ports.schemas,
            sender=self.sender,
            clock=self.clock,
            new_id=lambda prefix: f"{prefix}-{next(self.ids):020d}",
        )

    def call_item(self, call: PendingCall) -> dict[str, Any]:
        item = self.side.item(
            "SESSIONS_TABLE", {"pk": f"PILE#{call.pile_id}", "sk": f"CALL#{call.unique_id}"}
        )
        assert item is not None
        return item


@pytest.fixture
def tick(pile_side: PileSide, clock: Any) -> Iterator[Tick]:
    sender = FakeSender()
    shared_sender = functools.cache(lambda: sender)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(router_wiring, "websocket", shared_sender)
        patch.setattr(housekeeping_wiring, "websocket", shared_sender)
        patch.setattr(housekeeping_wiring, "clock", clock)
        housekeeping_wiring.reset()
        yield Tick(pile_side, clock, sender)
        housekeeping_wiring.reset()


def test_minute_job_with_nothing_open_costs_seven_index_queries(tick: Tick) -> None:
    tick.side.counter.reset()

    result = tick.run()

    assert result == {
        "job": "minute",
        "ran": [
            "time_out_calls",
            "deliver_waiting_calls",
            "close_stale_sessions",
            "time_out_port_commands",
            "fail_unstarted_paid_charges",
            "mark_silent_gateways_offline",
        ],
        "failed": [],
        "calls_not_answered": 0,
        "calls_not_delivered": 0,
        "calls_delivered": 0,
        "sessions_closed": 0,
        "sessions_checked": 0,
        "port_commands_timed_out": 0,
        "paid_never_started": 0,
        "paid_starts_checked": 0,
        "gateways_checked": 0,
        "gateways_silent": 0,
        "modbus_piles_offline": 0,
    }
    # pending calls due, undelivered calls due, undelivered calls waiting, sessions due,
    # e-bike port commands due, paid remote starts due, Modbus gateways due a presence look
    assert dict(tick.side.counter.calls) == {"Query": 7}


def test_open_call_is_on_the_sparse_index_until_it_is_answered(tick: Tick) -> None:
    tick.side.online("CP-1", "ocpp1.6")
    call = tick.send("CP-1", "Reset", {"type": "Soft"})

    item = tick.call_item(call)
    assert (item["gsi2pk"], item["gsi2sk"]) == ("PENDING_CALLS", "2026-11-01T02:01:00.000Z")

    tick.side.send("conn-1", [3, call.unique_id, {"status": "Accepted"}])

    answered = tick.call_item(call)
    assert answered["status"] == "answered"
    assert "gsi2pk" not in answered and "gsi2sk" not in answered


def test_minute_job_times_out_only_calls_past_their_deadline(tick: Tick) -> None:
    tick.side.online("CP-1", "ocpp2.0.1")
    old = tick.send("CP-1", "ClearCache", {})
    tick.clock.advance(seconds=30)
    recent = tick.send("CP-1", "GetLocalListVersion", {})
    tick.clock.advance(seconds=31)
    tick.side.counter.reset()

    result = tick.run()

    assert (result["calls_not_answered"], result["calls_not_delivered"]) == (1, 0)
    assert tick.side.counter.calls["UpdateItem"] == 1
    timed_out = tick.call_item(old)
    assert timed_out["status"] == "timed_out"
    assert timed_out["timed_out_at"] == "2026-11-01T02:01:01.000Z"
    assert "gsi2pk" not in timed_out
    assert tick.call_item(recent)["status"] == "pending"


def test_minute_job_delivers_waiting_calls_once_the_pile_is_back_and_reports_the_rest(
    tick: Tick,
) -> None:
    tick.side.put_pile("CP-1", protocol="ocpp1.6")
    tick.side.put_pile("CP-2", protocol="ocpp1.6")
    back = tick.send("CP-1", "UnlockConnector", {"connectorId": 1})
    away = tick.send("CP-2", "UnlockConnector", {"connectorId": 1})
    assert tick.call_item(back)["gsi2pk"] == "UNDELIVERED_CALLS"
    tick.clock.advance(minutes=3)
    assert tick.side.connect("CP-1", connection_id="c-back")["statusCode"] == 200

    delivered = tick.run()

    assert delivered["calls_delivered"] == 1
    assert [(c, json.loads(text)) for c, text in tick.sender.sent] == [
        ("c-back", [2, back.unique_id, "UnlockConnector", {"connectorId": 1}])
    ]
    item = tick.call_item(back)
    assert (item["status"], item["connection_id"], item["gsi2pk"]) == (
        "pending",
        "c-back",
        "PENDING_CALLS",
    )
    tick.clock.advance(minutes=7)

    reported = tick.run()

    assert reported["calls_not_delivered"] == 1
    assert tick.call_item(away)["status"] == "timed_out"
    assert tick.call_item(away)["error_description"].startswith("not delivered")


def test_reconciliation_is_not_a_housekeeping_job(tick: Tick) -> None:
    """The reports function reconciles (its own schedule); housekeeping refuses the name."""
    before = tick.side.snapshot()

    result = tick.run("daily_reconciliation")

    assert result["ran"] == [] and "unknown housekeeping job" in result["error"]
    assert tick.side.snapshot() == before


def test_unknown_job_is_refused_and_changes_nothing(tick: Tick) -> None:
    before = tick.side.snapshot()

    result = tick.run("hourly")

    assert result["ran"] == [] and "unknown housekeeping job" in result["error"]
    assert tick.side.snapshot() == before


def test_minute_job_closes_a_session_that_went_silent(
    tick: Tick, transaction_side: TransactionSide
) -> None:
    transaction_side.side.online("CP-1", "ocpp1.6")
    transaction_side.side.put_card("CARD-1", "active")
    transaction_side.put_station_tariff()
    started = transaction_side.result("conn-1", "StartTransaction", start_16(1, "CARD-1", 1000, 0))
    tick.clock.advance(hours=7)

    result = tick.run()

    assert (result["sessions_closed"], result["failed"]) == (1, [])
    closed = transaction_side.session("CP-1", "ocpp1.6", started["transactionId"])
    assert closed["status"] == "incomplete"
