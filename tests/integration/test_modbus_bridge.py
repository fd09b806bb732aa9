"""modbus_bridge through its lambda_handler on moto: the gateway record, frame counts,
invalid messages counted and changing nothing."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer

from functions.modbus_bridge import handler, wiring
from tests.integration.test_ocpp_router_support import CallCounter, lambda_context

EVENTS = Path(__file__).resolve().parent.parent / "events" / "iot"


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


class Bridge:
    def __init__(self, tables: dict[str, str], counter: CallCounter) -> None:
        self.tables = tables
        self.counter = counter
        self.client = boto3.Session().client("dynamodb")

    def send(self, event: Any) -> dict[str, Any]:
        result: dict[str, Any] = handler.lambda_handler(event, lambda_context())
        return result

    def gateway(self, gateway_id: str) -> dict[str, Any] | None:
        item = self.client.get_item(
            TableName=self.tables["BASE_DATA_TABLE"],
            Key={"pk": {"S": f"GATEWAY#{gateway_id}"}, "sk": {"S": "GATEWAY"}},
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            return None
        return {name: TypeDeserializer().deserialize(value) for name, value in item.items()}

    def snapshot(self) -> list[dict[str, Any]]:
        items = self.client.scan(TableName=self.tables["BASE_DATA_TABLE"])["Items"]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))


@pytest.fixture
def bridge(aws: dict[str, str], clock: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bridge]:
    monkeypatch.setattr(wiring, "clock", clock)
    wiring.reset()
    counter = CallCounter()
    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register("before-call.dynamodb.*", counter)
    yield Bridge(aws, counter)
    wiring.reset()


def test_data_message_records_the_gateway_and_counts_good_frames(bridge: Bridge) -> None:
    result = bridge.send(sample("data"))

    assert result == {
        "kind": "data",
        "gateway_id": "GW-0001",
        "ModbusFramesGood": 2,
        "ModbusFramesBadCrc": 0,
        "ModbusFramesUndecodable": 0,
        "GatewayMessagesInvalid": 0,
    }
    gateway = bridge.gateway("GW-0001")
    assert gateway is not None
    assert gateway["last_seen_at"] == "2026-11-01T02:00:00.000Z"
    assert gateway["last_seq"] == 42
    assert dict(bridge.counter.calls) == {"UpdateItem": 1}


def test_bad_crc_frames_are_counted_and_dropped(bridge: Bridge) -> None:
    event = sample("data")
    event["frames"].append(base64.b64encode(bytes.fromhex("010304006400323a38")).decode())

    result = bridge.send(event)

    assert (result["ModbusFramesGood"], result["ModbusFramesBadCrc"]) == (2, 1)


def test_replayed_batch_keeps_the_highest_seq_and_still_stamps_last_seen(
    bridge: Bridge, clock: Any
) -> None:
    bridge.send({**sample("data"), "seq": 50})
    clock.advance(minutes=5)
    bridge.counter.reset()

    bridge.send({**sample("data"), "seq": 42})

    gateway = bridge.gateway("GW-0001")
    assert gateway is not None
    assert gateway["last_seq"] == 50
    assert gateway["last_seen_at"] == "2026-11-01T02:05:00.000Z"
    assert dict(bridge.counter.calls) == {"UpdateItem": 2}


def test_registration_stores_the_iccid(bridge: Bridge) -> None:
    result = bridge.send(sample("register"))

    assert result["kind"] == "register"
    gateway = bridge.gateway("GW-0001")
    assert gateway is not None
    assert gateway["iccid"] == "89860412345678901234"


def test_heartbeat_stamps_last_seen_with_one_write(bridge: Bridge) -> None:
    result = bridge.send(sample("heartbeat"))

    assert result["kind"] == "heartbeat"
    assert dict(bridge.counter.calls) == {"UpdateItem": 1}
    gateway = bridge.gateway("GW-0001")
    assert gateway is not None
    assert "last_seq" not in gateway


@pytest.mark.parametrize(
    "event",
    [
        None,
        [],
        "text",
        {},
        {"gateway_id": "GW-0001", "type": "reboot"},
        {"gateway_id": "GW-0001", "type": 3},
        {"gateway_id": "GW/../x", "type": "heartbeat"},
        {"gateway_id": "GW-0001", "seq": -1, "ts": "2026-11-01T02:00:00Z", "frames": []},
        {"gateway_id": "GW-0001", "seq": 1, "ts": "2026-11-01T02:00:00", "frames": []},
        {"gateway_id": "GW-0001", "seq": 1, "ts": "2026-11-01T02:00:00Z", "frames": "AQM="},
        {"gateway_id": "GW-0001", "seq": 1, "ts": "2026-11-01T02:00:00Z", "frames": ["A"] * 65},
        {"gateway_id": "GW-0001", "type": "register", "iccid": "not-an-iccid"},
        {"type": "heartbeat"},
    ],
    ids=[
        "none",
        "list",
        "string",
        "empty",
        "unknown-type",
        "type-number",
        "bad-gateway-id",
        "negative-seq",
        "naive-ts",
        "frames-not-list",
        "too-many-frames",
        "bad-iccid",
        "no-gateway-id",
    ],
)
def test_invalid_messages_are_counted_and_change_nothing(bridge: Bridge, event: Any) -> None:
    before = bridge.snapshot()

    result = bridge.send(event)

    assert result["kind"] == "invalid"
    assert result["GatewayMessagesInvalid"] == 1
    assert bridge.snapshot() == before
