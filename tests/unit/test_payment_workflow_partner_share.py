"""The provider side of the profit share on fakes: a station's partner receiver gets the
partner's part at WeChat Pay / Alipay / the sandbox (one profit-sharing order, the rest
unfrozen), once under retries; without a receiver the funds are only unfrozen; the order
keeps the receiver it started with. Also the receiver's validation in the station domain."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.errors import InvalidInput, UpstreamFailure
from shared.domain.ledger import TransferKind, clearing_account_id, partner_account_id
from shared.domain.payment_orders import OrderState, PaymentOrder, money_problems
from shared.domain.payments import (
    DEFAULT_MAX_SHARE_BP,
    PaymentMethod,
    ShareReceiver,
    provider_share_fen,
    share_cap_bp,
)
from shared.domain.stations import (
    Station,
    WechatReceiver,
    WechatReceiverType,
    check_alipay_account,
)
from shared.services.payment_workflow import record_payment_notice, run_step, start_paid_session
from tests.unit.test_payment_workflow_fakes import (
    GOOD_HEADERS,
    OPERATOR,
    STATION,
    FakeBaseData,
    World,
    a_request,
    notice_body,
    task,
)

ORDER = "PO2611020200000001"
MERCHANT = WechatReceiver(WechatReceiverType.MERCHANT_ID, "1900000109", "Riverside Property")
OPENID = WechatReceiver(WechatReceiverType.PERSONAL_OPENID, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
ALIPAY_USER = "2088101122136241"


def world_with(
    *,
    wechat: WechatReceiver | None = None,
    alipay: str | None = None,
    partner_share_bp: int = 5000,
) -> World:
    base = FakeBaseData(partner_share_bp=partner_share_bp)
    base.stations[STATION] = replace(
        base.stations[STATION], partner_wechat_receiver=wechat, partner_alipay_account=alipay
    )
    return World(base_data=base)


def run(world: World, step: str, token: str | None = None, **state: object) -> dict[str, object]:
    return run_step(world.ports, task(step, ORDER, token, **state))


def until_started(world: World, method: str = "sandbox", energy_wh: int = 3000) -> None:
    start_paid_session(world.ports, a_request(method=method))
    run(world, "create_prepay_order")
    run(world, "wait_for_paid", "tok-paid")
    if method != "wallet":
        answer = record_payment_notice(
            world.ports, PaymentMethod(method), GOOD_HEADERS, notice_body(ORDER, "txn-1", 400)
        )
        assert answer[0] == 200
    run(world, "remote_start")
    run(world, "wait_for_session_end", "tok-end")
    world.charging.energy_wh[ORDER] = energy_wh  # 1 fen per 10 Wh


def finish(world: World) -> dict[str, object]:
    run(world, "settle_cost")
    run(world, "refund_unused")
    return run(world, "share_profit")


def stored(world: World) -> PaymentOrder:
    order = world.orders.get(ORDER)
    assert order is not None
    return order


# ---------------------------------------------------------------- with a receiver


@pytest.mark.parametrize(
    ("method", "wechat", "alipay", "account"),
    [
        ("wechat", MERCHANT, None, MERCHANT.account),
        ("wechat", OPENID, ALIPAY_USER, OPENID.account),
        ("alipay", MERCHANT, ALIPAY_USER, ALIPAY_USER),
        ("alipay", None, "partner@example.com", "partner@example.com"),
        ("sandbox", OPENID, None, OPENID.account),
    ],
)
def test_partner_part_goes_to_the_stations_receiver_when_the_station_has_one(
    method: str, wechat: WechatReceiver | None, alipay: str | None, account: str
) -> None:
    world = world_with(wechat=wechat, alipay=alipay)
    until_started(world, method)
    answer = finish(world)

    done = stored(world)
    assert done.state is OrderState.COMPLETED
    assert done.partner_account == account
    assert (done.consumed_fen, done.partner_fen, done.platform_fen) == (300, 150, 150)
    assert done.partner_shared_fen == 150 and answer["partner_shared_fen"] == 150
    shares = world.providers[PaymentMethod(method)].shares
    assert list(shares) == [f"{ORDER}-S1"]
    share = shares[f"{ORDER}-S1"]
    assert share.receivers == (
        ShareReceiver(account=account, amount_fen=150, description=f"site partner share {ORDER}"),
    )
    assert share.unfreeze_rest is True and share.provider_txn_id == "txn-1"
    assert money_problems(done) == [] and world.ledger_problems() == []


def test_a_retried_share_after_a_provider_failure_sends_the_same_share_once() -> None:
    world = world_with(wechat=MERCHANT)
    until_started(world, "wechat")
    run(world, "settle_cost")
    run(world, "refund_unused")
    provider = world.providers[PaymentMethod.WECHAT]
    provider.fail_next["share_profit"] = 1
    with pytest.raises(UpstreamFailure):
        run(world, "share_profit")
    assert stored(world).state is OrderState.REFUNDED

    run(world, "share_profit")
    run(world, "share_profit")  # a duplicate delivery of the completed step

    assert provider.calls.count("share_profit") == 2
    assert [s.out_share_no for s in provider.shares.values()] == [f"{ORDER}-S1"]
    assert stored(world).partner_shared_fen == 150
    assert world.ledger_problems() == []


def test_order_keeps_the_receiver_it_started_with_when_the_station_changes() -> None:
    world = world_with(wechat=MERCHANT)
    until_started(world, "wechat")
    station = world.base_data.stations[STATION]
    world.base_data.stations[STATION] = replace(station, partner_wechat_receiver=OPENID)
    finish(world)

    share = world.providers[PaymentMethod.WECHAT].shares[f"{ORDER}-S1"]
    assert [r.account for r in share.receivers] == [MERCHANT.account]


def test_receiver_added_after_the_start_is_not_used_by_the_running_order() -> None:
    world = world_with()
    until_started(world, "wechat")
    station = world.base_data.stations[STATION]
    world.base_data.stations[STATION] = replace(station, partner_wechat_receiver=MERCHANT)
    finish(world)

    share = world.providers[PaymentMethod.WECHAT].shares[f"{ORDER}-S1"]
    assert share.receivers == () and share.unfreeze_rest is True
    assert stored(world).partner_shared_fen == 0


def test_compensation_after_the_refund_shares_the_partner_part_with_the_receiver() -> None:
    world = world_with(alipay=ALIPAY_USER)
    until_started(world, "alipay")
    run(world, "settle_cost")
    run(world, "refund_unused")
    run(world, "full_refund_or_cancel", error={"Error": "States.Timeout"})

    failed = stored(world)
    assert failed.state is OrderState.FAILED
    assert (failed.partner_fen, failed.partner_shared_fen) == (150, 150)
    share = world.providers[PaymentMethod.ALIPAY].shares[f"{ORDER}-S1"]
    assert [(r.account, r.amount_fen) for r in share.receivers] == [(ALIPAY_USER, 150)]
    assert money_problems(failed) == [] and world.ledger_problems() == []


def test_compensation_whose_share_fails_records_nothing_shared() -> None:
    world = world_with(wechat=MERCHANT)
    until_started(world, "wechat")
    run(world, "settle_cost")
    run(world, "refund_unused")
    world.providers[PaymentMethod.WECHAT].fail_next["share_profit"] = 99
    run(world, "full_refund_or_cancel", error={"Error": "UpstreamFailure"})

    failed = stored(world)
    assert failed.share_status == "provider_failed"
    assert (failed.partner_fen, failed.partner_shared_fen) == (150, 0)
    assert money_problems(failed) == []


# ---------------------------------------------------------------- without one


@pytest.mark.parametrize(
    ("method", "wechat", "alipay"),
    [
        ("wechat", None, ALIPAY_USER),  # only an Alipay account: not for WeChat payments
        ("alipay", MERCHANT, None),  # only a WeChat receiver: not for Alipay payments
        ("sandbox", None, None),
    ],
)
def test_funds_are_only_unfrozen_when_the_station_has_no_receiver_for_the_method(
    method: str, wechat: WechatReceiver | None, alipay: str | None
) -> None:
    world = world_with(wechat=wechat, alipay=alipay)
    until_started(world, method)
    finish(world)

    done = stored(world)
    assert done.partner_account is None
    assert (done.partner_fen, done.partner_shared_fen) == (150, 0)
    share = world.providers[PaymentMethod(method)].shares[f"{ORDER}-S1"]
    assert share.receivers == () and share.unfreeze_rest is True
    assert money_problems(done) == []


def test_zero_partner_fen_sends_no_receiver_line() -> None:
    world = world_with(wechat=MERCHANT, partner_share_bp=0)
    until_started(world, "wechat")
    finish(world)

    done = stored(world)
    assert (done.partner_fen, done.platform_fen, done.partner_shared_fen) == (0, 300, 0)
    share = world.providers[PaymentMethod.WECHAT].shares[f"{ORDER}-S1"]
    assert share.receivers == () and share.unfreeze_rest is True


def test_a_session_that_consumed_nothing_shares_nothing_at_the_provider() -> None:
    world = world_with(wechat=MERCHANT)
    until_started(world, "wechat", energy_wh=0)
    finish(world)

    done = stored(world)
    assert (done.consumed_fen, done.partner_shared_fen, done.share_status) == (0, 0, "ledger")
    assert world.providers[PaymentMethod.WECHAT].shares == {}


def test_wallet_payment_keeps_the_partner_part_in_the_ledger() -> None:
    world = world_with(wechat=MERCHANT, alipay=ALIPAY_USER)
    from shared.services.wallets import open_wallet, top_up_wallet

    open_wallet(
        world.ledger,
        account_id="driver:op-pay:u-1",
        operator_id="op-pay",
        owner="u-1",
        clock=world.clock,
    )
    top_up_wallet(
        world.ledger,
        account_id="driver:op-pay:u-1",
        operator_id="op-pay",
        amount_fen=1000,
        reference="topup-1",
        method="cash",
        actor="test",
        clock=world.clock,
    )
    until_started(world, "wallet")
    finish(world)

    done = stored(world)
    assert done.partner_account is None
    assert (done.partner_fen, done.partner_shared_fen, done.share_status) == (150, 0, "ledger")
    assert all(not p.shares for p in world.providers.values())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    energy_wh=st.integers(min_value=0, max_value=6000),
    share_bp=st.integers(min_value=0, max_value=10_000),
    has_receiver=st.booleans(),
    method=st.sampled_from(["wechat", "alipay", "sandbox"]),
)
def test_provider_share_never_exceeds_what_was_consumed(
    energy_wh: int, share_bp: int, has_receiver: bool, method: str
) -> None:
    world = world_with(
        wechat=MERCHANT if has_receiver else None,
        alipay=ALIPAY_USER if has_receiver else None,
        partner_share_bp=share_bp,
    )
    until_started(world, method, energy_wh=energy_wh)
    finish(world)

    done = stored(world)
    assert money_problems(done) == [] and world.ledger_problems() == []
    shares = world.providers[PaymentMethod(method)].shares
    sent = sum(r.amount_fen for s in shares.values() for r in s.receivers)
    assert sent == done.partner_shared_fen <= done.consumed_fen
    expected = done.partner_fen if has_receiver else 0
    assert done.partner_shared_fen == expected
    assert done.prepaid_fen == done.consumed_fen + done.refunded_fen


# ---------------------------------------------------------------- the provider's share cap


@pytest.mark.parametrize("method", ["wechat", "alipay"])
def test_a_50_50_share_sends_the_provider_its_30_percent_cap_and_the_ledger_keeps_the_rest(
    method: str,
) -> None:
    world = world_with(wechat=MERCHANT, alipay=ALIPAY_USER)
    world.providers[PaymentMethod(method)].max_share_bp = 3_000
    until_started(world, method)
    answer = finish(world)

    done = stored(world)
    assert done.state is OrderState.COMPLETED
    assert (done.consumed_fen, done.partner_fen, done.platform_fen) == (300, 150, 150)
    assert done.partner_shared_fen == 90 and answer["partner_shared_fen"] == 90
    (share,) = world.providers[PaymentMethod(method)].shares.values()
    assert [r.amount_fen for r in share.receivers] == [90]
    assert share.unfreeze_rest is True
    assert money_problems(done) == [] and world.ledger_problems() == []
    # The ledger: the partner was credited 150, the provider paid 90 of it: 60 still owed.
    assert world.balance(partner_account_id(OPERATOR, STATION)) == 60
    payout = world.ledger.transfers[f"partner_payout:{ORDER}"]
    assert payout.kind is TransferKind.PARTNER_PAYOUT
    assert {leg.account_id: leg.amount_fen for leg in payout.legs} == {
        partner_account_id(OPERATOR, STATION): -90,
        clearing_account_id(OPERATOR, method): 90,
    }


def test_no_payout_is_posted_when_nothing_went_to_the_partner_at_the_provider() -> None:
    world = world_with()
    until_started(world, "wechat")
    finish(world)

    assert stored(world).partner_shared_fen == 0
    assert f"partner_payout:{ORDER}" not in world.ledger.transfers
    assert world.balance(partner_account_id(OPERATOR, STATION)) == 150


def test_a_share_below_the_cap_is_sent_whole() -> None:
    world = world_with(wechat=MERCHANT, partner_share_bp=2_000)
    world.providers[PaymentMethod.WECHAT].max_share_bp = 3_000
    until_started(world, "wechat")
    finish(world)

    done = stored(world)
    assert (done.partner_fen, done.partner_shared_fen) == (60, 60)


@given(
    partner_fen=st.integers(min_value=0, max_value=10**7),
    consumed_fen=st.integers(min_value=0, max_value=10**7),
    cap_bp=st.integers(min_value=1, max_value=10_000),
)
def test_the_provider_never_gets_more_than_the_part_or_the_cap(
    partner_fen: int, consumed_fen: int, cap_bp: int
) -> None:
    sent = provider_share_fen(
        partner_fen=partner_fen, consumed_fen=consumed_fen, max_share_bp=cap_bp
    )
    assert 0 <= sent <= max(partner_fen, 0)
    assert sent * 10_000 <= consumed_fen * cap_bp
    if partner_fen > 0 and partner_fen * 10_000 <= consumed_fen * cap_bp:
        assert sent == partner_fen


@pytest.mark.parametrize("value", ["0", "10001", "30%", "-1"])
def test_a_misconfigured_share_cap_is_refused(value: str) -> None:
    with pytest.raises(InvalidInput):
        share_cap_bp(value)


def test_the_share_cap_defaults_to_30_percent_and_reads_the_secret() -> None:
    assert share_cap_bp(None) == share_cap_bp("") == DEFAULT_MAX_SHARE_BP == 3_000
    assert share_cap_bp("5000") == 5_000


# ---------------------------------------------------------------- the station's receivers


@pytest.mark.parametrize(
    ("kind", "account"),
    [
        (WechatReceiverType.MERCHANT_ID, "1900000109"),
        (WechatReceiverType.MERCHANT_ID, "1" * 32),
        (WechatReceiverType.PERSONAL_OPENID, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"),
        (WechatReceiverType.PERSONAL_OPENID, "o-12345"),
    ],
)
def test_wechat_receiver_accepts_merchant_ids_and_openids(
    kind: WechatReceiverType, account: str
) -> None:
    assert WechatReceiver(kind, account).account == account


@pytest.mark.parametrize(
    ("kind", "account", "name"),
    [
        (WechatReceiverType.MERCHANT_ID, "1900A00109", None),  # letters in a merchant id
        (WechatReceiverType.MERCHANT_ID, "1234567", None),  # too short
        (WechatReceiverType.MERCHANT_ID, "1" * 33, None),
        (WechatReceiverType.PERSONAL_OPENID, "123456789", None),  # digits: a merchant id
        (WechatReceiverType.PERSONAL_OPENID, "o 12345", None),
        (WechatReceiverType.PERSONAL_OPENID, "o" * 65, None),
        (WechatReceiverType.PERSONAL_OPENID, "oUpF8uMuAJO", "   "),
        (WechatReceiverType.PERSONAL_OPENID, "oUpF8uMuAJO", "x" * 101),
        ("MERCHANT", "1900000109", None),
    ],
)
def test_wechat_receiver_refuses_malformed_accounts(kind: object, account: str, name: str | None):
    with pytest.raises(InvalidInput) as raised:
        WechatReceiver(kind, account, name)  # type: ignore[arg-type]
    assert str(raised.value.fields["field"]).startswith("partner_wechat_receiver")


@pytest.mark.parametrize(
    "account", [ALIPAY_USER, "partner@example.com", "p.a+rt@mail.example.cn", "13800138000"]
)
def test_alipay_account_accepts_user_ids_and_logon_ids(account: str) -> None:
    check_alipay_account(account)


@pytest.mark.parametrize(
    "account",
    ["2088", "20881011221362410", "3088101122136241", "partner@", "@example.com", "12345", "", " "],
)
def test_alipay_account_refuses_anything_else(account: str) -> None:
    with pytest.raises(InvalidInput):
        check_alipay_account(account)


def test_station_names_the_receiver_of_each_method() -> None:
    station = replace(
        FakeBaseData().stations[STATION],
        partner_wechat_receiver=MERCHANT,
        partner_alipay_account=ALIPAY_USER,
    )
    assert station.partner_receiver_account("wechat") == MERCHANT.account
    assert station.partner_receiver_account("sandbox") == MERCHANT.account
    assert station.partner_receiver_account("alipay") == ALIPAY_USER
    assert station.partner_receiver_account("wallet") is None
    bare: Station = FakeBaseData().stations[STATION]
    assert bare.partner_receiver_account("wechat") is None


def test_station_refuses_a_bad_alipay_account() -> None:
    with pytest.raises(InvalidInput):
        replace(FakeBaseData().stations[STATION], partner_alipay_account="not an account")
