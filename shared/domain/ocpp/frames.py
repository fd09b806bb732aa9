"""OCPP-J RPC frames: parse one text frame, format CALL, CALLRESULT and CALLERROR.

A frame is a JSON array: ``[2, id, action, payload]`` (CALL), ``[3, id, payload]``
(CALLRESULT), ``[4, id, errorCode, errorDescription, errorDetails]`` (CALLERROR).
Parsing never lets a malformed frame through: it raises ``FrameRejected`` with the fault
to answer and the message id to answer under. When the id cannot be read the answer
goes out under ``"-1"`` (2.0.1 Part 4 §4.2.3, RpcFrameworkError; 1.6 names no id for
this case and we use the same one, so the pile still gets an answer it can log).
A CALLERROR answers a CALL only: a malformed CALLRESULT/CALLERROR whose id we can read
is rejected with ``is_answerable`` False and is logged, not answered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from shared.domain.ocpp.rpc_errors import MAX_DESCRIPTION_LENGTH, OcppFault, RpcFault

UNREADABLE_MESSAGE_ID = "-1"
# 1.6 UniqueId and 2.0.1 messageId are strings of at most 36 characters.
MAX_MESSAGE_ID_LENGTH = 36
# CALLs above this size are refused with FormatViolation; API Gateway itself delivers at
# most 128 KB, so anything longer than that is not read at all.
MAX_CALL_BYTES = 65_536
MAX_FRAME_BYTES = 131_072


class MessageType(IntEnum):
    CALL = 2
    CALL_RESULT = 3
    CALL_ERROR = 4


@dataclass(frozen=True, slots=True)
class Call:
    message_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallResult:
    message_id: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallError:
    message_id: str
    error_code: str
    description: str
    details: dict[str, Any] = field(default_factory=dict)


Frame = Call | CallResult | CallError


class FrameRejected(OcppFault):
    """The frame is not a well-formed OCPP-J message."""

    code = "ocpp_frame_rejected"

    def __init__(
        self, fault: RpcFault, message: str, message_id: str | None, *, is_answerable: bool = True
    ) -> None:
        super().__init__(fault, message)
        self.message_id = message_id or UNREADABLE_MESSAGE_ID
        self.is_answerable = is_answerable


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _readable_id(frame: list[Any]) -> str | None:
    if len(frame) < 2:
        return None
    candidate = frame[1]
    if isinstance(candidate, str) and 0 < len(candidate) <= MAX_MESSAGE_ID_LENGTH:
        return candidate
    return None


def parse_frame(text: str | None) -> Frame:
    """Parse one WebSocket text frame.

    Raises:
        FrameRejected: not JSON, not an RPC array, an unreadable id or type, a wrong shape,
            or a CALL above ``MAX_CALL_BYTES``.
    """
    if text is None:
        raise FrameRejected(RpcFault.RPC_FRAMEWORK_ERROR, "empty frame", None)
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_FRAME_BYTES:
        raise FrameRejected(RpcFault.FORMAT_VIOLATION, "frame too large", None)
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise FrameRejected(RpcFault.RPC_FRAMEWORK_ERROR, "frame is not valid JSON", None) from exc
    if not isinstance(data, list) or not data:
        raise FrameRejected(RpcFault.RPC_FRAMEWORK_ERROR, "frame is not a JSON array", None)
    message_id = _readable_id(data)
    type_id = data[0]
    if not isinstance(type_id, int) or isinstance(type_id, bool):
        raise FrameRejected(
            RpcFault.RPC_FRAMEWORK_ERROR, "message type id is not an integer", message_id
        )
    if message_id is None:
        raise FrameRejected(RpcFault.RPC_FRAMEWORK_ERROR, "message id cannot be read", None)
    if type_id == MessageType.CALL:
        return _parse_call(data, message_id, size)
    if type_id == MessageType.CALL_RESULT:
        return _parse_call_result(data, message_id)
    if type_id == MessageType.CALL_ERROR:
        return _parse_call_error(data, message_id)
    raise FrameRejected(
        RpcFault.MESSAGE_TYPE_NOT_SUPPORTED, "message type is not supported", message_id
    )


def _parse_call(data: list[Any], message_id: str, size: int) -> Call:
    if len(data) != 4:
        raise FrameRejected(RpcFault.RPC_FRAMEWORK_ERROR, "a CALL has 4 elements", message_id)
    action, payload = data[2], data[3]
    if not isinstance(action, str) or not action:
        raise FrameRejected(RpcFault.RPC_FRAMEWORK_ERROR, "action is not a string", message_id)
    if not isinstance(payload, dict):
        raise FrameRejected(RpcFault.FORMAT_VIOLATION, "payload is not an object", message_id)
    if size > MAX_CALL_BYTES:
        raise FrameRejected(RpcFault.FORMAT_VIOLATION, "CALL too large", message_id)
    return Call(message_id=message_id, action=action, payload=payload)


def _parse_call_result(data: list[Any], message_id: str) -> CallResult:
    if len(data) != 3 or not isinstance(data[2], dict):
        raise FrameRejected(
            RpcFault.FORMAT_VIOLATION,
            "a CALLRESULT is [3, id, {payload}]",
            message_id,
            is_answerable=False,
        )
    return CallResult(message_id=message_id, payload=data[2])


def _parse_call_error(data: list[Any], message_id: str) -> CallError:
    # Lenient on purpose: some piles leave out errorDetails; the code is what matters.
    if not 4 <= len(data) <= 5 or not isinstance(data[2], str) or not isinstance(data[3], str):
        raise FrameRejected(
            RpcFault.FORMAT_VIOLATION,
            "a CALLERROR is [4, id, code, description, {details}]",
            message_id,
            is_answerable=False,
        )
    details = data[4] if len(data) == 5 and isinstance(data[4], dict) else {}
    return CallError(
        message_id=message_id, error_code=data[2], description=data[3], details=details
    )


def _dump(frame: list[Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def format_call(message_id: str, action: str, payload: dict[str, Any]) -> str:
    return _dump([MessageType.CALL.value, message_id, action, payload])


def format_call_result(message_id: str, payload: dict[str, Any]) -> str:
    return _dump([MessageType.CALL_RESULT.value, message_id, payload])


def format_call_error(
    message_id: str, error_code: str, description: str, details: dict[str, Any] | None = None
) -> str:
    return _dump(
        [
            MessageType.CALL_ERROR.value,
            message_id,
            error_code,
            description[:MAX_DESCRIPTION_LENGTH],
            details or {},
        ]
    )
