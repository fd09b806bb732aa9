"""Harness of the e-bike end-to-end tests on the local stack.

:func:`running_ebike_site` makes, through the operator HTTP API, a paid site
(``payment_support.PaidSite``: operator, flat tariff, station with a partner) with a
10-port Modbus pile on a new gateway's bus at address 1 and the station's transformer meter
(Acrel ADL400) at address 2, then runs a simulated gateway (a real MQTT client sending real
RTU frames, ``infra.local.simulators.ebike_gateway``) in a thread until the block ends.
:class:`EbikeSite` reads what the operator's monitor shows (the port states, the site load)
and issues port commands.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from infra.local.simulators.ebike_gateway import EbikeGatewaySimulator
from infra.local.simulators.modbus_frames import StopReason
from tests.e2e.conformance_support import OperatorApi
from tests.e2e.conftest import RunningStack
from tests.e2e.payment_support import PaidSite, poll

TIMEOUT_S = 45.0
PILE_RATED_POWER_W = 10_000  # 10 ports of up to 1 kW


@dataclass
class EbikeSite:
    """A paid site with a 10-port e-bike pile behind a running simulated gateway."""

    stack: RunningStack
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

    def commands(self) -> list[dict[str, Any]]:
        """The pile's port commands, newest first."""
        listed: list[dict[str, Any]] = self.api.ok(
            "GET", f"/operator/piles/{self.pile_id}/port-commands"
        )["items"]
        return listed

    def gun_status(self, port_no: int) -> str | None:
        """The port's status on the operator's monitor (the pile's gun list)."""
        guns = self.api.ok("GET", f"/operator/piles/{self.pile_id}/guns")["items"]
        return next((g["status"] for g in guns if g["gun_no"] == port_no), None)

    def wait_status(self, port_no: int, statuses: set[str], timeout_s: float = 60) -> str:
        found = poll(
            f"port {port_no} in {sorted(statuses)}",
            lambda: self.gun_status(port_no),
            lambda status: status in statuses,
            timeout_s,
        )
        assert found is not None
        return found

    def stop_reason(self, port_no: int) -> StopReason:
        """The stop reason the port's registers show now (the simulated pile's)."""
        ports, _ = self.gateway.readings()
        return ports[port_no - 1].stop_reason

    def site_load(self, timeout_s: float = 60) -> dict[str, Any]:
        """The station's live load on the operator's monitor, once the meter reported."""
        path = f"/operator/stations/{self.site.station_id}/load"
        answer = poll(
            "the site load",
            lambda: self.api.request("GET", path),
            lambda response: response.status_code == 200,
            timeout_s,
        )
        load: dict[str, Any] = answer.json()
        return load


@contextmanager
def running_ebike_site(
    stack: RunningStack,
    name: str,
    *,
    plugged: Mapping[int, int] | None = None,
    report_interval_s: float = 2.0,
    speed: float = 1.0,
    periods: list[dict[str, Any]] | None = None,
) -> Iterator[EbikeSite]:
    """A new paid site whose e-bike pile and meter report through a running simulated
    gateway; ``plugged`` maps port numbers to the draw (W) of the charger plugged there
    before the gateway connects. The gateway stops when the block ends."""
    api = OperatorApi(stack)
    site = PaidSite.create(api, name, periods)
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
            "rated_power_w": PILE_RATED_POWER_W,
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
        f"8986{uuid.uuid4().int % 10**16:016d}",
        stack.mqtt_host,
        stack.mqtt_port,
        report_interval_s=report_interval_s,
        speed=speed,
    )
    for port_no, draw_w in (plugged or {}).items():
        gateway.plug_in(port_no, draw_w=draw_w)
    stop = threading.Event()
    thread = threading.Thread(target=gateway.run, args=(stop,), daemon=True)
    thread.start()
    try:
        poll("the gateway online", gateway.listening.is_set, bool, TIMEOUT_S)
        yield EbikeSite(stack, api, site, pile_id, gateway)
    finally:
        stop.set()
        thread.join(10)
