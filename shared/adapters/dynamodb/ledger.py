"""The ledger on DynamoDB (LedgerTable): one ``TransactWriteItems`` per transfer.

A transfer's write holds, all or nothing:

- Put ``TRANSFER#{id}`` / ``TRANSFER`` if absent (the id is the business reference, so a
  repeat finds it and changes nothing);
- Update per account: wallets pinned to the version the plan was made against (plus
  not frozen, balance >= the debit), internal accounts created on first use and moved
  with ``ADD`` (they may go negative and take concurrent postings);
- Put one immutable entry per posted leg on ``ACCOUNT#{id}`` / ``ENTRY#{posted_at}#{id}``.

DynamoDB transactions return no values, so a wallet entry can only carry the balance
after it if the write is pinned to the balance it was computed from: that is the version
condition. A lost race (``ConditionalCheckFailed`` on a wallet) answers the wallet as it
is now (``ReturnValuesOnConditionCheckFailure=ALL_OLD``), and the transfer is planned
again against it, with a short jittered pause; a debit that no longer fits then fails
with ``InsufficientBalance``. See docs/ledger.md.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.domain.clock import from_wire, local_day, to_wire
from shared.domain.errors import Conflict, NotFound, UpstreamFailure
from shared.domain.ledger import (
    Account,
    AccountChange,
    AccountKind,
    Entry,
    EntryPage,
    Leg,
    Posting,
    PostResult,
    Transfer,
    TransferDetails,
    TransferKind,
    decode_entry_cursor,
    encode_entry_cursor,
    ensure_same_transfer,
    guarded_account_ids,
    plan_posting,
    posted_wallets,
)
from shared.observability import logger

Item = dict[str, Any]

ACCOUNT_SK = "ACCOUNT"
TRANSFER_SK = "TRANSFER"
ENTRY_PREFIX = "ENTRY#"
AUDIT_PREFIX = "AUDIT#"
_CONDITION_FAILED = "ConditionalCheckFailed"
_TRANSACTION_CONFLICT = "TransactionConflict"


def account_key(account_id: str) -> Item:
    return {"pk": {"S": f"ACCOUNT#{account_id}"}, "sk": {"S": ACCOUNT_SK}}


def transfer_key(transfer_id: str) -> Item:
    return {"pk": {"S": f"TRANSFER#{transfer_id}"}, "sk": {"S": TRANSFER_SK}}


def _s(value: str) -> Item:
    return {"S": value}


def _n(value: int) -> Item:
    return {"N": str(value)}


def _optional_s(value: str | None) -> Item:
    return {"NULL": True} if value is None else {"S": value}


def _text(item: Item, name: str) -> str:
    return str(item[name]["S"])


def _int(item: Item, name: str) -> int:
    return int(item[name]["N"])


def _optional_text(item: Item, name: str) -> str | None:
    value = item.get(name)
    return None if value is None or "NULL" in value else str(value["S"])


def _optional_int(item: Item, name: str) -> int | None:
    value = item.get(name)
    return None if value is None or "NULL" in value else int(value["N"])


def _details_value(details: TransferDetails) -> Item:
    return {"M": {name: _s(value) for name, value in details.as_dict().items()}}


def details_from_item(item: Item) -> TransferDetails | None:
    """The transfer details stored on a transfer or entry item (absent: None)."""
    value = item.get("details")
    if value is None or "M" not in value:
        return None
    known = set(TransferDetails.__slots__)
    return TransferDetails(
        **{name: str(field["S"]) for name, field in value["M"].items() if name in known}
    )


DRIVER_WALLETS_INDEX = "GSI3"
_BATCH_GET_LIMIT = 100
_BATCH_ATTEMPTS = 5


def driver_wallet_owner(account_id: str) -> str | None:
    """The user of a driver wallet ``driver:{operator_id}:{user_id}`` (operator ids never
    contain ``:``, so everything after the second ``:`` is the user id); None otherwise."""
    parts = account_id.split(":", 2)
    if len(parts) != 3 or parts[0] != "driver" or not parts[1] or not parts[2]:
        return None
    return parts[2]


def driver_wallets_key(user_id: str) -> str:
    """GSI3 partition of a driver's wallets (sparse: only ``driver:`` accounts carry it)."""
    return f"DRIVER#{user_id}#WALLETS"


def driver_index_attributes(account_id: str) -> Item:
    """The GSI3 attributes of an account item: one partition per driver listing their
    wallets (one per operator), nothing for any other account."""
    user_id = driver_wallet_owner(account_id)
    if user_id is None:
        return {}
    return {"gsi3pk": _s(driver_wallets_key(user_id)), "gsi3sk": _s(account_id)}


def account_item(account: Account) -> Item:
    return {
        **account_key(account.account_id),
        "account_id": _s(account.account_id),
        "kind": _s(account.kind.value),
        "operator_id": _s(account.operator_id),
        "owner": _s(account.owner),
        "balance_fen": _n(account.balance_fen),
        "held_fen": _n(account.held_fen),
        "is_frozen": {"BOOL": account.is_frozen},
        "version": _n(account.version),
        "created_at": _s(to_wire(account.created_at)),
        "updated_at": _s(to_wire(account.updated_at)),
        "gsi1pk": _s(f"OPERATOR#{account.operator_id}#ACCOUNTS"),
        "gsi1sk": _s(account.account_id),
        **driver_index_attributes(account.account_id),
    }


def account_from_item(item: Item) -> Account:
    return Account(
        account_id=_text(item, "account_id"),
        kind=AccountKind(_text(item, "kind")),
        operator_id=_text(item, "operator_id"),
        owner=_optional_text(item, "owner") or "",
        balance_fen=_int(item, "balance_fen"),
        held_fen=_optional_int(item, "held_fen") or 0,
        is_frozen=bool(item.get("is_frozen", {}).get("BOOL", False)),
        version=_int(item, "version"),
        created_at=from_wire(_text(item, "created_at")),
        updated_at=from_wire(_text(item, "updated_at")),
    )


def transfer_item(transfer: Transfer) -> Item:
    item: Item = {
        **transfer_key(transfer.transfer_id),
        "transfer_id": _s(transfer.transfer_id),
        "kind": _s(transfer.kind.value),
        "operator_id": _s(transfer.operator_id),
        "account_id": _s(transfer.account_id),
        "amount_fen": _n(transfer.amount_fen),
        "legs": {
            "L": [
                {
                    "M": {
                        "account_id": _s(leg.account_id),
                        "amount_fen": _n(leg.amount_fen),
                        "held_fen": _n(leg.held_fen),
                    }
                }
                for leg in transfer.legs
            ]
        },
        "reference": _s(transfer.reference),
        "actor": _s(transfer.actor),
        "posted_at": _s(to_wire(transfer.posted_at)),
        "posted_on": _s(local_day(transfer.posted_at).isoformat()),
        "method": _optional_s(transfer.method),
        "hold_id": _optional_s(transfer.hold_id),
        "counter_account_id": _optional_s(transfer.counter_account_id),
    }
    if transfer.details is not None:
        item["details"] = _details_value(transfer.details)
    return item


def transfer_from_item(item: Item) -> Transfer:
    return Transfer(
        transfer_id=_text(item, "transfer_id"),
        kind=TransferKind(_text(item, "kind")),
        operator_id=_text(item, "operator_id"),
        legs=tuple(
            Leg(
                account_id=_text(leg["M"], "account_id"),
                amount_fen=_int(leg["M"], "amount_fen"),
                held_fen=_int(leg["M"], "held_fen"),
            )
            for leg in item["legs"]["L"]
        ),
        reference=_text(item, "reference"),
        actor=_text(item, "actor"),
        posted_at=from_wire(_text(item, "posted_at")),
        method=_optional_text(item, "method"),
        hold_id=_optional_text(item, "hold_id"),
        counter_account_id=_optional_text(item, "counter_account_id"),
        details=details_from_item(item),
    )


def entry_item(entry: Entry) -> Item:
    item: Item = {
        "pk": _s(f"ACCOUNT#{entry.account_id}"),
        "sk": _s(entry.sort_key),
        "account_id": _s(entry.account_id),
        "transfer_id": _s(entry.transfer_id),
        "transfer_kind": _s(entry.transfer_kind.value),
        "operator_id": _s(entry.operator_id),
        "amount_fen": _n(entry.amount_fen),
        "balance_after_fen": (
            {"NULL": True} if entry.balance_after_fen is None else _n(entry.balance_after_fen)
        ),
        "posted_at": _s(to_wire(entry.posted_at)),
        "posted_on": _s(entry.posted_on),
        "reference": _s(entry.reference),
        "actor": _s(entry.actor),
        "method": _optional_s(entry.method),
        "is_subject": {"BOOL": entry.is_subject},
    }
    if entry.details is not None:
        item["details"] = _details_value(entry.details)
    if entry.is_subject:
        # The operator's transaction list: one row per transfer, by local day (GSI2).
        item["gsi2pk"] = _s(f"OPERATOR#{entry.operator_id}#{entry.posted_on}")
        item["gsi2sk"] = _s(f"{to_wire(entry.posted_at)}#{entry.transfer_id}")
    return item


def entry_from_item(item: Item) -> Entry:
    return Entry(
        account_id=_text(item, "account_id"),
        transfer_id=_text(item, "transfer_id"),
        transfer_kind=TransferKind(_text(item, "transfer_kind")),
        operator_id=_text(item, "operator_id"),
        amount_fen=_int(item, "amount_fen"),
        balance_after_fen=_optional_int(item, "balance_after_fen"),
        posted_at=from_wire(_text(item, "posted_at")),
        reference=_text(item, "reference"),
        actor=_text(item, "actor"),
        method=_optional_text(item, "method"),
        is_subject=bool(item.get("is_subject", {}).get("BOOL", False)),
        details=details_from_item(item),
    )


@dataclass(frozen=True, slots=True)
class _Cancelled:
    """Why a transfer's transaction was cancelled, read from its cancellation reasons."""

    is_transfer_taken: bool = False
    fresh_wallets: Mapping[str, Account | None] | None = None
    is_contended: bool = False


class DynamoLedgerRepository:
    """``LedgerRepository`` on the LedgerTable (low-level client, typed items).

    ``max_attempts`` bounds how often a transfer is planned again after losing a race
    for a wallet (30 attempts with the default backoff wait about 15 s at worst, inside
    API Gateway's 29 s); ``stats`` counts commits, stale plans and transaction conflicts.
    """

    def __init__(
        self,
        table_name: str,
        client: Any | None = None,
        *,
        max_attempts: int = 30,
        backoff_base_s: float = 0.05,
        backoff_cap_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self._table = table_name
        self._client = client
        self._max_attempts = max_attempts
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._stats_lock = threading.Lock()
        self.stats: Counter[str] = Counter()

    # ------------------------------------------------------------ reads

    def get_account(self, account_id: str) -> Account | None:
        item = self._get(account_key(account_id))
        return None if item is None else account_from_item(item)

    def get_transfer(self, transfer_id: str) -> Transfer | None:
        item = self._get(transfer_key(transfer_id))
        return None if item is None else transfer_from_item(item)

    def list_entries(self, account_id: str, *, limit: int, cursor: str | None) -> EntryPage:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": _s(f"ACCOUNT#{account_id}"),
                ":prefix": _s(ENTRY_PREFIX),
            },
            "ScanIndexForward": False,
            # One more than asked tells whether another page exists.
            "Limit": limit + 1,
        }
        if cursor is not None:
            request["ExclusiveStartKey"] = {
                "pk": _s(f"ACCOUNT#{account_id}"),
                "sk": _s(decode_entry_cursor(cursor)),
            }
        response = self._call("query", request)
        items = response.get("Items", [])
        page = [entry_from_item(item) for item in items[:limit]]
        # More than asked, or DynamoDB stopped early at its 1 MB page: another page exists.
        has_more = len(items) > limit or "LastEvaluatedKey" in response
        next_cursor = encode_entry_cursor(page[-1].sort_key) if has_more and page else None
        return EntryPage(tuple(page), next_cursor)

    def driver_accounts(self, user_id: str) -> list[Account]:
        """The driver's wallets (one per operator), by operator id: the ids from GSI3
        (eventually consistent: a wallet opened a moment ago may be missing), the accounts
        themselves by strongly consistent BatchGetItem (exact balances).

        DynamoDB: 1 Query (+1 per 1 MB page), 1 BatchGetItem per 100 wallets.
        """
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": DRIVER_WALLETS_INDEX,
            "KeyConditionExpression": "gsi3pk = :owner",
            "ExpressionAttributeValues": {":owner": _s(driver_wallets_key(user_id))},
        }
        keys: list[Item] = []
        while True:
            response = self._call("query", request)
            keys.extend({"pk": item["pk"], "sk": item["sk"]} for item in response["Items"])
            last = response.get("LastEvaluatedKey")
            if not last:
                break
            request = {**request, "ExclusiveStartKey": last}
        accounts = [
            account_from_item(item)
            for start in range(0, len(keys), _BATCH_GET_LIMIT)
            for item in self._batch_get(keys[start : start + _BATCH_GET_LIMIT])
        ]
        # The index key is derived from the account id; checking it again costs nothing.
        mine = [a for a in accounts if driver_wallet_owner(a.account_id) == user_id]
        return sorted(mine, key=lambda account: account.operator_id)

    def _batch_get(self, keys: list[Item]) -> list[Item]:
        items: list[Item] = []
        pending: Any = {self._table: {"Keys": keys, "ConsistentRead": True}}
        for attempt in range(_BATCH_ATTEMPTS):
            response = self._call("batch_get_item", {"RequestItems": pending})
            items.extend(response.get("Responses", {}).get(self._table, []))
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                return items
            self._pause(attempt)
        raise UpstreamFailure("ledger store too busy, try again", operation="batch_get_item")

    # ------------------------------------------------------------ writes

    def open_account(self, account: Account) -> Account:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=account_item(account),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise UpstreamFailure("ledger write failed", operation="PutItem") from exc
            stored = self.get_account(account.account_id)
            if stored is None:
                raise UpstreamFailure("ledger account vanished") from exc
            return stored
        except BotoCoreError as exc:
            raise UpstreamFailure("ledger write failed", operation="PutItem") from exc
        return account

    def post_transfer(self, transfer: Transfer) -> PostResult:
        guarded = guarded_account_ids(transfer)
        stored, wallets = self._read_for_posting(transfer.transfer_id, guarded)
        for attempt in range(self._max_attempts):
            if stored is not None:
                return ensure_same_transfer(stored, transfer, wallets.values())
            posting = plan_posting(transfer, wallets)
            cancelled = self._commit(posting)
            if cancelled is None:
                self._count("commits")
                return PostResult(transfer, is_new=True, wallets=posted_wallets(posting, wallets))
            if cancelled.is_transfer_taken:
                # A duplicate committed first: answer it with the wallets as they are now.
                stored, wallets = self._read_for_posting(transfer.transfer_id, guarded)
                continue
            if cancelled.fresh_wallets is not None:
                # The reasons carry the wallets as they are now: plan again against them.
                self._count("stale_plans")
                wallets = {**wallets, **cancelled.fresh_wallets}
                self._pause(attempt)
            else:
                self._count("transaction_conflicts")
                self._pause(attempt)
                stored, wallets = self._read_for_posting(transfer.transfer_id, guarded)
        if stored is not None:
            return ensure_same_transfer(stored, transfer, wallets.values())
        logger.warning(
            "ledger transfer gave up under contention",
            extra={"transfer_id": transfer.transfer_id, "attempts": self._max_attempts},
        )
        raise UpstreamFailure("ledger too busy, try again", transfer_id=transfer.transfer_id)

    def set_frozen(
        self,
        account_id: str,
        *,
        operator_id: str,
        is_frozen: bool,
        actor: str,
        reason: str,
        at: datetime,
    ) -> Account:
        for attempt in range(self._max_attempts):
            account = self.get_account(account_id)
            if (
                account is None
                or account.kind is not AccountKind.WALLET
                or account.operator_id != operator_id
            ):
                raise NotFound("wallet not found", kind="wallet", id=account_id)
            if account.is_frozen == is_frozen:
                return account
            version = account.version + 1
            audit = {
                "pk": _s(f"ACCOUNT#{account_id}"),
                "sk": _s(f"{AUDIT_PREFIX}{to_wire(at)}#{version:012d}"),
                "account_id": _s(account_id),
                "operator_id": _s(operator_id),
                "action": _s("freeze" if is_frozen else "unfreeze"),
                "actor": _s(actor),
                "reason": _s(reason),
                "at": _s(to_wire(at)),
            }
            items = [
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": account_key(account_id),
                        "UpdateExpression": (
                            "SET #frozen = :frozen, #updated = :at ADD #version :one"
                        ),
                        "ConditionExpression": "#version = :version AND #op = :op",
                        "ExpressionAttributeNames": {
                            "#frozen": "is_frozen",
                            "#updated": "updated_at",
                            "#version": "version",
                            "#op": "operator_id",
                        },
                        "ExpressionAttributeValues": {
                            ":frozen": {"BOOL": is_frozen},
                            ":at": _s(to_wire(at)),
                            ":one": _n(1),
                            ":version": _n(account.version),
                            ":op": _s(operator_id),
                        },
                    }
                },
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": audit,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
            if self._transact(items) is None:
                return Account(
                    account_id=account.account_id,
                    kind=account.kind,
                    operator_id=account.operator_id,
                    owner=account.owner,
                    balance_fen=account.balance_fen,
                    held_fen=account.held_fen,
                    is_frozen=is_frozen,
                    version=version,
                    created_at=account.created_at,
                    updated_at=at,
                )
            self._pause(attempt)
        raise UpstreamFailure("ledger too busy, try again", account_id=account_id)

    # ------------------------------------------------------------ internals

    def _count(self, name: str) -> None:
        with self._stats_lock:
            self.stats[name] += 1

    def _pause(self, attempt: int) -> None:
        """Exponential backoff with full jitter, so the losers of a race spread out.

        Measured on one wallet debited by 32 threads (bench/ledger_concurrency.py, 600
        debits): a 2 ms base made ~30 commit attempts per debit and took 6x as long as
        50 ms, which makes ~3; retrying at once, or re-reading after the wait, was worse.
        """
        ceiling = min(self._backoff_cap_s, self._backoff_base_s * 2**attempt)
        self._sleep(self._rng.uniform(0, ceiling))

    def _call(self, operation: str, request: Mapping[str, Any]) -> Any:
        try:
            return getattr(self._client, operation)(**request)
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamFailure("ledger store failed", operation=operation) from exc

    def _get(self, key: Item) -> Item | None:
        response = self._call(
            "get_item", {"TableName": self._table, "Key": key, "ConsistentRead": True}
        )
        item: Item | None = response.get("Item")
        return item

    def _read_for_posting(
        self, transfer_id: str, wallet_ids: Iterable[str]
    ) -> tuple[Transfer | None, dict[str, Account | None]]:
        """The transfer (if posted) and its wallets, as one serializable snapshot."""
        wallet_ids = list(wallet_ids)
        keys = [transfer_key(transfer_id), *(account_key(a) for a in wallet_ids)]
        response = self._call(
            "transact_get_items",
            {"TransactItems": [{"Get": {"TableName": self._table, "Key": key}} for key in keys]},
        )
        items: list[Item | None] = [r.get("Item") for r in response.get("Responses", [])]
        items += [None] * (len(keys) - len(items))
        stored = None if items[0] is None else transfer_from_item(items[0])
        wallets = {
            account_id: None if item is None else account_from_item(item)
            for account_id, item in zip(wallet_ids, items[1:], strict=True)
        }
        return stored, wallets

    def _commit(self, posting: Posting) -> _Cancelled | None:
        transfer = posting.transfer
        at = _s(to_wire(transfer.posted_at))
        items: list[Item] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": transfer_item(transfer),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        items += [{"Update": self._account_update(change, at)} for change in posting.changes]
        items += [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": entry_item(entry),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for entry in posting.entries
        ]
        reasons = self._transact(items)
        if reasons is None:
            return None
        return self._explain(posting.changes, reasons)

    def _account_update(self, change: AccountChange, at: Item) -> Item:
        names = {
            "#balance": "balance_fen",
            "#version": "version",
            "#updated": "updated_at",
            "#op": "operator_id",
        }
        values: Item = {":amount": _n(change.amount_fen), ":one": _n(1), ":at": at}
        if change.expected_version is not None:
            names["#held"] = "held_fen"
            values |= {
                ":held": _n(change.held_fen),
                ":version": _n(change.expected_version),
                ":op": _s(change.operator_id),
            }
            conditions = ["#version = :version", "#op = :op"]
            if change.is_freeze_checked:
                conditions.append("#frozen = :false")
                names["#frozen"] = "is_frozen"
                values[":false"] = {"BOOL": False}
            if change.amount_fen < 0:
                conditions.append("#balance >= :debit")
                values[":debit"] = _n(-change.amount_fen)
            return {
                "TableName": self._table,
                "Key": account_key(change.account_id),
                "UpdateExpression": (
                    "SET #updated = :at ADD #balance :amount, #held :held, #version :one"
                ),
                "ConditionExpression": " AND ".join(conditions),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        # Internal account: created on its first posting, never pinned.
        names |= {
            "#id": "account_id",
            "#kind": "kind",
            "#owner": "owner",
            "#held": "held_fen",
            "#frozen": "is_frozen",
            "#created": "created_at",
            "#gsi1pk": "gsi1pk",
            "#gsi1sk": "gsi1sk",
        }
        values |= {
            ":id": _s(change.account_id),
            ":kind": _s(change.kind.value),
            ":op": _s(change.operator_id),
            ":empty": _s(""),
            ":zero": _n(0),
            ":false": {"BOOL": False},
            ":gsi1pk": _s(f"OPERATOR#{change.operator_id}#ACCOUNTS"),
        }
        return {
            "TableName": self._table,
            "Key": account_key(change.account_id),
            "UpdateExpression": (
                "SET #updated = :at, #id = if_not_exists(#id, :id),"
                " #kind = if_not_exists(#kind, :kind), #op = if_not_exists(#op, :op),"
                " #owner = if_not_exists(#owner, :empty), #held = if_not_exists(#held, :zero),"
                " #frozen = if_not_exists(#frozen, :false),"
                " #created = if_not_exists(#created, :at),"
                " #gsi1pk = if_not_exists(#gsi1pk, :gsi1pk), #gsi1sk = if_not_exists(#gsi1sk, :id)"
                " ADD #balance :amount, #version :one"
            ),
            "ConditionExpression": "attribute_not_exists(pk) OR (#kind = :kind AND #op = :op)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def _transact(self, items: list[Item]) -> list[Item] | None:
        """Run one transaction; None if it committed, else its cancellation reasons."""
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise UpstreamFailure(
                    "ledger write failed", operation="TransactWriteItems"
                ) from exc
            reasons: list[Item] = list(exc.response.get("CancellationReasons") or [])
            if not reasons:
                raise UpstreamFailure("ledger write cancelled without reasons") from exc
            return reasons
        except BotoCoreError as exc:
            raise UpstreamFailure("ledger write failed", operation="TransactWriteItems") from exc
        return None

    def _explain(self, changes: tuple[AccountChange, ...], reasons: list[Item]) -> _Cancelled:
        codes = [str(reason.get("Code") or "None") for reason in reasons]
        if codes[0] == _CONDITION_FAILED:
            return _Cancelled(is_transfer_taken=True)
        fresh: dict[str, Account | None] = {}
        for change, reason, code in zip(changes, reasons[1:], codes[1:], strict=False):
            if code != _CONDITION_FAILED:
                continue
            if change.expected_version is None:
                raise Conflict(
                    "ledger account id names an account of another kind or operator",
                    account_id=change.account_id,
                )
            item = reason.get("Item")
            fresh[change.account_id] = None if item is None else account_from_item(item)
        if fresh:
            return _Cancelled(fresh_wallets=fresh)
        if _TRANSACTION_CONFLICT in codes:
            return _Cancelled(is_contended=True)
        raise UpstreamFailure("ledger write cancelled", reasons=",".join(codes))
