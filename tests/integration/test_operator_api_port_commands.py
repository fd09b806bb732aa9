"""Port commands through the operator API on moto: start/stop/limits answer 202 with the
command, the frame goes to the gateway's down topic, the write echo confirms it; refusals
(bad body, another operator, a car pile, the wrong role) change nothing."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from functions.operator_api import wiring
from shared.adapters.dynamodb.modbus_commands import DynamoModbusCommands
from shared.domain.modbus_commands import (
    PortCommand,
    PortCommandKind,
    WriteAnswer,
    default_control,
    write_for,
    write_frame,
)
from shared.services import modbus_commands
from shared.services.modbus_commands import ModbusCommandPorts
from tests.integration.operator_api_support import (
    Tenant,
    api,
    call,
    claims,
    pile_body,
    tenants,
)
from tests.unit.modbus_command_fakes import FakePublisher

__all__ = ["api", "tenants"]


@pytest.fixture
def published(
    tenants: tuple[Tenant, Tenant], monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakePublisher]:
    publisher = FakePublisher()
    import os

    store = DynamoModbusCommands(
        os.environ["SESSIONS_TABLE"], os.environ["BASE_DATA_TABLE"], boto3.client("dynamodb")
    )
    ports = ModbusCommandPorts(
        commands=store,
        piles=store,
        publisher=publisher,
        clock=wiring.clock,
        new_id=wiring.make_id,
    )
    monkeypatch.setattr(wiring, "port_command_ports", lambda: ports)
    a, _ = tenants
    made = call(
        "POST",
        "/operator/piles",
        a.admin,
        body=pile_body(
            "EB-a",
            a.station_id,
            kind="ebike",
            protocol="modbus",
            model="cc-ebike-10",
            rated_power_w=10_000,
            gun_count=10,
            password=None,
            gateway_id="GW-a",
            modbus_address=1,
        ),
    )
    assert made.status == 201, made.body
    yield publisher


def _port(path: str, who: dict[str, Any], pile: str = "EB-a", **kwargs: Any) -> Any:
    return call(kwargs.pop("method", "POST"), f"/operator/piles/{pile}/ports/{path}", who, **kwargs)


def test_start_is_published_and_confirmed_by_the_echo(
    tenants: tuple[Tenant, Tenant], published: FakePublisher
) -> None:
    a, _ = tenants
    answer = _port("3/start", a.admin, body={"power_limit_w": 800, "time_limit_min": 90})
    assert answer.status == 202, answer.body
    view = answer.body
    assert (view["status"], view["kind"], view["function_code"]) == ("pending", "start", 16)
    assert view["values"] == [1, 800, 90, 0] and view["requested_by"] == "admin-a"
    [(topic, frame)] = published.published
    assert topic == "gw/GW-a/down"
    assert frame == write_frame(
        write_for(
            PortCommand(PortCommandKind.START, 3, 800, 90, 0),
            default_control(),
            1,
        )
    )
    path = f"/operator/piles/EB-a/port-commands/{view['command_id']}"
    assert call("GET", path, a.maintenance).body["status"] == "pending"
    modbus_commands.write_answered(
        WriteAnswer("GW-a", 1, 16, address=view["first_register"], value=4),
        commands=wiring.port_command_ports().commands,
        clock=wiring.clock,
    )
    assert call("GET", path, a.admin).body["status"] == "confirmed"


def test_stop_and_limits_are_single_register_writes_listed_newest_first(
    tenants: tuple[Tenant, Tenant], published: FakePublisher
) -> None:
    a, _ = tenants
    assert _port("1/stop", a.maintenance).status == 202
    power = _port("1/power-limit", a.admin, method="PUT", body={"power_limit_w": 500})
    time = _port("1/time-limit", a.admin, method="PUT", body={"time_limit_min": 60})
    assert (power.status, time.status) == (202, 202)
    assert [base64.b16encode(f[:2]) for _, f in published.published] == [b"0106"] * 3
    page = call("GET", "/operator/piles/EB-a/port-commands", a.admin, query={"limit": "2"})
    assert page.status == 200
    assert [c["kind"] for c in page.body["items"]] == ["time_limit", "power_limit"]
    token = page.body["next_token"]
    rest = call("GET", "/operator/piles/EB-a/port-commands", a.admin, query={"next_token": token})
    assert [c["kind"] for c in rest.body["items"]] == ["stop"]


BAD_COMMANDS = [
    ("1/start", {"power_limit_w": 3001}, "POST", 422),
    ("1/start", {"power_limit_w": "800"}, "POST", 422),
    ("1/start", {"other": 1}, "POST", 422),
    ("1/power-limit", {"power_limit_w": 0}, "PUT", 422),
    ("1/time-limit", {}, "PUT", 422),
    ("11/stop", None, "POST", 422),
    ("0/stop", None, "POST", 404),
    ("x/stop", None, "POST", 404),
]


def test_bad_commands_are_refused_and_nothing_published_or_stored(
    tenants: tuple[Tenant, Tenant], published: FakePublisher
) -> None:
    a, _ = tenants
    for path, body, method, status in BAD_COMMANDS:
        kwargs: dict[str, Any] = {"body": body} if body is not None else {}
        answer = _port(path, a.admin, method=method, **kwargs)
        assert answer.status == status, (path, body, answer.body)
    assert published.published == []
    assert call("GET", "/operator/piles/EB-a/port-commands", a.admin).body["items"] == []


def test_other_operators_car_piles_and_drivers_are_refused(
    tenants: tuple[Tenant, Tenant], published: FakePublisher
) -> None:
    a, b = tenants
    assert _port("1/stop", b.admin).status == 404
    assert call("GET", "/operator/piles/EB-a/port-commands", b.admin).status == 404
    assert _port("1/stop", a.admin, pile=a.pile_id).status == 409
    assert _port("1/stop", a.admin, pile="NOPE").status == 404
    stranger = claims("eve", "driver", a.operator_id)
    assert _port("1/stop", stranger).status in (401, 403)
    missing = call("GET", "/operator/piles/EB-a/port-commands/260101000000000-x", a.admin)
    assert missing.status == 404
    assert published.published == []
