"""Gateway configuration through the operator API on moto: a modbus pile joins its gateway's
bus when created or changed (idempotently), PUT /operator/gateways/{id}/devices sets the
bus (piles and the site meter), GET shows it; another operator's gateway answers 404 and
bad input 4xx, with nothing changed."""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest

from shared.adapters.dynamodb.gateways import DynamoGateways
from shared.domain.gateways import BusDevice
from tests.integration.operator_api_support import (
    Tenant,
    api,
    call,
    pile_body,
    snapshot,
    tenants,
)

__all__ = ["api", "tenants"]

GW = "GW-a"


def ebike_body(pile_id: str, station_id: str, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "kind": "ebike",
        "protocol": "modbus",
        "model": "SIM-EB10",
        "rated_power_w": 10_000,
        "gun_count": 10,
        "password": None,
        "gateway_id": GW,
        "modbus_address": 1,
    }
    return pile_body(pile_id, station_id, **{**fields, **overrides})


def bus() -> DynamoGateways:
    return DynamoGateways(os.environ["BASE_DATA_TABLE"], boto3.client("dynamodb"))


def devices_of(answer: Any) -> list[tuple[int, str, str | None, str | None]]:
    return [(d["address"], d["map_id"], d["pile_id"], d["station_id"]) for d in answer["devices"]]


@pytest.fixture
def wired(tenants: tuple[Tenant, Tenant]) -> tuple[Tenant, Tenant]:
    a, _ = tenants
    made = call("POST", "/operator/piles", a.admin, body=ebike_body("EB-a", a.station_id))
    assert made.status == 201, made.body
    return tenants


def meter(station_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "address": 2,
        "map_id": "acrel-adl400",
        "station_id": station_id,
        "pt_ratio": 10,
        "ct_ratio": 40,
        **overrides,
    }


PILE_DEVICE = {"address": 1, "map_id": "cc-ebike-10", "pile_id": "EB-a"}


def test_modbus_pile_joins_its_gateway_bus_when_created(wired: tuple[Tenant, Tenant]) -> None:
    a, _ = wired
    shown = call("GET", f"/operator/gateways/{GW}", a.admin)
    assert shown.status == 200, shown.body
    assert devices_of(shown.body) == [(1, "cc-ebike-10", "EB-a", a.station_id)]
    assert shown.body["operator_id"] == a.operator_id
    assert shown.body["devices"][0]["kind"] == "ebike_pile"
    assert shown.body["frames_today"]["counts"] == {}
    config = bus().config(GW)
    assert config is not None
    assert config.devices[1] == BusDevice(1, "cc-ebike-10", a.operator_id, a.station_id, "EB-a")


def test_put_sets_the_pile_and_site_meter_and_the_bridge_reads_them(
    wired: tuple[Tenant, Tenant],
) -> None:
    a, _ = wired
    put = call(
        "PUT", f"/operator/gateways/{GW}/devices", a.admin, body=[PILE_DEVICE, meter(a.station_id)]
    )
    assert put.status == 200, put.body
    assert devices_of(put.body) == [
        (1, "cc-ebike-10", "EB-a", a.station_id),
        (2, "acrel-adl400", None, a.station_id),
    ]
    assert (put.body["devices"][1]["pt_ratio"], put.body["devices"][1]["ct_ratio"]) == (10, 40)
    config = bus().config(GW)
    assert config is not None
    assert config.devices[2] == BusDevice(
        2, "acrel-adl400", a.operator_id, a.station_id, pt=10, ct=40
    )
    assert call("GET", f"/operator/gateways/{GW}", a.maintenance).status == 200
    cleared = call("PUT", f"/operator/gateways/{GW}/devices", a.admin, body=[])
    assert cleared.status == 200 and cleared.body["devices"] == []


def test_pile_changes_keep_the_bus_in_step_and_write_nothing_when_it_is_right(
    wired: tuple[Tenant, Tenant],
) -> None:
    a, _ = wired
    store = bus()
    first = store.gateway(GW)
    assert first is not None
    renamed = call("PATCH", "/operator/piles/EB-a", a.admin, body={"name": "Shed"})
    assert renamed.status == 200, renamed.body
    after = store.gateway(GW)
    assert after is not None and after.devices_version == first.devices_version

    moved = call("PATCH", "/operator/piles/EB-a", a.admin, body={"modbus_address": 7})
    assert moved.status == 200, moved.body
    shown = call("GET", f"/operator/gateways/{GW}", a.admin).body
    assert devices_of(shown) == [(7, "cc-ebike-10", "EB-a", a.station_id)]

    other = call("PATCH", "/operator/piles/EB-a", a.admin, body={"gateway_id": "GW-a2"})
    assert other.status == 200, other.body
    assert call("GET", f"/operator/gateways/{GW}", a.admin).body["devices"] == []
    assert devices_of(call("GET", "/operator/gateways/GW-a2", a.admin).body) == [
        (7, "cc-ebike-10", "EB-a", a.station_id)
    ]
    assert call("DELETE", "/operator/piles/EB-a", a.admin).status == 204
    assert call("GET", "/operator/gateways/GW-a2", a.admin).body["devices"] == []


def test_second_pile_at_a_taken_address_answers_409_and_stores_nothing(
    wired: tuple[Tenant, Tenant],
) -> None:
    a, _ = wired
    before = snapshot()
    answer = call("POST", "/operator/piles", a.admin, body=ebike_body("EB-a2", a.station_id))
    assert answer.status == 409, answer.body
    assert answer.error["details"]["field"] == "modbus_address"
    assert snapshot() == before
    second = call(
        "POST", "/operator/piles", a.admin, body=ebike_body("EB-a2", a.station_id, modbus_address=3)
    )
    assert second.status == 201, second.body
    assert [
        d["address"] for d in call("GET", f"/operator/gateways/{GW}", a.admin).body["devices"]
    ] == [1, 3]


def test_another_operators_gateway_answers_404_and_nothing_changes(
    wired: tuple[Tenant, Tenant],
) -> None:
    a, b = wired
    before = snapshot()
    assert call("GET", f"/operator/gateways/{GW}", b.admin).status == 404
    assert call("GET", f"/operator/gateways/{GW}", b.maintenance).status == 404
    put = call("PUT", f"/operator/gateways/{GW}/devices", b.admin, body=[meter(b.station_id)])
    assert put.status == 404 and put.error["code"] == "not_found"
    pile = call(
        "POST", "/operator/piles", b.admin, body=ebike_body("EB-b", b.station_id, modbus_address=4)
    )
    assert pile.status == 404, pile.body
    naming_b = call(
        "PUT", f"/operator/gateways/{GW}/devices", a.admin, body=[PILE_DEVICE, meter(b.station_id)]
    )
    assert naming_b.status == 404
    assert call("GET", "/operator/gateways/GW-never", a.admin).status == 404
    assert snapshot() == before


def test_maintenance_staff_may_read_but_not_configure(wired: tuple[Tenant, Tenant]) -> None:
    a, _ = wired
    before = snapshot()
    answer = call("PUT", f"/operator/gateways/{GW}/devices", a.maintenance, body=[PILE_DEVICE])
    assert answer.status == 403
    assert snapshot() == before


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"devices": []}, 422, ""),
        ([{**PILE_DEVICE, "address": 0}], 422, "address"),
        ([{**PILE_DEVICE, "station_id": "st-" + "0" * 20}], 422, "pile_id or station_id"),
        ([{"address": 1, "map_id": "cc-ebike-10"}], 422, "pile_id or station_id"),
        ([{**PILE_DEVICE, "extra": 1}], 422, "extra"),
        ([{**PILE_DEVICE, "address": "1"}], 422, "address"),
        ([{**PILE_DEVICE, "map_id": "nope-map"}], 422, "map"),
        ([{**PILE_DEVICE, "map_id": "acrel-adl400"}], 422, "e-bike"),
        ([{**PILE_DEVICE, "pt_ratio": 10}], 422, "meters only"),
        ([{**PILE_DEVICE, "address": 5}], 422, "modbus_address"),
        ([PILE_DEVICE, {**PILE_DEVICE, "map_id": "cc-ebike-10"}], 422, "unique"),
        ("METER", 422, "meter map"),
    ],
)
def test_bad_bus_is_refused_with_4xx_and_nothing_changes(
    wired: tuple[Tenant, Tenant], body: Any, status: int, needle: str
) -> None:
    a, _ = wired
    if body == "METER":
        body = [meter(a.station_id, map_id="cc-ebike-10")]
    before = snapshot()
    answer = call("PUT", f"/operator/gateways/{GW}/devices", a.admin, body=body)
    assert answer.status == status, answer.body
    assert needle.lower() in str(answer.body).lower()
    assert snapshot() == before


def test_malformed_json_and_bad_gateway_ids_are_refused(wired: tuple[Tenant, Tenant]) -> None:
    a, _ = wired
    before = snapshot()
    assert call("PUT", f"/operator/gateways/{GW}/devices", a.admin, raw_body="[{").status == 400
    assert call("PUT", "/operator/gateways/GW%2Fx/devices", a.admin, body=[]).status == 404
    assert snapshot() == before


def test_operator_sets_and_clears_the_gateways_silence_threshold(
    wired: tuple[Tenant, Tenant],
) -> None:
    a, _ = wired
    assert call("GET", f"/operator/gateways/{GW}", a.admin).body["offline_after_s"] is None
    answer = call(
        "PUT", f"/operator/gateways/{GW}/presence", a.admin, body={"offline_after_s": 3600}
    )
    assert answer.status == 200, answer.body
    assert answer.body["offline_after_s"] == 3600
    assert bus().config(GW).offline_after_s == 3600  # what the bridge and the sweep read
    cleared = call(
        "PUT", f"/operator/gateways/{GW}/presence", a.admin, body={"offline_after_s": None}
    )
    assert cleared.status == 200 and cleared.body["offline_after_s"] is None
    assert bus().config(GW).offline_after_s is None


@pytest.mark.parametrize(
    ("who", "body", "status"),
    [
        ("admin", {"offline_after_s": 119}, 422),
        ("admin", {"offline_after_s": 86_401}, 422),
        ("admin", {"offline_after_s": "600"}, 422),
        ("admin", {}, 422),
        ("admin", {"offline_after_s": 600, "extra": 1}, 422),
        ("maintenance", {"offline_after_s": 600}, 403),
        ("other", {"offline_after_s": 600}, 404),
    ],
)
def test_bad_silence_thresholds_and_callers_are_refused_and_nothing_changes(
    wired: tuple[Tenant, Tenant], who: str, body: dict[str, Any], status: int
) -> None:
    a, b = wired
    principal = {"admin": a.admin, "maintenance": a.maintenance, "other": b.admin}[who]
    before = snapshot()
    answer = call("PUT", f"/operator/gateways/{GW}/presence", principal, body=body)
    assert answer.status == status, answer.body
    assert snapshot() == before
