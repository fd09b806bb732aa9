"""Charging sessions: the session record, meter samples, energy from the register, the
status rules, and the matching of messages that do not name their transaction.

Design overview
---------------
A session is ours (``session_id`` ``se-...``); the pile's transaction id is kept beside it
as ``ocpp_transaction_id``. The id is derived from the pile and its transaction id, so a
message naming a transaction finds its session with one GetItem and no lookup table:
1.6 ids are integers we allocate, 2.0.1 ids are the pile's own strings.

Energy comes from the meter register only: the positive steps between consecutive
readings ordered by the pile's clock, where a drop is a meter reset and the new reading
counts from 0. Readings are a set, so a message delivered twice, late or out of order
changes nothing: ``register_energy_wh`` gives the same answer for any order and any
repetition of the same readings.

OCPP 1.6 piles that never got the answer to a StartTransaction send transaction id -1
(or none) in MeterValues and StopTransaction. Those readings belong to a gun and a time,
not to a session: ``owner_of`` names the session a reading on a gun belongs to, from the
sessions of that gun ordered by start, so late and shuffled messages end up where they
belong whatever order they came in. A session whose start the platform never saw is an
orphan (``started_at`` None); it reaches back to the stop of the gun's previous session,
and a StartTransaction that arrives later adopts it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from shared.domain.ocpp.versions import OcppVersion

# Sessions without a message for this long are closed as incomplete by housekeeping.
STALE_AFTER = timedelta(hours=6)
# How far from a message's timestamp the sessions of its pile are looked at when it names
# no transaction (a session or a gap between two sessions longer than this is not matched).
MATCH_HORIZON = timedelta(hours=48)


class SessionStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    INCOMPLETE = "incomplete"


@dataclass(frozen=True, slots=True)
class MeterSample:
    """The values a pile sampled at one instant (one OCPP ``meterValue``)."""

    sampled_at: datetime  # the pile's clock
    energy_wh: int | None = None  # Energy.Active.Import.Register
    power_w: int | None = None
    voltage_v: float | None = None
    current_a: float | None = None
    soc_percent: float | None = None
    temperature_c: float | None = None

    @property
    def has_values(self) -> bool:
        return any(
            value is not None
            for value in (
                self.energy_wh,
                self.power_w,
                self.voltage_v,
                self.current_a,
                self.soc_percent,
                self.temperature_c,
            )
        )


@dataclass(frozen=True, slots=True)
class Session:
    """One charging session, as stored."""

    session_id: str
    protocol: OcppVersion
    operator_id: str
    pile_id: str
    ocpp_transaction_id: str
    # First evidence of the session by the pile's clock (its start, or for an orphan the
    # earliest message seen); never changes, it keys the pile's timeline of sessions.
    anchor_at: datetime
    created_at: datetime  # received
    last_message_at: datetime  # received, of the last message that wrote this item
    status: SessionStatus = SessionStatus.ACTIVE
    station_id: str | None = None
    gun_no: int | None = None
    id_tag: str | None = None
    tariff_id: str | None = None
    tariff_version: int | None = None
    started_at: datetime | None = None  # the pile's clock
    start_received_at: datetime | None = None
    meter_start_wh: int | None = None
    stopped_at: datetime | None = None  # the pile's clock
    stop_received_at: datetime | None = None
    meter_stop_wh: int | None = None
    stop_reason: str | None = None
    stop_id_tag: str | None = None
    started_seq_no: int | None = None  # 2.0.1
    ended_seq_no: int | None = None  # 2.0.1
    seq_nos: frozenset[int] = frozenset()  # 2.0.1 events recorded on this item
    extra_samples: frozenset[MeterSample] = frozenset()  # readings recorded on this item
    energy_wh: int = 0
    remote_start_id: int | None = None
    closed_stale_at: datetime | None = None
    # An orphan whose beginning is unknown owns readings of its gun back to the previous
    # session's stop; one whose stop brought transactionData begins at its first sample
    # (``evidence_from``, when that is before the anchor).
    reaches_back: bool = True
    evidence_from: datetime | None = None
    revision: int = 0

    @property
    def is_start_known(self) -> bool:
        return self.started_at is not None

    @property
    def is_stop_known(self) -> bool:
        return self.stopped_at is not None

    @property
    def effective_start(self) -> datetime:
        if self.started_at is not None:
            return self.started_at
        if self.evidence_from is not None:
            return min(self.anchor_at, self.evidence_from)
        return self.anchor_at

    @property
    def is_open(self) -> bool:
        """Still expecting its stop (active, not closed by housekeeping)."""
        return self.status is SessionStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One message's contribution stored beside its session (a ``METER#`` item)."""

    at: datetime  # orders the entries: the first sample's time, or the event's
    key: str  # tells entries at one instant apart: ``E{seqNo}`` or ``M{digest}``
    source: str  # the OCPP action
    samples: tuple[MeterSample, ...]
    received_at: datetime
    seq_no: int | None = None
    event_type: str | None = None
    trigger_reason: str | None = None
    charging_state: str | None = None


def log_entry_key(source: str, samples: Sequence[MeterSample]) -> str:
    """A key naming a message by its content, so a retransmission lands on the same item."""
    canonical = repr((source, sorted(samples, key=_sample_order)))
    return "M" + hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _sample_order(sample: MeterSample) -> tuple[datetime, str]:
    return (sample.sampled_at, repr(sample))


@dataclass(frozen=True, slots=True)
class SessionLog:
    """What the messages of a session stored beside it (``METER#`` items)."""

    samples: frozenset[MeterSample] = frozenset()
    seq_nos: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class StartIdentity:
    """What makes a 1.6 StartTransaction the same one when it is sent again (any message
    id): the pile (implicit), the gun, the pile's timestamp, meterStart and idTag."""

    gun_no: int
    started_at: datetime
    meter_start_wh: int
    id_tag: str


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """A 1.6 session on its pile's timeline: enough to pick the sessions near a time."""

    session_id: str
    gun_no: int | None  # as first known; None for a session rebuilt from a stop
    anchor_at: datetime


@dataclass(frozen=True, slots=True)
class TariffRef:
    """The station's tariff at the start of a session: id and immutable version."""

    tariff_id: str
    version: int


@dataclass(frozen=True, slots=True)
class SessionFilter:
    """What the operator API lists: by pile, or by status, of one operator."""

    operator_id: str
    pile_id: str | None = None
    status: SessionStatus | None = None


@dataclass(frozen=True, slots=True)
class SessionFigures:
    """A session with its live figures (the newest sample) for the API."""

    session: Session
    energy_wh: int
    latest: MeterSample | None = None
    samples: tuple[MeterSample, ...] = field(default_factory=tuple)


def session_id_for(pile_id: str, version: OcppVersion, transaction_id: str) -> str:
    """Our session id for a pile's transaction: the same id for every message naming it."""
    identity = "|".join((version.value, pile_id, transaction_id))
    return "se-" + hashlib.sha256(identity.encode()).hexdigest()[:20]


def register_energy_wh(readings: Iterable[tuple[datetime, int]]) -> int:
    """Energy in Wh from register readings ``(at, wh)``, whatever their order or repetition.

    Readings are ordered by time (then value, so equal instants are ordered the same way
    every time); each rise adds its step; a drop is a meter reset and adds the new
    reading itself (the register counted it from 0).
    """
    total = 0
    previous: int | None = None
    for _, wh in sorted(set(readings)):
        if previous is not None:
            total += wh - previous if wh >= previous else wh
        previous = wh
    return total


def session_readings(
    session: Session, samples: Iterable[MeterSample]
) -> list[tuple[datetime, int]]:
    """The register readings of a session: its meter start and stop and every sample's
    energy within the session's known bounds (a reading stamped outside them is another
    session's, or a clock gone wrong)."""
    readings: list[tuple[datetime, int]] = []
    if session.started_at is not None and session.meter_start_wh is not None:
        readings.append((session.started_at, session.meter_start_wh))
    if session.stopped_at is not None and session.meter_stop_wh is not None:
        readings.append((session.stopped_at, session.meter_stop_wh))
    for sample in samples:
        if sample.energy_wh is None or not is_within(session, sample.sampled_at):
            continue
        readings.append((sample.sampled_at, sample.energy_wh))
    return readings


def session_energy_wh(session: Session, samples: Iterable[MeterSample]) -> int:
    """The session's energy from every reading it has (``samples`` plus its own extras)."""
    return register_energy_wh(session_readings(session, [*samples, *session.extra_samples]))


def live_energy_wh(session: Session, newest: MeterSample | None) -> int:
    """Energy so far of an active session, from its start and the newest register reading
    only (the exact figure, with every reset, is computed when it stops)."""
    if newest is None or newest.energy_wh is None or session.meter_start_wh is None:
        return session.energy_wh
    return register_energy_wh(
        [(session.effective_start, session.meter_start_wh), (newest.sampled_at, newest.energy_wh)]
    )


def is_within(session: Session, at: datetime) -> bool:
    if session.started_at is not None and at < session.started_at:
        return False
    return not (session.stopped_at is not None and at > session.stopped_at)


def missing_seq_nos(session: Session, logged: Iterable[int]) -> list[int] | None:
    """2.0.1: the seqNos between Started and Ended not received yet; None while either
    end is unknown."""
    if session.started_seq_no is None or session.ended_seq_no is None:
        return None
    seen = set(logged) | set(session.seq_nos)
    seen.update((session.started_seq_no, session.ended_seq_no))
    low, high = sorted((session.started_seq_no, session.ended_seq_no))
    return [seq_no for seq_no in range(low, high + 1) if seq_no not in seen]


def settled_status(session: Session, logged_seq_nos: Iterable[int] = ()) -> SessionStatus:
    """Active until the stop is known (or housekeeping gave up: incomplete); then
    completed when nothing is missing (1.6: the start; 2.0.1: Started and every seqNo up
    to Ended), incomplete otherwise."""
    if not session.is_stop_known:
        return SessionStatus.INCOMPLETE if session.closed_stale_at else SessionStatus.ACTIVE
    if not session.is_start_known:
        return SessionStatus.INCOMPLETE
    if session.protocol is OcppVersion.V201:
        missing = missing_seq_nos(session, logged_seq_nos)
        if missing is None or missing:
            return SessionStatus.INCOMPLETE
    return SessionStatus.COMPLETED


def settle(
    session: Session, samples: Iterable[MeterSample], logged_seq_nos: Iterable[int] = ()
) -> Session:
    """The session with its energy and status recomputed from everything known."""
    samples = list(samples)
    return replace(
        session,
        energy_wh=session_energy_wh(session, samples),
        status=settled_status(session, logged_seq_nos),
    )


def is_stale(session: Session, last_activity_at: datetime, now: datetime) -> bool:
    """No message for ``STALE_AFTER`` (by our clock)."""
    return session.is_open and now - last_activity_at >= STALE_AFTER


# --- matching messages that name no transaction (OCPP 1.6 id -1) ---------------------------


def owner_of(at: datetime, gun_sessions: Sequence[Session]) -> Session | None:
    """The session of one gun a reading taken at ``at`` belongs to, or None.

    The latest session started at or before ``at`` owns it unless it had stopped by
    then; a reading before a session whose beginning is unknown (an orphan that
    ``reaches_back``), after the previous session's stop, belongs to that orphan.
    """
    ordered = sorted(gun_sessions, key=lambda s: (s.effective_start, s.session_id))
    before = [s for s in ordered if s.effective_start <= at]
    if before:
        last = before[-1]
        if last.stopped_at is None or at <= last.stopped_at:
            return last
    after = [s for s in ordered if s.effective_start > at]
    if after and not after[0].is_start_known and after[0].reaches_back:
        return after[0]
    return None


def reading_fit(session: Session, sample: MeterSample) -> int:
    """How well a register reading fits a session's own readings: 2 it is one of them,
    1 it lies between the readings around it, 0 no evidence or it contradicts them."""
    return fits_readings(sorted(session_readings(session, session.extra_samples)), sample)


def fits_readings(own: Sequence[tuple[datetime, int]], sample: MeterSample) -> int:
    """``reading_fit`` against register readings ``own`` sorted by time."""
    if sample.energy_wh is None:
        return 0
    if (sample.sampled_at, sample.energy_wh) in own:
        return 2
    before = [wh for at, wh in own if at <= sample.sampled_at]
    after = [wh for at, wh in own if at >= sample.sampled_at]
    if not before and not after:
        return 0
    if before and after and before[-1] > after[0]:  # the meter reset in between
        is_fit = sample.energy_wh >= before[-1] or sample.energy_wh <= after[0]
        return 1 if is_fit else 0
    low_ok = not before or before[-1] <= sample.energy_wh
    high_ok = not after or sample.energy_wh <= after[0]
    return 1 if low_ok and high_ok else 0


def gunless_owner(sample: MeterSample, sessions: Sequence[Session]) -> Session | None:
    """A session of an unknown gun (rebuilt from a StopTransaction, which names no
    connector) that a reading falls in: between its first evidence and its stop, its
    register not contradicting the session's own readings. When several do (two guns
    charging at once), the one whose readings it fits best, then the one stopping soonest."""
    at = sample.sampled_at
    fitting = [
        s
        for s in sessions
        if s.gun_no is None
        and s.stopped_at is not None
        and s.effective_start <= at <= s.stopped_at
        and (sample.energy_wh is None or reading_fit(s, sample) > 0)
    ]
    if not fitting:
        return None
    return min(fitting, key=lambda s: (-reading_fit(s, sample), s.stopped_at or at, s.session_id))


def is_certain_owner(session: Session, at: datetime) -> bool:
    """Whether a reading at ``at`` is the session's whatever else arrives later: it falls
    between the session's first evidence and its stop, where no other session of the
    gun can start. A reading before an orphan's first evidence is the orphan's only as
    long as no session turns up in between."""
    return session.stopped_at is not None and session.effective_start <= at <= session.stopped_at


def _is_tag_compatible(known: str | None, given: str | None) -> bool:
    return known is None or given is None or known.casefold() == given.casefold()


def adoptable_orphan(
    at: datetime, gun_no: int, id_tag: str | None, sessions: Sequence[Session]
) -> Session | None:
    """The orphan a StartTransaction arriving late belongs to: a session of this gun (or of
    no known gun) whose start was never seen, whose first evidence comes after ``at`` and
    before any other start on the gun, and whose card (if known) is this one."""
    later_starts = [
        s.effective_start
        for s in sessions
        if s.gun_no == gun_no and s.is_start_known and s.effective_start > at
    ]
    limit = min(later_starts) if later_starts else None
    candidates = [
        s
        for s in sessions
        if not s.is_start_known
        and s.gun_no in (gun_no, None)
        and s.anchor_at >= at
        and (limit is None or s.anchor_at < limit)
        and (s.stopped_at is None or s.stopped_at >= at)
        and _is_tag_compatible(s.id_tag or s.stop_id_tag, id_tag)
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda s: (s.anchor_at, s.session_id))


def stop_retry_of(at: datetime, meter_stop_wh: int, sessions: Sequence[Session]) -> Session | None:
    """The session that already took this very stop (a retried StopTransaction)."""
    for session in sessions:
        if session.stopped_at == at and session.meter_stop_wh == meter_stop_wh:
            return session
    return None


def stop_match(
    at: datetime,
    id_tag: str | None,
    sessions: Sequence[Session],
    *,
    first_sample_at: datetime | None = None,
    stop_readings: Sequence[tuple[datetime, int]] = (),
    evidence: Mapping[str, Sequence[MeterSample]] | None = None,
) -> Session | None:
    """The session a StopTransaction without a usable id stops: one still waiting for its
    stop, begun at or before ``at``, whose card is not another one; the card's own
    session first, then the latest begun.

    A session is out when another session started on its gun before the stop (one gun
    charges one session at a time), when the stop's ``transactionData`` begins before it
    (a transaction's samples do not precede its start; a session whose start is unknown
    has its first evidence inside them), or when a reading known to be its own (its
    ``evidence``) contradicts the stop's register readings ``stop_readings``.
    """
    evidence = evidence or {}
    waiting = [
        s
        for s in sessions
        if not s.is_stop_known
        and s.effective_start <= at
        and _is_tag_compatible(s.id_tag, id_tag)
        and not _is_superseded(s, at, sessions)
        and (first_sample_at is None or _fits_samples(s, first_sample_at))
        and _agrees(evidence.get(s.session_id, ()), stop_readings)
    ]
    if not waiting:
        return None

    def rank(session: Session) -> tuple[bool, datetime, str]:
        is_same_card = (
            id_tag is not None
            and session.id_tag is not None
            and session.id_tag.casefold() == id_tag.casefold()
        )
        return (is_same_card, session.effective_start, session.session_id)

    return max(waiting, key=rank)


def _agrees(samples: Sequence[MeterSample], readings: Sequence[tuple[datetime, int]]) -> bool:
    if not readings:
        return True
    return all(fits_readings(readings, s) > 0 for s in samples if s.energy_wh is not None)


def _is_superseded(session: Session, at: datetime, sessions: Sequence[Session]) -> bool:
    if session.gun_no is None:
        return False
    return any(
        other.gun_no == session.gun_no
        and other.session_id != session.session_id
        and session.effective_start < other.effective_start <= at
        for other in sessions
    )


def _fits_samples(session: Session, first_sample_at: datetime) -> bool:
    if session.is_start_known:
        return session.effective_start <= first_sample_at
    return session.anchor_at >= first_sample_at
