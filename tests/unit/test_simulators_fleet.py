"""The fleet runner stops every simulator promptly when the stack's stop event is set,
even while they are still retrying connections that fail."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

from infra.local.simulators.ebike_gateway import EbikeGatewaySimulator
from infra.local.simulators.fleet import Fleet
from infra.local.simulators.ocpp_pile import OcppPileSimulator

STOP_WITHIN_S = 5.0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_fleet_stops_promptly_when_the_stop_event_is_set_while_connections_fail() -> None:
    port = _closed_port()
    pile = OcppPileSimulator(
        "SIM-FLEET-1",
        "sim-test-password-0001",
        f"ws://127.0.0.1:{port}",
        "ocpp1.6",
        backoff_initial_s=0.05,
        backoff_max_s=0.1,
    )
    gateway = EbikeGatewaySimulator("GW-FLEET-1", "89860000000000000001", "127.0.0.1", port)
    scenario_started = threading.Event()
    scenario_stopped = threading.Event()

    async def scenario(stop: asyncio.Event) -> None:
        scenario_started.set()
        await stop.wait()
        scenario_stopped.set()

    stop_event = threading.Event()
    runner = threading.Thread(target=Fleet([pile], [gateway], scenario).run, args=(stop_event,))
    runner.start()
    assert scenario_started.wait(5)
    time.sleep(0.5)  # let the pile go round its backoff loop a few times
    stopped_at = time.monotonic()
    stop_event.set()
    runner.join(STOP_WITHIN_S)
    assert not runner.is_alive()
    assert time.monotonic() - stopped_at < STOP_WITHIN_S
    assert scenario_stopped.is_set()
    assert pile.stats.connects == 0
    assert not pile.is_connected
    assert gateway.stats.connects == 0


def test_fleet_survives_a_failing_scenario_and_still_stops() -> None:
    port = _closed_port()
    pile = OcppPileSimulator(
        "SIM-FLEET-2",
        "sim-test-password-0001",
        f"ws://127.0.0.1:{port}",
        "ocpp2.0.1",
        backoff_initial_s=0.05,
        backoff_max_s=0.1,
    )
    failed = threading.Event()

    async def scenario(stop: asyncio.Event) -> None:
        failed.set()
        await pile.plug_in(99)  # no such gun: ValueError, logged by the fleet

    stop_event = threading.Event()
    runner = threading.Thread(target=Fleet([pile], [], scenario).run, args=(stop_event,))
    runner.start()
    assert failed.wait(5)
    time.sleep(0.3)
    assert runner.is_alive()  # the piles keep running after the scenario failed
    stop_event.set()
    runner.join(STOP_WITHIN_S)
    assert not runner.is_alive()
