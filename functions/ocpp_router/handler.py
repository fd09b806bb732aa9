"""WebSocket ``$default``: one OCPP-J frame per invocation, answered through the route
response (``{"statusCode": 200, "body": frame}``); a frame that needs no answer (a
CALLRESULT to one of our calls) gets a 200 without a body."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.ocpp_router import wiring
from shared.domain.errors import ChargingError
from shared.domain.ocpp.frames import Call, FrameRejected, format_call_error, parse_frame
from shared.observability import logger, metrics
from shared.services.ocpp.router import FrameOutcome, handle_frame


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId", clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request_context = event.get("requestContext") or {}
    connection_id = str(request_context.get("connectionId") or "")
    # OCPP-J travels in text frames only; a binary frame is answered as unreadable.
    raw_body = event.get("body")
    body = raw_body if isinstance(raw_body, str) and not event.get("isBase64Encoded") else None
    try:
        outcome = handle_frame(body, connection_id, wiring.ports())
    except ChargingError as error:
        logger.error("frame not handled", extra={"reason": error.code})
        outcome = _internal_error(body)
    except Exception:
        # Last resort at the edge: the pile still gets a CALLERROR, never a dropped socket.
        logger.exception("frame handling crashed")
        outcome = _internal_error(body)
    # A steady-state heartbeat is most of an idle pile's traffic and its log line would be
    # a twentieth of the pile's monthly bill: it logs at DEBUG; everything else at INFO.
    is_routine = outcome.action == "Heartbeat" and outcome.error_code is None
    (logger.debug if is_routine else logger.info)(
        "ocpp frame",
        extra={
            "pile_id": outcome.pile_id,
            "connection_id": connection_id,
            "message_type": outcome.message_type,
            "action": outcome.action,
            "error_code": outcome.error_code,
        },
    )
    if outcome.error_code:
        metrics.add_metric(name="OcppCallErrors", unit=MetricUnit.Count, value=1)
        metrics.flush_metrics()
    if outcome.reply is None:
        return {"statusCode": 200}
    return {"statusCode": 200, "body": outcome.reply}


def _internal_error(body: str | None) -> FrameOutcome:
    try:
        frame = parse_frame(body)
    except FrameRejected as rejected:
        message_id = rejected.message_id if rejected.is_answerable else None
    else:
        message_id = frame.message_id if isinstance(frame, Call) else None
    if message_id is None:
        return FrameOutcome(None, error_code="InternalError")
    reply = format_call_error(message_id, "InternalError", "the frame could not be processed")
    return FrameOutcome(reply, message_type="call", error_code="InternalError")
