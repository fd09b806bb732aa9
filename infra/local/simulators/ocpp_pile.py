"""A simulated OCPP car charging pile (1.6J or 2.0.1) on the ``ocpp`` package's ChargePoint.

It behaves like a real pile towards the CSMS: it opens ``{ws_url}/ocpp/{pile_id}`` with
HTTP Basic auth and the one sub-protocol it speaks, sends BootNotification (retrying while
the CSMS answers Pending or Rejected), a StatusNotification per gun, Heartbeats at the
interval the CSMS returned, and reconnects with exponential backoff and jitter whenever
the connection drops (API Gateway closes idle connections after 10 minutes and every
connection after 2 hours, so reconnects are routine). Like a real pile it boots only once
per power-up; after a reconnect it re-sends its gun statuses instead.

Drive it from the event loop it runs on: ``await pile.plug_in(1)``, ``fault``,
``recover``, ``unplug``; every change is sent as a StatusNotification when connected and
on the next connection otherwise. It answers the CSMS's Reset, ChangeAvailability,
TriggerMessage and UnlockConnector; other CSMS calls get the library's NotImplemented.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

import websockets
from ocpp.exceptions import OCPPError
from ocpp.routing import after as _after
from ocpp.routing import on as _on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from shared.domain.clock import system_clock, to_wire

log = logging.getLogger("charging_cloud.simulators.ocpp")

PROTOCOLS = ("ocpp1.6", "ocpp2.0.1")

# When the CSMS answers a BootNotification with interval 0 (Pending/Rejected), retry after this.
DEFAULT_BOOT_RETRY_S = 10.0

_Handler = TypeVar("_Handler", bound=Callable[..., Any])


def on(action: str) -> Callable[[_Handler], _Handler]:
    """``ocpp.routing.on`` with a type (the package ships none)."""
    decorator: Callable[[_Handler], _Handler] = _on(action)
    return decorator


def after(action: str) -> Callable[[_Handler], _Handler]:
    """``ocpp.routing.after`` with a type."""
    decorator: Callable[[_Handler], _Handler] = _after(action)
    return decorator


class GunState(StrEnum):
    """What is physically happening at a gun, independent of the OCPP version."""

    AVAILABLE = "available"
    PLUGGED = "plugged"
    CHARGING = "charging"
    FAULTED = "faulted"
    UNAVAILABLE = "unavailable"


_STATUS_16 = {
    GunState.AVAILABLE: "Available",
    GunState.PLUGGED: "Preparing",
    GunState.CHARGING: "Charging",
    GunState.FAULTED: "Faulted",
    GunState.UNAVAILABLE: "Unavailable",
}
_STATUS_201 = {
    GunState.AVAILABLE: "Available",
    GunState.PLUGGED: "Occupied",
    GunState.CHARGING: "Occupied",
    GunState.FAULTED: "Faulted",
    GunState.UNAVAILABLE: "Unavailable",
}


@dataclass(slots=True)
class Gun:
    """One gun's simulated state; ``error_code`` is an OCPP 1.6 ChargePointErrorCode."""

    state: GunState = GunState.AVAILABLE
    error_code: str = "NoError"


@dataclass(slots=True)
class PileStats:
    """What the simulator has done, for tests and the demo's log."""

    connects: int = 0
    refused: int = 0
    boots: int = 0
    heartbeats: int = 0
    status_notifications: int = 0
    last_boot_status: str | None = None
    last_refusal_status: int | None = None
    heartbeat_interval_s: float | None = None
    calls_received: list[str] = field(default_factory=list)


class _Simulated16(ChargePoint16):  # type: ignore[misc]  # ocpp ships no type information
    """OCPP 1.6 wire side; CSMS-initiated calls are delegated to the simulator."""

    def __init__(self, pile: OcppPileSimulator, connection: ClientConnection) -> None:
        super().__init__(pile.pile_id, connection, response_timeout=pile.response_timeout_s)
        self.pile = pile

    @on("Reset")
    def on_reset(self, type: str, **_: Any) -> Any:
        self.pile.stats.calls_received.append("Reset")
        return result16.Reset(status="Accepted")

    @after("Reset")
    async def after_reset(self, **_: Any) -> None:
        await self.pile.reboot()

    @on("ChangeAvailability")
    async def on_change_availability(self, connector_id: int, type: str, **_: Any) -> Any:
        self.pile.stats.calls_received.append("ChangeAvailability")
        guns = self.pile.gun_numbers() if connector_id == 0 else [connector_id]
        if any(gun not in self.pile.guns for gun in guns):
            return result16.ChangeAvailability(status="Rejected")
        return result16.ChangeAvailability(status="Accepted")

    @after("ChangeAvailability")
    async def after_change_availability(self, connector_id: int, type: str, **_: Any) -> None:
        guns = self.pile.gun_numbers() if connector_id == 0 else [connector_id]
        await self.pile.set_availability(guns, is_operative=type == "Operative")

    @on("TriggerMessage")
    def on_trigger_message(self, requested_message: str, **_: Any) -> Any:
        self.pile.stats.calls_received.append("TriggerMessage")
        supported = {"BootNotification", "Heartbeat", "StatusNotification"}
        status = "Accepted" if requested_message in supported else "NotImplemented"
        return result16.TriggerMessage(status=status)

    @after("TriggerMessage")
    async def after_trigger_message(
        self, requested_message: str, connector_id: int | None = None, **_: Any
    ) -> None:
        await self.pile.send_triggered(requested_message, connector_id)

    @on("UnlockConnector")
    def on_unlock_connector(self, connector_id: int, **_: Any) -> Any:
        self.pile.stats.calls_received.append("UnlockConnector")
        status = "Unlocked" if connector_id in self.pile.guns else "NotSupported"
        return result16.UnlockConnector(status=status)


class _Simulated201(ChargePoint201):  # type: ignore[misc]  # ocpp ships no type information
    """OCPP 2.0.1 wire side; each gun is an EVSE with one connector."""

    def __init__(self, pile: OcppPileSimulator, connection: ClientConnection) -> None:
        super().__init__(pile.pile_id, connection, response_timeout=pile.response_timeout_s)
        self.pile = pile

    @on("Reset")
    def on_reset(self, type: str, **_: Any) -> Any:
        self.pile.stats.calls_received.append("Reset")
        return result201.Reset(status="Accepted")

    @after("Reset")
    async def after_reset(self, **_: Any) -> None:
        await self.pile.reboot()

    @on("ChangeAvailability")
    def on_change_availability(
        self, operational_status: str, evse: dict[str, int] | None = None, **_: Any
    ) -> Any:
        self.pile.stats.calls_received.append("ChangeAvailability")
        if evse is not None and evse.get("id", 0) not in (0, *self.pile.guns):
            return result201.ChangeAvailability(status="Rejected")
        return result201.ChangeAvailability(status="Accepted")

    @after("ChangeAvailability")
    async def after_change_availability(
        self, operational_status: str, evse: dict[str, int] | None = None, **_: Any
    ) -> None:
        evse_id = 0 if evse is None else evse.get("id", 0)
        guns = self.pile.gun_numbers() if evse_id == 0 else [evse_id]
        await self.pile.set_availability(guns, is_operative=operational_status == "Operative")

    @on("TriggerMessage")
    def on_trigger_message(self, requested_message: str, **_: Any) -> Any:
        self.pile.stats.calls_received.append("TriggerMessage")
        supported = {"BootNotification", "Heartbeat", "StatusNotification"}
        status = "Accepted" if requested_message in supported else "NotImplemented"
        return result201.TriggerMessage(status=status)

    @after("TriggerMessage")
    async def after_trigger_message(
        self, requested_message: str, evse: dict[str, int] | None = None, **_: Any
    ) -> None:
        await self.pile.send_triggered(requested_message, None if evse is None else evse["id"])

    @on("UnlockConnector")
    def on_unlock_connector(self, evse_id: int, connector_id: int, **_: Any) -> Any:
        self.pile.stats.calls_received.append("UnlockConnector")
        status = "Unlocked" if evse_id in self.pile.guns else "UnknownConnector"
        return result201.UnlockConnector(status=status)


class OcppPileSimulator:
    """One simulated pile. ``run(stop)`` keeps it connected until ``stop`` is set."""

    def __init__(
        self,
        pile_id: str,
        password: str,
        ws_url: str,
        protocol: str,
        gun_count: int = 1,
        *,
        vendor: str = "ChargingCloudSim",
        model: str = "SIM-AC7",
        serial: str | None = None,
        firmware_version: str = "1.0.0",
        iccid: str | None = None,
        imsi: str | None = None,
        heartbeat_interval_s: float | None = None,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 30.0,
        response_timeout_s: float = 30.0,
        clock: Callable[[], datetime] = system_clock,
        rng: random.Random | None = None,
    ) -> None:
        """``ws_url`` is the door's base (``ws://127.0.0.1:9000``, with or without ``/ocpp``);
        ``heartbeat_interval_s`` overrides the interval the CSMS returns (tests)."""
        if protocol not in PROTOCOLS:
            raise ValueError("protocol must be ocpp1.6 or ocpp2.0.1")
        if gun_count < 1:
            raise ValueError("a pile has at least one gun")
        self.pile_id = pile_id
        self.protocol = protocol
        self.url = f"{_ocpp_base(ws_url)}/{pile_id}"
        self.vendor = vendor
        self.model = model
        self.serial = serial or pile_id
        self.firmware_version = firmware_version
        self.iccid = iccid
        self.imsi = imsi
        self.guns: dict[int, Gun] = {n: Gun() for n in range(1, gun_count + 1)}
        self.stats = PileStats()
        self.response_timeout_s = response_timeout_s
        self._authorization = "Basic " + base64.b64encode(f"{pile_id}:{password}".encode()).decode(
            "ascii"
        )
        self._heartbeat_override_s = heartbeat_interval_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._clock = clock
        self._rng = rng or random.Random()
        self._cp: _Simulated16 | _Simulated201 | None = None
        self._connection: ClientConnection | None = None
        self._needs_boot = True
        self._is_accepted = False
        self.accepted = asyncio.Event()  # set while booted/accepted on a live connection

    # -- state the demo and tests read ------------------------------------------------

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    @property
    def is_accepted(self) -> bool:
        return self._is_accepted

    def gun_numbers(self) -> list[int]:
        return sorted(self.guns)

    def status_of(self, gun_no: int) -> str:
        """The OCPP status string this pile reports for ``gun_no``."""
        table = _STATUS_16 if self.protocol == "ocpp1.6" else _STATUS_201
        return table[self.guns[gun_no].state]

    # -- driving the pile ---------------------------------------------------------------

    async def plug_in(self, gun_no: int) -> None:
        """A cable is plugged in (1.6 Preparing, 2.0.1 Occupied)."""
        await self._set(gun_no, GunState.PLUGGED)

    async def start_charging(self, gun_no: int) -> None:
        """The gun delivers energy (1.6 Charging, 2.0.1 Occupied)."""
        await self._set(gun_no, GunState.CHARGING)

    async def unplug(self, gun_no: int) -> None:
        """The cable is taken out: the gun is free again."""
        await self._set(gun_no, GunState.AVAILABLE)

    async def fault(self, gun_no: int, error_code: str = "OtherError") -> None:
        """The gun faults; ``error_code`` is a 1.6 ChargePointErrorCode (HighTemperature ...)."""
        await self._set(gun_no, GunState.FAULTED, error_code)

    async def recover(self, gun_no: int) -> None:
        """The fault clears: the gun is available again."""
        await self._set(gun_no, GunState.AVAILABLE)

    async def set_availability(self, gun_numbers: list[int], *, is_operative: bool) -> None:
        for gun_no in gun_numbers:
            gun = self.guns[gun_no]
            if is_operative and gun.state is GunState.UNAVAILABLE:
                await self._set(gun_no, GunState.AVAILABLE)
            elif not is_operative and gun.state is GunState.AVAILABLE:
                await self._set(gun_no, GunState.UNAVAILABLE)

    async def reboot(self) -> None:
        """Act on an accepted Reset: drop the connection and boot again on reconnect."""
        self._needs_boot = True
        if self._connection is not None:
            await self._connection.close()

    async def send_triggered(self, requested_message: str, gun_no: int | None) -> None:
        """Send what a TriggerMessage asked for (after its CallResult went out)."""
        if self._cp is None:
            return
        if requested_message == "Heartbeat":
            await self._heartbeat(self._cp)
        elif requested_message == "BootNotification":
            await self._boot(self._cp)
        elif requested_message == "StatusNotification":
            guns = self.gun_numbers() if gun_no in (None, 0) else [gun_no]
            for number in guns:
                if number in self.guns:
                    await self._send_status(self._cp, number)

    async def _set(self, gun_no: int, state: GunState, error_code: str = "NoError") -> None:
        if gun_no not in self.guns:
            raise ValueError("no such gun")
        self.guns[gun_no] = Gun(state=state, error_code=error_code)
        if self._cp is None or not self._is_accepted:
            return  # the next connection reports every gun
        try:
            await self._send_status(self._cp, gun_no)
        except (OCPPError, TimeoutError, websockets.ConnectionClosed) as exc:
            log.info("pile %s status not sent: %r", self.pile_id, exc)

    # -- connection loop ----------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until ``stop`` is set, reconnecting with backoff; never raises for
        network trouble."""
        delay = self._backoff_initial_s
        while not stop.is_set():
            has_booted = await self._connect_once(stop)
            if stop.is_set():
                break
            if has_booted:
                delay = self._backoff_initial_s
            wait_s = delay * (0.5 + self._rng.random())
            log.info("pile %s reconnecting in %.1f s", self.pile_id, wait_s)
            await _sleep_unless(stop, wait_s)
            delay = min(delay * 2, self._backoff_max_s)

    async def _connect_once(self, stop: asyncio.Event) -> bool:
        """One connection's life; True when the pile got as far as Accepted."""
        has_booted = False
        try:
            async with connect(
                self.url,
                subprotocols=[Subprotocol(self.protocol)],
                additional_headers={"Authorization": self._authorization},
                proxy=None,
                open_timeout=10,
                ping_interval=None,
                close_timeout=2,
            ) as connection:
                self.stats.connects += 1
                self._connection = connection
                cp: _Simulated16 | _Simulated201 = (
                    _Simulated16(self, connection)
                    if self.protocol == "ocpp1.6"
                    else _Simulated201(self, connection)
                )
                self._cp = cp
                reader = asyncio.create_task(cp.start())
                life = asyncio.create_task(self._session(cp))
                stopper = asyncio.create_task(stop.wait())
                try:
                    done, _ = await asyncio.wait(
                        {reader, life, stopper}, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    has_booted = self._is_accepted
                    self._detach()
                    for task in (reader, life, stopper):
                        task.cancel()
                    await asyncio.gather(reader, life, stopper, return_exceptions=True)
                for task in done:
                    if task is not stopper and not task.cancelled():
                        _log_end(self.pile_id, task.exception())
        except websockets.InvalidStatus as exc:
            self.stats.refused += 1
            self.stats.last_refusal_status = exc.response.status_code
            log.warning(
                "pile %s refused by the door: HTTP %s", self.pile_id, exc.response.status_code
            )
        except (OSError, TimeoutError, websockets.WebSocketException) as exc:
            log.info("pile %s connection failed: %s", self.pile_id, exc)
        finally:
            self._detach()
        return has_booted

    def _detach(self) -> None:
        self._connection = None
        self._cp = None
        self._is_accepted = False
        self.accepted.clear()

    async def _session(self, cp: _Simulated16 | _Simulated201) -> None:
        """Boot (once per power-up), report every gun, then heartbeat forever."""
        if self._needs_boot:
            interval_s = await self._boot_until_accepted(cp)
            self._needs_boot = False
        else:
            interval_s = self.stats.heartbeat_interval_s or DEFAULT_BOOT_RETRY_S
        self._is_accepted = True
        if self.protocol == "ocpp1.6":
            await self._send_status(cp, 0)
        for gun_no in self.gun_numbers():
            await self._send_status(cp, gun_no)
        self.accepted.set()
        interval_s = self._heartbeat_override_s or interval_s
        while True:
            await asyncio.sleep(interval_s)
            await self._heartbeat(cp)

    async def _boot_until_accepted(self, cp: _Simulated16 | _Simulated201) -> float:
        while True:
            status, interval_s = await self._boot(cp)
            if status == "Accepted":
                return interval_s
            await asyncio.sleep(interval_s or DEFAULT_BOOT_RETRY_S)

    async def _boot(self, cp: _Simulated16 | _Simulated201) -> tuple[str, float]:
        if self.protocol == "ocpp1.6":
            request: Any = call16.BootNotification(
                charge_point_model=self.model,
                charge_point_vendor=self.vendor,
                charge_point_serial_number=self.serial,
                firmware_version=self.firmware_version,
                iccid=self.iccid,
                imsi=self.imsi,
            )
        else:
            modem = {"iccid": self.iccid, "imsi": self.imsi} if self.iccid else None
            station: dict[str, Any] = {
                "model": self.model,
                "vendor_name": self.vendor,
                "serial_number": self.serial,
                "firmware_version": self.firmware_version,
            }
            if modem is not None:
                station["modem"] = {k: v for k, v in modem.items() if v is not None}
            request = call201.BootNotification(charging_station=station, reason="PowerUp")
        response = await _call(cp, request)
        self.stats.boots += 1
        self.stats.last_boot_status = str(response.status)
        interval_s = float(response.interval)
        if response.status == "Accepted":
            self.stats.heartbeat_interval_s = interval_s
        log.info(
            "pile %s booted: %s, heartbeat every %.0f s", self.pile_id, response.status, interval_s
        )
        return str(response.status), interval_s

    async def _heartbeat(self, cp: _Simulated16 | _Simulated201) -> None:
        request = call16.Heartbeat() if self.protocol == "ocpp1.6" else call201.Heartbeat()
        await _call(cp, request)
        self.stats.heartbeats += 1

    async def _send_status(self, cp: _Simulated16 | _Simulated201, gun_no: int) -> None:
        timestamp = to_wire(self._clock())
        if self.protocol == "ocpp1.6":
            gun = self.guns.get(gun_no, Gun())
            request: Any = call16.StatusNotification(
                connector_id=gun_no,
                error_code=gun.error_code if gun_no else "NoError",
                status=_STATUS_16[gun.state] if gun_no else "Available",
                timestamp=timestamp,
            )
        else:
            request = call201.StatusNotification(
                timestamp=timestamp,
                connector_status=_STATUS_201[self.guns[gun_no].state],
                evse_id=gun_no,
                connector_id=1,
            )
        await _call(cp, request)
        self.stats.status_notifications += 1


async def _call(cp: _Simulated16 | _Simulated201, request: Any) -> Any:
    """Send a call and return its result; a CallError raises (the library's OCPPError)."""
    send: Callable[..., Awaitable[Any]] = cp.call
    return await send(request, suppress=False)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return


def _log_end(pile_id: str, error: BaseException | None) -> None:
    if error is None:
        log.info("pile %s connection ended", pile_id)
    else:
        log.info("pile %s connection ended: %r", pile_id, error)


def _ocpp_base(ws_url: str) -> str:
    base = ws_url.rstrip("/")
    return base if base.endswith("/ocpp") else f"{base}/ocpp"
