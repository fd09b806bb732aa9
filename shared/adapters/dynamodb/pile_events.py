"""Pile events and each pile's latest maintenance status, in SessionsTable.

- event: ``PILE#{pile_id}`` / ``EVENT#{received_at}#{message_id}`` (TTL ``expires_at``,
  30 days): ``kind``, ``summary``, ``detail_json``, ``reported_at``, ``request_id``;
  newest first is one Query on the pile's partition.
- latest maintenance status: ``PILE#{pile_id}`` / ``MAINTENANCE``, one map per kind
  (``firmware``, ``diagnostics``, ``log``: ``status``, ``received_at``, ``request_id``),
  kept apart from the pile item so a firmware update never makes every presence write of
  the pile dearer (an UpdateItem costs a write unit per KB of the item).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.adapters.dynamodb.connections import (
    decode_sort_key_token,
    encode_sort_key_token,
    n,
    number_of,
    s,
    text_of,
    upstream,
)
from shared.domain.clock import from_wire, to_wire
from shared.domain.ocpp.notifications import (
    EventKind,
    MaintenanceKind,
    MaintenanceStatus,
    PileEvent,
)

_EVENT_PREFIX = "EVENT#"
_MAINTENANCE = "MAINTENANCE"


class DynamoPileEvents:
    """The pile-event items of SessionsTable."""

    def __init__(self, table_name: str, client: Any) -> None:
        self._table = table_name
        self._client = client

    def record(self, event: PileEvent) -> None:
        received_at = to_wire(event.received_at)
        item: dict[str, Any] = {
            "pk": s(f"PILE#{event.pile_id}"),
            "sk": s(f"{_EVENT_PREFIX}{received_at}#{event.message_id}"),
            "pile_id": s(event.pile_id),
            "operator_id": s(event.operator_id),
            "kind": s(event.kind.value),
            "message_id": s(event.message_id),
            "received_at": s(received_at),
            "summary": s(event.summary),
            "detail_json": s(event.detail_json),
            "expires_at": n(event.expires_at),
        }
        if event.reported_at is not None:
            item["reported_at"] = s(to_wire(event.reported_at))
        if event.request_id is not None:
            item["request_id"] = n(event.request_id)
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise upstream("PutItem") from exc

    def set_maintenance_status(self, pile_id: str, status: MaintenanceStatus) -> None:
        value: dict[str, Any] = {
            "status": s(status.status),
            "received_at": s(to_wire(status.received_at)),
        }
        if status.request_id is not None:
            value["request_id"] = n(status.request_id)
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": s(f"PILE#{pile_id}"), "sk": s(_MAINTENANCE)},
                UpdateExpression="SET #kind = :value, pile_id = :pile",
                ExpressionAttributeNames={"#kind": status.kind.value},
                ExpressionAttributeValues={":value": {"M": value}, ":pile": s(pile_id)},
            )
        except (ClientError, BotoCoreError) as exc:
            raise upstream("UpdateItem") from exc

    def recent(
        self, pile_id: str, limit: int, next_token: str | None
    ) -> tuple[list[PileEvent], str | None]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": s(f"PILE#{pile_id}"),
                ":prefix": s(_EVENT_PREFIX),
            },
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if next_token is not None:
            request["ExclusiveStartKey"] = {
                "pk": s(f"PILE#{pile_id}"),
                "sk": s(decode_sort_key_token(next_token, _EVENT_PREFIX)),
            }
        try:
            response = self._client.query(**request)
        except (ClientError, BotoCoreError) as exc:
            raise upstream("Query") from exc
        events = [event for item in response.get("Items", []) if (event := _event_from(item))]
        last = response.get("LastEvaluatedKey")
        return events, encode_sort_key_token(last["sk"]["S"]) if last else None

    def maintenance(self, pile_id: str) -> list[MaintenanceStatus]:
        try:
            response = self._client.get_item(
                TableName=self._table, Key={"pk": s(f"PILE#{pile_id}"), "sk": s(_MAINTENANCE)}
            )
        except (ClientError, BotoCoreError) as exc:
            raise upstream("GetItem") from exc
        item = response.get("Item") or {}
        statuses = []
        for kind in MaintenanceKind:
            value = item.get(kind.value, {}).get("M")
            if not value:
                continue
            received_at = text_of(value, "received_at")
            if received_at is None:
                continue
            statuses.append(
                MaintenanceStatus(
                    kind=kind,
                    status=text_of(value, "status") or "",
                    received_at=from_wire(received_at),
                    request_id=number_of(value, "request_id"),
                )
            )
        return statuses


def _event_from(item: dict[str, Any]) -> PileEvent | None:
    try:
        reported_at = text_of(item, "reported_at")
        return PileEvent(
            pile_id=text_of(item, "pile_id") or "",
            operator_id=text_of(item, "operator_id") or "",
            kind=EventKind(text_of(item, "kind") or ""),
            message_id=text_of(item, "message_id") or "",
            received_at=from_wire(text_of(item, "received_at") or ""),
            summary=text_of(item, "summary") or "",
            detail_json=text_of(item, "detail_json") or "{}",
            expires_at=number_of(item, "expires_at") or 0,
            reported_at=from_wire(reported_at) if reported_at else None,
            request_id=number_of(item, "request_id"),
        )
    except ValueError:
        return None
