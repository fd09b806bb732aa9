"""ConnectionsTable (one item per open WebSocket) and the CSMS-initiated calls kept in
SessionsTable (``PILE#{pile_id}`` / ``CALL#{unique_id}``), on the low-level client.

Open calls carry the sparse GSI2 keys ``gsi2pk`` = ``PENDING_CALLS`` or
``UNDELIVERED_CALLS`` and ``gsi2sk`` = ``{timeout_at}``: housekeeping finds the calls due
with one Query per status, never a scan; a call drops out of the index (its GSI2 keys are
removed) the moment it ends.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.domain.clock import from_wire, to_wire
from shared.domain.errors import InvalidInput, UpstreamFailure
from shared.domain.ocpp.provisioning import RegistrationStatus
from shared.domain.ocpp.remote_calls import (
    CallAnswer,
    CallStatus,
    PendingCall,
    message_id_floor,
)
from shared.domain.ocpp.versions import OcppVersion
from shared.domain.presence import Connection

CONDITION_FAILED = "ConditionalCheckFailedException"


def is_condition_failure(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == CONDITION_FAILED)


def conditional_put(
    client: Any,
    table: str,
    item: dict[str, Any],
    condition: str,
    values: dict[str, Any] | None,
    *,
    refused: str,
) -> bool:
    """PutItem under ``condition``; False when the condition fails.

    Raises: UpstreamFailure (``refused`` names what the table refused).
    """
    kwargs: dict[str, Any] = {"TableName": table, "Item": item, "ConditionExpression": condition}
    if values:
        kwargs["ExpressionAttributeValues"] = values
    try:
        client.put_item(**kwargs)
    except ClientError as exc:
        if is_condition_failure(exc):
            return False
        raise UpstreamFailure(f"the table refused {refused}", operation="PutItem") from exc
    except BotoCoreError as exc:
        raise UpstreamFailure("the table did not answer", operation="PutItem") from exc
    return True


def conditional_update(client: Any, **request: Any) -> bool:
    """UpdateItem ``request`` (TableName, Key, UpdateExpression, ConditionExpression, ...);
    False when the condition fails.

    Raises: UpstreamFailure.
    """
    try:
        client.update_item(**request)
    except ClientError as exc:
        if is_condition_failure(exc):
            return False
        raise upstream("UpdateItem") from exc
    except BotoCoreError as exc:
        raise upstream("UpdateItem") from exc
    return True


def s(value: str) -> dict[str, str]:
    return {"S": value}


def n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def text_of(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    if value is None or "S" not in value:
        return None
    return str(value["S"])


def number_of(item: dict[str, Any], name: str) -> int | None:
    value = item.get(name)
    if value is None or "N" not in value:
        return None
    return int(value["N"])


def bool_of(item: dict[str, Any], name: str) -> bool:
    value = item.get(name)
    return bool(value is not None and value.get("BOOL") is True)


def upstream(operation: str) -> UpstreamFailure:
    return UpstreamFailure(f"DynamoDB {operation} failed", operation=operation)


class DynamoConnections:
    """The connection items: written by ``$connect``, read once per frame by the router."""

    def __init__(self, table_name: str, client: Any) -> None:
        self._table = table_name
        self._client = client

    def get(self, connection_id: str, *, consistent: bool = False) -> Connection | None:
        try:
            response = self._client.get_item(
                TableName=self._table,
                Key={"connection_id": s(connection_id)},
                ConsistentRead=consistent,
            )
        except (ClientError, BotoCoreError) as exc:
            raise upstream("GetItem") from exc
        item = response.get("Item")
        return _connection_from(item) if item else None

    def put(self, connection: Connection) -> None:
        item = {
            "connection_id": s(connection.connection_id),
            "pile_id": s(connection.pile_id),
            "protocol": s(connection.version.value),
            "operator_id": s(connection.operator_id),
            "connected_at": s(to_wire(connection.connected_at)),
            "last_seen_at": s(to_wire(connection.last_seen_at)),
            "expires_at": n(connection.expires_at),
        }
        if connection.station_id:
            item["station_id"] = s(connection.station_id)
        if connection.registration_status:
            item["registration_status"] = s(connection.registration_status)
        if connection.source_ip:
            item["source_ip"] = s(connection.source_ip)
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise upstream("PutItem") from exc

    def delete(self, connection_id: str) -> Connection | None:
        try:
            response = self._client.delete_item(
                TableName=self._table,
                Key={"connection_id": s(connection_id)},
                ReturnValues="ALL_OLD",
            )
        except (ClientError, BotoCoreError) as exc:
            raise upstream("DeleteItem") from exc
        old = response.get("Attributes")
        return _connection_from(old) if old else None

    def set_registration(self, connection_id: str, status: RegistrationStatus) -> None:
        self._update(connection_id, "registration_status", status.value)

    def _update(self, connection_id: str, name: str, value: str) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"connection_id": s(connection_id)},
                UpdateExpression="SET #a = :v",
                ConditionExpression="attribute_exists(connection_id)",
                ExpressionAttributeNames={"#a": name},
                ExpressionAttributeValues={":v": s(value)},
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return  # the connection closed meanwhile: nothing to stamp
            raise upstream("UpdateItem") from exc
        except BotoCoreError as exc:
            raise upstream("UpdateItem") from exc


def _connection_from(item: dict[str, Any]) -> Connection | None:
    version = text_of(item, "protocol")
    connected_at = text_of(item, "connected_at")
    pile_id = text_of(item, "pile_id")
    if version not in {v.value for v in OcppVersion} or connected_at is None or pile_id is None:
        return None
    return Connection(
        connection_id=text_of(item, "connection_id") or "",
        pile_id=pile_id,
        version=OcppVersion(version),
        operator_id=text_of(item, "operator_id") or "",
        station_id=text_of(item, "station_id"),
        registration_status=text_of(item, "registration_status"),
        connected_at=from_wire(connected_at),
        last_seen_at=from_wire(text_of(item, "last_seen_at") or connected_at),
        source_ip=text_of(item, "source_ip"),
        expires_at=number_of(item, "expires_at") or 0,
    )


OPEN_CALLS_INDEX = "GSI2"
_OPEN_CALLS_PK = {
    CallStatus.PENDING: "PENDING_CALLS",
    CallStatus.UNDELIVERED: "UNDELIVERED_CALLS",
}
_CALL_PREFIX = "CALL#"
_MAX_TOKEN_LENGTH = 512


def _call_key(pile_id: str, unique_id: str) -> dict[str, dict[str, str]]:
    return {"pk": s(f"PILE#{pile_id}"), "sk": s(f"{_CALL_PREFIX}{unique_id}")}


def encode_sort_key_token(sort_key: str) -> str:
    """An opaque page token for a Query within one partition: the sort key it stopped at
    (the next Query names the partition itself, so a token cannot lead elsewhere)."""
    return base64.urlsafe_b64encode(sort_key.encode()).decode().rstrip("=")


def decode_sort_key_token(token: str, prefix: str) -> str:
    """Raises: InvalidInput when the token was not made by a list of ``prefix`` items."""
    error = InvalidInput("next_token is not a token from this list", field="next_token")
    if len(token) > _MAX_TOKEN_LENGTH:
        raise error
    try:
        sort_key = base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode()).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise error from exc
    if not sort_key.startswith(prefix) or len(sort_key) <= len(prefix):
        raise error
    return sort_key


class DynamoPendingCalls:
    """CSMS-initiated calls, matched to the pile's answer by message id."""

    def __init__(self, table_name: str, client: Any) -> None:
        self._table = table_name
        self._client = client

    def create(self, call: PendingCall) -> None:
        item = {
            **_call_key(call.pile_id, call.unique_id),
            "unique_id": s(call.unique_id),
            "pile_id": s(call.pile_id),
            "action": s(call.action),
            "protocol": s(call.version.value),
            "operator_id": s(call.operator_id),
            "request_json": s(call.request_json),
            "status": s(call.status.value),
            "created_at": s(to_wire(call.created_at)),
            "timeout_at": s(to_wire(call.timeout_at)),
            "expires_at": n(call.expires_at),
        }
        if call.connection_id:
            item["connection_id"] = s(call.connection_id)
        if call.requested_by:
            item["requested_by"] = s(call.requested_by)
        if call.status in _OPEN_CALLS_PK:
            item["gsi2pk"] = s(_OPEN_CALLS_PK[call.status])
            item["gsi2sk"] = s(to_wire(call.timeout_at))
        try:
            self._client.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )
        except (ClientError, BotoCoreError) as exc:
            raise upstream("PutItem") from exc

    def get(self, pile_id: str, unique_id: str) -> PendingCall | None:
        try:
            response = self._client.get_item(
                TableName=self._table, Key=_call_key(pile_id, unique_id), ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise upstream("GetItem") from exc
        item = response.get("Item")
        return _call_from(item) if item else None

    def finish(self, pile_id: str, unique_id: str, answer: CallAnswer) -> bool:
        values: dict[str, Any] = {
            ":status": s(answer.status.value),
            ":answered_at": s(to_wire(answer.answered_at)),
        }
        sets = ["#status = :status", "answered_at = :answered_at"]
        for name, value in (
            ("response_json", answer.response_json),
            ("error_code", answer.error_code),
            ("error_description", answer.error_description),
        ):
            if value is not None:
                sets.append(f"{name} = :{name}")
                values[f":{name}"] = s(value)
        return self._transition(
            pile_id,
            unique_id,
            CallStatus.PENDING,
            "SET " + ", ".join(sets) + " REMOVE gsi2pk, gsi2sk",
            values,
        )

    def mark_undelivered(self, pile_id: str, unique_id: str, deliver_by: datetime) -> bool:
        return self._transition(
            pile_id,
            unique_id,
            CallStatus.PENDING,
            "SET #status = :status, timeout_at = :t, gsi2pk = :gpk, gsi2sk = :t",
            {
                ":status": s(CallStatus.UNDELIVERED.value),
                ":t": s(to_wire(deliver_by)),
                ":gpk": s(_OPEN_CALLS_PK[CallStatus.UNDELIVERED]),
            },
        )

    def claim_delivery(
        self, pile_id: str, unique_id: str, connection_id: str, timeout_at: datetime
    ) -> bool:
        return self._transition(
            pile_id,
            unique_id,
            CallStatus.UNDELIVERED,
            "SET #status = :status, connection_id = :c, timeout_at = :t, gsi2pk = :gpk, "
            "gsi2sk = :t",
            {
                ":status": s(CallStatus.PENDING.value),
                ":c": s(connection_id),
                ":t": s(to_wire(timeout_at)),
                ":gpk": s(_OPEN_CALLS_PK[CallStatus.PENDING]),
            },
        )

    def time_out(
        self, pile_id: str, unique_id: str, expected: CallStatus, now: datetime, reason: str
    ) -> bool:
        return self._transition(
            pile_id,
            unique_id,
            expected,
            "SET #status = :status, timed_out_at = :now, error_description = :reason "
            "REMOVE gsi2pk, gsi2sk",
            {
                ":status": s(CallStatus.TIMED_OUT.value),
                ":now": s(to_wire(now)),
                ":reason": s(reason),
            },
        )

    def queued_for_pile(self, pile_id: str, since: datetime) -> list[PendingCall]:
        # Call ids start with their creation time, so only the calls made since ``since``
        # are read; the filter keeps the undelivered ones.
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :from AND :to",
            "FilterExpression": "#status = :status",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                ":pk": s(f"PILE#{pile_id}"),
                ":from": s(f"{_CALL_PREFIX}{message_id_floor(since)}"),
                ":to": s(f"{_CALL_PREFIX}~"),
                ":status": s(CallStatus.UNDELIVERED.value),
            },
            "ConsistentRead": True,
        }
        return self._query_all(request, limit=None)

    def open_calls(
        self, status: CallStatus, *, due_by: datetime | None, limit: int
    ) -> list[PendingCall]:
        values: dict[str, Any] = {":gpk": s(_OPEN_CALLS_PK[status])}
        condition = "gsi2pk = :gpk"
        if due_by is not None:
            condition += " AND gsi2sk <= :due"
            values[":due"] = s(to_wire(due_by))
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": OPEN_CALLS_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        return self._query_all(request, limit=limit)

    def recent(
        self, pile_id: str, limit: int, next_token: str | None
    ) -> tuple[list[PendingCall], str | None]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": s(f"PILE#{pile_id}"),
                ":prefix": s(_CALL_PREFIX),
            },
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if next_token is not None:
            request["ExclusiveStartKey"] = {
                "pk": s(f"PILE#{pile_id}"),
                "sk": s(decode_sort_key_token(next_token, _CALL_PREFIX)),
            }
        try:
            response = self._client.query(**request)
        except (ClientError, BotoCoreError) as exc:
            raise upstream("Query") from exc
        calls = [call for item in response.get("Items", []) if (call := _call_from(item))]
        last = response.get("LastEvaluatedKey")
        token = encode_sort_key_token(last["sk"]["S"]) if last else None
        return calls, token

    def _query_all(self, request: dict[str, Any], *, limit: int | None) -> list[PendingCall]:
        calls: list[PendingCall] = []
        while True:
            try:
                response = self._client.query(**request)
            except (ClientError, BotoCoreError) as exc:
                raise upstream("Query") from exc
            calls.extend(call for item in response.get("Items", []) if (call := _call_from(item)))
            last = response.get("LastEvaluatedKey")
            if not last or (limit is not None and len(calls) >= limit):
                return calls if limit is None else calls[:limit]
            request["ExclusiveStartKey"] = last

    def _transition(
        self,
        pile_id: str,
        unique_id: str,
        expected: CallStatus,
        expression: str,
        values: dict[str, Any],
    ) -> bool:
        """One conditional UpdateItem from status ``expected``; False when it was not."""
        return conditional_update(
            self._client,
            TableName=self._table,
            Key=_call_key(pile_id, unique_id),
            UpdateExpression=expression,
            ConditionExpression="#status = :expected",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={**values, ":expected": s(expected.value)},
        )


def _call_from(item: dict[str, Any]) -> PendingCall | None:
    try:
        answered_at = text_of(item, "answered_at")
        timed_out_at = text_of(item, "timed_out_at")
        return PendingCall(
            pile_id=text_of(item, "pile_id") or "",
            unique_id=text_of(item, "unique_id") or "",
            action=text_of(item, "action") or "",
            version=OcppVersion(text_of(item, "protocol") or ""),
            operator_id=text_of(item, "operator_id") or "",
            connection_id=text_of(item, "connection_id"),
            request_json=text_of(item, "request_json") or "{}",
            status=CallStatus(text_of(item, "status") or ""),
            created_at=from_wire(text_of(item, "created_at") or ""),
            timeout_at=from_wire(text_of(item, "timeout_at") or ""),
            expires_at=number_of(item, "expires_at") or 0,
            response_json=text_of(item, "response_json"),
            error_code=text_of(item, "error_code"),
            error_description=text_of(item, "error_description"),
            answered_at=from_wire(answered_at) if answered_at else None,
            timed_out_at=from_wire(timed_out_at) if timed_out_at else None,
            requested_by=text_of(item, "requested_by"),
        )
    except ValueError:
        return None
