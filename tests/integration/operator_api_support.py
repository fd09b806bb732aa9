"""Builders for operator-API tests: API Gateway HTTP v2 events, JWT claims, a seeded world of
two operators, and table snapshots (scans are for tests only) to prove nothing changed."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from functions.operator_api import wiring
from tests.conftest import FixedClock
from tests.support.aws import aws_with_tables
from tests.unit.base_data_fakes import FakeStaffDirectory

EVENTS = Path(__file__).resolve().parent.parent / "events" / "operator_api"
PILE_PASSWORD = "pile-password-0001"
OPERATOR_TABLES = ("BASE_DATA_TABLE", "LEDGER_TABLE")


class LambdaContext:
    function_name = "OperatorApiFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:OperatorApiFunction"
    aws_request_id = "test-request"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 15_000


def claims(username: str, role: str, operator_id: str | None = None) -> dict[str, Any]:
    """Cognito ID-token claims as API Gateway's JWT authorizer passes them."""
    found: dict[str, Any] = {
        "sub": f"sub-{username}",
        "cognito:username": username,
        "cognito:groups": f"[{role}]",  # real API Gateway flattens list claims like this
        "token_use": "id",
    }
    if operator_id is not None:
        found["custom:operator_id"] = operator_id
    return found


PLATFORM_ADMIN = claims("root", "platform-admin")


def http_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    raw_body: str | None = None,
    who: dict[str, Any] | None = None,
    query: dict[str, str] | None = None,
    is_base64: bool = False,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event for ``method path``."""
    text = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
    if is_base64 and text is not None:
        text = base64.b64encode(text.encode()).decode()
    context: dict[str, Any] = {
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
        "routeKey": "ANY /operator/{proxy+}",
        "stage": "$default",
        "time": "01/Nov/2026:02:00:00 +0000",
        "timeEpoch": 1_793_498_400_000,
    }
    if who is not None:
        context["authorizer"] = {"jwt": {"claims": who, "scopes": None}}
    return {
        "version": "2.0",
        "routeKey": "ANY /operator/{proxy+}",
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "headers": {"content-type": "application/json", "host": "api.example.com"},
        "queryStringParameters": query,
        "requestContext": context,
        "body": text,
        "isBase64Encoded": is_base64,
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
    from functions.operator_api.handler import lambda_handler

    response = lambda_handler(event, LambdaContext())
    raw = response.get("body")
    body = json.loads(raw) if raw else None
    return Answer(response["statusCode"], body, dict(response.get("headers") or {}))


def call(
    method: str, path: str, who: dict[str, Any] | None = PLATFORM_ADMIN, **kwargs: Any
) -> Answer:
    return invoke(http_event(method, path, who=who, **kwargs))


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every item of the base-data and ledger tables (a scan: tests only)."""
    import os

    client = boto3.client("dynamodb")
    tables: dict[str, list[dict[str, Any]]] = {}
    for env in OPERATOR_TABLES:
        name = os.environ[env]
        items: list[dict[str, Any]] = []
        for page in client.get_paginator("scan").paginate(TableName=name, ConsistentRead=True):
            items.extend(page["Items"])
        tables[env] = sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    return tables


@dataclass
class Tenant:
    """One seeded operator and the ids of what it owns."""

    operator_id: str
    admin: dict[str, Any]
    maintenance: dict[str, Any]
    station_id: str = ""
    tariff_id: str = ""
    pile_id: str = ""
    discount_id: str = ""
    card_no: str = ""
    ids: dict[str, str] = field(default_factory=dict)


def tou_periods() -> list[dict[str, Any]]:
    return [
        {
            "kind": "valley",
            "start": "23:00",
            "end": "07:00",
            "electricity_fen_per_kwh": 30,
            "service_fen_per_kwh": 40,
        },
        {
            "kind": "flat",
            "start": "07:00",
            "end": "10:00",
            "electricity_fen_per_kwh": 65,
            "service_fen_per_kwh": 40,
        },
        {
            "kind": "peak",
            "start": "10:00",
            "end": "15:00",
            "electricity_fen_per_kwh": 95,
            "service_fen_per_kwh": 40,
        },
        {
            "kind": "sharp",
            "start": "15:00",
            "end": "17:00",
            "electricity_fen_per_kwh": 120,
            "service_fen_per_kwh": 40,
        },
        {
            "kind": "flat",
            "start": "17:00",
            "end": "23:00",
            "electricity_fen_per_kwh": 65,
            "service_fen_per_kwh": 40,
        },
    ]


def station_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "name": "Riverside car park",
        "address": "88 Binjiang Road, Shanghai",
        "lat": 31.2304,
        "lng": 121.4737,
        "transformer_capacity_kva": 630,
        "partner_share_bp": 5000,
        "partner_name": "Riverside Property",
    }
    body.update(overrides)
    return body


def pile_body(pile_id: str, station_id: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "pile_id": pile_id,
        "station_id": station_id,
        "serial": f"SN-{pile_id}",
        "kind": "car",
        "protocol": "ocpp1.6",
        "model": "AC-7K",
        "rated_power_w": 7000,
        "gun_count": 2,
        "password": PILE_PASSWORD,
    }
    body.update(overrides)
    return body


def discount_body(station_ids: list[str], **overrides: Any) -> dict[str, Any]:
    body = {
        "name": "Night owl",
        "kind": "percent_off_service",
        "percent_bp": 2000,
        "starts_at": "2026-11-01T00:00:00+08:00",
        "ends_at": "2026-12-01T00:00:00+08:00",
        "station_ids": station_ids,
    }
    body.update(overrides)
    return body


def seed_tenant(name: str, suffix: str) -> Tenant:
    """Create an operator and one of everything it can own, through the API."""
    made = call("POST", "/operator/operators", body={"name": name})
    assert made.status == 201, made.body
    operator_id = made.body["operator_id"]
    tenant = Tenant(
        operator_id=operator_id,
        admin=claims(f"admin-{suffix}", "operator-admin", operator_id),
        maintenance=claims(f"tech-{suffix}", "maintenance", operator_id),
    )
    tariff = call(
        "POST",
        "/operator/tariffs",
        tenant.admin,
        body={"name": "Standard TOU", "periods": tou_periods()},
    )
    assert tariff.status == 201, tariff.body
    tenant.tariff_id = tariff.body["tariff_id"]
    station = call(
        "POST", "/operator/stations", tenant.admin, body=station_body(tariff_id=tenant.tariff_id)
    )
    assert station.status == 201, station.body
    tenant.station_id = station.body["station_id"]
    tenant.pile_id = f"CP-{suffix}"
    pile = call(
        "POST", "/operator/piles", tenant.admin, body=pile_body(tenant.pile_id, tenant.station_id)
    )
    assert pile.status == 201, pile.body
    discount = call(
        "POST", "/operator/discounts", tenant.admin, body=discount_body([tenant.station_id])
    )
    assert discount.status == 201, discount.body
    tenant.discount_id = discount.body["discount_id"]
    tenant.card_no = f"CARD-{suffix}"
    card = call(
        "POST",
        "/operator/cards",
        tenant.admin,
        body={"card_no": tenant.card_no, "holder_name": "Li Lei", "phone": "13800000000"},
    )
    assert card.status == 201, card.body
    top_up = call(
        "POST",
        f"/operator/cards/{tenant.card_no}/top-ups",
        tenant.admin,
        body={"amount_fen": 10_000, "request_id": f"seed-{suffix}-0001"},
    )
    assert top_up.status == 201, top_up.body
    staff = call(
        "POST",
        f"/operator/operators/{operator_id}/staff",
        tenant.admin,
        body={"username": f"tech-{suffix}", "password": "Maintenance-1234", "role": "maintenance"},
    )
    assert staff.status == 201, staff.body
    return tenant


@pytest.fixture
def api(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStaffDirectory]:
    """The operator API on moto with a fixed clock, counting ids and a fake user directory."""
    clock = FixedClock()
    counter = itertools.count(1)
    directory = FakeStaffDirectory()
    wiring.reset()
    monkeypatch.setattr(wiring, "clock", clock)
    monkeypatch.setattr(wiring, "make_id", lambda prefix: f"{prefix}-{next(counter):020x}")
    monkeypatch.setattr(wiring, "staff_directory", lambda: directory)
    yield directory
    monkeypatch.undo()
    wiring.reset()


@pytest.fixture
def tenants(api: FakeStaffDirectory) -> tuple[Tenant, Tenant]:
    """Operators A and B, each with a tariff, station, pile, discount, card (100.00) and staff."""
    return seed_tenant("Operator A", "a"), seed_tenant("Operator B", "b")


@dataclass
class World:
    """A seeded platform shared by a module's tests that must change nothing."""

    a: Tenant
    b: Tenant
    directory: FakeStaffDirectory
    tables: dict[str, str]


@contextmanager
def seeded_world() -> Iterator[World]:
    """moto + the template's tables + operators A and B, for one test module.

    Only tests whose every request is refused may share it: each checks the tables are
    unchanged, so the world is the same for the next test.
    """
    clock = FixedClock()
    counter = itertools.count(1)
    directory = FakeStaffDirectory()
    with aws_with_tables() as tables, pytest.MonkeyPatch.context() as patch:
        wiring.reset()
        patch.setattr(wiring, "clock", clock)
        patch.setattr(wiring, "make_id", lambda prefix: f"{prefix}-{next(counter):020x}")
        patch.setattr(wiring, "staff_directory", lambda: directory)
        try:
            yield World(
                a=seed_tenant("Operator A", "a"),
                b=seed_tenant("Operator B", "b"),
                directory=directory,
                tables=tables,
            )
        finally:
            patch.undo()
            wiring.reset()
