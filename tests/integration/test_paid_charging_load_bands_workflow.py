"""Load bands at switch-on through the payment workflow on moto: the real ASL, every task
through the payments handler, and the REAL pile side (``PaidChargingBridge`` on the
DynamoDB adapters, a fake WebSocket sender). A site above 80 % of its transformer refuses
the start: nothing reaches the pile, the workflow fails ``PileNeverStarted`` and the driver
gets everything back; above 50 % the remote start carries the half-power TxProfile."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import boto3
import pytest

from shared.adapters.dynamodb.gateways import DynamoSiteLoads
from shared.adapters.dynamodb.paid_charging import DynamoPaidCharges
from shared.adapters.pile_commands import paid_charge_ports, pile_command_ports
from shared.adapters.stepfunctions import StepFunctionsResumer
from shared.domain.ids import new_id
from shared.domain.modbus_readings import SiteLoad
from shared.domain.paid_charging import PaidCharge
from shared.domain.payment_orders import OrderState
from shared.domain.payments import PaymentMethod
from shared.domain.site_load import SITE_AT_LOAD_LIMIT
from shared.services.payment_workflow import PaidChargingBridge, start_paid_session
from tests.integration.test_payment_workflow_support import PaymentWorld, payment_world
from tests.support.aws import REGION
from tests.unit.ocpp_command_fakes import FakeSender
from tests.unit.test_payment_workflow_fakes import PILE, STATION, a_request

# The fakes' station has a 630 kVA transformer, its pile is rated 7 kW.
CAPACITY_W = 630_000


@pytest.fixture
def world() -> Iterator[PaymentWorld]:
    with payment_world() as built:
        yield built


@pytest.fixture
def sender(world: PaymentWorld) -> FakeSender:
    """The real pile side in place of the world's fake; the pile online on ``c1``."""
    sender = FakeSender()
    sessions, base = os.environ["SESSIONS_TABLE"], os.environ["BASE_DATA_TABLE"]
    ports = paid_charge_ports(
        commands=pile_command_ports(
            base_data_table=base,
            sessions_table=sessions,
            dynamodb=world.dynamodb,
            sender=sender,
            clock=lambda: datetime.now(UTC),
            new_id=new_id,
        ),
        sessions_table=sessions,
        base_data_table=base,
        dynamodb=world.dynamodb,
        workflow=StepFunctionsResumer(world.sfn),
        iot_data=boto3.client("iot-data", region_name=REGION),
        topic_prefix="gw",
    )
    world.ports = replace(world.ports, charging=PaidChargingBridge(ports))
    world.dynamodb.update_item(
        TableName=base,
        Key={"pk": {"S": f"PILE#{PILE}"}, "sk": {"S": "PILE"}},
        UpdateExpression="SET connection_id = :c, is_online = :on",
        ExpressionAttributeValues={":c": {"S": "c1"}, ":on": {"BOOL": True}},
    )
    return sender


def site_draws(world: PaymentWorld, power_w: int) -> None:
    now = datetime.now(UTC)
    loads = DynamoSiteLoads(os.environ["SESSIONS_TABLE"], world.dynamodb)
    assert loads.record(
        SiteLoad(station_id=STATION, at=now, received_at=now, gateway_id="GW-1", power_w=power_w)
    )


def marker(world: PaymentWorld, order_no: str) -> PaidCharge | None:
    store = DynamoPaidCharges(os.environ["SESSIONS_TABLE"], os.environ["BASE_DATA_TABLE"])
    return store.get(order_no)


def paid_start(world: PaymentWorld, order_no: str) -> str:
    start_paid_session(world.ports, a_request(order_no=order_no))
    world.wait_for_pay_token(order_no)
    world.notify(order_no, f"txn-{order_no[-3:]}", 400)
    return world.execution_arn(world.machine_arn, order_no)


def test_a_start_at_an_overloaded_site_sends_nothing_and_refunds_everything(
    world: PaymentWorld, sender: FakeSender
) -> None:
    site_draws(world, 600_000)  # 95 % of 630 kW
    order_no = "PO2612020200000201"

    ended = world.wait_for_end(paid_start(world, order_no))

    assert ended["status"] == "FAILED" and ended["error"] == "PaymentSessionFailed"
    assert sender.sent == []
    order = world.order(order_no)
    assert (order.state, order.failure) == (OrderState.FAILED, "PileNeverStarted")
    assert (order.refunded_fen, order.consumed_fen) == (400, 0)
    assert world.providers[PaymentMethod.SANDBOX].refunded_fen() == 400
    stored = marker(world, order_no)
    assert stored is not None and stored.failure is not None
    assert stored.failure.startswith(SITE_AT_LOAD_LIMIT) and stored.load_band == "refused"
    assert world.ledger_problems() == []


def test_a_start_at_a_busy_site_carries_half_the_rated_power(
    world: PaymentWorld, sender: FakeSender
) -> None:
    site_draws(world, 400_000)  # 63 %: LIMITED
    order_no = "PO2612020200000202"
    execution = paid_start(world, order_no)

    world.wait_for(lambda: len(sender.sent) == 1, "the remote start")
    world.wait_for(
        lambda: (m := marker(world, order_no)) is not None and m.task_token is not None,
        "the session-end token",
    )

    _, text = sender.sent[0]
    frame = json.loads(text)
    assert frame[2] == "RemoteStartTransaction"
    profile = frame[3]["chargingProfile"]
    assert profile["chargingProfilePurpose"] == "TxProfile"
    assert profile["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 3_500}
    ]
    stored = marker(world, order_no)
    assert stored is not None and stored.power_limit_w == 3_500
    assert world.order(order_no).call_id == frame[1]
    # End the execution: the pile never answers here.
    assert stored.task_token is not None
    world.sfn.send_task_failure(
        taskToken=stored.task_token, error="PileNeverStarted", cause="test over"
    )
    assert world.wait_for_end(execution)["status"] == "FAILED"
