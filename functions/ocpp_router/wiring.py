"""Clients, repositories and schema cache of the OCPP router, built once per container.

The adapters (and boto3's clients) are imported inside the builders, on the first frame,
so importing the handler stays cheap (docs/cold-start.md).
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any

from shared.domain.clock import Clock, system_clock

if TYPE_CHECKING:
    from shared.adapters.apigw_ws import WebSocketConnections
    from shared.adapters.ocpp_schemas import OcppSchemas
    from shared.services.ocpp.ports import OcppPorts
    from shared.services.workflow_ports import WorkflowResumer

clock: Clock = system_clock


@functools.cache
def schemas() -> OcppSchemas:
    from shared.adapters.ocpp_schemas import OcppSchemas

    return OcppSchemas()


@functools.cache
def ports() -> OcppPorts:
    import boto3

    from shared.adapters.dynamodb.connections import DynamoConnections, DynamoPendingCalls
    from shared.adapters.dynamodb.paid_charging import DynamoPaidCharges
    from shared.adapters.dynamodb.pile_events import DynamoPileEvents
    from shared.adapters.dynamodb.piles import DynamoPileFaults, DynamoPiles
    from shared.adapters.dynamodb.sessions import DynamoSessions
    from shared.services.ocpp.ports import OcppPorts

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
        paid_charges=DynamoPaidCharges(
            os.environ["SESSIONS_TABLE"], os.environ["BASE_DATA_TABLE"], dynamodb
        ),
        workflow=_ResumerOnFirstUse(),
    )


@functools.cache
def websocket() -> WebSocketConnections:
    """The ``@connections`` API, for CSMS-initiated calls (``remote_calls.send_call``)."""
    from shared.adapters.pile_commands import websocket_sender

    return websocket_sender(os.environ["WS_MANAGEMENT_ENDPOINT"])


class _SenderOnFirstUse:
    """Builds the ``@connections`` client on the first post: most frames never send one."""

    def post(self, connection_id: str, text: str) -> None:
        websocket().post(connection_id, text)


@functools.cache
def resumer() -> WorkflowResumer:
    """Step Functions, resuming the workflow of a paid session (``SendTaskSuccess/Failure``)."""
    import boto3

    from shared.adapters.stepfunctions import StepFunctionsResumer

    return StepFunctionsResumer(boto3.client("stepfunctions"))


class _ResumerOnFirstUse:
    """Builds the Step Functions client when a paid session first needs it: most frames
    never do, and a client costs cold-start time."""

    def succeed(self, task_token: str, output: dict[str, Any]) -> bool:
        return resumer().succeed(task_token, output)

    def fail(self, task_token: str, error: str, cause: str) -> bool:
        return resumer().fail(task_token, error, cause)


def reset() -> None:
    """Forget built clients (tests start a fresh embedded AWS per test)."""
    ports.cache_clear()
    websocket.cache_clear()
    resumer.cache_clear()
