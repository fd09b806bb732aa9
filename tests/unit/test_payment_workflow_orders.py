"""Payment orders (pure): transitions refuse the wrong state, repeats answer the order
unchanged, and ``money_problems`` catches every broken invariant."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.errors import Conflict, InvalidInput
from shared.domain.payment_orders import (
    OrderState,
    PaymentOutcome,
    SettleBasis,
    close_unpaid,
    money_problems,
    new_order,
    new_order_no,
    record_paid,
    record_refunded,
    record_shared,
    record_started,
    settle,
)
from tests.unit.test_payment_workflow_fakes import T0


def _order(**overrides):  # type: ignore[no-untyped-def]
    values = {
        "order_no": "PO2611020200000001",
        "operator_id": "op-1",
        "station_id": "st-1",
        "pile_id": "CP-1",
        "gun_no": 1,
        "user_id": "u-1",
        "payer_id": "openid",
        "id_tag": "PAY1",
        "method": "sandbox",
        "prepaid_fen": 400,
        "target_mode": "amount",
        "target_value": 400,
        "tariff_id": "tf-1",
        "tariff_version": 1,
        "partner_share_bp": 5000,
        "now": T0,
    }
    values.update(overrides)
    return new_order(**values)


def _paid(prepaid: int = 400):  # type: ignore[no-untyped-def]
    order, outcome = record_paid(
        _order(prepaid_fen=prepaid, target_value=prepaid),
        provider_txn_id="t1",
        amount_fen=prepaid,
        paid_at=T0,
        now=T0,
    )
    assert outcome is PaymentOutcome.RECORDED
    return order


def _settled(prepaid: int, cost: int):  # type: ignore[no-untyped-def]
    return settle(
        record_started(_paid(prepaid), "call-1", T0),
        cost_fen=cost,
        consumed_fen=min(cost, prepaid),
        energy_wh=cost * 10,
        session_id="se-1",
        basis=SettleBasis.SESSION_END,
        now=T0,
    )


def test_a_new_order_waits_for_its_payment_for_fifteen_minutes():
    order = _order()
    assert order.state is OrderState.CREATED
    assert (order.expires_at - order.created_at).total_seconds() == 900
    assert order.hold_id == "prepay:PO2611020200000001"
    assert order.out_refund_no == "PO2611020200000001-R1"


@pytest.mark.parametrize(
    "overrides",
    [
        {"tariff_version": 0},
        {"gun_no": True},
        {"partner_share_bp": 10_001},
        {"operator_id": "op#1"},
        {"payer_id": ""},
        {"target_mode": "time", "target_value": 30},  # under a minute
        {"target_mode": "energy", "target_value": None},
    ],
)
def test_a_malformed_order_is_refused(overrides):
    with pytest.raises(InvalidInput):
        _order(**overrides)


def test_a_payment_is_taken_once_and_another_one_is_a_conflict():
    paid = _paid()
    again, outcome = record_paid(paid, provider_txn_id="t1", amount_fen=400, paid_at=T0, now=T0)
    assert (again, outcome) == (paid, PaymentOutcome.REPEATED)
    with pytest.raises(Conflict):
        record_paid(paid, provider_txn_id="t2", amount_fen=400, paid_at=T0, now=T0)
    with pytest.raises(Conflict):
        record_paid(_order(), provider_txn_id="t1", amount_fen=399, paid_at=T0, now=T0)


def test_a_payment_of_a_closed_order_is_late_once():
    closed = close_unpaid(_order(), "States.Timeout", T0)
    late, outcome = record_paid(closed, provider_txn_id="t9", amount_fen=400, paid_at=T0, now=T0)
    assert outcome is PaymentOutcome.LATE
    assert (late.state, late.late_txn_id, late.late_fen) == (OrderState.CLOSED, "t9", 400)
    assert money_problems(late) == ["late payment not refunded"]
    assert record_paid(late, provider_txn_id="t9", amount_fen=400, paid_at=T0, now=T0)[1] is (
        PaymentOutcome.REPEATED
    )


def test_transitions_refuse_the_wrong_state():
    with pytest.raises(Conflict):
        record_started(_order(), "call-1", T0)  # not paid
    with pytest.raises(Conflict):
        close_unpaid(_paid(), "x", T0)  # paid orders are refunded, never just closed
    with pytest.raises(Conflict):
        record_refunded(_paid(), "success", T0)  # not settled
    with pytest.raises(Conflict):
        record_shared(_paid(), partner_fen=0, platform_fen=0, status="x", now=T0)


def test_a_settlement_is_decided_once():
    settled = _settled(400, 300)
    again = settle(
        settled,
        cost_fen=999,
        consumed_fen=400,
        energy_wh=1,
        session_id=None,
        basis=SettleBasis.COMPENSATION,
        now=T0,
    )
    assert again == settled
    with pytest.raises(InvalidInput):
        settle(
            record_started(_paid(), "c", T0),
            cost_fen=300,
            consumed_fen=250,  # not min(cost, prepaid)
            energy_wh=0,
            session_id=None,
            basis=SettleBasis.SESSION_END,
            now=T0,
        )


def test_split_parts_must_sum_to_the_consumed_amount():
    refunded = record_refunded(_settled(400, 300), "success", T0)
    with pytest.raises(InvalidInput):
        record_shared(refunded, partner_fen=150, platform_fen=151, status="x", now=T0)


@given(prepaid=st.integers(1, 100_000), cost=st.integers(0, 300_000), bp=st.integers(0, 10_000))
def test_a_completed_order_keeps_every_invariant(prepaid, cost, bp):
    refunded = record_refunded(_settled(prepaid, cost), "success", T0)
    partner = refunded.consumed_fen * bp // 10_000
    done = record_shared(
        refunded,
        partner_fen=partner,
        platform_fen=refunded.consumed_fen - partner,
        status="success",
        now=T0,
    )
    assert done.state is OrderState.COMPLETED
    assert done.prepaid_fen == done.consumed_fen + done.refunded_fen
    assert money_problems(done) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"refunded_fen": 99}, "prepaid != consumed + refunded"),
        ({"partner_fen": 151}, "consumed != partner + platform"),
        ({"paid_fen": 401}, "paid != prepaid"),
        ({"platform_fen": -1}, "negative amount"),
    ],
)
def test_money_problems_names_a_broken_invariant(change, problem):
    refunded = record_refunded(_settled(400, 300), "success", T0)
    done = record_shared(refunded, partner_fen=150, platform_fen=150, status="ok", now=T0)
    assert problem in money_problems(replace(done, **change))


def test_order_numbers_are_time_sortable_and_fit_the_providers():
    number = new_order_no(T0, "0123456789ab")
    assert number == "PO2611020200000123456789ab"
    assert len(number) <= 32
    with pytest.raises(InvalidInput):
        new_order_no(T0, "XYZ")
