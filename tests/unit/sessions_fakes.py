"""In-memory SessionStore and OCPP ports for the session and transaction unit tests.

The fake keeps the adapter's contract: conditional creation, saves only over the revision
read, open markers, the 1.6 timeline keyed by anchor time, log entries idempotent on their
key, readings without a transaction id by gun and time. It counts writes like DynamoDB
requests (a transaction is one request).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.domain.base_data import Page, PageRequest
from shared.domain.clock import to_wire
from shared.domain.ocpp.authorization import CardRecord
from shared.domain.ocpp.dispatch import CallContext
from shared.domain.ocpp.versions import OcppVersion
from shared.domain.presence import Connection, expiry_epoch
from shared.domain.sessions import (
    STALE_AFTER,
    LogEntry,
    MeterSample,
    Session,
    SessionFilter,
    SessionLog,
    StartIdentity,
    TariffRef,
    TimelineEntry,
)
from shared.services.ocpp.ports import OcppPorts
from shared.services.sessions import GunReading, SamplePage

NOW = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
ENTRY_SPAN = timedelta(hours=48)


@dataclass
class FakeSessionStore:
    sessions: dict[str, Session] = field(default_factory=dict)
    markers: dict[str, datetime] = field(default_factory=dict)
    timeline: dict[tuple[str, str], tuple[str, int | None, datetime]] = field(default_factory=dict)
    logs: dict[str, dict[str, LogEntry]] = field(default_factory=dict)
    gun_items: dict[str, dict[str, tuple[int, tuple[MeterSample, ...]]]] = field(
        default_factory=dict
    )
    pile_meters: list[tuple[str, int, tuple[MeterSample, ...]]] = field(default_factory=list)
    tariffs: dict[str, TariffRef] = field(default_factory=dict)
    lost_starts: dict[str, str] = field(default_factory=dict)  # session id -> transaction id
    counter: int = 0
    writes: int = 0
    conflicts_to_inject: int = 0

    def get(self, session_id: str, *, consistent: bool = False) -> Session | None:
        return self.sessions.get(session_id)

    def get_many(self, session_ids: Sequence[str]) -> list[Session]:
        return [self.sessions[sid] for sid in dict.fromkeys(session_ids) if sid in self.sessions]

    def create(
        self, session: Session, *, start: StartIdentity | None = None, is_orphan: bool = False
    ) -> bool:
        self.writes += 1
        timeline_key = (
            repr(start) if start else f"orphan-{session.session_id}" if is_orphan else None
        )
        if session.session_id in self.sessions:
            return False
        if timeline_key is not None and (session.pile_id, timeline_key) in self.timeline:
            return False
        self.sessions[session.session_id] = session
        if session.is_open:
            self.markers[session.session_id] = session.last_message_at + STALE_AFTER
        if timeline_key is not None:
            self.timeline[(session.pile_id, timeline_key)] = (
                session.session_id,
                session.gun_no,
                session.anchor_at,
            )
        return True

    def save(self, session: Session, *, expected_revision: int, close_marker: bool) -> bool:
        self.writes += 1
        current = self.sessions.get(session.session_id)
        if current is None or current.revision != expected_revision:
            return False
        if self.conflicts_to_inject:
            self.conflicts_to_inject -= 1
            self.sessions[session.session_id] = dataclasses.replace(
                current, revision=current.revision + 1
            )
            return False
        self.sessions[session.session_id] = session
        if close_marker:
            self.markers.pop(session.session_id, None)
        return True

    def log(self, session_id: str) -> SessionLog:
        entries = self.logs.get(session_id, {}).values()
        return SessionLog(
            samples=frozenset(s for e in entries for s in e.samples),
            seq_nos=frozenset(e.seq_no for e in entries if e.seq_no is not None),
        )

    def append_log(self, session_id: str, entry: LogEntry) -> None:
        self.writes += 1
        self.logs.setdefault(session_id, {})[f"{to_wire(entry.at)}#{entry.key}"] = entry

    def newest_samples(self, session_id: str, limit: int) -> list[MeterSample]:
        entries = sorted(self.logs.get(session_id, {}).items(), reverse=True)[:limit]
        samples = [s for _, e in entries for s in e.samples]
        return sorted(samples, key=lambda s: s.sampled_at, reverse=True)

    def newest_activity(self, session_id: str) -> datetime | None:
        entries = sorted(self.logs.get(session_id, {}).items(), reverse=True)
        return entries[0][1].received_at if entries else None

    def sample_page(self, session_id: str, page: PageRequest) -> SamplePage:
        keys = sorted(self.logs.get(session_id, {}))
        start = keys.index(page.next_token) + 1 if page.next_token else 0
        chosen = keys[start : start + page.limit]
        has_more = start + page.limit < len(keys)
        entries = self.logs.get(session_id, {})
        samples = sorted(
            (s for key in chosen for s in entries[key].samples), key=lambda s: s.sampled_at
        )
        return SamplePage(
            samples=samples,
            next_token=chosen[-1] if has_more else None,
            after=entries[page.next_token].at if page.next_token else None,
            until=entries[chosen[-1]].at if has_more else None,
        )

    def allocate_transaction_id(self) -> int:
        self.writes += 1
        self.counter += 1
        return self.counter

    def remember_start(self, session: Session, start: StartIdentity) -> None:
        self.writes += 1
        self.timeline.setdefault(
            (session.pile_id, repr(start)),
            (session.session_id, session.gun_no, session.effective_start),
        )

    def find_start(self, pile_id: str, start: StartIdentity) -> tuple[str, str] | None:
        found = self.timeline.get((pile_id, repr(start)))
        if found is None:
            return None
        session = self.sessions.get(found[0])
        transaction_id = session.ocpp_transaction_id if session else self.lost_starts[found[0]]
        return (found[0], transaction_id)

    def pile_timeline(self, pile_id: str, since: datetime, until: datetime) -> list[TimelineEntry]:
        low, high = to_wire(since), to_wire(until) + "~"
        return [
            TimelineEntry(sid, gun_no, anchor)
            for (pile, _), (sid, gun_no, anchor) in sorted(self.timeline.items())
            if pile == pile_id and low <= to_wire(anchor) <= high
        ]

    def put_gun_readings(
        self, pile_id: str, gun_no: int, samples: Sequence[MeterSample], received_at: datetime
    ) -> None:
        self.writes += 1
        at = min(s.sampled_at for s in samples)
        key = f"{to_wire(at)}#{gun_no:03d}#{hash(frozenset(samples))}"
        self.gun_items.setdefault(pile_id, {})[key] = (gun_no, tuple(samples))

    def gun_readings(self, pile_id: str, since: datetime, until: datetime) -> list[GunReading]:
        low, high = to_wire(since - ENTRY_SPAN), to_wire(until) + "~"
        return [
            GunReading(gun_no, sample)
            for key, (gun_no, samples) in sorted(self.gun_items.get(pile_id, {}).items())
            if low <= key <= high
            for sample in samples
            if since <= sample.sampled_at <= until
        ]

    def put_pile_meter(
        self, pile_id: str, gun_no: int, samples: Sequence[MeterSample], received_at: datetime
    ) -> None:
        self.writes += 1
        self.pile_meters.append((pile_id, gun_no, tuple(samples)))

    def station_tariff(self, station_id: str) -> TariffRef | None:
        return self.tariffs.get(station_id)

    def open_sessions_due(self, now: datetime, limit: int) -> list[str]:
        due = sorted((at, sid) for sid, at in self.markers.items() if at <= now)
        return [sid for _, sid in due[:limit]]

    def postpone_check(self, session_id: str, check_at: datetime) -> None:
        self.writes += 1
        if session_id in self.markers:
            self.markers[session_id] = check_at

    def drop_marker(self, session_id: str) -> None:
        self.writes += 1
        self.markers.pop(session_id, None)

    def list_sessions(self, selection: SessionFilter, page: PageRequest) -> Page[Session]:
        chosen = [
            s
            for s in self.sessions.values()
            if s.operator_id == selection.operator_id
            and (selection.pile_id is None or s.pile_id == selection.pile_id)
            and (selection.status is None or s.status is selection.status)
        ]
        chosen.sort(key=lambda s: (s.anchor_at, s.session_id), reverse=True)
        return Page(items=chosen[: page.limit])


@dataclass
class FakeCards:
    cards: dict[str, CardRecord] = field(default_factory=dict)

    def find_card(self, card_no: str) -> CardRecord | None:
        return self.cards.get(card_no)


def ports_with(store: FakeSessionStore, cards: FakeCards | None = None) -> OcppPorts:
    """OCPP ports carrying the session store (``sessions``) and a card lookup."""
    values: dict[str, Any] = {
        "connections": None,
        "piles": cards or FakeCards(),
        "faults": None,
        "pending_calls": None,
        "schemas": None,
        "clock": lambda: NOW,
    }
    names = {f.name for f in dataclasses.fields(OcppPorts)}
    values.update({name: None for name in names if name not in values})
    values["sessions"] = store
    return OcppPorts(**values)


def a_context(
    version: OcppVersion = OcppVersion.V16,
    *,
    pile_id: str = "CP-1",
    operator_id: str = "op-1",
    received_at: datetime = NOW,
    action: str = "MeterValues",
) -> CallContext:
    connection = Connection(
        connection_id="c1",
        pile_id=pile_id,
        version=version,
        operator_id=operator_id,
        station_id="st-1",
        registration_status="Accepted",
        connected_at=NOW,
        last_seen_at=NOW,
        source_ip=None,
        expires_at=expiry_epoch(NOW),
    )
    return CallContext(connection, "m1", action, received_at)
