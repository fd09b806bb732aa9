"""The local stack end to end: real HTTP, WebSocket and boto3 clients against ``make run``.

Piles are registered through the operator HTTP API as the platform admin, then dial the
WebSocket door like real piles (HTTP Basic auth, OCPP sub-protocols).
"""

from __future__ import annotations

import base64
import json
import signal
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.e2e.conftest import RunningStack, start_stack

pytestmark = pytest.mark.e2e

PLATFORM_ADMIN = ("platform-admin", "platform-admin-pass")
PILE_PASSWORD = "e2e-pile-password-0001"


@dataclass
class Piles:
    """Piles registered for these tests: enabled 1.6 and 2.0.1 piles and a disabled one."""

    ocpp16: str
    ocpp201: str
    disabled: str


def _login(stack: RunningStack) -> dict[str, str]:
    response = requests.post(
        f"{stack.http_url}/operator/auth/login",
        json={"username": PLATFORM_ADMIN[0], "password": PLATFORM_ADMIN[1]},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['id_token']}"}


def _post(stack: RunningStack, path: str, headers: dict[str, str], body: dict[str, Any]) -> Any:
    response = requests.post(f"{stack.http_url}{path}", json=body, headers=headers, timeout=30)
    assert response.status_code in (200, 201), f"{path}: {response.status_code} {response.text}"
    return response.json()


@pytest.fixture(scope="module")
def piles(local_stack: RunningStack) -> Piles:
    headers = _login(local_stack)
    suffix = uuid.uuid4().hex[:8]
    operator = _post(local_stack, "/operator/operators", headers, {"name": f"E2E {suffix}"})
    station = _post(
        local_stack,
        "/operator/stations",
        headers,
        {
            "operator_id": operator["operator_id"],
            "name": "E2E station",
            "address": "1 Test Road",
            "lat": 31.23,
            "lng": 121.47,
            "transformer_capacity_kva": 630,
            "partner_share_bp": 1000,
        },
    )
    created = {}
    for key, protocol, is_enabled in (
        ("ocpp16", "ocpp1.6", True),
        ("ocpp201", "ocpp2.0.1", True),
        ("disabled", "ocpp1.6", True),
    ):
        pile_id = f"E2E-{key}-{suffix}"
        _post(
            local_stack,
            "/operator/piles",
            headers,
            {
                "pile_id": pile_id,
                "station_id": station["station_id"],
                "serial": f"SN-{pile_id}",
                "kind": "car",
                "protocol": protocol,
                "model": "E2E-7kW",
                "rated_power_w": 7000,
                "gun_count": 1,
                "password": PILE_PASSWORD,
                "is_enabled": is_enabled,
            },
        )
        created[key] = pile_id
    disabled = requests.patch(
        f"{local_stack.http_url}/operator/piles/{created['disabled']}",
        json={"is_enabled": False},
        headers=headers,
        timeout=30,
    )
    assert disabled.status_code == 200, disabled.text
    return Piles(**created)


def _basic(pile_id: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{pile_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _dial(
    stack: RunningStack,
    pile_id: str,
    password: str = PILE_PASSWORD,
    subprotocols: list[str] | None = None,
) -> ClientConnection:
    ws: ClientConnection = connect(
        f"{stack.ws_url}/ocpp/{pile_id}",
        subprotocols=subprotocols,  # type: ignore[arg-type]
        additional_headers=_basic(pile_id, password),
        ping_interval=None,
        open_timeout=30,
    )
    return ws


def _refusal(stack: RunningStack, pile_id: str, **kwargs: Any) -> int:
    with pytest.raises(InvalidStatus) as refused:
        _dial(stack, pile_id, **kwargs)
    return int(refused.value.response.status_code)


def _management(stack: RunningStack) -> Any:
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=stack.management_endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def test_health_answers_200_when_the_stack_is_up(local_stack: RunningStack) -> None:
    response = requests.get(f"{local_stack.http_url}/health", timeout=30)

    assert response.status_code == 200


def test_dashboard_index_served_when_the_root_is_requested(local_stack: RunningStack) -> None:
    response = requests.get(f"{local_stack.http_url}/", timeout=30)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<html" in response.text.lower()


def test_stack_details_written_when_the_stack_is_ready(local_stack: RunningStack) -> None:
    details = json.loads((local_stack.state_dir / "stack.json").read_text())

    assert details["http_url"] == local_stack.http_url
    assert details["ws_url"] == local_stack.ws_url
    assert details["mqtt_port"] == local_stack.mqtt_port
    assert details["aws_endpoint"] == local_stack.aws_endpoint


def test_operator_routes_refuse_401_when_no_token_is_sent(local_stack: RunningStack) -> None:
    response = requests.get(f"{local_stack.http_url}/operator/stations", timeout=30)

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}


def test_connections_api_answers_gone_when_the_connection_does_not_exist(
    local_stack: RunningStack,
) -> None:
    client = _management(local_stack)

    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId="AAAAAAAAAAAAAAA=", Data=b"[]")


def test_registered_pile_accepted_with_its_subprotocol_echoed(
    local_stack: RunningStack, piles: Piles
) -> None:
    with _dial(local_stack, piles.ocpp16, subprotocols=["ocpp1.6", "ocpp2.0.1"]) as ws16:
        assert ws16.subprotocol == "ocpp1.6"
    with _dial(local_stack, piles.ocpp201, subprotocols=["ocpp2.0.1"]) as ws201:
        assert ws201.subprotocol == "ocpp2.0.1"


def test_frame_answered_through_the_route_response_when_a_pile_boots(
    local_stack: RunningStack, piles: Piles
) -> None:
    boot = [
        2,
        "e2e-boot-1",
        "BootNotification",
        {"chargePointVendor": "E2E", "chargePointModel": "E2E-7kW"},
    ]
    with _dial(local_stack, piles.ocpp16, subprotocols=["ocpp1.6"]) as ws:
        ws.send(json.dumps(boot))
        answer = json.loads(ws.recv(timeout=30))

    assert answer[0] == 3
    assert answer[1] == "e2e-boot-1"
    assert answer[2]["status"] in ("Accepted", "Pending")


def test_connections_api_reaches_the_pile_when_called_through_boto3(
    local_stack: RunningStack, piles: Piles
) -> None:
    client = _management(local_stack)
    with _dial(local_stack, piles.ocpp16, subprotocols=["ocpp1.6"]) as ws:
        (connection_id,) = _live_connection_ids(local_stack, client)
        client.post_to_connection(ConnectionId=connection_id, Data=b'[2,"e2e-1","Reset",{}]')
        assert ws.recv(timeout=30) == '[2,"e2e-1","Reset",{}]'
        described = client.get_connection(ConnectionId=connection_id)
        assert described["Identity"]["SourceIp"] == "127.0.0.1"
        client.delete_connection(ConnectionId=connection_id)
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=30)


def _live_connection_ids(stack: RunningStack, client: Any) -> list[str]:
    """Ids of the door's open connections, as ws_connect recorded them (a test-only scan)."""
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=stack.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    details = json.loads((stack.state_dir / "stack.json").read_text())
    table = details["tables"]["CONNECTIONS_TABLE"]
    live = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            connection_id = item["connection_id"]["S"]
            try:
                client.get_connection(ConnectionId=connection_id)
            except client.exceptions.GoneException:
                continue
            live.append(connection_id)
    assert live, "the door has no live connection recorded in the Connections table"
    return live


def test_wrong_password_refused_with_401(local_stack: RunningStack, piles: Piles) -> None:
    status = _refusal(
        local_stack, piles.ocpp16, password="not-the-password-000", subprotocols=["ocpp1.6"]
    )

    assert status == 401


def test_unknown_pile_refused_with_404(local_stack: RunningStack) -> None:
    nobody = f"E2E-nobody-{uuid.uuid4().hex[:6]}"

    assert _refusal(local_stack, nobody, subprotocols=["ocpp1.6"]) == 404


def test_disabled_pile_refused_with_403(local_stack: RunningStack, piles: Piles) -> None:
    assert _refusal(local_stack, piles.disabled, subprotocols=["ocpp1.6"]) == 403


@pytest.mark.parametrize("offered", [None, ["ocpp0.1"], ["ocpp2.0.1"]])
def test_missing_or_unsupported_subprotocol_refused_with_400(
    local_stack: RunningStack, piles: Piles, offered: list[str] | None
) -> None:
    assert _refusal(local_stack, piles.ocpp16, subprotocols=offered) == 400


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[RunningStack]:
    stack = start_stack(tmp_path / "stack")
    try:
        yield stack
    finally:
        stack.stop(signal.SIGKILL)


def test_ctrl_c_stops_everything_with_exit_0(own_stack: RunningStack) -> None:
    code = own_stack.stop(signal.SIGINT)

    assert code == 0, own_stack.log_tail()
    assert "local stack stopped" in own_stack.log_tail()
    for port in (own_stack.aws_port, own_stack.http_port, own_stack.ws_port, own_stack.mqtt_port):
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))  # free again: mosquitto and every server are gone
