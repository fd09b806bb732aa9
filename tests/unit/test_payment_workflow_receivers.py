"""Receiver onboarding in the share step, and why a session failed, on fakes.

The share step adds the order's partner receiver at the provider (``add_receiver``) before
the first profit share to it in a container, never again in the same container, again in
a new one (idempotent at the provider); a refused add fails the step like any provider
error and the retry adds and shares once. The fake provider, like WeChat Pay and the
sandbox, refuses a share to a receiver never added, so these tests prove the order of
calls. The compensation keeps a short, safe cause of the failure on the order
(``failure_detail``)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.errors import UpstreamFailure
from shared.domain.ledger import TransferKind
from shared.domain.payment_orders import (
    MAX_FAILURE_DETAIL,
    OrderState,
    PaymentOrder,
    failure_detail,
    money_problems,
)
from shared.domain.payments import PartnerReceiver, PaymentMethod
from shared.domain.stations import WechatReceiver, WechatReceiverType
from shared.services.payment_workflow import (
    ReceiversAdded,
    record_payment_notice,
    run_step,
    start_paid_session,
)
from tests.unit.test_payment_workflow_fakes import (
    GOOD_HEADERS,
    STATION,
    FakeBaseData,
    World,
    a_request,
    notice_body,
    task,
)

FIRST = "PO2611020200000001"
SECOND = "PO2611020200000002"
MERCHANT = WechatReceiver(WechatReceiverType.MERCHANT_ID, "1900000109", "Riverside Property")
OPENID = WechatReceiver(WechatReceiverType.PERSONAL_OPENID, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
ALIPAY_USER = "2088101122136241"
LOAD_LIMIT = (
    "site_at_load_limit: the site draws 85000 W of its 100000 W transformer capacity, "
    "no new charge may start"
)


def world_with(
    *,
    wechat: WechatReceiver | None = None,
    alipay: str | None = None,
    partner_name: str | None = None,
) -> World:
    base = FakeBaseData(partner_share_bp=5000)
    base.stations[STATION] = replace(
        base.stations[STATION],
        partner_wechat_receiver=wechat,
        partner_alipay_account=alipay,
        partner_name=partner_name,
    )
    return World(base_data=base)


def run(world: World, order_no: str, step: str, token: str | None = None, **state: object) -> dict:
    return run_step(world.ports, task(step, order_no, token, **state))


def until_refunded(world: World, order_no: str = FIRST, method: str = "wechat") -> None:
    start_paid_session(world.ports, a_request(order_no=order_no, method=method))
    run(world, order_no, "create_prepay_order")
    run(world, order_no, "wait_for_paid", f"tok-paid-{order_no}")
    record_payment_notice(
        world.ports,
        PaymentMethod(method),
        GOOD_HEADERS,
        notice_body(order_no, f"txn-{order_no}", 400),
    )
    run(world, order_no, "remote_start")
    run(world, order_no, "wait_for_session_end", f"tok-end-{order_no}")
    world.charging.energy_wh[order_no] = 3000  # 300 fen consumed
    run(world, order_no, "settle_cost")
    run(world, order_no, "refund_unused")


def stored(world: World, order_no: str = FIRST) -> PaymentOrder:
    order = world.orders.get(order_no)
    assert order is not None
    return order


def payouts(world: World) -> list[str]:
    return [
        t.transfer_id
        for t in world.ledger.transfers.values()
        if t.kind is TransferKind.PARTNER_PAYOUT
    ]


# ---------------------------------------------------------------- receiver onboarding


def test_first_share_adds_the_receiver_before_sharing_then_not_again_in_the_container() -> None:
    world = world_with(wechat=MERCHANT)
    provider = world.providers[PaymentMethod.WECHAT]
    until_refunded(world, FIRST)
    run(world, FIRST, "share_profit")
    assert [c for c in provider.calls if c in ("add_receiver", "share_profit")] == [
        "add_receiver",
        "share_profit",
    ]
    assert provider.receivers == {
        "1900000109": PartnerReceiver("1900000109", "MERCHANT_ID", "Riverside Property")
    }

    until_refunded(world, SECOND)
    run(world, SECOND, "share_profit")
    assert provider.calls.count("add_receiver") == 1
    assert provider.calls.count("share_profit") == 2
    for order_no in (FIRST, SECOND):
        done = stored(world, order_no)
        assert done.state is OrderState.COMPLETED and done.partner_shared_fen == 150
        assert money_problems(done) == []
    assert world.ledger_problems() == []


def test_a_new_container_adds_again_and_the_provider_keeps_one_receiver() -> None:
    world = world_with(wechat=OPENID)
    provider = world.providers[PaymentMethod.WECHAT]
    until_refunded(world, FIRST)
    run(world, FIRST, "share_profit")
    world.receivers_added = ReceiversAdded()  # a cold start
    until_refunded(world, SECOND)
    run(world, SECOND, "share_profit")
    assert provider.calls.count("add_receiver") == 2
    assert list(provider.receivers) == [OPENID.account]
    assert stored(world, SECOND).state is OrderState.COMPLETED


def test_a_refused_add_fails_the_step_changes_nothing_and_the_retry_adds_and_shares_once() -> None:
    world = world_with(wechat=MERCHANT)
    provider = world.providers[PaymentMethod.WECHAT]
    until_refunded(world, FIRST)
    provider.fail_next["add_receiver"] = 1
    before = stored(world)
    with pytest.raises(UpstreamFailure):
        run(world, FIRST, "share_profit")
    assert stored(world).state is OrderState.REFUNDED
    assert stored(world).partner_shared_fen == 0
    assert "share_profit" not in provider.calls and provider.shares == {}
    assert payouts(world) == []
    assert stored(world).revision == before.revision

    run(world, FIRST, "share_profit")
    run(world, FIRST, "share_profit")  # a duplicate delivery of the completed step
    assert provider.calls.count("add_receiver") == 2  # the refused one, then the good one
    assert provider.calls.count("share_profit") == 1
    assert list(provider.shares) == [f"{FIRST}-S1"]
    assert payouts(world) == [f"partner_payout:{FIRST}"]
    done = stored(world)
    assert done.state is OrderState.COMPLETED and done.partner_shared_fen == 150
    assert money_problems(done) == [] and world.ledger_problems() == []


def test_a_failed_share_forgets_the_receiver_so_the_retry_adds_it_again() -> None:
    world = world_with(wechat=MERCHANT)
    provider = world.providers[PaymentMethod.WECHAT]
    until_refunded(world, FIRST)
    provider.fail_next["share_profit"] = 1
    with pytest.raises(UpstreamFailure):
        run(world, FIRST, "share_profit")
    provider.receivers.clear()  # e.g. the operator deleted it in the merchant console
    run(world, FIRST, "share_profit")
    assert provider.calls.count("add_receiver") == 2
    assert stored(world).state is OrderState.COMPLETED


def test_the_compensation_records_provider_failed_when_the_add_is_refused() -> None:
    world = world_with(wechat=MERCHANT)
    provider = world.providers[PaymentMethod.WECHAT]
    until_refunded(world, FIRST)
    provider.fail_next["add_receiver"] = 99
    error = {"Error": "UpstreamFailure", "Cause": "x"}
    run(world, FIRST, "full_refund_or_cancel", error=error)
    done = stored(world)
    assert done.state is OrderState.FAILED
    assert (done.share_status, done.partner_shared_fen) == ("provider_failed", 0)
    assert provider.shares == {} and payouts(world) == []
    assert money_problems(done) == [] and world.ledger_problems() == []


def test_the_order_snapshots_type_and_name_and_a_later_station_edit_does_not_move_it() -> None:
    world = world_with(wechat=MERCHANT)
    start_paid_session(world.ports, a_request(order_no=FIRST, method="wechat"))
    base = world.base_data
    base.stations[STATION] = replace(base.stations[STATION], partner_wechat_receiver=OPENID)
    order = stored(world)
    assert (order.partner_account, order.partner_account_kind, order.partner_account_name) == (
        "1900000109",
        "MERCHANT_ID",
        "Riverside Property",
    )


def test_alipay_binds_the_account_under_the_stations_partner_name() -> None:
    world = world_with(alipay=ALIPAY_USER, partner_name="Riverside Property Co.")
    until_refunded(world, FIRST, "alipay")
    run(world, FIRST, "share_profit")
    provider = world.providers[PaymentMethod.ALIPAY]
    assert provider.receivers == {
        ALIPAY_USER: PartnerReceiver(ALIPAY_USER, None, "Riverside Property Co.")
    }
    assert provider.calls.index("add_receiver") < provider.calls.index("share_profit")
    assert stored(world).partner_shared_fen == 150


def test_a_merchant_receiver_without_its_name_is_not_routed_and_the_rest_unfrozen() -> None:
    world = world_with(wechat=WechatReceiver(WechatReceiverType.MERCHANT_ID, "1900000109"))
    provider = world.providers[PaymentMethod.WECHAT]
    until_refunded(world, FIRST)
    run(world, FIRST, "share_profit")
    assert "add_receiver" not in provider.calls
    assert provider.shares[f"{FIRST}-S1"].receivers == ()
    done = stored(world)
    assert (done.state, done.partner_fen, done.partner_shared_fen) == (
        OrderState.COMPLETED,
        150,
        0,
    )
    assert payouts(world) == [] and world.ledger_problems() == []


def test_no_add_when_nothing_goes_to_the_partner() -> None:
    world = world_with(wechat=MERCHANT)
    provider = world.providers[PaymentMethod.WECHAT]
    start_paid_session(world.ports, a_request(order_no=FIRST, method="wechat"))
    run(world, FIRST, "create_prepay_order")
    run(world, FIRST, "wait_for_paid", "tok")
    record_payment_notice(
        world.ports, PaymentMethod.WECHAT, GOOD_HEADERS, notice_body(FIRST, "txn-1", 400)
    )
    run(world, FIRST, "remote_start")
    run(world, FIRST, "wait_for_session_end", "tok-end")
    world.charging.energy_wh[FIRST] = 0
    run(world, FIRST, "settle_cost")
    run(world, FIRST, "refund_unused")
    run(world, FIRST, "share_profit")
    assert "add_receiver" not in provider.calls


# ---------------------------------------------------------------- why it failed


def _lambda_cause(error_type: str, message: str) -> str:
    return json.dumps(
        {
            "errorMessage": message,
            "errorType": error_type,
            "requestId": "r-1",
            "stackTrace": ['  File "/var/task/handler.py", line 1, in handler\n'],
        }
    )


def test_a_refused_start_keeps_its_cause_on_the_order_with_a_full_refund() -> None:
    world = world_with()
    start_paid_session(world.ports, a_request(order_no=FIRST))
    run(world, FIRST, "create_prepay_order")
    run(world, FIRST, "wait_for_paid", "tok")
    record_payment_notice(
        world.ports, PaymentMethod.SANDBOX, GOOD_HEADERS, notice_body(FIRST, "txn-1", 400)
    )
    run(world, FIRST, "remote_start")
    run(
        world,
        FIRST,
        "full_refund_or_cancel",
        error={"Error": "PileNeverStarted", "Cause": LOAD_LIMIT},
    )
    done = stored(world)
    assert (done.state, done.failure, done.failure_detail) == (
        OrderState.FAILED,
        "PileNeverStarted",
        LOAD_LIMIT,
    )
    assert done.refunded_fen == 400 and money_problems(done) == []


def test_an_unpaid_order_closed_on_a_task_error_keeps_type_and_message_not_the_stack() -> None:
    world = world_with()
    start_paid_session(world.ports, a_request(order_no=FIRST))
    cause = _lambda_cause("UpstreamFailure", "sandbox unreachable")
    run(world, FIRST, "full_refund_or_cancel", error={"Error": "UpstreamFailure", "Cause": cause})
    done = stored(world)
    assert done.state is OrderState.CLOSED
    assert done.failure_detail == "UpstreamFailure: sandbox unreachable"


def test_a_timeout_without_a_cause_leaves_no_detail() -> None:
    world = world_with()
    start_paid_session(world.ports, a_request(order_no=FIRST))
    run(world, FIRST, "full_refund_or_cancel", error={"Error": "States.Timeout"})
    assert stored(world).failure_detail is None
    assert stored(world).failure == "States.Timeout"


@pytest.mark.parametrize(
    ("cause", "expected"),
    [
        (LOAD_LIMIT, LOAD_LIMIT),
        (
            "the pile answered the remote start Rejected",
            "the pile answered the remote start Rejected",
        ),
        (_lambda_cause("Conflict", "the pile is offline"), "Conflict: the pile is offline"),
        (_lambda_cause("KeyError", "'secret-body-part'"), "KeyError"),
        (_lambda_cause("not a type!", "x"), None),
        ("x" * 500, "x" * (MAX_FAILURE_DETAIL - 3) + "..."),
        ("{not json", "{not json"),
        ("line one\nline\ttwo\x00", "line one line two"),
        ("   ", None),
        (None, None),
        (42, None),
    ],
)
def test_failure_detail_keeps_only_a_safe_short_text(cause: object, expected: str | None) -> None:
    assert failure_detail(cause) == expected


@given(st.text(max_size=2000))
def test_failure_detail_is_bounded_and_printable_for_any_cause(cause: str) -> None:
    detail = failure_detail(cause)
    assert detail is None or (
        0 < len(detail) <= MAX_FAILURE_DETAIL and detail.isprintable() and detail == detail.strip()
    )
    lambda_detail = failure_detail(_lambda_cause("RuntimeError", cause))
    assert lambda_detail == "RuntimeError"  # a foreign error's message is never kept


def test_the_driver_sees_why_in_the_charge_detail() -> None:
    from functions.driver_api.routes.charging import charge_view
    from functions.driver_api.routes.common import dump
    from shared.services.driver_charging import DriverCharge

    world = world_with()
    start_paid_session(world.ports, a_request(order_no=FIRST))
    run(world, FIRST, "create_prepay_order")
    run(world, FIRST, "wait_for_paid", "tok")
    record_payment_notice(
        world.ports, PaymentMethod.SANDBOX, GOOD_HEADERS, notice_body(FIRST, "txn-1", 400)
    )
    run(world, FIRST, "remote_start")
    run(
        world,
        FIRST,
        "full_refund_or_cancel",
        error={"Error": "PileNeverStarted", "Cause": LOAD_LIMIT},
    )
    view = dump(charge_view(DriverCharge(order=stored(world))))
    assert (view["state"], view["failure"], view["failure_detail"]) == (
        "failed",
        "PileNeverStarted",
        LOAD_LIMIT,
    )
    assert view["refunded_fen"] == 400
