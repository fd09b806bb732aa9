"""Load bands at switch-on on the local stack (SPEC "Load management"): a driver pays with the
sandbox provider, the REAL state machine's RemoteStart task (the stack's payments function)
weighs the station's live transformer load, and a real ``ocpp`` ChargePoint (1.6 and 2.0.1,
which validates every CALL against the official schemas) receives the outcome.

The station's meter reading is the ``SITELOAD#`` item the Modbus bridge keeps, written here
through the same adapter (the bridge's own path from a gateway's envelope to that item is
covered by the Modbus e2e tests). Station: 630 kVA; piles: 22 kW.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from shared.adapters.dynamodb.gateways import DynamoSiteLoads
from shared.domain.modbus_readings import SiteLoad
from shared.domain.payment_orders import OrderState, money_problems
from tests.e2e.conformance_support import V16, V201, OperatorApi, unique
from tests.e2e.conftest import RunningStack
from tests.e2e.payment_support import Charger, PaidSite, Payments

pytestmark = pytest.mark.e2e

PREPAID_FEN = 400
METER_START_WH = 12_000
HALF_OF_22_KW = 11_000


@pytest.fixture(scope="module")
def payments(local_stack: RunningStack) -> Iterator[Payments]:
    payments = Payments(local_stack)
    yield payments
    assert payments.check_whole_ledger() > 0


@pytest.fixture
def site(local_stack: RunningStack) -> PaidSite:
    return PaidSite.create(OperatorApi(local_stack), "Load bands")


def site_draws(payments: Payments, site: PaidSite, power_w: int) -> None:
    now = datetime.now(UTC)
    loads = DynamoSiteLoads(payments.tables["SESSIONS_TABLE"], payments.dynamodb)
    assert loads.record(
        SiteLoad(
            station_id=site.station_id,
            at=now,
            received_at=now,
            gateway_id=unique("GW"),
            power_w=power_w,
        )
    )


@pytest.mark.parametrize("protocol", [V16, V201])
def test_a_pile_switched_on_at_a_busy_site_receives_a_half_power_tx_profile(
    local_stack: RunningStack, payments: Payments, site: PaidSite, protocol: str
) -> None:
    site_draws(payments, site, 400_000)  # 63 % of 630 kVA: LIMITED
    with Charger(local_stack, site.new_pile(protocol), protocol) as charger:
        order = payments.start_paid_by_sandbox(
            site, charger.pile.pile_id, prepaid_fen=PREPAID_FEN, target_fen=300
        )
        request = charger.expect_remote_start()
        profile = request["charging_profile"]
        assert charger.start(request, METER_START_WH) == "Accepted"
        charger.meter(METER_START_WH + 3_000)  # 3.00 yuan: the target
        charger.expect_remote_stop()
        charger.stop(METER_START_WH + 3_000)
        execution = payments.finished(order.order_no)

    assert profile["charging_profile_purpose"] == "TxProfile"
    assert profile["charging_profile_kind"] == "Relative"
    schedule = profile["charging_schedule"]
    if protocol == V201:
        (schedule,) = schedule  # 2.0.1: a list of schedules
    assert schedule["charging_rate_unit"] == "W"
    assert [(p["start_period"], p["limit"]) for p in schedule["charging_schedule_period"]] == [
        (0, HALF_OF_22_KW)
    ]
    assert execution["status"] == "SUCCEEDED"
    done = payments.order(order.order_no)
    assert (done.state, done.consumed_fen, done.refunded_fen) == (OrderState.COMPLETED, 300, 100)


def test_a_start_at_an_overloaded_site_never_reaches_the_pile_and_is_refunded_in_full(
    local_stack: RunningStack, payments: Payments, site: PaidSite
) -> None:
    site_draws(payments, site, 600_000)  # 95 % of 630 kVA: REFUSED
    with Charger(local_stack, site.new_pile(V16), V16) as charger:
        order = payments.start_paid_by_sandbox(
            site, charger.pile.pile_id, prepaid_fen=PREPAID_FEN, target_fen=300
        )
        execution = payments.finished(order.order_no)
        charger.assert_not_stopped()  # no call of any kind reached the pile

    assert execution["status"] == "FAILED"
    assert payments.states_entered(order.order_no) == [
        "CreatePrepayOrder",
        "WaitForPaid",
        "RemoteStart",
        "WaitForSessionEnd",
        "FullRefundOrCancel",
        "Failed",
    ]
    assert "PileNeverStarted" in payments.errors(order.order_no)
    done = payments.order(order.order_no)
    assert (done.state, done.consumed_fen, done.refunded_fen) == (OrderState.FAILED, 0, 400)
    assert money_problems(done) == []
    records = payments.sandbox_records(order.order_no)
    assert sorted((r["kind"], r["amount_fen"]) for r in records) == [
        ("payment", 400),
        ("refund", 400),
    ]
