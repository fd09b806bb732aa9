"""Presence of Modbus piles: housekeeping's minute job marks offline the piles of gateways
that went silent (the bridge marks them online: ``modbus_uplink.mark_present``).

A gateway holding its piles online is in a sparse, keys-only index by the time the sweep
should look at it (``presence_due``); the sweep reads only the gateways whose time has
come, never a scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.domain.gateways import GatewayPresence


class PresenceStore(Protocol):
    def due_for_presence(self, now: datetime, limit: int = 200) -> list[str]:
        """Gateways holding piles online whose due time is ``<= now`` (1 Query of a sparse
        index, never a scan). Raises: UpstreamFailure."""

    def presence(self, gateway_id: str) -> GatewayPresence | None:
        """The gateway as the sweep judges it (consistent). Raises: UpstreamFailure."""

    def postpone_presence(self, presence: GatewayPresence, due: datetime) -> bool:
        """Move the due time (False: changed meanwhile). Raises: UpstreamFailure."""

    def release_presence(self, presence: GatewayPresence) -> bool:
        """Forget the piles marked online (False: it spoke meanwhile). Raises: UpstreamFailure."""

    def end_presence(self, presence: GatewayPresence) -> bool:
        """Out of the index (False: it spoke meanwhile). Raises: UpstreamFailure."""


class OfflinePiles(Protocol):
    def mark_bus_offline(self, pile_id: str, last_seen_at: datetime) -> bool:
        """Offline, last seen at ``last_seen_at``, unless stamped online later.

        Raises: UpstreamFailure."""


@dataclass(frozen=True, slots=True)
class PresenceSweep:
    checked: int
    postponed: int
    silent: tuple[str, ...]  # gateways whose piles went offline
    piles_offline: int


def sweep_silent_gateways(
    store: PresenceStore, piles: OfflinePiles, now: datetime, *, limit: int = 200
) -> PresenceSweep:
    """Mark offline the piles of gateways silent for longer than their threshold
    (``shared/domain/gateways.py`` ``offline_after``). Only gateways whose due time passed
    are read; one still heard from gets its due time moved to ``last_seen_at + threshold``.
    No fault event: a lost OCPP connection makes none either (presence shows it).

    A silent gateway: its online set is released first (a message arriving from then on
    marks its piles online again), then its piles are marked offline (each write
    conditional on the pile not being stamped online after the gateway's last message),
    then it leaves the index; a failure between the steps is finished by the next minute.

    DynamoDB: 1 Query + per due gateway 1 GetItem (consistent) + 1 UpdateItem, or for a
    silent one 2 UpdateItem + 1 UpdateItem per pile. Raises: UpstreamFailure.
    """
    checked = postponed = offline = 0
    silent: list[str] = []
    for gateway_id in store.due_for_presence(now, limit):
        presence = store.presence(gateway_id)
        if presence is None or presence.presence_due is None:
            continue
        checked += 1
        if not presence.is_silent(now):
            if store.postpone_presence(presence, presence.next_due()):
                postponed += 1
            continue
        if not store.release_presence(presence):
            continue
        last_seen = presence.last_seen_at or presence.presence_due
        for pile_id in sorted(presence.piles):
            if piles.mark_bus_offline(pile_id, last_seen):
                offline += 1
        store.end_presence(presence)
        silent.append(gateway_id)
    return PresenceSweep(checked, postponed, tuple(silent), offline)


@dataclass(frozen=True, slots=True)
class PresencePorts:
    """What housekeeping's presence sweep needs (the deployed wiring: ``DynamoGateways`` and
    ``DynamoPiles`` on BaseDataTable)."""

    store: PresenceStore
    piles: OfflinePiles
