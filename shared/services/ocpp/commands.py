"""Operator commands to a pile: who may send them, to which pile, and what came of them.

Operator admins and maintenance staff (and the platform admin) may command the piles of
their own operator; another operator's pile answers NotFound. A command becomes one OCPP
CALL for the pile's version (``shared/domain/ocpp/commands.py``) sent by
``remote_calls.place_call``: posted at once to an online pile, kept ``undelivered`` for
one that is reconnecting. Its state and the pile's answer are read back by call id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shared.domain.clock import Clock
from shared.domain.errors import Conflict, NotFound
from shared.domain.ids import NewId
from shared.domain.ocpp.commands import PileCommand, RemoteStop
from shared.domain.ocpp.notifications import MaintenanceStatus, PileEvent
from shared.domain.ocpp.remote_calls import PendingCall, call_message_id, numeric_id
from shared.domain.tenancy import Principal, Role
from shared.services.ocpp import remote_calls
from shared.services.ocpp.ports import (
    FrameSender,
    PendingCallStore,
    PileEventStore,
    PileStore,
    SchemaCheck,
)

COMMAND_ROLES = (Role.OPERATOR_ADMIN, Role.MAINTENANCE)


@dataclass(frozen=True, slots=True)
class CommandPorts:
    """What sending and reading commands needs."""

    piles: PileStore
    pending_calls: PendingCallStore
    schemas: SchemaCheck
    sender: FrameSender
    clock: Clock
    new_id: NewId


class SessionRecord(Protocol):
    """The part of a charging session a remote stop reads."""

    @property
    def pile_id(self) -> str: ...

    @property
    def operator_id(self) -> str: ...

    @property
    def ocpp_transaction_id(self) -> str: ...

    @property
    def is_open(self) -> bool: ...


class SessionLookup(Protocol):
    def get(self, session_id: str, *, consistent: bool = False) -> SessionRecord | None:
        """Raises: UpstreamFailure."""


def issue_command(
    principal: Principal, pile_id: str, command: PileCommand, ports: CommandPorts
) -> PendingCall:
    """Send ``command`` to the pile as the OCPP call of its version.

    DynamoDB: 1 GetItem (pile), 1 PutItem (call), +1 UpdateItem when the connection
    turns out gone. API Gateway: 1 PostToConnection when the pile is online.

    Raises:
        Forbidden: the role may not command piles.
        NotFound: no such pile, or another operator's.
        Conflict: the pile speaks no OCPP; CommandNotSupported: not a command of its version.
        InvalidInput: a value the version cannot carry, or a payload failing the schema.
        UpstreamFailure: DynamoDB or API Gateway failed.
    """
    principal.require_role(*COMMAND_ROLES)
    route, version = remote_calls.route_to(pile_id, principal, ports.piles)
    unique_id = call_message_id(ports.clock(), ports.new_id)
    request = command.to_ocpp(version, numeric_id(unique_id))
    return remote_calls.place_call(
        route,
        version,
        unique_id,
        request.action,
        request.payload,
        requested_by=principal.username,
        pending_calls=ports.pending_calls,
        schemas=ports.schemas,
        sender=ports.sender,
        clock=ports.clock,
    )


def stop_session(
    principal: Principal,
    pile_id: str,
    session_id: str,
    *,
    sessions: SessionLookup,
    ports: CommandPorts,
) -> PendingCall:
    """Remote stop of one of our sessions on ``pile_id``, by its transaction id.

    DynamoDB: 1 GetItem (session), then as ``issue_command``.

    Raises:
        NotFound: no such session on this pile for the caller (or no such pile).
        Conflict: the session has ended.
        and what ``issue_command`` raises.
    """
    principal.require_role(*COMMAND_ROLES)
    session = sessions.get(session_id, consistent=True)
    if session is None or session.pile_id != pile_id or not principal.can_see(session.operator_id):
        raise NotFound(f"session {session_id} not found on pile {pile_id}", kind="session")
    if not session.is_open:
        raise Conflict("the session has ended", kind="session", id=session_id)
    return issue_command(principal, pile_id, RemoteStop(session.ocpp_transaction_id), ports)


def get_command(
    principal: Principal, pile_id: str, call_id: str, ports: CommandPorts
) -> PendingCall:
    """One command to the pile and, once it came, the pile's answer.

    DynamoDB: 1 GetItem (pile), 1 GetItem (call, consistent).

    Raises: NotFound (no such pile or command for the caller), UpstreamFailure.
    """
    remote_calls.route_to(pile_id, principal, ports.piles)
    call = ports.pending_calls.get(pile_id, call_id)
    if call is None or not principal.can_see(call.operator_id):
        raise NotFound(f"command {call_id} not found", kind="command", id=call_id)
    return call


def list_commands(
    principal: Principal, pile_id: str, limit: int, next_token: str | None, ports: CommandPorts
) -> tuple[list[PendingCall], str | None]:
    """The pile's commands, newest first (kept 7 days).

    DynamoDB: 1 GetItem (pile), 1 Query.

    Raises: NotFound, InvalidInput (a foreign page token), UpstreamFailure.
    """
    remote_calls.route_to(pile_id, principal, ports.piles)
    return ports.pending_calls.recent(pile_id, limit, next_token)


def list_pile_events(
    principal: Principal,
    pile_id: str,
    limit: int,
    next_token: str | None,
    *,
    piles: PileStore,
    events: PileEventStore,
) -> tuple[list[PileEvent], str | None]:
    """The pile's events (firmware, diagnostics, logs, monitoring, security, reports),
    newest first (kept 30 days).

    DynamoDB: 1 GetItem (pile), 1 Query.

    Raises: NotFound, InvalidInput (a foreign page token), UpstreamFailure.
    """
    remote_calls.route_to(pile_id, principal, piles)
    return events.recent(pile_id, limit, next_token)


def pile_maintenance(
    principal: Principal, pile_id: str, *, piles: PileStore, events: PileEventStore
) -> list[MaintenanceStatus]:
    """The pile's latest firmware / diagnostics / log status.

    DynamoDB: 1 GetItem (pile), 1 GetItem.

    Raises: NotFound, UpstreamFailure.
    """
    remote_calls.route_to(pile_id, principal, piles)
    return events.maintenance(pile_id)
