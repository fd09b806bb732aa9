"""Port commands on moto: the DynamoDB store (command + open pointer, GSI2 of pending
commands, pages), the iot-data publisher, and the whole issue -> echo / timeout path."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from shared.adapters.dynamodb.base_data_items import encode_item, pile_item
from shared.adapters.dynamodb.modbus_commands import DynamoModbusCommands
from shared.adapters.iot_publish import IotDataPublisher
from shared.domain.errors import InvalidInput, UpstreamFailure
from shared.domain.modbus_commands import CommandStatus, PortCommand, PortCommandKind, WriteAnswer
from shared.domain.tenancy import Principal, Role
from shared.services import modbus_commands as service
from shared.services.modbus_commands import ModbusCommandPorts
from tests.unit.modbus_command_fakes import GATEWAY, OPERATOR, FakePublisher, an_ebike_pile

ADMIN = Principal("alice", Role.OPERATOR_ADMIN, OPERATOR)


@pytest.fixture
def store(aws: dict[str, str]) -> DynamoModbusCommands:
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.put_item(TableName=aws["BASE_DATA_TABLE"], Item=encode_item(pile_item(an_ebike_pile())))
    return DynamoModbusCommands(aws["SESSIONS_TABLE"], aws["BASE_DATA_TABLE"], client)


def ports(store: DynamoModbusCommands, clock: Any, new_id: Any) -> ModbusCommandPorts:
    return ModbusCommandPorts(
        commands=store, piles=store, publisher=FakePublisher(), clock=clock, new_id=new_id
    )


def test_pile_is_read_from_base_data(store: DynamoModbusCommands) -> None:
    pile = store.get_pile("EB-1")
    assert pile is not None and pile.gateway_id == GATEWAY and pile.modbus_address == 1
    assert store.get_pile("NOPE") is None


def test_command_round_trips_and_echo_confirms_it_through_the_pointer(
    store: DynamoModbusCommands, clock: Any, new_id: Any
) -> None:
    world = ports(store, clock, new_id)
    sent = service.issue_port_command(
        ADMIN,
        "EB-1",
        PortCommand(
            PortCommandKind.START, 3, power_limit_w=500, time_limit_min=60, energy_limit_wh=0
        ),
        world,
    )
    assert store.get("EB-1", sent.command_id) == sent
    assert store.open_for_write(GATEWAY, 1, 16, sent.register, 4) == sent
    assert store.open_for_device(GATEWAY, 1) == [sent]
    answer = WriteAnswer(GATEWAY, 1, 16, address=sent.register, value=4)
    done = service.write_answered(answer, commands=store, clock=clock)
    assert done is not None and done.status is CommandStatus.CONFIRMED
    stored = store.get("EB-1", sent.command_id)
    assert stored is not None and stored.status is CommandStatus.CONFIRMED
    assert stored.finished_at == clock()
    assert store.open_for_write(GATEWAY, 1, 16, sent.register, 4) is None
    assert service.write_answered(answer, commands=store, clock=clock) is None


def test_pending_commands_time_out_from_the_index_once(
    store: DynamoModbusCommands, clock: Any, new_id: Any
) -> None:
    world = ports(store, clock, new_id)
    first = service.issue_port_command(ADMIN, "EB-1", PortCommand(PortCommandKind.STOP, 1), world)
    clock.advance(seconds=30)
    second = service.issue_port_command(ADMIN, "EB-1", PortCommand(PortCommandKind.STOP, 2), world)
    clock.advance(seconds=31)
    assert [c.command_id for c in store.due(clock(), 10)] == [first.command_id]
    timeouts = service.time_out_due_commands(commands=store, clock=clock)
    assert [c.command_id for c in timeouts.timed_out] == [first.command_id]
    assert service.time_out_due_commands(commands=store, clock=clock).timed_out == ()
    stored = store.get("EB-1", first.command_id)
    assert stored is not None and stored.status is CommandStatus.TIMED_OUT
    assert stored.error_description is not None
    page, token = store.recent("EB-1", 1, None)
    assert [c.command_id for c in page] == [second.command_id] and token is not None
    page, _ = store.recent("EB-1", 5, token)
    assert [c.command_id for c in page] == [first.command_id]
    with pytest.raises(InvalidInput):
        store.recent("EB-1", 5, "bm90LW91cnM")


def test_iot_data_publisher_publishes_and_wraps_failures(aws: dict[str, str]) -> None:
    client = boto3.client("iot-data", region_name="us-east-1")
    IotDataPublisher(client).publish("gw/GW-1/down", b"\x01\x06\x01\x02\x00\x00\x29\xf6")

    class Broken:
        def publish(self, **_: Any) -> None:
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url="http://nowhere")

    with pytest.raises(UpstreamFailure):
        IotDataPublisher(Broken()).publish("gw/GW-1/down", b"\x00")


def test_start_and_stop_on_one_register_are_both_outstanding_and_confirmed_out_of_order(
    store: DynamoModbusCommands, clock: Any, new_id: Any
) -> None:
    world = ports(store, clock, new_id)
    start = service.issue_port_command(
        ADMIN,
        "EB-1",
        PortCommand(PortCommandKind.START, 2, power_limit_w=0, time_limit_min=0, energy_limit_wh=0),
        world,
    )
    clock.advance(seconds=1)
    stop = service.issue_port_command(ADMIN, "EB-1", PortCommand(PortCommandKind.STOP, 2), world)
    assert start.register == stop.register
    assert {c.command_id for c in store.open_for_device(GATEWAY, 1)} == {
        start.command_id,
        stop.command_id,
    }
    stray = WriteAnswer(GATEWAY, 1, 6, address=stop.register, value=stop.values[0] + 1)
    assert service.write_answered(stray, commands=store, clock=clock) is None

    stopped = service.write_answered(
        WriteAnswer(GATEWAY, 1, 6, address=stop.register, value=stop.values[0]),
        commands=store,
        clock=clock,
    )
    started = service.write_answered(
        WriteAnswer(GATEWAY, 1, 16, address=start.register, value=len(start.values)),
        commands=store,
        clock=clock,
    )

    assert stopped is not None and stopped.command_id == stop.command_id
    assert started is not None and started.command_id == start.command_id
    assert store.open_for_device(GATEWAY, 1) == []
