"""A driver's wallets listed (``driver_wallets.list_wallets``) on the in-memory ledger with a
per-driver index like LedgerTable's GSI3, and the index key the DynamoDB adapter derives
from the account id (Hypothesis: one driver's key never lists another's wallet)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.adapters.dynamodb.ledger import (
    driver_index_attributes,
    driver_wallet_owner,
    driver_wallets_key,
)
from shared.domain.base_data import Operator
from shared.domain.errors import InvalidInput, NotFound
from shared.domain.ledger import Account, card_wallet_id, driver_wallet_id
from shared.domain.tenancy import Principal
from shared.services import wallets
from shared.services.driver_wallets import DriverWallet, list_wallets
from tests.unit.ledger_fakes import InMemoryLedgerRepository

T0 = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


class IndexedLedger(InMemoryLedgerRepository):
    """The in-memory ledger plus the per-driver index the DynamoDB adapter keeps (the same
    key function, so the fake cannot drift from it)."""

    def __init__(self) -> None:
        super().__init__()
        self.index_reads = 0

    def driver_accounts(self, user_id: str) -> list[Account]:
        self.index_reads += 1
        key = driver_wallets_key(user_id)
        found = [
            account
            for account in self.accounts.values()
            if driver_index_attributes(account.account_id).get("gsi3pk") == {"S": key}
        ]
        return sorted(found, key=lambda account: account.operator_id)


@dataclass
class FakeOperators:
    names: dict[str, str] = field(default_factory=dict)
    reads: list[str] = field(default_factory=list)

    def get_operator(self, principal: Principal, operator_id: str) -> Operator:
        self.reads.append(operator_id)
        if operator_id not in self.names:
            raise NotFound("operator not found", kind="operator", id=operator_id)
        return Operator(
            operator_id=operator_id, name=self.names[operator_id], created_at=T0, updated_at=T0
        )


def clock() -> datetime:
    return T0


def open_funded(ledger: IndexedLedger, operator_id: str, user_id: str, amount_fen: int) -> str:
    account_id = driver_wallet_id(operator_id, user_id)
    wallets.open_wallet(
        ledger, account_id=account_id, operator_id=operator_id, owner=user_id, clock=clock
    )
    if amount_fen:
        wallets.top_up_wallet(
            ledger,
            account_id=account_id,
            operator_id=operator_id,
            amount_fen=amount_fen,
            reference=f"topup:{account_id}",
            method="wechat",
            actor=user_id,
            clock=clock,
        )
    return account_id


@pytest.fixture
def ledger() -> IndexedLedger:
    ledger = IndexedLedger()
    open_funded(ledger, "op-2", "u-a", 2_000)
    held = open_funded(ledger, "op-1", "u-a", 5_000)
    wallets.hold(
        ledger,
        account_id=held,
        operator_id="op-1",
        amount_fen=1_200,
        reference="prepay:PO-1",
        actor="payments",
        clock=clock,
    )
    open_funded(ledger, "op-1", "u-b", 700)  # another driver at the same operator
    wallets.open_wallet(
        ledger, account_id=card_wallet_id("CARD-1"), operator_id="op-1", owner="u-a", clock=clock
    )
    return ledger


def test_a_driver_with_wallets_at_two_operators_lists_both_by_operator(
    ledger: IndexedLedger,
) -> None:
    listed = list_wallets(ledger, "u-a")

    assert listed == [
        DriverWallet(operator_id="op-1", balance_fen=5_000, held_fen=1_200, is_frozen=False),
        DriverWallet(operator_id="op-2", balance_fen=2_000, held_fen=0, is_frozen=False),
    ]
    assert [wallet.available_fen for wallet in listed] == [3_800, 2_000]
    assert ledger.index_reads == 1


def test_another_drivers_wallets_and_card_wallets_are_never_listed(ledger: IndexedLedger) -> None:
    assert list_wallets(ledger, "u-b") == [
        DriverWallet(operator_id="op-1", balance_fen=700, held_fen=0, is_frozen=False)
    ]
    assert list_wallets(ledger, "u-none") == []


def test_the_operators_names_come_with_the_wallets_and_a_missing_one_is_none(
    ledger: IndexedLedger,
) -> None:
    operators = FakeOperators({"op-1": "Green Volt"})

    listed = list_wallets(ledger, "u-a", operators=operators)

    assert [(w.operator_id, w.operator_name) for w in listed] == [
        ("op-1", "Green Volt"),
        ("op-2", None),
    ]
    assert operators.reads == ["op-1", "op-2"]


def test_a_frozen_wallet_is_listed_frozen(ledger: IndexedLedger) -> None:
    wallets.freeze_wallet(
        ledger,
        account_id=driver_wallet_id("op-2", "u-a"),
        operator_id="op-2",
        actor="ops",
        reason="dispute",
        clock=clock,
    )

    frozen = [w.operator_id for w in list_wallets(ledger, "u-a") if w.is_frozen]

    assert frozen == ["op-2"]


@pytest.mark.parametrize("user_id", ["", None, 7])
def test_an_empty_user_id_is_invalid_input_and_reads_nothing(
    ledger: IndexedLedger, user_id: Any
) -> None:
    with pytest.raises(InvalidInput):
        list_wallets(ledger, user_id)
    assert ledger.index_reads == 0


# --- the index key (shared with the DynamoDB adapter) --------------------------------------

OPERATOR_IDS = st.from_regex(r"op-[a-z0-9]{1,8}", fullmatch=True)
USER_IDS = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=24
)


@given(operator_id=OPERATOR_IDS, user_id=USER_IDS, other=USER_IDS)
def test_a_wallet_is_indexed_under_its_own_driver_only(
    operator_id: str, user_id: str, other: str
) -> None:
    attributes = driver_index_attributes(driver_wallet_id(operator_id, user_id))

    assert driver_wallet_owner(driver_wallet_id(operator_id, user_id)) == user_id
    assert attributes["gsi3pk"] == {"S": driver_wallets_key(user_id)}
    assert (attributes["gsi3pk"] == {"S": driver_wallets_key(other)}) == (other == user_id)


@pytest.mark.parametrize(
    "account_id",
    ["card:CARD-1", "operator:op-1:revenue", "operator:op-1:clearing:cash", "driver:op-1:"],
)
def test_no_other_account_is_indexed(account_id: str) -> None:
    assert driver_index_attributes(account_id) == {}
