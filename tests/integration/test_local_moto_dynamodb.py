"""The local stack's embedded DynamoDB applies each request atomically
(``infra.local.moto_dynamodb``): concurrent optimistic transactions on one item lose no
update, a cancelled transaction erases nobody else's writes, nothing answers 500, and a
DynamoDB stream still reaches its function (after the write) without deadlocking a
handler that writes to DynamoDB itself.

A moto server on a free port, as in the local stack, with many client threads.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from infra.local import moto_dynamodb

REGION = "us-east-1"
THREADS = 8
COMMITS_PER_THREAD = 15


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    installed_before = moto_dynamodb.is_installed()
    moto_dynamodb.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.get_host_and_port()[1]}"
    finally:
        server.stop()
        if not installed_before:
            moto_dynamodb.uninstall()


def _client(endpoint: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
        # a 500 must fail the test, not be retried away
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, max_pool_connections=32),
    )


def _table(client: Any) -> str:
    name = f"atomic-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.put_item(
        TableName=name,
        Item={"pk": {"S": "COUNTER"}, "sk": {"S": "C"}, "n": {"N": "0"}, "v": {"N": "0"}},
    )
    return name


def _commit_once(client: Any, table: str, entry: str) -> bool:
    """Read the counter, then +1 it pinned to the version read, with an entry item: the
    ledger's read -> plan -> commit. False when another commit won the version."""
    counter = client.get_item(
        TableName=table, Key={"pk": {"S": "COUNTER"}, "sk": {"S": "C"}}, ConsistentRead=True
    )["Item"]
    version = counter["v"]["N"]
    try:
        client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"pk": {"S": "COUNTER"}, "sk": {"S": "C"}},
                        "UpdateExpression": "ADD n :one, v :one",
                        "ConditionExpression": "v = :v",
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":v": {"N": version}},
                    }
                },
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"pk": {"S": "ENTRY"}, "sk": {"S": entry}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "TransactionCanceledException":
            return False
        raise
    return True


def _doomed(client: Any, table: str, n: int) -> None:
    """A transaction that writes an item, then is cancelled by its condition check."""
    with pytest.raises(ClientError) as cancelled:
        client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"pk": {"S": "DOOMED"}, "sk": {"S": str(n)}},
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"pk": {"S": "MISSING"}, "sk": {"S": "M"}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"


def test_no_update_is_lost_when_threads_commit_optimistic_transactions_on_one_item(
    endpoint: str,
) -> None:
    client = _client(endpoint)
    table = _table(client)
    committed: list[str] = []
    lock = threading.Lock()

    def work(thread_no: int) -> None:
        for n in range(COMMITS_PER_THREAD):
            entry = f"{thread_no}-{n}"
            while not _commit_once(client, table, entry):
                pass
            with lock:
                committed.append(entry)
            if n % 3 == 0:
                _doomed(client, table, thread_no * 1000 + n)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(work, range(THREADS)))

    counter = client.get_item(
        TableName=table, Key={"pk": {"S": "COUNTER"}, "sk": {"S": "C"}}, ConsistentRead=True
    )["Item"]
    entries = client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "ENTRY"}},
        ConsistentRead=True,
    )["Items"]
    doomed = client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "DOOMED"}},
        ConsistentRead=True,
    )["Items"]
    assert len(committed) == THREADS * COMMITS_PER_THREAD
    assert int(counter["n"]["N"]) == int(counter["v"]["N"]) == len(committed)
    assert sorted(e["sk"]["S"] for e in entries) == sorted(committed)
    assert doomed == []


def test_install_is_idempotent_when_called_again(endpoint: str) -> None:
    moto_dynamodb.install()

    assert moto_dynamodb.is_installed()
    client = _client(endpoint)
    table = _table(client)
    assert _commit_once(client, table, "once")
