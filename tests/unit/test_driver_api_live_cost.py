"""The live view's cost so far (driver_charging.live_cost) is exactly the figure the paid stop
check computes (paid_charging: ``price_energy`` over every reading of the session), with a
bounded read: the newest entries plus the log entries next to each tariff period boundary
crossed; the whole log only after a meter reset or when the entries next to a boundary hold
no energy reading."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.ocpp.versions import OcppVersion
from shared.domain.pricing import Cost, price_energy, session_cost
from shared.domain.sessions import MeterSample, Session
from shared.domain.tariffs import PeriodKind, Tariff, TariffPeriod
from shared.services.driver_charging import NEWEST_SAMPLES, live_cost
from shared.services.paid_charging import _readings as stop_check_readings

# 07:00 local (Asia/Shanghai) = 23:00 UTC the day before.
T_LOCAL_7 = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
TOU = Tariff(
    tariff_id="tf-tou",
    operator_id="op-1",
    name="TOU",
    periods=(
        TariffPeriod(PeriodKind.VALLEY, "00:00", "08:00", 30, 40),
        TariffPeriod(PeriodKind.PEAK, "08:00", "12:00", 120, 80),
        TariffPeriod(PeriodKind.FLAT, "12:00", "00:00", 70, 60),
    ),
    version=1,
    created_at=T_LOCAL_7,
    updated_at=T_LOCAL_7,
)


def a_session(started_at: datetime, meter_start_wh: int) -> Session:
    return Session(
        session_id="se-live",
        protocol=OcppVersion.V16,
        operator_id="op-1",
        pile_id="CP-1",
        ocpp_transaction_id="7",
        anchor_at=started_at,
        created_at=started_at,
        last_message_at=started_at,
        started_at=started_at,
        meter_start_wh=meter_start_wh,
    )


class FakeLog:
    """A session's log as the adapter reads it: entries keyed by their first sample."""

    def __init__(self, entries: list[list[MeterSample]]) -> None:
        self.entries = sorted(entries, key=lambda samples: samples[0].sampled_at)
        self.around_reads = 0
        self.full_reads = 0

    def _key(self, entry: list[MeterSample]) -> datetime:
        return entry[0].sampled_at

    def newest(self) -> list[MeterSample]:
        return [s for entry in self.entries[-NEWEST_SAMPLES:] for s in entry]

    def samples_around(
        self, session_id: str, at: datetime
    ) -> tuple[list[MeterSample], list[MeterSample]]:
        self.around_reads += 1
        before = [e for e in self.entries if self._key(e) <= at][-2:]
        after = [e for e in self.entries if self._key(e) > at][:1]
        return [s for e in before for s in e], [s for e in after for s in e]

    def logged_samples(self, session_id: str) -> list[MeterSample]:
        self.full_reads += 1
        return [s for entry in self.entries for s in entry]


def stop_check_cost(session: Session, log: FakeLog) -> Cost:
    """What paid_charging.check_live_charge prices: every logged sample + the item's own."""
    return price_energy(TOU, stop_check_readings(session, log.logged_samples(session.session_id)))


MAX_POWER_W = 14_000  # twice a 7 kW pile's rating


def live(session: Session, log: FakeLog, max_power_w: int | None = MAX_POWER_W) -> Cost:
    return live_cost(
        log,  # type: ignore[arg-type]
        TOU,
        session,
        log.newest(),
        max_power_w=max_power_w,
    )


def test_a_charge_across_the_peak_boundary_shows_the_right_split() -> None:
    start = T_LOCAL_7 + timedelta(minutes=30)  # 07:30 local, valley
    session = a_session(start, 10_000)
    log = FakeLog(
        [
            [MeterSample(start + timedelta(minutes=20), energy_wh=10_600)],  # 1.8 kW
            [MeterSample(start + timedelta(minutes=40), energy_wh=12_600)],  # 6 kW over 08:00
            [MeterSample(start + timedelta(minutes=60), energy_wh=16_600, power_w=12_000)],
        ]
    )

    cost = live(session, log)

    # valley 600 + 1000 Wh at 70 fen/kWh, peak 1000 + 4000 Wh at 200 fen/kWh
    assert [(line.period_kind, line.energy_wh) for line in cost.lines] == [
        (PeriodKind.VALLEY, 1600),
        (PeriodKind.PEAK, 5000),
    ]
    assert cost.total_fen == 112 + 1000
    assert cost == stop_check_cost(session, log)
    # start + newest only (the old estimate) would spread 6.6 kWh evenly: 891 fen
    assert (log.around_reads, log.full_reads) == (1, 1)  # the second full read is the check's


def test_a_charge_inside_one_period_reads_nothing_around_boundaries() -> None:
    start = T_LOCAL_7 + timedelta(hours=2)  # 09:00 local, peak
    session = a_session(start, 0)
    log = FakeLog([[MeterSample(start + timedelta(minutes=m), energy_wh=100 * m)] for m in (5, 9)])
    assert live(session, log) == stop_check_cost(session, log)
    assert log.around_reads == 0


def test_a_meter_reset_reads_the_whole_log() -> None:
    start = T_LOCAL_7 + timedelta(minutes=30)
    session = a_session(start, 50_000)
    log = FakeLog(
        [
            [MeterSample(start + timedelta(minutes=20), energy_wh=51_000)],
            [MeterSample(start + timedelta(minutes=40), energy_wh=800)],  # reset at 08:00
            [MeterSample(start + timedelta(minutes=60), energy_wh=3_000)],
        ]
    )
    cost = live(session, log)
    assert log.full_reads == 1
    assert cost == stop_check_cost(session, log)


def test_a_reset_that_could_hide_between_the_readings_read_reads_the_whole_log() -> None:
    """A register that restarts at 0 each session: 0 -> 4000, reset, 500 -> 4500 between the
    start and the readings next to 08:00 would price 4500 Wh where 8500 were delivered."""
    start = T_LOCAL_7  # 07:00 local
    session = a_session(start, 0)
    points = [(10, 2_000), (20, 4_000), (30, 500), (40, 4_500), (50, 6_000)]
    points += [(70, 8_000), (80, 9_000), (90, 10_000), (100, 11_000)]
    log = FakeLog([[MeterSample(start + timedelta(minutes=m), energy_wh=wh)] for m, wh in points])

    cost = live(session, log)

    assert log.full_reads == 1
    assert cost == stop_check_cost(session, log)
    assert cost.energy_wh == 4_000 + 11_000 - 500 + 500
    assert live(session, log, max_power_w=None) == cost  # an unknown pile: the whole log


def test_power_only_entries_next_to_a_boundary_read_the_whole_log() -> None:
    start = T_LOCAL_7 + timedelta(minutes=30)
    session = a_session(start, 0)
    log = FakeLog(
        [
            [MeterSample(start + timedelta(minutes=10), energy_wh=1_000)],
            [MeterSample(start + timedelta(minutes=20), power_w=5_000)],
            [MeterSample(start + timedelta(minutes=25), power_w=6_000)],
            [MeterSample(start + timedelta(minutes=40), energy_wh=4_000)],
            [MeterSample(start + timedelta(minutes=50), energy_wh=6_000)],
            [MeterSample(start + timedelta(minutes=55), energy_wh=7_000)],
            [MeterSample(start + timedelta(minutes=59), energy_wh=7_500)],
        ]
    )
    cost = live(session, log)
    assert log.full_reads == 1
    assert cost == stop_check_cost(session, log)


@settings(max_examples=60, deadline=None)
@given(
    start_min=st.integers(0, 24 * 60 - 1),
    steps=st.lists(
        st.tuples(st.integers(1, 90), st.integers(0, 3_000), st.booleans()),
        min_size=1,
        max_size=40,
    ),
    meter_start=st.integers(1_000_000, 5_000_000),  # a lifetime register
)
def test_the_live_cost_is_the_stop_checks_for_any_rising_register(
    start_min: int, steps: list[tuple[int, int, bool]], meter_start: int
) -> None:
    start = T_LOCAL_7 + timedelta(minutes=start_min)
    session = a_session(start, meter_start)
    at, wh, entries = start, meter_start, []
    for minutes, rise, with_power in steps:
        at, wh = at + timedelta(minutes=minutes), wh + rise
        entries.append([MeterSample(at, energy_wh=wh, power_w=rise if with_power else None)])
    log = FakeLog(entries)

    cost = live(session, log)

    assert cost == stop_check_cost(session, log)
    assert log.full_reads == 1  # only the check's own read: the live cost read no whole log
    assert log.around_reads == len(cost.lines) - 1  # one window per boundary crossed
    assert cost == session_cost(TOU, session, log.logged_samples("se-live"))


@settings(max_examples=60, deadline=None)
@given(
    start_min=st.integers(0, 24 * 60 - 1),
    entries=st.lists(
        st.lists(
            st.tuples(st.integers(0, 45), st.integers(0, 2_000), st.booleans()),
            min_size=1,
            max_size=3,
        ),
        min_size=1,
        max_size=30,
    ),
    drop_at=st.one_of(st.none(), st.integers(0, 29)),
)
def test_the_live_cost_is_the_stop_checks_for_any_log(
    start_min: int, entries: list[list[tuple[int, int, bool]]], drop_at: int | None
) -> None:
    """Entries of several samples, power-only samples, a meter reset anywhere: the bounded
    read either finds the readings that decide the figure or reads the whole log."""
    start = T_LOCAL_7 + timedelta(minutes=start_min)
    session = a_session(start, 100_000)
    at, wh, log_entries = start, 100_000, []
    for index, entry in enumerate(entries):
        samples = []
        for minutes, rise, has_energy in entry:
            at, wh = at + timedelta(minutes=minutes, seconds=1), wh + rise
            if drop_at == index:
                wh, drop_at = rise, None  # the register restarts from 0
            samples.append(
                MeterSample(at, energy_wh=wh if has_energy else None, power_w=rise or None)
            )
        log_entries.append(samples)
    log = FakeLog(log_entries)

    assert live(session, log) == stop_check_cost(session, log)
