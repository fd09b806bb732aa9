"""AWS calls and cost per e-bike gateway-month: a 10-port pile and an Acrel ADL400 site
meter polled every 60 s, through the real bridge handler on moto.

One simulated hour per uplink form, scaled to a 30-day month:
- ``per-minute``: a polling gateway publishing every poll cycle (60 messages an hour);
- ``batched-10``: the same gateway publishing 10 cycles per message (6 an hour; a port
  state change may still publish at once, not simulated here);
- ``transparent``: a transparent DTU; the platform sends 4 reads per cycle (pile ports,
  3 meter blocks), each answered by one message, plus a heartbeat that starts the cycle.

Ports: 3 of 10 charge all hour (energy and power move every minute), one goes
charging -> full mid-hour, 6 stay idle.

Presence is included: the pile item exists, so the first hour marks it online (a write
on the pile item and its GSI1 copy, once); the measured hour pays the bridge's moves of
the gateway's presence due time (GSI3, keys only: a delete + a put each, at most every
half of the 25-minute threshold). Housekeeping's sweep reads no live gateway (its due
time is always ahead); its one Query a minute is shared by the whole fleet.

What is counted: every AWS API call the handler makes (botocore hook); DynamoDB write and
read units from the sizes of the items written (1 KB write units, 4 KB read units,
eventually consistent GetItem = 0.5); IoT messages in 5 KB units (uplink) and the
iot-data publishes (downlink); rule triggers and Lambda actions; Lambda requests and
GB-seconds at 256 MB with the handler's measured wall time here (moto in process: a
pessimistic stand-in for DynamoDB latency); CloudWatch Logs at ~0.7 KB per invocation
(platform START/END/REPORT lines + our one INFO line). Prices: DESIGN.md (us-east-1).
"""

from __future__ import annotations

import base64
import json
import math
import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

TARGET_USD = 0.03
HOURS_PER_MONTH = 24 * 30
PRICES = {
    "iot_message": 1.00 / 1e6,  # per 5 KB message unit
    "iot_rule": 0.15 / 1e6,  # per rule triggered
    "iot_action": 0.15 / 1e6,  # per action executed
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_s": 0.0000166667,
    "ddb_write_unit": 0.625 / 1e6,
    "ddb_read_unit": 0.125 / 1e6,
    "logs_gb": 0.50,
}
LAMBDA_GB = 0.25
LOG_BYTES_PER_INVOCATION = 700
T0 = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size rule: names + values (numbers ~ digits/2 + 1)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return (len(str(inner).lstrip("-").replace(".", "")) + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_size(element) for element in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + _value_size(v) for k, v in inner.items())
    return len(json.dumps(inner))


class _Recorder:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.put_units = 0
        self.updated_keys: list[tuple[str, str]] = []  # (table, json key) per UpdateItem
        self.read_units = 0.0
        self.iot_publishes = 0
        self.index_units = 0  # GSI writes the handler's updates cause (presence: GSI3)
        self.on = False

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if not self.on:
            return
        name = f"{model.service_model.service_name}.{model.name}"
        self.calls[name] += 1
        if name == "dynamodb.PutItem":
            self.put_units += max(1, math.ceil(item_size(params["Item"]) / 1024))
        elif name == "dynamodb.UpdateItem":
            self.updated_keys.append(
                (params["TableName"], json.dumps(params["Key"], sort_keys=True))
            )
            if "gsi3sk = " in params.get("UpdateExpression", ""):
                # presence due time moved: the keys-only GSI3 entry is deleted + put
                self.index_units += 2
            if params["Key"].get("sk", {}).get("S") == "PILE":
                self.index_units += 1  # a pile item's presence: its GSI1 copy (ALL)
        elif name == "dynamodb.GetItem":
            self.read_units += 0.5  # eventually consistent, items < 4 KB
        elif name == "dynamodb.Query":
            self.read_units += 0.5
        elif name == "iot-data.Publish":
            self.iot_publishes += 1


def _envelopes(minutes: int, batch: int) -> list[dict[str, Any]]:
    from tests.unit.test_modbus_uplink_support import Port, meter_frames, pile_frame

    cycles = []
    for minute in range(minutes):
        ports = [
            Port(energy_raw=1000 + minute * 3, power_w=180, current_ma=820, state="charging")
            for _ in range(3)
        ]
        ports.append(Port(energy_raw=500, state="charging" if minute < 30 else "full"))
        ports.extend(Port() for _ in range(6))
        cycles.append(
            {
                "seq": minute + 1,
                "ts": (T0 + timedelta(minutes=minute)).isoformat(),
                "frames": [
                    pile_frame(ports),
                    *meter_frames(power_w=40_000 + minute, energy_wh=8_000_000 + minute * 700),
                ],
            }
        )
    if batch == 1:
        return [{"gateway_id": "GW-B", **cycle} for cycle in cycles]
    return [
        {"gateway_id": "GW-B", "cycles": cycles[index : index + batch]}
        for index in range(0, len(cycles), batch)
    ]


def _transparent_messages(minutes: int) -> list[tuple[datetime, dict[str, Any]]]:
    from tests.unit.test_modbus_uplink_support import Port, port_registers, rtu

    def raw(payload: bytes) -> dict[str, Any]:
        return {"gateway_id": "GW-B", "raw": base64.b64encode(payload).decode()}

    messages = []
    for minute in range(minutes):
        start = T0 + timedelta(minutes=minute)
        ports = [Port(energy_raw=1000 + minute * 3, power_w=180, state="charging")] * 3 + [
            Port() for _ in range(7)
        ]
        messages.append((start, raw(b"OK")))  # heartbeat: starts the cycle
        messages.append((start + timedelta(seconds=1), raw(rtu(1, port_registers(ports)))))
        messages.append((start + timedelta(seconds=2), raw(rtu(2, [0] * 12))))
        messages.append((start + timedelta(seconds=3), raw(rtu(2, [2200] * 3 + [100] * 3))))
        messages.append((start + timedelta(seconds=4), raw(rtu(2, [0, 10] * 4))))
    return messages


def _run(form: str) -> dict[str, Any]:
    from functions.modbus_bridge import handler, wiring
    from shared.adapters.dynamodb.gateways import DynamoGateways
    from tests.integration.test_ocpp_router_support import lambda_context
    from tests.support.aws import aws_with_tables
    from tests.unit.test_modbus_uplink_support import devices

    with aws_with_tables() as tables:
        boto3.setup_default_session()
        recorder = _Recorder()
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register("provide-client-params.*.*", recorder)
        wiring.reset()
        client = boto3.client("dynamodb")
        DynamoGateways(tables["BASE_DATA_TABLE"], client).set_devices(
            "GW-B", list(devices(pt=10, ct=40).values())
        )
        for port_no in range(1, 11):
            client.put_item(
                TableName=tables["BASE_DATA_TABLE"],
                Item={"pk": {"S": "PILE#EB-1"}, "sk": {"S": f"GUN#{port_no:03d}"}},
            )
        # the pile item: its presence (is_online, last_seen_at) is written by the bridge
        client.put_item(
            TableName=tables["BASE_DATA_TABLE"],
            Item={"pk": {"S": "PILE#EB-1"}, "sk": {"S": "PILE"}, "pile_id": {"S": "EB-1"}},
        )
        clock_now = [T0]
        wiring.clock = lambda: clock_now[0]
        if form == "transparent":
            timed = _transparent_messages(60)
        else:
            batch = 1 if form == "per-minute" else 10
            timed = [
                (T0 + timedelta(minutes=index * batch), event)
                for index, event in enumerate(_envelopes(60, batch))
            ]
        # the first cycle writes every port's status once (a gateway's first hour); measure
        # a steady hour: run it twice and count the second
        for event_at, event in timed:
            clock_now[0] = event_at
            handler.lambda_handler(event, lambda_context())
        uplink_units = 0
        elapsed = 0.0
        recorder.on = True
        for event_at, event in timed:
            clock_now[0] = event_at + timedelta(hours=1)
            shifted = _shift(event, timedelta(hours=1))
            uplink_units += max(1, math.ceil(len(_payload_bytes(shifted)) / 5120))
            started = time.perf_counter()
            handler.lambda_handler(shifted, lambda_context())
            elapsed += time.perf_counter() - started
        recorder.on = False
        update_units = 0
        sizes: dict[tuple[str, str], int] = {}
        for table, key in recorder.updated_keys:
            if (table, key) not in sizes:
                item = client.get_item(TableName=table, Key=json.loads(key)).get("Item", {})
                sizes[(table, key)] = item_size(item)
            update_units += max(1, math.ceil(sizes[(table, key)] / 1024))
        wiring.reset()
        from shared.domain.clock import system_clock

        wiring.clock = system_clock
    invocations = len(timed)
    duration_ms = math.ceil(elapsed * 1000 / invocations)
    hour = {
        "iot_message": uplink_units + recorder.iot_publishes,
        "iot_rule": invocations,
        "iot_action": invocations,
        "lambda_request": invocations,
        "lambda_gb_s": invocations * duration_ms / 1000 * LAMBDA_GB,
        "ddb_write_unit": recorder.put_units + update_units + recorder.index_units,
        "ddb_read_unit": recorder.read_units,
        "logs_gb": invocations * LOG_BYTES_PER_INVOCATION / 1e9,
    }
    month_usd = {name: qty * HOURS_PER_MONTH * PRICES[name] for name, qty in hour.items()}
    total = sum(month_usd.values())
    return {
        "form": form,
        "messages_per_hour": invocations,
        "aws_calls_per_hour": dict(sorted(recorder.calls.items())),
        "units_per_hour": {name: round(value, 4) for name, value in hour.items()},
        "handler_ms_measured": duration_ms,
        "usd_per_month": {name: round(value, 5) for name, value in month_usd.items()},
        "usd_per_gateway_month": round(total, 4),
        "target_usd": TARGET_USD,
        "meets_target": total <= TARGET_USD,
    }


def _shift(event: dict[str, Any], delta: timedelta) -> dict[str, Any]:
    if "cycles" in event:
        return {
            **event,
            "cycles": [
                {**c, "seq": c["seq"] + 1000, "ts": _later(c["ts"], delta)} for c in event["cycles"]
            ],
        }
    if "ts" in event:
        return {**event, "seq": event["seq"] + 1000, "ts": _later(event["ts"], delta)}
    return event


def _later(text: str, delta: timedelta) -> str:
    return (datetime.fromisoformat(text) + delta).isoformat()


def _payload_bytes(event: dict[str, Any]) -> bytes:
    """What the gateway published: the JSON without the rule's gateway_id, or raw bytes."""
    if "raw" in event:
        return base64.b64decode(event["raw"])
    return json.dumps({k: v for k, v in event.items() if k != "gateway_id"}).encode()


def run() -> dict[str, Any]:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    rows = [_run(form) for form in ("per-minute", "batched-10", "transparent")]
    print("\nModbus gateway cost per month (10-port pile + ADL400, 60 s polling)")
    for row in rows:
        print(
            f"  {row['form']:<12} {row['messages_per_hour']:>4} msg/h  "
            f"DDB {row['units_per_hour']['ddb_write_unit']:>5} WCU/h  "
            f"${row['usd_per_gateway_month']:.4f}/month  "
            f"(target ${TARGET_USD}: {'met' if row['meets_target'] else 'MISSED'})"
        )
    return {"forms": rows, "target_usd": TARGET_USD}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
