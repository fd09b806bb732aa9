"""Clients, repositories and schema cache of the OCPP router, built once per container."""

from __future__ import annotations

import functools
import os

import boto3

from shared.adapters.apigw_ws import WebSocketConnections
from shared.adapters.dynamodb.connections import DynamoConnections, DynamoPendingCalls
from shared.adapters.dynamodb.pile_events import DynamoPileEvents
from shared.adapters.dynamodb.piles import DynamoPileFaults, DynamoPiles
from shared.adapters.dynamodb.sessions import DynamoSessions
from shared.adapters.ocpp_schemas import OcppSchemas
from shared.domain.clock import Clock, system_clock
from shared.services.ocpp.ports import OcppPorts

clock: Clock = system_clock


@functools.cache
def schemas() -> OcppSchemas:
    return OcppSchemas()


@functools.cache
def ports() -> OcppPorts:
    dynamodb = boto3.client("dynamodb")
    return OcppPorts(
        connections=DynamoConnections(os.environ["CONNECTIONS_TABLE"], dynamodb),
        piles=DynamoPiles(os.environ["BASE_DATA_TABLE"], dynamodb),
        faults=DynamoPileFaults(os.environ["FAULTS_TABLE"], dynamodb),
        pending_calls=DynamoPendingCalls(os.environ["SESSIONS_TABLE"], dynamodb),
        schemas=schemas(),
        clock=clock,
        sender=_SenderOnFirstUse(),
        pile_events=DynamoPileEvents(os.environ["SESSIONS_TABLE"], dynamodb),
        sessions=DynamoSessions(
            os.environ["SESSIONS_TABLE"], os.environ["BASE_DATA_TABLE"], dynamodb
        ),
    )


@functools.cache
def websocket() -> WebSocketConnections:
    """The ``@connections`` API, for CSMS-initiated calls (``remote_calls.send_call``)."""
    return WebSocketConnections(
        boto3.client("apigatewaymanagementapi", endpoint_url=os.environ["WS_MANAGEMENT_ENDPOINT"])
    )


class _SenderOnFirstUse:
    """Builds the ``@connections`` client on the first post: most frames never send one."""

    def post(self, connection_id: str, text: str) -> None:
        websocket().post(connection_id, text)


def reset() -> None:
    """Forget built clients (tests start a fresh embedded AWS per test)."""
    ports.cache_clear()
    websocket.cache_clear()
