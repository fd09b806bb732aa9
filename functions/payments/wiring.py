"""Clients and repositories of the payments function, built once per container."""

from __future__ import annotations

import functools
import os
from datetime import datetime

import boto3

from shared.adapters.dynamodb.base_data import DynamoBaseDataRepository
from shared.adapters.dynamodb.ledger import DynamoLedgerRepository
from shared.adapters.dynamodb.payment_orders import DynamoPaymentBaseData, DynamoPaymentOrders
from shared.adapters.dynamodb.topup_orders import DynamoTopUpOrders
from shared.adapters.payments import provider_for
from shared.adapters.stepfunctions import StepFunctionsResumer
from shared.domain.clock import Clock, system_clock
from shared.domain.payment_orders import PaymentOrder
from shared.services.payment_workflow import (
    ChargeFacts,
    PaidChargingBridge,
    PaymentPorts,
    PileCharging,
)

clock: Clock = system_clock


@functools.cache
def charging() -> PileCharging:
    """The pile side (remote start through the ``@connections`` API), built when a task
    first needs it: notifications never do, and its OCPP modules cost cold-start time."""
    from shared.adapters.apigw_ws import WebSocketConnections
    from shared.adapters.dynamodb.connections import DynamoPendingCalls
    from shared.adapters.dynamodb.paid_charging import DynamoPaidCharges
    from shared.adapters.dynamodb.piles import DynamoPiles
    from shared.adapters.dynamodb.sessions import DynamoSessions
    from shared.adapters.ebike_charging import ebike_ports
    from shared.adapters.ocpp_schemas import OcppSchemas
    from shared.domain.ids import new_id
    from shared.services.paid_charging import PaidChargePorts

    dynamodb = boto3.client("dynamodb")
    sessions_table, base_table = os.environ["SESSIONS_TABLE"], os.environ["BASE_DATA_TABLE"]
    return PaidChargingBridge(
        PaidChargePorts(
            paid_charges=DynamoPaidCharges(sessions_table, base_table, dynamodb),
            sessions=DynamoSessions(sessions_table, base_table, dynamodb),
            piles=DynamoPiles(base_table, dynamodb),
            pending_calls=DynamoPendingCalls(sessions_table, dynamodb),
            schemas=OcppSchemas(),
            sender=WebSocketConnections(
                boto3.client(
                    "apigatewaymanagementapi", endpoint_url=os.environ["WS_MANAGEMENT_ENDPOINT"]
                )
            ),
            workflow=StepFunctionsResumer(boto3.client("stepfunctions")),
            clock=clock,
            # E-bike ports (Modbus piles) are switched on and off through their gateway.
            ebike=ebike_ports(
                sessions_table=sessions_table,
                base_data_table=base_table,
                dynamodb=dynamodb,
                iot_data=boto3.client("iot-data"),
                topic_prefix=os.environ.get("IOT_DOWN_TOPIC_PREFIX", "gw"),
                clock=clock,
                new_id=new_id,
            ),
        )
    )


class _ChargingOnFirstUse:
    def begin(self, order: PaymentOrder, now: datetime) -> str:
        return charging().begin(order, now)

    def await_end(self, order_no: str, task_token: str, now: datetime) -> None:
        charging().await_end(order_no, task_token, now)

    def outcome(self, order_no: str) -> ChargeFacts:
        return charging().outcome(order_no)

    def stop(self, pile_id: str, session_id: str, now: datetime) -> None:
        charging().stop(pile_id, session_id, now)


@functools.cache
def ports() -> PaymentPorts:
    dynamodb = boto3.client("dynamodb")
    ledger_table = os.environ["LEDGER_TABLE"]
    return PaymentPorts(
        orders=DynamoPaymentOrders(ledger_table, dynamodb),
        ledger=DynamoLedgerRepository(ledger_table, dynamodb),
        providers=provider_for,
        charging=_ChargingOnFirstUse(),
        base_data=DynamoPaymentBaseData(
            DynamoBaseDataRepository(os.environ["BASE_DATA_TABLE"], dynamodb)
        ),
        resumer=StepFunctionsResumer(boto3.client("stepfunctions")),
        clock=clock,
        topups=DynamoTopUpOrders(ledger_table, dynamodb),
    )


def reset() -> None:
    """Forget built clients (tests start a fresh embedded AWS per test)."""
    ports.cache_clear()
    charging.cache_clear()
