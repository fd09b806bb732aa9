"""Run simulated OCPP piles and e-bike gateways together from a plain thread.

OCPP piles share one asyncio loop in the calling thread; every gateway gets its own
thread (paho-mqtt runs its network loop in a thread anyway). ``run(stop_event)`` returns
once ``stop_event`` (a ``threading.Event``) is set and everything has disconnected.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence

from infra.local.simulators.ebike_gateway import EbikeGatewaySimulator
from infra.local.simulators.ocpp_pile import OcppPileSimulator

log = logging.getLogger("charging_cloud.simulators.fleet")

Scenario = Callable[[asyncio.Event], Awaitable[None]]

STOP_POLL_S = 0.2
THREAD_JOIN_S = 10.0


class Fleet:
    """A set of simulators started and stopped together, with an optional scenario
    coroutine (it gets the loop's stop event) that drives them while they run."""

    def __init__(
        self,
        piles: Sequence[OcppPileSimulator],
        gateways: Sequence[EbikeGatewaySimulator] = (),
        scenario: Scenario | None = None,
    ) -> None:
        self.piles = list(piles)
        self.gateways = list(gateways)
        self._scenario = scenario

    def run(self, stop_event: threading.Event) -> None:
        """Block until ``stop_event`` is set; then stop every simulator cleanly."""
        threads = [
            threading.Thread(
                target=gateway.run,
                args=(stop_event,),
                name=f"gateway-{gateway.gateway_id}",
                daemon=True,
            )
            for gateway in self.gateways
        ]
        for thread in threads:
            thread.start()
        try:
            asyncio.run(self._run_piles(stop_event))
        finally:
            stop_event.set()
            for thread in threads:
                thread.join(timeout=THREAD_JOIN_S)

    async def _run_piles(self, stop_event: threading.Event) -> None:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(pile.run(stop)) for pile in self.piles]
        if self._scenario is not None:
            tasks.append(asyncio.create_task(_guarded(self._scenario(stop))))
        while not stop_event.is_set():
            await asyncio.sleep(STOP_POLL_S)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _guarded(scenario: Awaitable[None]) -> None:
    """A scenario's failure is logged; the simulators keep running."""
    try:
        await scenario
    except asyncio.CancelledError:
        raise
    except (ValueError, OSError, RuntimeError) as exc:
        log.warning("simulation scenario stopped: %r", exc)
