"""Paid charging on moto through the router's and housekeeping's lambda_handlers with
AWS-shaped events: the remote start, the pile's answer and StartTransaction linking the
session, meter values costing one write until the cap stops the session once, the stop
resuming the workflow, the never-started paths, and the DynamoDB items left behind."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from functions.housekeeping import handler as housekeeping_handler
from functions.housekeeping import wiring as housekeeping_wiring
from functions.ocpp_router import wiring as router_wiring
from shared.adapters.dynamodb.base_data_items import encode_item, tariff_version_item
from shared.adapters.dynamodb.paid_charging import DynamoPaidCharges
from shared.domain.errors import Conflict
from shared.domain.pricing import ChargeMode, ChargeTarget
from shared.services import paid_charging
from shared.services.paid_charging import PaidChargePorts, PaidChargeRequest
from tests.integration.test_ocpp_router_support import OPERATOR, STATION, lambda_context, pile_side
from tests.integration.test_ocpp_transactions_support import (
    TransactionSide,
    event_201,
    meter_16,
    start_16,
    stop_16,
    transaction_side,
    ts,
)
from tests.unit.ocpp_command_fakes import FakeSender
from tests.unit.test_paid_charging_fakes import FLAT, FakeResumer

__all__ = ["pile_side", "transaction_side"]

V16, V201 = "ocpp1.6", "ocpp2.0.1"


class PaidSide:
    """The transaction side plus the workflow's calls into paid charging, with the
    router's own adapters, a fake WebSocket sender and a fake workflow resumer."""

    def __init__(self, side: TransactionSide, clock: Any) -> None:
        self.tx = side
        self.clock = clock
        self.sender = FakeSender()
        self.resumer = FakeResumer()
        self.ids = iter(range(1, 10_000))
        table = side.side.tables["BASE_DATA_TABLE"]
        side.client.put_item(TableName=table, Item=encode_item(tariff_version_item(FLAT)))

    @property
    def ports(self) -> PaidChargePorts:
        paid = paid_charging.ports_of(router_wiring.ports())
        assert paid is not None
        return paid

    def begin(self, pile_id: str, **overrides: Any) -> str:
        values: dict[str, Any] = {
            "order_no": "PO-1",
            "operator_id": OPERATOR,
            "station_id": STATION,
            "pile_id": pile_id,
            "gun_no": 1,
            "id_tag": "PAY-PO-1",
            "target": ChargeTarget(ChargeMode.FULL),
            "prepaid_cap_fen": 400,
            "tariff_id": FLAT.tariff_id,
            "tariff_version": FLAT.version,
        }
        values.update(overrides)
        ports = replace(self.ports, new_id=lambda prefix: f"{prefix}-{next(self.ids):020d}")
        return paid_charging.begin_paid_charge(ports, PaidChargeRequest(**values), self.clock())

    def frames(self) -> list[list[Any]]:
        return [json.loads(text) for _, text in self.sender.sent]

    def answer(self, call_id: str, payload: dict[str, Any]) -> None:
        assert self.tx.side.send("conn-1", [3, call_id, payload]) is None

    def marker(self, order_no: str = "PO-1") -> dict[str, Any]:
        item = self.tx.side.item(
            "SESSIONS_TABLE", {"pk": f"PAIDCHARGE#{order_no}", "sk": "PAIDCHARGE"}
        )
        assert item is not None
        return item

    def minute_job(self) -> dict[str, Any]:
        event = {"source": "aws.events", "detail-type": "Scheduled Event", "job": "minute"}
        result: dict[str, Any] = housekeeping_handler.lambda_handler(event, lambda_context())
        return result


@pytest.fixture
def paid(transaction_side: TransactionSide, clock: Any) -> Iterator[PaidSide]:
    side = PaidSide(transaction_side, clock)
    with pytest.MonkeyPatch.context() as patch:
        for wiring in (router_wiring, housekeeping_wiring):
            patch.setattr(wiring, "websocket", functools.cache(lambda: side.sender))
            patch.setattr(wiring, "resumer", functools.cache(lambda: side.resumer))
        patch.setattr(housekeeping_wiring, "clock", clock)
        router_wiring.reset()
        housekeeping_wiring.reset()
        yield side
        housekeeping_wiring.reset()


def status(version: str, state: str) -> tuple[str, dict[str, Any]]:
    if version == V16:
        return "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": state}
    payload = {"timestamp": ts(0), "connectorStatus": state, "evseId": 1, "connectorId": 1}
    return "StatusNotification", payload


def online(paid: PaidSide, pile_id: str, version: str) -> None:
    paid.tx.side.online(pile_id, version)
    paid.tx.put_station_tariff()
    paid.tx.result("conn-1", *status(version, "Available"))


def test_a_16_paid_session_starts_stops_at_the_cap_once_and_resumes_the_workflow(
    paid: PaidSide, clock: Any
) -> None:
    online(paid, "CP-16", V16)
    call_id = paid.begin("CP-16")
    paid.answer(call_id, {"status": "Accepted"})
    paid.tx.counter.reset()
    started = paid.tx.result("conn-1", "StartTransaction", start_16(1, "PAY-PO-1", 10_000, 0))
    start_writes = paid.tx.counter.writes
    tx = started["transactionId"]
    paid_charging.await_session_end(paid.ports, "PO-1", "token-1", clock())

    steady = [
        paid.tx.writes_of("conn-1", "MeterValues", meter_16(1, tx, [(minute, wh)]))
        for minute, wh in ((1, 11_000), (2, 12_000))
    ]
    at_cap = paid.tx.writes_of("conn-1", "MeterValues", meter_16(1, tx, [(3, 12_700)]))
    after = paid.tx.writes_of("conn-1", "MeterValues", meter_16(1, tx, [(4, 12_750)]))
    paid.tx.result("conn-1", "StopTransaction", stop_16(tx, 12_760, 5, "PAY-PO-1"))

    assert started["idTagInfo"] == {"status": "Accepted"}
    # 4 W of any new start (docs/message-costs.md) + the marker's link + the session's link
    assert start_writes == 6
    assert steady == [1, 1] and at_cap == 3 and after == 1
    frames = paid.frames()
    assert [frame[2] for frame in frames] == ["RemoteStartTransaction", "RemoteStopTransaction"]
    assert frames[0][3] == {"connectorId": 1, "idTag": "PAY-PO-1"}
    assert frames[1][3] == {"transactionId": tx}
    session = paid.tx.session("CP-16", V16, tx)
    assert paid.resumer.succeeded == [
        (
            "token-1",
            {
                "order_no": "PO-1",
                "session_id": session["session_id"],
                "energy_wh": 2_760,
                "stop_reason": "cap_reached",
            },
        )
    ]
    marker = paid.marker()
    assert (marker["state"], marker["session_id"]) == ("ended", session["session_id"])
    assert "gsi2pk" not in marker and marker["end_energy_wh"] == 2_760
    outcome = paid_charging.charge_outcome(paid.ports, "PO-1")
    assert outcome.energy_wh == 2_760 and len(outcome.readings) == 6
    assert (outcome.tariff_id, outcome.tariff_version) == (FLAT.tariff_id, FLAT.version)


def test_a_retried_begin_sends_nothing_and_a_busy_gun_is_refused(paid: PaidSide) -> None:
    online(paid, "CP-16", V16)
    first = paid.begin("CP-16")
    paid.tx.result("conn-1", *status(V16, "Charging"))

    again = paid.begin("CP-16")
    with pytest.raises(Conflict):
        paid.begin("CP-16", order_no="PO-2")

    assert again == first and len(paid.frames()) == 1
    assert (
        paid.tx.side.item("SESSIONS_TABLE", {"pk": "PAIDCHARGE#PO-2", "sk": "PAIDCHARGE"}) is None
    )


def test_a_201_pile_rejecting_the_start_fails_the_workflow_with_pile_never_started(
    paid: PaidSide, clock: Any
) -> None:
    online(paid, "CP-201", V201)
    call_id = paid.begin("CP-201")
    paid_charging.await_session_end(paid.ports, "PO-1", "token-1", clock())

    paid.answer(call_id, {"status": "Rejected"})

    assert [(token, error) for token, error, _ in paid.resumer.failed] == [
        ("token-1", "PileNeverStarted")
    ]
    marker = paid.marker()
    assert marker["state"] == "never_started" and "gsi2pk" not in marker


def test_a_201_session_named_by_its_remote_start_id_ends_and_resumes(
    paid: PaidSide, clock: Any
) -> None:
    online(paid, "CP-201", V201)
    call_id = paid.begin("CP-201", target=ChargeTarget(ChargeMode.ENERGY, 50_000))
    paid.answer(call_id, {"status": "Accepted"})
    remote_start_id = paid.frames()[0][3]["remoteStartId"]
    started = event_201("Started", 0, "tx-9", 0, wh=5_000, token="PAY-PO-1")
    started["transactionInfo"]["remoteStartId"] = remote_start_id
    started["idToken"]["type"] = "Central"

    answer = paid.tx.result("conn-1", "TransactionEvent", started)
    paid.tx.result("conn-1", "TransactionEvent", event_201("Updated", 1, "tx-9", 1, wh=6_000))
    paid_charging.await_session_end(paid.ports, "PO-1", "token-1", clock())
    paid.tx.result("conn-1", "TransactionEvent", event_201("Ended", 2, "tx-9", 2, wh=6_500))

    assert answer == {"idTokenInfo": {"status": "Accepted"}}
    assert paid.resumer.succeeded[0][1]["energy_wh"] == 1_500
    assert paid.marker()["state"] == "ended"


def test_housekeeping_fails_an_accepted_start_with_no_session_after_3_minutes(
    paid: PaidSide, clock: Any
) -> None:
    online(paid, "CP-16", V16)
    call_id = paid.begin("CP-16")
    paid_charging.await_session_end(paid.ports, "PO-1", "token-1", clock())
    clock.advance(seconds=2)
    paid.answer(call_id, {"status": "Accepted"})

    clock.advance(minutes=1, seconds=10)
    early = paid.minute_job()
    clock.advance(minutes=2)
    late = paid.minute_job()

    assert (early["paid_never_started"], early["paid_starts_checked"]) == (0, 1)
    assert late["paid_never_started"] == 1 and late["failed"] == []
    assert paid.resumer.failed[0][:2] == ("token-1", "PileNeverStarted")
    assert paid.marker()["failure"] == "no session started within 3 minutes of the remote start"


def test_the_store_reads_back_what_it_wrote(paid: PaidSide) -> None:
    online(paid, "CP-16", V16)
    paid.begin("CP-16")
    store = DynamoPaidCharges(
        paid.tx.side.tables["SESSIONS_TABLE"], paid.tx.side.tables["BASE_DATA_TABLE"]
    )

    charge = store.get("PO-1")

    assert charge is not None and charge.target == ChargeTarget(ChargeMode.FULL)
    assert store.find_start("CP-16", "T#PAY-PO-1") == "PO-1"
    assert store.tariff(FLAT.tariff_id, FLAT.version) == FLAT
    assert store.gun_status("CP-16", 1) == (True, "Available")
    assert store.gun_status("CP-16", 9) == (False, None)


def test_housekeeping_resumes_the_workflow_of_a_paid_session_it_closes_stale(
    paid: PaidSide, clock: Any
) -> None:
    online(paid, "CP-16", V16)
    paid.answer(paid.begin("CP-16"), {"status": "Accepted"})
    started = paid.tx.result("conn-1", "StartTransaction", start_16(1, "PAY-PO-1", 10_000, 0))
    paid.tx.result("conn-1", "MeterValues", meter_16(1, started["transactionId"], [(1, 10_900)]))
    paid_charging.await_session_end(paid.ports, "PO-1", "token-1", clock())

    clock.advance(hours=7)
    result = paid.minute_job()

    assert result["sessions_closed"] == 1 and result["failed"] == []
    assert [
        (token, out["energy_wh"], out["stop_reason"]) for token, out in paid.resumer.succeeded
    ] == [("token-1", 900, "closed_stale")]
    assert paid.marker()["state"] == "ended"
