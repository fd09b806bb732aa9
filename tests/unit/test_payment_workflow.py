"""The payment workflow's service on fakes: every step, retries and duplicates, the
compensation paths, notifications, and the money invariants (ledger and order)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.errors import (
    Conflict,
    InsufficientBalance,
    InvalidInput,
    NotFound,
    UpstreamFailure,
)
from shared.domain.ledger import TransferKind, driver_wallet_id
from shared.domain.payment_orders import OrderState, money_problems
from shared.domain.payments import NotificationRejected, PaymentMethod
from shared.domain.pricing import price_energy
from shared.services.payment_workflow import (
    full_refund_or_cancel,
    record_payment_notice,
    run_step,
    start_paid_session,
)
from shared.services.wallets import open_wallet, top_up_wallet
from tests.unit.test_payment_workflow_fakes import (
    FLAT_TARIFF,
    GOOD_HEADERS,
    OPERATOR,
    STATION,
    USER,
    World,
    a_request,
    notice_body,
    readings_for,
    task,
)

ORDER = "PO2611020200000001"
WALLET = driver_wallet_id(OPERATOR, USER)
CLEARING = f"operator:{OPERATOR}:clearing:sandbox"
REVENUE = f"operator:{OPERATOR}:revenue"
PARTNER = f"operator:{OPERATOR}:partner:{STATION}"
PLATFORM = f"operator:{OPERATOR}:platform"


def pay(world: World, order_no: str = ORDER, txn: str = "txn-1", amount: int = 400) -> None:
    answer = record_payment_notice(
        world.ports,
        PaymentMethod.SANDBOX,
        GOOD_HEADERS,
        notice_body(order_no, txn, amount),
    )
    assert answer[0] == 200


def run(world: World, step: str, token: str | None = None, **state: object) -> dict[str, object]:
    return run_step(world.ports, task(step, ORDER, token, **state))


def until_started(world: World, **request: object) -> None:
    start_paid_session(world.ports, a_request(**request))
    run(world, "create_prepay_order")
    run(world, "wait_for_paid", "tok-paid")
    if request.get("method", "sandbox") != "wallet":
        pay(world)
    run(world, "remote_start")
    run(world, "wait_for_session_end", "tok-end")


def finish(world: World) -> None:
    for step in ("settle_cost", "refund_unused", "share_profit"):
        run(world, step)


def order(world: World):  # type: ignore[no-untyped-def]
    stored = world.orders.get(ORDER)
    assert stored is not None
    return stored


def fund_wallet(world: World, amount: int) -> None:
    open_wallet(
        world.ledger, account_id=WALLET, operator_id=OPERATOR, owner=USER, clock=world.clock
    )
    top_up_wallet(
        world.ledger,
        account_id=WALLET,
        operator_id=OPERATOR,
        amount_fen=amount,
        reference="topup-1",
        method="cash",
        actor="test",
        clock=world.clock,
    )


# ---------------------------------------------------------------- the happy paths


def test_session_refunds_the_unused_part_and_splits_the_rest_when_it_stops_at_three_yuan():
    world = World()
    until_started(world)
    world.charging.energy_wh[ORDER] = 3000  # 300 fen at 1 fen per 10 Wh
    finish(world)

    done = order(world)
    assert done.state is OrderState.COMPLETED
    assert (done.consumed_fen, done.refunded_fen) == (300, 100)
    assert (done.partner_fen, done.platform_fen) == (150, 150)
    assert money_problems(done) == []
    provider = world.providers[PaymentMethod.SANDBOX]
    assert [(r.out_refund_no, r.refund_fen) for r in provider.refunds.values()] == [
        (f"{ORDER}-R1", 100)
    ]
    assert world.balance(CLEARING) == -300
    assert world.balance(WALLET) == 0 and world.held(WALLET) == 0
    assert world.balance(REVENUE) == 0
    assert (world.balance(PARTNER), world.balance(PLATFORM)) == (150, 150)
    assert world.ledger_problems() == []
    assert world.resumer.succeeded[0][0] == "tok-paid"
    assert world.resumer.succeeded[0][1]["paid_fen"] == 400


def test_nothing_is_refunded_when_the_cap_is_reached():
    world = World()
    until_started(world)
    world.charging.energy_wh[ORDER] = 5000  # costs 500 > 400 prepaid
    finish(world)

    done = order(world)
    assert (done.cost_fen, done.consumed_fen, done.refunded_fen) == (500, 400, 0)
    assert world.providers[PaymentMethod.SANDBOX].refunds == {}
    assert world.balance(CLEARING) == -400
    assert money_problems(done) == [] and world.ledger_problems() == []


def test_wallet_payment_holds_and_releases_without_a_provider():
    world = World()
    fund_wallet(world, 1000)
    until_started(world, method="wallet")
    world.charging.energy_wh[ORDER] = 3000
    finish(world)

    done = order(world)
    assert done.state is OrderState.COMPLETED
    assert (done.consumed_fen, done.refunded_fen, done.refund_status) == (300, 100, "released")
    assert world.balance(WALLET) == 700 and world.held(WALLET) == 0
    assert world.resumer.succeeded[0][0] == "tok-paid"  # resumed at once: the hold is the payment
    assert all(not p.calls for p in world.providers.values())
    assert money_problems(done) == [] and world.ledger_problems() == []


def test_session_is_priced_with_the_tariff_version_it_started_under():
    world = World()
    until_started(world)
    from dataclasses import replace

    from shared.domain.tariffs import PeriodKind, TariffPeriod

    newer = replace(
        world.base_data.tariffs[("tf-pay", 1)],
        version=2,
        periods=(TariffPeriod(PeriodKind.FLAT, "00:00", "24:00", 600, 400),),
    )
    world.base_data.tariffs[("tf-pay", 2)] = newer
    world.charging.energy_wh[ORDER] = 3000
    run(world, "settle_cost")

    assert order(world).cost_fen == 300


# ---------------------------------------------------------------- retries and duplicates


def test_every_step_repeated_changes_nothing_the_second_time():
    world = World()
    start_paid_session(world.ports, a_request())
    for _ in range(2):
        run(world, "create_prepay_order")
    for _ in range(2):
        run(world, "wait_for_paid", "tok-paid")
    for _ in range(3):
        pay(world)
    for _ in range(2):
        run(world, "remote_start")
    run(world, "wait_for_session_end", "tok-end")
    world.charging.energy_wh[ORDER] = 3000
    for step in ("settle_cost", "refund_unused", "share_profit"):
        first = run(world, step)
        transfers = dict(world.ledger.transfers)
        assert run(world, step) == first
        assert world.ledger.transfers == transfers

    provider = world.providers[PaymentMethod.SANDBOX]
    assert world.charging.begun[ORDER] == 1
    assert len(provider.refunds) == 1 and len(provider.shares) == 1
    top_ups = [t for t in world.ledger.transfers.values() if t.kind is TransferKind.TOP_UP]
    assert len(top_ups) == 1
    assert money_problems(order(world)) == [] and world.ledger_problems() == []


def test_a_paid_notice_replayed_fifteen_times_credits_once():
    world = World()
    start_paid_session(world.ports, a_request())
    run(world, "create_prepay_order")
    run(world, "wait_for_paid", "tok-paid")
    for _ in range(15):
        pay(world)

    assert world.balance(WALLET) == 400 and world.held(WALLET) == 400
    assert world.balance(CLEARING) == -400
    assert order(world).state is OrderState.PAID


def test_wait_for_paid_resumes_at_once_when_the_notice_came_first():
    world = World()
    start_paid_session(world.ports, a_request())
    run(world, "create_prepay_order")
    pay(world)
    assert world.resumer.succeeded == []
    run(world, "wait_for_paid", "tok-late")

    assert [token for token, _ in world.resumer.succeeded] == ["tok-late"]


def test_a_notice_racing_the_token_store_still_resumes_the_workflow():
    world = World()
    start_paid_session(world.ports, a_request())
    run(world, "create_prepay_order")
    # The notice commits between wait_for_paid's read and its save.
    world.orders.before_save = lambda _order: pay(world)
    run(world, "wait_for_paid", "tok-paid")

    assert [token for token, _ in world.resumer.succeeded] == ["tok-paid"]
    assert order(world).pay_token == "tok-paid"


def test_settlement_is_decided_once_even_when_late_readings_change_the_cost():
    world = World()
    until_started(world)
    world.charging.energy_wh[ORDER] = 3000
    run(world, "settle_cost")
    world.charging.energy_wh[ORDER] = 3500
    result = run(world, "settle_cost", session_end_lost={"Error": "States.Timeout"})

    assert result["consumed_fen"] == 300
    assert order(world).consumed_fen == 300


def test_a_provider_failure_leaves_the_refund_to_a_retry_that_refunds_once():
    world = World()
    until_started(world)
    world.charging.energy_wh[ORDER] = 3000
    run(world, "settle_cost")
    provider = world.providers[PaymentMethod.SANDBOX]
    provider.fail_next["refund"] = 1
    with pytest.raises(UpstreamFailure):
        run(world, "refund_unused")
    assert order(world).state is OrderState.SETTLED
    run(world, "refund_unused")

    assert order(world).refunded_fen == 100 and len(provider.refunds) == 1


# ---------------------------------------------------------------- compensation


def test_unpaid_order_is_closed_and_a_late_payment_is_refunded_in_full_once():
    world = World()
    start_paid_session(world.ports, a_request())
    run(world, "create_prepay_order")
    run(world, "wait_for_paid", "tok-paid")
    run(world, "full_refund_or_cancel", error={"Error": "States.Timeout"})

    closed = order(world)
    assert closed.state is OrderState.CLOSED and closed.failure == "States.Timeout"
    provider = world.providers[PaymentMethod.SANDBOX]
    assert provider.closed == [ORDER]
    for _ in range(3):
        pay(world, txn="txn-late")

    late = order(world)
    assert late.state is OrderState.CLOSED and late.late_refund_status == "success"
    assert [(r.out_refund_no, r.refund_fen) for r in provider.refunds.values()] == [
        (f"{ORDER}-L1", 400)
    ]
    assert world.balance(CLEARING) == 0 and world.balance(WALLET) == 0
    assert world.resumer.succeeded == []
    assert money_problems(late) == [] and world.ledger_problems() == []


def test_order_whose_prepay_never_opened_closes_even_when_the_provider_cannot():
    world = World()
    start_paid_session(world.ports, a_request())
    world.providers[PaymentMethod.SANDBOX].fail_next["create_prepay"] = 1
    with pytest.raises(UpstreamFailure):
        run(world, "create_prepay_order")
    result = run(world, "full_refund_or_cancel", error={"Error": "UpstreamFailure"})

    assert result["state"] == "closed"
    assert world.providers[PaymentMethod.SANDBOX].closed == []
    assert world.ledger.transfers == {}


def test_pile_that_never_starts_gets_a_full_refund():
    world = World()
    until_started(world)
    world.charging.never_started.add(ORDER)
    run(world, "full_refund_or_cancel", error={"Error": "PileNeverStarted"})

    failed = order(world)
    assert failed.state is OrderState.FAILED
    assert (failed.consumed_fen, failed.refunded_fen) == (0, 400)
    assert world.providers[PaymentMethod.SANDBOX].refunded_fen() == 400
    assert world.balance(CLEARING) == 0 and world.held(WALLET) == 0
    assert money_problems(failed) == [] and world.ledger_problems() == []


def test_gun_refusing_the_start_fails_the_step_and_the_compensation_refunds_in_full():
    world = World()
    start_paid_session(world.ports, a_request())
    run(world, "create_prepay_order")
    run(world, "wait_for_paid", "tok-paid")
    pay(world)
    world.charging.refuse = True
    with pytest.raises(Conflict):
        run(world, "remote_start")
    run(world, "full_refund_or_cancel", error={"Error": "Conflict"})

    failed = order(world)
    assert (failed.state, failed.refunded_fen) == (OrderState.FAILED, 400)
    assert world.balance(CLEARING) == 0
    assert money_problems(failed) == [] and world.ledger_problems() == []


def test_failure_after_the_refund_still_splits_what_was_consumed():
    world = World()
    until_started(world)
    world.charging.energy_wh[ORDER] = 3000
    run(world, "settle_cost")
    run(world, "refund_unused")
    provider = world.providers[PaymentMethod.SANDBOX]
    provider.fail_next["share_profit"] = 99
    with pytest.raises(UpstreamFailure):
        run(world, "share_profit")
    run(world, "full_refund_or_cancel", error={"Error": "UpstreamFailure"})

    failed = order(world)
    assert failed.state is OrderState.FAILED
    assert (failed.refunded_fen, failed.partner_fen, failed.platform_fen) == (100, 150, 150)
    assert failed.share_status == "provider_failed"
    assert len(provider.refunds) == 1
    assert money_problems(failed) == [] and world.ledger_problems() == []


def test_compensation_of_a_charging_session_settles_what_the_pile_recorded():
    world = World()
    until_started(world)
    world.charging.energy_wh[ORDER] = 1200
    result = run(world, "full_refund_or_cancel", error={"Error": "Lambda.Unknown"})

    assert result["consumed_fen"] == 120 and result["refunded_fen"] == 280
    assert money_problems(order(world)) == [] and world.ledger_problems() == []


def test_compensation_stops_a_session_still_charging_and_settles_what_it_recorded():
    world = World()
    until_started(world)
    world.charging.energy_wh[ORDER] = 2000
    world.charging.still_charging.add(ORDER)
    run(world, "full_refund_or_cancel", error={"Error": "Lambda.Unknown"})
    run(world, "full_refund_or_cancel", error={"Error": "Lambda.Unknown"})

    assert world.charging.stops == [("CP-PAY-1", f"se-{ORDER}")]
    failed = order(world)
    assert (failed.consumed_fen, failed.refunded_fen) == (200, 200)
    assert money_problems(failed) == [] and world.ledger_problems() == []


def test_compensation_releases_a_wallet_hold_the_order_never_recorded():
    world = World()
    fund_wallet(world, 1000)
    start_paid_session(world.ports, a_request(method="wallet"))
    # The hold commits, then the step dies before saving the order.
    world.orders.before_save = lambda _o: (_ for _ in ()).throw(UpstreamFailure("crash"))
    with pytest.raises(UpstreamFailure):
        run(world, "create_prepay_order")
    assert world.held(WALLET) == 400
    run(world, "full_refund_or_cancel", error={"Error": "UpstreamFailure"})

    assert order(world).state is OrderState.CLOSED
    assert world.held(WALLET) == 0 and world.balance(WALLET) == 1000


def test_compensation_repeated_changes_nothing():
    world = World()
    until_started(world)
    world.charging.energy_wh[ORDER] = 3000
    first = full_refund_or_cancel(world.ports, ORDER, {"error": {"Error": "X"}})
    transfers = dict(world.ledger.transfers)
    assert full_refund_or_cancel(world.ports, ORDER, {"error": {"Error": "X"}}) == first
    assert world.ledger.transfers == transfers


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"prepaid_fen": 0}, InvalidInput),
        ({"prepaid_fen": 4.0}, InvalidInput),
        ({"prepaid_fen": 100_001}, InvalidInput),
        ({"method": "cash"}, InvalidInput),
        ({"order_no": "bad no"}, InvalidInput),
        ({"target_mode": "distance"}, InvalidInput),
        ({"target_mode": "full", "target_value": 5}, InvalidInput),
        ({"gun_no": 3}, InvalidInput),
        ({"id_tag": "x" * 21}, InvalidInput),
        ({"station_id": "st-other"}, NotFound),
        ({"operator_id": "op-other"}, NotFound),
        ({"pile_id": "CP-OTHER"}, NotFound),
        ({"method": "wallet"}, InsufficientBalance),
    ],
)
def test_bad_start_request_is_refused_and_creates_nothing(overrides, error):
    world = World()
    with pytest.raises(error):
        start_paid_session(world.ports, a_request(**overrides))

    assert world.orders.orders == {}
    assert world.starter.started == []
    assert world.ledger.transfers == {}


def test_repeated_start_answers_the_same_order_and_a_reused_number_is_a_conflict():
    world = World()
    first = start_paid_session(world.ports, a_request())
    again = start_paid_session(world.ports, a_request())
    assert again.order_no == first.order_no
    assert {name for name, _ in world.starter.started} == {ORDER}
    with pytest.raises(Conflict):
        start_paid_session(world.ports, a_request(prepaid_fen=500))


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"x-sign": "forged"}, notice_body(ORDER, "txn-1", 400), 401),
        (GOOD_HEADERS, b"not json", 400),
        (GOOD_HEADERS, notice_body(ORDER, "txn-1", 399), 400),
        (GOOD_HEADERS, notice_body("PO2611020200000999", "txn-1", 400), 400),
    ],
)
def test_refused_notice_changes_nothing(headers, body, status):
    world = World()
    start_paid_session(world.ports, a_request())
    run(world, "create_prepay_order")
    before = order(world)
    with pytest.raises(NotificationRejected) as refused:
        record_payment_notice(world.ports, PaymentMethod.SANDBOX, headers, body)

    assert refused.value.status == status
    assert order(world) == before
    assert world.ledger.transfers == {}


def test_notice_through_another_provider_is_refused():
    world = World()
    start_paid_session(world.ports, a_request())
    with pytest.raises(NotificationRejected) as refused:
        record_payment_notice(
            world.ports, PaymentMethod.WECHAT, GOOD_HEADERS, notice_body(ORDER, "t", 400)
        )
    assert refused.value.status == 400


def test_second_payment_of_a_paid_order_is_a_conflict_and_credits_nothing():
    world = World()
    start_paid_session(world.ports, a_request())
    run(world, "create_prepay_order")
    pay(world)
    with pytest.raises(Conflict):
        pay(world, txn="txn-2")
    assert world.balance(WALLET) == 400


def test_malformed_task_event_is_refused():
    world = World()
    with pytest.raises(InvalidInput):
        run_step(world.ports, {"step": "drop_tables", "execution": "x", "state": {}})
    with pytest.raises(InvalidInput):
        run_step(world.ports, task("wait_for_paid", ORDER))  # no token


# ---------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prepaid=st.integers(1, 100_000),
    energy_wh=st.integers(0, 2_000_000),
    share_bp=st.integers(0, 10_000),
    method=st.sampled_from(["sandbox", "wallet"]),
    fail_after=st.sampled_from(
        [None, "create_prepay_order", "remote_start", "settle_cost", "refund_unused"]
    ),
    repeat=st.booleans(),
)
def test_money_is_neither_lost_nor_created(
    prepaid, energy_wh, share_bp, method, fail_after, repeat
):
    world = World()
    world.base_data = type(world.base_data)(partner_share_bp=share_bp)
    if method == "wallet":
        fund_wallet(world, 100_000)
    start_paid_session(
        world.ports, a_request(method=method, prepaid_fen=prepaid, target_value=prepaid)
    )
    world.charging.energy_wh[ORDER] = energy_wh
    steps = [
        ("create_prepay_order", None),
        ("wait_for_paid", "tok-paid"),
        ("remote_start", None),
        ("wait_for_session_end", "tok-end"),
        ("settle_cost", None),
        ("refund_unused", None),
        ("share_profit", None),
    ]
    for step, token in steps:
        for _ in range(2 if repeat else 1):
            run(world, step, token)
        if step == "wait_for_paid" and method != "wallet":
            pay(world, amount=prepaid)
        if step == fail_after:
            run(world, "full_refund_or_cancel", error={"Error": "Injected"})
            break

    final = order(world)
    assert final.state in (OrderState.COMPLETED, OrderState.FAILED, OrderState.CLOSED)
    assert money_problems(final) == []
    assert world.ledger_problems() == []
    paid = 0 if final.state is OrderState.CLOSED else prepaid
    cost = price_energy(FLAT_TARIFF, readings_for(energy_wh)).total_fen
    consumed = final.consumed_fen
    assert consumed == (min(prepaid, cost) if final.did("remote_start") else 0)
    assert world.balance(REVENUE) == 0
    assert world.balance(PARTNER) + world.balance(PLATFORM) == consumed
    assert world.held(WALLET) == 0
    if method == "wallet":
        assert world.balance(WALLET) == 100_000 - consumed
    else:
        assert world.balance(CLEARING) == -consumed
        assert world.providers[PaymentMethod.SANDBOX].refunded_fen() == paid - consumed
