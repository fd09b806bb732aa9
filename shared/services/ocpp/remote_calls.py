"""CSMS-initiated calls: send a CALL to a pile, match its answer in a later frame.

The send side stores the pending call before posting the frame, so an answer that comes
back faster than the write could never find nothing. Issue 4 adds one operator command
per action on top of ``send_call``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from shared.domain.clock import Clock
from shared.domain.errors import Conflict, InvalidInput, NotFound
from shared.domain.ids import NewId
from shared.domain.ocpp.actions import TO_PILE, Direction
from shared.domain.ocpp.frames import CallError, CallResult, format_call
from shared.domain.ocpp.remote_calls import (
    CALL_TIMEOUT,
    PENDING_CALL_RETENTION,
    CallAnswer,
    CallStatus,
    PendingCall,
)
from shared.domain.ocpp.rpc_errors import OcppFault, wire_code
from shared.domain.ocpp.versions import version_of
from shared.domain.presence import Connection, ConnectionGone
from shared.domain.tenancy import Principal
from shared.observability import logger
from shared.services.ocpp.ports import FrameSender, PendingCallStore, PileStore, SchemaCheck


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
    """Send ``action`` to the pile and record it as pending; ``on_behalf_of`` None is the
    platform itself (workflows, housekeeping).

    DynamoDB: 1 GetItem (pile), 1 PutItem (pending call); 1 UpdateItem more when the
    connection is gone. API Gateway: 1 PostToConnection.

    Raises:
        NotFound: no such pile, or another operator's.
        Conflict: the pile speaks no OCPP, or is offline.
        InvalidInput: not a CSMS-to-pile action of the pile's version, or the payload
            fails the action's schema.
        ConnectionGone: the pile's connection closed under us (the call is kept as
            ``undelivered``).
        UpstreamFailure: DynamoDB or API Gateway failed.
    """
    route = piles.get_route(pile_id)
    if route is None:
        raise NotFound(f"pile {pile_id} not found", kind="pile", id=pile_id)
    if on_behalf_of is not None:
        on_behalf_of.require_operator(route.operator_id, "pile", pile_id)
    version = version_of(route.protocol)
    if version is None:
        raise Conflict("the pile does not speak OCPP", pile_id=pile_id)
    if action not in TO_PILE[version]:
        raise InvalidInput(f"{action} is not a {version} command", field="action")
    try:
        schemas.validate(version, action, Direction.REQUEST, payload)
    except OcppFault as exc:
        raise InvalidInput(f"payload is not a valid {action}: {exc.message}") from exc
    if not route.is_online or route.connection_id is None:
        raise Conflict("the pile is offline", pile_id=pile_id)
    now = clock()
    call = PendingCall(
        pile_id=pile_id,
        unique_id=new_id("call"),
        action=action,
        version=version,
        operator_id=route.operator_id,
        connection_id=route.connection_id,
        request_json=json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
        status=CallStatus.PENDING,
        created_at=now,
        timeout_at=now + CALL_TIMEOUT,
        expires_at=int((now + PENDING_CALL_RETENTION).timestamp()),
    )
    pending_calls.create(call)
    try:
        sender.post(route.connection_id, format_call(call.unique_id, action, payload))
    except ConnectionGone:
        pending_calls.set_status(pile_id, call.unique_id, CallStatus.UNDELIVERED)
        raise
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
