"""Offline replay: piles that were offline deliver their queued transaction messages late,
shuffled, 30 % of them twice, some 1.6 ones with transaction id -1, through the router's
lambda_handler on moto. Every message must get a CALLRESULT and every session's stored
energy must equal what its pile metered, to the Wh.

How the piles behave (OCPP 1.6 §4.8 / 2.0.1 E04, and what piles in the field do):

- 1.6, id known: the queued StartTransaction goes first; the pile then sends that
  session's queued messages with the id it got, shuffled among everything else;
- 1.6, answer lost: the StartTransaction reached the platform but its answer never came
  back; the session's MeterValues and StopTransaction carry -1, and the pile retries the
  StartTransaction later;
- 1.6, never seen: the StartTransaction never arrives; MeterValues carry -1 and the
  StopTransaction (with its card and full ``transactionData``) is all the platform gets;
- 2.0.1: TransactionEvents (Started, Updated..., Ended, by seqNo) in any order.

Registers sometimes reset mid-session. ``SESSIONS_PER_VERSION`` sets the size (the bench
raises it through ``OFFLINE_REPLAY_SESSIONS``). The sessions run in independent chunks of
``SESSIONS_PER_CHUNK`` (their own piles, their own fresh tables): piles do not share
sessions, and moto answers a Query in time proportional to the whole table.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.domain.clock import to_wire
from tests.conftest import FixedClock
from tests.integration.test_ocpp_router_support import pile_side
from tests.integration.test_ocpp_transactions_support import (
    TransactionSide,
    meter_value,
    transaction_side,
)

__all__ = ["pile_side", "transaction_side"]

SESSIONS_PER_VERSION = int(os.environ.get("OFFLINE_REPLAY_SESSIONS", "500"))
SESSIONS_PER_CHUNK = 50
CHUNKS = max(1, -(-SESSIONS_PER_VERSION // SESSIONS_PER_CHUNK))
SESSIONS_PER_PILE = 25
GUNS = 2
DUPLICATE_SHARE = 0.3
LOST_ANSWER_SHARE = 0.15
NEVER_SEEN_SHARE = 0.08
RESET_SHARE = 0.05
METERED_FROM = datetime(2026, 10, 20, 0, 0, tzinfo=UTC)  # delivered about 12 days late
SEED = 20261101


@dataclass
class MeteredSession:
    """What one pile metered in one session, and the messages it queued for it."""

    pile_id: str
    gun_no: int
    kind: str  # known | lost_answer | never_seen | v201
    tag: str
    readings: list[tuple[datetime, int]]
    energy_wh: int
    transaction_id: int | str | None = None
    messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def metered_readings(rng: random.Random, start: datetime) -> tuple[list[tuple[datetime, int]], int]:
    """Register readings every few minutes, with the odd reset, and the true energy."""
    register = rng.randint(1_000_000, 9_000_000)
    readings, energy, at = [(start, register)], 0, start
    for _ in range(rng.randint(2, 6)):
        at += timedelta(minutes=rng.randint(3, 20), seconds=rng.randint(0, 59))
        added = rng.randint(0, 9_000)
        if rng.random() < RESET_SHARE and added < register:
            # The meter restarted from 0 and counted ``added`` (a drop shows the reset).
            register = added
        else:
            register += added
        energy += added
        readings.append((at, register))
    return readings, energy


def plan_piles(
    rng: random.Random, version: str, count: int, chunk: int = 0
) -> list[MeteredSession]:
    sessions: list[MeteredSession] = []
    piles = max(1, -(-count // SESSIONS_PER_PILE))
    for pile_no in range(piles):
        pile_id = f"RP{version[-3:].replace('.', '')}-{chunk:03d}-{pile_no:03d}"
        clocks = {gun: METERED_FROM + timedelta(minutes=rng.randint(0, 120)) for gun in (1, 2)}
        for index in range(min(SESSIONS_PER_PILE, count - len(sessions))):
            gun = index % GUNS + 1
            start = clocks[gun]
            readings, energy = metered_readings(rng, start)
            clocks[gun] = readings[-1][0] + timedelta(minutes=rng.randint(2, 40))
            kind = "v201"
            if version == "ocpp1.6":
                draw = rng.random()
                kind = (
                    "never_seen"
                    if draw < NEVER_SEEN_SHARE
                    else "lost_answer"
                    if draw < NEVER_SEEN_SHARE + LOST_ANSWER_SHARE
                    else "known"
                )
            session = MeteredSession(
                pile_id, gun, kind, f"T{pile_no:03d}{index:03d}", readings, energy
            )
            if kind == "v201":
                session.transaction_id = f"{pile_id}-tx-{index:04d}"
            session.messages = queued_messages(rng, session, version)
            sessions.append(session)
    return sessions


def queued_messages(
    rng: random.Random, session: MeteredSession, version: str
) -> list[tuple[str, dict[str, Any]]]:
    (start_at, start_wh), middle, (stop_at, stop_wh) = (
        session.readings[0],
        session.readings[1:-1],
        session.readings[-1],
    )
    if version == "ocpp2.0.1":
        return transaction_events(session)
    messages: list[tuple[str, dict[str, Any]]] = []
    if session.kind != "never_seen":
        messages.append(
            (
                "StartTransaction",
                {
                    "connectorId": session.gun_no,
                    "idTag": session.tag,
                    "meterStart": start_wh,
                    "timestamp": to_wire(start_at),
                },
            )
        )
    batch: list[tuple[datetime, int]] = []
    for reading in middle:
        batch.append(reading)
        if len(batch) >= rng.randint(1, 2):
            messages.append(("MeterValues", {"connectorId": session.gun_no, "_readings": batch}))
            batch = []
    if batch:
        messages.append(("MeterValues", {"connectorId": session.gun_no, "_readings": batch}))
    stop: dict[str, Any] = {
        "meterStop": stop_wh,
        "timestamp": to_wire(stop_at),
        "idTag": session.tag,
        "reason": "Local",
    }
    if session.kind == "never_seen":
        stop["transactionData"] = [
            meter_value("ocpp1.6", minutes_of(at), wh) for at, wh in session.readings
        ]
    messages.append(("StopTransaction", stop))
    return messages


def minutes_of(at: datetime) -> float:
    return (at - datetime(2026, 11, 1, 0, 0, tzinfo=UTC)).total_seconds() / 60


def transaction_events(session: MeteredSession) -> list[tuple[str, dict[str, Any]]]:
    events = []
    last = len(session.readings) - 1
    for seq, (at, wh) in enumerate(session.readings):
        kind = "Started" if seq == 0 else "Ended" if seq == last else "Updated"
        payload: dict[str, Any] = {
            "eventType": kind,
            "timestamp": to_wire(at),
            "triggerReason": {"Started": "Authorized", "Ended": "EVDeparted"}.get(
                kind, "MeterValuePeriodic"
            ),
            "seqNo": seq,
            "offline": True,
            "transactionInfo": {"transactionId": session.transaction_id},
            "meterValue": [meter_value("ocpp2.0.1", minutes_of(at), wh)],
        }
        if kind == "Started":
            payload["evse"] = {"id": session.gun_no, "connectorId": 1}
            payload["idToken"] = {"idToken": session.tag, "type": "ISO14443"}
        if kind == "Ended":
            payload["transactionInfo"]["stoppedReason"] = "EVDisconnected"
        events.append(("TransactionEvent", payload))
    return events


def delivery_order(
    rng: random.Random, sessions: list[MeteredSession]
) -> list[tuple[MeteredSession, str, dict[str, Any]]]:
    """One pile's queue as it reaches the platform: shuffled, 30 % repeated later; a 1.6
    session's first StartTransaction ahead of its own other messages (the pile sent it
    before it lost its answer, or waited for the answer to learn the id)."""
    queue = [(s, action, payload) for s in sessions for action, payload in s.messages]
    rng.shuffle(queue)
    for session in sessions:
        positions = [i for i, (s, _, _) in enumerate(queue) if s is session]
        starts = [i for i in positions if queue[i][1] == "StartTransaction"]
        if starts and starts[0] != positions[0]:
            queue[starts[0]], queue[positions[0]] = queue[positions[0]], queue[starts[0]]
    keyed = [(float(index), entry) for index, entry in enumerate(queue)]
    keyed += [
        (rng.uniform(index + 0.5, len(queue)), entry)
        for index, entry in enumerate(queue)
        if rng.random() < DUPLICATE_SHARE
    ]
    keyed.sort(key=lambda pair: pair[0])
    return [entry for _, entry in keyed]


def wire_payload(session: MeteredSession, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as the pile sends it: with the transaction id it knows, or -1."""
    known = session.kind == "known"
    transaction_id = session.transaction_id if known else -1
    if action == "MeterValues":
        return {
            "connectorId": payload["connectorId"],
            "transactionId": transaction_id,
            "meterValue": [
                meter_value("ocpp1.6", minutes_of(at), wh) for at, wh in payload["_readings"]
            ],
        }
    if action == "StopTransaction":
        return {**payload, "transactionId": transaction_id}
    return payload


def replay(
    side: TransactionSide,
    clock: FixedClock,
    version: str,
    sessions: list[MeteredSession],
    seed: int,
) -> list[Any]:
    rng = random.Random(seed)
    piles = sorted({s.pile_id for s in sessions})
    connections = {}
    for pile_id in piles:
        connection_id = f"conn-{pile_id}"
        side.side.put_pile(pile_id, protocol=version, gun_count=GUNS)
        assert side.side.connect(pile_id, connection_id=connection_id)["statusCode"] == 200
        assert side.side.boot(connection_id, version)[2]["status"] == "Accepted"
        connections[pile_id] = connection_id
    answers = []
    queues = {
        pile_id: delivery_order(rng, [s for s in sessions if s.pile_id == pile_id])
        for pile_id in piles
    }
    # Piles come back one after another, each replaying its whole queue.
    for pile_id in piles:
        for session, action, payload in queues[pile_id]:
            clock.advance(seconds=1)
            answer = side.call(connections[pile_id], action, wire_payload(session, action, payload))
            answers.append(answer)
            if action == "StartTransaction" and answer[0] == 3 and session.kind != "v201":
                if session.transaction_id is None:
                    session.transaction_id = answer[2]["transactionId"]
                assert session.transaction_id == answer[2]["transactionId"]
    return answers


def stored_sessions(side: TransactionSide, pile_ids: set[str]) -> dict[str, list[dict[str, Any]]]:
    return {pile_id: side.sessions_of(pile_id) for pile_id in pile_ids}


def chunk_size(chunk: int) -> int:
    return min(SESSIONS_PER_CHUNK, SESSIONS_PER_VERSION - chunk * SESSIONS_PER_CHUNK)


@pytest.mark.parametrize("chunk", range(CHUNKS))
@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
def test_late_shuffled_and_repeated_sessions_keep_their_metered_energy(
    transaction_side: TransactionSide, clock: FixedClock, version: str, chunk: int
) -> None:
    seed = SEED + 1000 * chunk + (0 if version == "ocpp1.6" else 1)
    sessions = plan_piles(random.Random(seed), version, chunk_size(chunk), chunk)

    answers = replay(transaction_side, clock, version, sessions, seed + 500)

    assert [a for a in answers if a[0] != 3] == []
    stored = stored_sessions(transaction_side, {s.pile_id for s in sessions})
    for pile_id, items in stored.items():
        metered = [s for s in sessions if s.pile_id == pile_id]
        assert len(items) == len(metered), pile_id
        by_stop = {item.get("stopped_at"): item for item in items}
        for session in metered:
            item = by_stop.get(to_wire(session.readings[-1][0]))
            assert item is not None, (pile_id, session.kind, session.tag)
            assert item["energy_wh"] == session.energy_wh, (pile_id, session.kind, session.tag)
            expected = "incomplete" if session.kind == "never_seen" else "completed"
            assert item["status"] == expected, (pile_id, session.kind, session.tag)
            assert item.get("gun_no") == session.gun_no
            if session.kind in ("known", "lost_answer", "v201"):
                assert item["ocpp_transaction_id"] == str(session.transaction_id)
    assert sum(item["energy_wh"] for items in stored.values() for item in items) == sum(
        s.energy_wh for s in sessions
    )
