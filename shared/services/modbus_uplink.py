"""The Modbus uplink: decoded RTU responses from a gateway's bus -> port readings, port
states, fault events and the site's live load.

Ports used here (adapters in ``shared/adapters/dynamodb``): ``PortReadingStore``
(SessionsTable, ``port_readings.py``), ``PortEvents`` (a hook the e-bike session side
implements; default no-op).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from shared.domain.modbus_readings import PortReading, PortSample, PortState


class PortEvents(Protocol):
    """Called by the uplink after a port reading is stored and when a port's state changes
    (by the gateway's clock: a late, older sample never changes the state)."""

    def reading(self, pile_id: str, port_no: int, reading: PortReading) -> None:
        """A newly stored reading; ``reading.energy_wh`` is the RAW counter (Wh), not folded:
        use ``PortReadingStore.port_readings`` for energy across a wrap or reset."""

    def state(self, pile_id: str, port_no: int, state: PortState) -> None:
        """The port's current state changed to ``state``."""


class NoPortEvents:
    """The default hook: nothing listens."""

    def reading(self, pile_id: str, port_no: int, reading: PortReading) -> None:
        return None

    def state(self, pile_id: str, port_no: int, state: PortState) -> None:
        return None


class PortReadingStore(Protocol):
    def store(self, pile_id: str, at: datetime, samples: Mapping[int, PortSample]) -> None:
        """Store one poll cycle of a pile (port_no -> sample); idempotent per (pile, at).

        DynamoDB: 1 PutItem. Raises: UpstreamFailure.
        """

    def port_readings(
        self, pile_id: str, port_no: int, since: datetime, until: datetime
    ) -> list[PortReading]:
        """Readings of one port with ``since <= at <= until`` (gateway time), deduplicated by
        (gateway, seq), ordered by time, energy folded to a monotonic register.

        Raises: UpstreamFailure.
        """


__all__: Sequence[str] = ("NoPortEvents", "PortEvents", "PortReadingStore")
