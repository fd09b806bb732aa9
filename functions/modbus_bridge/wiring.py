"""Clients, stores and the RTU decoder of the Modbus bridge, built once per container.

boto3, the adapters and the services are imported inside the builders, on the first
message, so importing the handler stays cheap (``python -m bench --only imports``).
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any

from shared.domain.clock import Clock, system_clock
from shared.domain.ids import new_id

if TYPE_CHECKING:
    from functions.modbus_bridge.rtu import PymodbusRtuDecoder
    from shared.adapters.dynamodb.gateways import DynamoGateways
    from shared.adapters.dynamodb.modbus_commands import DynamoModbusCommands
    from shared.adapters.iot_publish import IotDataPublisher
    from shared.domain.modbus_commands import ModbusCommand, WriteAnswer
    from shared.domain.modbus_readings import PortReading, PortState
    from shared.services.modbus_commands import CommandListener
    from shared.services.modbus_uplink import PortEvents, Transparent, UplinkPorts
    from shared.services.paid_charging import PaidChargePorts

clock: Clock = system_clock
# Tests may replace these; None = e-bike paid charging (``paid()``) listens, as deployed.
port_events: PortEvents | None = None
command_listener: CommandListener | None = None


@functools.cache
def paid() -> PaidChargePorts:
    """Paid charging of e-bike ports (live price and stop, workflow resume), built on the
    first reading or answer that needs it: its modules and clients cost cold-start time."""
    import boto3

    from shared.adapters.ebike_charging import bridge_paid_ports

    return bridge_paid_ports(
        sessions_table=os.environ["SESSIONS_TABLE"],
        base_data_table=os.environ["BASE_DATA_TABLE"],
        dynamodb=_dynamodb(),
        iot_data=boto3.client("iot-data"),
        stepfunctions=boto3.client("stepfunctions"),
        topic_prefix=os.environ.get("IOT_DOWN_TOPIC_PREFIX", "gw"),
        clock=clock,
        new_id=new_id,
    )


class PaidPortEvents:
    """``PortEvents`` of the deployed bridge: readings and states go to e-bike paid charging."""

    def reading(self, pile_id: str, port_no: int, reading: PortReading) -> None:
        _events().reading(pile_id, port_no, reading)

    def state(self, pile_id: str, port_no: int, state: PortState) -> None:
        _events().state(pile_id, port_no, state)


def _events() -> PortEvents:
    if port_events is not None:
        return port_events
    from shared.services.ebike_charging import EbikePortEvents

    return EbikePortEvents(paid())


def _listener(command: ModbusCommand) -> None:
    if command_listener is not None:
        command_listener(command)
        return
    from shared.services.ebike_charging import command_finished

    command_finished(paid(), command)


class CommandAnswers:
    """``WriteAnswers``: a write echo or exception ends the port command it answers."""

    def __init__(self, commands: DynamoModbusCommands) -> None:
        self._commands = commands

    def answer(self, answer: WriteAnswer) -> None:
        from shared.services.modbus_commands import write_answered

        write_answered(answer, commands=self._commands, clock=clock, on_finished=_listener)


class GatewayDownLink:
    """``DownLink``: raw bytes to ``{IOT_DOWN_TOPIC_PREFIX}/{gateway_id}/down``."""

    def __init__(self, publisher: IotDataPublisher, prefix: str) -> None:
        self._publisher = publisher
        self._prefix = prefix

    def publish(self, gateway_id: str, payload: bytes) -> None:
        self._publisher.publish(f"{self._prefix}/{gateway_id}/down", payload)


@functools.cache
def _dynamodb() -> Any:
    import boto3

    return boto3.client("dynamodb")


@functools.cache
def gateways() -> DynamoGateways:
    from shared.adapters.dynamodb.gateways import DynamoGateways

    return DynamoGateways(
        os.environ["BASE_DATA_TABLE"], _dynamodb(), stats_table=os.environ.get("STATS_TABLE")
    )


@functools.cache
def decoder() -> PymodbusRtuDecoder:
    from functions.modbus_bridge.rtu import PymodbusRtuDecoder

    return PymodbusRtuDecoder()


@functools.cache
def uplink() -> UplinkPorts:
    from shared.adapters.dynamodb.gateways import DynamoSiteLoads
    from shared.adapters.dynamodb.modbus_commands import DynamoModbusCommands
    from shared.adapters.dynamodb.piles import DynamoPileFaults, DynamoPiles
    from shared.adapters.dynamodb.port_readings import DynamoPortReadings
    from shared.domain.modbus_maps import shipped_maps
    from shared.services.modbus_uplink import UplinkPorts

    client = _dynamodb()
    sessions = os.environ["SESSIONS_TABLE"]
    piles = DynamoPiles(os.environ["BASE_DATA_TABLE"], client)
    return UplinkPorts(
        gateways=gateways(),
        decoder=decoder(),
        readings=DynamoPortReadings(sessions, client),
        statuses=piles,
        presence=piles,
        faults=DynamoPileFaults(os.environ["FAULTS_TABLE"], client),
        site_loads=DynamoSiteLoads(sessions, client),
        maps=shipped_maps(),
        events=PaidPortEvents(),
        write_answers=CommandAnswers(
            DynamoModbusCommands(sessions, os.environ["BASE_DATA_TABLE"], client)
        ),
    )


@functools.cache
def transparent() -> Transparent:
    import boto3

    from shared.adapters.iot_publish import IotDataPublisher
    from shared.services.modbus_uplink import Transparent

    return Transparent(
        downlink=GatewayDownLink(
            IotDataPublisher(boto3.client("iot-data")),
            os.environ.get("IOT_DOWN_TOPIC_PREFIX", "gw"),
        ),
        encoder=decoder(),
    )


def reset() -> None:
    """Forget built clients (tests start a fresh embedded AWS per test)."""
    for cached in (_dynamodb, gateways, decoder, uplink, transparent, paid):
        cached.cache_clear()
