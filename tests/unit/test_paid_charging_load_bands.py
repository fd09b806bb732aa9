"""Load bands at switch-on (SPEC "Load management") on fakes: ``begin_paid_charge`` weighs
the station's live transformer load against its capacity before the remote start of an
OCPP pile. NORMAL sends the plain start, LIMITED a start carrying a TxProfile capped at
half the rated power (schema-valid for both versions, by the ``ocpp`` package's own
validator too), REFUSED sends nothing and the workflow's wait fails PileNeverStarted."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ocpp.messages import Call, validate_payload

from shared.domain.errors import Conflict
from shared.domain.modbus_readings import SiteLoad
from shared.domain.ocpp.actions import Direction
from shared.domain.ocpp.remote_calls import numeric_id
from shared.domain.ocpp.versions import OcppVersion
from shared.domain.paid_charging import NEVER_STARTED, PaidChargeState
from shared.domain.site_load import SITE_AT_LOAD_LIMIT, STALE_AFTER, LoadBand, start_allowance
from shared.services import paid_charging
from tests.unit.test_paid_charging_fakes import SCHEMAS, T0, PaidPile

V16, V201 = OcppVersion.V16, OcppVersion.V201
CAPACITY_KVA = 100  # 100 kW at power factor 1
RATED_W = 60_000


def a_site(
    version: OcppVersion = V16, *, load_w: int | None, age: timedelta = timedelta()
) -> PaidPile:
    """Pile CP-1 (60 kW) at station st-1 (100 kVA) whose meter read ``load_w`` ``age`` ago."""
    pile = PaidPile(version)
    pile.paid.capacities_kva["st-1"] = CAPACITY_KVA
    pile.paid.rated_powers_w["CP-1"] = RATED_W
    if load_w is not None:
        at = T0 - age
        pile.paid.loads["st-1"] = SiteLoad(
            station_id="st-1", at=at, received_at=at, gateway_id="GW-1", power_w=load_w
        )
    return pile


def start_payload(pile: PaidPile) -> dict[str, Any]:
    frames = pile.sent()
    assert len(frames) == 1
    payload: dict[str, Any] = frames[0][3]
    return payload


def assert_schema_valid(version: OcppVersion, action: str, payload: dict[str, Any]) -> None:
    SCHEMAS.validate(version, action, Direction.REQUEST, payload)
    asyncio.run(validate_payload(Call("m1", action, payload), "1.6" if version is V16 else "2.0.1"))


# --- NORMAL --------------------------------------------------------------------------------


def test_the_start_carries_no_profile_and_reads_no_limits_when_the_site_has_no_meter() -> None:
    pile = a_site(load_w=None)

    pile.begin()

    assert start_payload(pile) == {"connectorId": 1, "idTag": "PAY-PO-1"}
    charge = pile.paid.charges["PO-1"]
    assert charge.power_limit_w is None and charge.load_band is None
    assert pile.paid.limit_reads == 0


def test_a_stale_reading_never_limits_nor_blocks_the_start() -> None:
    pile = a_site(load_w=95_000, age=STALE_AFTER + timedelta(seconds=1))

    pile.begin()

    assert "chargingProfile" not in start_payload(pile)
    assert pile.paid.charges["PO-1"].is_starting
    assert pile.paid.limit_reads == 0


@pytest.mark.parametrize("version", [V16, V201])
def test_the_start_carries_no_profile_when_the_site_is_at_most_half_loaded(
    version: OcppVersion,
) -> None:
    pile = a_site(version, load_w=40_000)  # 40 % of 100 kW, + 60 kW fits exactly

    pile.begin()

    assert "chargingProfile" not in start_payload(pile)
    charge = pile.paid.charges["PO-1"]
    assert charge.load_band == "normal" and charge.power_limit_w is None


# --- LIMITED -------------------------------------------------------------------------------


def test_a_16_start_above_half_load_carries_a_tx_profile_at_half_the_rated_power() -> None:
    pile = a_site(V16, load_w=55_000)

    call_id = pile.begin()

    payload = start_payload(pile)
    assert payload == {
        "connectorId": 1,
        "idTag": "PAY-PO-1",
        "chargingProfile": {
            "chargingProfileId": numeric_id(call_id),
            "stackLevel": 0,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 30_000}],
            },
        },
    }
    assert_schema_valid(V16, "RemoteStartTransaction", payload)
    charge = pile.paid.charges["PO-1"]
    assert charge.load_band == "limited" and charge.power_limit_w == 30_000
    assert charge.is_starting


def test_a_201_start_above_half_load_carries_a_tx_profile_with_a_w_schedule() -> None:
    pile = a_site(V201, load_w=65_000)

    call_id = pile.begin()

    payload = start_payload(pile)
    profile_id = numeric_id(call_id)
    assert payload["remoteStartId"] == pile.paid.charges["PO-1"].remote_start_id
    assert payload["chargingProfile"] == {
        "id": profile_id,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": [
            {
                "id": profile_id,
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 30_000}],
            }
        ],
    }
    assert "transactionId" not in payload["chargingProfile"]  # F01.FR.09
    assert_schema_valid(V201, "RequestStartTransaction", payload)


def test_a_retried_limited_start_resends_the_same_cap_without_reading_the_load_again() -> None:
    pile = a_site(V16, load_w=55_000)
    call_id = pile.begin()
    first = start_payload(pile)
    pile.calls.calls.clear()  # the first attempt stopped between its marker and its call
    pile.sender.sent.clear()
    pile.paid.loads.clear()  # the site calmed down meanwhile: the decision stands

    assert pile.begin() == call_id
    assert start_payload(pile) == first


def test_the_limited_session_still_links_and_charges() -> None:
    pile = a_site(V16, load_w=55_000)
    call_id = pile.begin()
    pile.answer(call_id, {"status": "Accepted"})

    answer = pile.start_16("PAY-PO-1")

    assert answer["idTagInfo"] == {"status": "Accepted"}
    assert pile.paid.charges["PO-1"].state is PaidChargeState.CHARGING


# --- REFUSED -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [V16, V201])
@pytest.mark.parametrize("load_w", [80_001, 99_000])
def test_a_start_above_80_percent_sends_nothing_and_fails_the_wait_with_pile_never_started(
    version: OcppVersion, load_w: int
) -> None:
    pile = a_site(version, load_w=load_w)

    call_id = pile.begin()
    paid_charging.await_session_end(pile.ports, "PO-1", "token-1", pile.now)

    assert pile.sender.sent == [] and pile.calls.calls == {}
    assert pile.paid.starts == {}  # no start key: nothing on the pile can name the order
    charge = pile.paid.charges["PO-1"]
    assert charge.state is PaidChargeState.NEVER_STARTED and charge.call_id == call_id
    assert charge.load_band == "refused" and charge.failed_at == T0
    assert charge.failure is not None and charge.failure.startswith(SITE_AT_LOAD_LIMIT)
    assert f"{load_w} W" in charge.failure and "100000 W" in charge.failure
    assert pile.resumer.failed == [("token-1", NEVER_STARTED, charge.failure)]


def test_a_start_whose_half_power_would_still_overload_the_site_is_refused() -> None:
    pile = a_site(load_w=75_000)  # 75 %: LIMITED band, but 75 kW + 30 kW > 100 kW

    pile.begin()

    assert pile.sender.sent == []
    assert pile.paid.charges["PO-1"].state is PaidChargeState.NEVER_STARTED


def test_a_refused_start_retried_sends_nothing_and_answers_the_same_call_id() -> None:
    pile = a_site(load_w=90_000)
    call_id = pile.begin()
    pile.paid.loads.clear()  # the load fell meanwhile: the order stays refused

    assert pile.begin() == call_id
    assert pile.sender.sent == []
    assert pile.paid.charges["PO-1"].state is PaidChargeState.NEVER_STARTED


def test_a_refused_start_gives_the_settle_step_an_empty_outcome() -> None:
    pile = a_site(load_w=90_000)
    pile.begin()

    outcome = paid_charging.charge_outcome(pile.ports, "PO-1")

    assert not outcome.started and outcome.energy_wh == 0 and outcome.readings == ()


def test_the_sweep_never_looks_at_a_refused_start() -> None:
    pile = a_site(load_w=90_000)
    pile.begin()

    sweep = paid_charging.sweep_unstarted(pile.ports, T0 + timedelta(hours=1))

    assert sweep.checked == 0


def test_a_busy_gun_is_refused_before_the_load_is_read() -> None:
    pile = a_site(load_w=90_000)
    pile.paid.guns[("CP-1", 1)] = "Charging"

    with pytest.raises(Conflict):
        pile.begin()
    assert pile.paid.charges == {} and pile.paid.limit_reads == 0


# --- property: what reaches the pile is what start_allowance decided ---------------------


@settings(max_examples=150, deadline=None)
@given(
    load_w=st.integers(min_value=-20_000, max_value=250_000),
    capacity_kva=st.integers(min_value=1, max_value=200),
    rated_w=st.integers(min_value=1, max_value=350_000),
    version=st.sampled_from([V16, V201]),
)
def test_what_reaches_the_pile_is_the_allowance_and_never_overloads_the_site(
    load_w: int, capacity_kva: int, rated_w: int, version: OcppVersion
) -> None:
    pile = a_site(version, load_w=load_w)
    pile.paid.capacities_kva["st-1"] = capacity_kva
    pile.paid.rated_powers_w["CP-1"] = rated_w
    allowance = start_allowance(
        capacity_kva=capacity_kva, load=pile.paid.loads["st-1"], rated_power_w=rated_w, now=T0
    )

    pile.begin()

    charge = pile.paid.charges["PO-1"]
    assert charge.load_band == allowance.band.value
    if allowance.is_refused:
        assert pile.sender.sent == [] and charge.state is PaidChargeState.NEVER_STARTED
        return
    payload = start_payload(pile)
    sent_w = rated_w
    if allowance.band is LoadBand.LIMITED:
        profile = payload["chargingProfile"]
        schedule = profile["chargingSchedule"]
        periods = (schedule if version is V16 else schedule[0])["chargingSchedulePeriod"]
        sent_w = periods[0]["limit"]
        assert sent_w == allowance.power_limit_w == max(rated_w // 2, 1)
    else:
        assert "chargingProfile" not in payload
    assert max(load_w, 0) + sent_w <= capacity_kva * 1000
