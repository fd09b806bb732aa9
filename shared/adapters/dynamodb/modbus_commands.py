"""Port commands to Modbus piles in SessionsTable, beside the OCPP calls.

- command: ``PILE#{pile_id}`` / ``MBCMD#{command_id}``; while pending GSI2
  ``PENDING_PORT_COMMANDS`` / its timeout;
- open pointer, one per pending command: ``GWDEV#{gateway_id}#{device_address}`` /
  ``REG#{register:05d}#F{function:02d}#V{echo value:05d}#{created_at}#{command_id}``: what
  the write's echo repeats (register, function, value or count), so a START (16 on the
  command register) and a STOP (06 on the same register) can both be outstanding and each
  echo finds its own command; identical writes are answered oldest first (a serial bus
  answers in order).

The bridge finds the command an echo confirms with 1 Query (the pointers of that echo,
oldest first) + 1 GetItem (command); an exception response (which names no register)
with 1 Query of the device's pointers.
Housekeeping finds due commands with 1 Query on GSI2, never a scan. Pointers expire with
the command (TTL) and are deleted when their command ends.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.adapters.dynamodb.base_data_items import decode_item, encode_item, pile_from
from shared.domain.clock import from_wire, to_wire
from shared.domain.errors import InvalidInput, UpstreamFailure
from shared.domain.modbus_commands import CommandStatus, ModbusCommand, PortCommandKind
from shared.domain.piles import Pile

_PREFIX = "MBCMD#"
_PENDING_PK = "PENDING_PORT_COMMANDS"
_INDEX = "GSI2"


def command_key(pile_id: str, command_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"PILE#{pile_id}"}, "sk": {"S": f"{_PREFIX}{command_id}"}}


def echo_prefix(function_code: int, register: int, echo_value: int) -> str:
    """The sort-key prefix of the pointers an echo (function, register, value) answers."""
    return f"REG#{register:05d}#F{function_code:02d}#V{echo_value:05d}#"


def pointer_key(command: ModbusCommand) -> dict[str, Any]:
    prefix = echo_prefix(command.function_code, command.register, command.write.echo_value)
    return {
        "pk": {"S": f"GWDEV#{command.gateway_id}#{command.device_address}"},
        "sk": {"S": f"{prefix}{to_wire(command.created_at)}#{command.command_id}"},
    }


class DynamoModbusCommands:
    """``ModbusCommandStore`` (SessionsTable) and ``ModbusPiles`` (BaseDataTable)."""

    def __init__(self, table_name: str, base_data_table: str, client: Any) -> None:
        self._table = table_name
        self._base = base_data_table
        self._client = client

    # -- ModbusPiles ---------------------------------------------------------------------

    def get_pile(self, pile_id: str) -> Pile | None:
        item = self._call(
            "GetItem",
            TableName=self._base,
            Key={"pk": {"S": f"PILE#{pile_id}"}, "sk": {"S": "PILE"}},
        ).get("Item")
        return pile_from(decode_item(item)) if item else None

    # -- ModbusCommandStore --------------------------------------------------------------

    def create(self, command: ModbusCommand) -> None:
        item = encode_item(_item_of(command))
        pointer = {
            **pointer_key(command),
            "pile_id": {"S": command.pile_id},
            "command_id": {"S": command.command_id},
            "expires_at": {"N": str(command.expires_at)},
        }
        self._call(
            "TransactWriteItems",
            TransactItems=[
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": item,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {"Put": {"TableName": self._table, "Item": pointer}},
            ],
        )

    def get(self, pile_id: str, command_id: str) -> ModbusCommand | None:
        item = self._call(
            "GetItem",
            TableName=self._table,
            Key=command_key(pile_id, command_id),
            ConsistentRead=True,
        ).get("Item")
        return _command_from(item) if item else None

    def open_for_write(
        self,
        gateway_id: str,
        device_address: int,
        function_code: int,
        register: int,
        echo_value: int,
    ) -> ModbusCommand | None:
        response = self._call(
            "Query",
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :echo)",
            ExpressionAttributeValues={
                ":pk": {"S": f"GWDEV#{gateway_id}#{device_address}"},
                ":echo": {"S": echo_prefix(function_code, register, echo_value)},
            },
            ConsistentRead=True,
        )
        for pointer in response.get("Items", []):
            command = self.get(pointer["pile_id"]["S"], pointer["command_id"]["S"])
            if command is not None and command.status.is_open:
                return command
        return None

    def open_for_device(self, gateway_id: str, device_address: int) -> list[ModbusCommand]:
        response = self._call(
            "Query",
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"GWDEV#{gateway_id}#{device_address}"}},
            ConsistentRead=True,
        )
        found: list[ModbusCommand] = []
        for pointer in response.get("Items", []):
            command = self.get(pointer["pile_id"]["S"], pointer["command_id"]["S"])
            if command is not None and command.status.is_open:
                found.append(command)
        return sorted(found, key=lambda command: command.command_id)

    def finish(
        self,
        command: ModbusCommand,
        status: CommandStatus,
        now: datetime,
        *,
        exception_code: int | None = None,
        error_description: str | None = None,
    ) -> bool:
        sets = ["#status = :status", "finished_at = :now"]
        values: dict[str, Any] = {
            ":status": {"S": status.value},
            ":now": {"S": to_wire(now)},
            ":pending": {"S": CommandStatus.PENDING.value},
        }
        if exception_code is not None:
            sets.append("exception_code = :code")
            values[":code"] = {"N": str(exception_code)}
        if error_description is not None:
            sets.append("error_description = :why")
            values[":why"] = {"S": error_description}
        try:
            self._client.update_item(
                TableName=self._table,
                Key=command_key(command.pile_id, command.command_id),
                UpdateExpression="SET " + ", ".join(sets) + " REMOVE gsi2pk, gsi2sk",
                ConditionExpression="#status = :pending",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise UpstreamFailure("UpdateItem failed", operation="UpdateItem") from exc
        except BotoCoreError as exc:
            raise UpstreamFailure("UpdateItem failed", operation="UpdateItem") from exc
        self._drop_pointer(command)
        return True

    def due(self, now: datetime, limit: int) -> list[ModbusCommand]:
        response = self._call(
            "Query",
            TableName=self._table,
            IndexName=_INDEX,
            KeyConditionExpression="gsi2pk = :pk AND gsi2sk <= :now",
            ExpressionAttributeValues={":pk": {"S": _PENDING_PK}, ":now": {"S": to_wire(now)}},
            Limit=limit,
        )
        return [_command_from(item) for item in response.get("Items", [])]

    def recent(
        self, pile_id: str, limit: int, next_token: str | None
    ) -> tuple[list[ModbusCommand], str | None]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": {"S": f"PILE#{pile_id}"},
                ":prefix": {"S": _PREFIX},
            },
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if next_token is not None:
            request["ExclusiveStartKey"] = {
                "pk": {"S": f"PILE#{pile_id}"},
                "sk": {"S": _decode_token(next_token)},
            }
        response = self._call("Query", **request)
        last = response.get("LastEvaluatedKey")
        token = (
            base64.urlsafe_b64encode(last["sk"]["S"].encode()).decode().rstrip("=")
            if last
            else None
        )
        return [_command_from(item) for item in response.get("Items", [])], token

    def _drop_pointer(self, command: ModbusCommand) -> None:
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=pointer_key(command),
                ConditionExpression="command_id = :id",
                ExpressionAttributeValues={":id": {"S": command.command_id}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise UpstreamFailure("DeleteItem failed", operation="DeleteItem") from exc
        except BotoCoreError as exc:
            raise UpstreamFailure("DeleteItem failed", operation="DeleteItem") from exc

    def _call(self, operation: str, **request: Any) -> dict[str, Any]:
        method = {
            "GetItem": self._client.get_item,
            "Query": self._client.query,
            "TransactWriteItems": self._client.transact_write_items,
        }[operation]
        try:
            response: dict[str, Any] = method(**request)
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamFailure(f"{operation} failed", operation=operation) from exc
        return response


def _decode_token(token: str) -> str:
    error = InvalidInput("next_token is not a token from this list", field="next_token")
    if len(token) > 512:
        raise error
    try:
        sort_key = base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode()).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise error from exc
    if not sort_key.startswith(_PREFIX) or len(sort_key) <= len(_PREFIX):
        raise error
    return sort_key


def _item_of(command: ModbusCommand) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": f"PILE#{command.pile_id}",
        "sk": f"{_PREFIX}{command.command_id}",
        "command_id": command.command_id,
        "pile_id": command.pile_id,
        "operator_id": command.operator_id,
        "gateway_id": command.gateway_id,
        "device_address": command.device_address,
        "port_no": command.port_no,
        "kind": command.kind.value,
        "function_code": command.function_code,
        "register": command.register,
        "values": list(command.values),
        "status": command.status.value,
        "created_at": command.created_at,
        "timeout_at": command.timeout_at,
        "expires_at": command.expires_at,
        "power_limit_w": command.power_limit_w,
        "time_limit_min": command.time_limit_min,
        "energy_limit_wh": command.energy_limit_wh,
        "requested_by": command.requested_by,
        "purpose": command.purpose,
    }
    if command.status.is_open:
        item["gsi2pk"] = _PENDING_PK
        item["gsi2sk"] = to_wire(command.timeout_at)
    return item


def _command_from(raw: dict[str, Any]) -> ModbusCommand:
    item = decode_item(raw)

    def opt_int(name: str) -> int | None:
        value = item.get(name)
        return None if value is None else int(value)

    def opt_at(name: str) -> datetime | None:
        value = item.get(name)
        return None if value is None else from_wire(str(value))

    return ModbusCommand(
        command_id=str(item["command_id"]),
        pile_id=str(item["pile_id"]),
        operator_id=str(item["operator_id"]),
        gateway_id=str(item["gateway_id"]),
        device_address=int(item["device_address"]),
        port_no=int(item["port_no"]),
        kind=PortCommandKind(str(item["kind"])),
        function_code=int(item["function_code"]),
        register=int(item["register"]),
        values=tuple(int(value) for value in item["values"]),
        status=CommandStatus(str(item["status"])),
        created_at=from_wire(str(item["created_at"])),
        timeout_at=from_wire(str(item["timeout_at"])),
        expires_at=int(item["expires_at"]),
        power_limit_w=opt_int("power_limit_w"),
        time_limit_min=opt_int("time_limit_min"),
        energy_limit_wh=opt_int("energy_limit_wh"),
        requested_by=item.get("requested_by"),
        purpose=item.get("purpose"),
        finished_at=opt_at("finished_at"),
        exception_code=opt_int("exception_code"),
        error_description=item.get("error_description"),
    )
