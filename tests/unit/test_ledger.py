"""The pure ledger rules: amounts, ids, transfers whose legs balance, planning, holds."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.errors import Conflict, InsufficientBalance, InvalidInput, NotFound, WalletFrozen
from shared.domain.ledger import (
    MAX_AMOUNT_FEN,
    Account,
    AccountKind,
    HoldStatus,
    Leg,
    Transfer,
    TransferKind,
    account_kind,
    capture_transfer,
    clearing_account_id,
    decode_entry_cursor,
    encode_entry_cursor,
    ensure_same_transfer,
    hold_status,
    hold_transfer,
    new_wallet,
    plan_posting,
    release_transfer,
    require_amount,
    require_reference,
    resolution_id,
    revenue_account_id,
    top_up_transfer,
    withdrawal_transfer,
)

AT = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
WALLET = "card:CARD-1"


def a_wallet(**overrides: Any) -> Account:
    wallet = new_wallet(account_id=WALLET, operator_id="op-1", owner="Li Lei", at=AT)
    return replace(wallet, **overrides)


def a_top_up(
    amount_fen: Any = 1000,
    reference: str = "card-topup:CARD-1:req-1",
    method: Any = "cash",
    **overrides: Any,
) -> Transfer:
    values: dict[str, Any] = {
        "account_id": WALLET,
        "operator_id": "op-1",
        "amount_fen": amount_fen,
        "reference": reference,
        "method": method,
        "actor": "alice",
        "posted_at": AT,
    }
    values.update(overrides)
    return top_up_transfer(**values)


def a_withdrawal(amount_fen: int = 300, reference: str = "wd-1") -> Transfer:
    return withdrawal_transfer(
        account_id=WALLET,
        operator_id="op-1",
        amount_fen=amount_fen,
        reference=reference,
        actor="alice",
        posted_at=AT,
    )


def a_hold(amount_fen: int = 500, reference: str = "prepay:S-1") -> Transfer:
    return hold_transfer(
        account_id=WALLET,
        operator_id="op-1",
        amount_fen=amount_fen,
        reference=reference,
        actor="workflow",
        posted_at=AT,
    )


@pytest.mark.parametrize(
    "amount", [0, -1, True, False, 1.0, 100.5, "100", None, MAX_AMOUNT_FEN + 1]
)
def test_amount_is_refused_when_not_a_positive_int_within_bounds(amount):
    with pytest.raises(InvalidInput):
        require_amount(amount)


@pytest.mark.parametrize("amount", [1, 4000, MAX_AMOUNT_FEN])
def test_amount_is_accepted_when_a_positive_int_within_bounds(amount):
    assert require_amount(amount) == amount


@pytest.mark.parametrize("reference", ["", "a b", "a#b", "x" * 201, "é", "a\nb", 12])
def test_reference_is_refused_when_empty_spaced_hashed_long_or_not_ascii(reference):
    with pytest.raises(InvalidInput):
        require_reference(reference)


def test_reference_is_accepted_when_a_business_reference():
    assert require_reference("card-topup:CARD-1:req-123") == "card-topup:CARD-1:req-123"


@pytest.mark.parametrize(
    ("account_id", "kind"),
    [
        ("card:CARD-1", AccountKind.WALLET),
        ("driver:u-42", AccountKind.WALLET),
        ("operator:op-1:clearing:cash", AccountKind.CLEARING),
        ("operator:op-1:clearing:wechat", AccountKind.CLEARING),
        ("operator:op-1:revenue", AccountKind.REVENUE),
    ],
)
def test_account_kind_when_the_id_names_a_wallet_or_an_operator_account(account_id, kind):
    assert account_kind(account_id) is kind


@pytest.mark.parametrize(
    "account_id",
    ["card:", "bank:1", "operator:op-1", "operator:op-1:clearing:paypal", "operator::revenue", ""],
)
def test_account_id_is_refused_when_it_names_no_known_account(account_id):
    with pytest.raises(InvalidInput):
        account_kind(account_id)


def test_top_up_credits_the_wallet_from_the_clearing_account_of_its_method():
    transfer = a_top_up(amount_fen=1200, method="wechat")
    assert transfer.legs == (
        Leg(WALLET, 1200),
        Leg("operator:op-1:clearing:wechat", -1200),
    )
    assert transfer.kind is TransferKind.TOP_UP
    assert transfer.transfer_id == "card-topup:CARD-1:req-1"
    assert transfer.amount_fen == 1200


def test_withdrawal_pays_back_through_cash_clearing():
    transfer = a_withdrawal(amount_fen=300)
    assert transfer.legs == (Leg(WALLET, -300), Leg(clearing_account_id("op-1", "cash"), 300))


@pytest.mark.parametrize("method", ["paypal", "", None, 3])
def test_top_up_is_refused_when_the_method_is_unknown(method):
    with pytest.raises(InvalidInput):
        a_top_up(method=method)


def test_top_up_is_refused_when_the_account_is_not_a_wallet():
    with pytest.raises(InvalidInput):
        a_top_up(account_id="operator:op-1:revenue")


@pytest.mark.parametrize(
    "legs",
    [
        (),
        (Leg(WALLET, 100), Leg("operator:op-1:revenue", -99)),
        (Leg(WALLET, 100), Leg(WALLET, -100)),
        (Leg(WALLET, 0), Leg("operator:op-1:revenue", 0)),
        (Leg(WALLET, 0, 5), Leg("operator:op-1:revenue", 0, -5)),
        (Leg(WALLET, True), Leg("operator:op-1:revenue", -1)),
        (Leg(WALLET, 1.0), Leg("operator:op-1:revenue", -1.0)),  # type: ignore[arg-type]
        tuple(Leg(f"card:C{n}", 0, 1) for n in range(11)),
    ],
)
def test_transfer_is_refused_when_legs_do_not_balance_or_are_malformed(legs):
    with pytest.raises(InvalidInput):
        Transfer("t-1", TransferKind.TOP_UP, "op-1", legs, "t-1", "alice", AT)


@given(
    st.lists(st.integers(min_value=-MAX_AMOUNT_FEN, max_value=MAX_AMOUNT_FEN), max_size=8).filter(
        all
    )
)
def test_transfer_legs_sum_to_zero_when_built_from_any_amounts(amounts):
    legs = [Leg(f"card:C{n}", amount) for n, amount in enumerate(amounts)]
    legs.append(Leg("operator:op-1:revenue", -sum(amounts) or 1))
    if sum(leg.amount_fen for leg in legs) != 0:
        with pytest.raises(InvalidInput):
            Transfer("t", TransferKind.TOP_UP, "op-1", tuple(legs), "t", "a", AT)
        return
    transfer = Transfer("t", TransferKind.TOP_UP, "op-1", tuple(legs), "t", "a", AT)
    wallets = {
        leg.account_id: a_wallet(account_id=leg.account_id, balance_fen=MAX_AMOUNT_FEN)
        for leg in legs
        if leg.account_id.startswith("card:")
    }
    posting = plan_posting(transfer, wallets)
    assert sum(entry.amount_fen for entry in posting.entries) == 0
    assert sum(change.amount_fen for change in posting.changes) == 0


def test_plan_records_the_balance_after_for_wallets_only():
    posting = plan_posting(a_top_up(amount_fen=700), {WALLET: a_wallet(balance_fen=300, version=4)})
    wallet_change, clearing_change = posting.changes
    assert wallet_change.expected_version == 4
    assert wallet_change.balance_after_fen == 1000
    assert wallet_change.is_freeze_checked
    assert clearing_change.expected_version is None
    assert clearing_change.balance_after_fen is None
    assert [
        (e.account_id, e.amount_fen, e.balance_after_fen, e.is_subject) for e in posting.entries
    ] == [
        (WALLET, 700, 1000, True),
        ("operator:op-1:clearing:cash", -700, None, False),
    ]


def test_plan_is_refused_when_the_wallet_is_missing_or_another_operators():
    with pytest.raises(NotFound):
        plan_posting(a_top_up(), {WALLET: None})
    with pytest.raises(NotFound):
        plan_posting(a_top_up(), {WALLET: a_wallet(operator_id="op-2")})


def test_plan_is_refused_when_the_wallet_is_frozen():
    with pytest.raises(WalletFrozen):
        plan_posting(a_top_up(), {WALLET: a_wallet(is_frozen=True)})
    with pytest.raises(WalletFrozen):
        plan_posting(a_withdrawal(), {WALLET: a_wallet(is_frozen=True, balance_fen=1000)})


def test_plan_is_refused_when_a_debit_exceeds_the_available_amount():
    with pytest.raises(InsufficientBalance) as raised:
        plan_posting(a_withdrawal(300), {WALLET: a_wallet(balance_fen=299)})
    assert raised.value.fields["available_fen"] == 299
    with pytest.raises(InsufficientBalance):
        plan_posting(a_withdrawal(300), {WALLET: a_wallet(balance_fen=500, held_fen=201)})
    with pytest.raises(InsufficientBalance):
        plan_posting(a_hold(501), {WALLET: a_wallet(balance_fen=500)})


def test_plan_allows_a_debit_when_it_takes_the_wallet_to_exactly_zero():
    posting = plan_posting(a_withdrawal(300), {WALLET: a_wallet(balance_fen=300)})
    assert posting.changes[0].balance_after_fen == 0


def test_hold_reserves_money_without_moving_it():
    hold = a_hold(500)
    posting = plan_posting(hold, {WALLET: a_wallet(balance_fen=800)})
    assert posting.entries == ()
    assert posting.changes[0].held_after_fen == 500
    assert hold.counter_account_id == revenue_account_id("op-1")
    assert hold.amount_fen == 500


def test_hold_is_refused_when_its_counter_account_is_a_wallet_or_another_operators():
    for counter in ("card:OTHER", "operator:op-2:revenue"):
        with pytest.raises(InvalidInput):
            hold_transfer(
                account_id=WALLET,
                operator_id="op-1",
                amount_fen=1,
                reference="prepay:S-1",
                actor="workflow",
                posted_at=AT,
                counter_account_id=counter,
            )


def test_capture_posts_part_of_the_hold_and_frees_the_rest():
    hold = a_hold(500)
    capture = capture_transfer(hold, amount_fen=300, actor="workflow", posted_at=AT)
    assert capture.transfer_id == resolution_id("prepay:S-1")
    assert capture.legs == (Leg(WALLET, -300, -500), Leg(revenue_account_id("op-1"), 300))
    posting = plan_posting(capture, {WALLET: a_wallet(balance_fen=800, held_fen=500)})
    assert posting.changes[0].balance_after_fen == 500
    assert posting.changes[0].held_after_fen == 0
    assert not posting.changes[0].is_freeze_checked


def test_capture_is_refused_when_more_than_the_hold_reserved():
    with pytest.raises(InvalidInput):
        capture_transfer(a_hold(500), amount_fen=501, actor="workflow", posted_at=AT)


def test_capture_and_release_go_through_when_the_wallet_was_frozen_after_the_hold():
    frozen = a_wallet(balance_fen=800, held_fen=500, is_frozen=True)
    hold = a_hold(500)
    plan_posting(capture_transfer(hold, amount_fen=500, actor="w", posted_at=AT), {WALLET: frozen})
    plan_posting(release_transfer(hold, actor="w", posted_at=AT), {WALLET: frozen})


def test_capture_and_release_of_one_hold_share_one_transfer_id():
    hold = a_hold(500)
    capture = capture_transfer(hold, amount_fen=100, actor="w", posted_at=AT)
    release = release_transfer(hold, actor="w", posted_at=AT)
    assert capture.transfer_id == release.transfer_id
    with pytest.raises(Conflict, match="hold already posted"):
        ensure_same_transfer(capture, release)
    assert hold_status(None) is HoldStatus.PENDING
    assert hold_status(capture) is HoldStatus.POSTED
    assert hold_status(release) is HoldStatus.VOIDED


def test_capture_is_refused_when_given_something_that_is_not_a_hold():
    with pytest.raises(NotFound):
        capture_transfer(a_top_up(), amount_fen=1, actor="w", posted_at=AT)


def test_release_is_refused_when_more_would_be_released_than_held():
    release = release_transfer(a_hold(500), actor="w", posted_at=AT)
    with pytest.raises(Conflict):
        plan_posting(release, {WALLET: a_wallet(balance_fen=800, held_fen=400)})


def test_repeat_is_accepted_when_only_the_actor_and_time_differ():
    stored = a_top_up()
    repeat = a_top_up(actor="bob", posted_at=datetime(2026, 11, 2, tzinfo=UTC))
    result = ensure_same_transfer(stored, repeat)
    assert result.transfer is stored
    assert not result.is_new


@pytest.mark.parametrize(
    "changes",
    [
        {"amount_fen": 999},
        {"method": "alipay"},
        {"account_id": "card:CARD-2"},
        {"operator_id": "op-2"},
    ],
)
def test_repeat_is_a_conflict_when_the_same_reference_moves_other_money(changes):
    with pytest.raises(Conflict):
        ensure_same_transfer(a_top_up(), a_top_up(**changes))


def test_cursor_round_trips_when_made_by_the_ledger():
    sort_key = "ENTRY#2026-11-01T02:00:00.000Z#card-topup:CARD-1:req-1"
    assert decode_entry_cursor(encode_entry_cursor(sort_key)) == sort_key


@pytest.mark.parametrize("cursor", ["", "!!!", "eyJ4IjoxfQ", encode_entry_cursor("ACCOUNT#x")])
def test_cursor_is_refused_when_not_made_by_the_ledger(cursor):
    with pytest.raises(InvalidInput):
        decode_entry_cursor(cursor)


def test_times_are_kept_to_the_millisecond_when_the_clock_has_microseconds():
    precise = datetime(2026, 11, 1, 2, 0, 0, 123_456, tzinfo=UTC)
    assert a_top_up(posted_at=precise).posted_at == datetime(
        2026, 11, 1, 2, 0, 0, 123_000, tzinfo=UTC
    )
    wallet = new_wallet(account_id=WALLET, operator_id="op-1", owner="", at=precise)
    assert wallet.created_at.microsecond == 123_000
    with pytest.raises(ValueError):
        a_top_up(posted_at=datetime(2026, 11, 1))
