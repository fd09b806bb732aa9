"""Functional blocks E (transactions) and J (meter values): 1.6 StartTransaction,
StopTransaction, MeterValues; 2.0.1 TransactionEvent and MeterValues.

Every message is answered, however late, repeated or out of order it comes:

- a retried StartTransaction (same pile, connector, meterStart, timestamp, idTag) gets the
  transaction id it got the first time; ids are allocated from one atomic counter;
- MeterValues of an open session cost one write (its ``METER#`` item, keyed by content so a
  retransmission overwrites itself); a late one for a session already closed is folded
  into the session item instead (still one write) and the energy settled again;
- 1.6 messages with transaction id -1 (or an id we never issued) are matched by gun and
  time (``shared.domain.sessions``); a StopTransaction nobody can be matched to is kept
  as an ``incomplete`` session rebuilt from its ``transactionData``, which a late
  StartTransaction then adopts;
- 2.0.1 events are kept by seqNo; a transaction is ``completed`` once Started, Ended and
  every seqNo between them have arrived.

The gun's own status is not written here: the pile's StatusNotifications do that.

Paid sessions (``shared/services/paid_charging.py``): a start naming a paid order (1.6
idTag, 2.0.1 remoteStartId / idToken) links the session and its token is accepted; meter
values of a linked session price it and send the stop once at the target or cap; a stop or
Ended resumes the order's workflow. A session nobody paid for costs one more read per start
and per meter value, and no write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from shared.domain.errors import ChargingError, UpstreamFailure
from shared.domain.ocpp.authorization import Authorization, authorize_card
from shared.domain.ocpp.dispatch import CallContext
from shared.domain.ocpp.transactions import (
    DEFAULT_STOP_REASON,
    MAX_TRANSACTION_ID_16,
    EventType,
    MeterValuesReport,
    StartTransaction16,
    StopTransaction16,
    TransactionEvent201,
    meter_values,
    meter_values_response,
    start_response_16,
    start_transaction_16,
    stop_response_16,
    stop_transaction_16,
    transaction_event_201,
    transaction_event_response,
)
from shared.domain.ocpp.versions import OcppVersion
from shared.domain.sessions import (
    MATCH_HORIZON,
    LogEntry,
    MeterSample,
    Session,
    SessionStatus,
    adoptable_orphan,
    gunless_owner,
    is_certain_owner,
    log_entry_key,
    owner_of,
    reading_fit,
    session_energy_wh,
    session_id_for,
    stop_match,
    stop_retry_of,
)
from shared.observability import logger
from shared.services import paid_charging
from shared.services.ocpp.ports import OcppPorts
from shared.services.sessions import (
    SessionStore,
    owned_gun_samples,
    save_change,
    sessions_near,
    settled,
)

MAIN_METER = 0


def session_store(ports: OcppPorts) -> SessionStore:
    """The session store carried by the router's ports."""
    return ports.sessions


def card_check(ctx: CallContext, card_no: str, ports: OcppPorts) -> Authorization:
    """The same check as Authorize (block C): the card item, for this pile's operator."""
    card = ports.piles.find_card(card_no) if card_no else None
    return authorize_card(card, ctx.operator_id)


# --- 1.6 StartTransaction ------------------------------------------------------------------


def start_transaction(
    ctx: CallContext, payload: dict[str, Any], ports: OcppPorts
) -> dict[str, Any]:
    """Open a session (or find the one this start already opened) and answer its id.

    DynamoDB: 1 GetItem (the start's identity), 1 GetItem (card), 1 Query + 1 BatchGetItem
    (the gun's sessions after the start, to adopt an orphan), 2 GetItems (station,
    tariff), 1 UpdateItem (id counter), 3 PutItems (start identity, open marker, session).
    A retry: 2 GetItems + 1 consistent GetItem.

    Raises: OcppFault (impossible timestamp, negative meter), UpstreamFailure.
    """
    request = start_transaction_16(payload)
    card = card_check(ctx, request.id_tag, ports)
    store = session_store(ports)
    identity = request.identity
    known = store.find_start(ctx.pile_id, identity)
    if known is not None:
        session = _finish_start(store, ctx, request, *known)
        card = _paid_start(ports, session, card, id_tag=request.id_tag)
        return start_response_16(int(session.ocpp_transaction_id), card)
    later = [
        s
        for s in sessions_near(store, ctx.pile_id, [request.started_at], gun_no=request.gun_no)
        if s.anchor_at >= request.started_at or s.effective_start == request.started_at
    ]
    retried = _same_start(request, later)
    if retried is not None:
        card = _paid_start(ports, retried, card, id_tag=request.id_tag)
        return start_response_16(int(retried.ocpp_transaction_id), card)
    orphan = adoptable_orphan(request.started_at, request.gun_no, request.id_tag, later)
    if orphan is not None:
        adopted = _adopt(store, ctx, orphan, request)
        # The start's identity now names the adopted session: a retry finds it directly.
        store.remember_start(adopted, identity)
        card = _paid_start(ports, adopted, card, id_tag=request.id_tag)
        return start_response_16(int(adopted.ocpp_transaction_id), card)
    session = _session_16(ctx, request, _allocate(store), _tariff(store, ctx))
    if not store.create(session, start=identity):
        raced = store.find_start(ctx.pile_id, identity)
        if raced is None:
            raise UpstreamFailure("the session could not be created", pile_id=ctx.pile_id)
        session = _finish_start(store, ctx, request, *raced)
    logger.info(
        "session started",
        extra={"session_id": session.session_id, "gun_no": request.gun_no},
    )
    card = _paid_start(ports, session, card, id_tag=request.id_tag)
    return start_response_16(int(session.ocpp_transaction_id), card)


def _finish_start(
    store: SessionStore,
    ctx: CallContext,
    request: StartTransaction16,
    session_id: str,
    transaction_id: str,
) -> Session:
    """The session a start identity names; rebuilt when the start that stored the identity
    stopped before storing the session."""
    session = store.get(session_id, consistent=True)
    if session is not None:
        return session
    rebuilt = _session_16(ctx, request, int(transaction_id), _tariff(store, ctx))
    if not store.create(rebuilt):
        stored = store.get(session_id, consistent=True)
        if stored is None:
            raise UpstreamFailure("the session could not be created", id=session_id)
        return stored
    logger.warning("interrupted start completed", extra={"session_id": session_id})
    return rebuilt


def _same_start(request: StartTransaction16, sessions: Sequence[Session]) -> Session | None:
    for session in sessions:
        if (
            session.started_at == request.started_at
            and session.gun_no == request.gun_no
            and session.meter_start_wh == request.meter_start_wh
            and session.id_tag == request.id_tag
        ):
            return session
    return None


def _session_16(
    ctx: CallContext,
    request: StartTransaction16,
    transaction_id: int,
    tariff: tuple[str | None, int | None],
) -> Session:
    received = ctx.received_at
    return Session(
        session_id=session_id_for(ctx.pile_id, OcppVersion.V16, str(transaction_id)),
        protocol=OcppVersion.V16,
        operator_id=ctx.operator_id,
        pile_id=ctx.pile_id,
        ocpp_transaction_id=str(transaction_id),
        anchor_at=request.started_at,
        created_at=received,
        last_message_at=received,
        station_id=ctx.connection.station_id,
        gun_no=request.gun_no,
        id_tag=request.id_tag,
        tariff_id=tariff[0],
        tariff_version=tariff[1],
        started_at=request.started_at,
        start_received_at=received,
        meter_start_wh=request.meter_start_wh,
    )


def _adopt(
    store: SessionStore, ctx: CallContext, orphan: Session, request: StartTransaction16
) -> Session:
    tariff = _tariff(store, ctx) if orphan.tariff_id is None else (None, None)

    def change(current: Session) -> Session | None:
        if current.is_start_known:
            return None
        started = replace(
            current,
            gun_no=request.gun_no,
            id_tag=current.id_tag or request.id_tag,
            tariff_id=current.tariff_id or tariff[0],
            tariff_version=current.tariff_version or tariff[1],
            started_at=request.started_at,
            start_received_at=ctx.received_at,
            meter_start_wh=request.meter_start_wh,
            last_message_at=ctx.received_at,
        )
        if current.is_open:
            return started
        return settled(store, started, now=ctx.received_at)

    adopted = save_change(store, orphan, change)
    logger.info("orphan session adopted by its start", extra={"session_id": adopted.session_id})
    return adopted


def _allocate(store: SessionStore) -> int:
    transaction_id = store.allocate_transaction_id()
    if not 0 < transaction_id <= MAX_TRANSACTION_ID_16:
        logger.error("1.6 transaction ids exhausted", extra={"transaction_id": transaction_id})
        raise UpstreamFailure("no 1.6 transaction id left")
    return transaction_id


def _tariff(store: SessionStore, ctx: CallContext) -> tuple[str | None, int | None]:
    station_id = ctx.connection.station_id
    tariff = store.station_tariff(station_id) if station_id else None
    if tariff is None:
        logger.warning("session without a tariff", extra={"station_id": station_id})
        return (None, None)
    return (tariff.tariff_id, tariff.version)


# --- 1.6 StopTransaction -------------------------------------------------------------------


def stop_transaction(ctx: CallContext, payload: dict[str, Any], ports: OcppPorts) -> dict[str, Any]:
    """Stop the session, settle its energy and status; a stop for a transaction we cannot
    find is kept as an incomplete session rebuilt from ``transactionData``.

    DynamoDB: 1 GetItem (session; id -1 or unknown: + 1 Query + 1 BatchGetItem of the
    pile's sessions nearby), 1 GetItem (card, when idTag is given), 1 PutItem
    (transactionData, when given), 3 Queries (log, the gun's readings during and after the
    session), 1 PutItem (session) + 1 DeleteItem (open marker). A retry: the reads only.

    Raises: OcppFault, UpstreamFailure.
    """
    request = stop_transaction_16(payload)
    card = card_check(ctx, request.id_tag, ports) if request.id_tag else None
    store = session_store(ports)
    session = None
    if request.transaction_id > 0:
        session = _get(
            store, session_id_for(ctx.pile_id, OcppVersion.V16, str(request.transaction_id))
        )
    if session is None:
        nearby = sessions_near(store, ctx.pile_id, [request.stopped_at])
        session = stop_retry_of(request.stopped_at, request.meter_stop_wh, nearby)
        if session is None:
            session = _match_stop(store, ctx, request, nearby)
        if session is not None:
            logger.info(
                "stop matched by time",
                extra={"session_id": session.session_id, "transaction_id": request.transaction_id},
            )
    if session is None:
        _reconstruct_from_stop(store, ctx, request)
        return stop_response_16(card)
    stopped = _apply_stop(store, ctx, session, request)
    _paid_end(ports, stopped)
    return stop_response_16(card)


def _match_stop(
    store: SessionStore, ctx: CallContext, request: StopTransaction16, nearby: list[Session]
) -> Session | None:
    """``stop_match`` with the register as evidence: the readings an orphan owns so far
    must agree with the stop's own."""
    stop_readings = sorted(
        [(s.sampled_at, s.energy_wh) for s in request.samples if s.energy_wh is not None]
        + [(request.stopped_at, request.meter_stop_wh)]
    )
    # An orphan's own readings from its first evidence on (those before it are its only
    # while no other session claims them).
    evidence = {
        s.session_id: [
            sample
            for sample in owned_gun_samples(store, s, now=ctx.received_at)
            if sample.sampled_at >= s.effective_start
        ]
        for s in nearby
        if not s.is_start_known and not s.is_stop_known and s.gun_no is not None
    }
    return stop_match(
        request.stopped_at,
        request.id_tag,
        nearby,
        first_sample_at=min((s.sampled_at for s in request.samples), default=None),
        stop_readings=stop_readings,
        evidence=evidence,
    )


def _apply_stop(
    store: SessionStore, ctx: CallContext, session: Session, request: StopTransaction16
) -> Session:
    """The session with the stop applied (as it was when it had its stop already)."""
    if session.is_stop_known:
        if (
            session.stopped_at != request.stopped_at
            or session.meter_stop_wh != request.meter_stop_wh
        ):
            logger.warning(
                "second stop for a session ignored", extra={"session_id": session.session_id}
            )
        return session
    if request.samples:
        store.append_log(session.session_id, _entry("StopTransaction", request.samples, ctx))

    def change(current: Session) -> Session | None:
        if current.is_stop_known:
            return None
        stopped = replace(
            current,
            stopped_at=request.stopped_at,
            stop_received_at=ctx.received_at,
            meter_stop_wh=request.meter_stop_wh,
            stop_reason=request.reason,
            stop_id_tag=request.id_tag,
            last_message_at=ctx.received_at,
        )
        if not current.is_start_known and request.samples:
            # An orphan's transactionData says where it began: no further back.
            first = min(sample.sampled_at for sample in request.samples)
            stopped = replace(
                stopped, evidence_from=min(first, current.effective_start), reaches_back=False
            )
        return settled(store, stopped, now=ctx.received_at)

    stopped = save_change(store, session, change)
    logger.info(
        "session stopped",
        extra={
            "session_id": stopped.session_id,
            "energy_wh": stopped.energy_wh,
            "status": stopped.status,
        },
    )
    _resettle_next_orphan(store, stopped, ctx.received_at)
    return stopped


def _resettle_next_orphan(store: SessionStore, stopped: Session, now: datetime) -> None:
    """While this session's stop was unknown it owned every later reading its gun sent
    with id -1; now the session after it owns those after the stop: a gunless orphan
    such a reading falls in takes the gun, and the gun's next orphan is settled again."""
    if stopped.gun_no is None or stopped.stopped_at is None:
        return
    reach = stopped.stopped_at + MATCH_HORIZON
    after_stop = [
        r
        for r in store.gun_readings(stopped.pile_id, stopped.stopped_at, reach)
        if r.gun_no == stopped.gun_no
    ]
    if not after_stop:
        return
    times = [stopped.stopped_at, *(r.sample.sampled_at for r in after_stop)]
    later = [
        s
        for s in sessions_near(store, stopped.pile_id, times, gun_no=stopped.gun_no)
        if s.session_id != stopped.session_id
    ]
    on_gun = [s for s in later if s.gun_no == stopped.gun_no]
    unowned = [r for r in after_stop if owner_of(r.sample.sampled_at, [*on_gun, stopped]) is None]
    claimed = {
        owner.session_id: owner
        for r in unowned
        if (owner := gunless_owner(r.sample, later)) is not None
    }
    for orphan in claimed.values():
        save_change(store, orphan, lambda current: _with_gun(store, current, stopped.gun_no, now))
    following = sorted(
        (
            s
            for s in store.get_many([s.session_id for s in on_gun])
            if s.effective_start > stopped.effective_start
        ),
        key=lambda s: (s.effective_start, s.session_id),
    )
    if not following or following[0].is_start_known or following[0].is_open:
        return
    save_change(store, following[0], lambda current: _resettled(store, current, now))


def _with_gun(
    store: SessionStore, session: Session, gun_no: int | None, now: datetime
) -> Session | None:
    if session.gun_no is not None:
        return None
    return settled(store, replace(session, gun_no=gun_no), now=now)


def _resettled(store: SessionStore, session: Session, now: datetime) -> Session | None:
    fresh = settled(store, session, now=now)
    if fresh.energy_wh == session.energy_wh and fresh.status is session.status:
        return None
    return fresh


def _reconstruct_from_stop(
    store: SessionStore, ctx: CallContext, request: StopTransaction16
) -> None:
    transaction_id = _allocate(store)
    tariff = _tariff(store, ctx)
    times = [sample.sampled_at for sample in request.samples] + [request.stopped_at]
    anchor = min(times)
    session = Session(
        session_id=session_id_for(ctx.pile_id, OcppVersion.V16, str(transaction_id)),
        protocol=OcppVersion.V16,
        operator_id=ctx.operator_id,
        pile_id=ctx.pile_id,
        ocpp_transaction_id=str(transaction_id),
        anchor_at=anchor,
        created_at=ctx.received_at,
        last_message_at=ctx.received_at,
        station_id=ctx.connection.station_id,
        id_tag=request.id_tag,
        tariff_id=tariff[0],
        tariff_version=tariff[1],
        stopped_at=request.stopped_at,
        stop_received_at=ctx.received_at,
        meter_stop_wh=request.meter_stop_wh,
        stop_reason=request.reason,
        stop_id_tag=request.id_tag,
        extra_samples=frozenset(request.samples),
        status=SessionStatus.INCOMPLETE,
        reaches_back=not request.samples,
    )
    session = _with_gun_from_readings(store, session, request.stopped_at)
    session = settled(store, session, now=ctx.received_at)
    store.create(session, is_orphan=True)
    logger.warning(
        "stop for an unknown transaction recorded",
        extra={"session_id": session.session_id, "transaction_id": request.transaction_id},
    )


def _with_gun_from_readings(store: SessionStore, session: Session, stopped_at: datetime) -> Session:
    """A stop names no connector: take the gun from readings sent with id -1 that no
    session owns and that fit the stop's own readings."""
    since = stopped_at - MATCH_HORIZON
    readings = store.gun_readings(session.pile_id, since, stopped_at)
    if not readings:
        return session
    nearby = sessions_near(store, session.pile_id, [r.sample.sampled_at for r in readings])
    guns = set()
    for reading in readings:
        on_gun = [s for s in nearby if s.gun_no == reading.gun_no]
        at = reading.sample.sampled_at
        owner = owner_of(at, on_gun)
        fit = reading_fit(session, reading.sample)
        # transactionData says where the session began: nothing before it is its own.
        is_in_span = session.reaches_back or session.effective_start <= at
        # A reading nobody owns for sure, which this stop's own readings contain, is its.
        if owner is None:
            is_claimed = fit > 0
        else:
            is_claimed = not session.reaches_back and fit == 2 and not is_certain_owner(owner, at)
        if is_in_span and is_claimed:
            guns.add(reading.gun_no)
    return replace(session, gun_no=guns.pop()) if len(guns) == 1 else session


# --- MeterValues (both versions) -----------------------------------------------------------


def meter_values_call(
    ctx: CallContext, payload: dict[str, Any], ports: OcppPorts
) -> dict[str, Any]:
    """Keep the samples: beside their session (1.6 with a transaction id), by gun and time
    (1.6 id -1 or none), or as the pile's own meter values (2.0.1, main meter).

    DynamoDB, open session: 1 GetItem + 1 PutItem. Id -1: 1 Query + 1 BatchGetItem + 1
    write. A late one for a closed session: + 2 Queries, the one write is the session.

    Raises: OcppFault, UpstreamFailure.
    """
    report = meter_values(ctx.version, payload)
    if not report.samples:
        return meter_values_response()
    store = session_store(ports)
    is_transaction_less = report.transaction_id is None and (
        ctx.version is OcppVersion.V201 or report.gun_no == MAIN_METER
    )
    if is_transaction_less:
        store.put_pile_meter(ctx.pile_id, report.gun_no, report.samples, ctx.received_at)
        return meter_values_response()
    if report.transaction_id is not None and report.transaction_id > 0:
        session_id = session_id_for(ctx.pile_id, OcppVersion.V16, str(report.transaction_id))
        session = _get(store, session_id)
        if session is not None:
            record_samples(store, ctx, session, report.samples, "MeterValues")
            if session.is_open:
                _paid_live(ports, session, report.samples)
            return meter_values_response()
    _record_unnamed(store, ctx, report)
    return meter_values_response()


def record_samples(
    store: SessionStore,
    ctx: CallContext,
    session: Session,
    samples: Sequence[MeterSample],
    source: str,
) -> None:
    """One write: the log entry of an open session, or the closed session item itself."""
    if session.is_open:
        store.append_log(session.session_id, _entry(source, samples, ctx))
        return
    _fold_into_closed(store, ctx, session, samples)


def _fold_into_closed(
    store: SessionStore,
    ctx: CallContext,
    session: Session,
    samples: Sequence[MeterSample],
    *,
    gun_no: int | None = None,
    seq_no: int | None = None,
) -> None:
    def change(current: Session) -> Session | None:
        log = store.log(current.session_id)
        known = set(current.extra_samples) | set(log.samples)
        new_samples = frozenset(samples) - known
        is_new_seq = seq_no is not None and seq_no not in current.seq_nos
        is_new_gun = gun_no is not None and current.gun_no is None
        if not new_samples and not is_new_seq and not is_new_gun:
            return None
        folded = replace(
            current,
            extra_samples=current.extra_samples | new_samples,
            seq_nos=current.seq_nos | ({seq_no} if seq_no is not None else set()),
            gun_no=current.gun_no if current.gun_no is not None else gun_no,
            last_message_at=ctx.received_at,
        )
        return settled(store, folded, now=ctx.received_at, log=log)

    save_change(store, session, change)


def _record_unnamed(store: SessionStore, ctx: CallContext, report: MeterValuesReport) -> None:
    """1.6 readings without a usable transaction id, by gun and time.

    A reading whose session is certain (inside a stopped session's span) is folded into
    that session; any other is kept by gun and time (``GUNMETER#``), to be given to its
    session whenever the energy is settled, so a start or stop arriving later still moves
    it where it belongs. A reading no session can own opens an orphan session.
    """
    times = [sample.sampled_at for sample in report.samples]
    nearby = sessions_near(store, ctx.pile_id, times, gun_no=report.gun_no)
    on_gun = [s for s in nearby if s.gun_no == report.gun_no]
    by_id = {s.session_id: s for s in nearby}
    kept: list[MeterSample] = []
    folded: dict[str, list[MeterSample]] = {}
    gunless: dict[str, list[MeterSample]] = {}
    uncertain: set[str] = set()
    unowned: list[MeterSample] = []
    for sample in report.samples:
        owner = owner_of(sample.sampled_at, on_gun)
        if owner is not None:
            if is_certain_owner(owner, sample.sampled_at):
                folded.setdefault(owner.session_id, []).append(sample)
                continue
            kept.append(sample)
            if not owner.is_open:
                uncertain.add(owner.session_id)
            continue
        fitting = gunless_owner(sample, nearby)
        if fitting is not None:
            gunless.setdefault(fitting.session_id, []).append(sample)
        else:
            unowned.append(sample)
    if unowned:
        _open_orphan(store, ctx, report.gun_no, unowned)
        kept.extend(unowned)
    if kept:
        store.put_gun_readings(ctx.pile_id, report.gun_no, kept, ctx.received_at)
    for session_id, samples in folded.items():
        _fold_into_closed(store, ctx, by_id[session_id], samples)
    for session_id, samples in gunless.items():
        _fold_into_closed(store, ctx, by_id[session_id], samples, gun_no=report.gun_no)
    for session_id in uncertain:
        # A stopped orphan reaching back before its first evidence: settle it again.
        save_change(
            store, by_id[session_id], lambda current: _resettled(store, current, ctx.received_at)
        )


def _open_orphan(
    store: SessionStore, ctx: CallContext, gun_no: int, samples: Sequence[MeterSample]
) -> None:
    """An open session for readings with id -1 that no session owns; the readings stay by
    gun and time, so a start arriving later takes them whoever it turns out to be."""
    transaction_id = _allocate(store)
    tariff = _tariff(store, ctx)
    session = Session(
        session_id=session_id_for(ctx.pile_id, OcppVersion.V16, str(transaction_id)),
        protocol=OcppVersion.V16,
        operator_id=ctx.operator_id,
        pile_id=ctx.pile_id,
        ocpp_transaction_id=str(transaction_id),
        anchor_at=min(sample.sampled_at for sample in samples),
        created_at=ctx.received_at,
        last_message_at=ctx.received_at,
        station_id=ctx.connection.station_id,
        gun_no=gun_no,
        tariff_id=tariff[0],
        tariff_version=tariff[1],
    )
    store.create(session, is_orphan=True)
    logger.warning(
        "meter values without a transaction recorded as an orphan session",
        extra={"session_id": session.session_id, "gun_no": gun_no},
    )


# --- 2.0.1 TransactionEvent ----------------------------------------------------------------


def transaction_event(
    ctx: CallContext, payload: dict[str, Any], ports: OcppPorts
) -> dict[str, Any]:
    """Keep the event by seqNo and move the session along Started / Updated / Ended.

    DynamoDB: 1 GetItem (session), 1 GetItem (card, when an idToken is given), then: an
    Updated of an open session is one PutItem (a ``METER#`` item); a first event creates
    the session (2 GetItems for the tariff, PutItems of the open marker and the session);
    Started, Ended and late events rewrite the session item (+ 1 Query of its log when it
    has ended, + 1 DeleteItem of the marker when it closes).

    Raises: OcppFault, UpstreamFailure.
    """
    event = transaction_event_201(payload)
    card = card_check(ctx, event.id_token, ports) if event.id_token else None
    store = session_store(ports)
    session_id = session_id_for(ctx.pile_id, OcppVersion.V201, event.transaction_id)
    session = _get(store, session_id)
    if session is None:
        created = _session_from_event(store, ctx, session_id, event)
        if store.create(created):
            return transaction_event_response(_paid_event(ports, created, event, card, is_new=True))
        session = store.get(session_id, consistent=True)
        if session is None:
            raise UpstreamFailure("the session could not be created", session_id=session_id)
    saved = _apply_event(store, ctx, session, event)
    card = _paid_event(ports, saved, event, card, is_new=False)
    if event.event_type is EventType.UPDATED and saved.is_open:
        _paid_live(ports, saved, event.samples)
    return transaction_event_response(card)


def _session_from_event(
    store: SessionStore, ctx: CallContext, session_id: str, event: TransactionEvent201
) -> Session:
    tariff = _tariff(store, ctx)
    session = Session(
        session_id=session_id,
        protocol=OcppVersion.V201,
        operator_id=ctx.operator_id,
        pile_id=ctx.pile_id,
        ocpp_transaction_id=event.transaction_id,
        anchor_at=event.at,
        created_at=ctx.received_at,
        last_message_at=ctx.received_at,
        station_id=ctx.connection.station_id,
        gun_no=event.gun_no,
        id_tag=event.id_token,
        tariff_id=tariff[0],
        tariff_version=tariff[1],
        remote_start_id=event.remote_start_id,
    )
    # A session with nothing recorded yet takes any event.
    changed = _event_change(session, event, ctx.received_at) or session
    if changed.is_stop_known:
        return replace(changed, status=SessionStatus.INCOMPLETE, energy_wh=_extras_energy(changed))
    return changed


def _extras_energy(session: Session) -> int:
    return session_energy_wh(session, ())


def _event_change(
    session: Session, event: TransactionEvent201, received: datetime
) -> Session | None:
    """The session with the event applied, or None when it holds it already."""
    if event.event_type is EventType.STARTED and session.started_seq_no is not None:
        return None
    if event.event_type is EventType.ENDED and session.ended_seq_no is not None:
        return None
    if event.event_type is EventType.UPDATED and event.seq_no in session.seq_nos:
        return None
    base = replace(
        session,
        last_message_at=received,
        gun_no=session.gun_no if session.gun_no is not None else event.gun_no,
        id_tag=session.id_tag or event.id_token,
        remote_start_id=session.remote_start_id or event.remote_start_id,
        extra_samples=session.extra_samples | frozenset(event.samples),
    )
    if event.event_type is EventType.STARTED:
        return replace(
            base,
            started_at=event.at,
            start_received_at=received,
            started_seq_no=event.seq_no,
            meter_start_wh=_first_register(event.samples),
        )
    if event.event_type is EventType.ENDED:
        return replace(
            base,
            stopped_at=event.at,
            stop_received_at=received,
            ended_seq_no=event.seq_no,
            meter_stop_wh=_last_register(event.samples),
            stop_reason=event.stopped_reason or DEFAULT_STOP_REASON,
            stop_id_tag=event.id_token,
        )
    return replace(base, seq_nos=session.seq_nos | {event.seq_no})


def _apply_event(
    store: SessionStore, ctx: CallContext, session: Session, event: TransactionEvent201
) -> Session:
    """The session with the event applied (an Updated of an open session: as it was)."""
    if event.event_type is EventType.UPDATED and session.is_open:
        store.append_log(session.session_id, _event_entry(event, ctx))
        return session

    def change(current: Session) -> Session | None:
        changed = _event_change(current, event, ctx.received_at)
        if changed is None or (current.is_open and not changed.is_stop_known):
            return changed
        log = store.log(current.session_id)
        if event.event_type is EventType.UPDATED and event.seq_no in log.seq_nos:
            return None  # a retry of an event logged while the session was open
        return settled(store, changed, now=ctx.received_at, log=log)

    saved = save_change(store, session, change)
    if saved.status is not session.status:
        logger.info(
            "session status changed",
            extra={
                "session_id": saved.session_id,
                "status": saved.status,
                "energy_wh": saved.energy_wh,
            },
        )
    return saved


def _first_register(samples: Sequence[MeterSample]) -> int | None:
    readings = sorted((s.sampled_at, s.energy_wh) for s in samples if s.energy_wh is not None)
    return readings[0][1] if readings else None


def _last_register(samples: Sequence[MeterSample]) -> int | None:
    readings = sorted((s.sampled_at, s.energy_wh) for s in samples if s.energy_wh is not None)
    return readings[-1][1] if readings else None


# --- paid charging (shared/services/paid_charging.py) --------------------------------------


def _paid_start(
    ports: OcppPorts,
    session: Session,
    card: Authorization,
    *,
    id_tag: str | None,
    remote_start_id: int | None = None,
) -> Authorization:
    """Link a session its start names to a paid order; the order's token is accepted (no
    card carries it). DynamoDB: 1-2 GetItems; linking: + 2 W (see paid_charging)."""
    paid = paid_charging.ports_of(ports)
    if paid is None:
        return card
    linked = paid_charging.link_started_session(
        paid, session, id_tag=id_tag, remote_start_id=remote_start_id
    )
    return Authorization.ACCEPTED if linked else card


def _paid_event(
    ports: OcppPorts,
    session: Session,
    event: TransactionEvent201,
    card: Authorization | None,
    *,
    is_new: bool,
) -> Authorization | None:
    """2.0.1: the first event, a Started one, one naming a remoteStartId or carrying a
    token no card accepts links the session (its idToken is then accepted); an Ended one
    ends the paid charge."""
    if session.is_stop_known:
        _paid_end(ports, session)
        return card
    # An event carrying a token no card accepts is checked too: a paid session's token is
    # no card, and answering it Unknown could make the pile deauthorize the charge.
    is_start = (
        is_new
        or event.event_type is EventType.STARTED
        or event.remote_start_id is not None
        or (card is not None and card is not Authorization.ACCEPTED)
    )
    if not is_start or not session.is_open:
        return card
    linked = _paid_start(
        ports,
        session,
        card or Authorization.UNKNOWN,
        id_tag=event.id_token or session.id_tag,
        remote_start_id=event.remote_start_id or session.remote_start_id,
    )
    return card if card is None else linked


def _paid_live(ports: OcppPorts, session: Session, samples: Sequence[MeterSample]) -> None:
    """The live cost and stop of a paid session; a failure here never costs the pile its
    answer (its samples are stored): it is logged and the next meter value tries again."""
    paid = paid_charging.ports_of(ports)
    if paid is None or not samples:
        return
    try:
        paid_charging.check_live_charge(paid, session, samples)
    except ChargingError as error:
        logger.error(
            "paid session live check failed",
            extra={"session_id": session.session_id, "code": error.code},
        )


def _paid_end(ports: OcppPorts, session: Session) -> None:
    """Resume the workflow of a paid session that has ended (idempotent: a retried stop
    resumes a workflow the first one could not)."""
    paid = paid_charging.ports_of(ports)
    if paid is None or not session.is_stop_known:
        return
    paid_charging.session_ended(paid, session)


# --- helpers -------------------------------------------------------------------------------


def _get(store: SessionStore, session_id: str) -> Session | None:
    # Half price eventually consistent; a session created a moment ago may not show yet.
    return store.get(session_id) or store.get(session_id, consistent=True)


def _entry(source: str, samples: Sequence[MeterSample], ctx: CallContext) -> LogEntry:
    return LogEntry(
        at=min(sample.sampled_at for sample in samples),
        key=log_entry_key(source, samples),
        source=source,
        samples=tuple(samples),
        received_at=ctx.received_at,
    )


def _event_entry(event: TransactionEvent201, ctx: CallContext) -> LogEntry:
    return LogEntry(
        at=event.at,
        key=f"E{event.seq_no:010d}",
        source="TransactionEvent",
        samples=event.samples,
        received_at=ctx.received_at,
        seq_no=event.seq_no,
        event_type=event.event_type.value,
        trigger_reason=event.trigger_reason,
        charging_state=event.charging_state,
    )
