"""Operators configure their 4G gateways' buses: which device answers at which Modbus
address, read with which register map, for which pile or station.

Two ways in, one store (the gateway item's ``devices`` map, see
``shared/adapters/dynamodb/gateways.py``):

- ``put_gateway_devices``: the operator API's ``PUT /operator/gateways/{id}/devices``
  replaces the whole bus (piles and the site meter, with its PT/CT ratios);
- creating, changing or deleting a modbus pile registers it on its gateway at its
  ``modbus_address`` (``create_pile`` / ``update_pile`` / ``delete_pile`` here wrap the
  base-data pile use cases), read with the shipped e-bike map its ``model`` names, else
  ``cc-ebike-10``. Registering is idempotent: a pile already on its address keeps its entry
  (a map an operator chose by PUT stays) and nothing is written.

A gateway belongs to the operator that first configured it (``operator_id`` on the item,
or on its devices for items configured before that existed): another operator's gateway
answers 404 and is never changed. Writes are conditional on ``devices_version`` (optimistic
locking), so two configurations racing never lose one another's devices silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from shared.domain.clock import Clock
from shared.domain.errors import Conflict, InvalidInput, NotFound
from shared.domain.gateways import (
    GATEWAY_ID_PATTERN,
    MAX_OFFLINE_AFTER,
    MIN_OFFLINE_AFTER,
    BusDevice,
    GatewayRecord,
)
from shared.domain.modbus_maps import DeviceKind, RegisterMap
from shared.domain.piles import Gun, Pile, PileProtocol
from shared.domain.tenancy import Principal
from shared.observability import logger
from shared.services import base_data_piles
from shared.services.base_data import BaseDataRepository, require_writer
from shared.services.gateways import configure_gateway

__all__ = [
    "DEFAULT_PILE_MAP",
    "DeviceEntry",
    "GatewayDeviceStore",
    "create_pile",
    "delete_pile",
    "get_gateway",
    "pile_map_id",
    "put_gateway_devices",
    "register_pile",
    "update_pile",
]

DEFAULT_PILE_MAP = "cc-ebike-10"
WRITE_ATTEMPTS = 3  # optimistic-lock retries of a pile's registration


class GatewayDeviceStore(Protocol):
    def gateway(self, gateway_id: str) -> GatewayRecord | None:
        """The gateway's record, or None. Raises: UpstreamFailure."""

    def replace_devices(
        self,
        gateway_id: str,
        operator_id: str,
        devices: Sequence[BusDevice],
        expected_version: int,
    ) -> int:
        """Replace the bus if still at ``expected_version``; the new version.

        Raises: Conflict (changed meanwhile), UpstreamFailure."""

    def set_offline_after(self, gateway_id: str, seconds: int | None) -> None:
        """Set (None: clear) the gateway's silence threshold. Raises: NotFound, UpstreamFailure."""


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    """One device as an operator names it: a pile (``pile_id``) or the site meter of a
    station (``station_id``, with its installed ``pt`` and ``ct`` ratios)."""

    address: int
    map_id: str
    pile_id: str | None = None
    station_id: str | None = None
    pt: int = 1
    ct: int = 1


MIN_OFFLINE_AFTER_S = int(MIN_OFFLINE_AFTER.total_seconds())
MAX_OFFLINE_AFTER_S = int(MAX_OFFLINE_AFTER.total_seconds())


def _gateway_not_found(gateway_id: str) -> NotFound:
    return NotFound(f"gateway {gateway_id} not found", kind="gateway", id=gateway_id)


def _check_gateway_id(gateway_id: str) -> None:
    if not re.fullmatch(GATEWAY_ID_PATTERN, gateway_id):
        raise _gateway_not_found(gateway_id)


def get_gateway(store: GatewayDeviceStore, principal: Principal, gateway_id: str) -> GatewayRecord:
    """A gateway of the caller's operator (any gateway for a platform admin).

    DynamoDB: 1 GetItem.

    Raises:
        NotFound: no such gateway, one nobody configured yet (platform admins see those),
            or another operator's.
        UpstreamFailure: the store failed.
    """
    _check_gateway_id(gateway_id)
    record = store.gateway(gateway_id)
    if record is None:
        raise _gateway_not_found(gateway_id)
    owner = record.owner
    if not principal.is_platform_admin and (owner is None or owner != principal.operator_id):
        raise _gateway_not_found(gateway_id)
    return record


def set_offline_after(
    store: GatewayDeviceStore, principal: Principal, gateway_id: str, seconds: int | None
) -> GatewayRecord:
    """Set how long the gateway may stay silent before its piles count as offline
    (``offline_after_s`` seconds, 120..86400; None: the platform default of 25 minutes). A
    gateway that batches many poll cycles per message needs more than its batch interval.

    DynamoDB: 1 GetItem, 1 UpdateItem, 1 GetItem.

    Raises:
        InvalidInput: seconds outside 120..86400.
        Forbidden: maintenance staff.
        NotFound: no such gateway, or another operator's.
        UpstreamFailure: the store failed.
    """
    if seconds is not None and (
        isinstance(seconds, bool)
        or not isinstance(seconds, int)
        or not MIN_OFFLINE_AFTER_S <= seconds <= MAX_OFFLINE_AFTER_S
    ):
        raise InvalidInput(
            f"offline_after_s must be {MIN_OFFLINE_AFTER_S}..{MAX_OFFLINE_AFTER_S} seconds or null",
            field="offline_after_s",
        )
    require_writer(principal)
    get_gateway(store, principal, gateway_id)
    store.set_offline_after(gateway_id, seconds)
    return get_gateway(store, principal, gateway_id)


def _require_claimable(record: GatewayRecord | None, operator_id: str, gateway_id: str) -> None:
    owner = record.owner if record is not None else None
    if owner is not None and owner != operator_id:
        raise _gateway_not_found(gateway_id)


def _device_of(
    repo: BaseDataRepository,
    principal: Principal,
    gateway_id: str,
    entry: DeviceEntry,
    maps: Mapping[str, RegisterMap],
) -> BusDevice:
    if (entry.pile_id is None) == (entry.station_id is None):
        raise InvalidInput("a device names either a pile_id or a station_id", field="pile_id")
    register_map = maps.get(entry.map_id)
    if register_map is None:
        raise InvalidInput("no register map with this id", field="map_id")
    if entry.pile_id is not None:
        if register_map.kind is not DeviceKind.EBIKE_PILE:
            raise InvalidInput("a pile is read with an e-bike pile map", field="map_id")
        if entry.pt != 1 or entry.ct != 1:
            raise InvalidInput("PT and CT ratios are for meters only", field="pt_ratio")
        pile = repo.get_pile(principal, entry.pile_id)
        if pile.protocol is not PileProtocol.MODBUS or pile.gateway_id != gateway_id:
            raise InvalidInput("the pile is not a modbus pile on this gateway", field="pile_id")
        if pile.modbus_address != entry.address:
            raise InvalidInput(
                "the address differs from the pile's modbus_address", field="address"
            )
        return BusDevice(
            entry.address, entry.map_id, pile.operator_id, pile.station_id, pile.pile_id
        )
    assert entry.station_id is not None
    if register_map.kind is not DeviceKind.METER:
        raise InvalidInput("a station's device is read with a meter map", field="map_id")
    station = repo.get_station(principal, entry.station_id)
    return BusDevice(
        entry.address,
        entry.map_id,
        station.operator_id,
        station.station_id,
        pt=entry.pt,
        ct=entry.ct,
    )


@dataclass(slots=True)
class _VersionedStore:
    """``configure_gateway``'s store: one conditional replace for the operator."""

    store: GatewayDeviceStore
    operator_id: str
    expected_version: int

    def set_devices(self, gateway_id: str, devices: Sequence[BusDevice]) -> None:
        self.store.replace_devices(gateway_id, self.operator_id, devices, self.expected_version)


def put_gateway_devices(
    repo: BaseDataRepository,
    store: GatewayDeviceStore,
    principal: Principal,
    gateway_id: str,
    entries: Sequence[DeviceEntry],
    *,
    maps: Mapping[str, RegisterMap],
) -> GatewayRecord:
    """Replace the devices on a gateway's bus (an empty list clears it; the gateway stays
    the operator's).

    Every pile named must be the caller's modbus pile on this gateway at this address; every
    station the caller's. DynamoDB: 1 GetItem + the pile/station reads + 1 UpdateItem.

    Raises:
        Forbidden: maintenance staff.
        NotFound: the gateway is another operator's, or a pile/station named is not the
            caller's.
        InvalidInput: a device breaks a rule (map kind, duplicate address, PT/CT on a
            pile, devices of two operators ...); nothing is written.
        Conflict: the configuration changed while this one was checked.
        UpstreamFailure: a store failed.
    """
    require_writer(principal)
    _check_gateway_id(gateway_id)
    record = store.gateway(gateway_id)
    if not principal.is_platform_admin:
        assert principal.operator_id is not None
        _require_claimable(record, principal.operator_id, gateway_id)
    devices = [_device_of(repo, principal, gateway_id, entry, maps) for entry in entries]
    operators = {device.operator_id for device in devices}
    if len(operators) > 1:
        raise InvalidInput("a gateway's devices belong to one operator", field="pile_id")
    operator_id = next(iter(operators), None) or principal.operator_id
    if operator_id is None:
        operator_id = record.owner if record is not None else None
    if operator_id is None:
        raise InvalidInput("name at least one device of the operator", field="devices")
    _require_claimable(record, operator_id, gateway_id)
    version = record.devices_version if record is not None else 0
    configure_gateway(_VersionedStore(store, operator_id, version), gateway_id, devices, maps)
    stored = store.gateway(gateway_id)
    assert stored is not None
    return stored


def _named_map(pile: Pile, maps: Mapping[str, RegisterMap]) -> str | None:
    wanted = pile.model.strip().casefold()
    for map_id, register_map in sorted(maps.items()):
        if register_map.kind is DeviceKind.EBIKE_PILE and wanted in (
            map_id.casefold(),
            register_map.model.casefold(),
        ):
            return map_id
    return None


def pile_map_id(pile: Pile, maps: Mapping[str, RegisterMap]) -> str:
    """The e-bike map the pile's ``model`` names (a shipped map's id or model, any case),
    else ``cc-ebike-10``."""
    return _named_map(pile, maps) or DEFAULT_PILE_MAP


def _place(pile: Pile) -> tuple[str | None, int | None]:
    return pile.gateway_id, pile.modbus_address


def _is_on_bus(pile: Pile) -> bool:
    return (
        pile.protocol is PileProtocol.MODBUS
        and pile.gateway_id is not None
        and pile.modbus_address is not None
    )


def _placed(
    record: GatewayRecord | None, pile: Pile, maps: Mapping[str, RegisterMap]
) -> dict[int, BusDevice] | None:
    """The bus with the pile at its address, or None when nothing needs writing.

    Raises: NotFound (another operator's gateway), Conflict (the address is taken)."""
    assert pile.gateway_id is not None and pile.modbus_address is not None
    _require_claimable(record, pile.operator_id, pile.gateway_id)
    devices = dict(record.devices) if record is not None else {}
    current = devices.get(pile.modbus_address)
    if current is not None and current.pile_id != pile.pile_id:
        raise Conflict(
            "another device answers at this modbus_address on the gateway",
            field="modbus_address",
        )
    others = [
        a for a, d in devices.items() if d.pile_id == pile.pile_id and a != pile.modbus_address
    ]
    named = _named_map(pile, maps)
    if named is None:
        named = current.map_id if current is not None else DEFAULT_PILE_MAP
    wanted = BusDevice(
        pile.modbus_address,
        named,
        pile.operator_id,
        pile.station_id,
        pile.pile_id,
    )
    if current == wanted and not others:
        return None
    for address in others:
        del devices[address]
    devices[pile.modbus_address] = wanted
    return devices


def _write(
    store: GatewayDeviceStore,
    gateway_id: str,
    change: Callable[[GatewayRecord | None], tuple[str, dict[int, BusDevice]] | None],
) -> bool:
    for attempt in range(WRITE_ATTEMPTS):
        record = store.gateway(gateway_id)
        changed = change(record)
        if changed is None:
            return False
        operator_id, devices = changed
        version = record.devices_version if record is not None else 0
        try:
            store.replace_devices(
                gateway_id, operator_id, [devices[a] for a in sorted(devices)], version
            )
        except Conflict:
            if attempt == WRITE_ATTEMPTS - 1:
                raise
            continue
        return True
    return False


def register_pile(store: GatewayDeviceStore, pile: Pile, maps: Mapping[str, RegisterMap]) -> bool:
    """Put a modbus pile on its gateway's bus at its ``modbus_address``; False when it was
    there already (nothing written) or the pile is not a modbus pile.

    DynamoDB: 1 GetItem (+ 1 conditional UpdateItem when something changes).

    Raises:
        NotFound: the gateway is another operator's.
        Conflict: another device has the address, or the bus kept changing.
        UpstreamFailure: the store failed.
    """
    if not _is_on_bus(pile):
        return False
    assert pile.gateway_id is not None

    def change(record: GatewayRecord | None) -> tuple[str, dict[int, BusDevice]] | None:
        devices = _placed(record, pile, maps)
        return None if devices is None else (pile.operator_id, devices)

    return _write(store, pile.gateway_id, change)


def _unregister(store: GatewayDeviceStore, pile: Pile) -> bool:
    """Take the pile off its (former) gateway's bus; False when it was not on it."""
    if pile.gateway_id is None:
        return False

    def change(record: GatewayRecord | None) -> tuple[str, dict[int, BusDevice]] | None:
        if record is None or record.owner != pile.operator_id:
            return None
        kept = {a: d for a, d in record.devices.items() if d.pile_id != pile.pile_id}
        if len(kept) == len(record.devices):
            return None
        return pile.operator_id, kept

    return _write(store, pile.gateway_id, change)


def create_pile(
    repo: BaseDataRepository,
    store: GatewayDeviceStore,
    principal: Principal,
    fields: Mapping[str, Any],
    *,
    clock: Clock,
    random_bytes: base_data_piles.RandomBytes,
    maps: Mapping[str, RegisterMap],
) -> tuple[Pile, list[Gun]]:
    """``base_data_piles.create_pile``, and a modbus pile goes on its gateway's bus.

    The bus is checked before the pile is stored, so a refusal stores nothing.

    Raises: what ``base_data_piles.create_pile`` raises; NotFound (the gateway is another
        operator's), Conflict (its address is taken on the gateway).
    """

    def check(pile: Pile) -> None:
        if _is_on_bus(pile):
            assert pile.gateway_id is not None
            _placed(store.gateway(pile.gateway_id), pile, maps)

    pile, guns = base_data_piles.create_pile(
        repo, principal, fields, clock=clock, random_bytes=random_bytes, before_store=check
    )
    register_pile(store, pile, maps)
    return pile, guns


def update_pile(
    repo: BaseDataRepository,
    store: GatewayDeviceStore,
    principal: Principal,
    pile_id: str,
    changes: Mapping[str, Any],
    *,
    clock: Clock,
    maps: Mapping[str, RegisterMap],
) -> Pile:
    """``base_data_piles.update_pile``, keeping the gateway's bus in step: a pile that moved
    (gateway or address) leaves its old place and takes the new one; a model that names a
    shipped map switches its map. Idempotent: nothing is written when the bus is right.

    Raises: what ``base_data_piles.update_pile`` raises; NotFound, Conflict as for create
        when the pile moves (a pile that stays put and cannot join its bus is still changed,
        and a warning is logged).
    """

    def check(current: Pile, updated: Pile) -> None:
        if _is_on_bus(updated) and _place(updated) != _place(current):
            assert updated.gateway_id is not None
            _placed(store.gateway(updated.gateway_id), updated, maps)

    previous = repo.get_pile(principal, pile_id)
    updated = base_data_piles.update_pile(
        repo, principal, pile_id, changes, clock=clock, before_store=check
    )
    if previous.gateway_id not in (None, updated.gateway_id) or not _is_on_bus(updated):
        _unregister(store, replace(updated, gateway_id=previous.gateway_id))
    if _place(updated) != _place(previous):
        register_pile(store, updated, maps)
        return updated
    try:
        register_pile(store, updated, maps)
    except (NotFound, Conflict) as refused:
        # The pile did not move: a bus it cannot join (another operator's gateway, its
        # address taken there) must not block renaming or disabling it.
        logger.warning(
            "pile left off its gateway's bus",
            extra={
                "pile_id": updated.pile_id,
                "gateway_id": updated.gateway_id,
                "code": refused.code,
            },
        )
    return updated


def delete_pile(
    repo: BaseDataRepository, store: GatewayDeviceStore, principal: Principal, pile_id: str
) -> None:
    """``base_data_piles.delete_pile``, and the pile leaves its gateway's bus.

    Raises: what ``base_data_piles.delete_pile`` raises; Conflict, UpstreamFailure.
    """
    pile = repo.get_pile(principal, pile_id)
    base_data_piles.delete_pile(repo, principal, pile_id)
    _unregister(store, pile)
