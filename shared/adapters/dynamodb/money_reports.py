"""DynamoDB side of the operator's money: the transaction list, card holders for its rows,
driver-account cancellations and audit records, and the daily reconciliation.

Every read is a key or index read (docs/data-model.md, "Operator money"):

- transactions of an operator's local day: Query LedgerTable GSI2
  ``OPERATOR#{op}#{day}``, newest first, ``gsi2sk < :before`` for the next page;
- a clearing account's entries in a time range: Query ``ACCOUNT#{id}``,
  ``sk BETWEEN ENTRY#{from} AND ENTRY#{to}``;
- card holders, driver profiles, pile names: BatchGetItem ``CARD#{no}`` / ``CARD``,
  ``DRIVER#{user_id}`` / ``PROFILE``, ``PILE#{id}`` / ``PILE`` on the BaseDataTable;
- payment orders' operators: BatchGetItem ``ORDER#{no}`` / ``ORDER`` on the LedgerTable;
- operators: Query BaseDataTable GSI1 ``OPERATORS``;
- cancellation ``ACCOUNT#{id}`` / ``CLOSURE``, audit ``ACCOUNT#{id}`` / ``AUDIT#{at}#{ref}``
  (listed with the ledger's own freeze audit items under the same prefix);
- reconciliation reports: StatsTable ``RECONCILIATION#{scope}`` / ``DAY#{day}``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection, Iterable, Mapping
from datetime import date, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.adapters.dynamodb.ledger import entry_from_item
from shared.domain.clock import from_wire, to_wire
from shared.domain.errors import InvalidInput, UpstreamFailure
from shared.domain.ledger import Entry, driver_of_wallet
from shared.domain.topup_orders import is_topup_order_no
from shared.services.driver_accounts import AccountStatus, AuditPage, AuditRecord, Closure
from shared.services.money_reports import DayPage, WalletOwner
from shared.services.reconciliation import (
    Difference,
    MethodStatus,
    MethodSummary,
    Problem,
    ReconciliationReport,
)

Item = dict[str, Any]

CLOSURE_SK = "CLOSURE"
AUDIT_PREFIX = "AUDIT#"
_BATCH = 100
_BATCH_ATTEMPTS = 8


def _s(value: str) -> Item:
    return {"S": value}


def _n(value: int) -> Item:
    return {"N": str(value)}


def _text(item: Item, name: str) -> str | None:
    value = item.get(name)
    return None if value is None or "S" not in value else str(value["S"])


def _number(item: Item, name: str) -> int | None:
    value = item.get(name)
    return None if value is None or "N" not in value else int(value["N"])


class _Dynamo:
    def __init__(self, client: Any | None) -> None:
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self._client = client

    def _call(self, operation: str, **request: Any) -> Any:
        try:
            return getattr(self._client, operation)(**request)
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamFailure("money store failed", operation=operation) from exc

    def _query_all(self, **request: Any) -> list[Item]:
        items: list[Item] = []
        while True:
            response = self._call("query", **request)
            items.extend(response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                return items
            request["ExclusiveStartKey"] = last

    def _batch_get(self, table: str, keys: list[Item], projection: str) -> list[Item]:
        found: list[Item] = []
        for start in range(0, len(keys), _BATCH):
            pending: list[Item] = keys[start : start + _BATCH]
            for _ in range(_BATCH_ATTEMPTS):
                if not pending:
                    break
                request: Item = {"Keys": pending, "ProjectionExpression": projection}
                if "#name" in projection:
                    request["ExpressionAttributeNames"] = {"#name": "name"}
                response = self._call("batch_get_item", RequestItems={table: request})
                found.extend(response.get("Responses", {}).get(table, []))
                pending = response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
            if pending:
                raise UpstreamFailure("money store kept keys unprocessed", operation="BatchGetItem")
        return found


# ---------------------------------------------------------------- transaction list


class DynamoTransactionIndex(_Dynamo):
    """``TransactionIndex`` on the LedgerTable's GSI2."""

    def __init__(self, ledger_table: str, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = ledger_table

    def list_day(self, operator_id: str, day: date, *, before: str | None, limit: int) -> DayPage:
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "GSI2",
            "KeyConditionExpression": "gsi2pk = :pk",
            "ExpressionAttributeValues": {":pk": _s(f"OPERATOR#{operator_id}#{day.isoformat()}")},
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        if before is not None:
            request["KeyConditionExpression"] += " AND gsi2sk < :before"
            request["ExpressionAttributeValues"][":before"] = _s(before)
        response = self._call("query", **request)
        items = response.get("Items", [])
        entries = tuple(entry_from_item(item) for item in items[:limit])
        has_more = len(items) > limit or "LastEvaluatedKey" in response
        return DayPage(entries, has_more and bool(entries))


class DynamoRowDirectory(_Dynamo):
    """``RowDirectory`` on the base data: card holders, driver profiles (nickname, phone)
    and pile names, batch-read."""

    def __init__(self, base_data_table: str, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = base_data_table

    def wallet_owners(self, account_ids: Collection[str]) -> Mapping[str, WalletOwner]:
        card_nos = sorted({a.split(":", 1)[1] for a in account_ids if a.startswith("card:")})
        # One wallet per (operator, driver): every wallet of a driver shows their profile.
        wallets_of: dict[str, list[str]] = {}
        for account_id in account_ids:
            user = driver_of_wallet(account_id)
            if user is not None:
                wallets_of.setdefault(user, []).append(account_id)
        user_ids = sorted(wallets_of)
        found: dict[str, WalletOwner] = {}
        cards = [{"pk": _s(f"CARD#{no}"), "sk": _s("CARD")} for no in card_nos]
        for item in self._batch_get(self._table, cards, "card_no, holder_name, phone"):
            card_no = _text(item, "card_no")
            if card_no:
                found[f"card:{card_no}"] = WalletOwner(
                    name=_text(item, "holder_name") or "", phone=_text(item, "phone") or ""
                )
        drivers = [{"pk": _s(f"DRIVER#{user}"), "sk": _s("PROFILE")} for user in user_ids]
        for item in self._batch_get(self._table, drivers, "user_id, nickname, phone"):
            user_id = _text(item, "user_id")
            if user_id:
                owner = WalletOwner(
                    name=_text(item, "nickname") or "", phone=_text(item, "phone") or ""
                )
                for account_id in wallets_of.get(user_id, ()):
                    found[account_id] = owner
        return found

    def pile_names(self, operator_id: str, pile_ids: Collection[str]) -> Mapping[str, str]:
        keys = [{"pk": _s(f"PILE#{pile}"), "sk": _s("PILE")} for pile in sorted(set(pile_ids))]
        found: dict[str, str] = {}
        for item in self._batch_get(self._table, keys, "pk, operator_id, #name"):
            name = _text(item, "name")
            if name and _text(item, "operator_id") == operator_id:
                found[str(item["pk"]["S"]).removeprefix("PILE#")] = name
        return found


# ---------------------------------------------------------------- driver accounts


def _closure_item(closure: Closure) -> Item:
    item: Item = {
        "pk": _s(f"ACCOUNT#{closure.account_id}"),
        "sk": _s(CLOSURE_SK),
        "account_id": _s(closure.account_id),
        "operator_id": _s(closure.operator_id),
        "status": _s(closure.status.value),
        "actor": _s(closure.actor),
        "reason": _s(closure.reason),
        "started_at": _s(to_wire(closure.started_at)),
        "refunded_fen": _n(closure.refunded_fen),
    }
    if closure.closed_at is not None:
        item["closed_at"] = _s(to_wire(closure.closed_at))
    return item


def _closure_from(item: Item) -> Closure:
    closed = _text(item, "closed_at")
    return Closure(
        account_id=str(_text(item, "account_id")),
        operator_id=str(_text(item, "operator_id")),
        status=AccountStatus(str(_text(item, "status"))),
        actor=str(_text(item, "actor")),
        reason=str(_text(item, "reason")),
        started_at=from_wire(str(_text(item, "started_at"))),
        refunded_fen=_number(item, "refunded_fen") or 0,
        closed_at=None if closed is None else from_wire(closed),
    )


def _audit_from(item: Item) -> AuditRecord:
    return AuditRecord(
        account_id=str(_text(item, "account_id")),
        operator_id=str(_text(item, "operator_id")),
        action=str(_text(item, "action")),
        actor=str(_text(item, "actor")),
        reason=str(_text(item, "reason")),
        at=from_wire(str(_text(item, "at"))),
        amount_fen=_number(item, "amount_fen"),
        reference=_text(item, "reference"),
    )


def _encode_sk(sort_key: str) -> str:
    raw = json.dumps({"sk": sort_key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_sk(cursor: str, prefix: str) -> str:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        sort_key = data["sk"]
    except (ValueError, TypeError, KeyError, binascii.Error) as exc:
        raise InvalidInput("cursor is not valid", field="cursor") from exc
    if not isinstance(sort_key, str) or not sort_key.startswith(prefix) or len(sort_key) > 400:
        raise InvalidInput("cursor is not valid", field="cursor")
    return sort_key


class DynamoDriverAccounts(_Dynamo):
    """``DriverAccountStore`` on the LedgerTable, next to the wallet's own items."""

    def __init__(self, ledger_table: str, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = ledger_table

    def _key(self, account_id: str) -> Item:
        return {"pk": _s(f"ACCOUNT#{account_id}"), "sk": _s(CLOSURE_SK)}

    def get_closure(self, account_id: str) -> Closure | None:
        response = self._call(
            "get_item", TableName=self._table, Key=self._key(account_id), ConsistentRead=True
        )
        item = response.get("Item")
        return None if item is None else _closure_from(item)

    def _put_if_absent(self, item: Item) -> bool:
        try:
            self._client.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise UpstreamFailure("money store failed", operation="PutItem") from exc
        except BotoCoreError as exc:
            raise UpstreamFailure("money store failed", operation="PutItem") from exc
        return True

    def start_closure(self, closure: Closure) -> Closure:
        if self._put_if_absent(_closure_item(closure)):
            return closure
        stored = self.get_closure(closure.account_id)
        if stored is None:
            raise UpstreamFailure("closure vanished", account_id=closure.account_id)
        return stored

    def finish_closure(self, closure: Closure) -> Closure:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(closure.account_id),
                UpdateExpression="SET #status = :done, refunded_fen = :fen, closed_at = :at",
                ConditionExpression="#status = :cancelling",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":done": _s(AccountStatus.CANCELLED.value),
                    ":cancelling": _s(AccountStatus.CANCELLING.value),
                    ":fen": _n(closure.refunded_fen),
                    ":at": _s(to_wire(closure.closed_at or closure.started_at)),
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise UpstreamFailure("money store failed", operation="UpdateItem") from exc
        except BotoCoreError as exc:
            raise UpstreamFailure("money store failed", operation="UpdateItem") from exc
        stored = self.get_closure(closure.account_id)
        if stored is None:
            raise UpstreamFailure("closure vanished", account_id=closure.account_id)
        return stored

    def record_audit(self, record: AuditRecord) -> None:
        item: Item = {
            "pk": _s(f"ACCOUNT#{record.account_id}"),
            "sk": _s(f"{AUDIT_PREFIX}{to_wire(record.at)}#{record.reference or record.action}"),
            "account_id": _s(record.account_id),
            "operator_id": _s(record.operator_id),
            "action": _s(record.action),
            "actor": _s(record.actor),
            "reason": _s(record.reason),
            "at": _s(to_wire(record.at)),
        }
        if record.amount_fen is not None:
            item["amount_fen"] = _n(record.amount_fen)
        if record.reference is not None:
            item["reference"] = _s(record.reference)
        self._put_if_absent(item)

    def list_audit(self, account_id: str, *, limit: int, cursor: str | None) -> AuditPage:
        pk = _s(f"ACCOUNT#{account_id}")
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": pk, ":prefix": _s(AUDIT_PREFIX)},
            "ScanIndexForward": False,
            # One more than asked tells whether another page exists.
            "Limit": limit + 1,
        }
        if cursor is not None:
            request["ExclusiveStartKey"] = {"pk": pk, "sk": _s(_decode_sk(cursor, AUDIT_PREFIX))}
        response = self._call("query", **request)
        items = response.get("Items", [])
        page = items[:limit]
        has_more = len(items) > limit or "LastEvaluatedKey" in response
        return AuditPage(
            tuple(_audit_from(item) for item in page),
            _encode_sk(page[-1]["sk"]["S"]) if has_more and page else None,
        )


# ---------------------------------------------------------------- reconciliation sources


class DynamoClearingEntries(_Dynamo):
    """``ClearingEntries``: a clearing account's entries in a time range (key query)."""

    def __init__(self, ledger_table: str, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = ledger_table

    def clearing_entries(
        self, operator_id: str, method: str, start_at: datetime, end_at: datetime
    ) -> list[Entry]:
        items = self._query_all(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :from AND :to",
            ExpressionAttributeValues={
                ":pk": _s(f"ACCOUNT#operator:{operator_id}:clearing:{method}"),
                ":from": _s(f"ENTRY#{to_wire(start_at)}"),
                # Entries of the last millisecond before ``end_at`` sort below this key.
                ":to": _s(f"ENTRY#{to_wire(end_at)}"),
            },
            ConsistentRead=True,
        )
        return [e for e in map(entry_from_item, items) if start_at <= e.posted_at < end_at]


class DynamoOrderOwners(_Dynamo):
    """``OrderOwners``: the operator of each payment order (``ORDER#{no}`` / ``ORDER``)."""

    def __init__(self, ledger_table: str, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = ledger_table

    def owners_of(self, order_nos: Collection[str]) -> Mapping[str, str]:
        # Wallet top-ups (``TU`` numbers) are ``TOPUP#`` items, paid sessions ``ORDER#``.
        keys = [
            (
                {"pk": _s(f"TOPUP#{no}"), "sk": _s("TOPUP")}
                if is_topup_order_no(no)
                else {"pk": _s(f"ORDER#{no}"), "sk": _s("ORDER")}
            )
            for no in sorted(set(order_nos))
            if no and len(no) <= 200
        ]
        found: dict[str, str] = {}
        for item in self._batch_get(self._table, keys, "pk, operator_id"):
            operator_id = _text(item, "operator_id")
            if operator_id:
                order_no = item["pk"]["S"].removeprefix("ORDER#").removeprefix("TOPUP#")
                found[order_no] = operator_id
        return found


class DynamoOperatorDirectory(_Dynamo):
    """``OperatorDirectory``: every operator, from the base-data GSI1 ``OPERATORS``."""

    def __init__(self, base_data_table: str, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = base_data_table

    def operator_ids(self) -> list[str]:
        items = self._query_all(
            TableName=self._table,
            IndexName="GSI1",
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": _s("OPERATORS")},
            ProjectionExpression="operator_id",
        )
        return sorted(str(_text(item, "operator_id")) for item in items if "operator_id" in item)


# ---------------------------------------------------------------- reconciliation reports


def _difference_json(d: Difference) -> dict[str, Any]:
    return {
        "method": d.method,
        "kind": d.kind,
        "problem": d.problem.value,
        "order_no": d.order_no,
        "reference": d.reference,
        "ledger_amount_fen": d.ledger_amount_fen,
        "provider_amount_fen": d.provider_amount_fen,
        "transfer_id": d.transfer_id,
        "at": to_wire(d.at),
    }


def _difference_from(data: Mapping[str, Any]) -> Difference:
    return Difference(
        method=data["method"],
        kind=data["kind"],
        problem=Problem(data["problem"]),
        order_no=data["order_no"],
        reference=data["reference"],
        ledger_amount_fen=data["ledger_amount_fen"],
        provider_amount_fen=data["provider_amount_fen"],
        transfer_id=data["transfer_id"],
        at=from_wire(data["at"]),
    )


_SUMMARY_FIELDS = (
    "ledger_payments_fen",
    "ledger_refunds_fen",
    "provider_payments_fen",
    "provider_refunds_fen",
    "ledger_count",
    "provider_count",
    "matched_count",
)


def _summaries_json(methods: Iterable[MethodSummary]) -> list[dict[str, Any]]:
    return [
        {"method": m.method, "status": m.status.value}
        | {name: getattr(m, name) for name in _SUMMARY_FIELDS}
        for m in methods
    ]


def report_item(report: ReconciliationReport) -> Item:
    return {
        "pk": _s(f"RECONCILIATION#{report.scope}"),
        "sk": _s(f"DAY#{report.day.isoformat()}"),
        "scope": _s(report.scope),
        "day": _s(report.day.isoformat()),
        "generated_at": _s(to_wire(report.generated_at)),
        "is_balanced": {"BOOL": report.is_balanced},
        "differences_total": _n(report.differences_total),
        "methods_json": _s(json.dumps(_summaries_json(report.methods), separators=(",", ":"))),
        "differences_json": _s(
            json.dumps(
                [_difference_json(d) for d in report.differences],
                separators=(",", ":"),
                ensure_ascii=False,
            )
        ),
    }


def report_from(item: Item) -> ReconciliationReport:
    methods = json.loads(str(_text(item, "methods_json")))
    differences = json.loads(str(_text(item, "differences_json")))
    return ReconciliationReport(
        scope=str(_text(item, "scope")),
        day=date.fromisoformat(str(_text(item, "day"))),
        generated_at=from_wire(str(_text(item, "generated_at"))),
        methods=tuple(
            MethodSummary(
                method=m["method"],
                status=MethodStatus(m["status"]),
                **{name: int(m[name]) for name in _SUMMARY_FIELDS},
            )
            for m in methods
        ),
        differences=tuple(_difference_from(d) for d in differences),
        differences_total=_number(item, "differences_total") or 0,
    )


class DynamoReconciliationReports(_Dynamo):
    """``ReconciliationStore`` on the StatsTable (one item per scope and day)."""

    def __init__(self, stats_table: str, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = stats_table

    def save(self, report: ReconciliationReport) -> None:
        self._call("put_item", TableName=self._table, Item=report_item(report))

    def get(self, scope: str, day: date) -> ReconciliationReport | None:
        response = self._call(
            "get_item",
            TableName=self._table,
            Key={"pk": _s(f"RECONCILIATION#{scope}"), "sk": _s(f"DAY#{day.isoformat()}")},
        )
        item = response.get("Item")
        return None if item is None else report_from(item)
