"""Commands to the ports of e-bike piles behind 4G gateways (Modbus RTU writes), and their
outcome.

Like the OCPP command routes, each command answers 202 with its command id: the pile's
write echo comes back later through the gateway, and ``GET .../port-commands/{command_id}``
shows whether it was confirmed, rejected (a Modbus exception) or timed out. A car pile or
an OCPP pile answers 409; another operator's pile 404. Operator admins and maintenance
staff may send them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import Field

from functions.operator_api import wiring
from functions.operator_api.models import PILE_ID, Body, PageQuery, View, WireTime
from functions.operator_api.routes.common import caller, dump, gun_number, path_id
from shared.domain.modbus_commands import (
    MAX_ENERGY_LIMIT_WH,
    MAX_POWER_LIMIT_W,
    MAX_TIME_LIMIT_MIN,
    ModbusCommand,
    PortCommand,
    PortCommandKind,
)
from shared.http_api import DocumentedRouter, parse_body, parse_query
from shared.services import modbus_commands

router = DocumentedRouter("port commands")
PORT = "/operator/piles/<pile_id>/ports/<port_no>"
PORT_NO = r"^[1-9][0-9]?$"
COMMAND_ID = r"^[A-Za-z0-9._:-]{1,36}$"
IDS = {"pile_id": PILE_ID, "port_no": PORT_NO}
ERRORS = (404, 409)

PowerLimitW = Annotated[
    int, Field(ge=0, le=MAX_POWER_LIMIT_W, description="W; 0 = the pile's default")
]
TimeLimitMin = Annotated[int, Field(ge=0, le=MAX_TIME_LIMIT_MIN, description="min; 0 = none")]
EnergyLimitWh = Annotated[int, Field(ge=0, le=MAX_ENERGY_LIMIT_WH, description="Wh; 0 = none")]


class PortStartBody(Body):
    power_limit_w: PowerLimitW = 0
    time_limit_min: TimeLimitMin = 0
    energy_limit_wh: EnergyLimitWh = 0


class PowerLimitBody(Body):
    power_limit_w: Annotated[int, Field(ge=1, le=MAX_POWER_LIMIT_W, description="W")]


class TimeLimitBody(Body):
    time_limit_min: Annotated[int, Field(ge=1, le=MAX_TIME_LIMIT_MIN, description="min")]


class PortCommandView(View):
    command_id: str = Field(description="Read the outcome by it")
    pile_id: str
    port_no: int
    kind: Literal["start", "stop", "power_limit", "time_limit"]
    status: Literal["pending", "confirmed", "rejected", "timed_out"] = Field(
        description="pending: published, waiting for the write echo; confirmed: the pile "
        "echoed the write; rejected: it answered a Modbus exception; timed_out: no answer "
        "within 60 s"
    )
    gateway_id: str
    device_address: int
    function_code: Literal[6, 16]
    first_register: int = Field(description="First register written")
    values: list[int] = Field(description="Register values written")
    power_limit_w: int | None
    time_limit_min: int | None
    energy_limit_wh: int | None
    requested_by: str | None = Field(description="Staff username; null for the platform")
    created_at: WireTime
    timeout_at: WireTime
    finished_at: WireTime | None
    exception_code: int | None
    error_description: str | None

    @classmethod
    def of(cls, command: ModbusCommand) -> PortCommandView:
        function_code: Literal[6, 16] = 16 if command.function_code == 16 else 6
        return cls(
            command_id=command.command_id,
            pile_id=command.pile_id,
            port_no=command.port_no,
            kind=command.kind.value,
            status=command.status.value,
            gateway_id=command.gateway_id,
            device_address=command.device_address,
            function_code=function_code,
            first_register=command.register,
            values=list(command.values),
            power_limit_w=command.power_limit_w,
            time_limit_min=command.time_limit_min,
            energy_limit_wh=command.energy_limit_wh,
            requested_by=command.requested_by,
            created_at=command.created_at,
            timeout_at=command.timeout_at,
            finished_at=command.finished_at,
            exception_code=command.exception_code,
            error_description=command.error_description,
        )


class PortCommandPage(View):
    items: list[PortCommandView]
    next_token: str | None


def _send(pile_id: str, command: PortCommand) -> tuple[dict[str, Any], int]:
    pile_id = path_id(pile_id, PILE_ID, "pile")
    sent = modbus_commands.issue_port_command(
        caller(router), pile_id, command, wiring.port_command_ports()
    )
    return dump(PortCommandView.of(sent)), 202


def _route(
    method: str, path: str, summary: str, body: type[Body] | None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return router.operation(
        method,
        f"{PORT}/{path}",
        summary,
        status=202,
        body=body,
        response=PortCommandView,
        path_patterns=IDS,
        errors=ERRORS,
    )


@_route(
    "POST",
    "start",
    "Switch a port on with its power, time and energy limits (one function 16 write)",
    PortStartBody,
)
def start_port(pile_id: str, port_no: str) -> tuple[dict[str, Any], int]:
    body = parse_body(router.current_event, PortStartBody)
    command = PortCommand(
        PortCommandKind.START,
        gun_number(port_no),
        power_limit_w=body.power_limit_w,
        time_limit_min=body.time_limit_min,
        energy_limit_wh=body.energy_limit_wh,
    )
    return _send(pile_id, command)


@_route("POST", "stop", "Switch a port off (function 06)", None)
def stop_port(pile_id: str, port_no: str) -> tuple[dict[str, Any], int]:
    return _send(pile_id, PortCommand(PortCommandKind.STOP, gun_number(port_no)))


@_route("PUT", "power-limit", "Set a port's power limit (function 06)", PowerLimitBody)
def set_power_limit(pile_id: str, port_no: str) -> tuple[dict[str, Any], int]:
    body = parse_body(router.current_event, PowerLimitBody)
    command = PortCommand(
        PortCommandKind.POWER_LIMIT, gun_number(port_no), power_limit_w=body.power_limit_w
    )
    return _send(pile_id, command)


@_route("PUT", "time-limit", "Set a port's time limit (function 06)", TimeLimitBody)
def set_time_limit(pile_id: str, port_no: str) -> tuple[dict[str, Any], int]:
    body = parse_body(router.current_event, TimeLimitBody)
    command = PortCommand(
        PortCommandKind.TIME_LIMIT, gun_number(port_no), time_limit_min=body.time_limit_min
    )
    return _send(pile_id, command)


@router.operation(
    "GET",
    "/operator/piles/<pile_id>/port-commands",
    "The pile's port commands, newest first (kept 7 days)",
    query=PageQuery,
    response=PortCommandPage,
    path_patterns={"pile_id": PILE_ID},
    errors=ERRORS,
)
def list_port_commands(pile_id: str) -> dict[str, Any]:
    pile_id = path_id(pile_id, PILE_ID, "pile")
    query = parse_query(router.current_event, PageQuery)
    items, token = modbus_commands.list_port_commands(
        caller(router), pile_id, query.limit, query.next_token, wiring.port_command_ports()
    )
    return dump(PortCommandPage(items=[PortCommandView.of(c) for c in items], next_token=token))


@router.operation(
    "GET",
    "/operator/piles/<pile_id>/port-commands/<command_id>",
    "One port command: what was written and whether the pile confirmed it",
    response=PortCommandView,
    path_patterns={"pile_id": PILE_ID, "command_id": COMMAND_ID},
    errors=ERRORS,
)
def get_port_command(pile_id: str, command_id: str) -> dict[str, Any]:
    pile_id = path_id(pile_id, PILE_ID, "pile")
    command_id = path_id(command_id, COMMAND_ID, "command")
    command = modbus_commands.get_port_command(
        caller(router), pile_id, command_id, wiring.port_command_ports()
    )
    return dump(PortCommandView.of(command))
