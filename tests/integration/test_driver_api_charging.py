"""Paid charges, the wallet and history on moto through the handler: start (once per
request id, refusals with reasons and nothing stored), live figures from the session and
its meter values, the trend, stop, rating, and another driver's order answering 404."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from functions.driver_api import wiring
from shared.adapters.dynamodb.paid_charging import DynamoPaidCharges
from shared.adapters.dynamodb.payment_orders import DynamoPaymentOrders
from shared.adapters.dynamodb.sessions import DynamoSessions
from shared.domain.drivers import id_tag_of
from shared.domain.ledger import driver_wallet_id
from shared.domain.ocpp.versions import OcppVersion
from shared.domain.paid_charging import PaidCharge
from shared.domain.payment_orders import OrderState, PaymentOrder
from shared.domain.pricing import ChargeMode, ChargeTarget, price_energy
from shared.domain.sessions import LogEntry, MeterSample, Session
from shared.services import wallets
from shared.services.paid_charging import _readings as stop_check_readings
from tests.integration.test_driver_api_support import (
    DriverWorld,
    dcall,
    set_gun_status,
    set_presence,
    shared_world,
    sign_in,
    snapshot,
    world,
)

__all__ = ["shared_world", "world"]

START = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


class FakeSender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def post(self, connection_id: str, text: str) -> None:
        self.sent.append((connection_id, json.loads(text)))


@pytest.fixture(scope="module")
def machine(shared_world: DriverWorld) -> str:
    """A state machine standing in for the payment workflow (moto runs no executions here:
    the driver API's part ends at StartExecution)."""
    client = boto3.client("stepfunctions")
    arn: str = client.create_state_machine(
        name="payment-session",
        definition=json.dumps(
            {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
        ),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    return arn


@pytest.fixture
def charging(
    world: DriverWorld, machine: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeSender]:
    sender = FakeSender()
    monkeypatch.setenv("PAYMENT_STATE_MACHINE_ARN", machine)
    monkeypatch.setenv("WS_MANAGEMENT_ENDPOINT", "https://ws.example.com/prod")
    wiring.reset()
    monkeypatch.setattr(wiring, "_websocket_sender", functools.cache(lambda: sender))
    yield sender
    wiring.reset()


def start_body(world: DriverWorld, request: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "request_id": request,
        "pile_id": world.a.pile_id,
        "gun_no": 1,
        "mode": "amount",
        "value": 400,
        "prepaid_fen": 400,
        "method": "sandbox",
    }
    body.update(overrides)
    return body


def executions(machine: str) -> list[str]:
    listed = boto3.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"]
    return [execution["name"] for execution in listed]


def orders() -> DynamoPaymentOrders:
    return DynamoPaymentOrders(os.environ["LEDGER_TABLE"])


def mark_charging(
    world: DriverWorld,
    order_no: str,
    session_id: str,
    *,
    start: datetime = START,
    readings: tuple[tuple[int, int, int], ...] = ((10, 2000, 6800), (30, 4000, 7000)),
    meter_start_wh: int = 1000,
) -> PaymentOrder:
    """What the workflow and the pile side write once paid and started: the order started,
    the paid-charge marker linked to the session, the session and its meter values
    (``readings``: minutes after the start, register Wh, power W)."""
    store = orders()
    order = store.get(order_no)
    assert order is not None
    saved = store.save(
        replace(order, state=OrderState.STARTED, paid_fen=order.prepaid_fen, paid_at=start)
    )
    assert saved is not None
    sessions_table, base_table = os.environ["SESSIONS_TABLE"], os.environ["BASE_DATA_TABLE"]
    markers = DynamoPaidCharges(sessions_table, base_table)
    assert markers.create(
        PaidCharge(
            order_no=order_no,
            operator_id=order.operator_id,
            station_id=order.station_id,
            pile_id=order.pile_id,
            gun_no=order.gun_no,
            id_tag=order.id_tag,
            target=ChargeTarget(ChargeMode.AMOUNT, 400),
            prepaid_cap_fen=order.prepaid_fen,
            tariff_id=order.tariff_id,
            tariff_version=order.tariff_version,
            protocol=OcppVersion.V16,
            call_id="261101020000000-aa",
            created_at=start,
            check_at=start + timedelta(minutes=3),
        )
    )
    markers.link(order_no, session_id, start)
    store_sessions = DynamoSessions(sessions_table, base_table)
    assert store_sessions.create(
        Session(
            session_id=session_id,
            protocol=OcppVersion.V16,
            operator_id=order.operator_id,
            pile_id=order.pile_id,
            ocpp_transaction_id="7",
            anchor_at=start,
            created_at=start,
            last_message_at=start,
            station_id=order.station_id,
            gun_no=order.gun_no,
            id_tag=order.id_tag,
            tariff_id=order.tariff_id,
            tariff_version=order.tariff_version,
            started_at=start,
            start_received_at=start,
            meter_start_wh=meter_start_wh,
        )
    )
    for minutes, wh, power in readings:
        at = start + timedelta(minutes=minutes)
        store_sessions.append_log(
            session_id,
            LogEntry(
                at=at,
                key=f"M{minutes:04d}",
                source="MeterValues",
                samples=(
                    MeterSample(
                        sampled_at=at,
                        energy_wh=wh,
                        power_w=power,
                        voltage_v=229.5,
                        current_a=30.4,
                        soc_percent=40.0 + minutes,
                    ),
                ),
                received_at=at,
            ),
        )
    return saved


def test_a_start_opens_one_order_and_workflow_per_request_id(
    world: DriverWorld, charging: FakeSender, machine: str
) -> None:
    token = sign_in("start-once")
    body = start_body(world, "req-start-once-1")

    first = dcall("POST", "/driver/charges", token, body=body)
    again = dcall("POST", "/driver/charges", token, body=body)

    assert first.status == 201, first.body
    assert again.status == 201, again.body
    order_no = first.body["order_no"]
    assert again.body["order_no"] == order_no
    assert first.body["state"] == "created"
    assert (first.body["pile_id"], first.body["gun_no"], first.body["method"]) == (
        world.a.pile_id,
        1,
        "sandbox",
    )
    assert (first.body["mode"], first.body["target_value"], first.body["prepaid_fen"]) == (
        "amount",
        400,
        400,
    )
    assert executions(machine).count(order_no) == 1
    listed = dcall("GET", "/driver/charges", token).body["items"]
    assert [item["order_no"] for item in listed] == [order_no]
    one = dcall("GET", f"/driver/charges/{order_no}", token)
    assert one.status == 200
    assert one.body["pay_by"] == "2026-11-01T02:15:00.000Z"
    stored = orders().get(order_no)
    assert stored is not None
    me = dcall("GET", "/driver/me", token).body["user_id"]
    assert (stored.user_id, stored.id_tag) == (me, id_tag_of(me))


def test_mileage_turns_distance_into_energy_by_the_drivers_consumption(
    world: DriverWorld, charging: FakeSender
) -> None:
    token = sign_in("mileage")
    dcall("PATCH", "/driver/me", token, body={"consumption_wh_per_km": 160})

    answer = dcall(
        "POST",
        "/driver/charges",
        token,
        body=start_body(world, "req-mileage-01", mode="mileage", value=100, prepaid_fen=3000),
    )

    assert answer.status == 201, answer.body
    assert (answer.body["mode"], answer.body["target_value"]) == ("energy", 16_000)


@pytest.mark.parametrize(
    ("prepare", "overrides", "status", "code", "message"),
    [
        ("busy", {}, 409, "conflict", "the gun is charging another vehicle"),
        ("faulted", {}, 409, "conflict", "the gun is faulted"),
        ("offline", {}, 409, "conflict", "the pile is offline"),
        ("reserved", {}, 409, "conflict", "the gun is reserved by someone else"),
        (None, {"method": "wallet"}, 409, "insufficient_balance", None),
        (None, {"method": "wechat"}, 409, "conflict", None),  # signed in with Alipay
        (None, {"pile_id": "CP-nobody"}, 404, "not_found", None),
        (None, {"gun_no": 3}, 404, "not_found", None),
        (None, {"mode": "time", "value": None}, 422, "invalid_input", None),
        (None, {"mode": "full", "value": 5}, 422, "invalid_input", None),
        (None, {"mode": "mileage", "value": None}, 422, "invalid_input", None),
        (None, {"method": "cash"}, 422, "validation_failed", None),
        (None, {"prepaid_fen": 0}, 422, "validation_failed", None),
        (None, {"prepaid_fen": "400"}, 422, "validation_failed", None),
        (None, {"request_id": "x"}, 422, "validation_failed", None),
    ],
)
def test_a_start_is_refused_with_its_reason_and_stores_nothing(
    world: DriverWorld,
    charging: FakeSender,
    machine: str,
    prepare: str | None,
    overrides: dict[str, Any],
    status: int,
    code: str,
    message: str | None,
) -> None:
    token = sign_in("refused", app="alipay")
    if prepare == "busy":
        set_gun_status(world.a.pile_id, 1, "Charging")
    elif prepare == "faulted":
        set_gun_status(world.a.pile_id, 1, "Faulted")
    elif prepare == "offline":
        set_presence(world.a.pile_id, is_online=False)
    elif prepare == "reserved":
        boto3.client("dynamodb").put_item(
            TableName=os.environ["BASE_DATA_TABLE"],
            Item={
                "pk": {"S": f"PILE#{world.a.pile_id}"},
                "sk": {"S": "RESERVATION#001"},
                "user_id": {"S": "dr-00000000000000000fff"},
                "expires_at": {"S": "2026-11-01T02:10:00.000Z"},
            },
        )
    before, started = snapshot(), executions(machine)

    answer = dcall(
        "POST", "/driver/charges", token, body=start_body(world, "req-refused-1", **overrides)
    )

    assert answer.status == status, answer.body
    assert answer.error["code"] == code
    if message is not None:
        assert answer.error["message"] == message
    assert snapshot() == before
    assert executions(machine) == started
    if prepare == "reserved":
        boto3.client("dynamodb").delete_item(
            TableName=os.environ["BASE_DATA_TABLE"],
            Key={"pk": {"S": f"PILE#{world.a.pile_id}"}, "sk": {"S": "RESERVATION#001"}},
        )


def test_a_wallet_start_holds_nothing_here_and_is_taken_when_the_wallet_covers_it(
    world: DriverWorld, charging: FakeSender, machine: str
) -> None:
    token = sign_in("wallet-payer")
    user_id = dcall("GET", "/driver/me", token).body["user_id"]
    wallets.open_wallet(
        wiring.ledger(),
        account_id=driver_wallet_id(world.a.operator_id, user_id),
        operator_id=world.a.operator_id,
        owner=user_id,
        clock=world.clock,
    )
    wallets.top_up_wallet(
        wiring.ledger(),
        account_id=driver_wallet_id(world.a.operator_id, user_id),
        operator_id=world.a.operator_id,
        amount_fen=1000,
        method="cash",
        reference="test-topup-wallet-payer",
        actor="test",
        clock=world.clock,
    )

    at_a = {"station_id": world.a.station_id}
    wallet = dcall("GET", "/driver/wallet", token, query=at_a)
    entries = dcall("GET", "/driver/wallet/entries", token, query=at_a)
    answer = dcall(
        "POST", "/driver/charges", token, body=start_body(world, "req-wallet-1", method="wallet")
    )

    assert wallet.body == {
        "operator_id": world.a.operator_id,
        "balance_fen": 1000,
        "held_fen": 0,
        "available_fen": 1000,
        "is_frozen": False,
    }
    assert [(e["kind"], e["amount_fen"]) for e in entries.body["items"]] == [("top_up", 1000)]
    assert answer.status == 201, answer.body
    assert answer.body["method"] == "wallet"
    assert answer.body["order_no"] in executions(machine)


def test_an_empty_wallet_reads_as_zero(world: DriverWorld, charging: FakeSender) -> None:
    token = sign_in("empty-wallet")
    at_a = {"operator_id": world.a.operator_id}
    assert dcall("GET", "/driver/wallet", token, query=at_a).body["balance_fen"] == 0
    assert dcall("GET", "/driver/wallet/entries", token, query=at_a).body == {
        "items": [],
        "next_token": None,
    }
    # Which wallet (one per operator): naming neither is refused, an unknown station is 404.
    assert dcall("GET", "/driver/wallet", token).status == 422
    missing = {"station_id": "st-" + "0" * 20}
    assert dcall("GET", "/driver/wallet/entries", token, query=missing).status == 404


def test_live_figures_come_from_the_session_and_its_newest_meter_value(
    world: DriverWorld, charging: FakeSender
) -> None:
    token = sign_in("live")
    order_no = dcall("POST", "/driver/charges", token, body=start_body(world, "req-live-01")).body[
        "order_no"
    ]
    before = dcall("GET", f"/driver/charges/{order_no}/live", token)
    mark_charging(world, order_no, "se-live000000000000001")
    world.clock.now = START + timedelta(minutes=31)

    live = dcall("GET", f"/driver/charges/{order_no}/live", token)
    trend = dcall("GET", f"/driver/charges/{order_no}/meter-values", token)

    assert before.status == 200
    assert (before.body["is_charging"], before.body["energy_wh"]) == (False, 0)
    assert live.status == 200, live.body
    body = live.body
    assert (body["state"], body["is_charging"], body["session_id"]) == (
        "started",
        True,
        "se-live000000000000001",
    )
    assert (body["energy_wh"], body["elapsed_s"]) == (3000, 31 * 60)
    # 3 kWh in the peak period (95 + 40 fen/kWh)
    assert body["cost_fen"] == 405
    assert (body["power_w"], body["voltage_v"], body["current_a"], body["soc_percent"]) == (
        7000,
        229.5,
        30.4,
        70.0,
    )
    assert [s["energy_wh"] for s in trend.body["items"]] == [2000, 4000]


def test_the_live_cost_is_the_stop_checks_figure_across_a_tariff_boundary(
    world: DriverWorld, charging: FakeSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    """09:40-10:20 local: flat (65 + 40) until 10:00, then peak (95 + 40). The power rose
    at 09:55, so the exact split differs from spreading start-to-newest evenly. The pile's
    register counts its lifetime (1 MWh): the live view reads the entries next to 10:00,
    never the whole log."""
    token = sign_in("live-tou")
    order_no = dcall(
        "POST", "/driver/charges", token, body=start_body(world, "req-live-tou", value=5000)
    ).body["order_no"]
    start = START - timedelta(minutes=20)  # 01:40 UTC = 09:40 local
    base = 1_000_000
    readings = (
        (15, base + 500, 2000),
        (25, base + 2500, 12000),
        (35, base + 4500, 12000),
        (40, base + 5500, 12000),
    )
    mark_charging(
        world,
        order_no,
        "se-livetou00000000001",
        start=start,
        readings=readings,
        meter_start_wh=base,
    )
    world.clock.now = start + timedelta(minutes=41)
    whole_log_reads: list[str] = []
    logged_samples = DynamoPaidCharges.logged_samples

    def counted(self: DynamoPaidCharges, session_id: str) -> list[MeterSample]:
        whole_log_reads.append(session_id)
        return logged_samples(self, session_id)

    monkeypatch.setattr(DynamoPaidCharges, "logged_samples", counted)

    live = dcall("GET", f"/driver/charges/{order_no}/live", token)

    assert live.status == 200, live.body
    assert whole_log_reads == []
    sessions_table, base_table = os.environ["SESSIONS_TABLE"], os.environ["BASE_DATA_TABLE"]
    markers = DynamoPaidCharges(sessions_table, base_table)
    session = DynamoSessions(sessions_table, base_table).get("se-livetou00000000001")
    assert session is not None
    marker = markers.get(order_no)
    assert marker is not None
    tariff = markers.tariff(marker.tariff_id, marker.tariff_version)
    stop_check = price_energy(
        tariff, stop_check_readings(session, markers.logged_samples(session.session_id))
    )
    # flat: 500 Wh to 09:55 + 1000 of the 09:55-10:05 step; peak: the other 4000 Wh
    assert [line.energy_wh for line in stop_check.lines] == [1500, 4000]
    assert stop_check.total_fen == round(1.5 * 105) + 4 * 135
    assert (live.body["cost_fen"], live.body["energy_wh"]) == (stop_check.total_fen, 5500)


def test_stop_sends_the_remote_stop_of_the_drivers_running_charge(
    world: DriverWorld, charging: FakeSender
) -> None:
    token = sign_in("stopper")
    order_no = dcall("POST", "/driver/charges", token, body=start_body(world, "req-stop-001")).body[
        "order_no"
    ]
    early = dcall("POST", f"/driver/charges/{order_no}/stop", token)
    mark_charging(world, order_no, "se-stop000000000000001")

    answer = dcall("POST", f"/driver/charges/{order_no}/stop", token)

    assert early.status == 409
    assert answer.status == 202, answer.body
    assert answer.body == {"order_no": order_no, "status": "pending"}
    [(connection_id, frame)] = charging.sent
    assert connection_id == f"conn-{world.a.pile_id}"
    assert frame[2] == "RemoteStopTransaction"
    assert frame[3] == {"transactionId": 7}


def test_rating_is_taken_once_after_the_charge_has_ended(
    world: DriverWorld, charging: FakeSender
) -> None:
    token = sign_in("rater")
    order_no = dcall("POST", "/driver/charges", token, body=start_body(world, "req-rate-001")).body[
        "order_no"
    ]
    too_early = dcall("PUT", f"/driver/charges/{order_no}/rating", token, body={"stars": 5})
    store = orders()
    order = store.get(order_no)
    assert order is not None
    settled_at = START + timedelta(hours=1)
    store.save(
        replace(
            order,
            state=OrderState.COMPLETED,
            paid_fen=400,
            paid_at=START,
            energy_wh=2500,
            cost_fen=338,
            consumed_fen=338,
            refund_fen=62,
            refunded_fen=62,
            refund_status="success",
            settled_at=settled_at,
        )
    )

    rated = dcall(
        "PUT", f"/driver/charges/{order_no}/rating", token, body={"stars": 4, "comment": "ok"}
    )
    again = dcall("PUT", f"/driver/charges/{order_no}/rating", token, body={"stars": 1})

    assert too_early.status == 409
    assert rated.status == 200, rated.body
    assert (rated.body["rating"], rated.body["comment"]) == (4, "ok")
    assert again.status == 409
    detail = dcall("GET", f"/driver/charges/{order_no}", token).body
    assert detail["rating"] == 4
    # the bill in the charge's detail and in the history
    bill = {
        "energy_wh": 2500,
        "cost_fen": 338,
        "consumed_fen": 338,
        "refunded_fen": 62,
        "refund_status": "success",
        "tariff_version": order.tariff_version,
        "paid_at": "2026-11-01T02:00:00.000Z",
        "settled_at": "2026-11-01T03:00:00.000Z",
    }
    assert {key: detail[key] for key in bill} == bill
    history = dcall("GET", "/driver/charges", token).body["items"]
    assert [{key: c[key] for key in bill} for c in history] == [bill]


def test_another_drivers_charge_answers_404_and_nothing_changes(
    world: DriverWorld, charging: FakeSender
) -> None:
    owner = sign_in("owner")
    order_no = dcall("POST", "/driver/charges", owner, body=start_body(world, "req-owner-01")).body[
        "order_no"
    ]
    mark_charging(world, order_no, "se-owner00000000000001")
    thief = sign_in("thief")
    before = snapshot()

    answers = [
        dcall("GET", f"/driver/charges/{order_no}", thief),
        dcall("GET", f"/driver/charges/{order_no}/live", thief),
        dcall("GET", f"/driver/charges/{order_no}/meter-values", thief),
        dcall("POST", f"/driver/charges/{order_no}/stop", thief),
        dcall("PUT", f"/driver/charges/{order_no}/rating", thief, body={"stars": 1}),
        dcall("GET", "/driver/charges/PO000000000000nothex", thief),
    ]

    assert [a.status for a in answers] == [404] * 6
    assert all(order_no not in json.dumps(a.body) for a in answers)
    assert dcall("GET", "/driver/charges", thief).body["items"] == []
    assert snapshot() == before
    assert charging.sent == []


def test_history_pages_newest_first(world: DriverWorld, charging: FakeSender) -> None:
    token = sign_in("pager")
    made = []
    for n in range(3):
        world.clock.advance(seconds=1)
        answer = dcall(
            "POST", "/driver/charges", token, body=start_body(world, f"req-page-{n:04d}")
        )
        made.append(answer.body["order_no"])

    first = dcall("GET", "/driver/charges", token, query={"limit": "2"})
    second = dcall(
        "GET",
        "/driver/charges",
        token,
        query={"limit": "2", "next_token": first.body["next_token"]},
    )

    assert [i["order_no"] for i in first.body["items"]] == made[::-1][:2]
    assert [i["order_no"] for i in second.body["items"]] == made[:1]
    assert second.body["next_token"] is None
    assert dcall("GET", "/driver/charges", token, query={"next_token": "garbage"}).status == 422
