"""The payment workflow on moto: the real ASL executed by moto's Step Functions, every task
through the real payments handler, orders and ledger in the template's LedgerTable, the
notification as API Gateway delivers it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from functions.payments import handler as payments_handler
from shared.domain.ledger import driver_wallet_id
from shared.domain.payment_orders import OrderState, money_problems
from shared.domain.payments import PaymentMethod
from shared.services.payment_workflow import start_paid_session
from shared.services.wallets import open_wallet, top_up_wallet
from tests.integration.test_payment_workflow_support import (
    PaymentWorld,
    _Context,
    payment_world,
)
from tests.unit.test_payment_workflow_fakes import OPERATOR, STATION, USER, a_request

WALLET = driver_wallet_id(OPERATOR, USER)
CLEARING = f"operator:{OPERATOR}:clearing:sandbox"
PARTNER = f"operator:{OPERATOR}:partner:{STATION}"
PLATFORM = f"operator:{OPERATOR}:platform"
REVENUE = f"operator:{OPERATOR}:revenue"


@pytest.fixture
def world() -> Iterator[PaymentWorld]:
    with payment_world() as built:
        yield built


def _start(world: PaymentWorld, order_no: str, **overrides: object) -> str:
    start_paid_session(world.ports, a_request(order_no=order_no, **overrides))
    return world.execution_arn(world.machine_arn, order_no)


def test_paid_session_succeeds_refunds_one_yuan_and_splits_three(world):
    order_no = "PO2611020200000101"
    execution = _start(world, order_no)
    world.wait_for_pay_token(order_no)
    assert world.notify(order_no, "txn-101", 400, times=2) == [200, 200]
    world.end_session(order_no, 3000)
    ended = world.wait_for_end(execution)

    assert ended["status"] == "SUCCEEDED"
    order = world.order(order_no)
    assert order.state is OrderState.COMPLETED
    assert (order.consumed_fen, order.refunded_fen) == (300, 100)
    assert (order.partner_fen, order.platform_fen) == (150, 150)
    assert money_problems(order) == []
    accounts = world.accounts()
    assert accounts[CLEARING]["balance"] == -300
    assert accounts[WALLET]["balance"] == 0 and accounts[WALLET]["held"] == 0
    assert accounts[REVENUE]["balance"] == 0
    assert accounts[PARTNER]["balance"] == 150 and accounts[PLATFORM]["balance"] == 150
    assert world.ledger_problems() == []
    refunds = world.providers[PaymentMethod.SANDBOX].refunds
    assert [(r.out_refund_no, r.refund_fen) for r in refunds.values()] == [(f"{order_no}-R1", 100)]
    output = json.loads(ended["output"])
    assert output["results"]["wait_for_paid"]["paid_fen"] == 400
    assert output["results"]["share_profit"]["partner_fen"] == 150
    assert world.invocations == [
        "create_prepay_order",
        "wait_for_paid",
        "remote_start",
        "wait_for_session_end",
        "settle_cost",
        "refund_unused",
        "share_profit",
    ]


def test_wallet_session_holds_captures_and_releases(world):
    order_no = "PO2611020200000102"
    open_wallet(
        world.ledger, account_id=WALLET, operator_id=OPERATOR, owner=USER, clock=world.ports.clock
    )
    top_up_wallet(
        world.ledger,
        account_id=WALLET,
        operator_id=OPERATOR,
        amount_fen=1000,
        reference="cash-1",
        method="cash",
        actor="test",
        clock=world.ports.clock,
    )
    execution = _start(world, order_no, method="wallet")
    world.end_session(order_no, 5000)  # 500 fen: the 400 cap is consumed
    ended = world.wait_for_end(execution)

    assert ended["status"] == "SUCCEEDED"
    order = world.order(order_no)
    assert (order.consumed_fen, order.refunded_fen) == (400, 0)
    accounts = world.accounts()
    assert accounts[WALLET]["balance"] == 600 and accounts[WALLET]["held"] == 0
    assert world.ledger_problems() == []


def test_pile_refusing_the_start_ends_failed_with_a_full_refund(world):
    order_no = "PO2611020200000103"
    world.charging.refuse = True
    execution = _start(world, order_no)
    world.wait_for_pay_token(order_no)
    world.notify(order_no, "txn-103", 400)
    ended = world.wait_for_end(execution)

    assert ended["status"] == "FAILED" and ended["error"] == "PaymentSessionFailed"
    order = world.order(order_no)
    assert (order.state, order.refunded_fen, order.failure) == (OrderState.FAILED, 400, "Conflict")
    # The task's Lambda error as Step Functions caught it: type and our message, no stack.
    assert (order.failure_detail or "").startswith("Conflict: ")
    assert "Traceback" not in order.failure_detail and "File " not in order.failure_detail
    assert world.accounts()[CLEARING]["balance"] == 0
    assert world.ledger_problems() == []


def test_pile_that_never_starts_is_refunded_in_full(world):
    order_no = "PO2611020200000104"
    execution = _start(world, order_no)
    world.wait_for_pay_token(order_no)
    world.notify(order_no, "txn-104", 400)
    token = world.wait_for_end_token(order_no)
    world.charging.never_started.add(order_no)
    cause = (
        "site_at_load_limit: the site draws 85000 W of its 100000 W transformer capacity, "
        "no new charge may start"
    )
    world.sfn.send_task_failure(taskToken=token, error="PileNeverStarted", cause=cause)
    ended = world.wait_for_end(execution)

    assert ended["status"] == "FAILED"
    order = world.order(order_no)
    assert (order.failure, order.failure_detail) == ("PileNeverStarted", cause)
    assert (order.refunded_fen, order.consumed_fen) == (400, 0)
    assert world.providers[PaymentMethod.SANDBOX].refunded_fen() == 400
    assert world.ledger_problems() == []


def test_unpaid_order_times_out_closed_and_a_late_payment_is_refunded(world):
    order_no = "PO2611020200000105"
    start_paid_session(
        world.ports_with_machine(world.short_machine_arn), a_request(order_no=order_no)
    )
    ended = world.wait_for_end(world.execution_arn(world.short_machine_arn, order_no))

    assert ended["status"] == "FAILED"
    assert world.order(order_no).state is OrderState.CLOSED
    assert world.notify(order_no, "txn-late", 400, times=3) == [200, 200, 200]
    order = world.order(order_no)
    assert order.late_refund_status == "success"
    assert world.providers[PaymentMethod.SANDBOX].refunded_fen() == 400
    assert world.accounts()[CLEARING]["balance"] == 0
    assert world.ledger_problems() == []


def test_lost_session_end_settles_by_the_last_meter_value(world):
    order_no = "PO2611020200000106"
    start_paid_session(
        world.ports_with_machine(world.short_machine_arn), a_request(order_no=order_no)
    )
    world.wait_for_pay_token(order_no)
    world.notify(order_no, "txn-106", 400)
    world.wait_for_end_token(order_no)
    world.charging.energy_wh[order_no] = 1200
    ended = world.wait_for_end(world.execution_arn(world.short_machine_arn, order_no))

    assert ended["status"] == "SUCCEEDED"
    order = world.order(order_no)
    assert (order.consumed_fen, order.refunded_fen, order.settle_basis) == (
        120,
        280,
        "session_end_lost",
    )


def _notify_event(provider: str, body: bytes, headers: dict[str, str]) -> dict[str, object]:
    return {
        "version": "2.0",
        "headers": headers,
        "pathParameters": {"provider": provider},
        "requestContext": {"http": {"method": "POST"}},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


@pytest.mark.parametrize(
    ("provider", "headers", "body", "status"),
    [
        ("sandbox", {"x-sign": "forged"}, b'{"order_no": "PO2611020200000107"}', 401),
        ("sandbox", {"x-sign": "good"}, b"{}", 400),
        ("wallet", {"x-sign": "good"}, b"{}", 404),
        ("paypal", {"x-sign": "good"}, b"{}", 404),
    ],
)
def test_refused_notification_answers_4xx_and_changes_nothing(
    world, provider, headers, body, status
):
    order_no = "PO2611020200000107"
    start_paid_session(world.ports, a_request(order_no=order_no))
    world.wait_for_pay_token(order_no)
    before, books = world.order(order_no), world.accounts()
    answer = payments_handler.lambda_handler(_notify_event(provider, body, headers), _Context())

    assert answer["statusCode"] == status
    assert json.loads(answer["body"])["code"] == "FAIL"
    assert world.order(order_no) == before
    assert world.accounts() == books


def test_malformed_task_event_fails_the_invocation(world):
    with pytest.raises(Exception) as raised:
        payments_handler.lambda_handler({"step": "nope", "state": {}}, _Context())
    assert type(raised.value).__name__ == "InvalidInput"
