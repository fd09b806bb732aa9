"""Clients and repositories of the housekeeping jobs, built once per container.

The adapters (and boto3's clients) are imported inside the builders, on the first run of
a job, so importing the handler stays cheap (docs/cold-start.md).
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING

from shared.domain.clock import Clock, system_clock
from shared.domain.ids import new_id

if TYPE_CHECKING:
    from shared.adapters.apigw_ws import WebSocketConnections
    from shared.services.gateway_presence import PresencePorts as GatewayPresencePorts
    from shared.services.housekeeping import HousekeepingPorts
    from shared.services.workflow_ports import WorkflowResumer

clock: Clock = system_clock


@functools.cache
def websocket() -> WebSocketConnections:
    """The ``@connections`` API: calls that waited for a pile go out from here."""
    from shared.adapters.pile_commands import websocket_sender

    return websocket_sender(os.environ["WS_MANAGEMENT_ENDPOINT"])


@functools.cache
def resumer() -> WorkflowResumer:
    """Step Functions: resumes the workflows of paid sessions (stale close, never started)."""
    import boto3

    from shared.adapters.stepfunctions import StepFunctionsResumer

    return StepFunctionsResumer(boto3.client("stepfunctions"))


@functools.cache
def ports() -> HousekeepingPorts:
    import boto3

    from shared.adapters.pile_commands import paid_charge_ports, pile_command_ports
    from shared.services.housekeeping import HousekeepingPorts

    dynamodb = boto3.client("dynamodb")
    sessions_table, base_table = os.environ["SESSIONS_TABLE"], os.environ["BASE_DATA_TABLE"]
    paid = paid_charge_ports(
        commands=pile_command_ports(
            base_data_table=base_table,
            sessions_table=sessions_table,
            dynamodb=dynamodb,
            sender=websocket(),
            clock=clock,
            new_id=new_id,
        ),
        sessions_table=sessions_table,
        base_data_table=base_table,
        dynamodb=dynamodb,
        workflow=resumer(),
        iot_data=boto3.client("iot-data"),
        topic_prefix=os.environ.get("IOT_DOWN_TOPIC_PREFIX", "gw"),
    )
    return HousekeepingPorts(
        piles=paid.piles,
        pending_calls=paid.pending_calls,
        sender=paid.sender,
        sessions=paid.sessions,
        clock=clock,
        paid=paid,
        gateway_presence=_gateway_presence(base_table, dynamodb),
    )


def _gateway_presence(base_table: str, dynamodb: object) -> GatewayPresencePorts:
    """Modbus piles of silent gateways go offline (the presence sweep)."""
    from shared.adapters.dynamodb.gateways import DynamoGateways
    from shared.adapters.dynamodb.piles import DynamoPiles
    from shared.services.gateway_presence import PresencePorts

    return PresencePorts(DynamoGateways(base_table, dynamodb), DynamoPiles(base_table, dynamodb))


def reset() -> None:
    """Forget built clients (tests start a fresh embedded AWS per test)."""
    ports.cache_clear()
    websocket.cache_clear()
    resumer.cache_clear()
