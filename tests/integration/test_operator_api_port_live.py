"""GET /operator/piles/{id}/ports/live: an e-bike pile's ports with their newest reading,
written through the Modbus bridge handler; tenancy, car piles refused, no readings yet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from functions.modbus_bridge import handler as bridge_handler
from functions.modbus_bridge import wiring as bridge_wiring
from functions.operator_api import wiring as operator_wiring
from shared.adapters.dynamodb.port_readings import DynamoPortReadings
from shared.domain.clock import to_wire
from shared.domain.modbus_readings import PortSample, PortState
from tests.integration.operator_api_support import Tenant, api, call, snapshot, tenants
from tests.integration.test_modbus_bridge_site_load import wire_gateway
from tests.integration.test_ocpp_router_support import lambda_context
from tests.unit.test_modbus_uplink_support import Port, pile_frame

__all__ = ["api", "tenants"]

AT = datetime(2026, 11, 1, 1, 59, tzinfo=UTC)
LIVE = "/operator/piles/EB-a/ports/live"


def report(seq: int, at: datetime, ports: list[Port]) -> None:
    result = bridge_handler.lambda_handler(
        {"gateway_id": "GW-a", "seq": seq, "ts": to_wire(at), "frames": [pile_frame(ports)]},
        lambda_context(),
    )
    assert result["ModbusFramesGood"] == 1, result


def ports(charging: Port) -> list[Port]:
    return [charging, Port(), Port(state="plugged")] + [Port() for _ in range(7)]


def test_ports_show_the_newest_reading_to_the_operator_and_maintenance(
    tenants: tuple[Tenant, Tenant], aws: dict[str, str], monkeypatch: Any
) -> None:
    a, b = tenants
    wire_gateway(a, aws)
    bridge_wiring.reset()
    monkeypatch.setattr(bridge_wiring, "clock", lambda: AT + timedelta(minutes=2))
    # Two cycles; the newer one arrives first (store and forward): the newest still wins.
    newer = Port(energy_raw=25, power_w=280, current_ma=1270, temperature_dc=312, state="charging")
    report(2, AT + timedelta(minutes=1), ports(newer))
    report(1, AT, ports(Port(energy_raw=10, power_w=150, state="charging")))

    for who in (a.admin, a.maintenance):
        live = call("GET", LIVE, who)
        assert live.status == 200, live.body
        assert live.body["pile_id"] == "EB-a"
        items = live.body["items"]
        assert [item["gun_no"] for item in items] == list(range(1, 11))
        first = items[0]
        assert first["state"] == "charging" and first["status"] == "Charging"
        assert (first["power_w"], first["current_ma"], first["voltage_dv"]) == (280, 1270, 2200)
        assert (first["temperature_dc"], first["energy_wh"]) == (312, 25)
        assert first["at"] == to_wire(AT + timedelta(minutes=1))
        assert items[1]["state"] == "idle" and items[1]["power_w"] == 0
        assert items[2]["state"] == "plugged"

    # Another operator's pile is not found, nothing about it shown.
    other = call("GET", LIVE, b.admin)
    assert other.status == 404 and other.error["code"] == "not_found"
    bridge_wiring.reset()


def test_a_pile_without_readings_lists_its_ports_with_null_figures(
    tenants: tuple[Tenant, Tenant], aws: dict[str, str]
) -> None:
    a, _ = tenants
    wire_gateway(a, aws)
    live = call("GET", LIVE, a.admin)
    assert live.status == 200, live.body
    assert len(live.body["items"]) == 10
    for item in live.body["items"]:
        assert item["power_w"] is None and item["state"] is None and item["at"] is None
        assert item["energy_wh"] is None and item["temperature_dc"] is None
        assert item["faults"] == []


def test_a_car_pile_is_refused_and_an_unknown_pile_is_not_found(
    tenants: tuple[Tenant, Tenant], aws: dict[str, str]
) -> None:
    a, _ = tenants
    car = call("GET", f"/operator/piles/{a.pile_id}/ports/live", a.admin)
    assert car.status == 409 and car.error["code"] == "conflict"
    assert "Modbus" in car.error["message"]
    missing = call("GET", "/operator/piles/NOPE-1/ports/live", a.admin)
    assert missing.status == 404
    # An id of the wrong shape names nothing: 404 before any table is read.
    odd = call("GET", "/operator/piles/a%20b%21/ports/live", a.admin)
    assert odd.status == 404 and odd.error["code"] == "not_found"
    # Only GET: the path answers 405 to a write, and nothing is stored.
    before = snapshot()
    wrote = call("POST", f"/operator/piles/{a.pile_id}/ports/live", a.admin, body={})
    assert wrote.status == 405
    assert snapshot() == before


def test_the_live_read_is_one_bounded_query_newest_first(
    tenants: tuple[Tenant, Tenant], aws: dict[str, str], monkeypatch: Any
) -> None:
    a, _ = tenants
    wire_gateway(a, aws)
    store = operator_wiring.port_readings()
    client = store._client
    seen: list[dict[str, Any]] = []
    real_query = client.query

    def spy(**request: Any) -> Any:
        seen.append(request)
        return real_query(**request)

    monkeypatch.setattr(client, "query", spy)
    monkeypatch.setattr(client, "scan", lambda **_: (_ for _ in ()).throw(AssertionError))
    assert call("GET", LIVE, a.admin).status == 200
    pks = [request["ExpressionAttributeValues"][":pk"]["S"] for request in seen]
    readings = [request for pk, request in zip(pks, seen, strict=True) if pk.startswith("PORT")]
    assert len(readings) == 1
    assert readings[0]["ScanIndexForward"] is False and readings[0]["Limit"] <= 3


def _sample(at: datetime, seq: int, raw: int, power_w: int = 200) -> PortSample:
    return PortSample(
        at=at,
        gateway_id="GW-x",
        seq=seq,
        energy_raw=raw,
        power_w=power_w,
        voltage_dv=2200,
        current_ma=900,
        temperature_dc=300,
        state=PortState.CHARGING,
    )


def test_latest_readings_fold_a_wrap_and_read_only_the_newest_items(aws: dict[str, str]) -> None:
    store = DynamoPortReadings(aws["SESSIONS_TABLE"], boto3.client("dynamodb"))
    top = 2**32
    hour = timedelta(hours=2)  # more than ITEM_SPAN: each cycle its own item
    # Oldest item: port 7 only (four items back: outside the newest three).
    store.store("EB-x", [(AT, {7: _sample(AT, 1, 50)})], modulus=top, max_power_w=3000)
    cycles = [
        (AT + hour, {1: _sample(AT + hour, 2, top - 10), 5: _sample(AT + hour, 2, 40)}),
        (AT + 2 * hour, {1: _sample(AT + 2 * hour, 3, 5)}),
        (AT + 3 * hour, {1: _sample(AT + 3 * hour, 4, 15, power_w=280)}),
    ]
    store.store("EB-x", cycles, modulus=top, max_power_w=3000)
    latest = store.latest_port_readings("EB-x", items=3)
    assert set(latest) == {1, 5}  # port 5 from an older item; port 7 not read at all
    assert latest[1].at == AT + 3 * hour and latest[1].power_w == 280
    assert latest[1].energy_wh == top - 10 + 15 + 10  # the wrap folded: 25 Wh after top - 10
    assert latest[5].energy_wh == 40 and latest[5].at == AT + hour
    assert store.latest_port_readings("EB-none") == {}
