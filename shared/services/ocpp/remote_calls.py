"""CSMS-initiated calls: send a CALL to a pile, match its answer in a later frame, deliver
calls that waited for an offline pile, time out calls nobody answered.

The send side stores the call before posting the frame, so an answer that comes back
faster than the write could never find nothing. A pile without a connection gets its
call stored ``undelivered``: it goes out when the pile boots again (``deliver_queued``,
from the BootNotification handler) or at the next minute's housekeeping once the pile is
online (``retry_undelivered``), and is reported ``timed_out`` when the pile stays away
for the delivery window. Nothing is dropped silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from shared.domain.clock import Clock
from shared.domain.errors import Conflict, InvalidInput, NotFound
from shared.domain.ids import NewId
from shared.domain.ocpp.actions import TO_PILE, Direction
from shared.domain.ocpp.frames import CallError, CallResult, format_call
from shared.domain.ocpp.remote_calls import (
    CALL_TIMEOUT,
    DELIVERY_WINDOW,
    NOT_ANSWERED,
    NOT_DELIVERED,
    PENDING_CALL_RETENTION,
    CallAnswer,
    CallStatus,
    PendingCall,
    call_message_id,
)
from shared.domain.ocpp.rpc_errors import OcppFault, wire_code
from shared.domain.ocpp.versions import OcppVersion, version_of
from shared.domain.presence import Connection, ConnectionGone
from shared.domain.tenancy import Principal
from shared.observability import logger
from shared.services.ocpp.ports import (
    FrameSender,
    PendingCallStore,
    PileRoute,
    PileStore,
    SchemaCheck,
)

# Housekeeping handles at most this many calls per status and minute; the rest wait a
# minute (the job's timeout leaves room for far more, this only bounds one run).
HOUSEKEEPING_BATCH = 500


def route_to(
    pile_id: str, on_behalf_of: Principal | None, piles: PileStore
) -> tuple[PileRoute, OcppVersion]:
    """The pile's route and OCPP version, for a caller allowed to see it.

    DynamoDB: 1 GetItem (pile).

    Raises:
        NotFound: no such pile, or another operator's.
        Conflict: the pile speaks no OCPP.
        UpstreamFailure: DynamoDB failed.
    """
    route = piles.get_route(pile_id)
    if route is None:
        raise NotFound(f"pile {pile_id} not found", kind="pile", id=pile_id)
    if on_behalf_of is not None:
        on_behalf_of.require_operator(route.operator_id, "pile", pile_id)
    version = version_of(route.protocol)
    if version is None:
        raise Conflict("the pile does not speak OCPP", pile_id=pile_id)
    return route, version


def send_call(
    pile_id: str,
    action: str,
    payload: dict[str, Any],
    *,
    on_behalf_of: Principal | None,
    piles: PileStore,
    pending_calls: PendingCallStore,
    schemas: SchemaCheck,
    sender: FrameSender,
    clock: Clock,
    new_id: NewId,
) -> PendingCall:
    """Send ``action`` to the pile and record it; ``on_behalf_of`` None is the platform
    itself (workflows, housekeeping). An offline pile's call is kept ``undelivered``.

    DynamoDB: 1 GetItem (pile), 1 PutItem (call); 1 UpdateItem more when the connection
    turns out gone. API Gateway: 1 PostToConnection when the pile is online.

    Raises:
        NotFound: no such pile, or another operator's.
        Conflict: the pile speaks no OCPP.
        InvalidInput: not a CSMS-to-pile action of the pile's version, or the payload
            fails the action's schema.
        UpstreamFailure: DynamoDB or API Gateway failed.
    """
    route, version = route_to(pile_id, on_behalf_of, piles)
    return place_call(
        route,
        version,
        call_message_id(clock(), new_id),
        action,
        payload,
        requested_by=None if on_behalf_of is None else on_behalf_of.username,
        pending_calls=pending_calls,
        schemas=schemas,
        sender=sender,
        clock=clock,
    )


def place_call(
    route: PileRoute,
    version: OcppVersion,
    unique_id: str,
    action: str,
    payload: dict[str, Any],
    *,
    requested_by: str | None,
    pending_calls: PendingCallStore,
    schemas: SchemaCheck,
    sender: FrameSender,
    clock: Clock,
) -> PendingCall:
    """Validate, store and post a CALL with message id ``unique_id`` (see ``send_call``).

    Raises: InvalidInput, UpstreamFailure.
    """
    if action not in TO_PILE[version]:
        raise InvalidInput(f"{action} is not a {version} command", field="action")
    try:
        schemas.validate(version, action, Direction.REQUEST, payload)
    except OcppFault as exc:
        raise InvalidInput(f"payload is not a valid {action}: {exc.message}") from exc
    now = clock()
    is_online = route.is_online and route.connection_id is not None
    call = PendingCall(
        pile_id=route.pile_id,
        unique_id=unique_id,
        action=action,
        version=version,
        operator_id=route.operator_id,
        connection_id=route.connection_id if is_online else None,
        request_json=json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
        status=CallStatus.PENDING if is_online else CallStatus.UNDELIVERED,
        created_at=now,
        timeout_at=now + (CALL_TIMEOUT if is_online else DELIVERY_WINDOW),
        expires_at=int((now + PENDING_CALL_RETENTION).timestamp()),
        requested_by=requested_by,
    )
    pending_calls.create(call)
    if call.connection_id is None:
        logger.info("call kept for an offline pile", extra=_keys(call))
        return call
    try:
        sender.post(call.connection_id, format_call(unique_id, action, payload))
    except ConnectionGone:
        deliver_by = now + DELIVERY_WINDOW
        pending_calls.mark_undelivered(call.pile_id, unique_id, deliver_by)
        logger.info("call kept: the pile's connection is gone", extra=_keys(call))
        return replace(call, status=CallStatus.UNDELIVERED, timeout_at=deliver_by)
    return call


def complete_call(
    connection: Connection,
    frame: CallResult | CallError,
    *,
    pending_calls: PendingCallStore,
    schemas: SchemaCheck,
    clock: Clock,
) -> PendingCall | None:
    """Close the pending call a CALLRESULT/CALLERROR answers; None when nothing matched.

    DynamoDB: 1 GetItem (pending call), 1 conditional UpdateItem when it was pending.
    Raises: UpstreamFailure.
    """
    call = pending_calls.get(connection.pile_id, frame.message_id)
    if call is None or call.status is not CallStatus.PENDING:
        logger.info(
            "answer to no pending call",
            extra={"pile_id": connection.pile_id, "message_id": frame.message_id},
        )
        return None
    answer = _answer_of(call, frame, schemas, clock)
    if not pending_calls.finish(call.pile_id, call.unique_id, answer):
        return None
    return replace(
        call,
        status=answer.status,
        response_json=answer.response_json,
        error_code=answer.error_code,
        error_description=answer.error_description,
        answered_at=answer.answered_at,
    )


def deliver_queued(
    pile_id: str,
    connection_id: str,
    *,
    pending_calls: PendingCallStore,
    sender: FrameSender,
    clock: Clock,
) -> int:
    """Post the pile's undelivered calls, oldest first, on its new connection; the number
    posted.

    DynamoDB: 1 Query (the pile's calls of the last delivery window, consistent), then per
    call 1 conditional UpdateItem (+1 when the post fails). API Gateway: 1 PostToConnection
    per call.

    Raises: UpstreamFailure.
    """
    now = clock()
    queued = pending_calls.queued_for_pile(pile_id, now - DELIVERY_WINDOW)
    return sum(
        _deliver(call, connection_id, now, pending_calls, sender)
        for call in queued
        if call.timeout_at > now
    )


def retry_undelivered(
    *, piles: PileStore, pending_calls: PendingCallStore, sender: FrameSender, clock: Clock
) -> int:
    """Housekeeping: post the undelivered calls of piles that are online again; the number
    posted. A pile that reconnected without booting gets its calls within a minute.

    DynamoDB: 1 Query on the open-calls index, 1 GetItem per pile with waiting calls, 1
    conditional UpdateItem per call posted.

    Raises: UpstreamFailure.
    """
    now = clock()
    waiting: dict[str, list[PendingCall]] = {}
    for call in pending_calls.open_calls(
        CallStatus.UNDELIVERED, due_by=None, limit=HOUSEKEEPING_BATCH
    ):
        if call.timeout_at > now:
            waiting.setdefault(call.pile_id, []).append(call)
    posted = 0
    for pile_id, calls in waiting.items():
        route = piles.get_route(pile_id)
        if route is None or not route.is_online or route.connection_id is None:
            continue
        connection_id = route.connection_id
        for call in sorted(calls, key=lambda queued: queued.unique_id):
            posted += _deliver(call, connection_id, now, pending_calls, sender)
    return posted


@dataclass(frozen=True, slots=True)
class TimeoutCount:
    not_answered: int
    not_delivered: int


def time_out_due_calls(*, pending_calls: PendingCallStore, clock: Clock) -> TimeoutCount:
    """Housekeeping: record ``timed_out`` for pending calls past their answer deadline and
    undelivered calls past their delivery deadline.

    DynamoDB: 2 Queries on the open-calls index (one per status), 1 conditional
    UpdateItem per call timed out. A call answered meanwhile fails the condition and keeps
    its answer.

    Raises: UpstreamFailure.
    """
    now = clock()
    counts: dict[CallStatus, int] = {}
    for status, reason in (
        (CallStatus.PENDING, NOT_ANSWERED),
        (CallStatus.UNDELIVERED, NOT_DELIVERED),
    ):
        counts[status] = 0
        for call in pending_calls.open_calls(status, due_by=now, limit=HOUSEKEEPING_BATCH):
            if pending_calls.time_out(call.pile_id, call.unique_id, status, now, reason):
                counts[status] += 1
                logger.info("pile call timed out", extra={**_keys(call), "was": status.value})
    return TimeoutCount(
        not_answered=counts[CallStatus.PENDING], not_delivered=counts[CallStatus.UNDELIVERED]
    )


def _deliver(
    call: PendingCall,
    connection_id: str,
    now: datetime,
    pending_calls: PendingCallStore,
    sender: FrameSender,
) -> int:
    """Claim one undelivered call for ``connection_id`` and post it; 1 when it went out."""
    if not pending_calls.claim_delivery(
        call.pile_id, call.unique_id, connection_id, now + CALL_TIMEOUT
    ):
        return 0  # another delivery or a timeout got there first
    payload = json.loads(call.request_json)
    try:
        sender.post(connection_id, format_call(call.unique_id, call.action, payload))
    except ConnectionGone:
        # Gone again: wait for the next connection, within the original deadline.
        pending_calls.mark_undelivered(call.pile_id, call.unique_id, call.timeout_at)
        return 0
    logger.info("waiting call delivered", extra=_keys(call))
    return 1


def _keys(call: PendingCall) -> dict[str, Any]:
    return {"pile_id": call.pile_id, "action": call.action, "unique_id": call.unique_id}


def _answer_of(
    call: PendingCall, frame: CallResult | CallError, schemas: SchemaCheck, clock: Clock
) -> CallAnswer:
    now = clock()
    if isinstance(frame, CallError):
        return CallAnswer(
            status=CallStatus.REJECTED,
            answered_at=now,
            error_code=frame.error_code,
            error_description=frame.description,
        )
    response_json = json.dumps(frame.payload, separators=(",", ":"), ensure_ascii=False)
    try:
        schemas.validate(call.version, call.action, Direction.RESPONSE, frame.payload)
    except OcppFault as exc:
        return CallAnswer(
            status=CallStatus.INVALID_RESPONSE,
            answered_at=now,
            response_json=response_json,
            error_code=wire_code(exc.fault, call.version),
            error_description=exc.message,
        )
    return CallAnswer(status=CallStatus.ANSWERED, answered_at=now, response_json=response_json)
