"""WebSocket ``$connect`` / ``$disconnect``: pile authentication, sub-protocol, presence."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.ws_connect import wiring
from shared.domain.errors import (
    ChargingError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from shared.domain.ocpp.handshake import lower_keys
from shared.observability import logger
from shared.services.pile_connections import ConnectRequest, connect_pile, disconnect_pile

_REFUSALS: tuple[tuple[type[ChargingError], int], ...] = (
    (InvalidInput, 400),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
)
_UNAVAILABLE = 503  # our storage failed: the pile retries, as after any refused upgrade


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId", clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request_context = event.get("requestContext") or {}
    connection_id = str(request_context.get("connectionId") or "")
    if request_context.get("routeKey") == "$disconnect":
        return _disconnect(connection_id)
    request = ConnectRequest(
        connection_id=connection_id,
        pile_id=_pile_id(event),
        authorization=lower_keys(event.get("headers")).get("authorization"),
        offered_protocols=_offered_protocols(event),
        source_ip=(request_context.get("identity") or {}).get("sourceIp"),
    )
    logger.append_keys(pile_id=request.pile_id, connection_id=connection_id)
    try:
        connection = connect_pile(
            request, piles=wiring.piles(), connections=wiring.connections(), clock=wiring.clock
        )
    except ChargingError as error:
        status = next((code for kind, code in _REFUSALS if isinstance(error, kind)), _UNAVAILABLE)
        logger.info("connect refused", extra={"status": status, "reason": error.code})
        return {"statusCode": status, "body": error.message}
    logger.info("pile connected", extra={"protocol": connection.version.value})
    return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": connection.version.value}}


def _disconnect(connection_id: str) -> dict[str, Any]:
    try:
        connection = disconnect_pile(
            connection_id,
            piles=wiring.piles(),
            connections=wiring.connections(),
            clock=wiring.clock,
        )
    except ChargingError as error:
        logger.warning("disconnect not recorded", extra={"reason": error.code})
        return {"statusCode": _UNAVAILABLE}
    logger.info(
        "pile disconnected",
        extra={"connection_id": connection_id, "pile_id": connection and connection.pile_id},
    )
    return {"statusCode": 200}


def _pile_id(event: dict[str, Any]) -> str | None:
    for source in ("queryStringParameters", "pathParameters"):
        value = (event.get(source) or {}).get("pileId")
        if value:
            return str(value)
    return None


def _offered_protocols(event: dict[str, Any]) -> str | None:
    """All ``Sec-WebSocket-Protocol`` header lines, joined (a client may send several)."""
    multi = lower_keys(event.get("multiValueHeaders")).get("sec-websocket-protocol")
    if isinstance(multi, list) and multi:
        return ",".join(str(line) for line in multi)
    return lower_keys(event.get("headers")).get("sec-websocket-protocol")
