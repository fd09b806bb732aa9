"""The adapters e-bike paid charging runs on, composed once so every function's wiring
builds them the same way (the payments function, the Modbus bridge, housekeeping).

Nothing here reads the environment: wiring passes table names, clients and the down-topic
prefix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Unpack

from shared.adapters.dynamodb.connections import DynamoPendingCalls
from shared.adapters.dynamodb.paid_charging import DynamoPaidCharges
from shared.adapters.dynamodb.piles import DynamoPiles
from shared.adapters.dynamodb.port_readings import DynamoPortReadings
from shared.adapters.dynamodb.sessions import DynamoSessions
from shared.adapters.port_commands import PortCommandSetup, port_command_ports
from shared.adapters.stepfunctions import StepFunctionsResumer
from shared.domain.clock import Clock
from shared.domain.errors import Conflict
from shared.domain.ids import NewId
from shared.domain.ocpp.actions import Direction
from shared.domain.ocpp.versions import OcppVersion
from shared.services.ebike_charging import DriverStopPorts, EbikeChargePorts
from shared.services.paid_charging import PaidChargePorts

if TYPE_CHECKING:
    from shared.services.ocpp.commands import CommandPorts
    from shared.services.paid_charging import PaidChargeStore
    from shared.services.workflow_ports import WorkflowResumer


def ebike_ports(**setup: Unpack[PortCommandSetup]) -> EbikeChargePorts:
    """Port commands (SessionsTable, iot-data publish) and port readings (SessionsTable)."""
    return EbikeChargePorts(
        commands=port_command_ports(**setup),
        readings=DynamoPortReadings(setup["sessions_table"], setup["dynamodb"]),
    )


class NoOcppSender:
    """The sender of a function that commands no OCPP pile (the Modbus bridge)."""

    def post(self, connection_id: str, text: str) -> None:
        raise Conflict("this function sends nothing to OCPP piles")


class NoOcppSchemas:
    def validate(
        self, version: OcppVersion, action: str, direction: Direction, payload: dict[str, Any]
    ) -> None:
        raise Conflict("this function sends nothing to OCPP piles")


def paid_ports(
    *,
    commands: CommandPorts,
    paid_charges: PaidChargeStore,
    workflow: WorkflowResumer,
    sessions_table: str,
    base_data_table: str,
    dynamodb: Any,
    iot_data: Any,
    topic_prefix: str,
) -> PaidChargePorts:
    """Paid charging on OCPP piles (the remote start and stop go out through ``commands``'
    pile routes, remote-call store, schemas and sender) and on e-bike ports (port commands
    published through the gateway's down topic), resuming the payment workflow: the one
    composition ``bridge_paid_ports`` and ``pile_commands.paid_charge_ports`` share."""
    return PaidChargePorts(
        paid_charges=paid_charges,
        sessions=DynamoSessions(sessions_table, base_data_table, dynamodb),
        piles=commands.piles,
        pending_calls=commands.pending_calls,
        schemas=commands.schemas,
        sender=commands.sender,
        workflow=workflow,
        clock=commands.clock,
        new_id=commands.new_id,
        ebike=ebike_ports(
            sessions_table=sessions_table,
            base_data_table=base_data_table,
            dynamodb=dynamodb,
            iot_data=iot_data,
            topic_prefix=topic_prefix,
            clock=commands.clock,
            new_id=commands.new_id,
        ),
    )


def bridge_paid_ports(
    *,
    sessions_table: str,
    base_data_table: str,
    dynamodb: Any,
    iot_data: Any,
    stepfunctions: Any,
    topic_prefix: str,
    clock: Clock,
    new_id: NewId,
) -> PaidChargePorts:
    """Paid charging as the Modbus bridge runs it: e-bike ports only (its ``PortEvents``
    hook and port-command listener), resuming the payment workflow through Step Functions.
    """
    from shared.adapters.dynamodb.paid_ports import PaidChargesOnGateways
    from shared.services.ocpp.commands import CommandPorts

    return paid_ports(
        commands=CommandPorts(
            piles=DynamoPiles(base_data_table, dynamodb),
            pending_calls=DynamoPendingCalls(sessions_table, dynamodb),
            schemas=NoOcppSchemas(),
            sender=NoOcppSender(),
            clock=clock,
            new_id=new_id,
        ),
        # links and ends keep the gateway item's paid_ports (the bridge's paid-port lookup)
        paid_charges=PaidChargesOnGateways(sessions_table, base_data_table, dynamodb),
        workflow=StepFunctionsResumer(stepfunctions),
        sessions_table=sessions_table,
        base_data_table=base_data_table,
        dynamodb=dynamodb,
        iot_data=iot_data,
        topic_prefix=topic_prefix,
    )


def driver_stop_ports(**setup: Unpack[PortCommandSetup]) -> DriverStopPorts:
    """The driver API's stop of a paid e-bike charge: the order's marker and link
    (SessionsTable) and the port commands (iot-data publish)."""
    return DriverStopPorts(
        paid_charges=DynamoPaidCharges(
            setup["sessions_table"], setup["base_data_table"], setup["dynamodb"]
        ),
        commands=port_command_ports(**setup),
    )
