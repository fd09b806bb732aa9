"""Wallet use cases against the in-memory ledger (same semantics as the DynamoDB adapter)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shared.domain.errors import Conflict, InsufficientBalance, InvalidInput, NotFound, WalletFrozen
from shared.domain.ledger import HoldStatus, TransferKind
from shared.services import wallets
from shared.services.wallets import HoldView, WalletView
from tests.unit.ledger_fakes import InMemoryLedgerRepository

CARD = "card:CARD-1"
OP = "op-1"


@pytest.fixture
def ledger(clock):
    repo = InMemoryLedgerRepository()
    wallets.open_wallet(repo, account_id=CARD, operator_id=OP, owner="Li Lei", clock=clock)
    return repo


def top_up(
    ledger: InMemoryLedgerRepository,
    clock: Any,
    amount_fen: Any = 1000,
    reference: str = "card-topup:CARD-1:req-1",
    **overrides: Any,
) -> WalletView:
    values: dict[str, Any] = {
        "account_id": CARD,
        "operator_id": OP,
        "amount_fen": amount_fen,
        "reference": reference,
        "method": "cash",
        "actor": "alice",
        "clock": clock,
    }
    values.update(overrides)
    return wallets.top_up_wallet(ledger, **values)


def withdraw(
    ledger: InMemoryLedgerRepository,
    clock: Any,
    amount_fen: int = 300,
    reference: str = "card-withdraw:CARD-1:1",
    **overrides: Any,
) -> WalletView:
    values: dict[str, Any] = {
        "account_id": CARD,
        "operator_id": OP,
        "amount_fen": amount_fen,
        "reference": reference,
        "actor": "alice",
        "clock": clock,
    }
    values.update(overrides)
    return wallets.withdraw_wallet(ledger, **values)


def place_hold(
    ledger: InMemoryLedgerRepository,
    clock: Any,
    amount_fen: int = 500,
    reference: str = "prepay:S-1",
) -> HoldView:
    return wallets.hold(
        ledger,
        account_id=CARD,
        operator_id=OP,
        amount_fen=amount_fen,
        reference=reference,
        actor="workflow",
        clock=clock,
    )


def snapshot(ledger: InMemoryLedgerRepository) -> Any:
    return copy.deepcopy((ledger.accounts, ledger.transfers, dict(ledger.entries)))


def assert_books_balance(ledger: InMemoryLedgerRepository) -> None:
    assert sum(account.balance_fen for account in ledger.accounts.values()) == 0
    for account_id, account in ledger.accounts.items():
        assert account.balance_fen == ledger.entry_sum(account_id)


def test_open_wallet_answers_the_existing_wallet_when_opened_again(ledger, clock):
    top_up(ledger, clock)
    again = wallets.open_wallet(ledger, account_id=CARD, operator_id=OP, owner="x", clock=clock)
    assert again.balance_fen == 1000
    assert again.owner == "Li Lei"


def test_open_wallet_is_a_conflict_when_the_id_is_another_operators(ledger, clock):
    with pytest.raises(Conflict):
        wallets.open_wallet(ledger, account_id=CARD, operator_id="op-2", owner="x", clock=clock)


@pytest.mark.parametrize("account_id", ["operator:op-1:revenue", "bank:1", "card:", "card:a b"])
def test_open_wallet_is_refused_when_the_id_is_not_a_wallet_id(account_id, clock):
    ledger = InMemoryLedgerRepository()
    with pytest.raises(InvalidInput):
        wallets.open_wallet(ledger, account_id=account_id, operator_id=OP, owner="", clock=clock)
    assert ledger.accounts == {}


def test_top_up_credits_the_wallet_when_the_reference_is_new(ledger, clock):
    view = top_up(ledger, clock, amount_fen=1000)
    assert (view.account_id, view.operator_id, view.balance_fen, view.is_frozen) == (
        CARD,
        OP,
        1000,
        False,
    )
    assert view.updated_at == clock.now
    assert ledger.accounts["operator:op-1:clearing:cash"].balance_fen == -1000
    assert_books_balance(ledger)


def test_top_up_changes_nothing_when_repeated_with_the_same_reference(ledger, clock):
    first = top_up(ledger, clock)
    before = snapshot(ledger)
    clock.advance(minutes=5)
    again = top_up(ledger, clock, actor="bob")
    assert again == first
    assert snapshot(ledger) == before


@pytest.mark.parametrize(
    "changes",
    [{"amount_fen": 999}, {"method": "wechat"}, {"account_id": "card:CARD-2"}],
)
def test_top_up_is_a_conflict_when_the_reference_was_used_for_other_money(ledger, clock, changes):
    wallets.open_wallet(ledger, account_id="card:CARD-2", operator_id=OP, owner="", clock=clock)
    top_up(ledger, clock)
    before = snapshot(ledger)
    with pytest.raises(Conflict):
        top_up(ledger, clock, **changes)
    assert snapshot(ledger) == before


@pytest.mark.parametrize("amount", [0, -5, True, 10.0, "100", None, 10_000_001])
def test_top_up_is_refused_when_the_amount_is_not_positive_int_fen(ledger, clock, amount):
    before = snapshot(ledger)
    with pytest.raises(InvalidInput):
        top_up(ledger, clock, amount_fen=amount)
    assert snapshot(ledger) == before


def test_top_up_is_not_found_when_the_wallet_is_another_operators(ledger, clock):
    before = snapshot(ledger)
    with pytest.raises(NotFound):
        top_up(ledger, clock, operator_id="op-2")
    with pytest.raises(NotFound):
        top_up(ledger, clock, account_id="card:NOPE", reference="r-2")
    assert snapshot(ledger) == before


def test_withdraw_debits_down_to_zero_and_refuses_one_fen_more(ledger, clock):
    top_up(ledger, clock, amount_fen=1000)
    assert withdraw(ledger, clock, amount_fen=1000).balance_fen == 0
    before = snapshot(ledger)
    with pytest.raises(InsufficientBalance):
        withdraw(ledger, clock, amount_fen=1, reference="wd-2")
    assert snapshot(ledger) == before
    assert ledger.accounts["operator:op-1:clearing:cash"].balance_fen == 0
    assert_books_balance(ledger)


def test_withdraw_repeat_answers_the_wallet_when_the_balance_no_longer_covers_it(ledger, clock):
    top_up(ledger, clock, amount_fen=300)
    withdraw(ledger, clock, amount_fen=300)
    assert withdraw(ledger, clock, amount_fen=300).balance_fen == 0


def test_frozen_wallet_refuses_top_up_withdraw_and_hold(ledger, clock):
    top_up(ledger, clock)
    view = wallets.freeze_wallet(
        ledger, account_id=CARD, operator_id=OP, actor="alice", reason="card lost", clock=clock
    )
    assert view.is_frozen
    before = snapshot(ledger)
    with pytest.raises(WalletFrozen):
        top_up(ledger, clock, reference="r-2")
    with pytest.raises(WalletFrozen):
        withdraw(ledger, clock)
    with pytest.raises(WalletFrozen):
        place_hold(ledger, clock)
    assert snapshot(ledger) == before
    wallets.unfreeze_wallet(
        ledger, account_id=CARD, operator_id=OP, actor="alice", reason="found", clock=clock
    )
    assert withdraw(ledger, clock).balance_fen == 700
    assert [(r.action, r.actor, r.reason) for r in ledger.audit] == [
        ("freeze", "alice", "card lost"),
        ("unfreeze", "alice", "found"),
    ]


def test_freeze_changes_nothing_when_already_frozen(ledger, clock):
    wallets.freeze_wallet(
        ledger, account_id=CARD, operator_id=OP, actor="a", reason="r", clock=clock
    )
    before = snapshot(ledger)
    wallets.freeze_wallet(
        ledger, account_id=CARD, operator_id=OP, actor="a", reason="r", clock=clock
    )
    assert snapshot(ledger) == before
    assert len(ledger.audit) == 1


def test_freeze_is_not_found_when_the_wallet_is_another_operators(ledger, clock):
    with pytest.raises(NotFound):
        wallets.freeze_wallet(
            ledger, account_id=CARD, operator_id="op-2", actor="a", reason="r", clock=clock
        )
    with pytest.raises(InvalidInput):
        wallets.freeze_wallet(
            ledger, account_id=CARD, operator_id=OP, actor="a", reason=" ", clock=clock
        )
    assert not ledger.accounts[CARD].is_frozen


def test_get_wallet_is_not_found_when_absent_or_not_a_wallet(ledger, clock):
    top_up(ledger, clock)
    with pytest.raises(NotFound):
        wallets.get_wallet(ledger, "card:NOPE")
    with pytest.raises(InvalidInput):
        wallets.get_wallet(ledger, "operator:op-1:clearing:cash")


def test_hold_reserves_money_and_capture_posts_part_of_it(ledger, clock):
    top_up(ledger, clock, amount_fen=1000)
    held = place_hold(ledger, clock, amount_fen=400)
    assert (held.status, held.amount_fen, held.captured_fen) == (HoldStatus.PENDING, 400, 0)
    view = wallets.get_wallet(ledger, CARD)
    assert (view.balance_fen, view.held_fen, view.available_fen) == (1000, 400, 600)
    with pytest.raises(InsufficientBalance):
        withdraw(ledger, clock, amount_fen=601)
    captured = wallets.capture_hold(
        ledger, hold_id="prepay:S-1", amount_fen=300, actor="w", clock=clock
    )
    assert (captured.status, captured.captured_fen) == (HoldStatus.POSTED, 300)
    view = wallets.get_wallet(ledger, CARD)
    assert (view.balance_fen, view.held_fen) == (700, 0)
    assert ledger.accounts["operator:op-1:revenue"].balance_fen == 300
    assert_books_balance(ledger)


def test_capture_changes_nothing_when_repeated_with_the_same_amount(ledger, clock):
    top_up(ledger, clock)
    place_hold(ledger, clock)
    first = wallets.capture_hold(
        ledger, hold_id="prepay:S-1", amount_fen=300, actor="w", clock=clock
    )
    before = snapshot(ledger)
    again = wallets.capture_hold(
        ledger, hold_id="prepay:S-1", amount_fen=300, actor="w", clock=clock
    )
    assert again == first
    assert snapshot(ledger) == before
    with pytest.raises(Conflict):
        wallets.capture_hold(ledger, hold_id="prepay:S-1", amount_fen=200, actor="w", clock=clock)
    with pytest.raises(Conflict, match="hold already posted"):
        wallets.release_hold(ledger, hold_id="prepay:S-1", actor="w", clock=clock)
    assert snapshot(ledger) == before


def test_release_frees_the_hold_once_and_refuses_a_later_capture(ledger, clock):
    top_up(ledger, clock)
    place_hold(ledger, clock, amount_fen=1000)
    released = wallets.release_hold(ledger, hold_id="prepay:S-1", actor="w", clock=clock)
    assert released.status is HoldStatus.VOIDED
    before = snapshot(ledger)
    assert wallets.release_hold(ledger, hold_id="prepay:S-1", actor="w", clock=clock) == released
    with pytest.raises(Conflict, match="hold already voided"):
        wallets.capture_hold(ledger, hold_id="prepay:S-1", amount_fen=1, actor="w", clock=clock)
    assert snapshot(ledger) == before
    assert wallets.get_wallet(ledger, CARD).available_fen == 1000
    assert wallets.get_hold(ledger, "prepay:S-1").status is HoldStatus.VOIDED


def test_capture_is_refused_when_more_than_held_or_the_hold_is_unknown(ledger, clock):
    top_up(ledger, clock)
    place_hold(ledger, clock, amount_fen=500)
    before = snapshot(ledger)
    with pytest.raises(InvalidInput):
        wallets.capture_hold(ledger, hold_id="prepay:S-1", amount_fen=501, actor="w", clock=clock)
    with pytest.raises(NotFound):
        wallets.capture_hold(ledger, hold_id="prepay:S-9", amount_fen=1, actor="w", clock=clock)
    with pytest.raises(NotFound):
        wallets.release_hold(ledger, hold_id="card-topup:CARD-1:req-1", actor="w", clock=clock)
    assert snapshot(ledger) == before


def test_capture_and_release_work_when_the_wallet_was_frozen_after_the_hold(ledger, clock):
    top_up(ledger, clock)
    place_hold(ledger, clock, amount_fen=500)
    place_hold(ledger, clock, amount_fen=200, reference="prepay:S-2")
    wallets.freeze_wallet(
        ledger, account_id=CARD, operator_id=OP, actor="a", reason="r", clock=clock
    )
    wallets.capture_hold(ledger, hold_id="prepay:S-1", amount_fen=500, actor="w", clock=clock)
    wallets.release_hold(ledger, hold_id="prepay:S-2", actor="w", clock=clock)
    view = wallets.get_wallet(ledger, CARD)
    assert (view.balance_fen, view.held_fen, view.is_frozen) == (500, 0, True)


def test_entries_are_listed_newest_first_in_pages(ledger, clock):
    for n in range(5):
        clock.advance(seconds=1)
        top_up(ledger, clock, amount_fen=100 * (n + 1), reference=f"r-{n}")
    page = wallets.list_wallet_entries(ledger, CARD, limit=2)
    assert [entry.transfer_id for entry in page.entries] == ["r-4", "r-3"]
    assert [entry.balance_after_fen for entry in page.entries] == [1500, 1000]
    page = wallets.list_wallet_entries(ledger, CARD, limit=2, cursor=page.next_cursor)
    assert [entry.transfer_id for entry in page.entries] == ["r-2", "r-1"]
    page = wallets.list_wallet_entries(ledger, CARD, limit=2, cursor=page.next_cursor)
    assert [entry.transfer_id for entry in page.entries] == ["r-0"]
    assert page.next_cursor is None
    assert page.entries[0].transfer_kind is TransferKind.TOP_UP


@pytest.mark.parametrize("limit", [0, 201, True, "5"])
def test_entries_are_refused_when_the_limit_is_out_of_range(ledger, limit):
    with pytest.raises(InvalidInput):
        wallets.list_wallet_entries(ledger, CARD, limit=limit)


def test_a_debit_is_planned_again_when_another_debit_commits_in_between(ledger, clock):
    top_up(ledger, clock, amount_fen=500)
    ledger.before_commit = lambda _: withdraw(ledger, clock, amount_fen=300, reference="wd-other")
    with pytest.raises(InsufficientBalance):
        withdraw(ledger, clock, amount_fen=300, reference="wd-mine")
    assert ledger.stale_plans == 1
    assert wallets.get_wallet(ledger, CARD).balance_fen == 200
    assert "wd-mine" not in ledger.transfers
    assert_books_balance(ledger)


def test_balance_after_is_exact_when_a_top_up_lands_between_plan_and_commit(ledger, clock):
    top_up(ledger, clock, amount_fen=500)
    ledger.before_commit = lambda _: top_up(ledger, clock, amount_fen=50, reference="other")
    withdraw(ledger, clock, amount_fen=300, reference="wd-mine")
    entry = ledger.entries[CARD][
        next(key for key in ledger.entries[CARD] if key.endswith("#wd-mine"))
    ]
    assert entry.balance_after_fen == 250
    assert_books_balance(ledger)


def test_a_duplicate_committing_in_between_turns_the_call_into_a_repeat(ledger, clock):
    top_up(ledger, clock, amount_fen=500)
    ledger.before_commit = lambda _: withdraw(ledger, clock, amount_fen=500, reference="wd-1")
    assert withdraw(ledger, clock, amount_fen=500, reference="wd-1").balance_fen == 0
    assert_books_balance(ledger)
