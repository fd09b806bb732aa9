"""The ports OCPP use cases depend on; DynamoDB, API Gateway and the schema adapter
implement them, unit tests pass in-memory fakes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

from shared.domain.clock import Clock
from shared.domain.ocpp.actions import Direction
from shared.domain.ocpp.authorization import CardRecord
from shared.domain.ocpp.availability import FaultEvent, StatusReport
from shared.domain.ocpp.handshake import PileAccess
from shared.domain.ocpp.notifications import MaintenanceStatus, PileEvent
from shared.domain.ocpp.provisioning import BootInfo, RegistrationStatus
from shared.domain.ocpp.remote_calls import CallAnswer, CallStatus, PendingCall
from shared.domain.ocpp.versions import OcppVersion
from shared.domain.presence import Connection
from shared.services.sessions import SessionStore
from shared.services.workflow_ports import WorkflowResumer

if TYPE_CHECKING:
    # paid_charging builds on the pile-call ports of this module.
    from shared.services.paid_charging import PaidChargeStore


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


class PileStore(Protocol):
    def get_access(self, pile_id: str) -> PileAccess | None:
        """What ``$connect`` checks. Raises: UpstreamFailure."""

    def get_route(self, pile_id: str) -> PileRoute | None:
        """Where the pile is connected. Raises: UpstreamFailure."""

    def mark_connected(self, pile_id: str, connection_id: str, connected_at: datetime) -> bool:
        """Set presence; False when the pile item no longer exists. Raises: UpstreamFailure."""

    def mark_disconnected(self, pile_id: str, connection_id: str, now: datetime) -> bool:
        """Clear presence and stamp ``last_seen_at`` if ``connection_id`` is still current;
        False otherwise. Raises: UpstreamFailure."""

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
    """CSMS-initiated calls. Open calls (pending, undelivered) are findable by their
    ``timeout_at`` without a scan; a call leaves that index when it ends."""

    def create(self, call: PendingCall) -> None:
        """Store a new call (pending or undelivered). Raises: UpstreamFailure."""

    def get(self, pile_id: str, unique_id: str) -> PendingCall | None:
        """Raises: UpstreamFailure."""

    def finish(self, pile_id: str, unique_id: str, answer: CallAnswer) -> bool:
        """Close a call still pending; False when it was not pending. Raises: UpstreamFailure."""

    def mark_undelivered(self, pile_id: str, unique_id: str, deliver_by: datetime) -> bool:
        """Pending -> undelivered (its post found no connection); False when it was not
        pending. Raises: UpstreamFailure."""

    def claim_delivery(
        self, pile_id: str, unique_id: str, connection_id: str, timeout_at: datetime
    ) -> bool:
        """Undelivered -> pending on ``connection_id``, before its post; False when another
        delivery or a timeout got there first. Raises: UpstreamFailure."""

    def time_out(
        self, pile_id: str, unique_id: str, expected: CallStatus, now: datetime, reason: str
    ) -> bool:
        """An open call in status ``expected`` -> timed_out; False when it moved on.
        Raises: UpstreamFailure."""

    def queued_for_pile(self, pile_id: str, since: datetime) -> list[PendingCall]:
        """The pile's undelivered calls created since ``since``, oldest first.
        Raises: UpstreamFailure."""

    def open_calls(
        self, status: CallStatus, *, due_by: datetime | None, limit: int
    ) -> list[PendingCall]:
        """Open calls in ``status`` (pending or undelivered), earliest ``timeout_at`` first,
        only those due by ``due_by`` when given. Raises: UpstreamFailure."""

    def recent(
        self, pile_id: str, limit: int, next_token: str | None
    ) -> tuple[list[PendingCall], str | None]:
        """The pile's calls, newest first, and the token of the next page.
        Raises: InvalidInput (a token not from this list), UpstreamFailure."""


class PileEventStore(Protocol):
    """Pile messages kept for operators (TTL) and each pile's latest maintenance status."""

    def record(self, event: PileEvent) -> None:
        """Raises: UpstreamFailure."""

    def set_maintenance_status(self, pile_id: str, status: MaintenanceStatus) -> None:
        """Keep ``status`` as the pile's latest of its kind. Raises: UpstreamFailure."""

    def recent(
        self, pile_id: str, limit: int, next_token: str | None
    ) -> tuple[list[PileEvent], str | None]:
        """The pile's events, newest first, and the token of the next page.
        Raises: InvalidInput (a token not from this list), UpstreamFailure."""

    def maintenance(self, pile_id: str) -> list[MaintenanceStatus]:
        """The pile's latest firmware / diagnostics / log statuses. Raises: UpstreamFailure."""


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
    sender: FrameSender  # CSMS-initiated calls waiting for the pile go out on its boot
    pile_events: PileEventStore
    sessions: SessionStore  # charging sessions (transactions, meter values, remote stop)
    # Paid charging (shared/services/paid_charging.py): the deployed wiring sets both; ports
    # without them (tests of other blocks) treat every session as unpaid.
    paid_charges: PaidChargeStore | None = None
    workflow: WorkflowResumer | None = None
