"""Offline replay end to end: piles that were offline hand in their queued transaction
messages hours late, shuffled across sessions and piles, 30 % of them twice; in 1.6 some
sessions carry transaction id -1 (the StartTransaction answer was lost, or the
StartTransaction never arrived and the StopTransaction brings the readings in
``transactionData``). A 1.6 pile sends a session's StartTransaction before that session's
other messages (it sends its queue in order; everything else is shuffled); 2.0.1
TransactionEvents come in any order.

20 sessions per version, through real ``ocpp`` ChargePoints on the local stack. Every
message must be answered with a CALLRESULT (the ChargePoint raises on a CALLERROR), and
the stored sessions must hold exactly the energy the piles metered, to the Wh: per
session, per pile, and no session more or less than the piles ran.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from tests.e2e.conformance_support import (
    V16,
    V201,
    OperatorApi,
    Pile,
    Tenant,
    unique,
    wire_at,
)
from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

SESSIONS = 20
PILES = 4
GUNS = 2
DUPLICATED = 0.3
LOST_ANSWER = 0.2  # 1.6: the StartTransaction answer was lost; MeterValues and Stop carry -1
NEVER_SEEN = 0.1  # 1.6: no StartTransaction; -1, and the Stop carries transactionData
HOUR = 3600.0


@dataclass
class MeteredSession:
    """What one pile metered for one session, in the pile's own terms."""

    pile_index: int
    gun_no: int
    card: str
    readings: list[tuple[str, int]]  # (pile's timestamp, register Wh): start first, stop last
    kind: str = "known"  # 1.6: known | lost_answer | never_seen
    transaction_id: Any = None  # 1.6: the platform's answer; 2.0.1: the pile's own id
    is_started: bool = False  # its StartTransaction was sent

    @property
    def energy_wh(self) -> int:
        return self.readings[-1][1] - self.readings[0][1]


@dataclass
class Message:
    session: MeteredSession
    send: Callable[[Pile], Any]
    needs_start: bool = False
    answers: list[Any] = field(default_factory=list)


def _metered_sessions(rng: random.Random, cards: list[str]) -> list[MeteredSession]:
    """Sessions one after another on each gun, the register continuing between them."""
    now = time.time()  # one clock for every message: a retransmission repeats its timestamps
    sessions = []
    register = {(pile, gun): rng.randrange(0, 500_000) for pile in range(PILES) for gun in (1, 2)}
    for index in range(SESSIONS):
        pile_index, gun_no = index % PILES, (index // PILES) % GUNS + 1
        slot = index // (PILES * GUNS)  # the gun's first, second, ... session
        start_s = -12 * HOUR + slot * 3 * HOUR + rng.randrange(0, 600)
        wh = register[(pile_index, gun_no)]
        readings = [(start_s, wh)]
        for step in range(1, 4):  # three MeterValues, then the stop an hour after the start
            wh += rng.randrange(500, 4_000)
            readings.append((start_s + step * 900, wh))
        wh += rng.randrange(0, 2_000)
        readings.append((start_s + HOUR, wh))
        register[(pile_index, gun_no)] = wh + rng.randrange(0, 50)  # idle consumption
        sessions.append(
            MeteredSession(
                pile_index,
                gun_no,
                cards[index],
                [(wire_at(now + offset_s), reading) for offset_s, reading in readings],
            )
        )
    return sessions


def _deliver(messages: list[Message], piles: list[Pile], rng: random.Random) -> None:
    """Send in a shuffled order (a 1.6 session's messages only after its StartTransaction);
    30 % of the messages are sent twice, the copy a few messages later."""
    queue = list(messages)
    rng.shuffle(queue)
    for message in list(queue):
        if rng.random() < DUPLICATED:
            queue.insert(min(len(queue), queue.index(message) + rng.randrange(1, 8)), message)
    waiting: list[Message] = []
    while queue or waiting:
        ready = [m for m in waiting if m.session.is_started]
        for message in ready:
            waiting.remove(message)
            queue.insert(0, message)
        if not queue:
            raise AssertionError("messages wait for a StartTransaction nobody will send")
        message = queue.pop(0)
        if message.needs_start and not message.session.is_started:
            waiting.append(message)
            continue
        message.answers.append(message.send(piles[message.session.pile_index]))


@pytest.fixture(scope="module")
def tenant(local_stack: RunningStack) -> Tenant:
    return Tenant.create(OperatorApi(local_stack), "Replay")


@pytest.fixture
def piles_of(local_stack: RunningStack, tenant: Tenant) -> Iterator[Callable[[str], list[Pile]]]:
    opened: list[Pile] = []

    def open_piles(protocol: str) -> list[Pile]:
        for _ in range(PILES):
            pile = Pile(local_stack, tenant.new_pile(protocol, gun_count=GUNS), protocol)
            opened.append(pile)
            boot = (
                call16.BootNotification(charge_point_vendor="Replay", charge_point_model="R16")
                if protocol == V16
                else call201.BootNotification(
                    charging_station={"vendor_name": "Replay", "model": "R201"},
                    reason="PowerUp",
                )
            )
            assert pile.call(boot).status == "Accepted"
        return opened[-PILES:]

    yield open_piles
    for pile in opened:
        pile.close()


def _register_16(at: str, wh: int) -> dict[str, Any]:
    return {
        "timestamp": at,
        "sampled_value": [
            {
                "value": str(wh),
                "measurand": "Energy.Active.Import.Register",
                "unit": "Wh",
                "context": "Sample.Periodic",
            }
        ],
    }


def _messages_16(session: MeteredSession) -> list[Message]:
    (start_at, start_wh), *middle, (stop_at, stop_wh) = session.readings

    def start(pile: Pile) -> Any:
        answer = pile.call(
            call16.StartTransaction(
                connector_id=session.gun_no,
                id_tag=session.card,
                meter_start=start_wh,
                timestamp=start_at,
            )
        )
        assert answer.transaction_id > 0
        if session.kind == "known":
            session.transaction_id = answer.transaction_id
        session.is_started = True
        return answer

    def transaction_id() -> int:
        return int(session.transaction_id) if session.kind == "known" else -1

    def meter(at: str, wh: int) -> Callable[[Pile], Any]:
        return lambda pile: pile.call(
            call16.MeterValues(
                connector_id=session.gun_no,
                transaction_id=transaction_id(),
                meter_value=[_register_16(at, wh)],
            )
        )

    def stop(pile: Pile) -> Any:
        return pile.call(
            call16.StopTransaction(
                transaction_id=transaction_id(),
                meter_stop=stop_wh,
                timestamp=stop_at,
                id_tag=session.card,
                reason="Local",
                transaction_data=(
                    [_register_16(at, wh) for at, wh in session.readings]
                    if session.kind == "never_seen"
                    else None
                ),
            )
        )

    if session.kind == "never_seen":
        return [Message(session, meter(at, wh)) for at, wh in middle] + [Message(session, stop)]
    return [
        Message(session, start),
        *[Message(session, meter(at, wh), needs_start=True) for at, wh in middle],
        Message(session, stop, needs_start=True),
    ]


def test_replayed_1_6_sessions_store_exactly_the_metered_energy(
    local_stack: RunningStack, tenant: Tenant, piles_of: Callable[[str], list[Pile]]
) -> None:
    rng = random.Random(16)
    cards = [tenant.new_card() for _ in range(SESSIONS)]
    sessions = _metered_sessions(rng, cards)
    odd = rng.sample(sessions, round(SESSIONS * (LOST_ANSWER + NEVER_SEEN)))
    for index, session in enumerate(odd):
        session.kind = "lost_answer" if index < round(SESSIONS * LOST_ANSWER) else "never_seen"
    piles = piles_of(V16)
    messages = [message for session in sessions for message in _messages_16(session)]

    _deliver(messages, piles, rng)

    assert all(message.answers for message in messages)  # every one answered, none refused
    for pile_index, pile in enumerate(piles):
        metered = [s for s in sessions if s.pile_index == pile_index]
        stored = tenant.sessions(pile.pile_id)
        assert len(stored) == len(metered), pile.pile_id
        assert sum(s["energy_wh"] for s in stored) == sum(m.energy_wh for m in metered)
        by_stop = {s.get("stopped_at"): s for s in stored}
        for session in metered:
            item = by_stop[session.readings[-1][0]]
            assert item["energy_wh"] == session.energy_wh, (session.kind, session.card)
            assert item["gun_no"] == session.gun_no, (session.kind, session.card)
            # A session whose start never arrived is kept, and flagged: its start is unknown.
            expected = "incomplete" if session.kind == "never_seen" else "completed"
            assert item["status"] == expected, (session.kind, session.card)
            if session.kind == "known":
                assert item["ocpp_transaction_id"] == str(session.transaction_id)


def _sender(payload: Any) -> Callable[[Pile], Any]:
    return lambda pile: pile.call(payload)


def _messages_201(session: MeteredSession) -> list[Message]:
    session.transaction_id = unique("replay")
    readings = session.readings
    events = []
    for seq_no, (at, wh) in enumerate(readings):
        if seq_no == 0:
            event_type, trigger, context = "Started", "Authorized", "Transaction.Begin"
        elif seq_no == len(readings) - 1:
            event_type, trigger, context = "Ended", "StopAuthorized", "Transaction.End"
        else:
            event_type, trigger, context = "Updated", "MeterValuePeriodic", "Sample.Periodic"
        info: dict[str, Any] = {"transaction_id": session.transaction_id}
        if event_type == "Ended":
            info["stopped_reason"] = "Local"
        payload = call201.TransactionEvent(
            event_type=event_type,
            timestamp=at,
            trigger_reason=trigger,
            seq_no=seq_no,
            transaction_info=info,
            offline=True,
            evse={"id": session.gun_no, "connector_id": 1},
            id_token={"id_token": session.card, "type": "ISO14443"} if seq_no == 0 else None,
            meter_value=[
                {
                    "timestamp": at,
                    "sampled_value": [
                        {
                            "value": wh,
                            "measurand": "Energy.Active.Import.Register",
                            "unit_of_measure": {"unit": "Wh"},
                            "context": context,
                        }
                    ],
                }
            ],
        )
        events.append(Message(session, _sender(payload)))
    return events


def test_replayed_2_0_1_transactions_store_exactly_the_metered_energy(
    local_stack: RunningStack, tenant: Tenant, piles_of: Callable[[str], list[Pile]]
) -> None:
    rng = random.Random(201)
    cards = [tenant.new_card() for _ in range(SESSIONS)]
    sessions = _metered_sessions(rng, cards)
    piles = piles_of(V201)
    messages = [message for session in sessions for message in _messages_201(session)]

    _deliver(messages, piles, rng)

    assert all(message.answers for message in messages)
    for pile_index, pile in enumerate(piles):
        metered = {s.transaction_id: s for s in sessions if s.pile_index == pile_index}
        stored = {s["ocpp_transaction_id"]: s for s in tenant.sessions(pile.pile_id)}
        assert stored.keys() == metered.keys(), pile.pile_id
        for transaction_id, session in metered.items():
            assert stored[transaction_id]["status"] == "completed", transaction_id
            assert stored[transaction_id]["energy_wh"] == session.energy_wh, transaction_id
            assert stored[transaction_id]["id_tag"] == session.card, transaction_id
