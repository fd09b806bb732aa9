"""The ledger on DynamoDB (moto, tables from template.yaml): layout, invariants, refusals.

Every refusal test reads the whole table before and after to show nothing changed; every
test ends by checking the books: each account's balance is the sum of its entries and
all balances sum to zero.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from shared.adapters.dynamodb.ledger import DynamoLedgerRepository
from shared.domain.errors import (
    ChargingError,
    Conflict,
    InsufficientBalance,
    InvalidInput,
    NotFound,
    UpstreamFailure,
    WalletFrozen,
)
from shared.domain.ledger import HoldStatus
from shared.services import wallets
from shared.services.wallets import LedgerRepository, WalletView
from tests.unit.ledger_fakes import InMemoryLedgerRepository

CARD = "card:CARD-1"
OP = "op-1"


@pytest.fixture
def client(aws: dict[str, str]) -> Any:
    return boto3.client("dynamodb")


@pytest.fixture
def table(aws: dict[str, str]) -> str:
    return aws["LEDGER_TABLE"]


@pytest.fixture
def ledger(client: Any, table: str, clock: Any) -> DynamoLedgerRepository:
    repo = DynamoLedgerRepository(table, client, sleep=lambda _: None)
    wallets.open_wallet(repo, account_id=CARD, operator_id=OP, owner="Li Lei", clock=clock)
    return repo


def scan(client: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        items.extend(page["Items"])
    return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))


def by_key(client: Any, table: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(item["pk"]["S"], item["sk"]["S"]): item for item in scan(client, table)}


def assert_books_balance(client: Any, table: str) -> None:
    balances: dict[str, int] = {}
    held: dict[str, int] = {}
    entry_sums: Counter[str] = Counter()
    for item in scan(client, table):
        pk, sk = item["pk"]["S"], item["sk"]["S"]
        if sk == "ACCOUNT":
            balances[pk] = int(item["balance_fen"]["N"])
            held[pk] = int(item["held_fen"]["N"])
        elif sk.startswith("ENTRY#"):
            entry_sums[pk] += int(item["amount_fen"]["N"])
    assert sum(balances.values()) == 0
    for pk, balance in balances.items():
        assert balance == entry_sums[pk], pk
        if pk.startswith(("ACCOUNT#card:", "ACCOUNT#driver:")):
            assert balance >= 0
            assert 0 <= held[pk] <= balance


def top_up(
    ledger: LedgerRepository, clock: Any, amount_fen: int = 1000, **overrides: Any
) -> WalletView:
    values: dict[str, Any] = {
        "account_id": CARD,
        "operator_id": OP,
        "amount_fen": amount_fen,
        "reference": "card-topup:CARD-1:req-1",
        "method": "cash",
        "actor": "alice",
        "clock": clock,
    }
    values.update(overrides)
    return wallets.top_up_wallet(ledger, **values)


def withdraw(
    ledger: LedgerRepository, clock: Any, amount_fen: int = 300, **overrides: Any
) -> WalletView:
    values: dict[str, Any] = {
        "account_id": CARD,
        "operator_id": OP,
        "amount_fen": amount_fen,
        "reference": "card-withdraw:CARD-1:1",
        "actor": "alice",
        "clock": clock,
    }
    values.update(overrides)
    return wallets.withdraw_wallet(ledger, **values)


def test_top_up_writes_one_transfer_two_entries_and_the_accounts_when_the_reference_is_new(
    ledger: DynamoLedgerRepository, client: Any, table: str, clock: Any
) -> None:
    view = top_up(ledger, clock, amount_fen=1200, method="wechat")
    assert (view.balance_fen, view.operator_id, view.is_frozen) == (1200, OP, False)
    items = by_key(client, table)
    transfer = items[("TRANSFER#card-topup:CARD-1:req-1", "TRANSFER")]
    assert transfer["kind"]["S"] == "top_up"
    assert transfer["amount_fen"]["N"] == "1200"
    assert [leg["M"]["account_id"]["S"] for leg in transfer["legs"]["L"]] == [
        CARD,
        "operator:op-1:clearing:wechat",
    ]
    sort_key = "ENTRY#2026-11-01T02:00:00.000Z#card-topup:CARD-1:req-1"
    wallet_entry = items[(f"ACCOUNT#{CARD}", sort_key)]
    assert wallet_entry["amount_fen"]["N"] == "1200"
    assert wallet_entry["balance_after_fen"]["N"] == "1200"
    assert wallet_entry["gsi2pk"]["S"] == "OPERATOR#op-1#2026-11-01"
    assert wallet_entry["gsi2sk"]["S"] == "2026-11-01T02:00:00.000Z#card-topup:CARD-1:req-1"
    clearing_entry = items[("ACCOUNT#operator:op-1:clearing:wechat", sort_key)]
    assert clearing_entry["amount_fen"]["N"] == "-1200"
    assert "NULL" in clearing_entry["balance_after_fen"]
    assert "gsi2pk" not in clearing_entry
    clearing = items[("ACCOUNT#operator:op-1:clearing:wechat", "ACCOUNT")]
    assert clearing["balance_fen"]["N"] == "-1200"
    assert clearing["kind"]["S"] == "clearing"
    assert clearing["gsi1pk"]["S"] == "OPERATOR#op-1#ACCOUNTS"
    wallet = items[(f"ACCOUNT#{CARD}", "ACCOUNT")]
    assert (wallet["balance_fen"]["N"], wallet["version"]["N"]) == ("1200", "1")
    assert len(items) == 5
    assert_books_balance(client, table)


def test_the_operator_transaction_list_shows_one_row_per_transfer_when_queried_by_day(
    ledger: DynamoLedgerRepository, client: Any, table: str, clock: Any
) -> None:
    top_up(ledger, clock)
    clock.advance(minutes=1)
    withdraw(ledger, clock)
    rows = client.query(
        TableName=table,
        IndexName="GSI2",
        KeyConditionExpression="gsi2pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "OPERATOR#op-1#2026-11-01"}},
    )["Items"]
    assert [
        (row["transfer_kind"]["S"], row["amount_fen"]["N"], row["balance_after_fen"]["N"])
        for row in rows
    ] == [
        ("top_up", "1000", "1000"),
        ("withdrawal", "-300", "700"),
    ]


def test_open_wallet_answers_the_stored_wallet_when_opened_again(
    ledger: DynamoLedgerRepository, clock: Any
) -> None:
    top_up(ledger, clock)
    again = wallets.open_wallet(ledger, account_id=CARD, operator_id=OP, owner="x", clock=clock)
    assert (again.balance_fen, again.owner) == (1000, "Li Lei")
    with pytest.raises(Conflict):
        wallets.open_wallet(ledger, account_id=CARD, operator_id="op-2", owner="x", clock=clock)


def test_top_up_changes_nothing_when_repeated_with_the_same_reference(
    ledger: DynamoLedgerRepository, client: Any, table: str, clock: Any
) -> None:
    first = top_up(ledger, clock)
    before = scan(client, table)
    clock.advance(minutes=3)
    assert top_up(ledger, clock, actor="bob") == first
    assert scan(client, table) == before


@pytest.mark.parametrize(
    "changes", [{"amount_fen": 999}, {"method": "alipay"}, {"account_id": "card:CARD-2"}]
)
def test_top_up_is_a_conflict_and_changes_nothing_when_the_reference_moved_other_money(
    ledger: DynamoLedgerRepository, client: Any, table: str, clock: Any, changes: dict[str, Any]
) -> None:
    wallets.open_wallet(ledger, account_id="card:CARD-2", operator_id=OP, owner="", clock=clock)
    top_up(ledger, clock)
    before = scan(client, table)
    with pytest.raises(Conflict):
        top_up(ledger, clock, **changes)
    assert scan(client, table) == before


@pytest.mark.parametrize("amount", [0, -100, True, 12.5, "100", 10_000_001])
def test_top_up_is_refused_and_changes_nothing_when_the_amount_is_bad(
    ledger: DynamoLedgerRepository, client: Any, table: str, clock: Any, amount: Any
) -> None:
    before = scan(client, table)
    with pytest.raises(InvalidInput):
        top_up(ledger, clock, amount_fen=amount)
    assert scan(client, table) == before


def test_withdraw_is_refused_and_changes_nothing_when_the_balance_is_insufficient(
    ledger: DynamoLedgerRepository, client: Any, table: str, clock: Any
) -> None:
    top_up(ledger, clock, amount_fen=500)
    withdraw(ledger, clock, amount_fen=200)
    before = scan(client, table)
    with pytest.raises(InsufficientBalance) as raised:
        withdraw(ledger, clock, amount_fen=301, reference="wd-2")
    assert raised.value.fields == {"account_id": CARD, "available_fen": 300, "requested_fen": 301}
    assert scan(client, table) == before
    assert withdraw(ledger, clock, amount_fen=300, reference="wd-3").balance_fen == 0
    assert_books_balance(client, table)


def test_withdraw_repeat_answers_the_wallet_when_the_money_is_already_gone(
    ledger: DynamoLedgerRepository, client: Any, table: str, clock: Any
) -> None:
    top_up(ledger, clock, amount_fen=300)
    withdraw(ledger, clock, amount_fen=300)
    before = scan(client, table)
    assert withdraw(ledger, clock, amount_fen=300).balance_fen == 0
    assert scan(client, table) == before


def test_frozen_wallet_refuses_credits_and_debits_and_changes_nothing(
    ledger: DynamoLedgerRepository, client: Any, table: str, clock: Any
) -> None:
    top_up(ledger, clock)
    view = wallets.freeze_wallet(
        ledger, account_id=CARD, operator_id=OP, actor="alice", reason="card lost", clock=clock
    )
    assert view.is_frozen
    before = scan(client, table)
    for attempt in (
        lambda: top_up(ledger, clock, reference="r-2"),
        lambda: withdraw(ledger, clock),
        lambda: wallets.hold(
            ledger,
            account_id=CARD,
            operator_id=OP,
            amount_fen=1,
            reference="prepay:S-1",
            actor="w",
            clock=clock,
        ),
    ):
        with pytest.raises(WalletFrozen):
            attempt()
    assert scan(client, table) == before
    audit = [item for item in before if item["sk"]["S"].startswith("AUDIT#")]
    assert [(a["action"]["S"], a["actor"]["S"], a["reason"]["S"]) for a in audit] == [
        ("freeze", "alice", "card lost")
    ]
    wallets.unfreeze_wallet(
        ledger, account_id=CARD, operator_id=OP, actor="bob", reason="found", clock=clock
    )
    assert withdraw(ledger, clock).balance_fen == 700
    assert_books_balance(client, table)


def test_unknown_or_foreign_wallet_is_not_found_and_nothing_changes(
    ledger: DynamoLedgerRepository, client: Any, table: str, clock: Any
) -> None:
    top_up(ledger, clock)
    before = scan(client, table)
    with pytest.raises(NotFound):
        top_up(ledger, clock, account_id="card:NOPE", reference="r-9")
    with pytest.raises(NotFound):
        withdraw(ledger, clock, operator_id="op-2")
    with pytest.raises(NotFound):
        wallets.freeze_wallet(
            ledger, account_id=CARD, operator_id="op-2", actor="a", reason="r", clock=clock
        )
    with pytest.raises(NotFound):
        wallets.get_wallet(ledger, "driver:nobody")
    assert scan(client, table) == before


def test_hold_capture_and_release_move_money_once(
    ledger: DynamoLedgerRepository, client: Any, table: str, clock: Any
) -> None:
    top_up(ledger, clock, amount_fen=1000)
    for reference in ("prepay:S-1", "prepay:S-2"):
        wallets.hold(
            ledger,
            account_id=CARD,
            operator_id=OP,
            amount_fen=400,
            reference=reference,
            actor="workflow",
            clock=clock,
        )
    view = wallets.get_wallet(ledger, CARD)
    assert (view.balance_fen, view.held_fen, view.available_fen) == (1000, 800, 200)
    with pytest.raises(InsufficientBalance):
        withdraw(ledger, clock, amount_fen=201)

    captured = wallets.capture_hold(
        ledger, hold_id="prepay:S-1", amount_fen=300, actor="w", clock=clock
    )
    assert (captured.status, captured.captured_fen) == (HoldStatus.POSTED, 300)
    released = wallets.release_hold(ledger, hold_id="prepay:S-2", actor="w", clock=clock)
    assert released.status is HoldStatus.VOIDED
    before = scan(client, table)
    assert (
        wallets.capture_hold(ledger, hold_id="prepay:S-1", amount_fen=300, actor="w", clock=clock)
        == captured
    )
    assert wallets.release_hold(ledger, hold_id="prepay:S-2", actor="w", clock=clock) == released
    wrongs: list[Callable[[], object]] = [
        lambda: wallets.release_hold(ledger, hold_id="prepay:S-1", actor="w", clock=clock),
        lambda: wallets.capture_hold(
            ledger, hold_id="prepay:S-1", amount_fen=200, actor="w", clock=clock
        ),
        lambda: wallets.capture_hold(
            ledger, hold_id="prepay:S-2", amount_fen=1, actor="w", clock=clock
        ),
    ]
    for wrong in wrongs:
        with pytest.raises(Conflict):
            wrong()
    assert scan(client, table) == before
    view = wallets.get_wallet(ledger, CARD)
    assert (view.balance_fen, view.held_fen) == (700, 0)
    revenue = by_key(client, table)[("ACCOUNT#operator:op-1:revenue", "ACCOUNT")]
    assert revenue["balance_fen"]["N"] == "300"
    assert_books_balance(client, table)


def test_entries_page_newest_first_with_an_opaque_cursor(
    ledger: DynamoLedgerRepository, clock: Any
) -> None:
    for n in range(5):
        clock.advance(seconds=1)
        top_up(ledger, clock, amount_fen=100, reference=f"r-{n}")
    seen: list[tuple[str, int | None]] = []
    cursor = None
    for _ in range(3):
        page = wallets.list_wallet_entries(ledger, CARD, limit=2, cursor=cursor)
        seen += [(entry.transfer_id, entry.balance_after_fen) for entry in page.entries]
        cursor = page.next_cursor
    assert cursor is None
    assert seen == [("r-4", 500), ("r-3", 400), ("r-2", 300), ("r-1", 200), ("r-0", 100)]
    with pytest.raises(InvalidInput):
        wallets.list_wallet_entries(ledger, CARD, limit=2, cursor="bm90IGEgY3Vyc29y")


class _CompetingClient:
    """The real client, except that ``competitor`` runs once just before a transaction."""

    def __init__(self, client: Any, competitor: Any) -> None:
        self._client = client
        self._competitor = competitor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **request: Any) -> Any:
        competitor, self._competitor = self._competitor, None
        if competitor is not None:
            competitor()
        return self._client.transact_write_items(**request)


def test_a_debit_is_planned_again_when_another_debit_lands_between_read_and_write(
    ledger: DynamoLedgerRepository, client: Any, table: str, clock: Any
) -> None:
    top_up(ledger, clock, amount_fen=500)
    other = DynamoLedgerRepository(table, client)
    racing = DynamoLedgerRepository(
        table,
        _CompetingClient(
            client, lambda: withdraw(other, clock, amount_fen=300, reference="wd-other")
        ),
        sleep=lambda _: None,
    )
    with pytest.raises(InsufficientBalance):
        withdraw(racing, clock, amount_fen=300, reference="wd-mine")
    assert racing.stats["stale_plans"] == 1
    assert wallets.get_wallet(ledger, CARD).balance_fen == 200
    assert ("TRANSFER#wd-mine", "TRANSFER") not in by_key(client, table)
    assert_books_balance(client, table)


def test_balance_after_stays_exact_when_a_top_up_lands_between_read_and_write(
    ledger: DynamoLedgerRepository, client: Any, table: str, clock: Any
) -> None:
    top_up(ledger, clock, amount_fen=500)
    other = DynamoLedgerRepository(table, client)
    racing = DynamoLedgerRepository(
        table,
        _CompetingClient(client, lambda: top_up(other, clock, amount_fen=50, reference="other")),
        sleep=lambda _: None,
    )
    assert withdraw(racing, clock, amount_fen=300, reference="wd-mine").balance_fen == 250
    entry = by_key(client, table)[(f"ACCOUNT#{CARD}", "ENTRY#2026-11-01T02:00:00.000Z#wd-mine")]
    assert entry["balance_after_fen"]["N"] == "250"
    assert_books_balance(client, table)


def test_a_duplicate_landing_between_read_and_write_turns_the_call_into_a_repeat(
    ledger: DynamoLedgerRepository, client: Any, table: str, clock: Any
) -> None:
    top_up(ledger, clock, amount_fen=500)
    other = DynamoLedgerRepository(table, client)
    racing = DynamoLedgerRepository(
        table,
        _CompetingClient(client, lambda: withdraw(other, clock, amount_fen=500, reference="wd-1")),
        max_attempts=1,
        sleep=lambda _: None,
    )
    assert withdraw(racing, clock, amount_fen=500, reference="wd-1").balance_fen == 0
    assert_books_balance(client, table)


class _ConflictingClient:
    """The real client, except that its next ``conflicts`` transactions are cancelled."""

    def __init__(self, client: Any, conflicts: int) -> None:
        self._client = client
        self.conflicts = conflicts

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **request: Any) -> Any:
        if self.conflicts > 0:
            self.conflicts -= 1
            reasons = [{"Code": "None"}] * len(request["TransactItems"])
            reasons[1] = {"Code": "TransactionConflict", "Message": "conflict"}
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                    "CancellationReasons": reasons,
                },
                "TransactWriteItems",
            )
        return self._client.transact_write_items(**request)


def test_a_transaction_conflict_is_retried_until_it_commits(
    ledger: DynamoLedgerRepository, client: Any, table: str, clock: Any
) -> None:
    pauses: list[float] = []
    retrying = DynamoLedgerRepository(table, _ConflictingClient(client, 2), sleep=pauses.append)
    assert top_up(retrying, clock).balance_fen == 1000
    assert retrying.stats["transaction_conflicts"] == 2
    assert len(pauses) == 2
    assert_books_balance(client, table)


def test_the_ledger_answers_busy_and_changes_nothing_when_conflicts_never_end(
    ledger: DynamoLedgerRepository, client: Any, table: str, clock: Any
) -> None:
    before = scan(client, table)
    busy = DynamoLedgerRepository(
        table, _ConflictingClient(client, 10), max_attempts=3, sleep=lambda _: None
    )
    with pytest.raises(UpstreamFailure):
        top_up(busy, clock)
    assert scan(client, table) == before


def test_an_sdk_failure_is_an_upstream_failure_when_the_table_is_missing(
    clock: Any, aws: dict[str, str]
) -> None:
    missing = DynamoLedgerRepository("no-such-table")  # builds its own client, as wiring does
    with pytest.raises(UpstreamFailure) as raised:
        wallets.get_wallet(missing, CARD)
    assert isinstance(raised.value.__cause__, ClientError)


OPERATIONS = ("top_up", "withdraw", "hold", "capture", "release", "freeze", "unfreeze")


def random_operation(rng: random.Random) -> tuple[Any, ...]:
    name = rng.choice(OPERATIONS)
    wallet = rng.choice(["card:A", "card:B", "driver:U"])
    operator = "op-2" if wallet == "driver:U" else "op-1"
    if rng.random() < 0.1:
        operator = "op-9"
    return (
        name,
        wallet,
        operator,
        rng.randint(1, 900),
        f"ref-{rng.randint(0, 11)}",
        rng.choice(["cash", "wechat"]),
    )


def apply_operation(ledger: LedgerRepository, op: tuple[Any, ...], clock: Any) -> Any:
    name, wallet, operator, amount, reference, method = op
    if name == "top_up":
        return wallets.top_up_wallet(
            ledger,
            account_id=wallet,
            operator_id=operator,
            amount_fen=amount,
            reference=reference,
            method=method,
            actor="a",
            clock=clock,
        )
    if name == "withdraw":
        return wallets.withdraw_wallet(
            ledger,
            account_id=wallet,
            operator_id=operator,
            amount_fen=amount,
            reference=reference,
            actor="a",
            clock=clock,
        )
    if name == "hold":
        return wallets.hold(
            ledger,
            account_id=wallet,
            operator_id=operator,
            amount_fen=amount,
            reference=reference,
            actor="a",
            clock=clock,
        )
    if name == "capture":
        return wallets.capture_hold(
            ledger, hold_id=reference, amount_fen=amount, actor="a", clock=clock
        )
    if name == "release":
        return wallets.release_hold(ledger, hold_id=reference, actor="a", clock=clock)
    change = wallets.freeze_wallet if name == "freeze" else wallets.unfreeze_wallet
    return change(
        ledger, account_id=wallet, operator_id=operator, actor="a", reason="r", clock=clock
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_dynamodb_and_the_in_memory_ledger_agree_when_given_the_same_random_operations(
    client: Any, table: str, clock: Any, seed: int
) -> None:
    dynamo = DynamoLedgerRepository(table, client, sleep=lambda _: None)
    memory = InMemoryLedgerRepository()
    for wallet, operator in (("card:A", "op-1"), ("card:B", "op-1"), ("driver:U", "op-2")):
        for repo in (dynamo, memory):
            wallets.open_wallet(
                repo, account_id=wallet, operator_id=operator, owner="", clock=clock
            )
    rng = random.Random(seed)
    outcomes: Counter[str] = Counter()
    for _ in range(70):
        clock.advance(seconds=1)
        op = random_operation(rng)
        answers = []
        for repo in (dynamo, memory):
            try:
                answers.append(apply_operation(repo, op, clock))
            except ChargingError as exc:
                answers.append(type(exc))
        assert answers[0] == answers[1], op
        outcomes[answers[0].__name__ if isinstance(answers[0], type) else "ok"] += 1
        assert_books_balance(client, table)
    assert outcomes["ok"] > 10
    for wallet in ("card:A", "card:B", "driver:U"):
        assert wallets.get_wallet(dynamo, wallet) == wallets.get_wallet(memory, wallet)
        dynamo_entries = wallets.list_wallet_entries(dynamo, wallet, limit=200).entries
        memory_entries = wallets.list_wallet_entries(memory, wallet, limit=200).entries
        assert dynamo_entries == memory_entries
