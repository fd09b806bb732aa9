"""IoT Core's two data-plane halves the local stack needs: topic rules and iot-data publish.

Rules: for every rule of the deployment, an MQTT client subscribes (QoS 1) to the rule
SQL's ``FROM`` topic filter on the local broker, evaluates the SQL as IoT Core does
(``infra/local/iot_sql.py``) and invokes the rule's Lambda action asynchronously (an
``Event`` invoke, in the Lambda runtime's pool). A message the SQL cannot turn into a
JSON object (e.g. a binary payload under ``SELECT *``: IoT Core's Lambda action refuses
raw binary) counts as a rule error and is logged, like IoT Core's error action would see
it; so does a failed invocation. ``stats`` keeps the counts per rule.

iot-data publish: moto records ``iot-data`` ``Publish`` calls and delivers nothing, so the
local stack points boto3's IoT data-plane endpoint
(``AWS_ENDPOINT_URL_IOT_DATA_PLANE``, the per-service override botocore reads for service
id "IoT Data Plane") at ``http://127.0.0.1:<ws port>/iot-data``: the WebSocket door's
port, which already hosts the other data-plane API moto lacks (``@connections``). There
``POST /iot-data/topics/{topic}?qos=&retain=`` (exactly what boto3 sends) republishes
the body to the broker. One port fewer to configure than a dedicated endpoint, and no
clash with the HTTP API's routes on the HTTP front.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import paho.mqtt.client as mqtt
from aiohttp import web
from paho.mqtt.enums import CallbackAPIVersion

from infra.local.deployment import IotRule
from infra.local.iot_sql import MqttMessage, RuleEvaluationError, RuleQuery
from infra.local.lambda_runtime import InvocationResult, LambdaRuntime

log = logging.getLogger("local.iot")


class MqttUnavailable(RuntimeError):
    """The broker did not accept the connection or the subscription in time."""


class MqttLink:
    """One paho client on the local broker, with its network loop in a thread."""

    def __init__(self, host: str, port: int, client_id: str) -> None:
        self._host = host
        self._port = port
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
        )
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._subscription: tuple[str, int] | None = None
        self._handler: Any = None

    def connect(self, subscription: tuple[str, int] | None = None, handler: Any = None) -> None:
        """Connect (and subscribe, also after any reconnect); waits for CONNACK/SUBACK.

        Raises:
            MqttUnavailable: the broker did not answer within 10 s.
        """
        self._subscription = subscription
        self._handler = handler
        try:
            self._client.connect(self._host, self._port, keepalive=60)
        except OSError as exc:
            raise MqttUnavailable(f"cannot reach the broker: {exc}") from exc
        self._client.loop_start()
        waiting_for = self._subscribed if subscription else self._connected
        if not waiting_for.wait(10):
            self.close()
            raise MqttUnavailable("the broker did not answer in time")

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        self._client.publish(topic, payload, qos=qos, retain=retain)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            log.warning("MQTT connect refused: %s", reason)
            return
        self._connected.set()
        if self._subscription is not None:
            client.subscribe(*self._subscription)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, properties: Any
    ) -> None:
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self._handler is not None:
            self._handler(MqttMessage(message.topic, bytes(message.payload)))


@dataclass(slots=True)
class _LoadedRule:
    rule: IotRule
    query: RuleQuery
    link: MqttLink | None = None


class IotRuleEngine:
    """Runs the deployment's topic rules against the local broker."""

    def __init__(self, runtime: LambdaRuntime, rules: list[IotRule], host: str, port: int) -> None:
        self._runtime = runtime
        self._host = host
        self._port = port
        # Parse everything first: a rule the engine cannot honour stops the start.
        self._rules = [_LoadedRule(rule, RuleQuery.parse(rule.sql)) for rule in rules]
        for loaded in self._rules:
            runtime.function(loaded.rule.function)
        self._lock = threading.Lock()
        self.stats: dict[str, Counter[str]] = {
            loaded.rule.name: Counter() for loaded in self._rules
        }

    def start(self) -> None:
        """Subscribe every rule; returns once the broker acknowledged all subscriptions.

        Raises:
            MqttUnavailable: the broker is not there.
        """
        for loaded in self._rules:
            link = MqttLink(self._host, self._port, f"iot-rule-{loaded.rule.name}")
            link.connect((loaded.query.topic_filter, 1), lambda msg, r=loaded: self._on(r, msg))
            loaded.link = link
            log.info("IoT rule %s listening on %s", loaded.rule.name, loaded.query.topic_filter)

    def stop(self) -> None:
        for loaded in self._rules:
            if loaded.link is not None:
                loaded.link.close()
                loaded.link = None

    def _count(self, rule: str, what: str) -> None:
        with self._lock:
            self.stats[rule][what] += 1

    def _on(self, loaded: _LoadedRule, message: MqttMessage) -> None:
        name = loaded.rule.name
        self._count(name, "messages")
        try:
            output = loaded.query.evaluate(message)
        except RuleEvaluationError as exc:
            self._count(name, "errors")
            log.warning("IoT rule %s failed on %s: %s", name, message.topic, exc)
            return
        if output is None:
            return
        if isinstance(output, bytes):
            self._count(name, "errors")
            log.warning(
                "IoT rule %s: the Lambda action cannot take a binary payload from %s "
                "(select encode(*, 'base64') instead)",
                name,
                message.topic,
            )
            return
        log.debug("IoT rule %s matched %s", name, message.topic)
        future = self._runtime.invoke_event(loaded.rule.function, output)
        future.add_done_callback(lambda done: self._invoked(name, done))

    def _invoked(self, rule: str, done: Future[InvocationResult]) -> None:
        if done.cancelled():
            return
        error = done.exception()
        if error is not None or done.result().is_error:
            self._count(rule, "errors")
            log.warning("IoT rule %s: the target function failed", rule)
        else:
            self._count(rule, "invocations")


class IotDataEndpoint:
    """``iot-data`` ``Publish`` for boto3, republishing to the local broker."""

    PREFIX = "/iot-data"

    def __init__(self, publisher: MqttLink) -> None:
        self._publisher = publisher

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(self.PREFIX + "/topics/{topic:.+}", self._publish)

    async def _publish(self, request: web.Request) -> web.Response:
        topic = unquote(request.match_info["topic"])
        qos = request.query.get("qos", "0")
        if qos not in ("0", "1"):
            return web.json_response(
                {"message": "qos must be 0 or 1"},
                status=400,
                headers={"x-amzn-ErrorType": "InvalidRequestException"},
            )
        payload = await request.read()
        retain = request.query.get("retain", "false").lower() == "true"
        self._publisher.publish(topic, payload, qos=int(qos), retain=retain)
        log.debug("iot-data publish to %s (%d bytes)", topic, len(payload))
        return web.json_response({})
