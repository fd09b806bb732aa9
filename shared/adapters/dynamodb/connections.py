"""ConnectionsTable (one item per open WebSocket) and the pending CSMS calls kept in
SessionsTable (``PILE#{pile_id}`` / ``CALL#{unique_id}``), on the low-level client."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.domain.clock import from_wire, to_wire
from shared.domain.errors import UpstreamFailure
from shared.domain.ocpp.provisioning import RegistrationStatus
from shared.domain.ocpp.remote_calls import CallAnswer, CallStatus, PendingCall
from shared.domain.ocpp.versions import OcppVersion
from shared.domain.presence import Connection

CONDITION_FAILED = "ConditionalCheckFailedException"


def is_condition_failure(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == CONDITION_FAILED)


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

    def touch(self, connection_id: str, now: datetime) -> None:
        self._update(connection_id, "last_seen_at", to_wire(now))

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


def _call_key(pile_id: str, unique_id: str) -> dict[str, dict[str, str]]:
    return {"pk": s(f"PILE#{pile_id}"), "sk": s(f"CALL#{unique_id}")}


class DynamoPendingCalls:
    """Pending CSMS-initiated calls, matched to the pile's answer by message id."""

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
            "connection_id": s(call.connection_id),
            "request_json": s(call.request_json),
            "status": s(call.status.value),
            "created_at": s(to_wire(call.created_at)),
            "timeout_at": s(to_wire(call.timeout_at)),
            "expires_at": n(call.expires_at),
        }
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
        names = {"#status": "status"}
        values: dict[str, Any] = {
            ":status": s(answer.status.value),
            ":pending": s(CallStatus.PENDING.value),
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
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_call_key(pile_id, unique_id),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="#status = :pending",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise upstream("UpdateItem") from exc
        except BotoCoreError as exc:
            raise upstream("UpdateItem") from exc
        return True

    def set_status(self, pile_id: str, unique_id: str, status: CallStatus) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_call_key(pile_id, unique_id),
                UpdateExpression="SET #status = :status",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":status": s(status.value)},
            )
        except (ClientError, BotoCoreError) as exc:
            raise upstream("UpdateItem") from exc


def _call_from(item: dict[str, Any]) -> PendingCall | None:
    try:
        answered_at = text_of(item, "answered_at")
        return PendingCall(
            pile_id=text_of(item, "pile_id") or "",
            unique_id=text_of(item, "unique_id") or "",
            action=text_of(item, "action") or "",
            version=OcppVersion(text_of(item, "protocol") or ""),
            operator_id=text_of(item, "operator_id") or "",
            connection_id=text_of(item, "connection_id") or "",
            request_json=text_of(item, "request_json") or "{}",
            status=CallStatus(text_of(item, "status") or ""),
            created_at=from_wire(text_of(item, "created_at") or ""),
            timeout_at=from_wire(text_of(item, "timeout_at") or ""),
            expires_at=number_of(item, "expires_at") or 0,
            response_json=text_of(item, "response_json"),
            error_code=text_of(item, "error_code"),
            error_description=text_of(item, "error_description"),
            answered_at=from_wire(answered_at) if answered_at else None,
        )
    except ValueError:
        return None
