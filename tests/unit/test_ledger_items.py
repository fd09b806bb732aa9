"""DynamoDB item shapes of the ledger round-trip exactly (no moto needed: pure mapping)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from shared.adapters.dynamodb.ledger import (
    account_from_item,
    account_item,
    entry_from_item,
    entry_item,
    transfer_from_item,
    transfer_item,
)
from shared.domain.ledger import (
    MAX_AMOUNT_FEN,
    Account,
    AccountKind,
    Transfer,
    capture_transfer,
    hold_transfer,
    plan_posting,
    release_transfer,
    top_up_transfer,
    withdrawal_transfer,
)

instants = st.integers(min_value=0, max_value=10**9).map(
    lambda ms: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
)
amounts = st.integers(min_value=1, max_value=MAX_AMOUNT_FEN)
references = st.from_regex(r"[A-Za-z0-9:_.\-]{1,60}", fullmatch=True)
card_wallets = st.from_regex(r"card:[A-Za-z0-9._:-]{1,20}", fullmatch=True)


@st.composite
def transfers(draw: st.DrawFn) -> Transfer:
    wallet = draw(card_wallets)
    at = draw(instants)
    reference = draw(references)
    kind = draw(st.sampled_from(["top_up", "withdrawal", "hold", "capture", "release"]))
    amount = draw(amounts)
    if kind == "top_up":
        return top_up_transfer(
            account_id=wallet,
            operator_id="op-1",
            amount_fen=amount,
            reference=reference,
            method=draw(st.sampled_from(["cash", "wechat", "alipay", "admin"])),
            actor="alice",
            posted_at=at,
        )
    if kind == "withdrawal":
        return withdrawal_transfer(
            account_id=wallet,
            operator_id="op-1",
            amount_fen=amount,
            reference=reference,
            actor="alice",
            posted_at=at,
        )
    hold = hold_transfer(
        account_id=wallet,
        operator_id="op-1",
        amount_fen=amount,
        reference=reference,
        actor="workflow",
        posted_at=at,
    )
    if kind == "hold":
        return hold
    if kind == "capture":
        captured = draw(st.integers(min_value=1, max_value=amount))
        return capture_transfer(hold, amount_fen=captured, actor="workflow", posted_at=at)
    return release_transfer(hold, actor="workflow", posted_at=at)


@given(transfers())
def test_transfer_items_round_trip_when_any_transfer_is_stored(transfer: Transfer) -> None:
    assert transfer_from_item(transfer_item(transfer)) == transfer


@given(transfers(), st.integers(min_value=0, max_value=MAX_AMOUNT_FEN))
def test_entry_items_round_trip_when_any_posting_is_stored(transfer: Transfer, extra: int) -> None:
    wallet = Account(
        account_id=transfer.account_id,
        kind=AccountKind.WALLET,
        operator_id="op-1",
        owner="",
        balance_fen=2 * MAX_AMOUNT_FEN + extra,
        held_fen=max(0, -transfer.legs[0].held_fen),
        is_frozen=False,
        version=extra,
        created_at=transfer.posted_at,
        updated_at=transfer.posted_at,
    )
    posting = plan_posting(transfer, {transfer.account_id: wallet})
    for entry in posting.entries:
        item = entry_item(entry)
        assert entry_from_item(item) == entry
        assert ("gsi2pk" in item) is entry.is_subject
        assert item["sk"]["S"] == entry.sort_key


@given(card_wallets, instants, st.text(max_size=30).filter(str.isprintable), st.booleans())
def test_account_items_round_trip_when_any_wallet_is_stored(
    account_id: str, at: datetime, owner: str, is_frozen: bool
) -> None:
    account = Account(
        account_id=account_id,
        kind=AccountKind.WALLET,
        operator_id="op-1",
        owner=owner,
        balance_fen=123,
        held_fen=45,
        is_frozen=is_frozen,
        version=7,
        created_at=at,
        updated_at=at + timedelta(seconds=1),
    )
    item = account_item(account)
    assert account_from_item(item) == account
    assert item["gsi1pk"]["S"] == "OPERATOR#op-1#ACCOUNTS"
