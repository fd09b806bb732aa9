"""The operator API and e-bike paid charging compose port commands through one builder
(``shared.adapters.port_commands.port_command_ports``): same store, publisher and prefix."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import boto3
import pytest

from functions.operator_api import wiring
from shared.adapters.dynamodb.modbus_commands import DynamoModbusCommands
from shared.adapters.dynamodb.paid_charging import DynamoPaidCharges
from shared.adapters.ebike_charging import driver_stop_ports, ebike_ports
from shared.adapters.iot_publish import IotDataPublisher
from shared.adapters.port_commands import PortCommandSetup
from shared.services.modbus_commands import ModbusCommandPorts


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("SESSIONS_TABLE", "sessions")
    monkeypatch.setenv("BASE_DATA_TABLE", "base")
    monkeypatch.setenv("IOT_DOWN_TOPIC_PREFIX", "gwx")
    wiring.port_command_ports.cache_clear()
    wiring._dynamodb_client.cache_clear()
    yield
    wiring.port_command_ports.cache_clear()
    wiring._dynamodb_client.cache_clear()


def test_operator_wiring_builds_port_commands_from_the_env(env: Any) -> None:
    ports = wiring.port_command_ports()
    assert isinstance(ports, ModbusCommandPorts)
    assert isinstance(ports.commands, DynamoModbusCommands) and ports.piles is ports.commands
    assert isinstance(ports.publisher, IotDataPublisher)
    assert ports.topic_prefix == "gwx"
    assert ports.clock is wiring.clock and ports.new_id is wiring.make_id


def a_setup(topic_prefix: str) -> PortCommandSetup:
    def clock() -> datetime:
        raise AssertionError("not called")

    def new_id(prefix: str) -> str:
        return f"{prefix}-1"

    return PortCommandSetup(
        sessions_table="sessions",
        base_data_table="base",
        dynamodb=boto3.client("dynamodb"),
        iot_data=boto3.client("iot-data"),
        topic_prefix=topic_prefix,
        clock=clock,
        new_id=new_id,
    )


def test_ebike_ports_use_the_same_composition(env: Any) -> None:
    setup = a_setup("gwy")
    built = ebike_ports(**setup).commands
    assert isinstance(built.commands, DynamoModbusCommands) and built.piles is built.commands
    assert isinstance(built.publisher, IotDataPublisher)
    assert built.topic_prefix == "gwy"
    assert built.clock is setup["clock"] and built.new_id is setup["new_id"]


def test_driver_stop_ports_use_the_same_composition(env: Any) -> None:
    built = driver_stop_ports(**a_setup("gwz"))
    assert isinstance(built.paid_charges, DynamoPaidCharges)
    assert isinstance(built.commands.commands, DynamoModbusCommands)
    assert built.commands.topic_prefix == "gwz"


def test_setup_from_reads_the_tables_and_the_default_prefix() -> None:
    from shared.adapters.port_commands import setup_from

    setup = setup_from(
        {"SESSIONS_TABLE": "s", "BASE_DATA_TABLE": "b"},
        dynamodb="ddb",
        iot_data="iot",
        clock=wiring.clock,
        new_id=wiring.make_id,
    )
    assert (setup["sessions_table"], setup["base_data_table"], setup["topic_prefix"]) == (
        "s",
        "b",
        "gw",
    )
    assert (setup["dynamodb"], setup["iot_data"]) == ("ddb", "iot")
