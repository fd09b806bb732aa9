"""Admin actions on drivers' wallets against the in-memory ledger: money, audit, tenancy,
refusals that change nothing, and the resumable cancellation."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from shared.domain.errors import (
    Conflict,
    Forbidden,
    InsufficientBalance,
    InvalidInput,
    NotFound,
    UpstreamFailure,
    WalletFrozen,
)
from shared.domain.ledger import TransferKind, driver_wallet_id
from shared.domain.tenancy import Principal, Role
from shared.services import driver_accounts as accounts
from shared.services import wallets
from shared.services.driver_accounts import AccountStatus
from tests.conftest import FixedClock
from tests.unit.ledger_fakes import InMemoryLedgerRepository
from tests.unit.money_fakes import InMemoryDriverAccountStore

OP = "op-1"
ADMIN = Principal("alice", Role.OPERATOR_ADMIN, OP)
OTHER_ADMIN = Principal("bob", Role.OPERATOR_ADMIN, "op-2")
TECH = Principal("tom", Role.MAINTENANCE, OP)
ROOT = Principal("root", Role.PLATFORM_ADMIN, None)
USER = "u-1"
WALLET = driver_wallet_id(OP, USER)


class World:
    def __init__(self) -> None:
        self.clock = FixedClock()
        self.ledger = InMemoryLedgerRepository()
        self.store = InMemoryDriverAccountStore(self.ledger)
        wallets.open_wallet(
            self.ledger, account_id=WALLET, operator_id=OP, owner="", clock=self.clock
        )

    def top_up(self, amount_fen: Any = 1_000, request_id: str = "req-0001", **kw: Any) -> Any:
        self.clock.advance(seconds=1)
        values: dict[str, Any] = {"method": "admin", "reason": "goodwill", "principal": ADMIN}
        values.update(kw)
        principal = values.pop("principal")
        return accounts.top_up_driver(
            self.ledger,
            self.store,
            principal,
            values.pop("user_id", USER),
            amount_fen=amount_fen,
            request_id=request_id,
            clock=self.clock,
            **values,
        )

    def refund(self, amount_fen: Any = 300, request_id: str = "ref-0001", **kw: Any) -> Any:
        self.clock.advance(seconds=1)
        values: dict[str, Any] = {"reason": "overcharged", "principal": ADMIN}
        values.update(kw)
        principal = values.pop("principal")
        return accounts.refund_driver(
            self.ledger,
            self.store,
            principal,
            values.pop("user_id", USER),
            amount_fen=amount_fen,
            request_id=request_id,
            clock=self.clock,
            **values,
        )

    def act(self, name: str, principal: Principal = ADMIN, reason: Any = "why", **kw: Any) -> Any:
        self.clock.advance(seconds=1)
        function = getattr(accounts, f"{name}_driver")
        return function(
            self.ledger, self.store, principal, kw.pop("user_id", USER), reason=reason,
            clock=self.clock, **kw,
        )  # fmt: skip

    def state(self) -> Any:
        return copy.deepcopy(
            (
                self.ledger.accounts,
                self.ledger.transfers,
                dict(self.ledger.entries),
                self.ledger.audit,
                self.store.closures,
                self.store.audit,
            )
        )

    def audit_actions(self) -> list[str]:
        page = accounts.list_driver_audit(self.ledger, self.store, ADMIN, USER, limit=100)
        return [record.action for record in page.records]


@pytest.fixture
def world() -> World:
    return World()


def test_top_up_credits_once_per_request_and_is_audited(world: World) -> None:
    first = world.top_up(1_000)
    world.clock.advance(seconds=5)
    again = world.top_up(1_000)

    assert first.balance_fen == again.balance_fen == 1_000
    assert first.status is AccountStatus.ACTIVE
    assert world.ledger.entry_sum(WALLET) == 1_000
    assert world.ledger.entry_sum("operator:op-1:clearing:admin") == -1_000
    (record,) = world.store.audit.values()
    assert (record.action, record.actor, record.reason, record.amount_fen) == (
        "top_up",
        "alice",
        "goodwill",
        1_000,
    )
    assert record.reference == "driver-topup:op-1:u-1:req-0001"


def test_top_up_transfer_carries_the_user_for_the_transaction_list(world: World) -> None:
    world.top_up(1_000)

    transfer = world.ledger.transfers["driver-topup:op-1:u-1:req-0001"]
    assert transfer.details is not None and transfer.details.user_id == USER


def test_same_request_with_other_money_is_a_conflict_and_changes_nothing(world: World) -> None:
    world.top_up(1_000)
    before = world.state()

    with pytest.raises(Conflict):
        world.top_up(2_000)

    assert world.state() == before


def test_refund_pays_out_and_is_marked_admin_refund(world: World) -> None:
    world.top_up(1_000)

    wallet = world.refund(300)

    assert wallet.balance_fen == 700
    transfer = world.ledger.transfers["driver-refund:op-1:u-1:ref-0001"]
    assert transfer.kind is TransferKind.WITHDRAWAL
    assert transfer.details is not None and transfer.details.transaction_type == "admin_refund"
    assert world.audit_actions() == ["refund", "top_up"]


def test_refund_of_more_than_available_changes_nothing(world: World) -> None:
    world.top_up(200)
    before = world.state()

    with pytest.raises(InsufficientBalance):
        world.refund(300)

    assert world.state() == before


def test_freeze_and_unfreeze_are_audited_by_the_ledger(world: World) -> None:
    world.top_up(500)

    frozen = world.act("freeze", reason="suspicious top-ups")
    with pytest.raises(WalletFrozen):
        world.top_up(100, request_id="req-0002")
    thawed = world.act("unfreeze", reason="cleared by support")

    assert frozen.status is AccountStatus.FROZEN and thawed.status is AccountStatus.ACTIVE
    assert world.audit_actions() == ["unfreeze", "freeze", "top_up"]
    reasons = [r.reason for r in world.ledger.audit]
    assert reasons == ["suspicious top-ups", "cleared by support"]


def test_cancel_freezes_pays_out_the_balance_and_closes(world: World) -> None:
    world.top_up(1_000)

    cancelled = world.act("cancel", reason="driver asked to leave")

    assert cancelled.status is AccountStatus.CANCELLED
    assert cancelled.balance_fen == 0
    assert cancelled.closure is not None and cancelled.closure.refunded_fen == 1_000
    payout = world.ledger.transfers["driver-cancel:op-1:u-1"]
    assert payout.kind is TransferKind.CLOSURE and payout.amount_fen == 1_000
    assert world.ledger.entry_sum("operator:op-1:clearing:cash") == 1_000
    assert world.ledger.accounts[WALLET].is_frozen
    assert world.audit_actions()[0] == "cancel"


def test_a_cancelled_account_refuses_everything_and_changes_nothing(world: World) -> None:
    world.top_up(1_000)
    world.act("cancel")
    before = world.state()
    attempts: list[Callable[[], object]] = [
        lambda: world.top_up(100, request_id="req-0009"),
        lambda: world.refund(100, request_id="ref-0009"),
        lambda: world.act("freeze"),
        lambda: world.act("unfreeze"),
    ]

    for attempt in attempts:
        with pytest.raises(Conflict):
            attempt()
    with pytest.raises(WalletFrozen):
        wallets.hold(
            world.ledger,
            account_id=WALLET,
            operator_id=OP,
            amount_fen=1,
            reference="prepay:o-1",
            actor="wf",
            clock=world.clock,
        )
    again = world.act("cancel")

    assert again.status is AccountStatus.CANCELLED
    assert world.state() == before


def test_cancel_of_an_empty_frozen_wallet_moves_no_money(world: World) -> None:
    world.act("freeze")

    cancelled = world.act("cancel")

    assert cancelled.status is AccountStatus.CANCELLED
    assert "driver-cancel:op-1:u-1" not in world.ledger.transfers


def test_cancel_waits_for_money_on_hold_then_resumes(world: World) -> None:
    world.top_up(1_000)
    wallets.hold(
        world.ledger,
        account_id=WALLET,
        operator_id=OP,
        amount_fen=400,
        reference="prepay:o-1",
        actor="wf",
        clock=world.clock,
    )
    before = world.state()

    with pytest.raises(Conflict):
        world.act("cancel")
    assert world.state() == before  # refused before anything was written

    # Frozen by another admin meanwhile: the charge still settles, then cancel finishes.
    world.act("freeze")
    wallets.capture_hold(world.ledger, hold_id="prepay:o-1", amount_fen=250, actor="wf",
                         clock=world.clock)  # fmt: skip
    cancelled = world.act("cancel")

    assert cancelled.closure is not None and cancelled.closure.refunded_fen == 750
    assert world.ledger.accounts[WALLET].balance_fen == 0


def test_cancel_resumes_after_a_crash_without_paying_twice(world: World) -> None:
    world.top_up(1_000)
    world.store.fail_finish = True

    with pytest.raises(UpstreamFailure):
        world.act("cancel", reason="first try")
    world.store.fail_finish = False
    world.clock.advance(minutes=1)
    cancelled = world.act("cancel", reason="second try")

    assert cancelled.status is AccountStatus.CANCELLED
    assert cancelled.closure is not None and cancelled.closure.refunded_fen == 1_000
    assert world.ledger.entry_sum(WALLET) == 0
    assert [r.reason for r in world.store.audit.values() if r.action == "cancel"] == ["first try"]


def test_other_operators_drivers_do_not_exist(world: World) -> None:
    world.top_up(1_000)
    before = world.state()

    for attempt in (
        lambda: world.top_up(100, request_id="req-0002", principal=OTHER_ADMIN),
        lambda: world.refund(100, principal=OTHER_ADMIN),
        lambda: world.act("freeze", OTHER_ADMIN),
        lambda: world.act("unfreeze", OTHER_ADMIN),
        lambda: world.act("cancel", OTHER_ADMIN),
        lambda: accounts.get_driver_wallet(world.ledger, world.store, OTHER_ADMIN, USER),
        lambda: accounts.list_driver_audit(world.ledger, world.store, OTHER_ADMIN, USER),
        # Staff naming another operator's wallet of the driver get nothing either.
        lambda: world.top_up(100, request_id="req-0002", principal=OTHER_ADMIN, operator_id=OP),
        lambda: accounts.get_driver_wallet(
            world.ledger, world.store, OTHER_ADMIN, USER, operator_id=OP
        ),
    ):
        with pytest.raises(NotFound):
            attempt()
    assert world.state() == before


def test_platform_admin_acts_on_any_operators_driver(world: World) -> None:
    wallet = world.top_up(1_000, principal=ROOT, operator_id=OP)

    assert wallet.operator_id == OP
    assert world.audit_actions() == ["top_up"]


def test_platform_admin_names_the_operator_of_the_wallet_or_changes_nothing(
    world: World,
) -> None:
    before = world.state()
    for attempt in (
        lambda: world.top_up(1_000, principal=ROOT),
        lambda: world.top_up(1_000, principal=ROOT, operator_id="op:1"),
        lambda: accounts.get_driver_wallet(world.ledger, world.store, ROOT, USER),
    ):
        with pytest.raises(InvalidInput):
            attempt()
    with pytest.raises(NotFound):
        world.top_up(1_000, principal=ROOT, operator_id="op-2")
    assert world.state() == before


def test_a_driver_has_one_wallet_per_operator_each_operator_acts_on_its_own(
    world: World,
) -> None:
    wallets.open_wallet(
        world.ledger,
        account_id=driver_wallet_id("op-2", USER),
        operator_id="op-2",
        owner="",
        clock=world.clock,
    )
    world.top_up(1_000)
    world.top_up(400, principal=OTHER_ADMIN)  # the same request id at another operator
    world.act("freeze", OTHER_ADMIN)

    mine = accounts.get_driver_wallet(world.ledger, world.store, ADMIN, USER)
    theirs = accounts.get_driver_wallet(world.ledger, world.store, ROOT, USER, operator_id="op-2")
    assert (mine.account_id, mine.balance_fen, mine.status) == (
        WALLET,
        1_000,
        AccountStatus.ACTIVE,
    )
    assert (theirs.account_id, theirs.balance_fen, theirs.status) == (
        "driver:op-2:u-1",
        400,
        AccountStatus.FROZEN,
    )
    assert sum(a.balance_fen for a in world.ledger.accounts.values()) == 0


def test_maintenance_staff_are_forbidden(world: World) -> None:
    with pytest.raises(Forbidden):
        world.top_up(100, principal=TECH)
    with pytest.raises(Forbidden):
        accounts.get_driver_wallet(world.ledger, world.store, TECH, USER)


@pytest.mark.parametrize(
    "call",
    [
        lambda w: w.top_up(0),
        lambda w: w.top_up(-5),
        lambda w: w.top_up(1.5),
        lambda w: w.top_up(10_000_001),
        lambda w: w.top_up(100, request_id="short"),
        lambda w: w.top_up(100, request_id="has space 123"),
        lambda w: w.top_up(100, method="wechat"),
        lambda w: w.top_up(100, reason=""),
        lambda w: w.top_up(100, reason="   "),
        lambda w: w.refund(100, reason="x" * 201),
        lambda w: w.act("freeze", reason=""),
        lambda w: w.act("cancel", reason="\x07"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(world: World, call: Any) -> None:
    world.top_up(1_000)
    before = world.state()

    with pytest.raises(InvalidInput):
        call(world)

    assert world.state() == before


@pytest.mark.parametrize("user_id", ["", "a b", "x" * 65, "u#1", "../u"])
def test_malformed_user_ids_name_nobody(world: World, user_id: str) -> None:
    with pytest.raises(NotFound):
        accounts.get_driver_wallet(world.ledger, world.store, ADMIN, user_id)


def test_audit_pages_newest_first(world: World) -> None:
    for n in range(5):
        world.clock.advance(seconds=1)
        world.top_up(100, request_id=f"req-000{n}")

    first = accounts.list_driver_audit(world.ledger, world.store, ADMIN, USER, limit=3)
    second = accounts.list_driver_audit(
        world.ledger, world.store, ADMIN, USER, limit=3, cursor=first.next_cursor
    )

    refs = [r.reference for r in (*first.records, *second.records)]
    assert refs == [f"driver-topup:op-1:u-1:req-000{n}" for n in (4, 3, 2, 1, 0)]
    assert second.next_cursor is None
    with pytest.raises(InvalidInput):
        accounts.list_driver_audit(world.ledger, world.store, ADMIN, USER, limit=0)
