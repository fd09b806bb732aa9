"""Clients and repositories of the payments function, built once per container.

The adapters (and boto3's clients) are imported inside the builders, on the first
notification or task, so importing the handler stays cheap (docs/cold-start.md); the pile
side is built only when a task first needs it.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING

from shared.domain.clock import Clock, system_clock

if TYPE_CHECKING:
    from datetime import datetime

    from shared.domain.payment_orders import PaymentOrder
    from shared.domain.payments import PaymentMethod, PaymentProvider
    from shared.services.payment_workflow import ChargeFacts, PaymentPorts, PileCharging

clock: Clock = system_clock


def provider_for(method: PaymentMethod) -> PaymentProvider:
    """The provider adapter of ``method`` (``shared.adapters.payments.provider_for``;
    tests replace this function)."""
    from shared.adapters.payments import provider_for as build

    return build(method)


@functools.cache
def charging() -> PileCharging:
    """The pile side (remote start through the ``@connections`` API, e-bike ports through
    their gateway), built when a task first needs it: notifications never do."""
    import boto3

    from shared.adapters.pile_commands import (
        paid_charge_ports,
        pile_command_ports,
        websocket_sender,
    )
    from shared.adapters.stepfunctions import StepFunctionsResumer
    from shared.domain.ids import new_id
    from shared.services.payment_workflow import PaidChargingBridge

    dynamodb = boto3.client("dynamodb")
    sessions_table, base_table = os.environ["SESSIONS_TABLE"], os.environ["BASE_DATA_TABLE"]
    return PaidChargingBridge(
        paid_charge_ports(
            commands=pile_command_ports(
                base_data_table=base_table,
                sessions_table=sessions_table,
                dynamodb=dynamodb,
                sender=websocket_sender(os.environ["WS_MANAGEMENT_ENDPOINT"]),
                clock=clock,
                new_id=new_id,
            ),
            sessions_table=sessions_table,
            base_data_table=base_table,
            dynamodb=dynamodb,
            workflow=StepFunctionsResumer(boto3.client("stepfunctions")),
            iot_data=boto3.client("iot-data"),
            topic_prefix=os.environ.get("IOT_DOWN_TOPIC_PREFIX", "gw"),
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
    import boto3

    from shared.adapters.dynamodb.base_data import DynamoBaseDataRepository
    from shared.adapters.dynamodb.ledger import DynamoLedgerRepository
    from shared.adapters.dynamodb.payment_orders import DynamoPaymentBaseData, DynamoPaymentOrders
    from shared.adapters.dynamodb.topup_orders import DynamoTopUpOrders
    from shared.adapters.stepfunctions import StepFunctionsResumer
    from shared.services.payment_workflow import PaymentPorts

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
