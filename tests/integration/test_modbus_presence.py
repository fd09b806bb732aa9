"""Presence of Modbus piles on moto: the bridge handler marks the piles on a gateway's bus
online (the pile item's ``is_online`` / ``last_seen_at``, as OCPP presence) once, not per
message; the sweep finds silent gateways through the sparse keys-only GSI3 of
BaseDataTable (a Query, never a Scan) and marks their piles offline; the gateway's next
message marks them online again."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest

from shared.adapters.dynamodb.gateways import DynamoGateways
from shared.adapters.dynamodb.piles import DynamoPiles
from shared.domain.clock import to_wire
from shared.domain.gateways import OFFLINE_AFTER
from shared.services.gateway_presence import sweep_silent_gateways
from tests.integration.test_modbus_bridge import Bridge, configure, counted_bridge, envelope, ten
from tests.integration.test_ocpp_router_support import CallCounter

PILE_KEY = {"pk": {"S": "PILE#EB-1"}, "sk": {"S": "PILE"}}


class KeyedCounter(CallCounter):
    """Also keeps the key of every UpdateItem (which item each write went to)."""

    def __init__(self) -> None:
        super().__init__()
        self.updated: list[str] = []

    def __call__(self, model: Any, **kwargs: Any) -> None:
        super().__call__(model, **kwargs)
        if model.name == "UpdateItem":
            body = json.loads(kwargs["params"]["body"])
            self.updated.append(f"{body['Key']['pk']['S']}/{body['Key']['sk']['S']}")

    def reset(self) -> None:
        super().reset()
        self.updated.clear()


@pytest.fixture
def bridge(aws: dict[str, str], clock: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bridge]:
    yield from counted_bridge(aws, clock, monkeypatch, KeyedCounter())


def add_pile(bridge: Bridge) -> None:
    bridge.client.put_item(
        TableName=bridge.tables["BASE_DATA_TABLE"],
        Item={**PILE_KEY, "pile_id": {"S": "EB-1"}, "protocol": {"S": "modbus"}},
    )


def pile(bridge: Bridge) -> dict[str, Any]:
    item: dict[str, Any] = bridge.client.get_item(
        TableName=bridge.tables["BASE_DATA_TABLE"], Key=PILE_KEY, ConsistentRead=True
    )["Item"]
    return item


def sweep(bridge: Bridge, clock: Any) -> Any:
    table = bridge.tables["BASE_DATA_TABLE"]
    client = boto3.client("dynamodb")
    return sweep_silent_gateways(DynamoGateways(table, client), DynamoPiles(table, client), clock())


def test_first_message_marks_the_pile_online_and_steady_messages_write_no_presence(
    bridge: Bridge, clock: Any
) -> None:
    configure(bridge)
    add_pile(bridge)
    bridge.counter.reset()

    bridge.send(envelope(1, clock(), ten()))

    item = pile(bridge)
    assert item["is_online"] == {"BOOL": True}
    assert item["last_seen_at"] == {"S": to_wire(clock())}
    gateway = bridge.gateway("GW-0001")
    assert gateway is not None
    assert (gateway["gsi3pk"], gateway["gsi3sk"]) == (
        "GATEWAY_PRESENCE",
        to_wire(clock() + OFFLINE_AFTER),
    )
    assert gateway["present_piles"] == ["EB-1"]
    for minute in range(1, 10):
        clock.advance(minutes=1)
        bridge.send(envelope(minute + 1, clock(), ten()))
    bridge.send({"gateway_id": "GW-0001", "type": "heartbeat"})
    # 11 messages, 1 presence write on the pile item
    assert isinstance(bridge.counter, KeyedCounter)
    assert bridge.counter.updated.count("PILE#EB-1/PILE") == 1


def test_sweep_queries_the_index_and_marks_a_silent_gateways_pile_offline(
    bridge: Bridge, clock: Any
) -> None:
    configure(bridge)
    add_pile(bridge)
    bridge.send(envelope(1, clock(), ten()))
    last = clock()
    clock.advance(minutes=10)
    bridge.send(envelope(2, clock(), ten()))
    last = clock()
    bridge.counter.reset()

    # due (first message + 25 min) but heard from 15 min before: moved, pile untouched
    clock.now = last + OFFLINE_AFTER - timedelta(minutes=10)
    early = sweep(bridge, clock)
    assert (early.checked, early.postponed, early.silent) == (1, 1, ())
    assert pile(bridge)["is_online"] == {"BOOL": True}
    assert bridge.counter.calls["Scan"] == 0
    gateway = bridge.gateway("GW-0001")
    assert gateway is not None and gateway["gsi3sk"] == to_wire(last + OFFLINE_AFTER)

    # a minute before the new due time: one Query, nothing read
    bridge.counter.reset()
    clock.now = last + OFFLINE_AFTER - timedelta(minutes=1)
    assert sweep(bridge, clock).checked == 0
    assert dict(bridge.counter.calls) == {"Query": 1}

    clock.now = last + OFFLINE_AFTER
    bridge.counter.reset()
    silent = sweep(bridge, clock)

    assert silent.silent == ("GW-0001",) and silent.piles_offline == 1
    item = pile(bridge)
    assert item["is_online"] == {"BOOL": False}
    assert item["last_seen_at"] == {"S": to_wire(last)}
    # Query + consistent GetItem + release + pile + out of the index
    assert dict(bridge.counter.calls) == {"Query": 1, "GetItem": 1, "UpdateItem": 3}
    gateway = bridge.gateway("GW-0001")
    assert gateway is not None
    assert "gsi3pk" not in gateway and "present_piles" not in gateway

    # back: the next message marks it online and puts the gateway back on the index
    clock.advance(minutes=5)
    bridge.send({"gateway_id": "GW-0001", "type": "heartbeat"})
    assert pile(bridge)["is_online"] == {"BOOL": True}
    assert pile(bridge)["last_seen_at"] == {"S": to_wire(clock())}
    gateway = bridge.gateway("GW-0001")
    assert gateway is not None and gateway["gsi3sk"] == to_wire(clock() + OFFLINE_AFTER)


def test_the_gateways_own_threshold_is_used(bridge: Bridge, clock: Any) -> None:
    configure(bridge)
    add_pile(bridge)
    DynamoGateways(bridge.tables["BASE_DATA_TABLE"], bridge.client).set_offline_after(
        "GW-0001", 3600
    )
    bridge.send(envelope(1, clock(), ten()))
    start = clock()

    clock.now = start + OFFLINE_AFTER
    assert sweep(bridge, clock).checked == 0
    clock.now = start + timedelta(hours=1)
    assert sweep(bridge, clock).silent == ("GW-0001",)


def test_a_websocket_pile_is_never_marked_offline_by_the_sweep(bridge: Bridge, clock: Any) -> None:
    table = bridge.tables["BASE_DATA_TABLE"]
    bridge.client.put_item(
        TableName=table,
        Item={**PILE_KEY, "connection_id": {"S": "c-1"}, "is_online": {"BOOL": True}},
    )

    assert DynamoPiles(table, bridge.client).mark_bus_offline("EB-1", clock()) is False
    assert pile(bridge)["is_online"] == {"BOOL": True}


def test_a_missing_pile_is_not_created(bridge: Bridge, clock: Any) -> None:
    configure(bridge)

    bridge.send(envelope(1, clock(), ten()))

    assert (
        bridge.client.get_item(TableName=bridge.tables["BASE_DATA_TABLE"], Key=PILE_KEY).get("Item")
        is None
    )


def test_housekeeping_minute_job_runs_the_sweep(
    bridge: Bridge, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.housekeeping import handler as housekeeping
    from functions.housekeeping import wiring as housekeeping_wiring
    from tests.integration.test_ocpp_router_support import lambda_context
    from tests.unit.ocpp_command_fakes import FakeSender

    sender = FakeSender()
    monkeypatch.setattr(housekeeping_wiring, "websocket", functools.cache(lambda: sender))
    monkeypatch.setattr(housekeeping_wiring, "clock", clock)
    housekeeping_wiring.reset()
    configure(bridge)
    add_pile(bridge)
    bridge.send(envelope(1, clock(), ten()))
    last = clock()
    clock.now = last + OFFLINE_AFTER

    result = housekeeping.lambda_handler({"job": "minute"}, lambda_context())

    assert "mark_silent_gateways_offline" in result["ran"]
    assert (result["gateways_silent"], result["modbus_piles_offline"]) == (1, 1)
    assert pile(bridge)["is_online"] == {"BOOL": False}
    housekeeping_wiring.reset()
