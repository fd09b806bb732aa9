"""The site load bands on moto through the driver API handler: the transformer meter's live
load (``SITELOAD#{station}``, written by the Modbus bridge's store) above 80 % of the
station's capacity (``site_load.start_allowance`` REFUSED) refuses POST /driver/charges
with 409 ``site_at_load_limit``, nothing stored and no workflow started, and the scan
answers can_start false with that reason; above 50 % the charge starts and the scan tells
the half-power limit; a stale reading or no meter is the normal band."""

from __future__ import annotations

import os
from datetime import timedelta

import boto3
import pytest

from shared.adapters.dynamodb.gateways import DynamoSiteLoads
from shared.domain.modbus_readings import SiteLoad
from tests.integration.test_driver_api_charging import (
    FakeSender,
    charging,
    executions,
    machine,
    start_body,
)
from tests.integration.test_driver_api_support import (
    DriverWorld,
    dcall,
    shared_world,
    sign_in,
    snapshot,
    world,
)

__all__ = ["charging", "machine", "shared_world", "world"]

CAPACITY_W = 630_000  # the seeded station's 630 kVA
RATED_W = 7_000  # the seeded pile


def record_load(
    world: DriverWorld, power_w: int, *, age: timedelta = timedelta(seconds=20)
) -> None:
    at = world.clock() - age
    assert DynamoSiteLoads(os.environ["SESSIONS_TABLE"], boto3.client("dynamodb")).record(
        SiteLoad(
            station_id=world.a.station_id,
            at=at,
            received_at=at,
            gateway_id="gw-load",
            power_w=power_w,
        )
    )


def clear_load(world: DriverWorld) -> None:
    boto3.client("dynamodb").delete_item(
        TableName=os.environ["SESSIONS_TABLE"],
        Key={"pk": {"S": f"SITELOAD#{world.a.station_id}"}, "sk": {"S": "SITELOAD"}},
    )


REFUSE_ABOVE_W = CAPACITY_W * 8 // 10  # 504 kW


def test_a_start_over_eighty_percent_is_refused_and_changes_nothing(
    world: DriverWorld, charging: FakeSender, machine: str
) -> None:
    clear_load(world)
    record_load(world, REFUSE_ABOVE_W + 1)
    token = sign_in("load-limited")
    before, started = snapshot(), executions(machine)

    answer = dcall("POST", "/driver/charges", token, body=start_body(world, "req-load-0001"))

    assert answer.status == 409, answer.body
    assert answer.error["code"] == "conflict"
    details = answer.error["details"]
    assert details["reason"] == "site_at_load_limit" and details["load_band"] == "refused"
    assert (details["load_w"], details["capacity_w"]) == (REFUSE_ABOVE_W + 1, CAPACITY_W)
    assert details["rated_power_w"] > 0
    assert (snapshot(), executions(machine)) == (before, started)
    assert charging.sent == []


@pytest.mark.parametrize(
    ("power_w", "age"),
    [
        (REFUSE_ABOVE_W, timedelta(seconds=20)),  # exactly 80 %: limited, starts
        (CAPACITY_W * 2, timedelta(minutes=6)),  # stale: ignored
        (None, None),  # no meter has reported
    ],
)
def test_a_start_that_fits_or_has_no_live_reading_goes_ahead(
    world: DriverWorld,
    charging: FakeSender,
    machine: str,
    power_w: int | None,
    age: timedelta | None,
) -> None:
    clear_load(world)
    if power_w is not None and age is not None:
        record_load(world, power_w, age=age)
    token = sign_in(f"load-ok-{power_w}")

    answer = dcall(
        "POST", "/driver/charges", token, body=start_body(world, f"req-load-ok-{power_w}")
    )

    assert answer.status == 201, answer.body
    clear_load(world)


@pytest.mark.parametrize(
    ("power_w", "band", "limit_w", "can_start", "reason"),
    [
        (REFUSE_ABOVE_W + 1, "refused", None, False, "site_at_load_limit"),
        (REFUSE_ABOVE_W, "limited", RATED_W // 2, True, None),
        (CAPACITY_W // 2, "normal", None, True, None),
        (None, "normal", None, True, None),
    ],
)
def test_the_scan_tells_the_load_band_before_paying_and_changes_nothing(
    world: DriverWorld,
    power_w: int | None,
    band: str,
    limit_w: int | None,
    can_start: bool,
    reason: str | None,
) -> None:
    clear_load(world)
    if power_w is not None:
        record_load(world, power_w)
    token = sign_in(f"load-scan-{power_w}")
    before = snapshot()

    code = f"https://h.example/q/{world.a.pile_id}/1"
    answer = dcall("POST", "/driver/scan", token, body={"code": code})

    assert answer.status == 200, answer.body
    body = answer.body
    assert (body["load_band"], body["power_limit_w"]) == (band, limit_w)
    assert (body["can_start"], body["refusal_reason"]) == (can_start, reason)
    assert snapshot() == before
    clear_load(world)
