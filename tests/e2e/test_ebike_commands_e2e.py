"""E-bike port commands end to end on the local stack: a simulated gateway (real MQTT
client, real RTU frames) in front of a 10-port pile and a site meter; the operator API
switches a port on and off, the frames travel iot-data -> mosquitto -> the gateway, its
write echo comes back through the IoT rule and the Modbus bridge and confirms the
command; the port's state reaches the operator API's gun list."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from infra.local.simulators.ebike_gateway import EbikeGatewaySimulator
from infra.local.simulators.modbus_frames import PortState
from tests.e2e.conformance_support import OperatorApi
from tests.e2e.conftest import RunningStack
from tests.e2e.payment_support import PaidSite, poll

pytestmark = pytest.mark.e2e

TIMEOUT_S = 45.0


@dataclass
class EbikeSite:
    api: OperatorApi
    site: PaidSite
    pile_id: str
    gateway: EbikeGatewaySimulator

    def port_command(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        method = "PUT" if path.endswith("limit") else "POST"
        sent: dict[str, Any] = self.api.ok(
            method, f"/operator/piles/{self.pile_id}/ports/{path}", body or {}
        )
        return sent

    def command(self, command_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.api.ok(
            "GET", f"/operator/piles/{self.pile_id}/port-commands/{command_id}"
        )
        return found

    def confirmed(self, command_id: str) -> dict[str, Any]:
        return poll(
            "the port command's echo",
            lambda: self.command(command_id),
            lambda c: c["status"] != "pending",
            TIMEOUT_S,
        )

    def gun_status(self, port_no: int) -> str | None:
        guns = self.api.ok("GET", f"/operator/piles/{self.pile_id}/guns")["items"]
        return next((g["status"] for g in guns if g["gun_no"] == port_no), None)


@pytest.fixture(scope="module")
def ebike(local_stack: RunningStack) -> Iterator[EbikeSite]:
    api = OperatorApi(local_stack)
    site = PaidSite.create(api, "E-bike commands")
    suffix = uuid.uuid4().hex[:8]
    pile_id, gateway_id = f"EB-{suffix}", f"GW-{suffix}"
    api.ok(
        "POST",
        "/operator/piles",
        {
            "pile_id": pile_id,
            "station_id": site.station_id,
            "serial": f"SN-{pile_id}",
            "kind": "ebike",
            "protocol": "modbus",
            "model": "cc-ebike-10",
            "rated_power_w": 10_000,
            "gun_count": 10,
            "gateway_id": gateway_id,
            "modbus_address": 1,
        },
    )
    # The pile joined the gateway's bus at address 1 when it was created; the station's
    # transformer meter goes at 2 (the PUT names the whole bus).
    bus = api.ok("GET", f"/operator/gateways/{gateway_id}")["devices"]
    assert [(d["address"], d["map_id"], d["pile_id"]) for d in bus] == [(1, "cc-ebike-10", pile_id)]
    configured = api.ok(
        "PUT",
        f"/operator/gateways/{gateway_id}/devices",
        [
            {"address": 1, "map_id": "cc-ebike-10", "pile_id": pile_id},
            {"address": 2, "map_id": "acrel-adl400", "station_id": site.station_id},
        ],
    )
    assert [d["address"] for d in configured["devices"]] == [1, 2]
    gateway = EbikeGatewaySimulator(
        gateway_id,
        "89860000000000007777",
        local_stack.mqtt_host,
        local_stack.mqtt_port,
        report_interval_s=2.0,
    )
    gateway.plug_in(3, draw_w=500)
    stop = threading.Event()
    thread = threading.Thread(target=gateway.run, args=(stop,), daemon=True)
    thread.start()
    try:
        poll("the gateway online", gateway.listening.is_set, bool, TIMEOUT_S)
        yield EbikeSite(api, site, pile_id, gateway)
    finally:
        stop.set()
        thread.join(10)


def test_port_states_and_site_load_reach_the_operator_api_from_the_envelopes(
    ebike: EbikeSite,
) -> None:
    status = poll("port 3 plugged", lambda: ebike.gun_status(3), lambda s: s == "Preparing", 60)
    assert status == "Preparing"
    assert ebike.gun_status(1) == "Available"
    path = f"/operator/stations/{ebike.site.station_id}/load"
    load = poll(
        "the site load",
        lambda: ebike.api.request("GET", path),
        lambda response: response.status_code == 200,
        60,
    ).json()
    # The simulated site draws 60 kW +- 25 % over the day (meter on three phases).
    assert 40_000 <= load["power_w"] <= 80_000
    assert load["gateway_id"] == ebike.gateway.gateway_id


def test_start_and_stop_travel_over_mqtt_and_are_confirmed_by_the_write_echo(
    ebike: EbikeSite,
) -> None:
    start = ebike.port_command("3/start", {"power_limit_w": 400, "time_limit_min": 30})
    assert start["status"] == "pending" and start["function_code"] == 16
    done = ebike.confirmed(start["command_id"])
    assert done["status"] == "confirmed", done
    assert ebike.gateway.port_state(3) is PortState.CHARGING
    poll("port 3 charging", lambda: ebike.gun_status(3), lambda s: s == "Charging", 60)
    stop = ebike.port_command("3/stop")
    assert ebike.confirmed(stop["command_id"])["status"] == "confirmed"
    assert ebike.gateway.port_state(3) is PortState.PLUGGED
    listed = ebike.api.ok("GET", f"/operator/piles/{ebike.pile_id}/port-commands")["items"]
    assert [c["kind"] for c in listed[:2]] == ["stop", "start"]


def test_power_limit_is_written_and_confirmed(ebike: EbikeSite) -> None:
    limit = ebike.port_command("4/power-limit", {"power_limit_w": 2000})
    assert ebike.confirmed(limit["command_id"])["status"] == "confirmed"
    assert ebike.gateway.port_limits(4).power_limit_w == 2000
