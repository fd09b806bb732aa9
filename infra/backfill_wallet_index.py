"""One-off: index the driver wallets opened before LedgerTable's GSI3 (the per-driver
wallet list, ``GET /driver/wallets``) existed.

Wallets opened since carry the index from their first write; older ones are listed only
once this has run against the deployed table (idempotent: run it again after a partial
run, or to check: it then reports 0 indexed):

    AWS_PROFILE=... python -m infra.backfill_wallet_index --table <LedgerTable name>
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from shared.adapters.dynamodb.ledger import ACCOUNT_SK, Item, _s, _text, driver_index_attributes
from shared.domain.errors import UpstreamFailure

# The one Scan of the ledger lives here, in a one-off an operator runs, never in the
# adapters the functions import.


@dataclass(frozen=True, slots=True)
class WalletIndexBackfill:
    """What one backfill run did: driver wallets found without the index, and indexed."""

    scanned: int
    indexed: int


def backfill_driver_wallet_index(client: Any, table_name: str) -> WalletIndexBackfill:
    """One-off migration (``python -m infra.backfill_wallet_index``): give the driver
    wallets opened before GSI3 existed their index attributes, so ``driver_accounts``
    lists them. A Scan, run once by an operator, never on a request path; idempotent (an
    account already indexed is skipped by the filter and the condition) and safe beside
    live traffic (postings never touch the index attributes).

    DynamoDB: Scan pages of the whole table (filtered to unindexed driver accounts), 1
    conditional UpdateItem per such account.

    Raises: UpstreamFailure.
    """
    request: dict[str, Any] = {
        "TableName": table_name,
        "FilterExpression": "begins_with(pk, :wallets) AND sk = :account "
        "AND attribute_not_exists(gsi3pk)",
        "ExpressionAttributeValues": {
            ":wallets": _s("ACCOUNT#driver:"),
            ":account": _s(ACCOUNT_SK),
        },
        "ProjectionExpression": "pk, account_id",
    }
    scanned = indexed = 0
    while True:
        try:
            response = client.scan(**request)
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamFailure("ledger store failed", operation="scan") from exc
        for item in response.get("Items", []):
            scanned += 1
            attributes = driver_index_attributes(_text(item, "account_id"))
            if attributes and _set_index(client, table_name, item["pk"], attributes):
                indexed += 1
        last = response.get("LastEvaluatedKey")
        if not last:
            return WalletIndexBackfill(scanned=scanned, indexed=indexed)
        request["ExclusiveStartKey"] = last


def _set_index(client: Any, table_name: str, pk: Item, attributes: Item) -> bool:
    try:
        client.update_item(
            TableName=table_name,
            Key={"pk": pk, "sk": _s(ACCOUNT_SK)},
            UpdateExpression="SET gsi3pk = :pk3, gsi3sk = :sk3",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(gsi3pk)",
            ExpressionAttributeValues={":pk3": attributes["gsi3pk"], ":sk3": attributes["gsi3sk"]},
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise UpstreamFailure("ledger store failed", operation="update_item") from exc
    except BotoCoreError as exc:
        raise UpstreamFailure("ledger store failed", operation="update_item") from exc
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--table", required=True, help="the deployed LedgerTable's name")
    parser.add_argument("--region", default=None, help="AWS region (default: the session's)")
    args = parser.parse_args(argv)
    client = boto3.client("dynamodb", region_name=args.region)
    result = backfill_driver_wallet_index(client, args.table)
    sys.stdout.write(
        f"driver wallets without the index: {result.scanned}, indexed now: {result.indexed}\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
