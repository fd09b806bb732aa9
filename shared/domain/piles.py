"""Piles and their guns (car connectors) or ports (e-bike sockets).

A pile is identified by its OCPP identity (``pile_id``, the path segment the pile dials),
unique platform-wide. Car piles speak OCPP and have 1..8 guns; e-bike piles have 1..20
ports and speak Modbus RTU through a 4G gateway (or OCPP for the few that do). Presence
(``is_online`` ...) and gun status are written by the connection and router code on the
same items; base data only reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from shared.domain.base_data import require_range, require_text
from shared.domain.errors import InvalidInput

PILE_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,48}")
MAX_RATED_POWER_W = 1_000_000
MODBUS_ADDRESSES = (1, 247)


class PileKind(StrEnum):
    CAR = "car"
    EBIKE = "ebike"


class PileProtocol(StrEnum):
    OCPP16 = "ocpp1.6"
    OCPP201 = "ocpp2.0.1"
    MODBUS = "modbus"

    @property
    def is_ocpp(self) -> bool:
        return self is not PileProtocol.MODBUS


GUN_COUNT_LIMITS = {PileKind.CAR: (1, 8), PileKind.EBIKE: (1, 20)}


def is_valid_pile_id(pile_id: str) -> bool:
    """OCPP identity: 1..48 characters of letters, digits and ``. _ -`` (safe in a URL path)."""
    return PILE_ID_PATTERN.fullmatch(pile_id) is not None


@dataclass(frozen=True, slots=True)
class BootInfo:
    """What the pile told us at boot (OCPP BootNotification / gateway registration)."""

    vendor: str | None = None
    model: str | None = None
    firmware: str | None = None
    iccid: str | None = None
    imsi: str | None = None


@dataclass(frozen=True, slots=True)
class Presence:
    """Connection state kept on the pile item by ws_connect / the router (read-only here)."""

    is_online: bool = False
    connected_at: datetime | None = None
    last_seen_at: datetime | None = None
    boot: BootInfo | None = None


@dataclass(frozen=True, slots=True)
class Pile:
    """A charging pile registered by an operator in one of its stations."""

    pile_id: str
    operator_id: str
    station_id: str
    name: str
    serial: str
    kind: PileKind
    protocol: PileProtocol
    model: str
    rated_power_w: int
    gun_count: int
    is_enabled: bool
    created_at: datetime
    updated_at: datetime
    password_hash: str | None = field(default=None, repr=False)
    gateway_id: str | None = None
    modbus_address: int | None = None
    presence: Presence = field(default_factory=Presence)

    def __post_init__(self) -> None:
        if not is_valid_pile_id(self.pile_id):
            raise InvalidInput(
                "pile_id must be 1..48 characters of letters, digits and . _ -", field="pile_id"
            )
        require_text(self.name, "name", max_length=64)
        require_text(self.serial, "serial", max_length=64)
        require_text(self.model, "model", max_length=64)
        require_range(self.rated_power_w, "rated_power_w", 1, MAX_RATED_POWER_W)
        low, high = GUN_COUNT_LIMITS[self.kind]
        if not low <= self.gun_count <= high:
            raise InvalidInput(
                f"a {self.kind} pile has {low}..{high} guns/ports", field="gun_count"
            )
        if self.protocol is PileProtocol.MODBUS:
            self._check_modbus()
        else:
            self._check_ocpp()

    def _check_modbus(self) -> None:
        if self.kind is not PileKind.EBIKE:
            raise InvalidInput("only e-bike piles speak modbus", field="protocol")
        if self.gateway_id is None or not is_valid_pile_id(self.gateway_id):
            raise InvalidInput(
                "a modbus pile needs the gateway_id of its 4G gateway", field="gateway_id"
            )
        if self.modbus_address is None:
            raise InvalidInput("a modbus pile needs its modbus_address", field="modbus_address")
        require_range(self.modbus_address, "modbus_address", *MODBUS_ADDRESSES)
        if self.password_hash is not None:
            raise InvalidInput("a modbus pile has no password", field="password")

    def _check_ocpp(self) -> None:
        if self.password_hash is None:
            raise InvalidInput("an OCPP pile needs a password", field="password")
        if self.modbus_address is not None:
            raise InvalidInput("modbus_address is only for modbus piles", field="modbus_address")
        if self.gateway_id is not None and not is_valid_pile_id(self.gateway_id):
            raise InvalidInput("gateway_id has the shape of a pile id", field="gateway_id")

    def gun_numbers(self) -> range:
        """Gun/port numbers 1..gun_count (EV connector ids and e-bike port numbers start at 1)."""
        return range(1, self.gun_count + 1)


@dataclass(frozen=True, slots=True)
class Gun:
    """A gun (car connector) or port (e-bike socket) of a pile; status comes from the pile."""

    pile_id: str
    gun_no: int
    operator_id: str
    station_id: str
    name: str
    is_enabled: bool
    updated_at: datetime
    status: str | None = None
    status_at: datetime | None = None
    error_code: str | None = None

    def __post_init__(self) -> None:
        require_range(self.gun_no, "gun_no", 1, 20)
        require_text(self.name, "name", max_length=64)


def default_gun_name(kind: PileKind, gun_no: int) -> str:
    """``Gun 1`` for a car pile, ``Port 1`` for an e-bike pile."""
    return f"{'Gun' if kind is PileKind.CAR else 'Port'} {gun_no}"


def guns_of(pile: Pile) -> list[Gun]:
    """The guns/ports a new pile starts with: every one enabled, named by its number."""
    return [
        Gun(
            pile_id=pile.pile_id,
            gun_no=gun_no,
            operator_id=pile.operator_id,
            station_id=pile.station_id,
            name=default_gun_name(pile.kind, gun_no),
            is_enabled=True,
            updated_at=pile.created_at,
        )
        for gun_no in pile.gun_numbers()
    ]
