"""The adapters CSMS-initiated calls to OCPP piles run on, composed once so every function's
wiring builds them the same way: the pile-command service's ports (the operator and driver
APIs) and paid charging's ports (the payments function and housekeeping), which send the
remote start and stop through the same pile routes, remote-call store, schemas and sender.

Nothing here reads the environment: wiring passes table names, clients and the endpoint.
Wiring imports this module inside its cached builders, so a cold start pays for these
adapters only when a request first commands a pile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3

from shared.adapters.apigw_ws import WebSocketConnections
from shared.adapters.dynamodb.connections import DynamoPendingCalls
from shared.adapters.dynamodb.piles import DynamoPiles
from shared.adapters.ocpp_schemas import OcppSchemas
from shared.domain.clock import Clock
from shared.domain.ids import NewId
from shared.services.ocpp.commands import CommandPorts
from shared.services.ocpp.ports import FrameSender

if TYPE_CHECKING:
    from shared.services.paid_charging import PaidChargePorts
    from shared.services.workflow_ports import WorkflowResumer


def websocket_sender(endpoint_url: str) -> WebSocketConnections:
    """The ``@connections`` API of the WebSocket stage at ``endpoint_url``: how a
    CSMS-initiated call reaches a pile."""
    return WebSocketConnections(boto3.client("apigatewaymanagementapi", endpoint_url=endpoint_url))


def pile_command_ports(
    *,
    base_data_table: str,
    sessions_table: str,
    dynamodb: Any,
    sender: FrameSender,
    clock: Clock,
    new_id: NewId,
) -> CommandPorts:
    """Remote commands to piles: pile routes (BaseDataTable), the remote calls waiting for
    their answer (SessionsTable), the official OCPP schemas and the sender."""
    return CommandPorts(
        piles=DynamoPiles(base_data_table, dynamodb),
        pending_calls=DynamoPendingCalls(sessions_table, dynamodb),
        schemas=OcppSchemas(),
        sender=sender,
        clock=clock,
        new_id=new_id,
    )


def paid_charge_ports(
    *,
    commands: CommandPorts,
    sessions_table: str,
    base_data_table: str,
    dynamodb: Any,
    workflow: WorkflowResumer,
    iot_data: Any,
    topic_prefix: str,
) -> PaidChargePorts:
    """Paid charging on OCPP piles (the remote start and stop go out through ``commands``'
    pile routes, remote-call store, schemas and sender) and on e-bike ports (port commands
    published through the gateway's down topic), resuming the payment workflow."""
    # Imported here: the APIs that only send commands never load paid charging.
    from shared.adapters.dynamodb.paid_charging import DynamoPaidCharges
    from shared.adapters.ebike_charging import paid_ports

    return paid_ports(
        commands=commands,
        paid_charges=DynamoPaidCharges(sessions_table, base_data_table, dynamodb),
        workflow=workflow,
        sessions_table=sessions_table,
        base_data_table=base_data_table,
        dynamodb=dynamodb,
        iot_data=iot_data,
        topic_prefix=topic_prefix,
    )
