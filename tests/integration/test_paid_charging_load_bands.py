"""Load bands at switch-on on moto, through the router's wiring (DynamoPaidCharges): the
station's ``SITELOAD#`` item (as the Modbus bridge writes it), its transformer capacity and
the pile's rated power decide whether the remote start goes out plain, capped by a
TxProfile, or not at all (the marker stored never_started, the wait failed)."""

from __future__ import annotations

from typing import Any

import boto3

from shared.adapters.dynamodb.gateways import DynamoSiteLoads
from shared.adapters.dynamodb.paid_charging import DynamoPaidCharges
from shared.domain.modbus_readings import SiteLoad
from shared.domain.site_load import SITE_AT_LOAD_LIMIT
from shared.services import paid_charging
from shared.services.paid_charging import SiteLimits
from tests.integration.test_ocpp_router_support import STATION, pile_side
from tests.integration.test_ocpp_transactions_support import transaction_side
from tests.integration.test_paid_charging import V16, V201, PaidSide, online, paid

__all__ = ["paid", "pile_side", "transaction_side"]


def rate_site(paid: PaidSide, pile_id: str, *, capacity_kva: int, rated_power_w: int) -> None:
    client = paid.tx.side.client
    base = paid.tx.side.tables["BASE_DATA_TABLE"]
    client.update_item(
        TableName=base,
        Key={"pk": {"S": f"STATION#{STATION}"}, "sk": {"S": "STATION"}},
        UpdateExpression="SET transformer_capacity_kva = :kva",
        ExpressionAttributeValues={":kva": {"N": str(capacity_kva)}},
    )
    client.update_item(
        TableName=base,
        Key={"pk": {"S": f"PILE#{pile_id}"}, "sk": {"S": "PILE"}},
        UpdateExpression="SET rated_power_w = :w",
        ExpressionAttributeValues={":w": {"N": str(rated_power_w)}},
    )


def meter_reads(paid: PaidSide, clock: Any, power_w: int) -> None:
    now = clock()
    loads = DynamoSiteLoads(paid.tx.side.tables["SESSIONS_TABLE"], boto3.client("dynamodb"))
    assert loads.record(
        SiteLoad(station_id=STATION, at=now, received_at=now, gateway_id="GW-1", power_w=power_w)
    )


def test_a_16_start_at_a_busy_site_carries_the_cap_and_the_marker_keeps_it(
    paid: PaidSide, clock: Any
) -> None:
    online(paid, "CP-16", V16)
    rate_site(paid, "CP-16", capacity_kva=200, rated_power_w=120_000)
    meter_reads(paid, clock, 60_000)  # 30 %: 60 kW + 120 kW fits

    calm = paid.begin("CP-16", order_no="PO-1")
    clock.advance(seconds=10)
    meter_reads(paid, clock, 110_000)  # 55 %: half of 120 kW
    paid.tx.result(
        "conn-1",
        "StatusNotification",
        {"connectorId": 2, "errorCode": "NoError", "status": "Available"},
    )
    busy = paid.begin("CP-16", order_no="PO-2", gun_no=2, id_tag="PAY-PO-2")

    frames = paid.frames()
    assert [frame[1] for frame in frames] == [calm, busy]
    assert "chargingProfile" not in frames[0][3]
    profile = frames[1][3]["chargingProfile"]
    assert profile["chargingProfilePurpose"] == "TxProfile"
    assert profile["chargingSchedule"]["chargingRateUnit"] == "W"
    assert profile["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 60_000}
    ]
    assert paid.marker("PO-1")["load_band"] == "normal"
    marker = paid.marker("PO-2")
    assert (marker["load_band"], marker["power_limit_w"]) == ("limited", 60_000)
    stored = DynamoPaidCharges(
        paid.tx.side.tables["SESSIONS_TABLE"], paid.tx.side.tables["BASE_DATA_TABLE"]
    ).get("PO-2")
    assert stored is not None and stored.power_limit_w == 60_000
    call = paid.tx.side.item("SESSIONS_TABLE", {"pk": "PILE#CP-16", "sk": f"CALL#{busy}"})
    assert call is not None and "chargingProfile" in call["request_json"]


def test_a_201_start_at_an_overloaded_site_sends_nothing_and_fails_the_wait(
    paid: PaidSide, clock: Any
) -> None:
    online(paid, "CP-201", V201)
    rate_site(paid, "CP-201", capacity_kva=100, rated_power_w=60_000)
    meter_reads(paid, clock, 85_000)

    call_id = paid.begin("CP-201")
    paid_charging.await_session_end(paid.ports, "PO-1", "token-1", clock())

    assert paid.frames() == []
    marker = paid.marker()
    assert (marker["state"], marker["call_id"], marker["load_band"]) == (
        "never_started",
        call_id,
        "refused",
    )
    assert marker["failure"].startswith(SITE_AT_LOAD_LIMIT) and "gsi2pk" not in marker
    assert (
        paid.tx.side.item("SESSIONS_TABLE", {"pk": "PILE#CP-201", "sk": "PAIDSTART#T#PAY-PO-1"})
        is None
    )
    assert paid.resumer.failed == [("token-1", "PileNeverStarted", marker["failure"])]
    assert paid.begin("CP-201") == call_id and paid.frames() == []  # the retry changes nothing


def test_the_store_reads_the_site_load_and_limits(paid: PaidSide, clock: Any) -> None:
    online(paid, "CP-16", V16)
    store = DynamoPaidCharges(
        paid.tx.side.tables["SESSIONS_TABLE"], paid.tx.side.tables["BASE_DATA_TABLE"]
    )
    assert store.site_load(STATION) is None
    assert store.site_limits(STATION, "CP-16") == SiteLimits(None, None)  # not rated yet
    assert store.site_limits("st-none", "CP-none") == SiteLimits(None, None)

    rate_site(paid, "CP-16", capacity_kva=630, rated_power_w=7_000)
    meter_reads(paid, clock, 12_345)

    load = store.site_load(STATION)
    assert load is not None and load.power_w == 12_345
    assert store.site_limits(STATION, "CP-16") == SiteLimits(630, 7_000)
