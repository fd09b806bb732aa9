"""Issue 6 "Wallet: top-up (provider prepay)" on the local stack: a new driver signs in, tops
up 50.00 yuan with the sandbox provider (the app's confirm), and the wallet holds 50.00
once, although the sandbox of this file delivers every payment notification
``1 + DUPLICATES`` times (as providers do when an ack is lost)."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from shared.domain.ledger import clearing_account_id, driver_wallet_id
from tests.e2e.conformance_support import OperatorApi, unique
from tests.e2e.conftest import RunningStack, start_stack
from tests.e2e.payment_support import TIMEOUT_S, PaidSite, Payments, poll
from tests.e2e.test_driver_api_e2e import Driver

pytestmark = pytest.mark.e2e

DUPLICATES = 3
AMOUNT_FEN = 5_000


@pytest.fixture(scope="module")
def topup_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    stack = start_stack(
        tmp_path_factory.mktemp("topup-stack"),
        env={"SANDBOX_PAY_DUPLICATES": str(DUPLICATES), "SANDBOX_PAY_SEED": "7"},
    )
    try:
        yield stack
    finally:
        code = stack.stop(signal.SIGTERM)
        assert code == 0, f"the local stack exited with {code}:\n{stack.log_tail()}"


def test_a_driver_tops_up_50_yuan_by_the_sandbox_and_is_credited_once(
    topup_stack: RunningStack,
) -> None:
    site = PaidSite.create(OperatorApi(topup_stack), "Top-up")
    payments = Payments(topup_stack)
    driver = Driver(topup_stack)
    signed = driver.sign_in(unique("topup"))
    user_id = signed["user_id"]
    request = {
        "request_id": unique("topup-req"),
        "amount_fen": AMOUNT_FEN,
        "method": "sandbox",
        "station_id": site.station_id,
    }
    opened = driver.ok("POST", "/driver/wallet/top-ups", request)
    order_no = opened["order_no"]
    assert (opened["state"], opened["amount_fen"]) == ("created", AMOUNT_FEN)
    assert opened["client_params"]
    assert driver.ok("POST", "/driver/wallet/top-ups", request)["order_no"] == order_no

    payments.pay(order_no)
    sandbox = poll(
        "every notification delivered",
        lambda: payments.sandbox_order(order_no),
        lambda order: order["notifications_sent"] == 1 + DUPLICATES,
        TIMEOUT_S,
    )
    paid = poll(
        "the top-up paid",
        lambda: driver.ok("GET", f"/driver/wallet/top-ups/{order_no}"),
        lambda topup: topup["state"] == "paid",
        TIMEOUT_S,
    )
    assert paid["paid_at"] is not None
    wallet = driver.ok("GET", "/driver/wallet", station_id=site.station_id)
    assert (wallet["operator_id"], wallet["balance_fen"]) == (site.operator_id, AMOUNT_FEN)
    statement = driver.ok("GET", "/driver/wallet/entries", operator_id=site.operator_id)["items"]
    assert [(e["transfer_id"], e["amount_fen"]) for e in statement] == [
        (f"topup:{order_no}", AMOUNT_FEN)
    ]
    history = driver.ok("GET", "/driver/wallet/top-ups")["items"]
    assert [(t["order_no"], t["state"]) for t in history] == [(order_no, "paid")]
    balances = payments.balances(site.operator_id)
    assert balances[driver_wallet_id(site.operator_id, user_id)] == AMOUNT_FEN
    assert balances[clearing_account_id(site.operator_id, "sandbox")] == -AMOUNT_FEN
    assert sandbox["status"] == "paid"
