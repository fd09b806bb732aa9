"""``$connect`` and ``$disconnect`` of a pile's WebSocket: who may connect, with which
sub-protocol, and the presence that follows.

Refusals are domain errors the handler maps to the HTTP status of the handshake:
InvalidInput 400 (sub-protocol), Unauthenticated 401, Forbidden 403, NotFound 404.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.domain.clock import Clock
from shared.domain.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from shared.domain.ocpp.handshake import (
    UNMATCHABLE_PASSWORD_HASH,
    offered_subprotocols,
    parse_basic_auth,
    supported_offers,
)
from shared.domain.ocpp.versions import version_of
from shared.domain.passwords import verify_password
from shared.domain.piles import is_valid_pile_id
from shared.domain.presence import Connection, expiry_epoch
from shared.observability import logger
from shared.services.ocpp.ports import ConnectionStore, PileStore


@dataclass(frozen=True, slots=True)
class ConnectRequest:
    """The parts of a ``$connect`` event that matter."""

    connection_id: str
    pile_id: str | None
    authorization: str | None = field(repr=False)
    offered_protocols: str | None
    source_ip: str | None


def connect_pile(
    request: ConnectRequest, *, piles: PileStore, connections: ConnectionStore, clock: Clock
) -> Connection:
    """Authenticate the pile, choose the sub-protocol, record connection and presence.

    DynamoDB: 1 GetItem (pile), 1 PutItem (connection), 1 UpdateItem (presence).

    Raises:
        InvalidInput: no sub-protocol we speak is offered, or not the pile's registered one.
        Unauthenticated: missing or malformed credentials, another user, a wrong password.
        Forbidden: the pile is disabled or does not speak OCPP.
        NotFound: no such pile.
        UpstreamFailure: DynamoDB failed.
    """
    offers = supported_offers(offered_subprotocols(request.offered_protocols))
    if not offers:
        raise InvalidInput("no supported OCPP sub-protocol offered", field="Sec-WebSocket-Protocol")
    pile_id = request.pile_id
    if not pile_id or not is_valid_pile_id(pile_id):
        raise NotFound("pile not found", kind="pile")
    credentials = parse_basic_auth(request.authorization)
    if credentials is None or credentials.username != pile_id:
        raise Unauthenticated("HTTP Basic credentials of the pile are required")
    access = piles.get_access(pile_id)
    stored_hash = access.password_hash if access and access.password_hash else None
    # One PBKDF2 run on every path past this point, whether the pile exists or not.
    is_password_right = verify_password(
        credentials.password, stored_hash or UNMATCHABLE_PASSWORD_HASH
    )
    if access is None:
        raise NotFound("pile not found", kind="pile", id=pile_id)
    version = version_of(access.protocol)
    if version is None:
        raise Forbidden("the pile does not speak OCPP", pile_id=pile_id)
    if not is_password_right:
        raise Unauthenticated("wrong pile credentials")
    if not access.is_enabled:
        raise Forbidden("the pile is disabled", pile_id=pile_id)
    if version not in offers:
        raise InvalidInput(
            f"the pile is registered for {version.value}", field="Sec-WebSocket-Protocol"
        )
    now = clock()
    connection = Connection(
        connection_id=request.connection_id,
        pile_id=pile_id,
        version=version,
        operator_id=access.operator_id,
        station_id=access.station_id,
        registration_status=access.registration_status,
        connected_at=now,
        last_seen_at=now,
        source_ip=request.source_ip,
        expires_at=expiry_epoch(now),
    )
    connections.put(connection)
    if not piles.mark_connected(pile_id, connection.connection_id, now):
        connections.delete(connection.connection_id)
        raise NotFound("pile not found", kind="pile", id=pile_id)
    return connection


def disconnect_pile(
    connection_id: str, *, piles: PileStore, connections: ConnectionStore, clock: Clock
) -> Connection | None:
    """Mark the pile offline (``last_seen_at`` = now) only if this connection is still its
    current one. The connection item is left to its TTL (connected + 3 h): reading it costs
    a fifth of deleting it, and no frame arrives on a closed connection.

    DynamoDB: 1 GetItem (consistent, so a connection made a moment ago is found), 1
    conditional UpdateItem. Returns the closed connection, or None when it was not known.

    Raises: UpstreamFailure.
    """
    connection = connections.get(connection_id, consistent=True)
    if connection is None:
        return None
    if not piles.mark_disconnected(connection.pile_id, connection_id, clock()):
        logger.info(
            "old connection closed after a reconnect",
            extra={"pile_id": connection.pile_id, "connection_id": connection_id},
        )
    return connection
