"""A driver's wallets listed on moto (LedgerTable built from template.yaml, GSI3): two
operators' wallets of one driver, never another driver's; operator names from the base
data; a wallet opened before the index existed is listed once the backfill has run (the
infra one-off, idempotent)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from infra import backfill_wallet_index
from infra.backfill_wallet_index import backfill_driver_wallet_index
from shared.adapters.dynamodb.base_data import DynamoBaseDataRepository
from shared.adapters.dynamodb.base_data_items import encode_item, operator_item
from shared.adapters.dynamodb.ledger import (
    DynamoLedgerRepository,
    account_item,
)
from shared.domain.base_data import Operator
from shared.domain.ledger import driver_wallet_id, new_wallet
from shared.services import wallets
from shared.services.driver_wallets import list_wallets

T0 = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


def clock() -> datetime:
    return T0


@pytest.fixture
def ledger(aws: dict[str, str]) -> DynamoLedgerRepository:
    return DynamoLedgerRepository(aws["LEDGER_TABLE"], boto3.client("dynamodb"))


def open_funded(ledger: DynamoLedgerRepository, operator_id: str, user_id: str, fen: int) -> None:
    account_id = driver_wallet_id(operator_id, user_id)
    wallets.open_wallet(
        ledger, account_id=account_id, operator_id=operator_id, owner=user_id, clock=clock
    )
    wallets.top_up_wallet(
        ledger,
        account_id=account_id,
        operator_id=operator_id,
        amount_fen=fen,
        reference=f"topup:{account_id}",
        method="wechat",
        actor=user_id,
        clock=clock,
    )


def test_the_ledger_table_has_a_keys_only_driver_wallets_index(aws: dict[str, str]) -> None:
    table = boto3.client("dynamodb").describe_table(TableName=aws["LEDGER_TABLE"])["Table"]
    index = next(i for i in table["GlobalSecondaryIndexes"] if i["IndexName"] == "GSI3")
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["gsi3pk", "gsi3sk"]
    assert index["Projection"]["ProjectionType"] == "KEYS_ONLY"


def test_a_driver_lists_their_two_operators_wallets_and_never_another_drivers(
    aws: dict[str, str], ledger: DynamoLedgerRepository
) -> None:
    open_funded(ledger, "op-2", "u-a", 2_000)
    open_funded(ledger, "op-1", "u-a", 5_000)
    open_funded(ledger, "op-1", "u-b", 700)
    open_funded(ledger, "op-1", "u-a2", 300)  # a user id that u-a's key is a prefix of
    wallets.hold(
        ledger,
        account_id=driver_wallet_id("op-1", "u-a"),
        operator_id="op-1",
        amount_fen=1_200,
        reference="prepay:PO-1",
        actor="payments",
        clock=clock,
    )
    base = DynamoBaseDataRepository(aws["BASE_DATA_TABLE"], boto3.client("dynamodb"))
    boto3.client("dynamodb").put_item(
        TableName=aws["BASE_DATA_TABLE"],
        Item=encode_item(
            operator_item(
                Operator(operator_id="op-1", name="Green Volt", created_at=T0, updated_at=T0)
            )
        ),
    )

    mine = list_wallets(ledger, "u-a", operators=base)

    assert [
        (w.operator_id, w.operator_name, w.balance_fen, w.held_fen, w.available_fen) for w in mine
    ] == [("op-1", "Green Volt", 5_000, 1_200, 3_800), ("op-2", None, 2_000, 0, 2_000)]
    assert [(w.operator_id, w.balance_fen) for w in list_wallets(ledger, "u-b")] == [("op-1", 700)]
    assert list_wallets(ledger, "u-none") == []


def legacy_wallet(aws: dict[str, str], operator_id: str, user_id: str) -> None:
    """A wallet as written before GSI3: the account item without the index attributes."""
    account = new_wallet(
        account_id=driver_wallet_id(operator_id, user_id),
        operator_id=operator_id,
        owner=user_id,
        at=T0,
    )
    item = {k: v for k, v in account_item(account).items() if not k.startswith("gsi3")}
    boto3.client("dynamodb").put_item(TableName=aws["LEDGER_TABLE"], Item=item)


def test_a_wallet_opened_before_the_index_is_listed_after_the_backfill(
    aws: dict[str, str], ledger: DynamoLedgerRepository, capsys: Any
) -> None:
    legacy_wallet(aws, "op-3", "u-a")
    open_funded(ledger, "op-1", "u-a", 500)
    wallets.open_wallet(ledger, account_id="card:C-1", operator_id="op-1", owner="x", clock=clock)
    assert [w.operator_id for w in list_wallets(ledger, "u-a")] == ["op-1"]

    assert backfill_wallet_index.main(["--table", aws["LEDGER_TABLE"]]) == 0

    assert "indexed now: 1" in capsys.readouterr().out
    assert [w.operator_id for w in list_wallets(ledger, "u-a")] == ["op-1", "op-3"]
    again = backfill_driver_wallet_index(boto3.client("dynamodb"), aws["LEDGER_TABLE"])
    assert (again.scanned, again.indexed) == (0, 0)
