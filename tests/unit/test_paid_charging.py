"""Paid charging on fakes: begin (remote start once per order, refusals), linking by idTag
and remoteStartId, the live stop sent once, the workflow resumed on the end (also when the
end comes before the token), never-started paths, and the settle step's outcome."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.errors import Conflict, InvalidInput, NotFound
from shared.domain.ocpp.authorization import CardRecord
from shared.domain.ocpp.remote_calls import CallStatus
from shared.domain.ocpp.versions import OcppVersion
from shared.domain.paid_charging import PaidChargeState, PaidLink
from shared.domain.pricing import (
    ChargeMode,
    ChargeTarget,
    LiveCharge,
    MeterReading,
    price_energy,
    stop_decision,
)
from shared.domain.sessions import MeterSample, Session
from shared.domain.tariffs import PeriodKind, Tariff, TariffPeriod
from shared.services import housekeeping, paid_charging
from shared.services.ocpp import authorization, remote_calls
from shared.services.ocpp.ports import PileRoute
from tests.unit.test_paid_charging_fakes import T0, PaidPile, a_request

V16, V201 = OcppVersion.V16, OcppVersion.V201


@pytest.fixture
def pile() -> PaidPile:
    return PaidPile()


def charging_16(pile: PaidPile, **overrides: object) -> int:
    """Begin an order, the pile accepts and starts it; its transaction id."""
    call_id = pile.begin(**overrides)
    pile.answer(call_id, {"status": "Accepted"})
    pile.later(seconds=5)
    answer = pile.start_16(str(overrides.get("id_tag", "PAY-PO-1")))
    assert answer["idTagInfo"] == {"status": "Accepted"}
    return int(answer["transactionId"])


# --- begin ---------------------------------------------------------------------------------


def test_begin_sends_one_remote_start_with_the_orders_id_tag_when_the_gun_is_free(
    pile: PaidPile,
) -> None:
    call_id = pile.begin()

    assert pile.sent() == [
        [2, call_id, "RemoteStartTransaction", {"connectorId": 1, "idTag": "PAY-PO-1"}]
    ]
    charge = pile.paid.charges["PO-1"]
    assert charge.state is PaidChargeState.STARTING
    assert charge.call_id == call_id and charge.protocol is V16
    assert pile.paid.starts == {("CP-1", "T#PAY-PO-1"): "PO-1"}
    assert pile.calls.get("CP-1", call_id) is not None


def test_begin_sends_request_start_with_a_remote_start_id_when_the_pile_speaks_201() -> None:
    pile = PaidPile(V201)

    call_id = pile.begin()

    charge = pile.paid.charges["PO-1"]
    assert pile.sent() == [
        [
            2,
            call_id,
            "RequestStartTransaction",
            {
                "evseId": 1,
                "remoteStartId": charge.remote_start_id,
                "idToken": {"idToken": "PAY-PO-1", "type": "Central"},
            },
        ]
    ]
    assert set(pile.paid.starts) == {
        ("CP-1", "T#PAY-PO-1"),
        ("CP-1", f"R#{charge.remote_start_id}"),
    }


def test_begin_sends_nothing_new_when_the_workflow_retries_it(pile: PaidPile) -> None:
    first = pile.begin()
    pile.paid.guns[("CP-1", 1)] = "Charging"  # the pile moved on meanwhile

    second = pile.begin()

    assert second == first
    assert len(pile.sender.sent) == 1


def test_begin_sends_the_remote_start_when_a_retry_finds_it_was_never_stored(
    pile: PaidPile,
) -> None:
    call_id = pile.begin()
    pile.calls.calls.clear()  # the first attempt stopped between its marker and its call
    pile.sender.sent.clear()

    assert pile.begin() == call_id
    assert [frame[1] for frame in pile.sent()] == [call_id]


def test_begin_is_a_conflict_when_the_order_was_begun_with_other_terms(pile: PaidPile) -> None:
    pile.begin()

    with pytest.raises(Conflict):
        pile.begin(prepaid_cap_fen=500)
    assert len(pile.sender.sent) == 1


@pytest.mark.parametrize("status", ["Charging", "Faulted", "Unavailable", "Finishing"])
def test_begin_refuses_and_stores_nothing_when_the_gun_is_not_free(
    pile: PaidPile, status: str
) -> None:
    pile.paid.guns[("CP-1", 1)] = status

    with pytest.raises(Conflict):
        pile.begin()
    assert pile.paid.charges == {} and pile.sender.sent == [] and pile.calls.calls == {}


def test_begin_refuses_and_stores_nothing_when_the_pile_is_offline(pile: PaidPile) -> None:
    pile.piles.routes["CP-1"] = PileRoute("CP-1", "op-1", "ocpp1.6", None, False)

    with pytest.raises(Conflict):
        pile.begin()
    assert pile.paid.charges == {} and pile.sender.sent == []


@pytest.mark.parametrize(
    "overrides",
    [{"gun_no": 3}, {"operator_id": "op-2"}, {"pile_id": "CP-9"}],
)
def test_begin_is_not_found_when_the_pile_or_gun_is_not_the_orders(
    pile: PaidPile, overrides: dict[str, object]
) -> None:
    with pytest.raises(NotFound):
        pile.begin(**overrides)
    assert pile.paid.charges == {} and pile.sender.sent == []


@pytest.mark.parametrize(
    "overrides",
    [
        {"id_tag": "X" * 21},
        {"id_tag": "has space"},
        {"id_tag": "a#b"},
        {"prepaid_cap_fen": 0},
        {"prepaid_cap_fen": True},
        {"gun_no": 0},
        {"order_no": ""},
        {"tariff_version": 0},
    ],
)
def test_begin_refuses_bad_input_and_changes_nothing(
    pile: PaidPile, overrides: dict[str, object]
) -> None:
    with pytest.raises(InvalidInput):
        pile.begin(**overrides)
    assert pile.paid.charges == {} and pile.paid.writes == 0 and pile.sender.sent == []


def test_begin_accepts_an_occupied_201_gun_without_a_running_session() -> None:
    pile = PaidPile(V201)
    pile.paid.guns[("CP-1", 1)] = "Occupied"

    assert pile.begin()


# --- linking -------------------------------------------------------------------------------


def test_a_start_with_the_orders_id_tag_links_the_session_and_is_accepted(
    pile: PaidPile,
) -> None:
    tx = charging_16(pile)

    charge = pile.paid.charges["PO-1"]
    assert charge.state is PaidChargeState.CHARGING
    assert charge.session_id is not None
    link = pile.paid.links[charge.session_id]
    assert (link.order_no, link.prepaid_cap_fen) == ("PO-1", 400)
    assert pile.sessions.sessions[charge.session_id].ocpp_transaction_id == str(tx)


def test_a_retried_start_stays_linked_and_accepted(pile: PaidPile) -> None:
    charging_16(pile)
    writes = pile.paid.writes

    answer = pile.start_16("PAY-PO-1")

    assert answer["idTagInfo"] == {"status": "Accepted"}
    # The refused transition and the conditional link put (which completes a link a crash
    # interrupted); the link itself is kept as it was.
    assert pile.paid.writes == writes + 2
    assert len(pile.paid.links) == 1


def test_a_card_start_is_not_linked_and_costs_no_paid_write(pile: PaidPile) -> None:
    pile.piles.cards["CARD-1"] = CardRecord("CARD-1", "op-1", "active")

    answer = pile.start_16("CARD-1")

    assert answer["idTagInfo"] == {"status": "Accepted"}
    assert pile.paid.links == {} and pile.paid.writes == 0


def test_authorize_accepts_the_token_of_an_order_starting_on_the_pile(pile: PaidPile) -> None:
    pile.begin()
    ctx = pile.context("Authorize")

    paid = authorization.authorize(ctx, {"idTag": "PAY-PO-1"}, pile.ocpp)
    other = authorization.authorize(ctx, {"idTag": "PAY-PO-2"}, pile.ocpp)

    assert paid == {"idTagInfo": {"status": "Accepted"}}
    assert other == {"idTagInfo": {"status": "Invalid"}}


# --- the live stop -------------------------------------------------------------------------


def test_the_cap_stops_the_session_once_when_the_live_cost_reaches_it(pile: PaidPile) -> None:
    tx = charging_16(pile)  # cap 4.00 at 1.50/kWh: 2667 Wh
    session_id = pile.paid.charges["PO-1"].session_id
    assert session_id is not None
    for wh in (11_000, 12_000):
        pile.later(minutes=1)
        pile.meter_16(tx, wh)
    assert [frame[2] for frame in pile.sent()] == ["RemoteStartTransaction"]

    for wh in (12_700, 12_800, 12_900):
        pile.later(minutes=1)
        pile.meter_16(tx, wh)

    stops = [frame for frame in pile.sent() if frame[2] == "RemoteStopTransaction"]
    assert stops == [[2, stops[0][1], "RemoteStopTransaction", {"transactionId": tx}]]
    link = pile.paid.links[session_id]
    assert link.stop_reason == "cap_reached" and link.stop_call_id == stops[0][1]


def test_an_energy_target_stops_the_session_with_target_reached(pile: PaidPile) -> None:
    tx = charging_16(pile, target=ChargeTarget(ChargeMode.ENERGY, 1_000))

    pile.later(minutes=1)
    pile.meter_16(tx, 10_500)
    pile.later(minutes=1)
    pile.meter_16(tx, 11_000)

    assert [frame[2] for frame in pile.sent()][-1] == "RemoteStopTransaction"
    session_id = pile.paid.charges["PO-1"].session_id
    assert session_id is not None
    assert pile.paid.links[session_id].stop_reason == "target_reached"


def test_meter_values_of_an_unpaid_session_price_nothing_and_write_once(pile: PaidPile) -> None:
    pile.piles.cards["CARD-1"] = CardRecord("CARD-1", "op-1", "active")
    tx = int(pile.start_16("CARD-1")["transactionId"])
    writes = pile.sessions.writes

    pile.later(minutes=1)
    pile.meter_16(tx, 99_000)

    assert pile.sessions.writes == writes + 1 and pile.paid.writes == 0
    assert pile.sender.sent == []


# --- the end -------------------------------------------------------------------------------


def test_the_stop_resumes_the_waiting_workflow_with_the_sessions_energy(pile: PaidPile) -> None:
    tx = charging_16(pile)
    paid_charging.await_session_end(pile.ports, "PO-1", "token-1", pile.now)
    pile.later(minutes=10)
    pile.meter_16(tx, 11_000)

    pile.later(minutes=1)
    pile.stop_16(tx, 12_000, reason="EVDisconnected")

    session_id = pile.paid.charges["PO-1"].session_id
    assert pile.resumer.succeeded == [
        (
            "token-1",
            {
                "order_no": "PO-1",
                "session_id": session_id,
                "energy_wh": 2_000,
                "stop_reason": "EVDisconnected",
            },
        )
    ]
    assert pile.paid.charges["PO-1"].state is PaidChargeState.ENDED


def test_a_retried_stop_resumes_nothing_twice(pile: PaidPile) -> None:
    tx = charging_16(pile)
    paid_charging.await_session_end(pile.ports, "PO-1", "token-1", pile.now)
    pile.stop_16(tx, 12_000)

    pile.stop_16(tx, 12_000)

    assert len(pile.resumer.succeeded) == 1


def test_a_token_stored_after_the_end_is_resumed_at_once(pile: PaidPile) -> None:
    tx = charging_16(pile)
    pile.later(minutes=5)
    pile.stop_16(tx, 11_500)
    assert pile.resumer.succeeded == []

    paid_charging.await_session_end(pile.ports, "PO-1", "token-late", pile.now)

    assert [(token, out["energy_wh"]) for token, out in pile.resumer.succeeded] == [
        ("token-late", 1_500)
    ]


def test_the_platforms_stop_reason_is_what_the_workflow_learns(pile: PaidPile) -> None:
    tx = charging_16(pile)
    paid_charging.await_session_end(pile.ports, "PO-1", "token-1", pile.now)
    pile.later(minutes=1)
    pile.meter_16(tx, 13_000)  # past the cap

    pile.stop_16(tx, 13_050, reason="Remote")

    assert pile.resumer.succeeded[0][1]["stop_reason"] == "cap_reached"


def test_a_stale_close_of_a_paid_session_resumes_the_workflow(pile: PaidPile) -> None:
    tx = charging_16(pile)
    pile.meter_16(tx, 10_800)
    paid_charging.await_session_end(pile.ports, "PO-1", "token-1", pile.now)
    pile.later(hours=7)

    result = housekeeping.run_job(
        "minute",
        housekeeping.HousekeepingPorts(
            piles=pile.piles,  # type: ignore[arg-type]
            pending_calls=pile.calls,
            sender=pile.sender,
            sessions=pile.sessions,
            clock=pile.clock,
            paid=pile.ports,
        ),
    )

    assert result["sessions_closed"] == 1 and result["failed"] == []
    assert pile.resumer.succeeded[0][1]["stop_reason"] == "closed_stale"


# --- never started -------------------------------------------------------------------------


def test_a_rejected_remote_start_fails_the_waiting_workflow_at_once(pile: PaidPile) -> None:
    call_id = pile.begin()
    paid_charging.await_session_end(pile.ports, "PO-1", "token-1", pile.now)

    pile.answer(call_id, {"status": "Rejected"})

    assert pile.resumer.failed == [
        ("token-1", "PileNeverStarted", "the pile answered the remote start Rejected")
    ]
    assert pile.paid.charges["PO-1"].state is PaidChargeState.NEVER_STARTED


def test_a_callerror_to_the_remote_start_fails_the_order(pile: PaidPile) -> None:
    call_id = pile.begin()

    pile.call_error(call_id)

    assert pile.paid.charges["PO-1"].state is PaidChargeState.NEVER_STARTED


def test_a_token_stored_after_the_failure_is_failed_at_once(pile: PaidPile) -> None:
    pile.answer(pile.begin(), {"status": "Rejected"})

    paid_charging.await_session_end(pile.ports, "PO-1", "token-late", pile.now)

    assert [(token, error) for token, error, _ in pile.resumer.failed] == [
        ("token-late", "PileNeverStarted")
    ]


def test_no_session_within_3_minutes_of_an_accepted_start_fails_at_the_sweep(
    pile: PaidPile,
) -> None:
    call_id = pile.begin()
    paid_charging.await_session_end(pile.ports, "PO-1", "token-1", pile.now)
    pile.later(seconds=10)
    pile.answer(call_id, {"status": "Accepted"})

    pile.later(minutes=1, seconds=30)
    early = paid_charging.sweep_unstarted(pile.ports, pile.now)
    pile.later(minutes=2)
    late = paid_charging.sweep_unstarted(pile.ports, pile.now)

    assert (early.failed, early.postponed) == ((), 1)
    assert late.failed == ("PO-1",)
    assert pile.resumer.failed[0][:2] == ("token-1", "PileNeverStarted")


def test_an_unanswered_remote_start_fails_once_its_call_timed_out(pile: PaidPile) -> None:
    pile.begin()
    pile.later(seconds=70)
    remote_calls.time_out_due_calls(pending_calls=pile.calls, clock=pile.clock)

    sweep = paid_charging.sweep_unstarted(pile.ports, pile.now)

    assert sweep.failed == ("PO-1",)
    assert pile.paid.charges["PO-1"].failure == "the pile did not answer the remote start in time"


def test_the_sweep_waits_while_the_remote_start_is_still_pending(pile: PaidPile) -> None:
    call_id = pile.begin()
    pile.later(seconds=65)

    sweep = paid_charging.sweep_unstarted(pile.ports, pile.now)

    assert (sweep.failed, sweep.postponed) == ((), 1)
    call = pile.calls.get("CP-1", call_id)
    assert call is not None and call.status is CallStatus.PENDING
    assert pile.paid.charges["PO-1"].check_at > call.timeout_at


def test_a_start_after_the_order_gave_up_is_not_linked_nor_accepted(pile: PaidPile) -> None:
    pile.answer(pile.begin(), {"status": "Rejected"})

    answer = pile.start_16("PAY-PO-1")

    assert answer["idTagInfo"] == {"status": "Invalid"}
    assert pile.paid.links == {}


def test_a_linked_session_is_never_failed_by_the_sweep(pile: PaidPile) -> None:
    charging_16(pile)
    pile.later(minutes=30)

    sweep = paid_charging.sweep_unstarted(pile.ports, pile.now)

    assert sweep.checked == 0 and pile.resumer.failed == []


# --- OCPP 2.0.1 ----------------------------------------------------------------------------


def test_a_201_session_is_linked_by_remote_start_id_stopped_at_the_cap_and_resumed() -> None:
    pile = PaidPile(V201)
    call_id = pile.begin()
    pile.answer(call_id, {"status": "Accepted"})
    remote_start_id = pile.paid.charges["PO-1"].remote_start_id
    paid_charging.await_session_end(pile.ports, "PO-1", "token-1", pile.now)

    started = pile.event_201(
        "Started", 0, 10_000, remote_start_id=remote_start_id, token="PAY-PO-1"
    )
    for seq, wh in ((1, 11_000), (2, 12_000), (3, 12_700)):
        pile.later(minutes=1)
        pile.event_201("Updated", seq, wh)
    pile.later(minutes=1)
    pile.event_201("Ended", 4, 12_750)

    assert started == {"idTokenInfo": {"status": "Accepted"}}
    assert [frame[2] for frame in pile.sent()] == [
        "RequestStartTransaction",
        "RequestStopTransaction",
    ]
    assert pile.sent()[1][3] == {"transactionId": "tx-1"}
    assert pile.resumer.succeeded[0][1]["energy_wh"] == 2_750
    assert pile.resumer.succeeded[0][1]["stop_reason"] == "cap_reached"


# --- the settle step's outcome -------------------------------------------------------------


def test_the_outcome_gives_the_sessions_readings_times_and_tariff(pile: PaidPile) -> None:
    tx = charging_16(pile)
    started_at = pile.now
    pile.later(minutes=1)
    pile.meter_16(tx, 10_600)
    pile.later(minutes=1)
    pile.stop_16(tx, 11_000)

    outcome = paid_charging.charge_outcome(pile.ports, "PO-1")

    assert outcome.started and outcome.ended
    assert outcome.energy_wh == 1_000
    assert outcome.readings == (
        MeterReading(started_at, 10_000),
        MeterReading(started_at + timedelta(minutes=1), 10_600),
        MeterReading(started_at + timedelta(minutes=2), 11_000),
    )
    assert (outcome.started_at, outcome.stopped_at) == (started_at, pile.now)
    assert (outcome.tariff_id, outcome.tariff_version) == ("tf-1", 3)
    assert outcome.stop_reason == "Remote"


def test_the_outcome_of_an_order_that_never_started_is_empty(pile: PaidPile) -> None:
    pile.answer(pile.begin(), {"status": "Rejected"})

    outcome = paid_charging.charge_outcome(pile.ports, "PO-1")

    assert not outcome.started and outcome.ended
    assert (outcome.session_id, outcome.energy_wh, outcome.readings) == (None, 0, ())


def test_the_outcome_of_an_unknown_order_is_not_found(pile: PaidPile) -> None:
    with pytest.raises(NotFound):
        paid_charging.charge_outcome(pile.ports, "PO-404")
    with pytest.raises(NotFound):
        paid_charging.await_session_end(pile.ports, "PO-404", "t", T0)


def test_a_request_round_trips_through_its_json_free_fields() -> None:
    request = a_request()
    assert json.loads(json.dumps({"target": request.target.to_dict()})) == {
        "target": {"mode": "full", "value": None}
    }


# --- the cheap bound before the exact price ------------------------------------------------


def test_meter_values_far_from_the_cap_read_no_log(pile: PaidPile) -> None:
    tx = charging_16(pile)  # the cap (4.00) is about 2.6 kWh away

    for wh in (10_500, 11_000, 11_500):
        pile.later(minutes=1)
        pile.meter_16(tx, wh)
    far = pile.paid.log_reads
    pile.later(minutes=1)
    pile.meter_16(tx, 12_600)  # bound 3.92: still below 4.00
    pile.later(minutes=1)
    pile.meter_16(tx, 12_650)  # bound 3.99 + rounding: the exact price is needed

    assert far == 0 and pile.paid.log_reads == 1


PEAK_VALLEY = Tariff(
    tariff_id="tf-2",
    operator_id="op-1",
    name="peak/valley",
    periods=(
        TariffPeriod(PeriodKind.PEAK, "08:00", "23:00", 120, 80),
        TariffPeriod(PeriodKind.VALLEY, "23:00", "08:00", 30, 20),
    ),
    version=1,
    created_at=T0,
    updated_at=T0,
)


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(st.integers(0, 900), min_size=1, max_size=12),
    gap_s=st.integers(30, 900),
    start_hour=st.integers(0, 23),
    mode=st.sampled_from([ChargeMode.FULL, ChargeMode.AMOUNT, ChargeMode.ENERGY, ChargeMode.TIME]),
    value=st.integers(60, 3_000),
    cap=st.integers(1, 3_000),
)
def test_the_bound_never_skips_a_stop_the_exact_price_would_make(
    steps: list[int], gap_s: int, start_hour: int, mode: ChargeMode, value: int, cap: int
) -> None:
    started_at = T0.replace(hour=start_hour)
    session = Session(
        session_id="se-1",
        protocol=V16,
        operator_id="op-1",
        pile_id="CP-1",
        ocpp_transaction_id="1",
        anchor_at=started_at,
        created_at=started_at,
        last_message_at=started_at,
        started_at=started_at,
        meter_start_wh=5_000,
    )
    samples, wh = [], 5_000
    for index, step in enumerate(steps, start=1):
        wh += step
        samples.append(MeterSample(started_at + timedelta(seconds=gap_s * index), energy_wh=wh))
    target = ChargeTarget(mode, None if mode is ChargeMode.FULL else value)
    link = PaidLink("se-1", "PO-1", target, cap, "tf-2", 1)
    readings = [
        MeterReading(started_at, 5_000),
        *(MeterReading(s.sampled_at, s.energy_wh or 0) for s in samples),
    ]
    cost = price_energy(PEAK_VALLEY, readings)
    elapsed_s = int((samples[-1].sampled_at - started_at).total_seconds())
    live = LiveCharge(elapsed_s=elapsed_s, energy_wh=cost.energy_wh, cost_fen=cost.total_fen)

    if stop_decision(target, cap, live) is not None:
        assert paid_charging._may_stop(link, session, samples[-1:], PEAK_VALLEY)


def test_begin_refuses_an_occupied_201_gun_whose_session_is_authorized() -> None:
    pile = PaidPile(V201)
    pile.event_201("Started", 0, 1_000, token="CARD-1")
    pile.paid.guns[("CP-1", 1)] = "Occupied"

    with pytest.raises(Conflict):
        pile.begin()


def test_a_201_transaction_begun_at_plug_in_is_linked_when_it_names_the_remote_start() -> None:
    pile = PaidPile(V201)
    pile.event_201("Started", 0, 1_000)  # EVConnected: no token yet
    pile.paid.guns[("CP-1", 1)] = "Occupied"
    call_id = pile.begin()
    pile.answer(call_id, {"status": "Accepted", "transactionId": "tx-1"})
    remote_start_id = pile.paid.charges["PO-1"].remote_start_id

    pile.later(seconds=5)
    answer = pile.event_201("Updated", 1, 1_000, remote_start_id=remote_start_id, token="PAY-PO-1")

    assert answer == {"idTokenInfo": {"status": "Accepted"}}
    assert pile.paid.charges["PO-1"].state is PaidChargeState.CHARGING


def test_a_later_201_event_carrying_the_orders_token_is_accepted() -> None:
    pile = PaidPile(V201)
    pile.answer(pile.begin(), {"status": "Accepted"})
    remote_start_id = pile.paid.charges["PO-1"].remote_start_id
    pile.event_201("Started", 0, 1_000, remote_start_id=remote_start_id)

    pile.later(minutes=1)
    answer = pile.event_201("Updated", 1, 1_200, token="PAY-PO-1")

    assert answer == {"idTokenInfo": {"status": "Accepted"}}
    assert len(pile.paid.links) == 1
