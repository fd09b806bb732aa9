"""Row types of the operator's transaction list for what the payment workflow and the wallet
top-ups post (shared/services/money_reports.py): a provider-paid session shows prepay,
consume and refund with the provider's method; its profit share only when asked for; a
wallet top-up through a provider shows as top_up with its method; the CSV labels them."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from shared.domain.clock import local_day
from shared.domain.ledger import TransferDetails, TransferKind
from shared.domain.payments import PaymentMethod
from shared.domain.tenancy import Principal, Role
from shared.domain.topup_orders import new_topup
from shared.services.money_reports import (
    TransactionType,
    list_transactions,
    row_of,
    transaction_filter,
    transaction_type,
    transactions_csv,
)
from shared.services.payment_workflow import record_payment_notice
from tests.unit.money_fakes import InMemoryRowDirectory, InMemoryTransactionIndex
from tests.unit.test_payment_workflow import ORDER, finish, until_started
from tests.unit.test_payment_workflow_fakes import (
    GOOD_HEADERS,
    OPERATOR,
    USER,
    World,
    notice_body,
)
from tests.unit.test_wallet_topups import InMemoryTopUps

ADMIN = Principal(username="alice", role=Role.OPERATOR_ADMIN, operator_id=OPERATOR)


@pytest.fixture
def world() -> tuple[World, InMemoryTopUps, str]:
    """A sandbox-paid session (4.00 prepaid, 3.00 consumed) and a 50.00 sandbox top-up."""
    w = World()
    until_started(w)
    w.charging.energy_wh[ORDER] = 3000
    finish(w)
    topups = InMemoryTopUps()
    topup = new_topup(
        request_id="req-1",
        user_id=USER,
        operator_id=OPERATOR,
        payer_id=USER,
        method="sandbox",
        amount_fen=5_000,
        now=w.clock(),
    )
    topups.create(topup)
    w.clock.advance(minutes=1)
    record_payment_notice(
        replace(w.ports, topups=topups),
        PaymentMethod.SANDBOX,
        GOOD_HEADERS,
        notice_body(topup.order_no, "sbx-top", 5_000),
    )
    return w, topups, topup.order_no


def _select(w: World, types: list[str] | None = None) -> object:
    today: date = local_day(w.clock())
    return transaction_filter(
        ADMIN, operator_id=None, from_on=today, to_on=today, types=types or [], today=today
    )


def _rows(w: World, types: list[str] | None = None) -> list[tuple[str, str, str | None, int]]:
    page = list_transactions(
        InMemoryTransactionIndex(w.ledger),
        InMemoryRowDirectory(),
        _select(w, types),  # type: ignore[arg-type]
    )
    return [(r.order_no, r.type.value, r.method, r.amount_fen) for r in page.rows]


def test_session_and_top_up_rows_carry_their_type_and_method(
    world: tuple[World, InMemoryTopUps, str],
) -> None:
    w, _, topup_no = world
    assert sorted(_rows(w)) == sorted(
        [
            (ORDER, "prepay", "sandbox", 400),
            (ORDER, "consume", None, -300),
            (ORDER, "refund", "sandbox", -100),
            (topup_no, "top_up", "sandbox", 5_000),
        ]
    )


def test_profit_shares_are_listed_only_when_their_type_is_asked_for(
    world: tuple[World, InMemoryTopUps, str],
) -> None:
    w, _, _ = world
    assert "profit_share" not in {row[1] for row in _rows(w)}
    assert _rows(w, ["profit_share"]) == [(ORDER, "profit_share", None, -300)]
    page = list_transactions(
        InMemoryTransactionIndex(w.ledger),
        InMemoryRowDirectory(),
        _select(w, ["profit_share", "top_up"]),  # type: ignore[arg-type]
    )
    share = next(r for r in page.rows if r.type is TransactionType.PROFIT_SHARE)
    assert (share.user_id, share.balance_after_fen) == (USER, None)
    assert {r.type for r in page.rows} == {TransactionType.PROFIT_SHARE, TransactionType.TOP_UP}


def test_type_filters_pick_each_workflow_row(world: tuple[World, InMemoryTopUps, str]) -> None:
    w, _, topup_no = world
    assert _rows(w, ["top_up"]) == [(topup_no, "top_up", "sandbox", 5_000)]
    assert [r[1] for r in _rows(w, ["refund"])] == ["refund"]
    assert [r[1] for r in _rows(w, ["prepay", "consume"])] == ["consume", "prepay"]


def test_the_csv_labels_the_new_types(world: tuple[World, InMemoryTopUps, str]) -> None:
    w, _, _ = world
    page = list_transactions(
        InMemoryTransactionIndex(w.ledger),
        InMemoryRowDirectory(),
        _select(w, ["profit_share", "top_up", "refund"]),  # type: ignore[arg-type]
    )
    text = transactions_csv(page.rows)
    for label in ("分润", "充值", "退款"):
        assert label in text


@pytest.mark.parametrize(
    ("stored", "kind", "expected"),
    [
        ("prepay", TransferKind.TOP_UP, TransactionType.PREPAY),
        ("refund", TransferKind.REFUND, TransactionType.REFUND),
        (None, TransferKind.REFUND, TransactionType.REFUND),
        ("profit_share", TransferKind.PROFIT_SHARE, TransactionType.PROFIT_SHARE),
        (None, TransferKind.PROFIT_SHARE, TransactionType.PROFIT_SHARE),
        ("top_up", TransferKind.TOP_UP, TransactionType.TOP_UP),
        ("something_new", TransferKind.TOP_UP, TransactionType.TOP_UP),
    ],
)
def test_a_stored_type_wins_over_the_kind_and_unknown_ones_fall_back(
    world: tuple[World, InMemoryTopUps, str],
    stored: str | None,
    kind: TransferKind,
    expected: TransactionType,
) -> None:
    w, _, _ = world
    entry = next(e for entries in w.ledger.entries.values() for e in entries.values())
    entry = replace(
        entry, transfer_kind=kind, details=TransferDetails(order_no="X", transaction_type=stored)
    )
    assert transaction_type(entry) is expected
    assert row_of(entry).type is expected
