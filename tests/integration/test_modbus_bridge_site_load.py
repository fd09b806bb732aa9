"""The transformer meter's load through the bridge, read back by the operator API's
GET /operator/stations/{id}/load; e-bike port states through GET .../piles/{id}/guns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from functions.modbus_bridge import handler as bridge_handler
from functions.modbus_bridge import wiring as bridge_wiring
from functions.operator_api import wiring as operator_wiring
from shared.domain.clock import to_wire
from tests.integration.operator_api_support import Tenant, api, call, pile_body, tenants
from tests.integration.test_ocpp_router_support import lambda_context
from tests.unit.test_modbus_uplink_support import Port, meter_frames, pile_frame

__all__ = ["api", "tenants"]

AT = datetime(2026, 11, 1, 1, 59, tzinfo=UTC)


def wire_gateway(tenant: Tenant, aws: dict[str, str]) -> None:
    body = pile_body(
        "EB-a",
        tenant.station_id,
        kind="ebike",
        protocol="modbus",
        gun_count=10,
        gateway_id="GW-a",
        modbus_address=1,
    )
    body.pop("password", None)
    made = call("POST", "/operator/piles", tenant.admin, body=body)
    assert made.status == 201, made.body
    # The pile joined GW-a's bus when created; the meter (PT 10, CT 40) goes on by the API.
    put = call(
        "PUT",
        "/operator/gateways/GW-a/devices",
        tenant.admin,
        body=[
            {"address": 1, "map_id": "cc-ebike-10", "pile_id": "EB-a"},
            {
                "address": 2,
                "map_id": "acrel-adl400",
                "station_id": tenant.station_id,
                "pt_ratio": 10,
                "ct_ratio": 40,
            },
        ],
    )
    assert put.status == 200, put.body


def test_operator_sees_site_load_and_port_states_when_the_gateway_reported(
    tenants: tuple[Tenant, Tenant], aws: dict[str, str], monkeypatch: Any
) -> None:
    a, b = tenants
    wire_gateway(a, aws)
    bridge_wiring.reset()
    monkeypatch.setattr(bridge_wiring, "clock", lambda: AT)
    ports = [Port(energy_raw=10, power_w=150, state="charging")] + [Port() for _ in range(9)]
    result = bridge_handler.lambda_handler(
        {
            "gateway_id": "GW-a",
            "seq": 1,
            "ts": to_wire(AT),
            "frames": [pile_frame(ports), *meter_frames(power_w=2_500, energy_wh=1_000_000)],
        },
        lambda_context(),
    )
    assert result["ModbusFramesGood"] == 4

    monkeypatch.setattr(operator_wiring, "clock", lambda: AT + timedelta(minutes=1))
    load = call("GET", f"/operator/stations/{a.station_id}/load", a.admin)
    assert load.status == 200, load.body
    assert load.body["power_w"] == 2_500 * 400
    # 1,000 kW on a 630 kVA transformer: above 80 %, a new charge is refused.
    assert (load.body["capacity_w"], load.body["load_share_bp"]) == (630_000, 15_873)
    assert load.body["is_live"] is True and load.body["band"] == "refused"
    monkeypatch.setattr(operator_wiring, "clock", lambda: AT + timedelta(minutes=6))
    stale = call("GET", f"/operator/stations/{a.station_id}/load", a.admin).body
    assert stale["is_live"] is False and stale["band"] is None
    assert load.body["energy_import_wh"] == 1_000_000 * 400
    assert load.body["gateway_id"] == "GW-a"
    guns = call("GET", "/operator/piles/EB-a/guns", a.admin)
    assert guns.status == 200, guns.body
    statuses = {gun["gun_no"]: gun["status"] for gun in guns.body["items"]}
    assert statuses[1] == "Charging" and statuses[2] == "Available"

    assert call("GET", f"/operator/stations/{a.station_id}/load", b.admin).status == 404
    nothing = call("GET", f"/operator/stations/{b.station_id}/load", b.admin)
    assert nothing.status == 404 and nothing.error["code"] == "not_found"
    bridge_wiring.reset()
