"""The ports OCPP use cases depend on; DynamoDB, API Gateway and the schema adapter
implement them, unit tests pass in-memory fakes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

from shared.domain.clock import Clock
from shared.domain.ocpp.actions import Direction
from shared.domain.ocpp.authorization import CardRecord
from shared.domain.ocpp.availability import FaultEvent, StatusReport
from shared.domain.ocpp.handshake import PileAccess
from shared.domain.ocpp.provisioning import BootInfo, RegistrationStatus
from shared.domain.ocpp.remote_calls import CallAnswer, CallStatus, PendingCall
from shared.domain.ocpp.versions import OcppVersion
from shared.domain.presence import Connection


class BootWrite(Enum):
    WRITTEN = "written"
    PILE_DISABLED = "pile_disabled"
    PILE_MISSING = "pile_missing"


class StatusWrite(Enum):
    APPLIED = "applied"
    STALE = "stale"  # a newer status (by the pile's clock) is already stored
    NO_SUCH_GUN = "no_such_gun"


@dataclass(frozen=True, slots=True)
class PileRoute:
    """Where to send a CALL to a pile."""

    pile_id: str
    operator_id: str
    protocol: str
    connection_id: str | None
    is_online: bool


class ConnectionStore(Protocol):
    def get(self, connection_id: str, *, consistent: bool = False) -> Connection | None:
        """The connection item, or None. Raises: UpstreamFailure."""

    def put(self, connection: Connection) -> None:
        """Create the connection item. Raises: UpstreamFailure."""

    def delete(self, connection_id: str) -> Connection | None:
        """Delete and return the old item (None when already gone). Raises: UpstreamFailure."""

    def set_registration(self, connection_id: str, status: RegistrationStatus) -> None:
        """Copy a boot decision onto the connection. Raises: UpstreamFailure."""

    def touch(self, connection_id: str, now: datetime) -> None:
        """Set the connection's ``last_seen_at``. Raises: UpstreamFailure."""


class PileStore(Protocol):
    def get_access(self, pile_id: str) -> PileAccess | None:
        """What ``$connect`` checks. Raises: UpstreamFailure."""

    def get_route(self, pile_id: str) -> PileRoute | None:
        """Where the pile is connected. Raises: UpstreamFailure."""

    def mark_connected(self, pile_id: str, connection_id: str, connected_at: datetime) -> bool:
        """Set presence; False when the pile item no longer exists. Raises: UpstreamFailure."""

    def mark_disconnected(self, pile_id: str, connection_id: str, now: datetime) -> bool:
        """Clear presence if ``connection_id`` is still current; False otherwise.
        Raises: UpstreamFailure."""

    def refresh_last_seen(self, pile_id: str, connection_id: str, now: datetime) -> bool:
        """Stamp ``last_seen_at`` if ``connection_id`` is current. Raises: UpstreamFailure."""

    def record_boot(
        self,
        pile_id: str,
        connection_id: str,
        boot: BootInfo,
        status: RegistrationStatus,
        *,
        only_if_enabled: bool,
    ) -> BootWrite:
        """Store the boot map and registration status. Raises: UpstreamFailure."""

    def set_gun_status(self, pile_id: str, report: StatusReport) -> StatusWrite:
        """Store a gun's status unless a newer one is stored. Raises: UpstreamFailure."""

    def find_card(self, card_no: str) -> CardRecord | None:
        """The card item Authorize reads. Raises: UpstreamFailure."""


class FaultStore(Protocol):
    def record(self, fault: FaultEvent) -> bool:
        """Store a fault once; False when it was stored already. Raises: UpstreamFailure."""


class PendingCallStore(Protocol):
    def create(self, call: PendingCall) -> None:
        """Store a new pending call. Raises: UpstreamFailure."""

    def get(self, pile_id: str, unique_id: str) -> PendingCall | None:
        """Raises: UpstreamFailure."""

    def finish(self, pile_id: str, unique_id: str, answer: CallAnswer) -> bool:
        """Close a call still pending; False when it was not pending. Raises: UpstreamFailure."""

    def set_status(self, pile_id: str, unique_id: str, status: CallStatus) -> None:
        """Raises: UpstreamFailure."""


class SchemaCheck(Protocol):
    def validate(
        self, version: OcppVersion, action: str, direction: Direction, payload: dict[str, Any]
    ) -> None:
        """Raises: OcppFault with the violation's fault; NOT_IMPLEMENTED without a schema."""


class FrameSender(Protocol):
    def post(self, connection_id: str, text: str) -> None:
        """Send one text frame. Raises: ConnectionGone, UpstreamFailure."""


@dataclass(frozen=True, slots=True)
class OcppPorts:
    """Everything the router and the action handlers use."""

    connections: ConnectionStore
    piles: PileStore
    faults: FaultStore
    pending_calls: PendingCallStore
    schemas: SchemaCheck
    clock: Clock
