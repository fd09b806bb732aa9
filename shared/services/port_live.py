"""An e-bike pile's ports with their newest Modbus reading, for the operator's monitor.

The port list is the pile's gun items (name, enabled, status as the bridge last applied it);
each port's figures come from ONE bounded query of the pile's newest ``PORTREAD`` items
(``LatestPortReadings``), never a scan. A port with no reading yet has none (the API shows
null figures). Only Modbus piles have port readings: any other pile is refused (Conflict).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shared.domain.errors import Conflict
from shared.domain.modbus_readings import PortReading
from shared.domain.piles import Gun, Pile, PileProtocol
from shared.domain.tenancy import Principal
from shared.services.base_data import BaseDataRepository

# The newest items read per request: the newest item alone holds the newest cycle; two more
# cover a port left out of the newest batch (an unknown state code) at a few KB per read.
LATEST_ITEMS = 3


class LatestPortReadings(Protocol):
    def latest_port_readings(self, pile_id: str, *, items: int = ...) -> dict[int, PortReading]:
        """Each port's newest reading (folded energy); ports without one absent."""
        ...


@dataclass(frozen=True, slots=True)
class LivePort:
    gun: Gun
    reading: PortReading | None


@dataclass(frozen=True, slots=True)
class LivePorts:
    pile: Pile
    ports: tuple[LivePort, ...]


def live_ports(
    repo: BaseDataRepository,
    principal: Principal,
    pile_id: str,
    readings: LatestPortReadings,
) -> LivePorts:
    """The caller's Modbus pile's ports with their newest readings (maintenance may read).

    Raises:
        NotFound: no such pile for the caller (another operator's pile included).
        Conflict: the pile is not a Modbus (e-bike) pile: it has no port readings.
        UpstreamFailure: DynamoDB failed.
    """
    pile = repo.get_pile(principal, pile_id)
    if pile.protocol is not PileProtocol.MODBUS:
        raise Conflict(
            f"pile {pile_id} is a {pile.kind} pile on {pile.protocol}: live port readings "
            f"exist for Modbus (e-bike) piles only; see GET /operator/piles/{pile_id}/guns",
            pile_id=pile_id,
            protocol=pile.protocol.value,
        )
    guns = repo.list_guns(principal, pile)
    latest = readings.latest_port_readings(pile_id, items=LATEST_ITEMS)
    ports = tuple(
        LivePort(gun=gun, reading=latest.get(gun.gun_no))
        for gun in sorted(guns, key=lambda gun: gun.gun_no)
    )
    return LivePorts(pile=pile, ports=ports)
