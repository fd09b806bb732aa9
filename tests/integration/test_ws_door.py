"""The WebSocket door behaves like CloudFront + API Gateway in front of the real handlers.

Fake handlers (tests/support/fake_handlers) stand in for ws_connect and ocpp_router; a
real WebSocket client and boto3's apigatewaymanagementapi client drive the door.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from aiohttp import web
from botocore.exceptions import ClientError
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from infra.local.deployment import FunctionConfig, WebSocketRoutes
from infra.local.lambda_runtime import LambdaRuntime
from infra.local.settings import WsLimits
from infra.local.ws_door import WsDoor
from tests.support.fake_handlers import calls
from tests.support.fake_handlers.servers import BackgroundLoop, serving

FUNCTIONS = {
    "WsConnectFunction": FunctionConfig(
        logical_id="WsConnectFunction",
        function_name="local-WsConnectFunction",
        handler="tests.support.fake_handlers.ws_connect.lambda_handler",
        environment={},
        memory_mb=256,
        timeout_s=10,
    ),
    "OcppRouterFunction": FunctionConfig(
        logical_id="OcppRouterFunction",
        function_name="local-OcppRouterFunction",
        handler="tests.support.fake_handlers.ws_router.lambda_handler",
        environment={},
        memory_mb=256,
        timeout_s=10,
    ),
}
ROUTES = WebSocketRoutes(
    targets={
        "$connect": "WsConnectFunction",
        "$disconnect": "WsConnectFunction",
        "$default": "OcppRouterFunction",
    },
    two_way=frozenset({"$default"}),
)
PROTOCOLS = ["ocpp1.6", "ocpp2.0.1"]
AUTH = {"Authorization": "Basic " + base64.b64encode(b"CP-1:secret").decode()}


@dataclass
class Door:
    door: WsDoor
    port: int
    loop: BackgroundLoop

    def url(self, pile_id: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp/{pile_id}"

    @property
    def management_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/local"

    def management(self) -> Any:
        return boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=self.management_endpoint,
            region_name="us-east-1",
        )


def _door(limits: WsLimits, monkeypatch: pytest.MonkeyPatch) -> Iterator[Door]:
    calls.clear()
    runtime = LambdaRuntime(FUNCTIONS, max_workers=4)
    door = WsDoor(runtime, ROUTES, limits)
    app = web.Application()
    door.add_routes(app)
    try:
        with serving(app) as (loop, port):
            monkeypatch.setenv("WS_MANAGEMENT_ENDPOINT", f"http://127.0.0.1:{port}/local")
            yield Door(door, port, loop)
    finally:
        runtime.shutdown()


@pytest.fixture
def ws_door(monkeypatch: pytest.MonkeyPatch) -> Iterator[Door]:
    yield from _door(WsLimits(max_message_bytes=4096), monkeypatch)


@pytest.fixture
def quick_idle_door(monkeypatch: pytest.MonkeyPatch) -> Iterator[Door]:
    yield from _door(WsLimits(idle_timeout_s=0.4, max_lifetime_s=60), monkeypatch)


@pytest.fixture
def short_lived_door(monkeypatch: pytest.MonkeyPatch) -> Iterator[Door]:
    yield from _door(WsLimits(idle_timeout_s=60, max_lifetime_s=0.6), monkeypatch)


def _open(door: Door, pile_id: str = "CP-1", **kwargs) -> ClientConnection:
    kwargs.setdefault("subprotocols", PROTOCOLS)
    kwargs.setdefault("additional_headers", AUTH)
    ws: ClientConnection = connect(door.url(pile_id), ping_interval=None, open_timeout=10, **kwargs)
    return ws


def _wait_closed(ws: ClientConnection, timeout_s: float = 5.0) -> ConnectionClosed:
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=timeout_s)
    return closed.value


def test_upgrade_echoes_the_chosen_subprotocol_when_connect_accepts(ws_door: Door) -> None:
    with _open(ws_door) as ws:
        assert ws.subprotocol == "ocpp2.0.1"
        assert ws.response is not None
        assert ws.response.headers["Sec-WebSocket-Protocol"] == "ocpp2.0.1"

    (event,) = calls.events("$connect")
    assert event["queryStringParameters"] == {"pileId": "CP-1"}
    assert event["headers"]["Authorization"] == AUTH["Authorization"]
    assert event["headers"]["Sec-WebSocket-Protocol"] == "ocpp1.6, ocpp2.0.1"
    assert event["multiValueHeaders"]["Authorization"] == [AUTH["Authorization"]]
    context = event["requestContext"]
    assert context["routeKey"] == "$connect"
    assert context["eventType"] == "CONNECT"
    assert context["stage"] == "local"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert len(context["connectionId"]) == 16
    assert context["connectionId"].endswith("=")
    assert context["domainName"] == f"127.0.0.1:{ws_door.port}"
    for key in ("apiId", "requestId", "connectedAt", "requestTimeEpoch", "requestTime"):
        assert context[key]


def test_upgrade_sends_no_subprotocol_when_connect_chooses_none(ws_door: Door) -> None:
    with _open(ws_door, "no-protocol", subprotocols=None) as ws:
        assert ws.subprotocol is None
        assert ws.response is not None
        assert "Sec-WebSocket-Protocol" not in ws.response.headers


@pytest.mark.parametrize(
    ("pile_id", "status"),
    [("wrong-password", 401), ("disabled", 403), ("unknown", 404), ("bad-protocol", 400)],
)
def test_upgrade_refused_with_the_handler_status_when_connect_refuses(
    ws_door: Door, pile_id: str, status: int
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        _open(ws_door, pile_id)

    assert refused.value.response.status_code == status
    assert refused.value.response.body == f"refused: {pile_id}".encode()
    assert ws_door.door.connections == {}
    assert calls.events("$disconnect") == []


def test_upgrade_refused_with_500_when_connect_crashes(ws_door: Door) -> None:
    with pytest.raises(InvalidStatus) as refused:
        _open(ws_door, "crash")

    assert refused.value.response.status_code == 500


def test_frame_answered_through_the_route_response_when_default_returns_a_body(
    ws_door: Door,
) -> None:
    with _open(ws_door) as ws:
        ws.send('[2,"1","Heartbeat",{}]')
        assert json.loads(ws.recv(timeout=5)) == ["echo", '[2,"1","Heartbeat",{}]']

    connection_id = calls.events("$connect")[0]["requestContext"]["connectionId"]
    (event,) = calls.events("$default")
    assert event["body"] == '[2,"1","Heartbeat",{}]'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["routeKey"] == "$default"
    assert context["eventType"] == "MESSAGE"
    assert context["connectionId"] == connection_id
    assert context["messageId"]
    assert context["requestTimeEpoch"] >= context["connectedAt"]


def test_frames_handled_in_order_when_sent_back_to_back(ws_door: Door) -> None:
    frames = [f"frame-{n}" for n in range(30)]
    with _open(ws_door) as ws:
        for frame in frames:
            ws.send(frame)
        answers = [json.loads(ws.recv(timeout=5))[1] for _ in frames]

    assert answers == frames
    assert [event["body"] for event in calls.events("$default")] == frames


def test_nothing_sent_back_when_default_returns_no_body(ws_door: Door) -> None:
    with _open(ws_door) as ws:
        ws.send("silent")
        ws.send("after")
        assert json.loads(ws.recv(timeout=5)) == ["echo", "after"]


def test_error_frame_sent_when_default_crashes(ws_door: Door) -> None:
    with _open(ws_door) as ws:
        ws.send("crash")
        error = json.loads(ws.recv(timeout=5))
        ws.send("still open")
        assert json.loads(ws.recv(timeout=5)) == ["echo", "still open"]

    assert error["message"] == "Internal server error"
    assert error["connectionId"] == calls.events("$connect")[0]["requestContext"]["connectionId"]
    assert error["requestId"]


def test_disconnect_event_carries_the_close_code_when_the_pile_closes(ws_door: Door) -> None:
    with _open(ws_door) as ws:
        ws.close(code=4000, reason="bye")

    (event,) = calls.wait_for("$disconnect")
    context = event["requestContext"]
    assert context["eventType"] == "DISCONNECT"
    assert context["disconnectStatusCode"] == 4000
    assert context["disconnectReason"] == "bye"
    assert context["connectionId"] == calls.events("$connect")[0]["requestContext"]["connectionId"]
    assert ws_door.door.connections == {}


def test_connection_closed_with_1009_when_a_message_exceeds_the_quota(ws_door: Door) -> None:
    with _open(ws_door) as ws:
        ws.send("x" * 5000)
        closed = _wait_closed(ws)

    assert closed.rcvd is not None
    assert closed.rcvd.code == 1009
    assert calls.events("$default") == []
    assert calls.wait_for("$disconnect")[0]["requestContext"]["disconnectStatusCode"] == 1009


def test_connection_closed_with_1001_when_idle_beyond_the_timeout(quick_idle_door: Door) -> None:
    with _open(quick_idle_door) as ws:
        started = time.monotonic()
        closed = _wait_closed(ws)
        elapsed = time.monotonic() - started

    assert closed.rcvd is not None
    assert closed.rcvd.code == 1001
    assert 0.3 < elapsed < 3
    assert calls.wait_for("$disconnect")[0]["requestContext"]["disconnectStatusCode"] == 1001


def test_activity_keeps_the_connection_open_when_within_the_idle_timeout(
    quick_idle_door: Door,
) -> None:
    with _open(quick_idle_door) as ws:
        for _ in range(6):
            time.sleep(0.15)
            ws.send("keepalive")
            ws.recv(timeout=5)
        ws.send("last")
        assert json.loads(ws.recv(timeout=5)) == ["echo", "last"]


def test_connection_closed_with_1001_when_it_reaches_the_lifetime_quota(
    short_lived_door: Door,
) -> None:
    with _open(short_lived_door) as ws:
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.send("busy")
                ws.recv(timeout=5)
                time.sleep(0.05)
        elapsed = time.monotonic() - started

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1001
    assert 0.5 < elapsed < 3


def test_post_to_connection_delivers_data_when_called_through_boto3(ws_door: Door) -> None:
    with _open(ws_door) as ws:
        connection_id = calls.events("$connect")[0]["requestContext"]["connectionId"]
        ws_door.management().post_to_connection(ConnectionId=connection_id, Data=b'[2,"x",{}]')
        assert ws.recv(timeout=5) == '[2,"x",{}]'


def test_post_to_connection_works_when_called_from_a_running_handler(ws_door: Door) -> None:
    with _open(ws_door) as ws:
        ws.send("push")
        assert ws.recv(timeout=5) == "pushed"
        assert json.loads(ws.recv(timeout=5)) == ["echo", "push"]


def test_get_connection_describes_the_connection_when_open(ws_door: Door) -> None:
    with _open(ws_door, user_agent_header="pile-firmware/1.0") as ws:
        ws.send("hello")
        ws.recv(timeout=5)
        connection_id = calls.events("$connect")[0]["requestContext"]["connectionId"]
        described = ws_door.management().get_connection(ConnectionId=connection_id)

    assert described["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "pile-firmware/1.0"}
    assert described["ConnectedAt"] <= described["LastActiveAt"]
    assert described["ConnectedAt"].tzinfo is not None


def test_delete_connection_closes_the_socket_and_sends_disconnect(ws_door: Door) -> None:
    with _open(ws_door) as ws:
        connection_id = calls.events("$connect")[0]["requestContext"]["connectionId"]
        ws_door.management().delete_connection(ConnectionId=connection_id)
        _wait_closed(ws)

    (event,) = calls.wait_for("$disconnect")
    assert event["requestContext"]["connectionId"] == connection_id
    assert ws_door.door.connections == {}


@pytest.mark.parametrize("operation", ["post_to_connection", "get_connection", "delete_connection"])
def test_management_api_answers_gone_when_the_connection_is_closed(
    ws_door: Door, operation: str
) -> None:
    with _open(ws_door):
        connection_id = calls.events("$connect")[0]["requestContext"]["connectionId"]
    calls.wait_for("$disconnect")
    client = ws_door.management()
    kwargs = {"ConnectionId": connection_id}
    if operation == "post_to_connection":
        kwargs["Data"] = b"late"

    with pytest.raises(client.exceptions.GoneException) as gone:
        getattr(client, operation)(**kwargs)

    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410


def test_post_to_connection_refused_when_the_data_exceeds_the_quota(ws_door: Door) -> None:
    with _open(ws_door) as ws:
        connection_id = calls.events("$connect")[0]["requestContext"]["connectionId"]
        with pytest.raises(ClientError) as too_large:
            ws_door.management().post_to_connection(ConnectionId=connection_id, Data=b"x" * 5000)
        ws.send("still open")
        assert json.loads(ws.recv(timeout=5)) == ["echo", "still open"]

    assert too_large.value.response["Error"]["Code"] == "PayloadTooLargeException"
    assert too_large.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413


def test_open_connections_closed_with_1001_when_the_door_shuts_down(ws_door: Door) -> None:
    with _open(ws_door, "CP-1") as first, _open(ws_door, "CP-2") as second:
        ws_door.loop.call(ws_door.door.close_all)
        closed = [_wait_closed(first), _wait_closed(second)]

    assert [item.rcvd.code for item in closed if item.rcvd is not None] == [1001, 1001]
    events = calls.wait_for("$disconnect", count=2)
    assert sorted(event["requestContext"]["disconnectStatusCode"] for event in events) == [
        1001,
        1001,
    ]
