"""An e-bike port's paid charge in the driver's live view and trend on moto through the
handler: the order's marker (session ``ebike-{order_no}``) and the port's readings as the
Modbus bridge stores them (``PORTREAD#{pile}``) give energy, power, voltage, current,
elapsed time and the cost so far by the station's tariff (by time with power bands), the
same figure as the port's stop check; the trend pages the port's readings."""

from __future__ import annotations

import os
from datetime import timedelta

import boto3

from shared.adapters.dynamodb.paid_charging import DynamoPaidCharges
from shared.adapters.dynamodb.port_readings import DynamoPortReadings
from shared.domain.modbus_readings import PortSample, PortState
from shared.domain.paid_charging import MODBUS, PaidCharge
from shared.domain.payment_orders import PaymentOrder
from shared.domain.pricing import ChargeMode, ChargeTarget
from shared.services.ebike_charging import BASELINE_WINDOW, ChargeSpan, span_readings
from shared.services.ebike_charging import _live as stop_check_live
from tests.integration.test_driver_api_charging import (
    START,
    FakeSender,
    charging,
    machine,
    start_body,
)
from tests.integration.test_driver_api_support import (
    DriverWorld,
    add_ebike_pile,
    dcall,
    shared_world,
    sign_in,
    snapshot,
    world,
)

__all__ = ["charging", "machine", "shared_world", "world"]

PILE = "EB-live-1"
PORT = 3
LINKED = START + timedelta(minutes=1)
# minutes after the link, register Wh, power W, state
CYCLES = (
    (-2, 7_000, 0, PortState.PLUGGED),
    (1, 7_010, 350, PortState.CHARGING),
    (2, 7_016, 360, PortState.CHARGING),
    (3, 7_028, 700, PortState.CHARGING),
    (4, 7_040, 720, PortState.CHARGING),
)


def an_ebike_pile(world: DriverWorld) -> None:
    add_ebike_pile(
        world.a.admin,
        PILE,
        gateway_id="GW-live-1",
        name="Live bikes",
        lat=30.5,
        lng=114.3,
        fen_per_hour=(60, 120),
        free_port=PORT,
    )


def charge_on_the_port(order_no: str) -> DynamoPaidCharges:
    """What the workflow and the Modbus bridge write: the order's marker linked to the
    port's charge and the port's poll cycles."""
    sessions_table, base_table = os.environ["SESSIONS_TABLE"], os.environ["BASE_DATA_TABLE"]
    markers = DynamoPaidCharges(sessions_table, base_table)
    order = stored_order(order_no)
    assert markers.create(
        PaidCharge(
            order_no=order_no,
            operator_id=order.operator_id,
            station_id=order.station_id,
            pile_id=PILE,
            gun_no=PORT,
            id_tag="DEBIKE",
            target=ChargeTarget(ChargeMode.AMOUNT, 400),
            prepaid_cap_fen=400,
            tariff_id=order.tariff_id,
            tariff_version=order.tariff_version,
            protocol=MODBUS,
            call_id="cmd-live-1",
            created_at=START,
            check_at=START + timedelta(minutes=3),
        )
    )
    assert markers.link(order_no, f"ebike-{order_no}", LINKED)[0]
    DynamoPortReadings(sessions_table, boto3.client("dynamodb")).store(
        PILE,
        [
            (
                LINKED + timedelta(minutes=minutes),
                {
                    PORT: PortSample(
                        at=LINKED + timedelta(minutes=minutes),
                        gateway_id="GW-live-1",
                        seq=10 + i,
                        energy_raw=wh,
                        power_w=power,
                        voltage_dv=2210,
                        current_ma=power * 1000 // 221,
                        temperature_dc=300,
                        state=state,
                    )
                },
            )
            for i, (minutes, wh, power, state) in enumerate(CYCLES)
        ],
        modulus=65_536,
        max_power_w=800,
    )
    return markers


def stored_order(order_no: str) -> PaymentOrder:
    from shared.adapters.dynamodb.payment_orders import DynamoPaymentOrders

    order = DynamoPaymentOrders(os.environ["LEDGER_TABLE"]).get(order_no)
    assert order is not None
    return order


def test_a_port_charge_shows_its_live_figures_and_trend(
    world: DriverWorld, charging: FakeSender
) -> None:
    an_ebike_pile(world)
    token = sign_in("ebike-live")
    started = dcall(
        "POST",
        "/driver/charges",
        token,
        body=start_body(world, "req-ebike-live", pile_id=PILE, gun_no=PORT),
    )
    assert started.status == 201, started.body
    order_no = started.body["order_no"]
    markers = charge_on_the_port(order_no)
    world.clock.now = LINKED + timedelta(minutes=4, seconds=20)
    before = snapshot()

    live = dcall("GET", f"/driver/charges/{order_no}/live", token)
    samples = f"/driver/charges/{order_no}/meter-values"
    trend = dcall("GET", samples, token, query={"limit": "3"})
    assert trend.status == 200, trend.body
    rest = dcall(
        "GET", samples, token, query={"limit": "3", "next_token": trend.body["next_token"]}
    )
    bad = dcall("GET", samples, token, query={"next_token": "xyz"})

    assert live.status == 200, live.body
    body = live.body
    assert (body["session_id"], body["is_charging"]) == (f"ebike-{order_no}", True)
    assert (body["energy_wh"], body["elapsed_s"]) == (40, 260)
    assert (body["power_w"], body["voltage_v"], body["current_a"]) == (720, 221.0, 3.257)
    marker = markers.get(order_no)
    assert marker is not None
    tariff = markers.tariff(marker.tariff_id, marker.tariff_version)
    readings = DynamoPortReadings(os.environ["SESSIONS_TABLE"], boto3.client("dynamodb"))
    found = readings.port_readings(PILE, PORT, LINKED - BASELINE_WINDOW, world.clock.now)
    newest = found[-1].at
    check = stop_check_live(tariff, ChargeSpan(LINKED, tuple(span_readings(found, LINKED))), newest)
    # 4 started minutes to the newest reading: 3 in the 400 W band (1 fen each), 1 in the
    # 800 W band (2 fen)
    assert body["cost_fen"] == check.cost_fen == 5
    assert trend.status == 200, trend.body
    assert [s["energy_wh"] for s in trend.body["items"]] == [0, 10, 16]
    assert [s["power_w"] for s in rest.body["items"]] == [700, 720]
    assert rest.body["next_token"] is None
    assert bad.status == 422
    assert snapshot() == before
