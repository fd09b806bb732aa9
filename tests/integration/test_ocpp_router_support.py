"""Builders and fixtures for the pile-side integration tests (ws_connect, ocpp_router).

API-Gateway-shaped events come from the JSON samples in ``tests/events/ws/``; base-data
items are put directly with boto3, attribute names as docs/data-model.md gives them.
"""

from __future__ import annotations

import base64
import copy
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer

from functions.ocpp_router import handler as router_handler
from functions.ocpp_router import wiring as router_wiring
from functions.ws_connect import handler as connect_handler
from functions.ws_connect import wiring as connect_wiring
from shared.domain.passwords import hash_password

EVENTS = Path(__file__).resolve().parent.parent / "events" / "ws"
OPERATOR = "op-00000000000000000001"
OTHER_OPERATOR = "op-00000000000000000002"
STATION = "st-00000000000000000001"
PASSWORD = "correct-horse-battery"
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


def lambda_context() -> Any:
    """What Powertools reads from a Lambda context."""
    return FakeLambdaContext()


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def connect_event(
    pile_id: str | None,
    *,
    connection_id: str = "conn-1",
    authorization: str | None = None,
    offered: str | None = "ocpp1.6, ocpp2.0.1",
    use_path: bool = False,
) -> dict[str, Any]:
    event = sample("connect")
    headers = {
        key: value
        for key, value in event["headers"].items()
        if key not in {"Authorization", "Sec-WebSocket-Protocol"}
    }
    if authorization is not None:
        headers["Authorization"] = authorization
    if offered is not None:
        headers["Sec-WebSocket-Protocol"] = offered
    event["headers"] = headers
    event["multiValueHeaders"] = {key: [value] for key, value in headers.items()}
    event["requestContext"]["connectionId"] = connection_id
    event["queryStringParameters"] = None
    event["multiValueQueryStringParameters"] = None
    if pile_id is not None and use_path:
        event["pathParameters"] = {"pileId": pile_id}
    elif pile_id is not None:
        event["queryStringParameters"] = {"pileId": pile_id}
        event["multiValueQueryStringParameters"] = {"pileId": [pile_id]}
    return event


def disconnect_event(connection_id: str) -> dict[str, Any]:
    event = sample("disconnect")
    event["requestContext"]["connectionId"] = connection_id
    return event


def frame_event(connection_id: str, body: Any, *, is_base64: bool = False) -> dict[str, Any]:
    event = sample("default")
    event["requestContext"]["connectionId"] = connection_id
    event["body"] = body if isinstance(body, str) or body is None else json.dumps(body)
    event["isBase64Encoded"] = is_base64
    return event


class FakeLambdaContext:
    function_name = "test"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id = "test-request"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


class CallCounter:
    """DynamoDB operations seen by botocore, counted while ``counting`` is on."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __call__(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    @property
    def writes(self) -> int:
        return sum(count for name, count in self.calls.items() if name in WRITES)

    def reset(self) -> None:
        self.calls.clear()


class PileSide:
    """Drives ws_connect and ocpp_router through their lambda_handlers on moto."""

    def __init__(self, tables: dict[str, str], counter: CallCounter) -> None:
        self.tables = tables
        self.counter = counter
        # Its own session: seeding and reading back are not counted as the handlers' calls.
        self.client = boto3.Session().client("dynamodb")
        self._deserializer = TypeDeserializer()

    # -- seeding base data (H3's operator API writes these in the product)
    def put_pile(
        self,
        pile_id: str,
        *,
        protocol: str = "ocpp1.6",
        is_enabled: bool = True,
        gun_count: int = 2,
        operator_id: str = OPERATOR,
        password: str | None = PASSWORD,
        registration_status: str | None = None,
    ) -> None:
        item: dict[str, Any] = {
            "pk": {"S": f"PILE#{pile_id}"},
            "sk": {"S": "PILE"},
            "pile_id": {"S": pile_id},
            "operator_id": {"S": operator_id},
            "station_id": {"S": STATION},
            "kind": {"S": "ebike" if protocol == "modbus" else "car"},
            "protocol": {"S": protocol},
            "is_enabled": {"BOOL": is_enabled},
            "gun_count": {"N": str(gun_count)},
            "gsi1pk": {"S": f"OPERATOR#{operator_id}#PILES"},
            "gsi1sk": {"S": f"STATION#{STATION}#PILE#{pile_id}"},
        }
        if password is not None:
            item["password_hash"] = {"S": hash_password(password, b"0123456789abcdef")}
        if registration_status is not None:
            item["registration_status"] = {"S": registration_status}
        self.client.put_item(TableName=self.tables["BASE_DATA_TABLE"], Item=item)
        for gun_no in range(1, gun_count + 1):
            self.client.put_item(
                TableName=self.tables["BASE_DATA_TABLE"],
                Item={
                    "pk": {"S": f"PILE#{pile_id}"},
                    "sk": {"S": f"GUN#{gun_no:03d}"},
                    "pile_id": {"S": pile_id},
                    "gun_no": {"N": str(gun_no)},
                    "operator_id": {"S": operator_id},
                },
            )

    def put_card(self, card_no: str, status: str, operator_id: str = OPERATOR) -> None:
        self.client.put_item(
            TableName=self.tables["BASE_DATA_TABLE"],
            Item={
                "pk": {"S": f"CARD#{card_no}"},
                "sk": {"S": "CARD"},
                "card_no": {"S": card_no},
                "operator_id": {"S": operator_id},
                "status": {"S": status},
                "gsi1pk": {"S": f"OPERATOR#{operator_id}#CARDS"},
                "gsi1sk": {"S": f"CARD#{card_no}"},
            },
        )

    def set_enabled(self, pile_id: str, is_enabled: bool) -> None:
        self.client.update_item(
            TableName=self.tables["BASE_DATA_TABLE"],
            Key={"pk": {"S": f"PILE#{pile_id}"}, "sk": {"S": "PILE"}},
            UpdateExpression="SET is_enabled = :e",
            ExpressionAttributeValues={":e": {"BOOL": is_enabled}},
        )

    # -- reading back
    def item(self, table_env: str, key: dict[str, str]) -> dict[str, Any] | None:
        response = self.client.get_item(
            TableName=self.tables[table_env],
            Key={name: {"S": value} for name, value in key.items()},
            ConsistentRead=True,
        )
        raw = response.get("Item")
        if raw is None:
            return None
        return {name: self._deserializer.deserialize(value) for name, value in raw.items()}

    def pile(self, pile_id: str) -> dict[str, Any]:
        pile = self.item("BASE_DATA_TABLE", {"pk": f"PILE#{pile_id}", "sk": "PILE"})
        assert pile is not None
        return pile

    def gun(self, pile_id: str, gun_no: int) -> dict[str, Any] | None:
        return self.item("BASE_DATA_TABLE", {"pk": f"PILE#{pile_id}", "sk": f"GUN#{gun_no:03d}"})

    def connection(self, connection_id: str) -> dict[str, Any] | None:
        return self.item("CONNECTIONS_TABLE", {"connection_id": connection_id})

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """Every item of every table (tests only: a scan shows nothing changed)."""
        state = {}
        for env, table in self.tables.items():
            items = self.client.scan(TableName=table, ConsistentRead=True)["Items"]
            state[env] = sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
        return state

    def faults(self) -> list[dict[str, Any]]:
        items = self.client.scan(TableName=self.tables["FAULTS_TABLE"])["Items"]
        return [
            {name: self._deserializer.deserialize(value) for name, value in item.items()}
            for item in items
        ]

    # -- driving the handlers
    def connect(self, pile_id: str | None, **kwargs: Any) -> dict[str, Any]:
        kwargs.setdefault("authorization", basic(pile_id or "", PASSWORD))
        result: dict[str, Any] = connect_handler.lambda_handler(
            connect_event(pile_id, **kwargs), lambda_context()
        )
        return result

    def disconnect(self, connection_id: str) -> dict[str, Any]:
        result: dict[str, Any] = connect_handler.lambda_handler(
            disconnect_event(connection_id), lambda_context()
        )
        return result

    def send(self, connection_id: str, body: Any, *, is_base64: bool = False) -> Any:
        """Send a frame; the parsed answer frame, or None when the route response is empty."""
        response = router_handler.lambda_handler(
            frame_event(connection_id, body, is_base64=is_base64), lambda_context()
        )
        assert response["statusCode"] == 200
        return json.loads(response["body"]) if "body" in response else None

    def boot(self, connection_id: str, version: str) -> Any:
        payload: dict[str, Any]
        if version == "ocpp1.6":
            payload = {"chargePointVendor": "Acme", "chargePointModel": "AC22"}
        else:
            payload = {
                "reason": "PowerUp",
                "chargingStation": {"vendorName": "Acme", "model": "DC120"},
            }
        return self.send(connection_id, [2, "boot-1", "BootNotification", payload])

    def online(self, pile_id: str, version: str, connection_id: str = "conn-1") -> None:
        """A registered pile connected and booted (Accepted)."""
        self.put_pile(pile_id, protocol=version)
        assert self.connect(pile_id, connection_id=connection_id)["statusCode"] == 200
        assert self.boot(connection_id, version)[2]["status"] == "Accepted"


@pytest.fixture
def pile_side(
    aws: dict[str, str], clock: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PileSide]:
    """moto tables, both functions wired afresh with the fixed clock, a DynamoDB call counter."""
    monkeypatch.setenv(
        "WS_MANAGEMENT_ENDPOINT", "https://abc123.execute-api.us-east-1.amazonaws.com/prod"
    )
    monkeypatch.setattr(connect_wiring, "clock", clock)
    monkeypatch.setattr(router_wiring, "clock", clock)
    connect_wiring.reset()
    router_wiring.reset()
    counter = CallCounter()
    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register("before-call.dynamodb.*", counter)
    yield PileSide(aws, counter)
    connect_wiring.reset()
    router_wiring.reset()


def without(items: dict[str, Any], *names: str) -> dict[str, Any]:
    copied = copy.deepcopy(items)
    for name in names:
        copied.pop(name, None)
    return copied
