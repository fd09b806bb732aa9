"""Port commands on fakes: golden RTU write frames, issuing with role/tenancy/validation,
the echo confirming, an exception rejecting, housekeeping timing out."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU

from shared.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.domain.gateways import has_valid_crc
from shared.domain.modbus_commands import (
    CommandStatus,
    PortCommand,
    PortCommandKind,
    RegisterWrite,
    WriteAnswer,
    default_control,
    write_for,
    write_frame,
)
from shared.domain.modbus_maps import ControlLayout, ControlRegister
from shared.domain.piles import PileProtocol
from shared.domain.tenancy import Principal, Role
from shared.services import modbus_commands as service
from shared.services.modbus_commands import ModbusCommandPorts
from tests.unit.modbus_command_fakes import (
    GATEWAY,
    OPERATOR,
    FakeCommands,
    FakePiles,
    FakePublisher,
    an_ebike_pile,
)

CONTROL = default_control()
ADMIN = Principal("alice", Role.OPERATOR_ADMIN, OPERATOR)
OTHER = Principal("mallory", Role.OPERATOR_ADMIN, "op-2")


class World:
    def __init__(self, clock: Any, new_id: Any) -> None:
        self.commands = FakeCommands()
        self.publisher = FakePublisher()
        self.finished: list[Any] = []
        self.clock = clock
        self.ports = ModbusCommandPorts(
            commands=self.commands,
            piles=FakePiles(
                an_ebike_pile(),
                an_ebike_pile(
                    pile_id="CAR-1",
                    kind="car",
                    protocol=PileProtocol.OCPP16,
                    gun_count=2,
                    gateway_id=None,
                    modbus_address=None,
                    password_hash="x" * 20,
                ),
            ),
            publisher=self.publisher,
            clock=clock,
            new_id=new_id,
        )

    def answer(self, **fields: Any) -> Any:
        return service.write_answered(
            WriteAnswer(gateway_id=GATEWAY, **fields),
            commands=self.commands,
            clock=self.clock,
            on_finished=self.finished.append,
        )


@pytest.fixture
def world(clock: Any, new_id: Any) -> World:
    return World(clock, new_id)


def test_start_is_one_function_16_write_of_the_whole_control_block_golden_frame() -> None:
    command = PortCommand(
        PortCommandKind.START, 3, power_limit_w=500, time_limit_min=60, energy_limit_wh=0
    )
    write = write_for(command, CONTROL, 1)
    assert write == RegisterWrite(1, 16, 0x0108, (1, 500, 60, 0))
    # address 01, fc 10, start 0x0108, 4 registers, 8 bytes, start, 500 W, 60 min, 0 Wh, CRC
    assert write_frame(write).hex() == "01100108000408000101f4003c000035ec"


@pytest.mark.parametrize(
    ("command", "device", "golden"),
    [
        (PortCommand(PortCommandKind.STOP, 1), 1, "01060100000209f7"),
        (PortCommand(PortCommandKind.POWER_LIMIT, 2, power_limit_w=800), 7, "0706010503209979"),
        (PortCommand(PortCommandKind.TIME_LIMIT, 10, time_limit_min=120), 1, "01060126007869df"),
    ],
)
def test_stop_and_limits_are_function_06_golden_frames(
    command: PortCommand, device: int, golden: str
) -> None:
    frame = write_frame(write_for(command, CONTROL, device))
    assert frame.hex() == golden
    assert has_valid_crc(frame)


def test_start_needs_a_control_block_without_gaps() -> None:
    gappy = ControlLayout(256, 4, (ControlRegister("command", 0, "", {1: "start", 2: "stop"}),))
    with pytest.raises(InvalidInput):
        write_for(PortCommand(PortCommandKind.START, 1, 0, 0, 0), gappy, 1)


@given(
    device=st.integers(1, 247),
    address=st.integers(0, 0xFFF0),
    values=st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=10),
)
def test_write_frames_decode_back_to_the_same_write_as_a_device_reads_them(
    device: int, address: int, values: list[int]
) -> None:
    function = 6 if len(values) == 1 else 16
    frame = write_frame(RegisterWrite(device, function, address, tuple(values)))
    assert has_valid_crc(frame)
    _, pdu = FramerRTU(DecodePDU(is_server=True)).handleFrame(frame, 0, 0)
    assert pdu is not None
    assert (pdu.dev_id, pdu.function_code, pdu.address, list(pdu.registers)) == (
        device,
        function,
        address,
        values,
    )


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (PortCommand(PortCommandKind.STOP, 11), "port_no"),
        (PortCommand(PortCommandKind.STOP, 0), "port_no"),
        (PortCommand(PortCommandKind.POWER_LIMIT, 1, power_limit_w=3001), "power_limit_w"),
        (PortCommand(PortCommandKind.POWER_LIMIT, 1), "power_limit_w"),
        (PortCommand(PortCommandKind.TIME_LIMIT, 1, time_limit_min=0), "time_limit_min"),
        (PortCommand(PortCommandKind.STOP, 1, time_limit_min=5), "time_limit_min"),
        (PortCommand(PortCommandKind.START, 1, power_limit_w=100), "time_limit_min"),
        (PortCommand(PortCommandKind.START, 1, 0, 0, -1), "energy_limit_wh"),
        (PortCommand(PortCommandKind.TIME_LIMIT, 1, time_limit_min=True), "time_limit_min"),
    ],
)
def test_bad_command_is_refused_and_nothing_stored_or_sent_when_out_of_range(
    world: World, command: PortCommand, field: str
) -> None:
    with pytest.raises(InvalidInput) as error:
        service.issue_port_command(ADMIN, "EB-1", command, world.ports)
    assert error.value.fields.get("field") == field
    assert world.commands.items == {} and world.publisher.published == []


def test_command_is_refused_when_pile_is_another_operators_or_not_modbus(world: World) -> None:
    stop = PortCommand(PortCommandKind.STOP, 1)
    with pytest.raises(NotFound):
        service.issue_port_command(OTHER, "EB-1", stop, world.ports)
    with pytest.raises(NotFound):
        service.issue_port_command(ADMIN, "NOPE", stop, world.ports)
    with pytest.raises(Conflict):
        service.issue_port_command(ADMIN, "CAR-1", stop, world.ports)
    assert world.commands.items == {} and world.publisher.published == []


def test_command_is_refused_when_role_is_not_staff_of_piles(world: World) -> None:
    stranger = Principal("carl", Role.OPERATOR_ADMIN, OPERATOR)
    object.__setattr__(stranger, "role", "driver")
    with pytest.raises(Forbidden):
        service.issue_port_command(
            stranger, "EB-1", PortCommand(PortCommandKind.STOP, 1), world.ports
        )
    assert world.commands.items == {} and world.publisher.published == []


def test_issued_command_is_stored_pending_then_published_to_the_down_topic(world: World) -> None:
    command = service.issue_port_command(
        ADMIN,
        "EB-1",
        PortCommand(
            PortCommandKind.START, 3, power_limit_w=500, time_limit_min=60, energy_limit_wh=0
        ),
        world.ports,
    )
    assert command.status is CommandStatus.PENDING
    assert command.requested_by == "alice" and command.operator_id == OPERATOR
    [(topic, payload)] = world.publisher.published
    assert topic == f"gw/{GATEWAY}/down"
    assert payload == write_frame(command.write)
    assert service.get_port_command(ADMIN, "EB-1", command.command_id, world.ports) == command
    with pytest.raises(NotFound):
        service.get_port_command(OTHER, "EB-1", command.command_id, world.ports)


def test_echo_confirms_the_command_once_when_it_repeats_the_write(world: World) -> None:
    command = service.issue_port_command(
        ADMIN, "EB-1", PortCommand(PortCommandKind.POWER_LIMIT, 2, power_limit_w=800), world.ports
    )
    assert world.answer(device_address=1, function_code=6, address=0x0105, value=799) is None
    assert world.answer(device_address=2, function_code=6, address=0x0105, value=800) is None
    confirmed = world.answer(device_address=1, function_code=6, address=0x0105, value=800)
    assert confirmed is not None and confirmed.status is CommandStatus.CONFIRMED
    assert world.answer(device_address=1, function_code=6, address=0x0105, value=800) is None
    stored = world.commands.get("EB-1", command.command_id)
    assert stored is not None and stored.status is CommandStatus.CONFIRMED
    assert [c.command_id for c in world.finished] == [command.command_id]


def test_function_16_echo_carries_the_count_written(world: World) -> None:
    service.issue_port_command(
        ADMIN,
        "EB-1",
        PortCommand(PortCommandKind.START, 1, power_limit_w=0, time_limit_min=0, energy_limit_wh=0),
        world.ports,
    )
    confirmed = world.answer(device_address=1, function_code=16, address=0x0100, value=4)
    assert confirmed is not None and confirmed.status is CommandStatus.CONFIRMED


def test_exception_response_rejects_the_oldest_open_write_of_that_function(world: World) -> None:
    first = service.issue_port_command(
        ADMIN, "EB-1", PortCommand(PortCommandKind.STOP, 1), world.ports
    )
    world.clock.advance(seconds=1)
    service.issue_port_command(ADMIN, "EB-1", PortCommand(PortCommandKind.STOP, 2), world.ports)
    rejected = world.answer(device_address=1, function_code=6, exception_code=2)
    assert rejected is not None and rejected.command_id == first.command_id
    assert rejected.status is CommandStatus.REJECTED and rejected.exception_code == 2
    assert world.answer(device_address=1, function_code=16, exception_code=2) is None


def test_housekeeping_times_out_unconfirmed_commands_once(world: World) -> None:
    command = service.issue_port_command(
        ADMIN, "EB-1", PortCommand(PortCommandKind.STOP, 4), world.ports
    )
    assert service.time_out_due_commands(commands=world.commands, clock=world.clock).timed_out == ()
    world.clock.advance(seconds=61)
    done = service.time_out_due_commands(
        commands=world.commands, clock=world.clock, on_finished=world.finished.append
    )
    assert [c.command_id for c in done.timed_out] == [command.command_id]
    assert done.timed_out[0].status is CommandStatus.TIMED_OUT
    assert service.time_out_due_commands(commands=world.commands, clock=world.clock).timed_out == ()
    # a late echo changes nothing
    assert world.answer(device_address=1, function_code=6, address=0x010C, value=2) is None
    assert command.timeout_at == command.created_at + timedelta(seconds=60)


def start_and_stop(world: World, port_no: int = 1) -> tuple[Any, Any]:
    start = service.issue_port_command(
        ADMIN,
        "EB-1",
        PortCommand(
            PortCommandKind.START, port_no, power_limit_w=0, time_limit_min=0, energy_limit_wh=0
        ),
        world.ports,
    )
    world.clock.advance(seconds=2)
    stop = service.issue_port_command(
        ADMIN, "EB-1", PortCommand(PortCommandKind.STOP, port_no), world.ports
    )
    assert start.register == stop.register  # both write the port's command register
    return start, stop


def stop_value() -> int:
    return CONTROL.value("command", "stop")


def test_stop_sent_before_the_starts_echo_leaves_both_outstanding_and_each_echo_matches(
    world: World,
) -> None:
    start, stop = start_and_stop(world)

    started = world.answer(device_address=1, function_code=16, address=start.register, value=4)
    stopped = world.answer(
        device_address=1, function_code=6, address=stop.register, value=stop_value()
    )

    assert started is not None and started.command_id == start.command_id
    assert stopped is not None and stopped.command_id == stop.command_id
    assert [c.command_id for c in world.finished] == [start.command_id, stop.command_id]
    assert all(c.status is CommandStatus.CONFIRMED for c in world.finished)


def test_echoes_out_of_order_still_match_their_own_commands(world: World) -> None:
    start, stop = start_and_stop(world)

    stopped = world.answer(
        device_address=1, function_code=6, address=stop.register, value=stop_value()
    )
    started = world.answer(device_address=1, function_code=16, address=start.register, value=4)

    assert stopped is not None and stopped.command_id == stop.command_id
    assert started is not None and started.command_id == start.command_id
    for command in (start, stop):
        stored = world.commands.get("EB-1", command.command_id)
        assert stored is not None and stored.status is CommandStatus.CONFIRMED


def test_a_stray_echo_confirms_nothing_and_leaves_open_commands_pending(world: World) -> None:
    start, stop = start_and_stop(world)

    # another port's register, a value never written, a function never sent, a repeat
    assert (
        world.answer(device_address=1, function_code=6, address=start.register + 16, value=2)
        is None
    )
    assert world.answer(device_address=1, function_code=6, address=stop.register, value=77) is None
    assert world.answer(device_address=1, function_code=16, address=start.register, value=1) is None
    assert world.answer(device_address=1, function_code=16, address=start.register, value=4)
    assert world.answer(device_address=1, function_code=16, address=start.register, value=4) is None

    assert world.finished[-1].command_id == start.command_id and len(world.finished) == 1
    pending = world.commands.get("EB-1", stop.command_id)
    assert pending is not None and pending.status is CommandStatus.PENDING


def test_identical_writes_are_confirmed_oldest_first(world: World) -> None:
    first = service.issue_port_command(
        ADMIN, "EB-1", PortCommand(PortCommandKind.STOP, 1), world.ports
    )
    world.clock.advance(seconds=1)
    second = service.issue_port_command(
        ADMIN, "EB-1", PortCommand(PortCommandKind.STOP, 1), world.ports
    )

    one = world.answer(
        device_address=1, function_code=6, address=first.register, value=stop_value()
    )
    two = world.answer(
        device_address=1, function_code=6, address=first.register, value=stop_value()
    )

    assert one is not None and two is not None
    assert [one.command_id, two.command_id] == [first.command_id, second.command_id]


@given(order=st.permutations(["start", "stop", "stray"]))
def test_any_order_of_two_echoes_and_a_stray_confirms_exactly_the_two(order: list[str]) -> None:
    from tests.conftest import FixedClock

    counter = iter(range(1, 1000))
    world = World(FixedClock(), lambda prefix: f"{prefix}-{next(counter):020d}")
    start, stop = start_and_stop(world)
    echoes = {
        "start": {"function_code": 16, "address": start.register, "value": 4},
        "stop": {"function_code": 6, "address": stop.register, "value": stop_value()},
        "stray": {"function_code": 6, "address": stop.register, "value": 999},
    }
    for name in order:
        world.answer(device_address=1, **echoes[name])
    assert sorted(c.command_id for c in world.finished) == sorted(
        [start.command_id, stop.command_id]
    )
