"""Wallet top-ups by a provider on fakes (shared/services/wallet_topups.py): created once per
request id, the prepay opened once, the paid notice credits the wallet once however often
it comes, refused notices change nothing, unpaid orders expire."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.drivers import Driver, LoginApp
from shared.domain.errors import Conflict, InvalidInput, NotFound, UpstreamFailure, WalletFrozen
from shared.domain.ledger import clearing_account_id, driver_wallet_id
from shared.domain.payments import NotificationRejected, PaymentMethod
from shared.domain.topup_orders import (
    TopUpOrder,
    TopUpState,
    is_topup_order_no,
    new_topup,
    record_topup_paid,
    topup_order_no,
)
from shared.services.payment_workflow import record_payment_notice
from shared.services.wallet_topups import (
    TopUpPorts,
    TopUpRequest,
    get_topup,
    list_topups,
    start_topup,
)
from shared.services.wallets import freeze_wallet
from tests.unit.test_payment_workflow_fakes import (
    GOOD_HEADERS,
    OPERATOR,
    STATION,
    T0,
    World,
    notice_body,
)

USER = "dr-" + "a" * 20
OTHER = "dr-" + "b" * 20
WALLET = driver_wallet_id(OPERATOR, USER)


class InMemoryTopUps:
    """``TopUpStore`` with the adapter's revision semantics."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.orders: dict[str, TopUpOrder] = {}
        self.before_save: Callable[[TopUpOrder], object] | None = None

    def create(self, order: TopUpOrder) -> bool:
        with self._lock:
            if order.order_no in self.orders:
                return False
            self.orders[order.order_no] = order
            return True

    def save(self, order: TopUpOrder) -> TopUpOrder | None:
        hook, self.before_save = self.before_save, None
        if hook is not None:
            hook(order)
        with self._lock:
            stored = self.orders.get(order.order_no)
            if stored is None or stored.revision != order.revision:
                return None
            saved = replace(order, revision=order.revision + 1)
            self.orders[order.order_no] = saved
            return saved

    def get(self, order_no: str) -> TopUpOrder | None:
        return self.orders.get(order_no)

    def list_for_user(
        self, user_id: str, *, limit: int, before: str | None
    ) -> tuple[list[TopUpOrder], str | None]:
        mine = sorted(
            (o for o in self.orders.values() if o.user_id == user_id),
            key=lambda o: (o.created_at, o.order_no),
            reverse=True,
        )
        start = 0 if before is None else int(before)
        page = mine[start : start + limit]
        more = start + limit < len(mine)
        return page, str(start + limit) if more else None


class FakeDrivers:
    def __init__(self) -> None:
        self.drivers = {
            USER: Driver(user_id=USER, created_at=T0, openids={"wechat": "oWX-1"}),
            OTHER: Driver(user_id=OTHER, created_at=T0, openids={"alipay": "2088"}),
        }

    def get(self, user_id: str) -> Driver | None:
        return self.drivers.get(user_id)

    def find_login(self, app: LoginApp, openid: str) -> str | None:
        return None

    def create(self, driver: Driver, app: LoginApp, openid: str) -> bool:
        return False


class TopUpWorld(World):
    def __init__(self) -> None:
        super().__init__()
        self.topups = InMemoryTopUps()
        self.drivers = FakeDrivers()

    @property
    def topup_ports(self) -> TopUpPorts:
        return TopUpPorts(
            orders=self.topups,
            ledger=self.ledger,
            providers=self.provider_for,
            stations=self.base_data,
            drivers=self.drivers,
            clock=self.clock,
        )

    def notify(self, order_no: str, txn: str, amount_fen: int, **headers: str) -> object:
        ports = replace(self.ports, topups=self.topups)
        return record_payment_notice(
            ports,
            PaymentMethod.SANDBOX,
            headers or GOOD_HEADERS,
            notice_body(order_no, txn, amount_fen),
        )


def a_topup(world: TopUpWorld, **overrides: object) -> TopUpOrder:
    fields: dict[str, object] = {
        "request_id": "req-00001",
        "amount_fen": 5_000,
        "method": "sandbox",
        "station_id": STATION,
    }
    fields.update(overrides)
    return start_topup(
        world.topup_ports,
        USER,
        LoginApp.WECHAT,
        TopUpRequest(**fields),  # type: ignore[arg-type]
    )


def test_a_top_up_opens_the_prepay_once_and_is_created_once_per_request() -> None:
    world = TopUpWorld()
    order = a_topup(world)
    again = a_topup(world)
    assert order == again
    assert is_topup_order_no(order.order_no) and order.order_no == topup_order_no(USER, "req-00001")
    assert order.state is TopUpState.CREATED and order.operator_id == OPERATOR
    assert order.client_params == {"prepay_id": f"pp-{order.order_no}"}
    provider = world.providers[PaymentMethod.SANDBOX]
    assert provider.calls == ["create_prepay"]
    assert provider.prepays[order.order_no].amount_fen == 5_000
    assert world.ledger.accounts[WALLET].balance_fen == 0


def test_a_paid_notice_credits_the_wallet_once_when_replayed_15_times() -> None:
    world = TopUpWorld()
    order = a_topup(world)
    answers = {str(world.notify(order.order_no, "sbx-1", 5_000)) for _ in range(15)}
    assert answers == {str((200, {"Content-Type": "application/json"}, '{"code":"SUCCESS"}'))}
    assert world.balance(WALLET) == 5_000
    assert world.balance(clearing_account_id(OPERATOR, "sandbox")) == -5_000
    stored = world.topups.orders[order.order_no]
    assert (stored.state, stored.provider_txn_id) == (TopUpState.PAID, "sbx-1")
    assert len(world.ledger.entries[WALLET]) == 1
    assert world.ledger_problems() == []


@pytest.mark.parametrize(
    ("headers", "amount", "order_no", "status"),
    [
        ({"x-sign": "bad"}, 5_000, None, 401),
        (None, 4_999, None, 400),
        (None, 5_000, "TU" + "0" * 30, 400),
    ],
)
def test_refused_notices_change_nothing_when_tampered_or_mismatched(
    headers: dict[str, str] | None, amount: int, order_no: str | None, status: int
) -> None:
    world = TopUpWorld()
    order = a_topup(world)
    before = dict(world.topups.orders), world.balances()
    with pytest.raises(NotificationRejected) as refused:
        world.notify(order_no or order.order_no, "sbx-1", amount, **(headers or GOOD_HEADERS))
    assert refused.value.status == status
    assert (dict(world.topups.orders), world.balances()) == before


def test_another_payment_of_a_paid_top_up_is_a_conflict_and_credits_nothing() -> None:
    world = TopUpWorld()
    order = a_topup(world)
    world.notify(order.order_no, "sbx-1", 5_000)
    with pytest.raises(Conflict):
        world.notify(order.order_no, "sbx-2", 5_000)
    assert world.balance(WALLET) == 5_000


def test_a_notice_racing_another_payment_between_read_and_save_credits_once() -> None:
    world = TopUpWorld()
    order = a_topup(world)
    world.topups.before_save = lambda _: world.notify(order.order_no, "sbx-1", 5_000)
    world.notify(order.order_no, "sbx-1", 5_000)
    assert world.balance(WALLET) == 5_000


def test_a_paid_notice_for_a_payment_order_still_goes_to_the_workflow() -> None:
    world = TopUpWorld()
    with pytest.raises(NotificationRejected) as refused:
        world.notify("PO261102020000aaaaaaaaaaaa", "sbx-1", 400)
    assert refused.value.reason == "unknown_order"


def test_a_frozen_wallet_refuses_a_top_up_and_its_notice_changes_nothing() -> None:
    world = TopUpWorld()
    order = a_topup(world)
    freeze_wallet(
        world.ledger,
        account_id=WALLET,
        operator_id=OPERATOR,
        actor="op",
        reason="audit",
        clock=world.clock,
    )
    with pytest.raises(WalletFrozen):
        world.notify(order.order_no, "sbx-1", 5_000)
    assert world.topups.orders[order.order_no].state is TopUpState.CREATED
    with pytest.raises(WalletFrozen):
        a_topup(world, request_id="req-00002")
    assert len(world.topups.orders) == 1


def test_bad_top_up_requests_are_refused_and_store_nothing() -> None:
    world = TopUpWorld()
    for overrides, error in (
        ({"amount_fen": 0}, InvalidInput),
        ({"amount_fen": 500_001}, InvalidInput),
        ({"method": "wallet"}, InvalidInput),
        ({"method": "alipay"}, Conflict),  # signed in with WeChat
        ({"station_id": None}, InvalidInput),  # no station and no operator
        ({"station_id": None, "operator_id": OPERATOR}, InvalidInput),  # no wallet there yet
        ({"operator_id": OPERATOR}, InvalidInput),  # both named
        ({"station_id": "st-missing"}, NotFound),
    ):
        with pytest.raises(error):
            a_topup(world, **overrides)
    assert world.topups.orders == {}
    assert world.providers[PaymentMethod.SANDBOX].calls == []
    assert WALLET not in world.ledger.accounts


def test_a_reused_request_id_with_other_money_is_a_conflict() -> None:
    world = TopUpWorld()
    a_topup(world)
    with pytest.raises(Conflict):
        a_topup(world, amount_fen=6_000)


def test_a_later_top_up_may_name_the_operator_of_an_existing_wallet() -> None:
    world = TopUpWorld()
    a_topup(world)
    second = a_topup(world, request_id="req-00002", station_id=None, operator_id=OPERATOR)
    assert second.operator_id == OPERATOR


def test_a_failed_prepay_is_retried_by_the_same_request() -> None:
    world = TopUpWorld()
    world.providers[PaymentMethod.SANDBOX].fail_next["create_prepay"] = 1
    with pytest.raises(UpstreamFailure):
        a_topup(world)
    order = a_topup(world)
    assert order.client_params


def test_an_unpaid_top_up_expires_on_read_and_a_late_payment_is_still_credited() -> None:
    world = TopUpWorld()
    order = a_topup(world)
    world.clock.advance(minutes=16)
    closed = get_topup(world.topup_ports, USER, order.order_no)
    assert closed.state is TopUpState.CLOSED
    assert world.providers[PaymentMethod.SANDBOX].closed == [order.order_no]
    world.notify(order.order_no, "sbx-late", 5_000)
    assert world.balance(WALLET) == 5_000
    assert world.topups.orders[order.order_no].state is TopUpState.PAID


def test_an_expired_top_up_paid_at_the_provider_stays_open_for_its_notice() -> None:
    world = TopUpWorld()
    order = a_topup(world)
    world.providers[PaymentMethod.SANDBOX].paid[order.order_no] = 5_000
    world.clock.advance(minutes=16)
    listed, _ = list_topups(world.topup_ports, USER, limit=10, before=None)
    assert [o.state for o in listed] == [TopUpState.CREATED]


def test_history_lists_only_the_drivers_own_top_ups_newest_first() -> None:
    world = TopUpWorld()
    first = a_topup(world)
    world.clock.advance(seconds=5)
    second = a_topup(world, request_id="req-00002")
    found, cursor = list_topups(world.topup_ports, USER, limit=1, before=None)
    assert [o.order_no for o in found] == [second.order_no]
    rest, _ = list_topups(world.topup_ports, USER, limit=1, before=cursor)
    assert [o.order_no for o in rest] == [first.order_no]
    with pytest.raises(NotFound):
        get_topup(world.topup_ports, OTHER, first.order_no)
    with pytest.raises(InvalidInput):
        list_topups(world.topup_ports, USER, limit=0, before=None)


@settings(max_examples=40, deadline=None)
@given(
    amount=st.integers(1, 500_000),
    txns=st.lists(st.sampled_from(["t1", "t2", "t3"]), min_size=1, max_size=12),
)
def test_a_top_up_credits_exactly_its_amount_once_whatever_notices_arrive(
    amount: int, txns: list[str]
) -> None:
    order = new_topup(
        request_id="req-1",
        user_id=USER,
        operator_id=OPERATOR,
        payer_id=USER,
        method="sandbox",
        amount_fen=amount,
        now=T0,
    )
    winner: str | None = None
    for txn in txns:
        try:
            order = record_topup_paid(
                order, provider_txn_id=txn, amount_fen=amount, paid_at=T0, now=T0
            )
        except Conflict:
            assert winner is not None and txn != winner
            continue
        winner = winner or txn
        assert order.provider_txn_id == winner
    assert order.state is TopUpState.PAID and order.provider_txn_id == txns[0]
