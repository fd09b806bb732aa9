"""One OCPP-J frame in, at most one frame out: the ``$default`` route's use case.

Per frame: read the connection item (pile, version, registration), parse the frame,
then for a CALL: the registration gate, the action catalogue, the dispatch table, the
request schema, the handler, and the response schema of our own answer. CALLRESULT and
CALLERROR frames complete pending CSMS calls and are not answered. Every failure a pile
can cause ends as a CALLERROR with the version's code; nothing a pile sends raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.domain.errors import ChargingError, UpstreamFailure
from shared.domain.ocpp.actions import ActionClass, Direction, classify_action
from shared.domain.ocpp.dispatch import CallContext
from shared.domain.ocpp.frames import (
    Call,
    CallResult,
    FrameRejected,
    format_call_error,
    format_call_result,
    parse_frame,
)
from shared.domain.ocpp.rpc_errors import OcppFault, RpcFault, wire_code
from shared.domain.ocpp.versions import OcppVersion
from shared.domain.presence import Connection
from shared.observability import logger
from shared.services import paid_charging
from shared.services.ocpp import remote_calls
from shared.services.ocpp.dispatch import BOOT_NOTIFICATION, handler_for
from shared.services.ocpp.ports import OcppPorts

# Both versions spell these the same, so they can answer before the version is known.
_NO_CONNECTION_CODE = "InternalError"


@dataclass(frozen=True, slots=True)
class FrameOutcome:
    """What the router did with a frame, for the one log line and the metrics."""

    reply: str | None
    pile_id: str | None = None
    version: OcppVersion | None = None
    message_type: str | None = None
    action: str | None = None
    error_code: str | None = None


def handle_frame(text: str | None, connection_id: str, ports: OcppPorts) -> FrameOutcome:
    """Process one frame from ``connection_id``; ``reply`` is the frame to send back.

    DynamoDB: 1 GetItem of the connection item, plus what the action costs (see
    docs/message-costs.md). Presence is not refreshed per frame: it comes from the
    connection (``$connect`` / ``$disconnect``).

    Raises: UpstreamFailure only when the connection item itself cannot be read.
    """
    received_at = ports.clock()
    connection = _load_connection(connection_id, ports)
    if connection is None:
        return _answer_without_connection(text)
    try:
        frame = parse_frame(text)
    except FrameRejected as rejected:
        code = wire_code(rejected.fault, connection.version)
        reply = None
        if rejected.is_answerable:
            reply = format_call_error(rejected.message_id, code, rejected.message)
        return FrameOutcome(reply, connection.pile_id, connection.version, "invalid", None, code)
    if isinstance(frame, Call):
        return _answer_call(connection, frame, received_at, ports)
    kind = "callresult" if isinstance(frame, CallResult) else "callerror"
    try:
        completed = remote_calls.complete_call(
            connection,
            frame,
            pending_calls=ports.pending_calls,
            schemas=ports.schemas,
            clock=ports.clock,
        )
        paid = paid_charging.ports_of(ports)
        if completed is not None and paid is not None:
            # A paid order's remote start the pile refused fails its workflow at once.
            paid_charging.remote_start_answered(paid, completed)
    except UpstreamFailure:
        logger.error("could not complete a pending call", extra={"message_id": frame.message_id})
    return FrameOutcome(None, connection.pile_id, connection.version, kind)


def _load_connection(connection_id: str, ports: OcppPorts) -> Connection | None:
    # An eventually consistent read is half the price; a connection made a moment ago
    # may not be visible to it yet, so a miss is read again consistently.
    connection = ports.connections.get(connection_id)
    if connection is None:
        connection = ports.connections.get(connection_id, consistent=True)
    return connection


def _answer_without_connection(text: str | None) -> FrameOutcome:
    logger.warning("frame on an unknown connection")
    try:
        frame = parse_frame(text)
    except FrameRejected as rejected:
        if not rejected.is_answerable:
            return FrameOutcome(None, error_code=_NO_CONNECTION_CODE)
        message_id = rejected.message_id
    else:
        if not isinstance(frame, Call):
            return FrameOutcome(None, error_code=_NO_CONNECTION_CODE)
        message_id = frame.message_id
    reply = format_call_error(message_id, _NO_CONNECTION_CODE, "connection is not registered")
    return FrameOutcome(reply, message_type="call", error_code=_NO_CONNECTION_CODE)


def _answer_call(
    connection: Connection, call: Call, received_at: datetime, ports: OcppPorts
) -> FrameOutcome:
    version = connection.version
    try:
        connection = _require_accepted(connection, call.action, ports)
        payload = _run(
            CallContext(connection, call.message_id, call.action, received_at), call, ports
        )
    except OcppFault as fault:
        return _call_error(connection, call, fault.fault, fault.message)
    except UpstreamFailure as failure:
        logger.error("upstream failure while handling a call", extra={"action": call.action})
        return _call_error(connection, call, RpcFault.INTERNAL_ERROR, failure.message)
    except ChargingError as error:
        logger.warning("call refused", extra={"action": call.action, "code": error.code})
        return _call_error(connection, call, RpcFault.GENERIC_ERROR, error.message)
    reply = format_call_result(call.message_id, payload)
    return FrameOutcome(reply, connection.pile_id, version, "call", call.action)


def _require_accepted(connection: Connection, action: str, ports: OcppPorts) -> Connection:
    """2.0.1 B02.FR.09 / B03.FR.07: until a boot is Accepted, any CALL but
    BootNotification gets SecurityError; 1.6 forbids the same (§4.2) without naming the
    answer, and gets the same one."""
    if action == BOOT_NOTIFICATION or connection.is_accepted:
        return connection
    fresh = ports.connections.get(connection.connection_id, consistent=True)
    if fresh is not None and fresh.is_accepted:
        return fresh
    raise OcppFault(RpcFault.SECURITY_ERROR, "the pile is not accepted: send BootNotification")


def _run(ctx: CallContext, call: Call, ports: OcppPorts) -> dict[str, Any]:
    kind = classify_action(ctx.version, call.action)
    if kind is ActionClass.UNKNOWN:
        raise OcppFault(RpcFault.NOT_IMPLEMENTED, f"unknown action {call.action[:64]}")
    if kind is ActionClass.TO_PILE_ONLY:
        raise OcppFault(RpcFault.NOT_SUPPORTED, f"{call.action} is sent by the CSMS, not a pile")
    handler = handler_for(ctx.version, call.action)
    if handler is None:
        raise OcppFault(RpcFault.NOT_IMPLEMENTED, f"{call.action} is not implemented yet")
    ports.schemas.validate(ctx.version, call.action, Direction.REQUEST, call.payload)
    payload = handler(ctx, call.payload, ports)
    try:
        ports.schemas.validate(ctx.version, call.action, Direction.RESPONSE, payload)
    except OcppFault as fault:
        logger.error("our answer fails its schema", extra={"action": call.action})
        raise OcppFault(RpcFault.INTERNAL_ERROR, "the answer could not be built") from fault
    return payload


def _call_error(
    connection: Connection, call: Call, fault: RpcFault, description: str
) -> FrameOutcome:
    code = wire_code(fault, connection.version)
    reply = format_call_error(call.message_id, code, description)
    return FrameOutcome(reply, connection.pile_id, connection.version, "call", call.action, code)
