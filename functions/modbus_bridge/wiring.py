"""Clients, stores and the RTU decoder of the Modbus bridge, built once per container."""

from __future__ import annotations

import functools
import os

import boto3

from functions.modbus_bridge.rtu import PymodbusRtuDecoder
from shared.adapters.dynamodb.gateways import DynamoGateways, DynamoSiteLoads
from shared.adapters.dynamodb.modbus_commands import DynamoModbusCommands
from shared.adapters.dynamodb.piles import DynamoPileFaults, DynamoPiles
from shared.adapters.dynamodb.port_readings import DynamoPortReadings
from shared.adapters.iot_publish import IotDataPublisher
from shared.domain.clock import Clock, system_clock
from shared.domain.modbus_commands import WriteAnswer
from shared.domain.modbus_maps import shipped_maps
from shared.services.modbus_commands import CommandListener, write_answered
from shared.services.modbus_uplink import NoPortEvents, PortEvents, Transparent, UplinkPorts

clock: Clock = system_clock
# The e-bike session side replaces these (default: nothing listens).
port_events: PortEvents = NoPortEvents()
command_listener: CommandListener | None = None


class CommandAnswers:
    """``WriteAnswers``: a write echo or exception ends the port command it answers."""

    def __init__(self, commands: DynamoModbusCommands) -> None:
        self._commands = commands

    def answer(self, answer: WriteAnswer) -> None:
        write_answered(answer, commands=self._commands, clock=clock, on_finished=command_listener)


class GatewayDownLink:
    """``DownLink``: raw bytes to ``{IOT_DOWN_TOPIC_PREFIX}/{gateway_id}/down``."""

    def __init__(self, publisher: IotDataPublisher, prefix: str) -> None:
        self._publisher = publisher
        self._prefix = prefix

    def publish(self, gateway_id: str, payload: bytes) -> None:
        self._publisher.publish(f"{self._prefix}/{gateway_id}/down", payload)


@functools.cache
def _dynamodb() -> object:
    return boto3.client("dynamodb")


@functools.cache
def gateways() -> DynamoGateways:
    return DynamoGateways(
        os.environ["BASE_DATA_TABLE"], _dynamodb(), stats_table=os.environ.get("STATS_TABLE")
    )


@functools.cache
def decoder() -> PymodbusRtuDecoder:
    return PymodbusRtuDecoder()


@functools.cache
def uplink() -> UplinkPorts:
    client = _dynamodb()
    sessions = os.environ["SESSIONS_TABLE"]
    return UplinkPorts(
        gateways=gateways(),
        decoder=decoder(),
        readings=DynamoPortReadings(sessions, client),
        statuses=DynamoPiles(os.environ["BASE_DATA_TABLE"], client),
        faults=DynamoPileFaults(os.environ["FAULTS_TABLE"], client),
        site_loads=DynamoSiteLoads(sessions, client),
        maps=shipped_maps(),
        events=port_events,
        write_answers=CommandAnswers(
            DynamoModbusCommands(sessions, os.environ["BASE_DATA_TABLE"], client)
        ),
    )


@functools.cache
def transparent() -> Transparent:
    return Transparent(
        downlink=GatewayDownLink(
            IotDataPublisher(boto3.client("iot-data")),
            os.environ.get("IOT_DOWN_TOPIC_PREFIX", "gw"),
        ),
        encoder=decoder(),
    )


def reset() -> None:
    """Forget built clients (tests start a fresh embedded AWS per test)."""
    for cached in (_dynamodb, gateways, decoder, uplink, transparent):
        cached.cache_clear()
