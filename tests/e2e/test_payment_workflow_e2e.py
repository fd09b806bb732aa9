"""Issue 5 acceptance on the local stack: paid charging sessions end to end.

A driver pays (the sandbox provider, or the wallet), the REAL state machine runs on moto's
Step Functions with its tasks in the stack's payments function, a real OCPP pile (1.6 or
2.0.1 ``ocpp`` ChargePoint over a WebSocket) is remote-started, charges and is stopped by
the platform; then the execution's end, the provider's books (refunds) and the ledger
(wallet, clearing, revenue, partner and platform accounts) are checked.

The stack of this file runs the sandbox with ``SANDBOX_PAY_DUPLICATES=2``: every payment
notification is delivered three times (as providers do when an ack is lost), so every
provider-paid session here also proves "one credit" for a duplicated notification.

Tariff: flat 1.00 yuan per kWh (10 Wh = 1 fen); partner share 33.33 % rounded down.
"""

from __future__ import annotations

import secrets
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta

import pytest

from shared.domain.clock import LOCAL_TZ, local_day
from shared.domain.errors import InsufficientBalance
from shared.domain.ledger import driver_wallet_id
from shared.domain.payment_orders import OrderState, money_problems, new_order_no
from shared.domain.payments import PaymentMethod
from tests.e2e.conformance_support import V16, V201, OperatorApi, unique, wire_now
from tests.e2e.conftest import RunningStack, start_stack
from tests.e2e.payment_support import (
    FLAT_PERIOD,
    Charger,
    PaidSite,
    Payments,
    operator_accounts,
    poll,
)

pytestmark = pytest.mark.e2e

DUPLICATES = 2  # extra deliveries of each payment notification
PREPAID_FEN = 400
METER_START_WH = 12_000
SESSIONS_AT_ONCE = 6
HAPPY_PATH = [
    "CreatePrepayOrder",
    "WaitForPaid",
    "RemoteStart",
    "WaitForSessionEnd",
    "SettleCost",
    "RefundUnused",
    "ShareProfit",
    "Done",
]


@pytest.fixture(scope="module")
def paying_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    stack = start_stack(
        tmp_path_factory.mktemp("paying-stack"),
        env={"SANDBOX_PAY_DUPLICATES": str(DUPLICATES), "SANDBOX_PAY_SEED": "5"},
    )
    try:
        yield stack
    finally:
        code = stack.stop(signal.SIGTERM)
        assert code == 0, f"the local stack exited with {code}:\n{stack.log_tail()}"


@pytest.fixture(scope="module")
def payments(paying_stack: RunningStack) -> Iterator[Payments]:
    """The stack's payment side; after the module, the whole ledger must balance and every
    order must have ended with its money accounted for."""
    payments = Payments(paying_stack)
    yield payments
    assert payments.check_whole_ledger() > 0


@pytest.fixture(scope="module")
def api(paying_stack: RunningStack) -> OperatorApi:
    return OperatorApi(paying_stack)


@pytest.fixture
def site(api: OperatorApi) -> PaidSite:
    """A fresh operator per test: its ledger holds exactly that test's money."""
    return PaidSite.create(api, "Paid charging")


def _charge_until_stopped(charger: Charger, steps_wh: list[int], overrun_wh: int = 0) -> None:
    """Meter values at each register reading; the platform's remote stop must come after
    the last one, not before; the pile then stops ``overrun_wh`` further on."""
    for register_wh in steps_wh[:-1]:
        charger.meter(register_wh)
        charger.assert_not_stopped()
    charger.meter(steps_wh[-1])
    charger.expect_remote_stop()
    charger.stop(steps_wh[-1] + overrun_wh)


def _check_one_credit(payments: Payments, order_no: str) -> None:
    """Every delivery of the payment notification was acknowledged, one credit taken."""
    sandbox = poll(
        "all notification deliveries",
        lambda: payments.sandbox_order(order_no),
        lambda order: order["notifications_sent"] == 1 + DUPLICATES,
        30.0,
    )
    order = payments.order(order_no)
    payment = payments.transfer(f"payment:{order_no}")
    assert payment is not None
    assert (payment["amount_fen"], payment["kind"]) == (PREPAID_FEN, "top_up")
    assert sandbox["txn_id"] == order.provider_txn_id
    wallet = payments.accounts(order.operator_id)[
        driver_wallet_id(order.operator_id, order.user_id)
    ]
    credits = [
        (e["transfer_id"], e["amount_fen"]) for e in wallet["entries"] if e["amount_fen"] > 0
    ]
    assert credits == [(f"payment:{order_no}", PREPAID_FEN)]


@pytest.mark.parametrize("protocol", [V16, V201])
def test_session_stops_at_target_amount_when_driver_prepays_4_yuan(
    paying_stack: RunningStack, payments: Payments, site: PaidSite, protocol: str
) -> None:
    user_id = unique("driver")
    with Charger(paying_stack, site.new_pile(protocol), protocol) as charger:
        order = payments.start(
            site,
            charger.pile.pile_id,
            user_id=user_id,
            method=PaymentMethod.SANDBOX,
            prepaid_fen=PREPAID_FEN,
            target_mode="amount",
            target_value=300,
        )
        payments.pay(order.order_no)
        request = charger.expect_remote_start()
        assert charger.start(request, METER_START_WH) == "Accepted"
        # 3,000 Wh at 1 yuan/kWh = 3.00 yuan: the target
        _charge_until_stopped(charger, [METER_START_WH + 1_000, METER_START_WH + 3_000])
        execution = payments.finished(order.order_no)

    assert execution["status"] == "SUCCEEDED"
    assert payments.states_entered(order.order_no) == HAPPY_PATH
    assert payments.session_end(order.order_no)["stop_reason"] == "target_reached"
    done = payments.order(order.order_no)
    assert done.state is OrderState.COMPLETED
    assert (done.energy_wh, done.cost_fen, done.consumed_fen) == (3_000, 300, 300)
    assert (done.refunded_fen, done.partner_fen, done.platform_fen) == (100, 99, 201)
    assert money_problems(done) == []
    records = payments.sandbox_records(order.order_no)
    assert sorted((r["kind"], r["amount_fen"], r["reference"]) for r in records) == [
        ("payment", 400, done.provider_txn_id),
        ("refund", 100, f"{order.order_no}-R1"),
    ]
    accounts = operator_accounts(site.operator_id, site.station_id)
    balances = payments.balances(site.operator_id)
    assert balances[accounts["sandbox"]] == -300  # 4.00 in, 1.00 back out
    assert balances[accounts["revenue"]] == 0
    assert balances[accounts["partner"]] == 99
    assert balances[accounts["platform"]] == 201
    assert balances[driver_wallet_id(site.operator_id, user_id)] == 0
    rows = [row for row in site.transactions() if row["order_no"] == order.order_no]
    assert sorted((r["type"], r["amount_fen"], r["balance_after_fen"]) for r in rows) == [
        ("consume", -300, 100),
        ("prepay", 400, 400),
        ("refund", -100, 0),
    ]
    _check_one_credit(payments, order.order_no)


def test_sandbox_shares_the_partner_part_with_the_stations_receiver_when_it_has_one(
    paying_stack: RunningStack, payments: Payments, site: PaidSite, api: OperatorApi
) -> None:
    receiver = {"type": "PERSONAL_OPENID", "account": "oPartner_" + secrets.token_hex(6)}
    api.ok("PATCH", f"/operator/stations/{site.station_id}", {"partner_wechat_receiver": receiver})
    with Charger(paying_stack, site.new_pile(V16), V16) as charger:
        order = payments.start(
            site,
            charger.pile.pile_id,
            user_id=unique("driver"),
            method=PaymentMethod.SANDBOX,
            prepaid_fen=PREPAID_FEN,
            target_mode="amount",
            target_value=300,
        )
        payments.pay(order.order_no)
        assert charger.start(charger.expect_remote_start(), METER_START_WH) == "Accepted"
        _charge_until_stopped(charger, [METER_START_WH + 1_000, METER_START_WH + 3_000])
        execution = payments.finished(order.order_no)

    assert execution["status"] == "SUCCEEDED"
    done = payments.order(order.order_no)
    assert done.state is OrderState.COMPLETED
    assert (done.consumed_fen, done.partner_fen, done.platform_fen) == (300, 99, 201)
    assert (done.partner_account, done.partner_shared_fen) == (receiver["account"], 99)
    sandbox = payments.sandbox_order(order.order_no)
    assert [
        (s["out_share_no"], s["amount_fen"], s["unfreeze_rest"]) for s in sandbox["shares"]
    ] == [(f"{order.order_no}-S1", 99, True)]
    assert [(r["account"], r["amount_fen"]) for r in sandbox["shares"][0]["receivers"]] == [
        (receiver["account"], 99)
    ]
    # Added at the provider by the share step before the share (the sandbox, like WeChat
    # Pay, refuses a share to a receiver never added).
    added = payments.sandbox("GET", "/sandbox/receivers").json()
    assert {"account": receiver["account"], "type": "PERSONAL_OPENID"}.items() <= next(
        r for r in added if r["account"] == receiver["account"]
    ).items()
    assert money_problems(done) == []
    balances = payments.balances(site.operator_id)
    accounts = operator_accounts(site.operator_id, site.station_id)
    # The sandbox sent the partner its 0.99 (partner_payout): the clearing account holds the
    # operator's 2.01, and the operator owes the partner nothing more.
    assert balances[accounts["sandbox"]] == -201
    assert (balances[accounts["partner"]], balances[accounts["platform"]]) == (0, 201)


@pytest.mark.parametrize("protocol", [V16, V201])
def test_platform_stops_at_the_cap_and_refunds_nothing_when_cost_reaches_4_yuan(
    paying_stack: RunningStack, payments: Payments, site: PaidSite, protocol: str
) -> None:
    user_id = unique("driver")
    with Charger(paying_stack, site.new_pile(protocol), protocol) as charger:
        order = payments.start(
            site,
            charger.pile.pile_id,
            user_id=user_id,
            method=PaymentMethod.SANDBOX,
            prepaid_fen=PREPAID_FEN,
            target_mode="full",
            target_value=None,
        )
        payments.pay(order.order_no)
        assert charger.start(charger.expect_remote_start(), METER_START_WH) == "Accepted"
        # 4,000 Wh = 4.00 yuan: the cap; the pile draws 150 Wh more while the stop travels
        _charge_until_stopped(
            charger,
            [METER_START_WH + 2_000, METER_START_WH + 3_900, METER_START_WH + 4_000],
            overrun_wh=150,
        )
        execution = payments.finished(order.order_no)

    assert execution["status"] == "SUCCEEDED"
    assert payments.states_entered(order.order_no) == HAPPY_PATH
    assert payments.session_end(order.order_no)["stop_reason"] == "cap_reached"
    done = payments.order(order.order_no)
    assert done.state is OrderState.COMPLETED
    assert (done.energy_wh, done.cost_fen, done.consumed_fen) == (4_150, 415, 400)
    assert (done.refunded_fen, done.partner_fen, done.platform_fen) == (0, 133, 267)
    assert money_problems(done) == []
    records = payments.sandbox_records(order.order_no)
    assert [(r["kind"], r["amount_fen"]) for r in records] == [("payment", 400)]
    accounts = operator_accounts(site.operator_id, site.station_id)
    balances = payments.balances(site.operator_id)
    assert balances[accounts["sandbox"]] == -400
    assert (balances[accounts["partner"]], balances[accounts["platform"]]) == (133, 267)
    assert balances[accounts["revenue"]] == 0
    assert balances[driver_wallet_id(site.operator_id, user_id)] == 0
    _check_one_credit(payments, order.order_no)


@pytest.mark.parametrize("protocol", [V16, V201])
def test_prepay_is_refunded_in_full_when_the_pile_rejects_the_remote_start(
    paying_stack: RunningStack, payments: Payments, site: PaidSite, protocol: str
) -> None:
    user_id = unique("driver")
    with Charger(paying_stack, site.new_pile(protocol), protocol) as charger:
        charger.refuse_remote_start()
        order = payments.start(
            site,
            charger.pile.pile_id,
            user_id=user_id,
            method=PaymentMethod.SANDBOX,
            prepaid_fen=PREPAID_FEN,
            target_mode="amount",
            target_value=300,
        )
        payments.pay(order.order_no)
        charger.expect_remote_start()
        execution = payments.finished(order.order_no)

    assert execution["status"] == "FAILED"
    assert payments.states_entered(order.order_no) == [
        "CreatePrepayOrder",
        "WaitForPaid",
        "RemoteStart",
        "WaitForSessionEnd",
        "FullRefundOrCancel",
        "Failed",
    ]
    assert "PileNeverStarted" in payments.errors(order.order_no)
    done = payments.order(order.order_no)
    assert done.state is OrderState.FAILED
    assert done.failure == "PileNeverStarted"
    assert "Rejected" in (done.failure_detail or "")  # why, kept on the order
    assert (done.consumed_fen, done.refunded_fen, done.partner_fen) == (0, 400, 0)
    assert money_problems(done) == []
    records = payments.sandbox_records(order.order_no)
    assert sorted((r["kind"], r["amount_fen"]) for r in records) == [
        ("payment", 400),
        ("refund", 400),
    ]
    accounts = operator_accounts(site.operator_id, site.station_id)
    balances = payments.balances(site.operator_id)
    assert balances[accounts["sandbox"]] == 0
    assert balances.get(accounts["revenue"], 0) == 0
    assert balances.get(accounts["partner"], 0) == 0
    assert balances[driver_wallet_id(site.operator_id, user_id)] == 0
    _check_one_credit(payments, order.order_no)


def test_payment_is_credited_once_when_the_notification_is_delivered_three_times(
    paying_stack: RunningStack, payments: Payments, site: PaidSite
) -> None:
    user_id = unique("driver")
    with Charger(paying_stack, site.new_pile(V16), V16) as charger:
        order = payments.start(
            site,
            charger.pile.pile_id,
            user_id=user_id,
            method=PaymentMethod.SANDBOX,
            prepaid_fen=PREPAID_FEN,
            target_mode="amount",
            target_value=300,
        )
        payments.pay(order.order_no)
        assert charger.start(charger.expect_remote_start(), METER_START_WH) == "Accepted"
        # every delivery has been acknowledged before the charge goes on
        _check_one_credit(payments, order.order_no)
        _charge_until_stopped(charger, [METER_START_WH + 3_000])
        execution = payments.finished(order.order_no)

    assert execution["status"] == "SUCCEEDED", payments.states_entered(order.order_no)
    done = payments.order(order.order_no)
    assert (done.paid_fen, done.consumed_fen, done.refunded_fen) == (400, 300, 100)
    rows = [row for row in site.transactions() if row["order_no"] == order.order_no]
    assert [row["amount_fen"] for row in rows if row["type"] == "prepay"] == [400]
    books = payments.balances(site.operator_id)
    assert books[driver_wallet_id(site.operator_id, user_id)] == 0

    # a copy that is not the provider's (forged signature) is refused and changes nothing
    forged = payments.forged_notification(order.order_no, amount_fen=PREPAID_FEN)
    assert forged.status_code == 401, forged.text
    assert payments.balances(site.operator_id) == books
    assert payments.order(order.order_no) == done


def test_wallet_payment_holds_captures_and_splits_when_the_driver_pays_from_the_wallet(
    paying_stack: RunningStack, payments: Payments, site: PaidSite
) -> None:
    user_id = unique("driver")
    payments.open_wallet(site, user_id)
    topped_up = site.top_up_driver(user_id, 1_000)
    assert (topped_up["balance_fen"], topped_up["available_fen"]) == (1_000, 1_000)
    with Charger(paying_stack, site.new_pile(V201), V201) as charger:
        order = payments.start(
            site,
            charger.pile.pile_id,
            user_id=user_id,
            method=PaymentMethod.WALLET,
            prepaid_fen=PREPAID_FEN,
            target_mode="amount",
            target_value=300,
        )
        request = charger.expect_remote_start()
        held = site.driver_wallet(user_id)
        assert (held["balance_fen"], held["held_fen"], held["available_fen"]) == (1_000, 400, 600)
        assert charger.start(request, METER_START_WH) == "Accepted"
        _charge_until_stopped(charger, [METER_START_WH + 1_500, METER_START_WH + 3_000])
        execution = payments.finished(order.order_no)

    assert execution["status"] == "SUCCEEDED", payments.states_entered(order.order_no)
    done = payments.order(order.order_no)
    assert done.state is OrderState.COMPLETED
    assert (done.consumed_fen, done.partner_fen, done.platform_fen) == (300, 99, 201)
    assert money_problems(done) == []
    assert payments.sandbox("GET", f"/sandbox/orders/{order.order_no}").status_code == 404
    wallet = site.driver_wallet(user_id)
    assert (wallet["balance_fen"], wallet["held_fen"], wallet["available_fen"]) == (700, 0, 700)
    accounts = operator_accounts(site.operator_id, site.station_id)
    balances = payments.balances(site.operator_id)
    assert balances[driver_wallet_id(site.operator_id, user_id)] == 700
    assert (balances[accounts["partner"]], balances[accounts["platform"]]) == (99, 201)
    assert balances[accounts["revenue"]] == 0
    assert accounts["sandbox"] not in balances


@pytest.mark.parametrize("protocol", [V16, V201])
def test_unused_part_is_refunded_when_the_pile_stops_before_the_target(
    paying_stack: RunningStack, payments: Payments, site: PaidSite, protocol: str
) -> None:
    user_id = unique("driver")
    with Charger(paying_stack, site.new_pile(protocol), protocol) as charger:
        order = payments.start(
            site,
            charger.pile.pile_id,
            user_id=user_id,
            method=PaymentMethod.SANDBOX,
            prepaid_fen=PREPAID_FEN,
            target_mode="amount",
            target_value=300,
        )
        payments.pay(order.order_no)
        assert charger.start(charger.expect_remote_start(), METER_START_WH) == "Accepted"
        charger.meter(METER_START_WH + 1_000)
        charger.assert_not_stopped()
        charger.stop(METER_START_WH + 1_500, reason="EVDisconnected")  # the driver unplugs
        execution = payments.finished(order.order_no)

    assert execution["status"] == "SUCCEEDED"
    assert payments.states_entered(order.order_no) == HAPPY_PATH
    end = payments.session_end(order.order_no)
    assert (end["energy_wh"], end["stop_reason"]) == (1_500, "EVDisconnected")
    done = payments.order(order.order_no)
    assert (done.energy_wh, done.consumed_fen, done.refunded_fen) == (1_500, 150, 250)
    assert (done.partner_fen, done.platform_fen) == (49, 101)
    assert money_problems(done) == []
    records = payments.sandbox_records(order.order_no)
    assert sorted((r["kind"], r["amount_fen"]) for r in records) == [
        ("payment", 400),
        ("refund", 250),
    ]
    accounts = operator_accounts(site.operator_id, site.station_id)
    balances = payments.balances(site.operator_id)
    assert balances[accounts["sandbox"]] == -150
    assert (balances[accounts["partner"]], balances[accounts["platform"]]) == (49, 101)
    assert balances[driver_wallet_id(site.operator_id, user_id)] == 0
    _check_one_credit(payments, order.order_no)


def test_retried_start_opens_one_execution_and_refunds_in_full_when_the_pile_is_offline(
    paying_stack: RunningStack, payments: Payments, site: PaidSite
) -> None:
    user_id = unique("driver")
    pile_id = site.new_pile(V16)  # registered, never connected
    order = payments.start(
        site,
        pile_id,
        user_id=user_id,
        method=PaymentMethod.SANDBOX,
        prepaid_fen=PREPAID_FEN,
        target_mode="full",
        target_value=None,
    )
    retried = payments.start(
        site,
        pile_id,
        user_id=user_id,
        method=PaymentMethod.SANDBOX,
        prepaid_fen=PREPAID_FEN,
        target_mode="full",
        target_value=None,
        order_no=order.order_no,
    )
    assert retried.order_no == order.order_no
    payments.pay(order.order_no)
    execution = payments.finished(order.order_no)

    assert payments.executions_named(order.order_no) == [execution["executionArn"]]
    assert execution["status"] == "FAILED"
    assert payments.states_entered(order.order_no) == [
        "CreatePrepayOrder",
        "WaitForPaid",
        "RemoteStart",
        "FullRefundOrCancel",
        "Failed",
    ]
    done = payments.order(order.order_no)
    assert (done.state, done.consumed_fen, done.refunded_fen) == (OrderState.FAILED, 0, 400)
    assert money_problems(done) == []
    records = payments.sandbox_records(order.order_no)
    assert sorted((r["kind"], r["amount_fen"]) for r in records) == [
        ("payment", 400),
        ("refund", 400),
    ]
    balances = payments.balances(site.operator_id)
    assert balances[operator_accounts(site.operator_id, site.station_id)["sandbox"]] == 0
    assert balances[driver_wallet_id(site.operator_id, user_id)] == 0
    _check_one_credit(payments, order.order_no)


def test_wallet_hold_is_released_when_the_pile_rejects_the_remote_start(
    paying_stack: RunningStack, payments: Payments, site: PaidSite
) -> None:
    user_id = unique("driver")
    payments.open_wallet(site, user_id)
    site.top_up_driver(user_id, 500)
    with Charger(paying_stack, site.new_pile(V16), V16) as charger:
        charger.refuse_remote_start()
        order = payments.start(
            site,
            charger.pile.pile_id,
            user_id=user_id,
            method=PaymentMethod.WALLET,
            prepaid_fen=PREPAID_FEN,
            target_mode="full",
            target_value=None,
        )
        charger.expect_remote_start()
        execution = payments.finished(order.order_no)

    assert execution["status"] == "FAILED"
    assert "PileNeverStarted" in payments.errors(order.order_no)
    done = payments.order(order.order_no)
    assert (done.state, done.consumed_fen) == (OrderState.FAILED, 0)
    assert money_problems(done) == []
    wallet = site.driver_wallet(user_id)
    assert (wallet["balance_fen"], wallet["held_fen"], wallet["available_fen"]) == (500, 0, 500)
    balances = payments.balances(site.operator_id)
    assert balances[driver_wallet_id(site.operator_id, user_id)] == 500
    assert balances.get(operator_accounts(site.operator_id, site.station_id)["revenue"], 0) == 0


def test_daily_reconciliation_is_balanced_when_sessions_were_paid_refunded_and_split(
    paying_stack: RunningStack, payments: Payments, site: PaidSite
) -> None:
    orders = []
    with Charger(paying_stack, site.new_pile(V16), V16) as charger:
        for refuse in (False, True):
            if refuse:
                charger.refuse_remote_start()
            order = payments.start(
                site,
                charger.pile.pile_id,
                user_id=unique("driver"),
                method=PaymentMethod.SANDBOX,
                prepaid_fen=PREPAID_FEN,
                target_mode="amount",
                target_value=300,
            )
            payments.pay(order.order_no)
            request = charger.expect_remote_start()
            if not refuse:
                assert charger.start(request, METER_START_WH) == "Accepted"
                _charge_until_stopped(charger, [METER_START_WH + 3_000])
            payments.finished(order.order_no)
            orders.append(payments.order(order.order_no))
    paid_on = local_day(orders[0].created_at).isoformat()

    job = payments.reconcile(paid_on)
    report = site.api.ok(
        "GET", f"/operator/reconciliation/{paid_on}?operator_id={site.operator_id}"
    )

    assert "error" not in job, job
    assert report["is_balanced"], report
    assert (report["differences"], report["differences_total"]) == ([], 0)
    (sandbox,) = [m for m in report["methods"] if m["method"] == "sandbox"]
    assert sandbox["status"] == "compared"
    # two payments of 4.00; refunds 1.00 (unused) + 4.00 (never started)
    assert (sandbox["ledger_payments_fen"], sandbox["provider_payments_fen"]) == (800, 800)
    assert (sandbox["ledger_refunds_fen"], sandbox["provider_refunds_fen"]) == (500, 500)
    assert sandbox["matched_count"] == sandbox["provider_count"] == 4


def test_wallet_payment_is_refused_and_nothing_starts_when_the_balance_is_short(
    payments: Payments, site: PaidSite
) -> None:
    user_id = unique("driver")
    payments.open_wallet(site, user_id)
    site.top_up_driver(user_id, 399)
    pile_id = site.new_pile(V16)
    order_no = new_order_no(datetime.now(UTC), secrets.token_hex(6))

    with pytest.raises(InsufficientBalance):
        payments.start(
            site,
            pile_id,
            user_id=user_id,
            method=PaymentMethod.WALLET,
            prepaid_fen=PREPAID_FEN,
            target_mode="full",
            target_value=None,
            order_no=order_no,
        )

    assert payments.ports.orders.get(order_no) is None
    assert payments.executions_named(order_no) == []
    wallet = site.driver_wallet(user_id)
    assert (wallet["balance_fen"], wallet["held_fen"]) == (399, 0)


@pytest.mark.parametrize("protocol", [V16, V201])
def test_platform_stops_over_the_new_connection_when_the_pile_reconnected_mid_charge(
    paying_stack: RunningStack, payments: Payments, site: PaidSite, protocol: str
) -> None:
    user_id = unique("driver")
    with Charger(paying_stack, site.new_pile(protocol), protocol) as charger:
        order = payments.start(
            site,
            charger.pile.pile_id,
            user_id=user_id,
            method=PaymentMethod.SANDBOX,
            prepaid_fen=PREPAID_FEN,
            target_mode="energy",
            target_value=2_500,
        )
        payments.pay(order.order_no)
        assert charger.start(charger.expect_remote_start(), METER_START_WH) == "Accepted"
        charger.meter(METER_START_WH + 1_000)
        charger.reconnect()
        _charge_until_stopped(charger, [METER_START_WH + 2_000, METER_START_WH + 2_500])
        execution = payments.finished(order.order_no)

    assert execution["status"] == "SUCCEEDED"
    assert payments.session_end(order.order_no)["stop_reason"] == "target_reached"
    done = payments.order(order.order_no)
    assert (done.energy_wh, done.consumed_fen, done.refunded_fen) == (2_500, 250, 150)
    assert (done.partner_fen, done.platform_fen) == (83, 167)
    assert money_problems(done) == []
    assert payments.balances(site.operator_id)[driver_wallet_id(site.operator_id, user_id)] == 0
    _check_one_credit(payments, order.order_no)


def test_two_guns_of_one_pile_each_stop_at_their_own_target_when_both_are_paid(
    paying_stack: RunningStack, payments: Payments, site: PaidSite
) -> None:
    drivers = [unique("driver"), unique("driver")]
    targets_fen = {1: 300, 2: 200}
    orders = {}
    with Charger(paying_stack, site.new_pile(V16), V16) as charger:
        for gun_no, user_id in zip((1, 2), drivers, strict=True):
            order = payments.start(
                site,
                charger.pile.pile_id,
                user_id=user_id,
                method=PaymentMethod.SANDBOX,
                prepaid_fen=PREPAID_FEN,
                target_mode="amount",
                target_value=targets_fen[gun_no],
                gun_no=gun_no,
            )
            payments.pay(order.order_no)
            request = charger.expect_remote_start()
            assert request["connector_id"] == gun_no
            assert charger.start(request, METER_START_WH * gun_no) == "Accepted"
            orders[gun_no] = order
        # interleaved readings; gun 2 reaches its 2.00 first
        charger.meter(METER_START_WH + 1_000, gun_no=1)
        charger.meter(2 * METER_START_WH + 1_000, gun_no=2)
        charger.assert_not_stopped()
        charger.meter(2 * METER_START_WH + 2_000, gun_no=2)
        charger.expect_remote_stop(gun_no=2)
        charger.meter(METER_START_WH + 2_000, gun_no=1)
        charger.assert_not_stopped()
        charger.stop(2 * METER_START_WH + 2_000, gun_no=2)
        charger.meter(METER_START_WH + 3_000, gun_no=1)
        charger.expect_remote_stop(gun_no=1)
        charger.stop(METER_START_WH + 3_000, gun_no=1)
        executions = {gun: payments.finished(o.order_no) for gun, o in orders.items()}

    for gun_no, order in orders.items():
        assert executions[gun_no]["status"] == "SUCCEEDED", gun_no
        done = payments.order(order.order_no)
        expected_fen = targets_fen[gun_no]
        assert (done.consumed_fen, done.refunded_fen) == (expected_fen, 400 - expected_fen)
        assert done.energy_wh == expected_fen * 10
        assert money_problems(done) == []
        _check_one_credit(payments, order.order_no)
    accounts = operator_accounts(site.operator_id, site.station_id)
    balances = payments.balances(site.operator_id)
    assert balances[accounts["sandbox"]] == -500
    assert balances[accounts["partner"]] + balances[accounts["platform"]] == 500
    assert balances[accounts["partner"]] == 99 + 66


def _local_wire(day: date, clock_time: time) -> str:
    """The OCPP timestamp of a local (Asia/Shanghai) moment."""
    moment = datetime.combine(day, clock_time, tzinfo=LOCAL_TZ).astimezone(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.mark.parametrize("protocol", [V16, V201])
def test_cost_is_priced_per_period_when_the_session_crosses_a_tariff_boundary(
    paying_stack: RunningStack, payments: Payments, api: OperatorApi, protocol: str
) -> None:
    # valley until 12:00 local at 0.50 yuan/kWh, peak after at 1.50
    site = PaidSite.create(
        api,
        "Time of use",
        periods=[
            {
                "kind": "valley",
                "start": "00:00",
                "end": "12:00",
                "electricity_fen_per_kwh": 30,
                "service_fen_per_kwh": 20,
            },
            {
                "kind": "peak",
                "start": "12:00",
                "end": "24:00",
                "electricity_fen_per_kwh": 100,
                "service_fen_per_kwh": 50,
            },
        ],
    )
    # the pile's clock: yesterday around noon (a session handed in late is priced by it)
    day = local_day(datetime.now(UTC)) - timedelta(days=1)
    user_id = unique("driver")
    with Charger(paying_stack, site.new_pile(protocol), protocol) as charger:
        order = payments.start(
            site,
            charger.pile.pile_id,
            user_id=user_id,
            method=PaymentMethod.SANDBOX,
            prepaid_fen=PREPAID_FEN,
            target_mode="amount",
            target_value=250,
        )
        payments.pay(order.order_no)
        request = charger.expect_remote_start()
        assert charger.start(request, METER_START_WH, at=_local_wire(day, time(11, 40))) == (
            "Accepted"
        )
        # 2,000 Wh in the valley = 1.00; at the flat 1.50 it would already be 3.00
        charger.meter(METER_START_WH + 2_000, at=_local_wire(day, time(12, 0)))
        charger.assert_not_stopped()
        # + 1,000 Wh at peak = 1.50: 2.50 in all, the target
        charger.meter(METER_START_WH + 3_000, at=_local_wire(day, time(12, 10)))
        charger.expect_remote_stop()
        charger.stop(METER_START_WH + 3_000, at=_local_wire(day, time(12, 11)))
        execution = payments.finished(order.order_no)

    assert execution["status"] == "SUCCEEDED"
    done = payments.order(order.order_no)
    assert (done.energy_wh, done.cost_fen, done.consumed_fen) == (3_000, 250, 250)
    assert (done.refunded_fen, done.partner_fen, done.platform_fen) == (150, 83, 167)
    assert money_problems(done) == []
    # the bill kept on the order: one line per period crossed, summing to the cost
    assert [(x.period_kind.value, x.energy_wh, x.amount_fen) for x in done.bill_lines] == [
        ("valley", 2_000, 100),
        ("peak", 1_000, 150),
    ]
    assert done.bill_lines[0].ends_at == done.bill_lines[1].starts_at
    assert payments.balances(site.operator_id)[driver_wallet_id(site.operator_id, user_id)] == 0


def test_session_is_settled_at_the_tariff_version_it_started_under_when_prices_change(
    paying_stack: RunningStack, payments: Payments, site: PaidSite
) -> None:
    user_id = unique("driver")
    with Charger(paying_stack, site.new_pile(V16), V16) as charger:
        order = payments.start(
            site,
            charger.pile.pile_id,
            user_id=user_id,
            method=PaymentMethod.SANDBOX,
            prepaid_fen=PREPAID_FEN,
            target_mode="amount",
            target_value=300,
        )
        payments.pay(order.order_no)
        assert charger.start(charger.expect_remote_start(), METER_START_WH) == "Accepted"
        charger.meter(METER_START_WH + 1_000)
        doubled = {**FLAT_PERIOD, "electricity_fen_per_kwh": 120, "service_fen_per_kwh": 80}
        changed = site.api.ok(
            "PATCH", f"/operator/tariffs/{site.tariff_id}", {"periods": [doubled]}
        )
        assert changed["version"] == 2
        # 2,000 Wh: 2.00 under version 1 (4.00 under version 2, which would stop it here)
        _charge_until_stopped(charger, [METER_START_WH + 2_000, METER_START_WH + 3_000])
        execution = payments.finished(order.order_no)

    assert execution["status"] == "SUCCEEDED"
    done = payments.order(order.order_no)
    assert done.tariff_version == 1
    assert (done.energy_wh, done.cost_fen, done.consumed_fen, done.refunded_fen) == (
        3_000,
        300,
        300,
        100,
    )
    assert money_problems(done) == []


@pytest.mark.parametrize("protocol", [V16, V201])
def test_platform_stops_at_the_time_target_and_a_repeated_stop_changes_nothing(
    paying_stack: RunningStack, payments: Payments, site: PaidSite, protocol: str
) -> None:
    user_id = unique("driver")
    with Charger(paying_stack, site.new_pile(protocol), protocol) as charger:
        order = payments.start(
            site,
            charger.pile.pile_id,
            user_id=user_id,
            method=PaymentMethod.SANDBOX,
            prepaid_fen=PREPAID_FEN,
            target_mode="time",
            target_value=600,  # 10 minutes by the pile's clock
        )
        payments.pay(order.order_no)
        request = charger.expect_remote_start()
        assert charger.start(request, METER_START_WH, at=wire_now(-900)) == "Accepted"
        charger.meter(METER_START_WH + 500, at=wire_now(-600))
        charger.assert_not_stopped()
        charger.meter(METER_START_WH + 1_100, at=wire_now(-290))  # 610 s in
        charger.expect_remote_stop()
        charger.stop(METER_START_WH + 1_200, at=wire_now(-280))
        execution = payments.finished(order.order_no)
        books = payments.balances(site.operator_id)
        done = payments.order(order.order_no)
        charger.repeat_stop()

    assert execution["status"] == "SUCCEEDED"
    assert payments.session_end(order.order_no)["stop_reason"] == "target_reached"
    assert (done.energy_wh, done.consumed_fen, done.refunded_fen) == (1_200, 120, 280)
    assert money_problems(done) == []
    assert payments.order(order.order_no) == done
    assert payments.balances(site.operator_id) == books
    assert payments.execution(order.order_no)["status"] == "SUCCEEDED"


def test_concurrent_paid_sessions_on_many_piles_each_settle_exactly(
    paying_stack: RunningStack, payments: Payments, site: PaidSite
) -> None:
    piles = [site.new_pile(V16 if n % 2 else V201) for n in range(SESSIONS_AT_ONCE)]

    def charge(n: int) -> str:
        protocol = V16 if n % 2 else V201
        with Charger(paying_stack, piles[n], protocol) as charger:
            order = payments.start(
                site,
                charger.pile.pile_id,
                user_id=f"driver-{n}-{site.operator_id[-6:]}",
                method=PaymentMethod.SANDBOX,
                prepaid_fen=PREPAID_FEN,
                target_mode="amount",
                target_value=100 + 10 * n,
            )
            payments.pay(order.order_no)
            assert charger.start(charger.expect_remote_start(), METER_START_WH) == "Accepted"
            _charge_until_stopped(charger, [METER_START_WH + 1_000 + 100 * n])
            payments.finished(order.order_no)
            return order.order_no

    with ThreadPoolExecutor(SESSIONS_AT_ONCE) as pool:
        order_nos = list(pool.map(charge, range(SESSIONS_AT_ONCE)))

    consumed = 0
    for n, order_no in enumerate(order_nos):
        assert payments.execution(order_no)["status"] == "SUCCEEDED", n
        done = payments.order(order_no)
        assert (done.consumed_fen, done.refunded_fen) == (100 + 10 * n, 300 - 10 * n), n
        assert money_problems(done) == []
        _check_one_credit(payments, order_no)
        consumed += done.consumed_fen
    accounts = operator_accounts(site.operator_id, site.station_id)
    balances = payments.balances(site.operator_id)
    assert balances[accounts["sandbox"]] == -consumed
    assert balances[accounts["partner"]] + balances[accounts["platform"]] == consumed
    assert balances[accounts["revenue"]] == 0
