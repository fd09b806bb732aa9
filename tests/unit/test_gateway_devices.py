"""Gateway bus configuration on in-memory fakes: a modbus pile's map from its model, idempotent
registration (nothing written when the bus is right), a map chosen by PUT kept, moves,
optimistic-lock retries, and the platform admin's and operators' tenancy."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.domain.gateways import BusDevice, GatewayRecord
from shared.domain.modbus_maps import shipped_maps
from shared.domain.piles import Pile, PileKind, PileProtocol
from shared.domain.tenancy import Principal, Role
from shared.services import base_data as svc
from shared.services import gateway_devices as gd
from tests.unit.base_data_fakes import InMemoryBaseData

ROOT = Principal("root", Role.PLATFORM_ADMIN, None)
MAPS = shipped_maps()
GW = "GW-1"


class FakeGatewayStore:
    """The gateway items: ``conflicts`` makes the next N conditional writes fail."""

    def __init__(self) -> None:
        self.records: dict[str, GatewayRecord] = {}
        self.writes = 0
        self.conflicts = 0

    def gateway(self, gateway_id: str) -> GatewayRecord | None:
        return self.records.get(gateway_id)

    def replace_devices(
        self,
        gateway_id: str,
        operator_id: str,
        devices: Sequence[BusDevice],
        expected_version: int,
    ) -> int:
        current = self.records.get(gateway_id)
        if self.conflicts or (current.devices_version if current else 0) != expected_version:
            self.conflicts = max(0, self.conflicts - 1)
            raise Conflict("changed", field="gateway_id")
        self.writes += 1
        base = current or GatewayRecord(gateway_id, {})
        self.records[gateway_id] = replace(
            base,
            devices={d.address: d for d in devices},
            operator_id=operator_id,
            devices_version=expected_version + 1,
        )
        return expected_version + 1


class World:
    def __init__(self, clock: Any, new_id: Any) -> None:
        self.repo = InMemoryBaseData()
        self.store = FakeGatewayStore()
        self.clock = clock
        op_a = svc.create_operator(self.repo, ROOT, {"name": "A"}, clock=clock, new_id=new_id)
        op_b = svc.create_operator(self.repo, ROOT, {"name": "B"}, clock=clock, new_id=new_id)
        self.admin_a = Principal("admin-a", Role.OPERATOR_ADMIN, op_a.operator_id)
        self.maint_a = Principal("maint-a", Role.MAINTENANCE, op_a.operator_id)
        self.admin_b = Principal("admin-b", Role.OPERATOR_ADMIN, op_b.operator_id)
        station = {
            "name": "Site",
            "address": "1 Road",
            "lat": 31.23,
            "lng": 121.47,
            "transformer_capacity_kva": 630,
            "partner_share_bp": 5000,
        }
        self.station_a = svc.create_station(
            self.repo, self.admin_a, None, station, clock=clock, new_id=new_id
        ).station_id
        self.station_b = svc.create_station(
            self.repo, self.admin_b, None, station, clock=clock, new_id=new_id
        ).station_id

    def pile(self, who: Principal, station_id: str, pile_id: str, **overrides: Any) -> Any:
        fields = {
            "pile_id": pile_id,
            "station_id": station_id,
            "serial": "SN",
            "kind": "ebike",
            "protocol": "modbus",
            "model": "SIM-EB10",
            "rated_power_w": 10_000,
            "gun_count": 10,
            "is_enabled": True,
            "gateway_id": GW,
            "modbus_address": 1,
            "name": None,
            **overrides,
        }
        pile, _ = gd.create_pile(
            self.repo,
            self.store,
            who,
            fields,
            clock=self.clock,
            random_bytes=lambda n: b"\0" * n,
            maps=MAPS,
        )
        return pile


@pytest.fixture
def world(clock: Any, new_id: Any) -> World:
    return World(clock, new_id)


def _map_of(world: World, address: int) -> str:
    record = world.store.gateway(GW)
    assert record is not None
    return record.devices[address].map_id


def test_pile_is_read_with_the_map_its_model_names_else_the_project_map(world: World) -> None:
    pile = world.pile(world.admin_a, world.station_a, "EB-1")
    assert gd.pile_map_id(pile, MAPS) == "cc-ebike-10"
    model_text = MAPS["cc-ebike-10"].model.upper()
    assert gd.pile_map_id(replace(pile, model=model_text), MAPS) == "cc-ebike-10"
    # a meter's id never becomes a pile's map
    assert gd.pile_map_id(replace(pile, model="acrel-adl400"), MAPS) == "cc-ebike-10"


def test_registering_twice_writes_once_when_the_bus_is_already_right(world: World) -> None:
    pile = world.pile(world.admin_a, world.station_a, "EB-1")
    assert world.store.writes == 1
    assert gd.register_pile(world.store, pile, MAPS) is False
    assert world.store.writes == 1
    gd.update_pile(
        world.repo,
        world.store,
        world.admin_a,
        "EB-1",
        {"name": "Shed"},
        clock=world.clock,
        maps=MAPS,
    )
    assert world.store.writes == 1


def test_a_map_set_by_put_stays_when_the_pile_is_changed(world: World) -> None:
    world.pile(world.admin_a, world.station_a, "EB-1")
    other = replace(MAPS["cc-ebike-10"], map_id="vendor-x10")
    maps = {**MAPS, "vendor-x10": other}
    gd.put_gateway_devices(
        world.repo,
        world.store,
        world.admin_a,
        GW,
        [gd.DeviceEntry(1, "vendor-x10", pile_id="EB-1")],
        maps=maps,
    )
    gd.update_pile(
        world.repo, world.store, world.admin_a, "EB-1", {"name": "x"}, clock=world.clock, maps=maps
    )
    assert _map_of(world, 1) == "vendor-x10"
    gd.update_pile(
        world.repo,
        world.store,
        world.admin_a,
        "EB-1",
        {"model": "cc-ebike-10"},
        clock=world.clock,
        maps=maps,
    )
    assert _map_of(world, 1) == "cc-ebike-10"


def test_registration_retries_when_the_bus_changed_meanwhile(world: World) -> None:
    pile = world.pile(world.admin_a, world.station_a, "EB-1")
    moved = replace(pile, modbus_address=5)
    world.store.conflicts = 2
    assert gd.register_pile(world.store, moved, MAPS) is True
    assert sorted(world.store.records[GW].devices) == [5]
    world.store.conflicts = gd.WRITE_ATTEMPTS
    with pytest.raises(Conflict):
        gd.register_pile(world.store, replace(pile, modbus_address=6), MAPS)


def test_platform_admin_configures_an_operators_gateway_but_not_across_operators(
    world: World,
) -> None:
    world.pile(world.admin_a, world.station_a, "EB-1")
    record = gd.put_gateway_devices(
        world.repo,
        world.store,
        ROOT,
        GW,
        [
            gd.DeviceEntry(1, "cc-ebike-10", pile_id="EB-1"),
            gd.DeviceEntry(2, "acrel-adl400", station_id=world.station_a, pt=10, ct=40),
        ],
        maps=MAPS,
    )
    assert record.owner == world.admin_a.operator_id and sorted(record.devices) == [1, 2]
    assert gd.get_gateway(world.store, ROOT, GW) == record
    with pytest.raises(InvalidInput, match="one operator"):
        gd.put_gateway_devices(
            world.repo,
            world.store,
            ROOT,
            GW,
            [
                gd.DeviceEntry(1, "cc-ebike-10", pile_id="EB-1"),
                gd.DeviceEntry(2, "acrel-adl400", station_id=world.station_b),
            ],
            maps=MAPS,
        )
    with pytest.raises(NotFound):
        gd.put_gateway_devices(
            world.repo,
            world.store,
            ROOT,
            GW,
            [gd.DeviceEntry(2, "acrel-adl400", station_id=world.station_b)],
            maps=MAPS,
        )
    assert world.store.records[GW] == record


def test_unconfigured_gateway_is_hidden_from_operators_and_maintenance_cannot_write(
    world: World,
) -> None:
    world.store.records["GW-new"] = GatewayRecord("GW-new", {}, iccid="8986")
    with pytest.raises(NotFound):
        gd.get_gateway(world.store, world.admin_a, "GW-new")
    assert gd.get_gateway(world.store, ROOT, "GW-new").iccid == "8986"
    with pytest.raises(Forbidden):
        gd.put_gateway_devices(world.repo, world.store, world.maint_a, "GW-new", [], maps=MAPS)
    with pytest.raises(NotFound):
        gd.get_gateway(world.store, world.admin_a, "GW/1")


def test_legacy_gateway_owned_through_its_devices_answers_404_to_another_operator(
    world: World,
) -> None:
    assert world.admin_b.operator_id is not None
    legacy = BusDevice(1, "cc-ebike-10", world.admin_b.operator_id, world.station_b, "EB-b")
    world.store.records[GW] = GatewayRecord(GW, {1: legacy})
    with pytest.raises(NotFound):
        world.pile(world.admin_a, world.station_a, "EB-1", modbus_address=2)
    with pytest.raises(NotFound):
        world.repo.get_pile(world.admin_a, "EB-1")
    assert world.store.writes == 0


METER = BusDevice(200, "acrel-adl400", "op", "st")
AT = datetime(2026, 12, 2, tzinfo=UTC)


@given(st.lists(st.integers(min_value=1, max_value=199), min_size=1, max_size=6))
def test_moving_a_pile_around_leaves_it_once_on_the_bus_beside_the_meter(
    addresses: list[int],
) -> None:
    store = FakeGatewayStore()
    store.records[GW] = GatewayRecord(GW, {200: METER}, operator_id="op")
    pile = Pile(
        pile_id="EB-1",
        operator_id="op",
        station_id="st",
        name="EB",
        serial="SN",
        kind=PileKind.EBIKE,
        protocol=PileProtocol.MODBUS,
        model="m",
        rated_power_w=1000,
        gun_count=10,
        is_enabled=True,
        created_at=AT,
        updated_at=AT,
        gateway_id=GW,
        modbus_address=addresses[0],
    )
    for address in addresses:
        gd.register_pile(store, replace(pile, modbus_address=address), MAPS)
    devices = store.records[GW].devices
    assert sorted(devices) == sorted({addresses[-1], 200})
    assert devices[200] == METER
    assert devices[addresses[-1]].map_id == "cc-ebike-10"
    changes = sum(1 for a, b in itertools.pairwise(addresses) if a != b)
    assert store.writes == 1 + changes


def test_pile_that_stays_put_is_still_changed_when_its_bus_refuses_it(world: World) -> None:
    from shared.services import base_data_piles

    base_data_piles.create_pile(
        world.repo,
        world.admin_a,
        {
            "pile_id": "EB-old",
            "station_id": world.station_a,
            "serial": "SN",
            "kind": "ebike",
            "protocol": "modbus",
            "model": "SIM-EB10",
            "rated_power_w": 10_000,
            "gun_count": 10,
            "gateway_id": GW,
            "modbus_address": 2,
            "is_enabled": True,
        },
        clock=world.clock,
        random_bytes=lambda n: b"\0" * n,
    )
    assert world.admin_b.operator_id is not None
    theirs = BusDevice(1, "cc-ebike-10", world.admin_b.operator_id, world.station_b, "EB-b")
    world.store.records[GW] = GatewayRecord(GW, {1: theirs})
    renamed = gd.update_pile(
        world.repo,
        world.store,
        world.admin_a,
        "EB-old",
        {"name": "x"},
        clock=world.clock,
        maps=MAPS,
    )
    assert renamed.name == "x" and world.store.writes == 0
    with pytest.raises(NotFound):
        gd.update_pile(
            world.repo,
            world.store,
            world.admin_a,
            "EB-old",
            {"modbus_address": 3},
            clock=world.clock,
            maps=MAPS,
        )
    assert world.repo.get_pile(world.admin_a, "EB-old").modbus_address == 2
