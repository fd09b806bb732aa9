"""Clients and repositories of the housekeeping jobs, built once per container."""

from __future__ import annotations

import functools
import os

import boto3

from shared.adapters.apigw_ws import WebSocketConnections
from shared.adapters.dynamodb.connections import DynamoPendingCalls
from shared.adapters.dynamodb.paid_charging import DynamoPaidCharges
from shared.adapters.dynamodb.piles import DynamoPiles
from shared.adapters.dynamodb.sessions import DynamoSessions
from shared.adapters.ebike_charging import ebike_ports
from shared.adapters.ocpp_schemas import OcppSchemas
from shared.adapters.stepfunctions import StepFunctionsResumer
from shared.domain.clock import Clock, system_clock
from shared.domain.ids import new_id
from shared.services.housekeeping import HousekeepingPorts
from shared.services.paid_charging import PaidChargePorts
from shared.services.workflow_ports import WorkflowResumer

clock: Clock = system_clock


@functools.cache
def websocket() -> WebSocketConnections:
    """The ``@connections`` API: calls that waited for a pile go out from here."""
    return WebSocketConnections(
        boto3.client("apigatewaymanagementapi", endpoint_url=os.environ["WS_MANAGEMENT_ENDPOINT"])
    )


@functools.cache
def resumer() -> WorkflowResumer:
    """Step Functions: resumes the workflows of paid sessions (stale close, never started)."""
    return StepFunctionsResumer(boto3.client("stepfunctions"))


@functools.cache
def ports() -> HousekeepingPorts:
    dynamodb = boto3.client("dynamodb")
    piles = DynamoPiles(os.environ["BASE_DATA_TABLE"], dynamodb)
    pending_calls = DynamoPendingCalls(os.environ["SESSIONS_TABLE"], dynamodb)
    sessions = DynamoSessions(os.environ["SESSIONS_TABLE"], os.environ["BASE_DATA_TABLE"], dynamodb)
    return HousekeepingPorts(
        piles=piles,
        pending_calls=pending_calls,
        sender=websocket(),
        sessions=sessions,
        clock=clock,
        paid=PaidChargePorts(
            paid_charges=DynamoPaidCharges(
                os.environ["SESSIONS_TABLE"], os.environ["BASE_DATA_TABLE"], dynamodb
            ),
            sessions=sessions,
            piles=piles,
            pending_calls=pending_calls,
            schemas=OcppSchemas(),
            sender=websocket(),
            workflow=resumer(),
            clock=clock,
            ebike=ebike_ports(
                sessions_table=os.environ["SESSIONS_TABLE"],
                base_data_table=os.environ["BASE_DATA_TABLE"],
                dynamodb=dynamodb,
                iot_data=boto3.client("iot-data"),
                topic_prefix=os.environ.get("IOT_DOWN_TOPIC_PREFIX", "gw"),
                clock=clock,
                new_id=new_id,
            ),
        ),
    )


def reset() -> None:
    """Forget built clients (tests start a fresh embedded AWS per test)."""
    ports.cache_clear()
    websocket.cache_clear()
    resumer.cache_clear()
