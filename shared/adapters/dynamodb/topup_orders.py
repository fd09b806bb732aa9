"""Wallet top-up orders on the LedgerTable: ``TOPUP#{order_no}`` / ``TOPUP``
(docs/data-model.md), written whole by a PutItem conditional on the ``revision`` it was read
at (``attribute_not_exists(pk)`` for a new order). GSI1 ``DRIVER#{user}#TOPUPS`` /
``{created_at}#{order_no}`` lists a driver's top-ups newest first.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from shared.adapters.dynamodb.base_data_items import decode_item, encode_item
from shared.adapters.dynamodb.connections import conditional_put
from shared.domain.clock import from_wire, to_wire
from shared.domain.errors import InvalidInput, UpstreamFailure
from shared.domain.payments import PaymentMethod
from shared.domain.topup_orders import TopUpOrder, TopUpState

_SK = "TOPUP"


def topup_key(order_no: str) -> dict[str, Any]:
    return {"pk": {"S": f"TOPUP#{order_no}"}, "sk": {"S": _SK}}


def topup_item(order: TopUpOrder) -> dict[str, Any]:
    """The stored item (plain values; ``encode_item`` makes it DynamoDB JSON)."""
    return {
        "pk": f"TOPUP#{order.order_no}",
        "sk": _SK,
        "gsi1pk": f"DRIVER#{order.user_id}#TOPUPS",
        "gsi1sk": f"{to_wire(order.created_at)}#{order.order_no}",
        "kind": "topup_order",
        "order_no": order.order_no,
        "request_id": order.request_id,
        "user_id": order.user_id,
        "operator_id": order.operator_id,
        "payer_id": order.payer_id,
        "method": order.method.value,
        "amount_fen": order.amount_fen,
        "state": order.state.value,
        "created_at": to_wire(order.created_at),
        "updated_at": to_wire(order.updated_at),
        "expires_at": to_wire(order.expires_at),
        "revision": order.revision,
        "client_params": dict(order.client_params) or None,
        "provider_txn_id": order.provider_txn_id,
        "paid_at": None if order.paid_at is None else to_wire(order.paid_at),
    }


def topup_from(item: Mapping[str, Any]) -> TopUpOrder:
    paid_at = item.get("paid_at")
    txn = item.get("provider_txn_id")
    return TopUpOrder(
        order_no=str(item["order_no"]),
        request_id=str(item["request_id"]),
        user_id=str(item["user_id"]),
        operator_id=str(item["operator_id"]),
        payer_id=str(item["payer_id"]),
        method=PaymentMethod(str(item["method"])),
        amount_fen=int(item["amount_fen"]),
        state=TopUpState(str(item["state"])),
        created_at=from_wire(str(item["created_at"])),
        updated_at=from_wire(str(item["updated_at"])),
        expires_at=from_wire(str(item["expires_at"])),
        revision=int(item.get("revision", 0)),
        client_params={str(k): str(v) for k, v in (item.get("client_params") or {}).items()},
        provider_txn_id=None if txn is None else str(txn),
        paid_at=None if paid_at is None else from_wire(str(paid_at)),
    )


def _encode_cursor(key: Mapping[str, Any]) -> str:
    plain = {name: value["S"] for name, value in key.items()}
    raw = json.dumps(plain, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, user_id: str) -> dict[str, Any]:
    try:
        plain = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(plain, dict) or set(plain) != {"pk", "sk", "gsi1pk", "gsi1sk"}:
            raise ValueError("keys")
        if plain["gsi1pk"] != f"DRIVER#{user_id}#TOPUPS":
            raise ValueError("another list")
        return {name: {"S": str(value)} for name, value in plain.items()}
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidInput("next_token is not a page of this list", field="next_token") from exc


class DynamoTopUpOrders:
    """``shared.services.wallet_topups.TopUpStore`` on the LedgerTable."""

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self._table = table_name
        self._client = client if client is not None else boto3.client("dynamodb")

    def _put(self, order: TopUpOrder, condition: str, values: dict[str, Any] | None) -> bool:
        return conditional_put(
            self._client,
            self._table,
            encode_item(topup_item(order)),
            condition,
            values,
            refused="the top-up",
        )

    def create(self, order: TopUpOrder) -> bool:
        return self._put(order, "attribute_not_exists(pk)", None)

    def save(self, order: TopUpOrder) -> TopUpOrder | None:
        saved = replace(order, revision=order.revision + 1)
        values = {":expected": {"N": str(order.revision)}}
        return saved if self._put(saved, "revision = :expected", values) else None

    def get(self, order_no: str) -> TopUpOrder | None:
        try:
            response = self._client.get_item(
                TableName=self._table, Key=topup_key(order_no), ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamFailure("the ledger table did not answer", operation="GetItem") from exc
        raw = response.get("Item")
        return topup_from(decode_item(raw)) if raw else None

    def list_for_user(
        self, user_id: str, *, limit: int, before: str | None
    ) -> tuple[list[TopUpOrder], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "GSI1",
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"DRIVER#{user_id}#TOPUPS"}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if before is not None:
            kwargs["ExclusiveStartKey"] = _decode_cursor(before, user_id)
        try:
            response = self._client.query(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamFailure("the ledger table did not answer", operation="Query") from exc
        found = [topup_from(decode_item(raw)) for raw in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return found, None if not last else _encode_cursor(last)
