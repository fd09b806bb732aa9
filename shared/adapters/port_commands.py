"""The adapters port commands to e-bike (Modbus) piles run on, composed once so the operator
API's port commands and e-bike paid charging build them the same way: the command store
(SessionsTable, reading the piles of BaseDataTable) and the publisher of the gateway's down
topic (iot-data).

Nothing here reads the environment: wiring passes table names, clients and the prefix
(``setup_from`` picks them out of the mapping wiring hands it, ``os.environ``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict, Unpack

from shared.adapters.dynamodb.modbus_commands import DynamoModbusCommands
from shared.adapters.iot_publish import IotDataPublisher
from shared.domain.clock import Clock
from shared.domain.ids import NewId
from shared.services.modbus_commands import ModbusCommandPorts


class PortCommandSetup(TypedDict):
    """What every builder of port-command adapters is given (keyword arguments)."""

    sessions_table: str
    base_data_table: str
    dynamodb: Any
    iot_data: Any
    topic_prefix: str
    clock: Clock
    new_id: NewId


def setup_from(
    environ: Mapping[str, str], *, dynamodb: Any, iot_data: Any, clock: Clock, new_id: NewId
) -> PortCommandSetup:
    """The setup a function's environment names: ``SESSIONS_TABLE``, ``BASE_DATA_TABLE``
    and ``IOT_DOWN_TOPIC_PREFIX`` (default ``gw``, as the template's)."""
    return PortCommandSetup(
        sessions_table=environ["SESSIONS_TABLE"],
        base_data_table=environ["BASE_DATA_TABLE"],
        dynamodb=dynamodb,
        iot_data=iot_data,
        topic_prefix=environ.get("IOT_DOWN_TOPIC_PREFIX", "gw"),
        clock=clock,
        new_id=new_id,
    )


def port_command_ports(**setup: Unpack[PortCommandSetup]) -> ModbusCommandPorts:
    """Port commands: stored (and their piles read) by one ``DynamoModbusCommands``,
    published to ``{topic_prefix}/{gateway}/down`` through ``iot_data``."""
    store = DynamoModbusCommands(
        setup["sessions_table"], setup["base_data_table"], setup["dynamodb"]
    )
    return ModbusCommandPorts(
        commands=store,
        piles=store,
        publisher=IotDataPublisher(setup["iot_data"]),
        clock=setup["clock"],
        new_id=setup["new_id"],
        topic_prefix=setup["topic_prefix"],
    )
