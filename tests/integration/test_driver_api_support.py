"""Builders for driver-API tests on moto: HTTP API v2 events with a driver's token, the
signing secret, a seeded world (operators A and B through the operator API), pile-side
writes (presence, gun status) and table snapshots to prove a refusal changed nothing."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from functions.driver_api import wiring
from tests.conftest import FixedClock
from tests.integration.operator_api_support import LambdaContext as _OperatorContext
from tests.integration.operator_api_support import (
    Tenant,
    api,
    seed_tenant,
    seeded_world,
)

__all__ = ["api", "seed_tenant"]  # the operator API fixture the seeding runs on

SIGNING_KEY = "k" * 64
DRIVER_TABLES = ("BASE_DATA_TABLE", "LEDGER_TABLE", "SESSIONS_TABLE", "FAULTS_TABLE")


class LambdaContext(_OperatorContext):
    function_name = "DriverApiFunction"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:DriverApiFunction"


def driver_event(
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: Any = None,
    raw_body: str | None = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event for ``method path`` (no authorizer)."""
    text = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
    sent = {"content-type": "application/json", "host": "api.example.com"}
    if token is not None:
        sent["authorization"] = f"Bearer {token}"
    sent.update(headers or {})
    return {
        "version": "2.0",
        "routeKey": "ANY /driver/{proxy+}",
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "headers": sent,
        "queryStringParameters": query,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.example.com",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "pytest",
            },
            "requestId": "req-1",
            "routeKey": "ANY /driver/{proxy+}",
            "stage": "$default",
            "time": "01/Nov/2026:02:00:00 +0000",
            "timeEpoch": 1_793_498_400_000,
        },
        "body": text,
        "isBase64Encoded": False,
    }


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def error(self) -> dict[str, Any]:
        error: dict[str, Any] = self.body["error"]
        return error


def invoke(event: dict[str, Any]) -> Answer:
    from functions.driver_api.handler import lambda_handler

    response = lambda_handler(event, LambdaContext())
    raw = response.get("body")
    body = json.loads(raw) if raw else None
    return Answer(response["statusCode"], body, dict(response.get("headers") or {}))


def dcall(method: str, path: str, token: str | None = None, **kwargs: Any) -> Answer:
    return invoke(driver_event(method, path, token=token, **kwargs))


def sign_in(name: str, app: str = "wechat") -> str:
    answer = dcall("POST", "/driver/auth/login", body={"app": app, "code": f"sandbox:{name}"})
    assert answer.status == 200, answer.body
    token: str = answer.body["token"]
    return token


def snapshot(tables: tuple[str, ...] = DRIVER_TABLES) -> dict[str, list[dict[str, Any]]]:
    """Every item of the driver API's tables (a scan: tests only)."""
    import os

    client = boto3.client("dynamodb")
    found: dict[str, list[dict[str, Any]]] = {}
    for env in tables:
        items: list[dict[str, Any]] = []
        for page in client.get_paginator("scan").paginate(
            TableName=os.environ[env], ConsistentRead=True
        ):
            items.extend(page["Items"])
        found[env] = sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    return found


def set_presence(pile_id: str, *, is_online: bool) -> None:
    """What ws_connect writes on the pile item."""
    import os

    boto3.client("dynamodb").update_item(
        TableName=os.environ["BASE_DATA_TABLE"],
        Key={"pk": {"S": f"PILE#{pile_id}"}, "sk": {"S": "PILE"}},
        UpdateExpression="SET is_online = :on, connection_id = :c, connected_at = :t",
        ExpressionAttributeValues={
            ":on": {"BOOL": is_online},
            ":c": {"S": f"conn-{pile_id}"},
            ":t": {"S": "2026-11-01T01:00:00.000Z"},
        },
    )


def set_gun_status(pile_id: str, gun_no: int, status: str) -> None:
    """What the router writes on a StatusNotification."""
    import os

    boto3.client("dynamodb").update_item(
        TableName=os.environ["BASE_DATA_TABLE"],
        Key={"pk": {"S": f"PILE#{pile_id}"}, "sk": {"S": f"GUN#{gun_no:03d}"}},
        UpdateExpression="SET #s = :s, status_at = :t",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": status}, ":t": {"S": "2026-11-01T01:00:00.000Z"}},
    )


def add_ebike_pile(
    admin: Any,
    pile_id: str,
    *,
    gateway_id: str,
    name: str,
    lat: float,
    lng: float,
    fen_per_hour: tuple[int, int],
    free_port: int = 3,
) -> None:
    """Through the operator API as ``admin``: a tariff named ``name`` with two e-bike power
    bands (up to 400 W, up to 800 W at ``fen_per_hour``), a station ``name`` at (lat, lng)
    on it and a 10-port Modbus e-bike pile on the station, online with ``free_port``
    Available."""
    from tests.integration.operator_api_support import call, station_body, tou_periods

    low, high = fen_per_hour
    tariff = call(
        "POST",
        "/operator/tariffs",
        admin,
        body={
            "name": name,
            "periods": tou_periods(),
            "ebike_power_bands": [
                {"max_power_w": 400, "fen_per_hour": low},
                {"max_power_w": 800, "fen_per_hour": high},
            ],
        },
    )
    assert tariff.status == 201, tariff.body
    station = call(
        "POST",
        "/operator/stations",
        admin,
        body=station_body(name=name, lat=lat, lng=lng, tariff_id=tariff.body["tariff_id"]),
    )
    assert station.status == 201, station.body
    pile = call(
        "POST",
        "/operator/piles",
        admin,
        body={
            "pile_id": pile_id,
            "station_id": station.body["station_id"],
            "serial": f"SN-{pile_id}",
            "kind": "ebike",
            "protocol": "modbus",
            "model": "EB-10",
            "rated_power_w": 800,
            "gun_count": 10,
            "gateway_id": gateway_id,
            "modbus_address": 1,
        },
    )
    assert pile.status == 201, pile.body
    set_presence(pile_id, is_online=True)
    set_gun_status(pile_id, free_port, "Available")


@dataclass
class DriverWorld:
    a: Tenant
    b: Tenant
    clock: FixedClock
    north_2km: str = ""
    north_5km: str = ""


def _patch_driver_wiring(patch: pytest.MonkeyPatch, clock: FixedClock) -> None:
    secret = boto3.client("secretsmanager").create_secret(
        Name=f"test/driver/token-signing-{id(clock)}",
        SecretString=json.dumps({"signing_key": SIGNING_KEY}),
    )
    patch.setenv("DRIVER_AUTH_SECRET_ID", secret["ARN"])
    patch.setenv("DRIVER_LOGIN_SANDBOX", "1")
    patch.delenv("SANDBOX_PAY_URL", raising=False)
    counter = itertools.count(1)
    hexes = itertools.count(1)
    wiring.reset()
    patch.setattr(wiring, "clock", clock)
    patch.setattr(wiring, "make_id", lambda prefix: f"{prefix}-{next(counter):020x}")
    patch.setattr(wiring, "random_hex", lambda length: f"{next(hexes):0{length}x}")


@pytest.fixture
def driver_api(api: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[FixedClock]:
    """The driver API on fresh moto (tables of the template, the signing secret, sandbox
    sign-in) with a fixed clock (the operator API's: they move together), counting ids."""
    from functions.operator_api import wiring as operator_wiring

    clock = operator_wiring.clock
    assert isinstance(clock, FixedClock)
    _patch_driver_wiring(monkeypatch, clock)
    yield clock
    wiring.reset()


def _far_station(tenant: Tenant, km_north: float) -> str:
    from tests.integration.operator_api_support import call, station_body

    made = call(
        "POST",
        "/operator/stations",
        tenant.admin,
        body=station_body(
            name=f"North {km_north} km", lat=31.2304 + km_north / 111.2, tariff_id=tenant.tariff_id
        ),
    )
    assert made.status == 201, made.body
    station_id: str = made.body["station_id"]
    return station_id


def reset_piles(world: DriverWorld) -> None:
    """Both piles online, gun 1 Available and gun 2 Charging; the clock at its start."""
    world.clock.now = FixedClock().now
    for tenant in (world.a, world.b):
        set_presence(tenant.pile_id, is_online=True)
        set_gun_status(tenant.pile_id, 1, "Available")
        set_gun_status(tenant.pile_id, 2, "Charging")


@contextmanager
def driver_world() -> Iterator[DriverWorld]:
    """moto + operators A and B (tariff, station, pile CP-a / CP-b with 2 guns at the same
    spot) + two stations of A 2 km and 5 km north, for one test module. Tests sign in with
    their own names and put the piles back (``reset_piles``) before each test."""
    from functions.operator_api import wiring as operator_wiring

    with seeded_world() as seeded, pytest.MonkeyPatch.context() as patch:
        clock = operator_wiring.clock
        assert isinstance(clock, FixedClock)
        _patch_driver_wiring(patch, clock)
        world = DriverWorld(a=seeded.a, b=seeded.b, clock=clock)
        world.north_2km = _far_station(world.a, 2.0)
        world.north_5km = _far_station(world.a, 5.0)
        try:
            yield world
        finally:
            wiring.reset()


@pytest.fixture(scope="module")
def shared_world() -> Iterator[DriverWorld]:
    with driver_world() as world:
        yield world


@pytest.fixture
def world(shared_world: DriverWorld) -> DriverWorld:
    reset_piles(shared_world)
    return shared_world
