"""Tenancy: operator A's staff can neither list, read, change nor delete operator B's base
data through any endpoint; B's ids answer 404 to A and the tables stay unchanged. The data
layer refuses the same on its own, with the service layer bypassed."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from shared.adapters.dynamodb.base_data import DynamoBaseDataRepository
from shared.domain.base_data import PageRequest
from shared.domain.errors import NotFound
from shared.domain.tenancy import Principal, Role
from tests.integration.operator_api_support import (
    World,
    call,
    discount_body,
    pile_body,
    seeded_world,
    snapshot,
    station_body,
    tou_periods,
)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with seeded_world() as seeded:
        yield seeded


def _reads(b: Any) -> list[tuple[str, str, dict[str, str] | None]]:
    return [
        ("GET", f"/operator/operators/{b.operator_id}", None),
        ("GET", f"/operator/operators/{b.operator_id}/staff", None),
        ("GET", "/operator/stations", {"operator_id": b.operator_id}),
        ("GET", f"/operator/stations/{b.station_id}", None),
        ("GET", "/operator/piles", {"operator_id": b.operator_id}),
        ("GET", "/operator/piles", {"station_id": b.station_id}),
        ("GET", f"/operator/piles/{b.pile_id}", None),
        ("GET", f"/operator/piles/{b.pile_id}/guns", None),
        ("GET", "/operator/tariffs", {"operator_id": b.operator_id}),
        ("GET", f"/operator/tariffs/{b.tariff_id}", None),
        ("GET", f"/operator/tariffs/{b.tariff_id}", {"version": "1"}),
        ("GET", "/operator/discounts", {"operator_id": b.operator_id}),
        ("GET", f"/operator/discounts/{b.discount_id}", None),
        ("GET", "/operator/cards", {"operator_id": b.operator_id}),
        ("GET", f"/operator/cards/{b.card_no}", None),
    ]


def _writes(a: Any, b: Any) -> list[tuple[str, str, Any]]:
    return [
        ("PATCH", f"/operator/operators/{b.operator_id}", {"name": "Mine now"}),
        (
            "POST",
            f"/operator/operators/{b.operator_id}/staff",
            {"username": "spy-user", "password": "Spy-Password-123", "role": "operator-admin"},
        ),
        ("POST", "/operator/stations", station_body(operator_id=b.operator_id)),
        ("POST", "/operator/stations", station_body(tariff_id=b.tariff_id)),
        ("PATCH", f"/operator/stations/{b.station_id}", {"name": "Mine now"}),
        ("PATCH", f"/operator/stations/{a.station_id}", {"tariff_id": b.tariff_id}),
        ("DELETE", f"/operator/stations/{b.station_id}", None),
        ("POST", "/operator/piles", pile_body("CP-intruder", b.station_id)),
        ("PATCH", f"/operator/piles/{b.pile_id}", {"is_enabled": False}),
        ("PUT", f"/operator/piles/{b.pile_id}/password", {"password": "i-know-it-now-123"}),
        ("PATCH", f"/operator/piles/{b.pile_id}/guns/1", {"is_enabled": False}),
        ("DELETE", f"/operator/piles/{b.pile_id}", None),
        (
            "POST",
            "/operator/tariffs",
            {"operator_id": b.operator_id, "name": "T", "periods": tou_periods()},
        ),
        ("PATCH", f"/operator/tariffs/{b.tariff_id}", {"name": "Mine now"}),
        ("DELETE", f"/operator/tariffs/{b.tariff_id}", None),
        ("POST", "/operator/discounts", discount_body([], operator_id=b.operator_id)),
        ("POST", "/operator/discounts", discount_body([b.station_id])),
        ("PATCH", f"/operator/discounts/{b.discount_id}", {"name": "Mine now"}),
        ("PATCH", f"/operator/discounts/{a.discount_id}", {"station_ids": [b.station_id]}),
        ("DELETE", f"/operator/discounts/{b.discount_id}", None),
        (
            "POST",
            "/operator/cards",
            {
                "operator_id": b.operator_id,
                "card_no": "SPY-1",
                "holder_name": "Spy",
                "phone": "13800000000",
            },
        ),
        (
            "POST",
            f"/operator/cards/{b.card_no}/top-ups",
            {"amount_fen": 1, "request_id": "spy-00001"},
        ),
        ("POST", f"/operator/cards/{b.card_no}/freeze", None),
        ("POST", f"/operator/cards/{b.card_no}/unfreeze", None),
        ("POST", f"/operator/cards/{b.card_no}/unbind", {"refund_balance": True}),
    ]


READ_COUNT = 15
WRITE_COUNT = 25


@pytest.mark.parametrize("role", ["operator-admin", "maintenance"])
@pytest.mark.parametrize("index", range(READ_COUNT))
def test_another_operators_objects_answer_404_when_read(world, role, index):
    a, b = world.a, world.b
    method, path, query = _reads(b)[index]
    who = a.admin if role == "operator-admin" else a.maintenance
    before = snapshot()
    answer = call(method, path, who, query=query)
    assert answer.status == 404, (method, path, query, answer.body)
    assert answer.error["code"] == "not_found"
    assert "Operator B" not in json.dumps(answer.body)
    assert snapshot() == before


@pytest.mark.parametrize("index", range(WRITE_COUNT))
def test_another_operators_objects_answer_404_and_stay_unchanged_when_written(world, index):
    a, b = world.a, world.b
    method, path, body = _writes(a, b)[index]
    before = snapshot()
    answer = call(method, path, a.admin, body=body)
    assert answer.status == 404, (method, path, answer.body)
    assert snapshot() == before


def test_operator_admin_cannot_delete_or_list_all_operators_when_asking(world):
    a, b = world.a, world.b
    before = snapshot()
    assert call("DELETE", f"/operator/operators/{b.operator_id}", a.admin).status == 403
    listed = call("GET", "/operator/operators", a.admin)
    assert [op["operator_id"] for op in listed.body["items"]] == [a.operator_id]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("path", "id_field", "own"),
    [
        ("/operator/stations", "station_id", "station_id"),
        ("/operator/piles", "pile_id", "pile_id"),
        ("/operator/tariffs", "tariff_id", "tariff_id"),
        ("/operator/discounts", "discount_id", "discount_id"),
        ("/operator/cards", "card_no", "card_no"),
    ],
)
def test_lists_hold_only_the_callers_operator_when_staff_list(world, path, id_field, own):
    a, b = world.a, world.b
    for who in (a.admin, a.maintenance):
        listed = call("GET", path, who)
        assert listed.status == 200
        assert [item[id_field] for item in listed.body["items"]] == [getattr(a, own)]
        assert all(
            item.get("operator_id", a.operator_id) == a.operator_id for item in listed.body["items"]
        )
    staff = call("GET", f"/operator/operators/{a.operator_id}/staff", a.maintenance)
    assert [m["username"] for m in staff.body["items"]] == ["tech-a"]
    assert getattr(b, own) not in str(call("GET", path, a.admin).body)


def test_page_token_from_another_partition_cannot_reach_b_when_replayed(world):
    a, b = world.a, world.b
    page_b = call("GET", "/operator/stations", query={"operator_id": b.operator_id, "limit": "1"})
    assert page_b.status == 200
    forged = call("GET", "/operator/stations", a.admin, query={"next_token": "W10", "limit": "1"})
    assert forged.status == 422
    listed = call("GET", "/operator/piles", a.admin, query={"limit": "1"})
    assert all(p["operator_id"] == a.operator_id for p in listed.body["items"])


# --- the data layer on its own ------------------------------------------------------------------


@pytest.fixture
def repo(world) -> DynamoBaseDataRepository:
    return DynamoBaseDataRepository(os.environ["BASE_DATA_TABLE"])


def _staff_of(tenant: Any, role: Role = Role.OPERATOR_ADMIN) -> Principal:
    return Principal(f"{role}-{tenant.operator_id}", role, tenant.operator_id)


def test_repository_reads_answer_not_found_when_the_item_is_another_operators(world, repo):
    a, b = world.a, world.b
    me = _staff_of(a)
    reads: list[Callable[[], object]] = [
        lambda: repo.get_operator(me, b.operator_id),
        lambda: repo.get_station(me, b.station_id),
        lambda: repo.get_pile(me, b.pile_id),
        lambda: repo.get_tariff(me, b.tariff_id),
        lambda: repo.get_tariff_version(me, b.tariff_id, 1),
        lambda: repo.get_discount(me, b.discount_id),
        lambda: repo.get_card(me, b.card_no),
        lambda: repo.list_stations(me, b.operator_id, PageRequest()),
        lambda: repo.list_piles(me, b.operator_id, None, PageRequest()),
        lambda: repo.list_tariffs(me, b.operator_id, PageRequest()),
        lambda: repo.list_discounts(me, b.operator_id, PageRequest()),
        lambda: repo.list_cards(me, b.operator_id, PageRequest()),
        lambda: repo.list_staff(me, b.operator_id, PageRequest()),
    ]
    for read in reads:
        with pytest.raises(NotFound):
            read()
    assert repo.get_stations(me, [b.station_id, a.station_id])[0].station_id == a.station_id
    assert len(repo.get_stations(me, [b.station_id])) == 0


def test_repository_writes_are_conditioned_on_the_callers_operator_when_forged(world, repo):
    """A service bug that handed the repository B's objects still cannot write them."""
    a, b = world.a, world.b
    me = _staff_of(a)
    admin = Principal("root", Role.PLATFORM_ADMIN, None)
    station = repo.get_station(admin, b.station_id)
    pile = repo.get_pile(admin, b.pile_id)
    tariff = repo.get_tariff(admin, b.tariff_id)
    discount = repo.get_discount(admin, b.discount_id)
    card = repo.get_card(admin, b.card_no)
    operator = repo.get_operator(admin, b.operator_id)
    gun = repo.get_gun(admin, pile, 1)
    before = snapshot()
    writes: list[Callable[[], object]] = [
        lambda: repo.update_operator(me, replace(operator, name="Mine")),
        lambda: repo.update_station(me, replace(station, name="Mine"), station),
        lambda: repo.delete_station(me, station),
        lambda: repo.update_pile(me, replace(pile, is_enabled=False)),
        lambda: repo.delete_pile(me, pile),
        lambda: repo.update_gun(me, replace(gun, is_enabled=False)),
        lambda: repo.save_tariff_version(
            me, replace(tariff, name="Mine", version=tariff.version + 1)
        ),
        lambda: repo.delete_tariff(me, tariff),
        lambda: repo.update_discount(me, replace(discount, name="Mine")),
        lambda: repo.delete_discount(me, discount),
        lambda: repo.update_card(me, card.frozen(card.updated_at), card),
        lambda: repo.delete_card(me, card),
        lambda: repo.create_station(me, replace(station, station_id="st-" + "f" * 20)),
        lambda: repo.create_card(me, replace(card, card_no="FORGED-1")),
        lambda: repo.list_guns(me, pile),
        lambda: repo.get_gun(me, pile, 1),
    ]
    for write in writes:
        with pytest.raises(NotFound):
            write()
    assert snapshot() == before
