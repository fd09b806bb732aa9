"""The operator's transaction list on fakes: days, filters, paging, tenancy, CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.errors import Forbidden, InvalidInput, NotFound
from shared.domain.ledger import (
    TransferDetails,
    hold_transfer,
    profit_share_transfer,
    top_up_transfer,
)
from shared.domain.tenancy import Principal, Role
from shared.services import money_reports, wallets
from shared.services.money_reports import (
    TransactionFilter,
    TransactionRow,
    TransactionType,
    WalletOwner,
    all_transactions,
    list_transactions,
    safe_cell,
    transaction_filter,
    transactions_csv,
    yuan,
)
from tests.conftest import FixedClock
from tests.unit.ledger_fakes import InMemoryLedgerRepository
from tests.unit.money_fakes import InMemoryRowDirectory, InMemoryTransactionIndex

OP = "op-1"
OTHER = "op-2"
ADMIN = Principal("alice", Role.OPERATOR_ADMIN, OP)
TECH = Principal("tom", Role.MAINTENANCE, OP)
ROOT = Principal("root", Role.PLATFORM_ADMIN, None)
# 2026-11-01 10:00 in Shanghai.
START = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
DAY1 = date(2026, 11, 1)
DAY2 = date(2026, 11, 2)


class World:
    def __init__(self) -> None:
        self.clock = FixedClock(START)
        self.ledger = InMemoryLedgerRepository()
        self.index = InMemoryTransactionIndex(self.ledger)
        self.owners = InMemoryRowDirectory(
            {"card:C-1": WalletOwner(name="李雷", phone="13900000000")},
            {"CP-9": (OP, "西区 9号桩"), "CP-X": (OTHER, "not yours")},
        )
        for account, op in (
            ("driver:u-1", OP),
            ("driver:u-2", OP),
            ("card:C-1", OP),
            ("driver:x-9", OTHER),
        ):
            wallets.open_wallet(
                self.ledger, account_id=account, operator_id=op, owner="", clock=self.clock
            )

    def top_up(
        self,
        account: str,
        amount_fen: int,
        reference: str,
        *,
        op: str = OP,
        details: TransferDetails | None = None,
        method: str = "wechat",
    ) -> None:
        self.clock.advance(minutes=7)
        self.ledger.post_transfer(
            top_up_transfer(
                account_id=account,
                operator_id=op,
                amount_fen=amount_fen,
                reference=reference,
                method=method,
                actor="alice",
                posted_at=self.clock(),
                details=details,
            )
        )

    def select(self, **overrides: object) -> TransactionFilter:
        values: dict[str, object] = {
            "operator_id": None,
            "from_on": DAY1,
            "to_on": DAY2,
            "today": DAY2,
        }
        values.update(overrides)
        return transaction_filter(ADMIN, **values)  # type: ignore[arg-type]


@pytest.fixture
def world() -> World:
    w = World()
    w.top_up(
        "driver:u-1",
        1_000,
        "pay:ORD-1",
        details=TransferDetails(
            order_no="ORD-1",
            user_id="u-1",
            phone="13800000001",
            pile_id="CP-7",
            pile_name="南门 7号桩",
        ),
    )
    w.top_up("card:C-1", 2_000, "card-topup:C-1:r1", method="cash")
    w.top_up("driver:x-9", 3_000, "pay:ORD-X", op=OTHER)
    w.clock.advance(hours=16)  # the next Shanghai day
    w.top_up("driver:u-2", 450, "pay:ORD-2", details=TransferDetails(order_no="ORD-2"))
    w.clock.advance(minutes=1)
    wallets.withdraw_wallet(
        w.ledger,
        account_id="driver:u-1",
        operator_id=OP,
        amount_fen=300,
        reference="driver-refund:u-1:r1",
        actor="alice",
        clock=w.clock,
    )
    return w


def test_rows_are_the_operators_transfers_newest_first_across_days(world: World) -> None:
    page = list_transactions(world.index, world.owners, world.select())

    assert [row.order_no for row in page.rows] == [
        "driver-refund:u-1:r1",
        "ORD-2",
        "card-topup:C-1:r1",
        "ORD-1",
    ]
    assert page.next_cursor is None
    refund, top_up_2, card, first = page.rows
    assert refund.type is TransactionType.WITHDRAWAL
    assert refund.amount_fen == -300 and refund.balance_after_fen == 700
    assert top_up_2.user_id == "u-2" and top_up_2.method == "wechat"
    assert card.user_name == "李雷" and card.phone == "13900000000"
    assert (first.pile_name, first.pile_id, first.phone) == ("南门 7号桩", "CP-7", "13800000001")
    assert first.type is TransactionType.TOP_UP and first.balance_after_fen == 1_000


def test_piles_named_only_by_id_get_their_name_read_once_per_page(world: World) -> None:
    for n, pile in enumerate(("CP-9", "CP-X")):
        world.top_up(
            "driver:u-2",
            100,
            f"pay:ORD-P{n}",
            details=TransferDetails(order_no=f"ORD-P{n}", pile_id=pile),
        )

    page = list_transactions(world.index, world.owners, world.select(text="ORD-P"))

    assert [(row.pile_id, row.pile_name) for row in page.rows] == [
        ("CP-X", None),  # another operator's pile id names nothing here
        ("CP-9", "西区 9号桩"),
    ]
    assert world.owners.pile_calls == [{"CP-9", "CP-X"}]


def test_operator_internal_movements_are_not_listed(world: World) -> None:
    world.clock.advance(minutes=1)
    world.ledger.post_transfer(
        profit_share_transfer(
            operator_id=OP,
            station_id="st-1",
            partner_fen=100,
            platform_fen=50,
            reference="share:ORD-1",
            actor="wf",
            posted_at=world.clock(),
        )
    )

    page = list_transactions(world.index, world.owners, world.select())

    assert "share:ORD-1" not in {row.transfer_id for row in page.rows}
    assert len(page.rows) == 4


def test_one_day_holds_only_that_days_rows(world: World) -> None:
    page = list_transactions(world.index, world.owners, world.select(from_on=DAY1, to_on=DAY1))

    assert [row.order_no for row in page.rows] == ["card-topup:C-1:r1", "ORD-1"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ord-1", ["ORD-1"]),
        ("南门", ["ORD-1"]),
        ("13900000000", ["card-topup:C-1:r1"]),
        ("李雷", ["card-topup:C-1:r1"]),
        ("u-2", ["ORD-2"]),
        ("cp-7", ["ORD-1"]),
        ("nothing-like-this", []),
    ],
)
def test_text_filter_looks_at_order_user_phone_and_pile(
    world: World, text: str, expected: list[str]
) -> None:
    page = list_transactions(world.index, world.owners, world.select(text=text))

    assert [row.order_no for row in page.rows] == expected


def test_type_filter_keeps_only_those_types(world: World) -> None:
    page = list_transactions(world.index, world.owners, world.select(types=["withdrawal"]))

    assert [row.type for row in page.rows] == [TransactionType.WITHDRAWAL]


def test_stored_transaction_type_and_hold_kinds_name_the_row(world: World) -> None:
    world.clock.advance(minutes=1)
    hold = hold_transfer(
        account_id="driver:u-2",
        operator_id=OP,
        amount_fen=400,
        reference="prepay:ORD-3",
        actor="workflow",
        posted_at=world.clock(),
        details=TransferDetails(order_no="ORD-3", pile_name="北门"),
    )
    world.ledger.post_transfer(hold)
    wallets.capture_hold(
        world.ledger, hold_id="prepay:ORD-3", amount_fen=300, actor="wf", clock=world.clock
    )

    page = list_transactions(world.index, world.owners, world.select(types=["consume"]))

    (row,) = page.rows
    assert (row.order_no, row.pile_name, row.amount_fen) == ("ORD-3", "北门", -300)


@given(limit=st.integers(min_value=1, max_value=5))
@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_paging_returns_every_row_once_in_order(world: World, limit: int) -> None:
    selection = world.select()
    everything = list_transactions(world.index, world.owners, selection).rows
    seen: list[TransactionRow] = []
    cursor = None
    for _ in range(20):
        page = list_transactions(world.index, world.owners, selection, limit=limit, cursor=cursor)
        assert len(page.rows) <= limit
        seen.extend(page.rows)
        cursor = page.next_cursor
        if cursor is None:
            break

    assert seen == list(everything)


@given(
    limit=st.integers(min_value=1, max_value=4),
    budget=st.integers(min_value=1, max_value=5),
    text=st.sampled_from([None, "ord", "u-1", "c-1", "zzz"]),
    types=st.sampled_from([[], ["top_up"], ["withdrawal", "top_up"], ["consume"]]),
)
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_filtered_pages_under_any_scan_budget_give_the_filtered_list(
    world: World, limit: int, budget: int, text: str | None, types: list[str]
) -> None:
    everything = list_transactions(world.index, world.owners, world.select()).rows
    selection = world.select(text=text, types=types)
    expected = [row for row in everything if selection.matches(row)]
    seen: list[TransactionRow] = []
    cursor = None
    original = money_reports.MAX_SCANNED_ROWS
    money_reports.MAX_SCANNED_ROWS = budget
    try:
        for _ in range(40):
            page = list_transactions(
                world.index, world.owners, selection, limit=limit, cursor=cursor
            )
            assert len(page.rows) <= limit
            seen.extend(page.rows)
            cursor = page.next_cursor
            if cursor is None:
                break
    finally:
        money_reports.MAX_SCANNED_ROWS = original

    assert seen == expected


def test_a_selective_filter_stops_after_the_scan_budget_with_a_cursor(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(money_reports, "MAX_SCANNED_ROWS", 2)
    selection = world.select(text="ORD-1")

    first = list_transactions(world.index, world.owners, selection, limit=10)
    assert first.rows == () and first.next_cursor is not None
    rest = list_transactions(world.index, world.owners, selection, cursor=first.next_cursor)

    assert [row.order_no for row in rest.rows] == ["ORD-1"]


def test_owners_are_read_once_per_day_page_for_its_wallets(world: World) -> None:
    world.owners.known["driver:u-2"] = WalletOwner(name="小明", phone="")

    rows = list_transactions(world.index, world.owners, world.select()).rows

    assert world.owners.calls == [
        {"driver:u-1", "driver:u-2"},
        {"driver:u-1", "card:C-1"},
    ]
    by_order = {row.order_no: row for row in rows}
    assert (by_order["ORD-2"].user_name, by_order["ORD-2"].phone) == ("小明", None)


def test_operator_admin_sees_only_its_operator() -> None:
    with pytest.raises(NotFound):
        transaction_filter(ADMIN, operator_id=OTHER, from_on=None, to_on=None, today=DAY1)


def test_platform_admin_names_the_operator(world: World) -> None:
    with pytest.raises(InvalidInput):
        transaction_filter(ROOT, operator_id=None, from_on=None, to_on=None, today=DAY1)
    selection = transaction_filter(ROOT, operator_id=OTHER, from_on=DAY1, to_on=DAY1, today=DAY1)

    rows = list_transactions(world.index, world.owners, selection).rows

    assert [row.order_no for row in rows] == ["pay:ORD-X"]


def test_maintenance_staff_see_no_money() -> None:
    with pytest.raises(Forbidden):
        transaction_filter(TECH, operator_id=None, from_on=None, to_on=None, today=DAY1)


def test_default_range_is_today() -> None:
    selection = transaction_filter(ADMIN, operator_id=None, from_on=None, to_on=None, today=DAY2)

    assert (selection.from_on, selection.to_on) == (DAY2, DAY2)


@pytest.mark.parametrize(
    "overrides",
    [
        {"from_on": DAY2, "to_on": DAY1},
        {"from_on": DAY1, "to_on": DAY1 + timedelta(days=92)},
        {"types": ["gift"]},
        {"text": "x" * 65},
        {"text": "a\x00b"},
    ],
)
def test_bad_filters_are_refused(world: World, overrides: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        world.select(**overrides)


@pytest.mark.parametrize("cursor", ["nope", "e30", "eyJkIjoiMjAyNi0xMi0yNSIsImIiOm51bGx9"])
def test_bad_cursors_are_refused(world: World, cursor: str) -> None:
    with pytest.raises(InvalidInput):
        list_transactions(world.index, world.owners, world.select(), cursor=cursor)


@pytest.mark.parametrize("limit", [0, 101, True])
def test_bad_limits_are_refused(world: World, limit: int) -> None:
    with pytest.raises(InvalidInput):
        list_transactions(world.index, world.owners, world.select(), limit=limit)


def test_export_refuses_more_rows_than_allowed(world: World) -> None:
    assert len(all_transactions(world.index, world.owners, world.select())) == 4
    with pytest.raises(InvalidInput):
        all_transactions(world.index, world.owners, world.select(), max_rows=3)


# ---------------------------------------------------------------- CSV


def a_row(**overrides: object) -> TransactionRow:
    values: dict[str, object] = {
        "transfer_id": "pay:ORD-1",
        "order_no": "ORD-1",
        "posted_at": START,
        "account_id": "driver:u-1",
        "user_id": "u-1",
        "user_name": None,
        "phone": "13800000001",
        "pile_name": "南门 7号桩",
        "pile_id": "CP-7",
        "type": TransactionType.CONSUME,
        "kind": "capture",
        "method": None,
        "amount_fen": -1_234,
        "balance_after_fen": 5,
        "actor": "wf",
    }
    values.update(overrides)
    return TransactionRow(**values)  # type: ignore[arg-type]


def parsed(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))


def test_csv_starts_with_a_bom_and_carries_chinese_text() -> None:
    text = transactions_csv([a_row()])

    assert text.startswith("\ufeff订单号,")
    assert text.encode("utf-8").startswith(b"\xef\xbb\xbf")
    header, row = parsed(text)
    assert len(header) == len(row) == 12
    assert row[:9] == [
        "ORD-1",
        "2026-11-01 10:00:00",
        "u-1",
        "",
        "13800000001",
        "南门 7号桩",
        "CP-7",
        "消费",
        "",
    ]
    assert row[9:] == ["-12.34", "0.05", "pay:ORD-1"]


def test_csv_quotes_commas_quotes_and_newlines() -> None:
    name = '东区, "快充"\n2号'
    text = transactions_csv([a_row(pile_name=name)])

    assert '"东区, ""快充""\n2号"' in text
    assert parsed(text)[1][5] == name


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_defuses_formula_cells(start: str) -> None:
    evil = f'{start}HYPERLINK("http://evil")'

    row = parsed(transactions_csv([a_row(pile_name=evil, user_id=evil, order_no=evil)]))[1]

    assert row[0] == row[2] == row[5] == f"'{evil}"


def test_safe_cell_leaves_plain_text_alone() -> None:
    assert safe_cell("CP-7") == "CP-7"
    assert safe_cell(None) == ""
    assert safe_cell("+8613800000000") == "'+8613800000000"


@given(st.integers(min_value=-(10**9), max_value=10**9))
def test_yuan_is_exact(fen: int) -> None:
    text = yuan(fen)
    sign = -1 if text.startswith("-") else 1
    whole, cents = text.lstrip("-").split(".")

    assert len(cents) == 2
    assert sign * (int(whole) * 100 + int(cents)) == fen
