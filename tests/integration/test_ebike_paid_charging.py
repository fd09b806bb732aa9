"""E-bike paid-charge markers on moto: the ``modbus`` marker round-trips and its port key
names the order (what the port's readings look it up by)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3

from shared.adapters.dynamodb.paid_charging import DynamoPaidCharges
from shared.domain.paid_charging import MODBUS, PaidCharge, PaidChargeState, port_key
from shared.domain.pricing import ChargeMode, ChargeTarget

T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


def test_modbus_marker_round_trips_and_its_port_key_names_the_order(
    aws: dict[str, str],
) -> None:
    store = DynamoPaidCharges(
        aws["SESSIONS_TABLE"], aws["BASE_DATA_TABLE"], boto3.client("dynamodb", "us-east-1")
    )
    charge = PaidCharge(
        order_no="PO-E1",
        operator_id="op-1",
        station_id="st-1",
        pile_id="EB-1",
        gun_no=7,
        id_tag="PAY-PO-E1",
        target=ChargeTarget(ChargeMode.TIME, 1800),
        prepaid_cap_fen=300,
        tariff_id="tf-1",
        tariff_version=1,
        protocol=MODBUS,
        call_id="261101020000000-00000000000000000001",
        created_at=T0,
        check_at=T0 + timedelta(seconds=65),
    )
    assert store.create(charge)
    assert store.get("PO-E1") == charge
    store.put_start_keys(charge)
    assert store.find_start("EB-1", port_key(7)) == "PO-E1"
    assert store.find_start("EB-1", port_key(1)) is None
    linked, current = store.link("PO-E1", "ebike-PO-E1", T0 + timedelta(seconds=3))
    assert linked and current is not None and current.state is PaidChargeState.CHARGING
    assert current.is_ebike
