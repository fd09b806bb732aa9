"""Transfer details (order, user, pile) ride on a transfer and its entries, round-trip through
the ledger's DynamoDB items, and never count as "other money" for an idempotent repeat."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.adapters.dynamodb.ledger import (
    entry_from_item,
    entry_item,
    transfer_from_item,
    transfer_item,
)
from shared.domain.errors import InvalidInput, WalletFrozen
from shared.domain.ledger import (
    Account,
    AccountKind,
    TransferDetails,
    TransferKind,
    capture_transfer,
    hold_transfer,
    plan_posting,
    release_transfer,
    top_up_transfer,
    withdrawal_transfer,
)

AT = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
DETAILS = TransferDetails(
    order_no="ORD-1",
    user_id="u-1",
    phone="+8613800000000",
    pile_id="CP-1",
    pile_name='南门 1号桩, "快充"',
    transaction_type="consume",
)


def wallet(*, balance_fen: int = 1_000, is_frozen: bool = False) -> Account:
    return Account(
        account_id="driver:u-1",
        kind=AccountKind.WALLET,
        operator_id="op-1",
        owner="",
        balance_fen=balance_fen,
        held_fen=0,
        is_frozen=is_frozen,
        version=3,
        created_at=AT,
        updated_at=AT,
    )


def test_details_reach_every_entry_and_round_trip_through_items() -> None:
    transfer = top_up_transfer(
        account_id="driver:u-1",
        operator_id="op-1",
        amount_fen=500,
        reference="driver-topup:u-1:r1",
        method="admin",
        actor="alice",
        posted_at=AT,
        details=DETAILS,
    )
    posting = plan_posting(transfer, {"driver:u-1": wallet()})

    assert [entry.details for entry in posting.entries] == [DETAILS, DETAILS]
    assert transfer_from_item(transfer_item(transfer)) == transfer
    for entry in posting.entries:
        assert entry_from_item(entry_item(entry)) == entry


def test_items_without_details_read_back_as_none() -> None:
    transfer = top_up_transfer(
        account_id="driver:u-1",
        operator_id="op-1",
        amount_fen=500,
        reference="driver-topup:u-1:r1",
        method="cash",
        actor="alice",
        posted_at=AT,
    )
    item = transfer_item(transfer)

    assert "details" not in item
    assert transfer_from_item(item).details is None


def test_a_repeat_with_other_details_is_the_same_money() -> None:
    values = {
        "account_id": "driver:u-1",
        "operator_id": "op-1",
        "amount_fen": 500,
        "reference": "driver-topup:u-1:r1",
        "method": "admin",
        "actor": "alice",
        "posted_at": AT,
    }
    first = top_up_transfer(**values, details=DETAILS)  # type: ignore[arg-type]
    second = top_up_transfer(**values)  # type: ignore[arg-type]

    assert first.has_same_money(second)


def test_capture_and_release_carry_the_holds_details() -> None:
    hold = hold_transfer(
        account_id="driver:u-1",
        operator_id="op-1",
        amount_fen=400,
        reference="prepay:ORD-1",
        actor="workflow",
        posted_at=AT,
        details=DETAILS,
    )

    assert capture_transfer(hold, amount_fen=300, actor="w", posted_at=AT).details == DETAILS
    assert release_transfer(hold, actor="w", posted_at=AT).details == DETAILS


def test_a_closure_pays_out_a_frozen_wallet_while_a_withdrawal_is_refused() -> None:
    def payout(kind: TransferKind) -> object:
        return withdrawal_transfer(
            account_id="driver:u-1",
            operator_id="op-1",
            amount_fen=1_000,
            reference=f"{kind}:u-1",
            actor="alice",
            posted_at=AT,
            kind=kind,
        )

    frozen = {"driver:u-1": wallet(is_frozen=True)}
    closure = payout(TransferKind.CLOSURE)
    posting = plan_posting(closure, frozen)  # type: ignore[arg-type]

    assert posting.changes[0].balance_after_fen == 0
    with pytest.raises(WalletFrozen):
        plan_posting(payout(TransferKind.WITHDRAWAL), frozen)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        payout(TransferKind.TOP_UP)


@pytest.mark.parametrize("bad", ["", "   ", "a\nb", "x" * 101])
def test_details_refuse_bad_text(bad: str) -> None:
    with pytest.raises(InvalidInput):
        TransferDetails(pile_name=bad)
