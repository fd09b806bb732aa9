"""E-bike port commands end to end on the local stack: a simulated gateway (real MQTT
client, real RTU frames) in front of a 10-port pile and a site meter; the operator API
switches a port on and off, the frames travel iot-data -> mosquitto -> the gateway, its
write echo comes back through the IoT rule and the Modbus bridge and confirms the
command; the port's state reaches the operator API's gun list."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.local.simulators.modbus_frames import PortState
from tests.e2e.conftest import RunningStack
from tests.e2e.ebike_support import EbikeSite, running_ebike_site
from tests.e2e.payment_support import poll

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ebike(local_stack: RunningStack) -> Iterator[EbikeSite]:
    with running_ebike_site(local_stack, "E-bike commands", plugged={3: 500}) as site:
        yield site


def test_port_states_and_site_load_reach_the_operator_api_from_the_envelopes(
    ebike: EbikeSite,
) -> None:
    status = poll("port 3 plugged", lambda: ebike.gun_status(3), lambda s: s == "Preparing", 60)
    assert status == "Preparing"
    assert ebike.gun_status(1) == "Available"
    load = ebike.site_load()
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
