"""Stateful property test: random wallet operations, repeats and interleavings, against a model.

Hypothesis drives top-ups, withdrawals, holds, captures, releases and freezes over a
small pool of references (so repeats and conflicting reuse happen often), sometimes
running a second operation between the first one's plan and its commit (what a
concurrent writer does). After every step: money is conserved (all balances sum to 0),
every balance is the sum of its entries, every wallet entry's balance_after is the
running balance in commit order, no wallet is negative or over-held, the held amount is
the sum of pending holds, and the ledger matches the model exactly.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from shared.domain.errors import (
    ChargingError,
    Conflict,
    InsufficientBalance,
    InvalidInput,
    NotFound,
    WalletFrozen,
)
from shared.domain.ledger import TransferKind, resolution_id
from shared.services import wallets
from tests.unit.ledger_fakes import InMemoryLedgerRepository

WALLET_OPERATORS = {"card:A": "op-1", "card:B": "op-1", "driver:U": "op-2"}
OPERATORS = ["op-1", "op-2"]
REFERENCES = [f"ref-{n}" for n in range(8)]
METHODS = ["cash", "wechat", "alipay", "admin"]

wallet_ids = st.sampled_from(sorted(WALLET_OPERATORS))
references = st.sampled_from(REFERENCES)
amounts = st.integers(min_value=1, max_value=2_000)


@dataclass
class Model:
    """What the ledger must hold, computed without it."""

    balance: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    held: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    frozen: dict[str, bool] = field(default_factory=lambda: defaultdict(bool))
    signatures: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    holds: dict[str, tuple[str, int, str]] = field(default_factory=dict)

    def available(self, wallet: str) -> int:
        return self.balance[wallet] - self.held[wallet]


# Each op: (name, args). ``predict`` applies it to the model and returns the error class
# expected (None: success or an idempotent repeat). ``perform`` runs it on the ledger.


def predict(model: Model, op: tuple[Any, ...]) -> type[ChargingError] | None:
    name, *args = op
    if name in ("top_up", "withdraw", "hold"):
        wallet, operator, amount, reference, method = args
        signature = (name, wallet, operator, amount, method if name == "top_up" else None)
        if reference in model.signatures:
            return None if model.signatures[reference] == signature else Conflict
        if WALLET_OPERATORS[wallet] != operator:
            return NotFound
        if model.frozen[wallet]:
            return WalletFrozen
        if name != "top_up" and model.available(wallet) < amount:
            return InsufficientBalance
        model.signatures[reference] = signature
        if name == "top_up":
            model.balance[wallet] += amount
            model.balance[f"operator:{operator}:clearing:{method}"] -= amount
        elif name == "withdraw":
            model.balance[wallet] -= amount
            model.balance[f"operator:{operator}:clearing:cash"] += amount
        else:
            model.held[wallet] += amount
            model.holds[reference] = (wallet, amount, operator)
        return None
    if name in ("capture", "release"):
        hold_id, amount = args
        if hold_id not in model.holds:
            return NotFound
        wallet, held, operator = model.holds[hold_id]
        if name == "capture" and amount > held:
            return InvalidInput
        resolution_signature = (name, hold_id, amount if name == "capture" else None)
        resolution = resolution_id(hold_id)
        if resolution in model.signatures:
            return None if model.signatures[resolution] == resolution_signature else Conflict
        model.signatures[resolution] = resolution_signature
        model.held[wallet] -= held
        if name == "capture":
            model.balance[wallet] -= amount
            model.balance[f"operator:{operator}:revenue"] += amount
        return None
    wallet, operator, is_frozen = args
    if WALLET_OPERATORS[wallet] != operator:
        return NotFound
    model.frozen[wallet] = is_frozen
    return None


def is_committing(model: Model, op: tuple[Any, ...]) -> bool:
    """Would ``op`` reach a commit (so an interleaved writer gets its chance)?"""
    if op[0] == "freeze":
        return False
    trial = copy.deepcopy(model)
    signatures_before = len(trial.signatures)
    return predict(trial, op) is None and len(trial.signatures) > signatures_before


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ledger = InMemoryLedgerRepository()
        self.model = Model()
        self.now = datetime(2026, 11, 1, tzinfo=UTC)
        for wallet, operator in WALLET_OPERATORS.items():
            wallets.open_wallet(
                self.ledger, account_id=wallet, operator_id=operator, owner="", clock=self.clock
            )

    def clock(self) -> datetime:
        return self.now

    def perform(self, op: tuple[Any, ...]) -> None:
        name, *args = op
        ledger, clock = self.ledger, self.clock
        if name == "top_up":
            wallet, operator, amount, reference, method = args
            view = wallets.top_up_wallet(
                ledger,
                account_id=wallet,
                operator_id=operator,
                amount_fen=amount,
                reference=reference,
                method=method,
                actor="alice",
                clock=clock,
            )
            assert view.account_id == wallet
        elif name == "withdraw":
            wallet, operator, amount, reference, _ = args
            wallets.withdraw_wallet(
                ledger,
                account_id=wallet,
                operator_id=operator,
                amount_fen=amount,
                reference=reference,
                actor="alice",
                clock=clock,
            )
        elif name == "hold":
            wallet, operator, amount, reference, _ = args
            held = wallets.hold(
                ledger,
                account_id=wallet,
                operator_id=operator,
                amount_fen=amount,
                reference=reference,
                actor="workflow",
                clock=clock,
            )
            assert held.hold_id == reference
        elif name == "capture":
            hold_id, amount = args
            wallets.capture_hold(ledger, hold_id=hold_id, amount_fen=amount, actor="w", clock=clock)
        elif name == "release":
            wallets.release_hold(ledger, hold_id=args[0], actor="w", clock=clock)
        else:
            wallet, operator, is_frozen = args
            change = wallets.freeze_wallet if is_frozen else wallets.unfreeze_wallet
            change(
                ledger, account_id=wallet, operator_id=operator, actor="a", reason="r", clock=clock
            )

    def check(self, op: tuple[Any, ...]) -> None:
        expected = predict(self.model, op)
        try:
            self.perform(op)
        except ChargingError as exc:
            assert type(exc) is expected, (op, exc)
        else:
            assert expected is None, (op, expected)

    def run(self, op: tuple[Any, ...], concurrent: tuple[Any, ...] | None) -> None:
        self.now += timedelta(seconds=1)
        if concurrent is None or not is_committing(self.model, op):
            self.check(op)
            return
        fired: list[bool] = []

        def interleave(_: object) -> None:
            fired.append(True)
            self.check(concurrent)

        self.ledger.before_commit = interleave
        try:
            try:
                self.perform(op)
            except ChargingError as exc:
                seen: ChargingError | None = exc
            else:
                seen = None
            assert fired, "the interleaved operation never ran"
            # The concurrent op committed first (the model took it in the hook); ``op``
            # was then planned again against the state it left.
            expected = predict(self.model, op)
            assert (None if seen is None else type(seen)) is expected, (op, concurrent, seen)
        finally:
            self.ledger.before_commit = None

    # ------------------------------------------------------------ rules

    def ops(self) -> st.SearchStrategy[tuple[Any, ...]]:
        return st.one_of(
            st.tuples(
                st.sampled_from(["top_up", "withdraw", "hold"]),
                wallet_ids,
                st.sampled_from(OPERATORS),
                amounts,
                references,
                st.sampled_from(METHODS),
            ),
            st.tuples(st.just("capture"), references, amounts),
            st.tuples(st.just("release"), references, st.just(0)),
        )

    @rule(
        wallet=wallet_ids,
        amount=amounts,
        reference=references,
        method=st.sampled_from(METHODS),
        is_own=st.booleans(),
    )
    def top_up(self, wallet: str, amount: int, reference: str, method: str, is_own: bool) -> None:
        operator = WALLET_OPERATORS[wallet] if is_own else "op-2"
        self.run(("top_up", wallet, operator, amount, reference, method), None)

    @rule(wallet=wallet_ids, amount=amounts, reference=references)
    def withdraw(self, wallet: str, amount: int, reference: str) -> None:
        self.run(("withdraw", wallet, WALLET_OPERATORS[wallet], amount, reference, "cash"), None)

    @rule(wallet=wallet_ids, amount=amounts, reference=references)
    def hold(self, wallet: str, amount: int, reference: str) -> None:
        self.run(("hold", wallet, WALLET_OPERATORS[wallet], amount, reference, "cash"), None)

    @rule(reference=references, amount=amounts)
    def capture(self, reference: str, amount: int) -> None:
        self.run(("capture", reference, amount), None)

    @rule(reference=references)
    def release(self, reference: str) -> None:
        self.run(("release", reference, 0), None)

    @rule(wallet=wallet_ids, is_frozen=st.booleans())
    def freeze(self, wallet: str, is_frozen: bool) -> None:
        self.run(("freeze", wallet, WALLET_OPERATORS[wallet], is_frozen), None)

    @rule(data=st.data())
    def interleaved(self, data: st.DataObject) -> None:
        op = data.draw(self.ops())
        concurrent = data.draw(self.ops())
        op = self.own_operator(op)
        concurrent = self.own_operator(concurrent)
        self.run(op, concurrent)

    @staticmethod
    def own_operator(op: tuple[Any, ...]) -> tuple[Any, ...]:
        if op[0] in ("top_up", "withdraw", "hold"):
            return (op[0], op[1], WALLET_OPERATORS[op[1]], *op[3:])
        return op

    # ------------------------------------------------------------ invariants

    @invariant()
    def money_is_conserved(self) -> None:
        assert sum(account.balance_fen for account in self.ledger.accounts.values()) == 0

    @invariant()
    def every_balance_is_the_sum_of_its_entries(self) -> None:
        for account_id, account in self.ledger.accounts.items():
            assert account.balance_fen == self.ledger.entry_sum(account_id)

    @invariant()
    def wallets_never_go_negative_and_hold_only_what_is_pending(self) -> None:
        pending: dict[str, int] = defaultdict(int)
        for transfer in self.ledger.transfers.values():
            if (
                transfer.kind is TransferKind.HOLD
                and resolution_id(transfer.transfer_id) not in self.ledger.transfers
            ):
                pending[transfer.account_id] += transfer.amount_fen
        for wallet in WALLET_OPERATORS:
            account = self.ledger.accounts[wallet]
            assert account.balance_fen >= 0
            assert account.held_fen >= 0
            assert account.available_fen >= 0
            assert account.held_fen == pending[wallet]

    @invariant()
    def balance_after_is_the_running_balance_in_commit_order(self) -> None:
        running: dict[str, int] = defaultdict(int)
        for transfer in self.ledger.transfers.values():
            for leg in transfer.legs:
                running[leg.account_id] += leg.amount_fen
                if leg.account_id in WALLET_OPERATORS and leg.amount_fen:
                    entry = next(
                        entry
                        for entry in self.ledger.entries[leg.account_id].values()
                        if entry.transfer_id == transfer.transfer_id
                    )
                    assert entry.balance_after_fen == running[leg.account_id]

    @invariant()
    def the_ledger_matches_the_model(self) -> None:
        for account_id, account in self.ledger.accounts.items():
            assert account.balance_fen == self.model.balance[account_id], account_id
        for wallet in WALLET_OPERATORS:
            account = self.ledger.accounts[wallet]
            assert account.held_fen == self.model.held[wallet]
            assert account.is_frozen == self.model.frozen[wallet]
        assert set(self.ledger.transfers) == set(self.model.signatures)


LedgerMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLedgerStateMachine = LedgerMachine.TestCase
