"""The payment-order store on moto: the item round-trips, a stale revision loses, a number is
created once, an operator's orders list newest first from GSI1."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import timedelta

import boto3
import pytest

from shared.adapters.dynamodb.payment_orders import DynamoPaymentOrders
from shared.domain.errors import InvalidInput
from shared.domain.payment_orders import (
    SettleBasis,
    new_order,
    record_paid,
    record_started,
    settle,
    with_pay_token,
    with_prepay,
)
from tests.unit.test_payment_workflow_fakes import T0


def _order(order_no: str = "PO2611020200000201", operator: str = "op-a", minutes: int = 0):
    return new_order(
        order_no=order_no,
        operator_id=operator,
        station_id="st-1",
        pile_id="CP-1",
        gun_no=1,
        user_id="u-1",
        payer_id="openid-1",
        id_tag="PAY0001",
        method="wechat",
        prepaid_fen=400,
        target_mode="time",
        target_value=3600,
        tariff_id="tf-1",
        tariff_version=3,
        partner_share_bp=2500,
        now=T0 + timedelta(minutes=minutes),
    )


@pytest.fixture
def store(aws):
    return DynamoPaymentOrders(os.environ["LEDGER_TABLE"], boto3.client("dynamodb"))


def test_an_order_round_trips_through_every_state_it_takes(store):
    order = _order()
    assert store.create(order)
    steps = [
        lambda o: with_prepay(o, execution_arn="arn:x", client_params={"a": "1"}, now=T0),
        lambda o: with_pay_token(o, "tok", T0),
        lambda o: record_paid(o, provider_txn_id="t1", amount_fen=400, paid_at=T0, now=T0)[0],
        lambda o: record_started(o, "call-1", T0),
        lambda o: settle(
            o,
            cost_fen=250,
            consumed_fen=250,
            energy_wh=2500,
            session_id="se-1",
            basis=SettleBasis.SESSION_END,
            now=T0,
        ),
    ]
    for step in steps:
        current = store.get(order.order_no)
        assert current is not None
        saved = store.save(step(current))
        assert saved is not None
        assert store.get(order.order_no) == saved

    final = store.get(order.order_no)
    assert final is not None
    assert (final.revision, final.consumed_fen, final.refund_fen) == (5, 250, 150)
    assert final.client_params == {"a": "1"} and final.target_value == 3600


def test_a_stale_revision_loses_and_a_number_is_created_once(store):
    order = _order()
    assert store.create(order)
    assert not store.create(replace(order, prepaid_fen=500))
    first = store.save(with_pay_token(order, "tok-1", T0))
    assert first is not None
    assert store.save(with_pay_token(order, "tok-2", T0)) is None  # read at revision 0
    stored = store.get(order.order_no)
    assert stored is not None and stored.pay_token == "tok-1"


def test_an_operators_orders_list_newest_first_and_only_theirs(store):
    for n in range(3):
        store.create(_order(f"PO26110202000003{n:02d}", minutes=n))
    store.create(_order("PO2611020200000399", operator="op-b"))

    listed = store.list_for_operator("op-a", limit=10)
    assert [o.order_no for o in listed] == [
        "PO2611020200000302",
        "PO2611020200000301",
        "PO2611020200000300",
    ]
    with pytest.raises(InvalidInput):
        store.list_for_operator("op-a", limit=0)
