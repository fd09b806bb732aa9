"""The simulated OCPP pile against a small CSMS served here with ``websockets.serve``
and the ``ocpp`` package's central-system side."""

from __future__ import annotations

import asyncio
import base64
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint as CsmsSide16
from ocpp.v16 import call as csms_call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as CsmsSide201
from ocpp.v201 import call as csms_call201
from ocpp.v201 import call_result as result201
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from infra.local.simulators.ocpp_pile import OcppPileSimulator

PASSWORD = "sim-test-password-0001"
NOW = "2026-11-01T02:00:00.000Z"


@dataclass
class Csms:
    """Records what piles send; answers boots from ``boot_answers`` (then Accepted)."""

    heartbeat_interval_s: int = 1
    boot_answers: list[str] = field(default_factory=list)
    received: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    handshakes: list[Headers] = field(default_factory=list)
    connections: list[ServerConnection] = field(default_factory=list)
    sides: list[Any] = field(default_factory=list)
    url: str = ""

    def actions(self, pile_id: str) -> list[str]:
        return [action for pid, action, _ in self.received if pid == pile_id]

    def statuses(self, pile_id: str) -> list[dict[str, Any]]:
        return [
            payload
            for pid, action, payload in self.received
            if pid == pile_id and action == "StatusNotification"
        ]

    def boot_status(self) -> str:
        return self.boot_answers.pop(0) if self.boot_answers else "Accepted"


def _csms_side(csms: Csms, pile_id: str, connection: ServerConnection, protocol: str) -> Any:
    record = csms.received.append

    if protocol == "ocpp1.6":

        class Side16(CsmsSide16):  # type: ignore[misc]
            @on("BootNotification")
            def boot(self, **payload: Any) -> Any:
                record((pile_id, "BootNotification", payload))
                status = csms.boot_status()
                interval = csms.heartbeat_interval_s if status == "Accepted" else 1
                return result16.BootNotification(current_time=NOW, interval=interval, status=status)

            @on("Heartbeat")
            def heartbeat(self, **payload: Any) -> Any:
                record((pile_id, "Heartbeat", payload))
                return result16.Heartbeat(current_time=NOW)

            @on("StatusNotification")
            def status(self, **payload: Any) -> Any:
                record((pile_id, "StatusNotification", payload))
                return result16.StatusNotification()

        return Side16(pile_id, connection)

    class Side201(CsmsSide201):  # type: ignore[misc]
        @on("BootNotification")
        def boot(self, **payload: Any) -> Any:
            record((pile_id, "BootNotification", payload))
            status = csms.boot_status()
            interval = csms.heartbeat_interval_s if status == "Accepted" else 1
            return result201.BootNotification(current_time=NOW, interval=interval, status=status)

        @on("Heartbeat")
        def heartbeat(self, **payload: Any) -> Any:
            record((pile_id, "Heartbeat", payload))
            return result201.Heartbeat(current_time=NOW)

        @on("StatusNotification")
        def status(self, **payload: Any) -> Any:
            record((pile_id, "StatusNotification", payload))
            return result201.StatusNotification()

    return Side201(pile_id, connection)


async def _serve(csms: Csms, body: Callable[[], Awaitable[None]]) -> None:
    def check(connection: ServerConnection, request: Request) -> Response | None:
        pile_id = request.path.rsplit("/", 1)[-1]
        expected = "Basic " + base64.b64encode(f"{pile_id}:{PASSWORD}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return connection.respond(401, "wrong password\n")
        csms.handshakes.append(request.headers)
        return None

    async def handler(connection: ServerConnection) -> None:
        assert connection.request is not None
        pile_id = connection.request.path.rsplit("/", 1)[-1]
        csms.connections.append(connection)
        side = _csms_side(csms, pile_id, connection, connection.subprotocol or "")
        csms.sides.append(side)
        try:
            await side.start()
        except ConnectionClosed:
            return  # the pile hung up

    async with serve(
        handler,
        "127.0.0.1",
        0,
        subprotocols=[Subprotocol("ocpp1.6"), Subprotocol("ocpp2.0.1")],
        process_request=check,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        csms.url = f"ws://127.0.0.1:{port}"
        await body()


async def _until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.02)


def _run(csms: Csms, scenario: Callable[[Csms], Awaitable[None]]) -> None:
    asyncio.run(_serve(csms, lambda: scenario(csms)))


def a_pile(
    csms: Csms, pile_id: str, protocol: str = "ocpp1.6", **overrides: Any
) -> OcppPileSimulator:
    values: dict[str, Any] = {
        "gun_count": 2,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.2,
        "rng": random.Random(7),
        "iccid": "89860012345678901234",
    }
    values.update(overrides)
    return OcppPileSimulator(
        pile_id, values.pop("password", PASSWORD), csms.url, protocol, **values
    )


async def _running(pile: OcppPileSimulator) -> tuple[asyncio.Event, asyncio.Task[None]]:
    stop = asyncio.Event()
    return stop, asyncio.create_task(pile.run(stop))


async def _stop(stop: asyncio.Event, task: asyncio.Task[None]) -> None:
    stop.set()
    async with asyncio.timeout(5):
        await task


def test_pile_boots_reports_every_gun_and_heartbeats_when_connected_on_16() -> None:
    async def scenario(csms: Csms) -> None:
        pile = a_pile(csms, "SIM-16-A")
        stop, task = await _running(pile)
        await _until(lambda: pile.stats.heartbeats >= 1)
        await _stop(stop, task)
        actions = csms.actions("SIM-16-A")
        assert actions[0] == "BootNotification"
        assert actions[1:4] == ["StatusNotification"] * 3
        assert [s["connector_id"] for s in csms.statuses("SIM-16-A")] == [0, 1, 2]
        assert {s["status"] for s in csms.statuses("SIM-16-A")} == {"Available"}
        boot = csms.received[0][2]
        assert boot["charge_point_vendor"] == "ChargingCloudSim"
        assert boot["iccid"] == "89860012345678901234"
        assert pile.stats.heartbeat_interval_s == 1.0
        assert csms.handshakes[0]["Sec-WebSocket-Protocol"] == "ocpp1.6"
        assert not pile.is_connected

    _run(Csms(), scenario)


def test_pile_reports_each_state_change_when_driven_on_16() -> None:
    async def scenario(csms: Csms) -> None:
        pile = a_pile(csms, "SIM-16-B")
        stop, task = await _running(pile)
        await asyncio.wait_for(pile.accepted.wait(), 5)
        await pile.plug_in(1)
        await pile.fault(2, "HighTemperature")
        await pile.recover(2)
        await pile.start_charging(1)
        await _stop(stop, task)
        changes = [
            (s["connector_id"], s["status"], s["error_code"]) for s in csms.statuses("SIM-16-B")[3:]
        ]
        assert changes == [
            (1, "Preparing", "NoError"),
            (2, "Faulted", "HighTemperature"),
            (2, "Available", "NoError"),
            (1, "Charging", "NoError"),
        ]
        assert pile.status_of(1) == "Charging"

    _run(Csms(heartbeat_interval_s=300), scenario)


def test_pile_reconnects_without_rebooting_and_reports_guns_again_when_the_door_closes_it() -> None:
    async def scenario(csms: Csms) -> None:
        pile = a_pile(csms, "SIM-16-C")
        stop, task = await _running(pile)
        await asyncio.wait_for(pile.accepted.wait(), 5)
        await pile.plug_in(2)
        await csms.connections[0].close(code=1001, reason="Going away")  # API Gateway idle cut
        await _until(lambda: pile.stats.connects == 2 and pile.is_accepted)
        await _stop(stop, task)
        assert csms.actions("SIM-16-C").count("BootNotification") == 1
        after_reconnect = csms.statuses("SIM-16-C")[-3:]
        assert [(s["connector_id"], s["status"]) for s in after_reconnect] == [
            (0, "Available"),
            (1, "Available"),
            (2, "Preparing"),
        ]

    _run(Csms(heartbeat_interval_s=300), scenario)


def test_pile_retries_boot_when_the_csms_answers_pending() -> None:
    async def scenario(csms: Csms) -> None:
        pile = a_pile(csms, "SIM-16-D")
        stop, task = await _running(pile)
        await asyncio.wait_for(pile.accepted.wait(), 5)
        await _stop(stop, task)
        assert csms.actions("SIM-16-D")[:2] == ["BootNotification", "BootNotification"]
        assert pile.stats.boots == 2
        assert pile.stats.last_boot_status == "Accepted"

    _run(Csms(heartbeat_interval_s=300, boot_answers=["Pending"]), scenario)


def test_pile_keeps_retrying_with_backoff_and_stops_cleanly_when_refused() -> None:
    async def scenario(csms: Csms) -> None:
        pile = a_pile(csms, "SIM-16-E", password="not-the-right-password")
        stop, task = await _running(pile)
        await _until(lambda: pile.stats.refused >= 3)
        await _stop(stop, task)
        assert pile.stats.last_refusal_status == 401
        assert pile.stats.connects == 0
        assert csms.received == []

    _run(Csms(), scenario)


def test_pile_speaks_201_with_one_evse_per_gun_when_protocol_is_201() -> None:
    async def scenario(csms: Csms) -> None:
        pile = a_pile(csms, "SIM-201-A", "ocpp2.0.1", model="SIM-DC60", serial="SN-201-A")
        stop, task = await _running(pile)
        await asyncio.wait_for(pile.accepted.wait(), 5)
        await pile.plug_in(1)
        await pile.fault(2)
        await _until(lambda: pile.stats.heartbeats >= 1)
        await _stop(stop, task)
        boot = csms.received[0][2]
        assert boot["reason"] == "PowerUp"
        assert boot["charging_station"]["vendor_name"] == "ChargingCloudSim"
        assert boot["charging_station"]["serial_number"] == "SN-201-A"
        assert boot["charging_station"]["modem"]["iccid"] == "89860012345678901234"
        assert [
            (s["evse_id"], s["connector_id"], s["connector_status"])
            for s in csms.statuses("SIM-201-A")
        ] == [
            (1, 1, "Available"),
            (2, 1, "Available"),
            (1, 1, "Occupied"),
            (2, 1, "Faulted"),
        ]
        assert csms.handshakes[0]["Sec-WebSocket-Protocol"] == "ocpp2.0.1"

    _run(Csms(), scenario)


def test_pile_answers_trigger_and_reboots_when_the_csms_asks_on_16() -> None:
    async def scenario(csms: Csms) -> None:
        pile = a_pile(csms, "SIM-16-F")
        stop, task = await _running(pile)
        await asyncio.wait_for(pile.accepted.wait(), 5)
        side = csms.sides[0]
        triggered = await side.call(
            csms_call16.TriggerMessage(requested_message="StatusNotification", connector_id=2)
        )
        assert triggered.status == "Accepted"
        await _until(lambda: len(csms.statuses("SIM-16-F")) == 4)
        unknown = await side.call(csms_call16.UnlockConnector(connector_id=9))
        assert unknown.status == "NotSupported"
        reset = await side.call(csms_call16.Reset(type="Soft"))
        assert reset.status == "Accepted"
        await _until(
            lambda: csms.actions("SIM-16-F").count("BootNotification") == 2 and pile.is_accepted
        )
        await _stop(stop, task)
        assert pile.stats.calls_received == ["TriggerMessage", "UnlockConnector", "Reset"]

    _run(Csms(heartbeat_interval_s=300), scenario)


def test_pile_marks_guns_unavailable_when_the_csms_changes_availability_on_201() -> None:
    async def scenario(csms: Csms) -> None:
        pile = a_pile(csms, "SIM-201-B", "ocpp2.0.1")
        stop, task = await _running(pile)
        await asyncio.wait_for(pile.accepted.wait(), 5)
        answer = await csms.sides[0].call(
            csms_call201.ChangeAvailability(operational_status="Inoperative", evse={"id": 2})
        )
        assert answer.status == "Accepted"
        await _until(
            lambda: pile.status_of(2) == "Unavailable" and len(csms.statuses("SIM-201-B")) == 3
        )
        await _stop(stop, task)
        assert csms.statuses("SIM-201-B")[-1]["connector_status"] == "Unavailable"
        assert pile.status_of(1) == "Available"

    _run(Csms(heartbeat_interval_s=300), scenario)


@pytest.mark.parametrize(
    ("ws_url", "expected"),
    [
        ("ws://127.0.0.1:9000", "ws://127.0.0.1:9000/ocpp/P1"),
        ("ws://127.0.0.1:9000/", "ws://127.0.0.1:9000/ocpp/P1"),
        ("ws://127.0.0.1:9000/ocpp", "ws://127.0.0.1:9000/ocpp/P1"),
    ],
)
def test_pile_url_ends_with_ocpp_and_the_pile_id_when_given_a_door_base(
    ws_url: str, expected: str
) -> None:
    assert OcppPileSimulator("P1", PASSWORD, ws_url, "ocpp1.6").url == expected


def test_pile_refuses_when_protocol_or_guns_are_invalid() -> None:
    with pytest.raises(ValueError):
        OcppPileSimulator("P1", PASSWORD, "ws://x", "ocpp2.1")
    with pytest.raises(ValueError):
        OcppPileSimulator("P1", PASSWORD, "ws://x", "ocpp1.6", gun_count=0)
