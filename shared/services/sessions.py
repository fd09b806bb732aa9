"""Charging sessions as use cases: settling a session's energy and status from everything
stored for it, the operator API's queries, and closing sessions nobody finishes.

The store (``SessionStore``) is SessionsTable behind a port (see docs/data-model.md);
unit tests use an in-memory fake.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from shared.domain.base_data import Page, PageRequest, resolve_operator
from shared.domain.errors import NotFound, UpstreamFailure
from shared.domain.ocpp.versions import OcppVersion
from shared.domain.sessions import (
    MATCH_HORIZON,
    STALE_AFTER,
    LogEntry,
    MeterSample,
    Session,
    SessionFigures,
    SessionFilter,
    SessionLog,
    SessionStatus,
    StartIdentity,
    TariffRef,
    TimelineEntry,
    is_within,
    live_energy_wh,
    owner_of,
    settle,
)
from shared.domain.tenancy import Principal
from shared.observability import logger

# Optimistic locking: a session item is written only over the revision it was read at.
MAX_SAVE_ATTEMPTS = 4
# An open session with no own readings is searched for bucket readings this far ahead.
OPEN_READING_REACH = timedelta(days=7)
NEWEST_SAMPLES = 3
# Sessions read on each side of a time, per gun, to match messages without an id.
NEIGHBOURS = 2


@dataclass(frozen=True, slots=True)
class GunReading:
    """A reading a 1.6 pile sent without a usable transaction id (id -1 or none)."""

    gun_no: int
    sample: MeterSample


@dataclass(frozen=True, slots=True)
class SamplePage:
    """Samples of one page of log entries; the entries cover ``(after, until]`` by their
    time (None: unbounded), so samples kept elsewhere can be merged into the right page."""

    samples: list[MeterSample]
    next_token: str | None
    after: datetime | None
    until: datetime | None


@runtime_checkable
class SessionStore(Protocol):
    """SessionsTable. Every method raises UpstreamFailure when DynamoDB fails."""

    def get(self, session_id: str, *, consistent: bool = False) -> Session | None:
        """The session item, or None."""

    def get_many(self, session_ids: Sequence[str]) -> list[Session]:
        """The session items that exist (consistent)."""

    def create(
        self, session: Session, *, start: StartIdentity | None = None, is_orphan: bool = False
    ) -> bool:
        """Create the session, its open marker while active, and its entry on the pile's
        1.6 timeline (keyed by ``start``, or as an orphan); False when the session or that
        start identity exists already."""

    def save(self, session: Session, *, expected_revision: int, close_marker: bool) -> bool:
        """Replace the session item if it is still at ``expected_revision`` (then drop its
        open marker when ``close_marker``); False otherwise."""

    def log(self, session_id: str) -> SessionLog:
        """Every sample and seqNo stored beside the session (consistent)."""

    def append_log(self, session_id: str, entry: LogEntry) -> None:
        """Store one message's samples beside the session (idempotent on the entry key)."""

    def newest_samples(self, session_id: str, limit: int) -> list[MeterSample]:
        """The newest samples by the pile's clock, newest first."""

    def newest_activity(self, session_id: str) -> datetime | None:
        """When (our clock) the newest logged message was received."""

    def sample_page(self, session_id: str, page: PageRequest) -> SamplePage:
        """One page of the session's ``METER#`` items, their samples in time order."""

    def allocate_transaction_id(self) -> int:
        """A new 1.6 transaction id, unique platform-wide (atomic counter)."""

    def remember_start(self, session: Session, start: StartIdentity) -> None:
        """Record a 1.6 start identity for a session that exists (an adopted orphan)."""

    def find_start(self, pile_id: str, start: StartIdentity) -> tuple[str, str] | None:
        """``(session_id, ocpp_transaction_id)`` a 1.6 StartTransaction's identity got."""

    def pile_timeline(self, pile_id: str, since: datetime, until: datetime) -> list[TimelineEntry]:
        """The pile's 1.6 sessions whose anchor lies in ``[since, until]`` (keys only)."""

    def put_gun_readings(
        self, pile_id: str, gun_no: int, samples: Sequence[MeterSample], received_at: datetime
    ) -> None:
        """Keep readings sent without a usable transaction id, by gun and time."""

    def gun_readings(self, pile_id: str, since: datetime, until: datetime) -> list[GunReading]:
        """Readings kept by ``put_gun_readings`` sampled in ``[since, until]``."""

    def put_pile_meter(
        self, pile_id: str, gun_no: int, samples: Sequence[MeterSample], received_at: datetime
    ) -> None:
        """Keep meter values that belong to no transaction (main meter, idle gun)."""

    def station_tariff(self, station_id: str) -> TariffRef | None:
        """The station's current tariff and version (BaseDataTable)."""

    def open_sessions_due(self, now: datetime, limit: int) -> list[str]:
        """Ids of open sessions whose staleness check is due by ``now``."""

    def postpone_check(self, session_id: str, check_at: datetime) -> None:
        """Move an open session's next staleness check."""

    def drop_marker(self, session_id: str) -> None:
        """Remove the open marker of a session that is no longer open."""

    def list_sessions(self, selection: SessionFilter, page: PageRequest) -> Page[Session]:
        """Sessions of one operator, newest first, by pile or by status."""


Change = Callable[[Session], Session | None]


def save_change(store: SessionStore, session: Session, change: Change) -> Session:
    """Apply ``change`` to the session and store it over the revision it was read at,
    reading it again after a concurrent write. ``change`` returns None for "nothing to
    write" (a retried message).

    Raises: UpstreamFailure (still conflicting after ``MAX_SAVE_ATTEMPTS``).
    """
    current = session
    for _ in range(MAX_SAVE_ATTEMPTS):
        changed = change(current)
        if changed is None:
            return current
        changed = replace(changed, revision=current.revision + 1)
        close_marker = current.is_open and not changed.is_open
        if store.save(changed, expected_revision=current.revision, close_marker=close_marker):
            return changed
        fresh = store.get(current.session_id, consistent=True)
        if fresh is None:
            break
        current = fresh
    raise UpstreamFailure("the session kept changing while it was written", id=session.session_id)


def settled(
    store: SessionStore, session: Session, *, now: datetime, log: SessionLog | None = None
) -> Session:
    """The session with energy and status recomputed from its log (read unless given), its
    own extras and, for 1.6, the readings its gun sent without a transaction id that
    belong to it."""
    if log is None:
        log = store.log(session.session_id)
    samples = set(log.samples)
    if session.protocol is OcppVersion.V16:
        samples.update(owned_gun_samples(store, session, now=now))
    return settle(session, samples, log.seq_nos)


def owned_gun_samples(store: SessionStore, session: Session, *, now: datetime) -> list[MeterSample]:
    """Readings of the session's gun sent with id -1 that ``owner_of`` gives this session."""
    if session.gun_no is None:
        return []
    since = session.started_at or session.effective_start - MATCH_HORIZON
    until = session.stopped_at or max(now, session.effective_start + OPEN_READING_REACH)
    readings = [
        r for r in store.gun_readings(session.pile_id, since, until) if r.gun_no == session.gun_no
    ]
    if session.is_start_known and session.is_stop_known:
        # Between its own start and stop a gun charges nothing else: no neighbours needed.
        return [r.sample for r in readings if is_within(session, r.sample.sampled_at)]
    if not readings:
        return []
    times = [session.effective_start, *(r.sample.sampled_at for r in readings)]
    gun_sessions = [
        s
        for s in sessions_near(store, session.pile_id, times, gun_no=session.gun_no)
        if s.gun_no == session.gun_no and s.session_id != session.session_id
    ]
    gun_sessions.append(session)
    owned = []
    for reading in readings:
        owner = owner_of(reading.sample.sampled_at, gun_sessions)
        if owner is not None and owner.session_id == session.session_id:
            owned.append(reading.sample)
    return owned


def sessions_near(
    store: SessionStore,
    pile_id: str,
    times: Sequence[datetime],
    *,
    gun_no: int | None = None,
    reach: timedelta = MATCH_HORIZON,
) -> list[Session]:
    """The pile's 1.6 sessions around ``times``: per gun (only ``gun_no`` and the gunless
    when a gun is given), the ``NEIGHBOURS`` nearest on each side of each time.

    DynamoDB: 1 Query of the timeline (keys only) + 1 BatchGetItem of the chosen few.
    """
    if not times:
        return []
    entries = store.pile_timeline(pile_id, min(times) - reach, max(times) + reach)
    # A session adopted by a late start has two entries (first evidence, start): it sits
    # at the earlier one, its effective start.
    earliest: dict[str, TimelineEntry] = {}
    for entry in entries:
        known = earliest.get(entry.session_id)
        if known is None or entry.anchor_at < known.anchor_at:
            earliest[entry.session_id] = entry
    by_gun: dict[int | None, list[TimelineEntry]] = {}
    for entry in earliest.values():
        if gun_no is None or entry.gun_no in (gun_no, None):
            by_gun.setdefault(entry.gun_no, []).append(entry)
    chosen: set[str] = set()
    for group in by_gun.values():
        ordered = sorted(group, key=lambda e: (e.anchor_at, e.session_id))
        anchors = [e.anchor_at for e in ordered]
        for at in times:
            index = bisect_right(anchors, at)
            window = ordered[max(0, index - NEIGHBOURS) : index + NEIGHBOURS]
            chosen.update(e.session_id for e in window)
    return store.get_many(sorted(chosen)) if chosen else []


# --- operator API --------------------------------------------------------------------------


def list_sessions(
    store: SessionStore,
    principal: Principal,
    *,
    operator_id: str | None,
    pile_id: str | None,
    status: SessionStatus | None,
    page: PageRequest,
) -> Page[Session]:
    """Sessions of the caller's operator, newest first: of one pile (any status unless one
    is named), or else of one status (``active`` when none is named).

    Raises: InvalidInput (a platform admin named no operator), NotFound (another operator).
    """
    owner = resolve_operator(principal, operator_id)
    if pile_id is None and status is None:
        status = SessionStatus.ACTIVE
    return store.list_sessions(SessionFilter(owner, pile_id, status), page)


def get_session(store: SessionStore, principal: Principal, session_id: str) -> SessionFigures:
    """One session of the caller's operator with its newest sample; an active session's
    energy is the live figure from its start and newest register reading.

    Raises: NotFound (no such session, or another operator's).
    """
    session = _visible(store, principal, session_id)
    newest = store.newest_samples(session_id, NEWEST_SAMPLES)
    latest = newest[0] if newest else None
    newest_energy = next((s for s in newest if s.energy_wh is not None), None)
    energy = live_energy_wh(session, newest_energy) if session.is_open else session.energy_wh
    return SessionFigures(session=session, energy_wh=energy, latest=latest)


def list_meter_values(
    store: SessionStore,
    principal: Principal,
    session_id: str,
    page: PageRequest,
    *,
    now: datetime,
) -> Page[MeterSample]:
    """A session's samples in the pile's time order (trend chart), including the readings
    kept on the session item and, for 1.6, its gun's readings sent with id -1.

    Raises: NotFound.
    """
    session = _visible(store, principal, session_id)
    logged = store.sample_page(session_id, page)
    kept_elsewhere = set(session.extra_samples)
    if session.protocol is OcppVersion.V16:
        kept_elsewhere.update(owned_gun_samples(store, session, now=now))
    merged = set(logged.samples)
    merged.update(
        sample
        for sample in kept_elsewhere
        if (logged.after is None or sample.sampled_at > logged.after)
        and (logged.until is None or sample.sampled_at <= logged.until)
    )
    ordered = sorted(merged, key=lambda sample: (sample.sampled_at, repr(sample)))
    return Page(items=ordered, next_token=logged.next_token)


def _visible(store: SessionStore, principal: Principal, session_id: str) -> Session:
    session = store.get(session_id)
    if session is None or not principal.can_see(session.operator_id):
        raise NotFound(f"session {session_id} not found", kind="session", id=session_id)
    return session


# --- housekeeping --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StaleSweep:
    """What one ``close_stale_sessions`` run did."""

    closed: tuple[str, ...]
    postponed: int
    checked: int


def close_stale_sessions(
    now: datetime,
    *,
    sessions: SessionStore,
    stale_after: timedelta = STALE_AFTER,
    max_sessions: int = 200,
    on_closed: Callable[[Session], None] | None = None,
) -> StaleSweep:
    """Close as ``incomplete`` (energy known so far) every open session without a message
    for ``stale_after``; postpone the next check of the others. ``on_closed`` is told of
    each session closed (a paid one resumes its workflow).

    DynamoDB: 1 Query of the open markers due, then per due session 1 GetItem + 1 Query
    (newest log entry), and either 1 UpdateItem (postpone) or a Query of its log + 1
    PutItem (the session) + 1 DeleteItem (its marker).

    Raises: UpstreamFailure.
    """
    closed: list[str] = []
    postponed = 0
    due = sessions.open_sessions_due(now, max_sessions)
    for session_id in due:
        session = sessions.get(session_id, consistent=True)
        if session is None or not session.is_open:
            sessions.drop_marker(session_id)
            continue
        logged_at = sessions.newest_activity(session_id)
        activity = max(filter(None, (session.last_message_at, logged_at)))
        if now - activity < stale_after:
            sessions.postpone_check(session_id, activity + stale_after)
            postponed += 1
            continue
        saved = save_change(sessions, session, lambda current: _close_stale(sessions, current, now))
        closed.append(session_id)
        if on_closed is not None:
            on_closed(saved)
        logger.info(
            "stale session closed",
            extra={"session_id": session_id, "pile_id": session.pile_id},
        )
    return StaleSweep(closed=tuple(closed), postponed=postponed, checked=len(due))


def _close_stale(store: SessionStore, session: Session, now: datetime) -> Session | None:
    if not session.is_open:
        return None
    return settled(store, replace(session, closed_stale_at=now), now=now)
