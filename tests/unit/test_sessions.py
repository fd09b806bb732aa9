"""Session domain: energy from the register (order, repetition, resets), seqNo
completeness, status rules, and the matching of readings without a transaction id."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.ocpp.versions import OcppVersion
from shared.domain.sessions import (
    MeterSample,
    Session,
    SessionStatus,
    adoptable_orphan,
    gunless_owner,
    live_energy_wh,
    log_entry_key,
    missing_seq_nos,
    owner_of,
    reading_fit,
    register_energy_wh,
    session_energy_wh,
    session_id_for,
    settled_status,
    stop_match,
    stop_retry_of,
)

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def a_session(**overrides: Any) -> Session:
    values: dict[str, Any] = {
        "session_id": "se-1",
        "protocol": OcppVersion.V16,
        "operator_id": "op-1",
        "pile_id": "CP-1",
        "ocpp_transaction_id": "1",
        "anchor_at": at(0),
        "created_at": at(0),
        "last_message_at": at(0),
        "gun_no": 1,
        "started_at": at(0),
        "meter_start_wh": 1000,
    }
    values.update(overrides)
    return Session(**values)


# -- energy from the register


def test_energy_is_the_sum_of_rises_when_the_register_only_grows() -> None:
    assert register_energy_wh([(at(0), 1000), (at(1), 1500), (at(2), 2750)]) == 1750


def test_energy_counts_the_new_reading_from_zero_when_the_meter_resets() -> None:
    readings = [(at(0), 9000), (at(1), 9800), (at(2), 150), (at(3), 400)]

    assert register_energy_wh(readings) == 800 + 150 + 250


def test_energy_is_zero_when_there_is_one_reading_or_none() -> None:
    assert register_energy_wh([]) == 0
    assert register_energy_wh([(at(0), 1234)]) == 0


def test_energy_orders_by_the_pile_clock_when_readings_come_out_of_order() -> None:
    assert register_energy_wh([(at(2), 3000), (at(0), 1000), (at(1), 2000)]) == 2000


register_steps = st.lists(
    st.tuples(st.integers(min_value=0, max_value=5000), st.booleans()), min_size=1, max_size=40
)


def _metered(
    steps: list[tuple[int, bool]], start_wh: int
) -> tuple[list[tuple[datetime, int]], int, bool]:
    """A pile's readings, its true energy, and whether every reset shows as a drop (a reset
    that ends at or above the previous reading cannot be told from charging)."""
    readings = [(at(0), start_wh)]
    register, energy, is_visible = start_wh, 0, True
    for index, (added, is_reset) in enumerate(steps, start=1):
        if is_reset:
            is_visible = is_visible and added < register
            register = added
        else:
            register += added
        energy += added
        readings.append((at(index), register))
    return readings, energy, is_visible


@settings(max_examples=300)
@given(
    steps=register_steps,
    start_wh=st.integers(min_value=0, max_value=10**9),
    data=st.data(),
)
def test_energy_is_what_was_metered_when_readings_are_shuffled_and_repeated(
    steps: list[tuple[int, bool]], start_wh: int, data: st.DataObject
) -> None:
    readings, metered, is_visible = _metered(steps, start_wh)
    repeated = readings + data.draw(st.lists(st.sampled_from(readings), max_size=len(readings)))
    shuffled = data.draw(st.permutations(repeated))

    assert register_energy_wh(shuffled) == register_energy_wh(readings)
    if is_visible:
        assert register_energy_wh(shuffled) == metered


@given(values=st.lists(st.integers(min_value=0, max_value=10**9), min_size=2, max_size=30))
def test_energy_of_a_growing_register_is_last_minus_first(values: list[int]) -> None:
    ordered = sorted(values)
    readings = [(at(i), wh) for i, wh in enumerate(ordered)]

    assert register_energy_wh(readings) == ordered[-1] - ordered[0]


@given(
    values=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=20),
    extra=st.integers(min_value=0, max_value=10**6),
)
def test_energy_never_decreases_when_a_later_reading_is_added(
    values: list[int], extra: int
) -> None:
    readings = [(at(i), wh) for i, wh in enumerate(values)]

    assert register_energy_wh([*readings, (at(len(values)), extra)]) >= register_energy_wh(readings)


def test_session_energy_ignores_readings_outside_start_and_stop() -> None:
    session = a_session(stopped_at=at(10), meter_stop_wh=2000)
    samples = [
        MeterSample(at(-5), energy_wh=500),  # the previous session's
        MeterSample(at(5), energy_wh=1500),
        MeterSample(at(15), energy_wh=2600),  # the next session's
    ]

    assert session_energy_wh(session, samples) == 1000


def test_session_energy_counts_its_own_extra_samples() -> None:
    session = a_session(extra_samples=frozenset({MeterSample(at(5), energy_wh=1800)}))

    assert session_energy_wh(session, []) == 800


def test_live_energy_uses_the_start_and_the_newest_register() -> None:
    session = a_session()

    assert live_energy_wh(session, MeterSample(at(5), energy_wh=1900)) == 900
    assert live_energy_wh(session, MeterSample(at(5), power_w=7000)) == session.energy_wh
    assert live_energy_wh(session, None) == session.energy_wh


# -- ids and keys


def test_session_id_is_stable_and_distinct_per_pile_and_version() -> None:
    first = session_id_for("CP-1", OcppVersion.V16, "17")

    assert first == session_id_for("CP-1", OcppVersion.V16, "17")
    assert first.startswith("se-") and len(first) == 23
    assert first != session_id_for("CP-2", OcppVersion.V16, "17")
    assert first != session_id_for("CP-1", OcppVersion.V201, "17")


def test_log_entry_key_depends_on_content_not_order() -> None:
    a, b = MeterSample(at(1), energy_wh=1), MeterSample(at(2), energy_wh=2)

    assert log_entry_key("MeterValues", [a, b]) == log_entry_key("MeterValues", [b, a])
    assert log_entry_key("MeterValues", [a]) != log_entry_key("MeterValues", [b])


# -- status and 2.0.1 seqNo completeness


def test_status_is_active_until_the_stop_is_known() -> None:
    assert settled_status(a_session()) is SessionStatus.ACTIVE
    assert settled_status(a_session(closed_stale_at=at(400))) is SessionStatus.INCOMPLETE


def test_status_of_a_stopped_16_session_depends_on_a_known_start() -> None:
    stopped = a_session(stopped_at=at(10), meter_stop_wh=2000)

    assert settled_status(stopped) is SessionStatus.COMPLETED
    assert settled_status(replace(stopped, started_at=None)) is SessionStatus.INCOMPLETE


def test_seq_nos_are_missing_until_every_one_between_started_and_ended_arrived() -> None:
    session = a_session(
        protocol=OcppVersion.V201,
        started_seq_no=0,
        ended_seq_no=5,
        stopped_at=at(10),
        seq_nos=frozenset({1}),
    )

    assert missing_seq_nos(session, [2, 4]) == [3]
    assert settled_status(session, [2, 4]) is SessionStatus.INCOMPLETE
    assert missing_seq_nos(session, [2, 3, 4]) == []
    assert settled_status(session, [2, 3, 4]) is SessionStatus.COMPLETED


def test_seq_completeness_is_unknown_while_started_or_ended_is_missing() -> None:
    session = a_session(protocol=OcppVersion.V201, started_seq_no=None, ended_seq_no=3)

    assert missing_seq_nos(session, [0, 1, 2]) is None


@given(
    first=st.integers(min_value=0, max_value=1000),
    length=st.integers(min_value=1, max_value=60),
    data=st.data(),
)
def test_completeness_does_not_depend_on_arrival_order(
    first: int, length: int, data: st.DataObject
) -> None:
    seqs = list(range(first, first + length + 1))
    arrived = data.draw(st.lists(st.sampled_from(seqs), max_size=3 * len(seqs)))
    session = a_session(
        protocol=OcppVersion.V201,
        started_seq_no=first,
        ended_seq_no=first + length,
        stopped_at=at(10),
    )

    missing = missing_seq_nos(session, arrived)

    assert missing == [seq for seq in seqs[1:-1] if seq not in arrived]


# -- readings without a transaction id (1.6 id -1)


def test_a_reading_belongs_to_the_session_running_on_the_gun_at_its_time() -> None:
    first = a_session(session_id="se-a", stopped_at=at(30))
    second = a_session(session_id="se-b", started_at=at(40), anchor_at=at(40))

    assert owner_of(at(10), [first, second]) == first
    assert owner_of(at(50), [first, second]) == second
    assert owner_of(at(35), [first, second]) is None
    assert owner_of(at(-5), [first, second]) is None


def test_a_reading_before_an_orphan_belongs_to_it_when_the_previous_session_stopped() -> None:
    first = a_session(session_id="se-a", stopped_at=at(30))
    orphan = a_session(session_id="se-o", started_at=None, anchor_at=at(50), meter_start_wh=None)

    assert owner_of(at(40), [first, orphan]) == orphan
    assert owner_of(at(20), [first, orphan]) == first


def test_an_open_session_keeps_readings_until_a_later_one_starts() -> None:
    running = a_session(session_id="se-a")

    assert owner_of(at(500), [running]) == running


def test_a_gunless_session_takes_readings_before_its_stop() -> None:
    gunless = a_session(session_id="se-g", gun_no=None, started_at=None, stopped_at=at(60))

    assert gunless_owner(MeterSample(at(30)), [gunless]) == gunless
    assert gunless_owner(MeterSample(at(90)), [gunless]) is None
    assert gunless_owner(MeterSample(at(30)), [a_session()]) is None


def test_a_reading_goes_to_the_gunless_session_its_register_fits() -> None:
    def rebuilt(session_id: str, readings: list[tuple[float, int]]) -> Session:
        return a_session(
            session_id=session_id,
            gun_no=None,
            started_at=None,
            meter_start_wh=None,
            anchor_at=at(readings[0][0]),
            stopped_at=at(readings[-1][0]),
            meter_stop_wh=readings[-1][1],
            extra_samples=frozenset(MeterSample(at(m), energy_wh=wh) for m, wh in readings),
        )

    first = rebuilt("se-a", [(0, 5000), (20, 5600), (60, 6000)])
    second = rebuilt("se-b", [(5, 80_000), (25, 80_400), (50, 81_000)])

    assert gunless_owner(MeterSample(at(25), energy_wh=80_400), [first, second]) == second
    assert gunless_owner(MeterSample(at(30), energy_wh=5800), [first, second]) == first
    assert gunless_owner(MeterSample(at(30), energy_wh=80_700), [first, second]) == second


def test_a_reading_fits_across_a_meter_reset() -> None:
    session = a_session(
        extra_samples=frozenset(
            {MeterSample(at(10), energy_wh=9000), MeterSample(at(20), energy_wh=100)}
        )
    )

    assert reading_fit(session, MeterSample(at(10), energy_wh=9000)) == 2
    assert reading_fit(session, MeterSample(at(15), energy_wh=9500)) == 1
    assert reading_fit(session, MeterSample(at(15), energy_wh=50)) == 1
    assert reading_fit(session, MeterSample(at(15), energy_wh=5000)) == 0
    assert reading_fit(session, MeterSample(at(15))) == 0


def test_a_late_start_adopts_the_orphan_that_follows_it_on_its_gun() -> None:
    orphan = a_session(session_id="se-o", started_at=None, anchor_at=at(10), meter_start_wh=None)
    later = a_session(session_id="se-l", started_at=at(100), anchor_at=at(100))

    assert adoptable_orphan(at(5), 1, "CARD-1", [orphan, later]) == orphan
    assert adoptable_orphan(at(5), 2, "CARD-1", [orphan]) is None
    assert adoptable_orphan(at(20), 1, "CARD-1", [orphan]) is None


def test_a_late_start_does_not_adopt_an_orphan_beyond_another_start() -> None:
    orphan = a_session(session_id="se-o", started_at=None, anchor_at=at(50), meter_start_wh=None)
    between = a_session(session_id="se-b", started_at=at(20), anchor_at=at(20))

    assert adoptable_orphan(at(5), 1, None, [orphan, between]) is None


def test_a_late_start_does_not_adopt_another_cards_orphan() -> None:
    orphan = a_session(
        session_id="se-o", started_at=None, anchor_at=at(10), id_tag="CARD-2", meter_start_wh=None
    )

    assert adoptable_orphan(at(5), 1, "CARD-1", [orphan]) is None
    assert adoptable_orphan(at(5), 1, "card-2", [orphan]) == orphan


def test_a_stop_without_id_stops_the_waiting_session_of_its_card() -> None:
    mine = a_session(session_id="se-m", id_tag="CARD-1", gun_no=1)
    other = a_session(session_id="se-o", id_tag="CARD-2", gun_no=2, started_at=at(5))

    assert stop_match(at(30), "CARD-1", [mine, other]) == mine
    assert stop_match(at(30), "CARD-3", [mine, other]) is None
    assert stop_match(at(30), None, [mine, other]) == other
    assert stop_match(at(-1), None, [mine, other]) is None


def test_a_retried_stop_finds_the_session_it_stopped() -> None:
    stopped = a_session(stopped_at=at(30), meter_stop_wh=4000)

    assert stop_retry_of(at(30), 4000, [stopped]) == stopped
    assert stop_retry_of(at(30), 4001, [stopped]) is None
