"""Which WebSocket connection a pile is on, and whether it is online.

A pile's presence lives on its pile item (``connection_id``, ``connected_at``,
``is_online``, ``last_seen_at``); each connection has its own item in ConnectionsTable
that the router reads once per frame. API Gateway closes a connection after 2 hours, so
the connection item expires after 3 (TTL) and a reconnect is routine: the old
connection's ``$disconnect`` must not mark the pile offline once a newer one exists.

Presence comes from the connection: the pile item's ``last_seen_at`` is stamped at
``$connect``, at an Accepted boot and at ``$disconnect`` (while a connection is open the
pile is, by definition, being seen), so no frame writes presence and a steady-state
Heartbeat writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain.errors import ChargingError
from shared.domain.ocpp.provisioning import RegistrationStatus
from shared.domain.ocpp.versions import OcppVersion

CONNECTION_TTL = timedelta(hours=3)


class ConnectionGone(ChargingError):
    """The WebSocket connection no longer exists (API Gateway answered 410 Gone)."""

    code = "connection_gone"


@dataclass(frozen=True, slots=True)
class Connection:
    """One open WebSocket of a pile (the ConnectionsTable item)."""

    connection_id: str
    pile_id: str
    version: OcppVersion
    operator_id: str
    station_id: str | None
    registration_status: str | None
    connected_at: datetime
    last_seen_at: datetime
    source_ip: str | None
    expires_at: int  # epoch seconds (DynamoDB TTL)

    @property
    def is_accepted(self) -> bool:
        """True once a BootNotification was Accepted (now or on an earlier connection)."""
        return self.registration_status == RegistrationStatus.ACCEPTED


def expiry_epoch(connected_at: datetime) -> int:
    """TTL of a connection item: an hour past API Gateway's 2-hour limit."""
    return int((connected_at + CONNECTION_TTL).timestamp())
