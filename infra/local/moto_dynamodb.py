"""Embedded DynamoDB that applies each request atomically, as DynamoDB does.

moto's DynamoDB backend is not safe under concurrent requests, while the local stack's
moto server answers every request in a thread of its own (piles, Step Functions tasks,
the HTTP API and the schedules all at once). Its ``transact_write_items``:

- checks each condition and applies each write one after the other without a lock, so
  two transactions on one item can both pass their conditions (a lost update);
- backs up every table it touches with a ``copy.deepcopy`` of the whole table (O(table)
  per transaction), which fails with "dictionary changed size during iteration" (an
  HTTP 500) when another thread writes to the table meanwhile;
- restores those copies when it is cancelled, erasing whatever other threads committed
  since it began.

Four paid sessions at once on the local stack (tests/e2e/test_payment_workflow_e2e.py)
showed all three: 500s from TransactWriteItems, a ledger transfer refused as "an account
of another kind" while the account was being created by a concurrent one, and a wallet
whose balance no longer matched its entries.

``install()`` puts one lock around moto's DynamoDB request handler, so each request is
applied whole, before or after any other, as DynamoDB's own requests are (callers'
read -> plan -> commit cycles still interleave freely: that is the concurrency the code
must survive), and rolls a cancelled transaction back item by item instead of by whole
table copies. DynamoDB Streams then must not run Lambda inside the write (a stream
handler calling DynamoDB would wait for the lock its own write holds): the Lambda runtime
delivers stream batches asynchronously, as the Streams poller does
(``infra.local.lambda_runtime``).

bench/ledger_concurrency.py applies the same two rules to its own moto server.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping, Sequence
from typing import Any

_lock = threading.RLock()
_installed = False
_originals: dict[str, Any] = {}


def install() -> None:
    """Make this process's moto DynamoDB atomic per request (idempotent)."""
    global _installed  # noqa: PLW0603 - moto's classes are process-wide, so is this patch
    with _lock:
        if _installed:
            return
        from moto.dynamodb import models
        from moto.dynamodb.models.table import Table
        from moto.dynamodb.responses import DynamoHandler

        original_call_action = DynamoHandler.call_action
        original_transact = models.DynamoDBBackend.transact_write_items

        def call_action(self: Any) -> Any:
            with _lock:
                return original_call_action(self)

        def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
            touched = _before_images(self, transact_items)
            try:
                original_transact(self, transact_items)
            except Exception:
                _restore(touched)
                raise

        class _TablesKept:
            """``copy`` as moto's DynamoDB models see it: a table "copies" as itself (its
            cancelled transactions are rolled back item by item instead)."""

            def __getattr__(self, name: str) -> Any:
                return getattr(copy, name)

            @staticmethod
            def deepcopy(value: Any, memo: Any = None) -> Any:
                return value if isinstance(value, Table) else copy.deepcopy(value, memo)

        _originals.update(
            copy=vars(models)["copy"],
            call_action=original_call_action,
            transact_write_items=original_transact,
        )
        vars(models)["copy"] = _TablesKept()
        DynamoHandler.call_action = call_action  # type: ignore[method-assign]
        models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
        _installed = True


def uninstall() -> None:
    """Give moto its own DynamoDB request handling back (tests)."""
    global _installed  # noqa: PLW0603 - see install
    with _lock:
        if not _installed:
            return
        from moto.dynamodb import models
        from moto.dynamodb.responses import DynamoHandler

        vars(models)["copy"] = _originals["copy"]
        DynamoHandler.call_action = _originals["call_action"]  # type: ignore[method-assign]
        models.DynamoDBBackend.transact_write_items = _originals["transact_write_items"]  # type: ignore[method-assign]
        _installed = False


def is_installed() -> bool:
    return _installed


_Touched = tuple[Any, Any, Any, Any]  # (table, hash key, range key or None, item before)


def _before_images(backend: Any, transact_items: Sequence[Mapping[str, Any]]) -> list[_Touched]:
    """Each item the transaction names, as it is before the transaction (None: absent).
    An operation moto will refuse anyway (unknown table, bad key) is left out: it writes
    nothing."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    touched: list[_Touched] = []
    for request in transact_items:
        try:
            op_type, op = next(iter(request.items()))
            table = backend.get_table(op["TableName"])
            key = op["Item"] if op_type == "Put" else op["Key"]
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            before = copy.deepcopy(table.get_item(hash_key, range_key))
        except Exception:  # noqa: S112 - moto answers the malformed operation itself
            continue
        touched.append((table, hash_key, range_key, before))
    return touched


def _restore(touched: Sequence[_Touched]) -> None:
    for table, hash_key, range_key, before in reversed(touched):
        if range_key is None:
            bucket = table.items
            slot = hash_key
        else:
            bucket = table.items[hash_key]
            slot = range_key
        if before is None:
            bucket.pop(slot, None)
        else:
            bucket[slot] = before
        if range_key is not None and not table.items[hash_key]:
            del table.items[hash_key]
