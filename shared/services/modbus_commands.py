"""Port commands to e-bike piles behind 4G gateways: issue, confirm by the write echo,
time out (see ``shared/domain/modbus_commands.py`` for the states).

Operators issue them like OCPP commands (``issue_port_command``: role, tenancy, a
validated command, its state readable by id); the payment workflow's e-bike side issues
them as the platform (``send_port_command``). The Modbus bridge calls ``write_answered``
for each write response (echo or exception) it decodes; housekeeping's minute job calls
``time_out_due_commands``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from shared.domain.clock import Clock
from shared.domain.errors import Conflict, NotFound
from shared.domain.ids import NewId
from shared.domain.modbus_commands import (
    NOT_CONFIRMED,
    CommandStatus,
    ModbusCommand,
    PortCommand,
    WriteAnswer,
    command_for,
    default_control,
    write_frame,
)
from shared.domain.ocpp.remote_calls import call_message_id
from shared.domain.piles import Pile, PileProtocol
from shared.domain.tenancy import Principal, Role
from shared.observability import logger

if TYPE_CHECKING:
    from shared.domain.modbus_maps import ControlLayout

COMMAND_ROLES = (Role.OPERATOR_ADMIN, Role.MAINTENANCE)
HOUSEKEEPING_BATCH = 500
DOWN_TOPIC_PREFIX = "gw"


class ModbusCommandStore(Protocol):
    """Port commands (SessionsTable). Every method raises UpstreamFailure."""

    def create(self, command: ModbusCommand) -> None:
        """Store a new pending command and its open pointer (keyed by what its echo
        repeats: function, register, value or count)."""

    def get(self, pile_id: str, command_id: str) -> ModbusCommand | None:
        """One command (consistent read), or None."""

    def open_for_write(
        self,
        gateway_id: str,
        device_address: int,
        function_code: int,
        register: int,
        echo_value: int,
    ) -> ModbusCommand | None:
        """The oldest open command of the device whose write echoes as (function,
        register, value or count), or None."""

    def open_for_device(self, gateway_id: str, device_address: int) -> list[ModbusCommand]:
        """The device's open commands, oldest first."""

    def finish(
        self,
        command: ModbusCommand,
        status: CommandStatus,
        now: datetime,
        *,
        exception_code: int | None = None,
        error_description: str | None = None,
    ) -> bool:
        """pending -> ``status``; False when it was no longer pending."""

    def due(self, now: datetime, limit: int) -> list[ModbusCommand]:
        """Pending commands whose ``timeout_at`` has passed, earliest first (an index)."""

    def recent(
        self, pile_id: str, limit: int, next_token: str | None
    ) -> tuple[list[ModbusCommand], str | None]:
        """The pile's commands, newest first. Raises also InvalidInput (foreign token)."""


class ModbusPiles(Protocol):
    def get_pile(self, pile_id: str) -> Pile | None:
        """The pile's base-data record. Raises: UpstreamFailure."""


class DownlinkPublisher(Protocol):
    def publish(self, topic: str, payload: bytes) -> None:
        """Publish to the gateway's down topic (QoS 1). Raises: UpstreamFailure."""


# Called once a command ends (confirmed, rejected, timed out): paid charging listens.
CommandListener = Callable[[ModbusCommand], object]


@dataclass(frozen=True, slots=True)
class ModbusCommandPorts:
    commands: ModbusCommandStore
    piles: ModbusPiles
    publisher: DownlinkPublisher
    clock: Clock
    new_id: NewId
    control: ControlLayout = field(default_factory=default_control)
    topic_prefix: str = DOWN_TOPIC_PREFIX  # the template's IOT_DOWN_TOPIC_PREFIX


def down_topic(gateway_id: str, prefix: str = DOWN_TOPIC_PREFIX) -> str:
    return f"{prefix}/{gateway_id}/down"


def modbus_pile(pile_id: str, operator_id: str | None, piles: ModbusPiles) -> Pile:
    """The Modbus pile ``pile_id`` of ``operator_id`` (None: any, the platform itself).

    Raises:
        NotFound: no such pile, or another operator's.
        Conflict: the pile does not speak Modbus.
    """
    pile = piles.get_pile(pile_id)
    if pile is None or (operator_id is not None and pile.operator_id != operator_id):
        raise NotFound(f"pile {pile_id} not found", kind="pile", id=pile_id)
    if pile.protocol is not PileProtocol.MODBUS or pile.gateway_id is None:
        raise Conflict("the pile does not speak Modbus", pile_id=pile_id)
    return pile


def issue_port_command(
    principal: Principal, pile_id: str, command: PortCommand, ports: ModbusCommandPorts
) -> ModbusCommand:
    """Write ``command`` to the port of the caller's Modbus pile.

    DynamoDB: 1 GetItem (pile), 1 TransactWriteItems (command + open pointer).
    IoT: 1 Publish.

    Raises:
        Forbidden: the role may not command piles.
        NotFound: no such pile, or another operator's.
        Conflict: not a Modbus pile.
        InvalidInput: a port or value out of range.
        UpstreamFailure: DynamoDB or IoT failed.
    """
    principal.require_role(*COMMAND_ROLES)
    pile = modbus_pile(pile_id, None, ports.piles)
    principal.require_operator(pile.operator_id, "pile", pile_id)
    return _send(pile, command, ports, requested_by=principal.username, purpose=None)


def send_port_command(
    pile: Pile,
    command: PortCommand,
    ports: ModbusCommandPorts,
    *,
    purpose: str | None,
    command_id: str | None = None,
) -> ModbusCommand:
    """The platform's own command (payment workflow), with the id minted beforehand when
    given; ``pile`` already checked to be Modbus. Costs and errors as
    ``issue_port_command``."""
    return _send(pile, command, ports, requested_by=None, purpose=purpose, command_id=command_id)


def _send(
    pile: Pile,
    command: PortCommand,
    ports: ModbusCommandPorts,
    *,
    requested_by: str | None,
    purpose: str | None,
    command_id: str | None = None,
) -> ModbusCommand:
    command.check(pile.gun_count)
    assert pile.gateway_id is not None and pile.modbus_address is not None
    now = ports.clock()
    stored = command_for(
        command,
        command_id=command_id or call_message_id(now, ports.new_id),
        pile_id=pile.pile_id,
        operator_id=pile.operator_id,
        gateway_id=pile.gateway_id,
        device_address=pile.modbus_address,
        control=ports.control,
        now=now,
        requested_by=requested_by,
        purpose=purpose,
    )
    frame = write_frame(stored.write)
    # Stored before it is published, so an echo faster than the write still finds it.
    ports.commands.create(stored)
    ports.publisher.publish(down_topic(pile.gateway_id, ports.topic_prefix), frame)
    logger.info("port command sent", extra=_keys(stored))
    return stored


def write_answered(
    answer: WriteAnswer,
    *,
    commands: ModbusCommandStore,
    clock: Clock,
    on_finished: CommandListener | None = None,
) -> ModbusCommand | None:
    """The bridge decoded a write response (echo or exception): end the open command it
    answers; None when it answers none (late, repeated, or not ours). An echo repeats the
    write's function, register and value (06) or count (16), so commands on one register
    outstanding together (a STOP sent before the START's echo) each get their own echo,
    whatever order the echoes come in; identical writes are answered oldest first.

    DynamoDB: 1 Query + 1 GetItem; 1 conditional UpdateItem + 1 DeleteItem (the pointer)
    when one matched.

    Raises: UpstreamFailure.
    """
    now = clock()
    if answer.exception_code is not None:
        candidates = [
            command
            for command in commands.open_for_device(answer.gateway_id, answer.device_address)
            if command.function_code == answer.function_code
        ]
        command = candidates[0] if candidates else None
        status = CommandStatus.REJECTED
    else:
        command = None
        if answer.address is not None and answer.value is not None:
            command = commands.open_for_write(
                answer.gateway_id,
                answer.device_address,
                answer.function_code,
                answer.address,
                answer.value,
            )
        if command is not None and not command.is_confirmed_by(answer):
            command = None
        status = CommandStatus.CONFIRMED
    if command is None:
        logger.info(
            "write answer matches no open command",
            extra={"gateway_id": answer.gateway_id, "device_address": answer.device_address},
        )
        return None
    description = (
        None
        if answer.exception_code is None
        else f"the device answered Modbus exception {answer.exception_code}"
    )
    if not commands.finish(
        command, status, now, exception_code=answer.exception_code, error_description=description
    ):
        return None
    finished = _finished(command, status, now, answer.exception_code, description)
    logger.info("port command answered", extra={**_keys(finished), "status": status.value})
    if on_finished is not None:
        on_finished(finished)
    return finished


@dataclass(frozen=True, slots=True)
class CommandTimeouts:
    timed_out: tuple[ModbusCommand, ...]


def time_out_due_commands(
    *,
    commands: ModbusCommandStore,
    clock: Clock,
    on_finished: CommandListener | None = None,
    limit: int = HOUSEKEEPING_BATCH,
) -> CommandTimeouts:
    """Housekeeping: record ``timed_out`` for pending commands past their deadline.

    DynamoDB: 1 Query (index of pending commands), 1 conditional UpdateItem per command.

    Raises: UpstreamFailure.
    """
    now = clock()
    ended: list[ModbusCommand] = []
    for command in commands.due(now, limit):
        if command.timeout_at > now:
            continue
        if commands.finish(command, CommandStatus.TIMED_OUT, now, error_description=NOT_CONFIRMED):
            finished = _finished(command, CommandStatus.TIMED_OUT, now, None, NOT_CONFIRMED)
            ended.append(finished)
            logger.info("port command timed out", extra=_keys(finished))
            if on_finished is not None:
                on_finished(finished)
    return CommandTimeouts(timed_out=tuple(ended))


def get_port_command(
    principal: Principal, pile_id: str, command_id: str, ports: ModbusCommandPorts
) -> ModbusCommand:
    """One command and how it ended.

    Raises: NotFound (no such pile or command for the caller), Conflict, UpstreamFailure.
    """
    pile = modbus_pile(pile_id, None, ports.piles)
    principal.require_operator(pile.operator_id, "pile", pile_id)
    command = ports.commands.get(pile_id, command_id)
    if command is None:
        raise NotFound(f"command {command_id} not found", kind="command", id=command_id)
    return command


def list_port_commands(
    principal: Principal,
    pile_id: str,
    limit: int,
    next_token: str | None,
    ports: ModbusCommandPorts,
) -> tuple[list[ModbusCommand], str | None]:
    """The pile's port commands, newest first (kept 7 days).

    Raises: NotFound, Conflict, InvalidInput (a foreign page token), UpstreamFailure.
    """
    pile = modbus_pile(pile_id, None, ports.piles)
    principal.require_operator(pile.operator_id, "pile", pile_id)
    return ports.commands.recent(pile_id, limit, next_token)


def _finished(
    command: ModbusCommand,
    status: CommandStatus,
    now: datetime,
    exception_code: int | None,
    description: str | None,
) -> ModbusCommand:
    from dataclasses import replace

    return replace(
        command,
        status=status,
        finished_at=now,
        exception_code=exception_code,
        error_description=description,
    )


def _keys(command: ModbusCommand) -> dict[str, object]:
    return {
        "pile_id": command.pile_id,
        "port_no": command.port_no,
        "kind": command.kind.value,
        "command_id": command.command_id,
    }
