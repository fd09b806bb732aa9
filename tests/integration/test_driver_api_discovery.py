"""Nearby stations, a station's guns and the QR scan on moto through the handler: sorted by
distance within the radius, free counts and the price now, served by index queries only."""

from __future__ import annotations

from typing import Any

import pytest

from functions.driver_api import wiring
from tests.integration.test_driver_api_support import (
    DriverWorld,
    add_ebike_pile,
    dcall,
    set_gun_status,
    set_presence,
    shared_world,
    sign_in,
    snapshot,
    world,
)

__all__ = ["shared_world", "world"]

HERE = {"lat": "31.2304", "lng": "121.4737"}


@pytest.fixture
def no_scans(world: DriverWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any table scan the driver API makes (request paths use keys and indexes only)."""
    client = wiring._dynamodb_client()

    def refuse(**_: Any) -> None:
        raise AssertionError("the driver API scanned a table")

    monkeypatch.setattr(client, "scan", refuse)


def test_nearby_lists_stations_nearest_first_with_free_guns_and_the_price_now(
    world: DriverWorld, no_scans: None
) -> None:
    token = sign_in("discovery")
    north = world.north_2km

    answer = dcall("GET", "/driver/stations/nearby", token, query={**HERE, "radius_m": "3000"})

    assert answer.status == 200, answer.body
    items = answer.body["items"]
    assert [item["station_id"] for item in items[2:]] == [north]
    assert {item["station_id"] for item in items[:2]} == {world.a.station_id, world.b.station_id}
    first = items[0]
    assert first["distance_m"] == 0
    assert (first["gun_count"], first["free_count"]) == (2, 1)
    # 02:00 UTC is 10:00 in Shanghai: the peak period (95 + 40 fen/kWh) until 15:00 local
    assert first["price_now"] == {
        "period_kind": "peak",
        "electricity_fen_per_kwh": 95,
        "service_fen_per_kwh": 40,
        "total_fen_per_kwh": 135,
        "until": "2026-11-01T07:00:00.000Z",
    }
    assert 1900 < items[2]["distance_m"] < 2100
    assert items[2]["gun_count"] == 0


def test_nearby_leaves_out_stations_beyond_the_radius(world: DriverWorld, no_scans: None) -> None:
    token = sign_in("discovery")
    north = world.north_5km

    near = dcall("GET", "/driver/stations/nearby", token, query={**HERE, "radius_m": "3000"})
    wide = dcall("GET", "/driver/stations/nearby", token, query={**HERE, "radius_m": "6000"})
    few = dcall("GET", "/driver/stations/nearby", token, query={**HERE, "limit": "1"})

    assert north not in [item["station_id"] for item in near.body["items"]]
    assert north in [item["station_id"] for item in wide.body["items"]]
    assert len(few.body["items"]) == 1


def test_an_offline_pile_has_no_free_gun(world: DriverWorld) -> None:
    token = sign_in("discovery")
    set_presence(world.a.pile_id, is_online=False)

    items = dcall("GET", "/driver/stations/nearby", token, query=HERE).body["items"]

    by_id = {item["station_id"]: item for item in items}
    assert by_id[world.a.station_id]["free_count"] == 0
    assert by_id[world.b.station_id]["free_count"] == 1


def test_a_station_shows_every_gun_with_its_state_and_qr_payload(
    world: DriverWorld, no_scans: None
) -> None:
    token = sign_in("discovery")
    set_gun_status(world.a.pile_id, 2, "Faulted")

    answer = dcall("GET", f"/driver/stations/{world.a.station_id}", token)

    assert answer.status == 200, answer.body
    guns = answer.body["guns"]
    assert [(g["gun_no"], g["state"]) for g in guns] == [(1, "free"), (2, "faulted")]
    assert guns[0]["qr_payload"] == f"https://charging.example.com/q/{world.a.pile_id}/1"
    assert "password" not in str(answer.body)


def test_scan_names_the_gun_its_price_the_wallet_and_what_an_amount_buys(
    world: DriverWorld, no_scans: None
) -> None:
    token = sign_in("discovery")
    code = f"https://any.host.example/q/{world.a.pile_id}/1"

    answer = dcall("POST", "/driver/scan", token, body={"code": code, "amount_fen": 1000})

    assert answer.status == 200, answer.body
    body = answer.body
    assert (body["station_id"], body["pile_id"], body["gun_no"]) == (
        world.a.station_id,
        world.a.pile_id,
        1,
    )
    assert (body["state"], body["can_start"], body["refusal"]) == ("free", True, None)
    assert body["tariff_id"] == world.a.tariff_id
    assert body["wallet_available_fen"] == 0
    assert body["estimated_energy_wh"] == 1000 * 1000 // 135


@pytest.mark.parametrize(
    ("status", "online", "refusal"),
    [
        ("Charging", True, "the gun is charging another vehicle"),
        ("Faulted", True, "the gun is faulted"),
        ("Unavailable", True, "the gun is out of service"),
        ("Reserved", True, "the gun is reserved by someone else"),
        ("Available", False, "the pile is offline"),
    ],
)
def test_scan_says_why_a_gun_cannot_start(
    world: DriverWorld, status: str, online: bool, refusal: str
) -> None:
    token = sign_in("discovery")
    set_gun_status(world.b.pile_id, 1, status)
    set_presence(world.b.pile_id, is_online=online)

    body = dcall(
        "POST", "/driver/scan", token, body={"code": f"https://h.example/q/{world.b.pile_id}/1"}
    ).body

    assert (body["can_start"], body["refusal"]) == (False, refusal)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"code": "https://h.example/q/CP-nobody/1"}, 404),
        ({"code": "https://h.example/q/CP-a/9"}, 404),
        ({"code": "https://h.example/x/CP-a/1"}, 422),
        ({"code": "weixin://whatever"}, 422),
        ({"code": "https://h.example/q/CP-a/1", "amount_fen": 0}, 422),
        ({"code": "https://h.example/q/CP-a/1", "amount_fen": "100"}, 422),
        ({}, 422),
    ],
)
def test_scan_is_refused_and_changes_nothing_when_the_code_is_not_a_gun(
    world: DriverWorld, body: dict[str, Any], status: int
) -> None:
    token = sign_in("discovery")
    before = snapshot()

    answer = dcall("POST", "/driver/scan", token, body=body)

    assert answer.status == status, answer.body
    assert snapshot() == before


@pytest.mark.parametrize(
    "query",
    [
        {"lat": "95", "lng": "121"},
        {"lat": "31", "lng": "200"},
        {"lat": "31", "lng": "121", "radius_m": "20000"},
        {"lat": "31", "lng": "121", "radius_m": "0"},
        {"lat": "31", "lng": "121", "limit": "51"},
        {"lat": "thirty", "lng": "121"},
        {"lng": "121"},
        {"lat": "31", "lng": "121", "extra": "1"},
    ],
)
def test_nearby_is_422_when_the_query_is_bad(world: DriverWorld, query: dict[str, str]) -> None:
    token = sign_in("discovery")
    answer = dcall("GET", "/driver/stations/nearby", token, query=query)
    assert answer.status == 422, answer.body


def test_a_station_id_of_another_shape_or_unknown_is_404(world: DriverWorld) -> None:
    token = sign_in("discovery")
    assert dcall("GET", "/driver/stations/nope", token).status == 404
    assert dcall("GET", "/driver/stations/st-00000000000000000000", token).status == 404


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/driver/stations/nearby", None),
        ("GET", "/driver/stations/st-00000000000000000001", None),
        ("POST", "/driver/scan", {"code": "https://h.example/q/CP-a/1"}),
    ],
)
def test_discovery_needs_a_token(
    world: DriverWorld, method: str, path: str, body: dict[str, Any] | None
) -> None:
    answer = dcall(method, path, None, body=body, query=HERE if method == "GET" else None)
    assert answer.status == 401


def test_scan_of_an_ebike_port_lists_the_price_per_hour_by_power(world: DriverWorld) -> None:
    add_ebike_pile(
        world.a.admin,
        "EB-scan-1",
        gateway_id="GW-scan-1",
        name="Campus bikes",
        lat=39.9,
        lng=116.4,
        fen_per_hour=(50, 80),
    )
    token = sign_in("ebike")

    body = dcall(
        "POST", "/driver/scan", token, body={"code": "https://h.example/q/EB-scan-1/3"}
    ).body

    assert (body["pile_kind"], body["gun_no"], body["state"]) == ("ebike", 3, "free")
    assert body["power_bands"] == [
        {"max_power_w": 400, "fen_per_hour": 50},
        {"max_power_w": 800, "fen_per_hour": 80},
    ]
    car = dcall(
        "POST", "/driver/scan", token, body={"code": f"https://h.example/q/{world.a.pile_id}/1"}
    )
    assert car.body["power_bands"] == []
