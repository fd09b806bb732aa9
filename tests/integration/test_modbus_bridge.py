"""modbus_bridge through its lambda_handler on moto: port readings, port status items,
the site load, frame counts per gateway day, store-and-forward replay, the gateway record,
invalid messages counted and changing nothing."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer

from functions.modbus_bridge import handler, wiring
from functions.modbus_bridge.rtu import PymodbusRtuDecoder
from shared.adapters.dynamodb.gateways import DynamoGateways, DynamoSiteLoads
from shared.adapters.dynamodb.port_readings import DynamoPortReadings
from shared.domain.clock import to_wire
from shared.domain.modbus_readings import PortSample, PortState
from tests.integration.test_ocpp_router_support import CallCounter, lambda_context
from tests.unit.test_modbus_uplink_support import (
    FakeReadings,
    Port,
    devices,
    meter_frames,
    pile_frame,
    port_registers,
    rtu,
)

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


def counted_bridge(
    aws: dict[str, str], clock: Any, monkeypatch: pytest.MonkeyPatch, counter: CallCounter
) -> Iterator[Bridge]:
    """The bridge's wiring on ``clock``, every DynamoDB call of the default session counted
    by ``counter`` (fixtures ``yield from`` this)."""
    monkeypatch.setattr(wiring, "clock", clock)
    wiring.reset()
    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register("before-call.dynamodb.*", counter)
    yield Bridge(aws, counter)
    wiring.reset()


@pytest.fixture
def bridge(aws: dict[str, str], clock: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bridge]:
    yield from counted_bridge(aws, clock, monkeypatch, CallCounter())


def configure(bridge: Bridge) -> None:
    DynamoGateways(bridge.tables["BASE_DATA_TABLE"], bridge.client).set_devices(
        "GW-0001", list(devices(pt=10, ct=40).values())
    )
    for port_no in range(1, 11):
        bridge.client.put_item(
            TableName=bridge.tables["BASE_DATA_TABLE"],
            Item={
                "pk": {"S": "PILE#EB-1"},
                "sk": {"S": f"GUN#{port_no:03d}"},
                "status": {"S": "Unavailable"},
            },
        )


def envelope(seq: int, at: datetime, ports: list[Port], meter_w: int = 1500) -> dict[str, Any]:
    return {
        "gateway_id": "GW-0001",
        "seq": seq,
        "ts": to_wire(at),
        "frames": [pile_frame(ports), *meter_frames(power_w=meter_w, energy_wh=8_000_000)],
    }


def ten(**port_one: Any) -> list[Port]:
    return [Port(**port_one)] + [Port() for _ in range(9)]


T0 = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)


def test_data_message_stores_ports_states_and_site_load_with_bounded_writes(
    bridge: Bridge,
) -> None:
    configure(bridge)
    bridge.counter.reset()

    result = bridge.send(envelope(1, T0, ten(energy_raw=500, power_w=180, state="charging")))

    assert result["ModbusFramesGood"] == 4
    readings = DynamoPortReadings(bridge.tables["SESSIONS_TABLE"], bridge.client).port_readings(
        "EB-1", 1, T0, T0
    )
    assert [(r.energy_wh, r.power_w, r.state) for r in readings] == [(500, 180, PortState.CHARGING)]
    gun = bridge.client.get_item(
        TableName=bridge.tables["BASE_DATA_TABLE"],
        Key={"pk": {"S": "PILE#EB-1"}, "sk": {"S": "GUN#001"}},
    )["Item"]
    assert gun["status"]["S"] == "Charging"
    load = DynamoSiteLoads(bridge.tables["SESSIONS_TABLE"], bridge.client).get("st-1")
    assert load is not None and load.power_w == 1500 * 400
    # first cycle: 10 port status items; no paid-order lookup (the gateway item read
    # anyway says which ports are paid: none); the pile is marked online (1 UpdateItem: its
    # gateway spoke for the first time); then a steady cycle costs the fixed writes only
    assert dict(bridge.counter.calls) == {"GetItem": 1, "PutItem": 1, "UpdateItem": 13}
    bridge.counter.reset()

    bridge.send(envelope(2, T0 + timedelta(minutes=1), ten(energy_raw=503, state="charging")))

    # gateway read; readings put; site load + gateway updates
    assert dict(bridge.counter.calls) == {"GetItem": 1, "PutItem": 1, "UpdateItem": 2}


def test_ten_charging_ports_cost_one_read_and_only_a_paid_port_is_looked_up(
    bridge: Bridge,
) -> None:
    configure(bridge)
    charging = [Port(energy_raw=500 + n, power_w=180, state="charging") for n in range(10)]
    bridge.counter.reset()

    bridge.send(envelope(1, T0, charging))

    # the first cycle of 10 charging ports: 1 read (the gateway item), no paid-order lookup
    assert bridge.counter.calls["GetItem"] == 1
    gateways = DynamoGateways(bridge.tables["BASE_DATA_TABLE"], bridge.client)
    assert gateways.set_paid_port("GW-0001", "EB-1", 3, "ORDER-3")
    config = gateways.config("GW-0001")
    assert config is not None and config.paid_ports == {"EB-1#3": "ORDER-3"}
    bridge.counter.reset()

    bridge.send(envelope(2, T0 + timedelta(minutes=1), charging))

    # the gateway read + port 3's lookup of its order (the port key; no such order here)
    assert bridge.counter.calls["GetItem"] == 2
    assert gateways.clear_paid_port("GW-0001", "EB-1", 3, "ORDER-3")
    assert not gateways.clear_paid_port("GW-0001", "EB-1", 3, "ORDER-3")
    config = gateways.config("GW-0001")
    assert config is not None and config.paid_ports == {}


def test_bad_frames_are_counted_per_gateway_day_and_write_no_reading(bridge: Bridge) -> None:
    configure(bridge)
    event = envelope(1, T0, ten(energy_raw=5))
    event["frames"][0] = {"rtu": base64.b64encode(bytes.fromhex("010304006400323a38")).decode()}
    event["frames"].append("AQMEAGQAMjo5")

    result = bridge.send(event)

    assert (result["ModbusFramesGood"], result["ModbusFramesBadCrc"]) == (3, 1)
    assert result["ModbusFramesUnmatched"] == 1
    gateways = DynamoGateways(
        bridge.tables["BASE_DATA_TABLE"], bridge.client, bridge.tables["STATS_TABLE"]
    )
    counts = gateways.frame_counts("GW-0001", "2026-11-01")
    assert (counts["bad_crc"], counts["unmatched"]) == (1, 1)
    readings = DynamoPortReadings(bridge.tables["SESSIONS_TABLE"], bridge.client)
    assert readings.port_readings("EB-1", 1, T0, T0) == []


def test_replay_out_of_order_with_repeats_gives_the_uninterrupted_energy(bridge: Bridge) -> None:
    configure(bridge)
    rng = random.Random(7)
    energy = 2**32 - 300  # the counter wraps during the run
    cycles = []
    for seq in range(1, 61):
        energy = (energy + rng.randint(0, 20)) % 2**32
        if seq == 40:
            energy = rng.randint(0, 20)  # the board restarted: the counter starts again at 0
        cycles.append(envelope(seq, T0 + timedelta(minutes=seq), ten(energy_raw=energy)))
    live, gap = cycles[:20] + cycles[38:], cycles[20:38]
    late = gap + rng.sample(cycles, 18)
    rng.shuffle(late)

    for event in live + late:
        bridge.send(event)

    reference = FakeReadings()
    for seq, event in enumerate(cycles, start=1):
        at = T0 + timedelta(minutes=seq)
        reference.store("EB-1", [(at, {1: sample_of(event, at)})], modulus=2**32, max_power_w=3000)
    readings = DynamoPortReadings(bridge.tables["SESSIONS_TABLE"], bridge.client)
    stored = readings.port_readings("EB-1", 1, T0, T0 + timedelta(hours=2))
    wanted = reference.port_readings("EB-1", 1, T0, T0 + timedelta(hours=2))
    assert len(stored) == 60
    assert [(r.at, r.energy_wh) for r in stored] == [(r.at, r.energy_wh) for r in wanted]
    gateway = bridge.gateway("GW-0001")
    assert gateway is not None and gateway["last_seq"] == 60


def sample_of(event: dict[str, Any], at: datetime) -> PortSample:
    words = PymodbusRtuDecoder().decode(base64.b64decode(event["frames"][0]["rtu"]))
    assert words is not None
    raw = (words.registers[3] << 16) | words.registers[4]
    return PortSample(at, "GW-0001", None, raw, 0, 2200, 0, 250, PortState.IDLE)


def test_registration_stores_the_iccid_on_the_gateway_and_its_piles(bridge: Bridge) -> None:
    configure(bridge)
    bridge.client.put_item(
        TableName=bridge.tables["BASE_DATA_TABLE"],
        Item={"pk": {"S": "PILE#EB-1"}, "sk": {"S": "PILE"}, "pile_id": {"S": "EB-1"}},
    )

    result = bridge.send(sample("register"))

    assert result["kind"] == "register"
    gateway = bridge.gateway("GW-0001")
    assert gateway is not None
    assert gateway["iccid"] == "89860412345678901234"
    pile = bridge.client.get_item(
        TableName=bridge.tables["BASE_DATA_TABLE"],
        Key={"pk": {"S": "PILE#EB-1"}, "sk": {"S": "PILE"}},
    )["Item"]
    assert pile["boot"]["M"]["iccid"]["S"] == "89860412345678901234"


def test_heartbeat_stamps_last_seen_with_one_write(bridge: Bridge) -> None:
    result = bridge.send(sample("heartbeat"))

    assert result["kind"] == "heartbeat"
    # the gateway read (are its piles marked online?) + its stamp
    assert dict(bridge.counter.calls) == {"GetItem": 1, "UpdateItem": 1}
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


def test_transparent_dtu_is_polled_one_read_at_a_time_through_the_handler(
    bridge: Bridge, clock: Any
) -> None:
    configure(bridge)

    def raw(payload: bytes) -> dict[str, Any]:
        return {"gateway_id": "GW-0001", "raw": base64.b64encode(payload).decode()}

    registered = bridge.send(raw(b"89860412345678901234"))
    assert registered["kind"] == "register"
    gateway = bridge.gateway("GW-0001")
    assert gateway is not None and gateway["iccid"] == "89860412345678901234"
    assert gateway["pending"]["address"] == 1 and gateway["pending"]["count"] == 100
    clock.advance(seconds=2)

    answered = bridge.send(raw(rtu(1, port_registers(ten(energy_raw=77, state="charging")))))

    assert answered["kind"] == "answer" and answered["ModbusFramesGood"] == 1
    readings = DynamoPortReadings(bridge.tables["SESSIONS_TABLE"], bridge.client)
    stored = readings.port_readings("EB-1", 1, clock(), clock())
    assert [(r.energy_wh, r.state) for r in stored] == [(77, PortState.CHARGING)]
    gateway = bridge.gateway("GW-0001")
    assert gateway is not None and gateway["pending"]["address"] == 2  # the meter is next


def test_batch_is_one_put_per_pile_and_rebatched_replays_dedup_on_read(bridge: Bridge) -> None:
    configure(bridge)
    charging = [Port(energy_raw=100, power_w=200, state="charging") for _ in range(3)]
    ports_at = [charging + [Port() for _ in range(7)] for _ in range(10)]
    for minute, ports in enumerate(ports_at):
        ports[0] = Port(energy_raw=100 + minute * 3, power_w=200, state="charging")

    def cycle(minute: int) -> dict[str, Any]:
        return {
            "seq": minute + 1,
            "ts": to_wire(T0 + timedelta(minutes=minute)),
            "frames": [pile_frame(ports_at[minute])],
        }

    bridge.counter.reset()
    result = bridge.send({"gateway_id": "GW-0001", "cycles": [cycle(m) for m in range(10)]})

    assert result["ModbusFramesGood"] == 10
    assert bridge.counter.calls["PutItem"] == 1
    item = bridge.client.query(
        TableName=bridge.tables["SESSIONS_TABLE"],
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "PORTREAD#EB-1"}},
    )["Items"][0]
    assert len(json.dumps(item)) < 2048  # ten cycles, three ports charging: 2 WCU at most
    # the gateway replays part of it re-batched differently, with a repeat
    bridge.send({"gateway_id": "GW-0001", "cycles": [cycle(m) for m in (9, 3, 4, 5)]})
    readings = DynamoPortReadings(bridge.tables["SESSIONS_TABLE"], bridge.client)
    stored = readings.port_readings("EB-1", 1, T0, T0 + timedelta(minutes=9))
    assert [r.energy_wh for r in stored] == [100 + m * 3 for m in range(10)]
    idle = readings.port_readings("EB-1", 7, T0 + timedelta(minutes=2), T0 + timedelta(minutes=4))
    assert [r.state for r in idle] == [PortState.IDLE] * 3


def test_a_fault_that_rose_and_cleared_in_a_late_backlog_is_one_fault_event(
    bridge: Bridge,
) -> None:
    configure(bridge)
    bridge.send(envelope(100, T0 + timedelta(minutes=90), ten()))  # back online, no fault
    backlog = {
        "gateway_id": "GW-0001",
        "cycles": [
            {
                "seq": minute,
                "ts": to_wire(T0 + timedelta(minutes=minute)),
                "frames": [
                    pile_frame(
                        ten(state="fault", faults=("leakage",))
                        if minute in (31, 32)
                        else ten(state="charging")
                    )
                ],
            }
            for minute in range(30, 35)
        ],
    }

    bridge.send(backlog)
    bridge.send(backlog)  # repeated

    faults = bridge.client.scan(TableName=bridge.tables["FAULTS_TABLE"])["Items"]
    assert [(f["vendor_error_code"]["S"], f["reported_at"]["S"]) for f in faults] == [
        ("leakage", to_wire(T0 + timedelta(minutes=31)))
    ]
    gun = bridge.client.get_item(
        TableName=bridge.tables["BASE_DATA_TABLE"],
        Key={"pk": {"S": "PILE#EB-1"}, "sk": {"S": "GUN#001"}},
    )["Item"]
    assert gun["status"]["S"] == "Available"  # the backlog never moves the state back
