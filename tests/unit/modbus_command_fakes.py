"""In-memory fakes of the port-command ports, and an e-bike Modbus pile builder."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from shared.domain.modbus_commands import CommandStatus, ModbusCommand
from shared.domain.piles import Pile, PileKind, PileProtocol

OPERATOR = "op-1"
GATEWAY = "GW-1"


def an_ebike_pile(**overrides: Any) -> Pile:
    at = datetime(2026, 11, 1, tzinfo=UTC)
    values: dict[str, Any] = {
        "pile_id": "EB-1",
        "operator_id": OPERATOR,
        "station_id": "st-1",
        "name": "E-bike pile 1",
        "serial": "SN-EB-1",
        "kind": PileKind.EBIKE,
        "protocol": PileProtocol.MODBUS,
        "model": "reference 10-port",
        "rated_power_w": 10_000,
        "gun_count": 10,
        "is_enabled": True,
        "created_at": at,
        "updated_at": at,
        "gateway_id": GATEWAY,
        "modbus_address": 1,
    }
    values.update(overrides)
    return Pile(**values)


class FakePiles:
    def __init__(self, *piles: Pile) -> None:
        self.piles = {pile.pile_id: pile for pile in piles}

    def get_pile(self, pile_id: str) -> Pile | None:
        return self.piles.get(pile_id)


class FakePublisher:
    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []

    def publish(self, topic: str, payload: bytes) -> None:
        self.published.append((topic, payload))


class FakeCommands:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], ModbusCommand] = {}
        # (gateway, device, function, register, echo value, created_at, command_id) -> key
        self.pointers: dict[tuple[str, int, int, int, int, datetime, str], tuple[str, str]] = {}

    def create(self, command: ModbusCommand) -> None:
        key = (command.pile_id, command.command_id)
        assert key not in self.items
        self.items[key] = command
        pointer = (
            command.gateway_id,
            command.device_address,
            command.function_code,
            command.register,
            command.write.echo_value,
            command.created_at,
            command.command_id,
        )
        self.pointers[pointer] = key

    def get(self, pile_id: str, command_id: str) -> ModbusCommand | None:
        return self.items.get((pile_id, command_id))

    def open_for_write(
        self,
        gateway_id: str,
        device_address: int,
        function_code: int,
        register: int,
        echo_value: int,
    ) -> ModbusCommand | None:
        wanted = (gateway_id, device_address, function_code, register, echo_value)
        for pointer in sorted(self.pointers):
            command = self.items[self.pointers[pointer]]
            if pointer[:5] == wanted and command.status.is_open:
                return command
        return None

    def open_for_device(self, gateway_id: str, device_address: int) -> list[ModbusCommand]:
        found = [
            self.items[key]
            for pointer, key in self.pointers.items()
            if pointer[:2] == (gateway_id, device_address) and self.items[key].status.is_open
        ]
        return sorted(found, key=lambda command: command.command_id)

    def finish(
        self,
        command: ModbusCommand,
        status: CommandStatus,
        now: datetime,
        *,
        exception_code: int | None = None,
        error_description: str | None = None,
    ) -> bool:
        key = (command.pile_id, command.command_id)
        current = self.items[key]
        if not current.status.is_open:
            return False
        self.items[key] = replace(
            current,
            status=status,
            finished_at=now,
            exception_code=exception_code,
            error_description=error_description,
        )
        return True

    def due(self, now: datetime, limit: int) -> list[ModbusCommand]:
        due = [c for c in self.items.values() if c.status.is_open and c.timeout_at <= now]
        return sorted(due, key=lambda command: command.timeout_at)[:limit]

    def recent(
        self, pile_id: str, limit: int, next_token: str | None
    ) -> tuple[list[ModbusCommand], str | None]:
        mine = sorted(
            (c for (p, _), c in self.items.items() if p == pile_id),
            key=lambda command: command.command_id,
            reverse=True,
        )
        return mine[:limit], None
