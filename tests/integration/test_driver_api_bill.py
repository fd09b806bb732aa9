"""The bill's lines on moto: a paid charge started through the driver API, metered across
three time-of-use periods, settled by the payments function's ``settle_cost`` task (the
real handler, orders and ledger on the template's tables), then read back in the driver's
charge detail: lines per period that sum exactly to the cost, empty before settlement."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from functions.payments import handler as payments_handler
from functions.payments import wiring as payments_wiring
from shared.adapters.dynamodb.payment_orders import DynamoPaymentOrders
from shared.domain.payment_orders import OrderState
from shared.domain.pricing import MeterReading, price_energy
from shared.services import payment_workflow
from tests.integration.test_driver_api_charging import (
    FakeSender,
    charging,
    machine,
    mark_charging,
    start_body,
)
from tests.integration.test_driver_api_support import (
    DriverWorld,
    dcall,
    shared_world,
    sign_in,
    world,
)

__all__ = ["charging", "machine", "shared_world", "world"]

# 09:30 in Asia/Shanghai: flat until 10:00, peak 10:00-15:00, sharp from 15:00.
START = datetime(2026, 11, 1, 1, 30, tzinfo=UTC)


class _Context:
    function_name = "payments"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:payments"
    aws_request_id = "req-bill-1"


def settle_task(order_no: str) -> dict[str, object]:
    return {
        "step": "settle_cost",
        "execution": f"arn:aws:states:us-east-1:123456789012:execution:payment:{order_no}",
        "state": {"order_no": order_no},
    }


def test_settled_charge_shows_its_lines_per_period_in_the_detail(
    world: DriverWorld, charging: FakeSender
) -> None:
    token = sign_in("bill-reader")
    body = start_body(world, "req-bill-1", value=3_000, prepaid_fen=3_000)
    started = dcall("POST", "/driver/charges", token, body=body)
    assert started.status == 201, started.body
    order_no = started.body["order_no"]

    before = dcall("GET", f"/driver/charges/{order_no}", token)
    assert before.status == 200, before.body
    assert (before.body["bill_lines"], before.body["discount_fen"]) == ([], 0)

    # Register 1000 Wh at 09:30, 1500 at 09:40, 8500 at 15:30 (local).
    order = mark_charging(
        world,
        order_no,
        "se-bill-1",
        start=START,
        readings=((10, 1_500, 7_000), (360, 8_500, 7_000)),
    )
    payments_wiring.reset()
    ports = payments_wiring.ports()
    payment_workflow._take_payment(ports, order)  # what the "paid" notice posted
    result = payments_handler.lambda_handler(settle_task(order_no), _Context())  # type: ignore[arg-type]
    again = payments_handler.lambda_handler(settle_task(order_no), _Context())  # type: ignore[arg-type]
    assert again == result

    stored = DynamoPaymentOrders(os.environ["LEDGER_TABLE"]).get(order_no)
    assert stored is not None and stored.state is OrderState.SETTLED
    tariff = ports.base_data.tariff_version(order.tariff_id, order.tariff_version)
    assert tariff is not None
    metered = ((0, 1_000), (10, 1_500), (360, 8_500))
    expected = price_energy(
        tariff, [MeterReading(START + timedelta(minutes=m), wh) for m, wh in metered]
    )
    assert result["cost_fen"] == stored.cost_fen == expected.total_fen > 0

    detail = dcall("GET", f"/driver/charges/{order_no}", token)
    assert detail.status == 200, detail.body
    lines = detail.body["bill_lines"]
    assert [(x["period_kind"], x["energy_wh"]) for x in lines] == [
        ("flat", 900),
        ("peak", 6_000),
        ("sharp", 600),
    ]
    assert lines[0]["starts_at"] == "2026-11-01T01:30:00.000Z"
    assert lines[1]["starts_at"] == lines[0]["ends_at"] == "2026-11-01T02:00:00.000Z"
    assert lines[2]["starts_at"] == lines[1]["ends_at"] == "2026-11-01T07:00:00.000Z"
    assert lines[2]["ends_at"] == (START + timedelta(minutes=360)).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z"
    )
    assert all(x["amount_fen"] == x["electricity_fen"] + x["service_fen"] for x in lines)
    assert (
        sum(x["amount_fen"] for x in lines) - detail.body["discount_fen"] == detail.body["cost_fen"]
    )
    assert detail.body["cost_fen"] == expected.total_fen
    assert [x["amount_fen"] for x in lines] == [x.amount_fen for x in expected.lines]

    other = dcall("GET", f"/driver/charges/{order_no}", sign_in("bill-stranger"))
    assert other.status == 404
    assert "bill_lines" not in other.body
