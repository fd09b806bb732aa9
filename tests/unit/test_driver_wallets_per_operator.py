"""A driver keeps one wallet per operator (``driver:{operator_id}:{user_id}``): paying at
operator A's station and then at operator B's (by provider and from a B wallet topped up
at B's station) both succeed, on two wallets, with balanced books. On fakes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.domain.errors import InvalidInput, NotFound
from shared.domain.ledger import driver_of_wallet, driver_wallet_id
from shared.domain.payment_orders import OrderState, money_problems
from shared.domain.payments import PaymentMethod
from shared.services import driver_wallets
from shared.services.payment_workflow import record_payment_notice, run_step, start_paid_session
from tests.unit.test_payment_workflow_fakes import (
    FLAT_TARIFF,
    GOOD_HEADERS,
    OPERATOR,
    PILE,
    STATION,
    a_request,
    notice_body,
    task,
)
from tests.unit.test_wallet_topups import USER, TopUpWorld, a_topup

OPERATOR_B = "op-b"
STATION_B = "st-b"
PILE_B = "CP-B-1"
TARIFF_B = "tf-b"


def two_operators() -> TopUpWorld:
    world = TopUpWorld()
    data = world.base_data
    data.stations[STATION_B] = replace(
        data.stations[STATION], station_id=STATION_B, operator_id=OPERATOR_B, tariff_id=TARIFF_B
    )
    data.piles[PILE_B] = replace(
        data.piles[PILE], pile_id=PILE_B, operator_id=OPERATOR_B, station_id=STATION_B
    )
    data.tariffs[(TARIFF_B, 1)] = replace(FLAT_TARIFF, tariff_id=TARIFF_B, operator_id=OPERATOR_B)
    return world


def charge(world: TopUpWorld, order_no: str, method: str, *, at_b: bool, energy_wh: int) -> None:
    """Start a paid session, pay it (a provider), charge ``energy_wh`` and settle."""
    place = (
        {"operator_id": OPERATOR_B, "station_id": STATION_B, "pile_id": PILE_B}
        if at_b
        else {"operator_id": OPERATOR, "station_id": STATION, "pile_id": PILE}
    )
    start_paid_session(
        world.ports,
        a_request(order_no=order_no, user_id=USER, method=method, **place),
    )
    run_step(world.ports, task("create_prepay_order", order_no))
    run_step(world.ports, task("wait_for_paid", order_no, f"tok-paid-{order_no}"))
    if method != "wallet":
        answer = record_payment_notice(
            world.ports,
            PaymentMethod(method),
            GOOD_HEADERS,
            notice_body(order_no, f"txn-{order_no}", 400),
        )
        assert answer[0] == 200
    run_step(world.ports, task("remote_start", order_no))
    run_step(world.ports, task("wait_for_session_end", order_no, f"tok-end-{order_no}"))
    world.charging.energy_wh[order_no] = energy_wh
    for step in ("settle_cost", "refund_unused", "share_profit"):
        run_step(world.ports, task(step, order_no))
    done = world.orders.get(order_no)
    assert done is not None and done.state is OrderState.COMPLETED
    assert money_problems(done) == []


def test_a_driver_who_paid_at_one_operator_pays_at_another_by_provider_and_wallet() -> None:
    world = two_operators()
    wallet_a = driver_wallet_id(OPERATOR, USER)
    wallet_b = driver_wallet_id(OPERATOR_B, USER)

    charge(world, "PO2611020200000001", "sandbox", at_b=False, energy_wh=3000)
    charge(world, "PO2611020200000002", "sandbox", at_b=True, energy_wh=2000)
    topup = a_topup(world, station_id=STATION_B, amount_fen=1_000)
    assert topup.operator_id == OPERATOR_B
    world.notify(topup.order_no, "sbx-top", 1_000)
    charge(world, "PO2611020200000003", "wallet", at_b=True, energy_wh=1000)

    wallets = {
        a.account_id: a.operator_id
        for a in world.ledger.accounts.values()
        if driver_of_wallet(a.account_id) == USER
    }
    assert wallets == {wallet_a: OPERATOR, wallet_b: OPERATOR_B}
    assert world.balance(wallet_a) == 0 and world.held(wallet_a) == 0
    assert world.balance(wallet_b) == 900 and world.held(wallet_b) == 0  # 1000 - 100 consumed
    assert world.balance(f"operator:{OPERATOR}:clearing:sandbox") == -300
    assert world.balance(f"operator:{OPERATOR_B}:clearing:sandbox") == -200 - 1_000
    assert world.ledger_problems() == []

    view_b = driver_wallets.wallet_of(world.ledger, OPERATOR_B, USER)
    assert (view_b.operator_id, view_b.available_fen) == (OPERATOR_B, 900)
    assert driver_wallets.wallet_of(world.ledger, OPERATOR, USER).balance_fen == 0
    entries, _ = driver_wallets.wallet_entries(
        world.ledger, OPERATOR_B, USER, limit=20, cursor=None
    )
    assert {e.account_id for e in entries} == {wallet_b}


def test_the_driver_names_a_wallet_by_operator_or_station() -> None:
    world = two_operators()
    stations = world.base_data
    assert (
        driver_wallets.wallet_operator(stations, operator_id=None, station_id=STATION_B)
        == OPERATOR_B
    )
    assert driver_wallets.wallet_operator(stations, operator_id="op-x", station_id=None) == "op-x"
    with pytest.raises(InvalidInput):
        driver_wallets.wallet_operator(stations, operator_id=None, station_id=None)
    with pytest.raises(InvalidInput):
        driver_wallets.wallet_operator(stations, operator_id=OPERATOR, station_id=STATION)
    with pytest.raises(NotFound):
        driver_wallets.wallet_operator(stations, operator_id=None, station_id="st-missing")
    # A wallet never opened is empty, not an error; a malformed operator id is refused.
    empty = driver_wallets.wallet_of(world.ledger, "op-x", USER)
    assert (empty.balance_fen, empty.held_fen, empty.is_frozen) == (0, 0, False)
    with pytest.raises(InvalidInput):
        driver_wallets.wallet_of(world.ledger, "op:x", USER)
    assert world.ledger.accounts == {}


def test_wallet_ids_name_the_operator_and_give_back_the_driver() -> None:
    assert driver_wallet_id("op-1", "u-1") == "driver:op-1:u-1"
    assert driver_of_wallet("driver:op-1:u-1") == "u-1"
    assert driver_of_wallet("card:C-1") is None
    for bad in ("", "op:1", "op 1", "o" * 65):
        with pytest.raises(InvalidInput):
            driver_wallet_id(bad, "u-1")
