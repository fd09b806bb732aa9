"""The IoT rule engine and iot-data publish against a real local mosquitto.

Rules are evaluated as IoT Core evaluates them and invoke a fake target function; boto3's
iot-data client publishes through the local data-plane endpoint into the broker.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import paho.mqtt.client as mqtt
import pytest
from aiohttp import web
from paho.mqtt.enums import CallbackAPIVersion

from infra.local.deployment import FunctionConfig, IotRule
from infra.local.iot_rules import IotDataEndpoint, IotRuleEngine, MqttLink
from infra.local.iot_sql import MqttMessage, RuleEvaluationError, RuleQuery, RuleSqlError
from infra.local.lambda_runtime import LambdaRuntime
from infra.local.mqtt_broker import BrokerFailed, MosquittoBroker
from tests.support.fake_handlers import calls
from tests.support.fake_handlers.servers import serving

TARGET = FunctionConfig(
    logical_id="ModbusBridgeFunction",
    function_name="local-ModbusBridgeFunction",
    handler="tests.support.fake_handlers.recorder.lambda_handler",
    environment={},
    memory_mb=256,
    timeout_s=10,
)
RULES = [
    IotRule("json_up", "SELECT *, topic(2) AS gateway_id FROM 'gw/+/up'", "ModbusBridgeFunction"),
    IotRule(
        "binary_up",
        "SELECT encode(*, 'base64') AS frame, topic(2) AS gateway_id, timestamp() AS ts "
        "FROM 'bin/+/up'",
        "ModbusBridgeFunction",
    ),
    IotRule("raw_up", "SELECT * FROM 'raw/+/up'", "ModbusBridgeFunction"),
    IotRule("faults", "SELECT * FROM 'alarm/#' WHERE kind = 'fault'", "ModbusBridgeFunction"),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    mosquitto = MosquittoBroker("127.0.0.1", _free_port(), tmp_path_factory.mktemp("mqtt"))
    mosquitto.start()
    try:
        yield mosquitto
    finally:
        mosquitto.stop()


@pytest.fixture
def engine(broker: MosquittoBroker) -> Iterator[IotRuleEngine]:
    calls.clear()
    runtime = LambdaRuntime({TARGET.logical_id: TARGET}, max_workers=2)
    rules = IotRuleEngine(runtime, RULES, broker.host, broker.port)
    rules.start()
    try:
        yield rules
    finally:
        rules.stop()
        runtime.shutdown()


def _publish(broker: MosquittoBroker, topic: str, payload: bytes) -> None:
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="test-pub")
    client.connect(broker.host, broker.port)
    client.loop_start()
    client.publish(topic, payload, qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def _wait_stat(engine: IotRuleEngine, rule: str, what: str, count: int = 1) -> int:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and engine.stats[rule][what] < count:
        time.sleep(0.01)
    return engine.stats[rule][what]


def test_json_payload_merged_with_topic_fields_when_the_rule_selects_star(
    engine: IotRuleEngine, broker: MosquittoBroker
) -> None:
    _publish(broker, "gw/GW-1/up", json.dumps({"seq": 7, "port_no": 3}).encode())

    (event,) = calls.wait_for(TARGET.function_name)
    assert event == {"seq": 7, "port_no": 3, "gateway_id": "GW-1"}
    assert _wait_stat(engine, "json_up", "invocations") == 1


def test_binary_payload_base64_encoded_when_the_rule_selects_encode(
    engine: IotRuleEngine, broker: MosquittoBroker
) -> None:
    frame = bytes.fromhex("010300000002c40b")

    _publish(broker, "bin/GW-2/up", frame)

    (event,) = calls.wait_for(TARGET.function_name)
    assert base64.b64decode(event["frame"]) == frame
    assert event["gateway_id"] == "GW-2"
    assert abs(event["ts"] / 1000 - time.time()) < 60


def test_binary_payload_counted_as_an_error_when_the_rule_passes_it_raw_to_lambda(
    engine: IotRuleEngine, broker: MosquittoBroker
) -> None:
    _publish(broker, "raw/GW-3/up", b"\x01\x03\xff")
    _publish(broker, "raw/GW-3/up", b'{"ok": true}')

    (event,) = calls.wait_for(TARGET.function_name)
    assert event == {"ok": True}
    assert _wait_stat(engine, "raw_up", "errors") == 1
    assert _wait_stat(engine, "raw_up", "invocations") == 1


def test_message_skipped_when_the_where_clause_is_false(
    engine: IotRuleEngine, broker: MosquittoBroker
) -> None:
    _publish(broker, "alarm/GW-4/x", json.dumps({"kind": "info"}).encode())
    _publish(broker, "alarm/GW-4/x", json.dumps({"kind": "fault", "code": 9}).encode())

    (event,) = calls.wait_for(TARGET.function_name)
    assert event == {"kind": "fault", "code": 9}
    assert _wait_stat(engine, "faults", "messages", 2) == 2


def test_target_failure_counted_when_the_function_raises(
    engine: IotRuleEngine, broker: MosquittoBroker
) -> None:
    _publish(broker, "gw/GW-5/up", json.dumps({"fail": True}).encode())

    assert _wait_stat(engine, "json_up", "errors") == 1
    assert engine.stats["json_up"]["invocations"] == 0


def test_boto3_iot_data_publish_reaches_subscribers_when_sent_to_the_local_endpoint(
    broker: MosquittoBroker,
) -> None:
    received: list[tuple[str, bytes]] = []
    got = threading.Event()
    subscriber = MqttLink(broker.host, broker.port, "test-sub")

    def on_message(message: MqttMessage) -> None:
        received.append((message.topic, message.payload))
        got.set()

    subscriber.connect(("gw/+/down", 1), on_message)
    publisher = MqttLink(broker.host, broker.port, "test-iot-data")
    publisher.connect()
    app = web.Application()
    IotDataEndpoint(publisher).add_routes(app)
    try:
        with serving(app) as (_, port):
            client: Any = boto3.client(
                "iot-data",
                endpoint_url=f"http://127.0.0.1:{port}/iot-data",
                region_name="us-east-1",
            )
            client.publish(topic="gw/GW-9/down", qos=1, payload=b"\x01\x06\x00\x01")
            assert got.wait(5)
    finally:
        subscriber.close()
        publisher.close()

    assert received == [("gw/GW-9/down", b"\x01\x06\x00\x01")]


def test_broker_start_fails_clearly_when_the_port_is_taken(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    second = MosquittoBroker(broker.host, broker.port, tmp_path)

    with pytest.raises(BrokerFailed):
        second.start(timeout_s=5)

    assert broker.is_running


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM gw/+/up",
        "SELECT upper(x) FROM 'a'",
        "SELECT encode(*, 'hex') FROM 'a'",
        "SELECT * FROM 'a' WHERE",
        "DELETE FROM 'a'",
    ],
)
def test_rule_refused_at_load_when_the_sql_is_outside_the_supported_subset(sql: str) -> None:
    with pytest.raises(RuleSqlError):
        RuleQuery.parse(sql)


def test_attributes_selected_and_unnamed_results_numbered_when_the_sql_lists_them() -> None:
    query = RuleQuery.parse(
        "SELECT a.b AS ab, c, topic(), topic(9) AS missing, 'x' AS lit, encode(*, 'base64') "
        "FROM 'd/#' WHERE n >= 2 AND a.b <> 'no' OR c = 'force'"
    )
    payload = json.dumps({"a": {"b": "yes"}, "c": 1, "n": 2}).encode()

    result = query.evaluate(MqttMessage("d/e", payload))

    assert query.topic_filter == "d/#"
    assert result == {
        "ab": "yes",
        "c": 1,
        "_1": "d/e",
        "lit": "x",
        "_2": base64.b64encode(payload).decode(),
    }
    assert query.evaluate(MqttMessage("d/e", b'{"n": 1}')) is None
    assert query.evaluate(MqttMessage("d/e", b'{"c": "force"}')) == {
        "c": "force",
        "_1": "d/e",
        "lit": "x",
        "_2": base64.b64encode(b'{"c": "force"}').decode(),
    }


def test_empty_payload_treated_as_an_empty_object_when_star_is_merged() -> None:
    query = RuleQuery.parse("SELECT *, topic(1) AS t FROM 'x/y'")

    assert query.evaluate(MqttMessage("x/y", b"")) == {"t": "x"}
    with pytest.raises(RuleEvaluationError):
        query.evaluate(MqttMessage("x/y", b"\xff\x00"))
