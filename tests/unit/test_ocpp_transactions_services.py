"""Transaction use cases on the in-memory store: full sessions of both versions, retries,
id -1, stops for unknown transactions, late and out-of-order messages, seqNo gaps, write
counts per message."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.domain.errors import UpstreamFailure
from shared.domain.ocpp.authorization import CardRecord
from shared.domain.ocpp.transactions import start_transaction_16
from shared.domain.ocpp.versions import OcppVersion
from shared.domain.sessions import SessionStatus, TariffRef, session_id_for
from shared.services.ocpp import transactions
from shared.services.ocpp.ports import OcppPorts
from tests.unit.sessions_fakes import NOW, FakeCards, FakeSessionStore, a_context, ports_with

V16, V201 = OcppVersion.V16, OcppVersion.V201
T0 = NOW - timedelta(hours=3)


def ts(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def store() -> FakeSessionStore:
    return FakeSessionStore(tariffs={"st-1": TariffRef("tf-1", 3)})


@pytest.fixture
def ports(store: FakeSessionStore) -> OcppPorts:
    cards = FakeCards(
        {
            "CARD-1": CardRecord("CARD-1", "op-1", "active"),
            "CARD-2": CardRecord("CARD-2", "op-1", "active"),
            "FROZEN": CardRecord("FROZEN", "op-1", "frozen"),
        }
    )
    return ports_with(store, cards)


def start(
    ports: OcppPorts, *, gun: int = 1, meter: int = 1000, minute: float = 0, tag: str = "CARD-1"
) -> dict[str, Any]:
    payload = {"connectorId": gun, "idTag": tag, "meterStart": meter, "timestamp": ts(minute)}
    return transactions.start_transaction(a_context(action="StartTransaction"), payload, ports)


def meter(
    ports: OcppPorts, tx: int | None, readings: list[tuple[float, int]], *, gun: int = 1
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "connectorId": gun,
        "meterValue": [
            {
                "timestamp": ts(minute),
                "sampledValue": [
                    {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                    {"value": "7000", "measurand": "Power.Active.Import", "unit": "W"},
                ],
            }
            for minute, wh in readings
        ],
    }
    if tx is not None:
        payload["transactionId"] = tx
    return transactions.meter_values_call(a_context(), payload, ports)


def stop(
    ports: OcppPorts,
    tx: int,
    *,
    meter_stop: int,
    minute: float,
    tag: str | None = "CARD-1",
    data: list[tuple[float, int]] | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "transactionId": tx,
        "meterStop": meter_stop,
        "timestamp": ts(minute),
    }
    if tag is not None:
        payload["idTag"] = tag
    if data:
        payload["transactionData"] = [
            {"timestamp": ts(minute_), "sampledValue": [{"value": str(wh)}]} for minute_, wh in data
        ]
    return transactions.stop_transaction(a_context(action="StopTransaction"), payload, ports)


def session_of(store: FakeSessionStore, tx: int | str, version: OcppVersion = V16) -> Any:
    return store.sessions[session_id_for("CP-1", version, str(tx))]


# -- 1.6


def test_a_16_session_runs_from_start_to_stop_with_its_energy(
    ports: OcppPorts, store: FakeSessionStore
) -> None:
    answer = start(ports)
    tx = answer["transactionId"]
    for minute, wh in ((1, 1200), (2, 1500), (3, 1900)):
        meter(ports, tx, [(minute, wh)])
    stop(ports, tx, meter_stop=2100, minute=4)

    session = session_of(store, tx)
    assert answer == {"transactionId": 1, "idTagInfo": {"status": "Accepted"}}
    assert session.status is SessionStatus.COMPLETED
    assert session.energy_wh == 1100
    assert (session.tariff_id, session.tariff_version) == ("tf-1", 3)
    assert (session.gun_no, session.id_tag, session.stop_reason) == (1, "CARD-1", "Local")
    assert store.markers == {}


def test_meter_values_cost_one_write_when_the_session_is_open(
    ports: OcppPorts, store: FakeSessionStore
) -> None:
    tx = start(ports)["transactionId"]
    before = store.writes

    meter(ports, tx, [(1, 1200)])

    assert store.writes - before == 1


def test_a_retried_start_gets_the_same_transaction_id(
    ports: OcppPorts, store: FakeSessionStore
) -> None:
    first = start(ports)
    writes = store.writes

    again = start(ports)

    assert again == first
    assert store.writes == writes
    assert len(store.sessions) == 1


def test_a_start_interrupted_after_storing_its_identity_is_finished_by_its_retry(
    ports: OcppPorts, store: FakeSessionStore
) -> None:
    payload = {"connectorId": 1, "idTag": "CARD-1", "meterStart": 1000, "timestamp": ts(0)}
    key = repr(start_transaction_16(payload).identity)
    session_id = session_id_for("CP-1", V16, "41")
    store.timeline[("CP-1", key)] = (session_id, 1, at(0))
    store.lost_starts[session_id] = "41"

    answer = start(ports)

    assert answer["transactionId"] == 41
    assert store.sessions[session_id].status is SessionStatus.ACTIVE
    assert session_id in store.markers


def test_a_start_with_a_frozen_card_is_answered_blocked_and_still_recorded(
    ports: OcppPorts, store: FakeSessionStore
) -> None:
    answer = start(ports, tag="FROZEN")

    assert answer["idTagInfo"] == {"status": "Blocked"}
    assert session_of(store, answer["transactionId"]).status is SessionStatus.ACTIVE


def test_a_retransmitted_meter_values_is_kept_once(
    ports: OcppPorts, store: FakeSessionStore
) -> None:
    tx = start(ports)["transactionId"]

    meter(ports, tx, [(1, 1200)])
    meter(ports, tx, [(1, 1200)])

    assert len(store.logs[session_of(store, tx).session_id]) == 1


def test_a_retried_stop_changes_nothing(ports: OcppPorts, store: FakeSessionStore) -> None:
    tx = start(ports)["transactionId"]
    stop(ports, tx, meter_stop=2000, minute=10)
    writes, session = store.writes, session_of(store, tx)

    stop(ports, tx, meter_stop=2000, minute=10)

    assert store.writes == writes
    assert session_of(store, tx) == session


def test_meter_values_after_the_stop_are_folded_into_the_session_with_one_write(
    ports: OcppPorts, store: FakeSessionStore
) -> None:
    tx = start(ports, meter=9000)["transactionId"]
    stop(ports, tx, meter_stop=300, minute=10)
    assert session_of(store, tx).energy_wh == 300  # a reset, readings unknown yet
    writes = store.writes

    meter(ports, tx, [(5, 9500), (6, 100)])

    assert store.writes - writes == 1
    assert session_of(store, tx).energy_wh == 500 + 100 + 200
    meter(ports, tx, [(5, 9500), (6, 100)])
    assert store.writes - writes == 1


def test_readings_with_id_minus_one_belong_to_the_open_session_of_their_gun(
    ports: OcppPorts, store: FakeSessionStore
) -> None:
    tx = start(ports, meter=9000)["transactionId"]
    other = start(ports, gun=2, meter=50, tag="CARD-2")["transactionId"]
    before = store.writes

    meter(ports, -1, [(5, 9900), (6, 200)])
    meter(ports, None, [(7, 400)])

    assert store.writes - before == 2
    stop(ports, tx, meter_stop=500, minute=10)
    stop(ports, other, meter_stop=80, minute=10, tag="CARD-2")
    assert session_of(store, tx).energy_wh == 900 + 200 + 200 + 100
    assert session_of(store, other).energy_wh == 30


def test_a_stop_with_id_minus_one_stops_the_open_session_of_its_card(
    ports: OcppPorts, store: FakeSessionStore
) -> None:
    start(ports, gun=1, tag="CARD-1")
    other = start(ports, gun=2, meter=0, tag="CARD-2")["transactionId"]

    answer = stop(ports, -1, meter_stop=700, minute=30, tag="CARD-2")

    assert answer == {"idTagInfo": {"status": "Accepted"}}
    assert session_of(store, other).status is SessionStatus.COMPLETED
    assert session_of(store, other).energy_wh == 700
    assert session_of(store, 1).status is SessionStatus.ACTIVE


def test_a_stop_for_an_unknown_transaction_is_rebuilt_from_its_transaction_data(
    ports: OcppPorts, store: FakeSessionStore
) -> None:
    answer = stop(ports, 77, meter_stop=5000, minute=60, data=[(0, 3000), (30, 4000)])

    assert answer == {"idTagInfo": {"status": "Accepted"}}
    [session] = store.sessions.values()
    assert session.status is SessionStatus.INCOMPLETE
    assert session.energy_wh == 2000
    assert session.started_at is None
    assert store.markers == {}
    stop(ports, 77, meter_stop=5000, minute=60, data=[(0, 3000), (30, 4000)])
    assert len(store.sessions) == 1


def test_a_late_start_adopts_the_session_its_stop_rebuilt(
    ports: OcppPorts, store: FakeSessionStore
) -> None:
    stop(ports, -1, meter_stop=5000, minute=60, data=[(30, 4000)])
    [orphan] = store.sessions.values()

    answer = start(ports, meter=3000, minute=0)

    assert answer["transactionId"] == int(orphan.ocpp_transaction_id)
    session = store.sessions[orphan.session_id]
    assert session.status is SessionStatus.COMPLETED
    assert session.energy_wh == 2000
    assert session.gun_no == 1
    assert start(ports, meter=3000, minute=0) == answer
    assert len(store.sessions) == 1


def test_readings_with_id_minus_one_and_no_session_open_an_orphan_a_late_start_adopts(
    ports: OcppPorts, store: FakeSessionStore
) -> None:
    meter(ports, -1, [(10, 1500)])
    [orphan] = store.sessions.values()
    assert orphan.status is SessionStatus.ACTIVE
    meter(ports, -1, [(5, 1200)])  # earlier still: reaches back into the same orphan
    assert len(store.sessions) == 1

    answer = start(ports, meter=1000, minute=0)
    stop(ports, -1, meter_stop=2000, minute=20)

    session = store.sessions[orphan.session_id]
    assert answer["transactionId"] == int(orphan.ocpp_transaction_id)
    assert session.status is SessionStatus.COMPLETED
    assert session.energy_wh == 1000


def test_a_late_reading_for_a_stopped_orphan_takes_the_gun_it_was_sent_on(
    ports: OcppPorts, store: FakeSessionStore
) -> None:
    stop(ports, -1, meter_stop=500, minute=60, data=[(0, 9000)])
    [orphan] = store.sessions.values()
    assert (orphan.gun_no, orphan.energy_wh) == (None, 500)  # 9000 -> 500 reads as a reset

    meter(ports, -1, [(20, 9500), (30, 200)], gun=2)

    session = store.sessions[orphan.session_id]
    assert session.gun_no == 2
    assert session.energy_wh == 500 + 200 + 300


def test_a_reading_before_everything_known_of_an_orphan_opens_another(
    ports: OcppPorts, store: FakeSessionStore
) -> None:
    stop(ports, -1, meter_stop=5000, minute=60)  # no transactionData: its start is unknown

    meter(ports, -1, [(30, 4200)], gun=2)

    assert len(store.sessions) == 2
    assert sum(s.energy_wh for s in store.sessions.values()) == 0


def test_an_orphan_settles_again_when_the_session_before_it_stops(
    ports: OcppPorts, store: FakeSessionStore
) -> None:
    tx = start(ports, meter=100)["transactionId"]
    meter(ports, -1, [(25, 5100)])  # the next session's reading, while the first is open
    stop(ports, -1, meter_stop=5400, minute=40, tag="CARD-2", data=[(21, 5050)])
    [orphan] = [s for s in store.sessions.values() if s.started_at is None]
    assert orphan.energy_wh == 350

    stop(ports, tx, meter_stop=5000, minute=20)

    assert session_of(store, tx).energy_wh == 4900
    settled_orphan = store.sessions[orphan.session_id]
    assert (settled_orphan.gun_no, settled_orphan.energy_wh) == (1, 350)


def test_a_reading_before_a_stopped_orphan_settles_it_again(
    ports: OcppPorts, store: FakeSessionStore
) -> None:
    meter(ports, -1, [(30, 4000)])
    [orphan] = store.sessions.values()
    stop(ports, -1, meter_stop=5000, minute=60, tag="CARD-2")
    assert store.sessions[orphan.session_id].energy_wh == 1000

    meter(ports, -1, [(10, 9000), (20, 100)])  # earlier still, with a meter reset

    assert store.sessions[orphan.session_id].energy_wh == 100 + 3900 + 1000


def test_two_sessions_never_seen_on_one_gun_keep_their_own_readings(
    ports: OcppPorts, store: FakeSessionStore
) -> None:
    # The later one's readings come first (and open an orphan), then an earlier one's
    # reading, then both stops with their transactionData, the later one first.
    meter(ports, -1, [(130, 4500), (140, 4800)], gun=2)
    meter(ports, -1, [(80, 2900)], gun=2)
    stop(ports, -1, meter_stop=5000, minute=150, tag="T-B", data=[(120, 4000), (130, 4500)])
    stop(ports, -1, meter_stop=3000, minute=100, tag="T-A", data=[(60, 2000), (80, 2900)])

    by_tag = {s.stop_id_tag: s for s in store.sessions.values()}
    assert (by_tag["T-A"].gun_no, by_tag["T-A"].energy_wh) == (2, 1000)
    assert (by_tag["T-B"].gun_no, by_tag["T-B"].energy_wh) == (2, 1000)
    assert len(store.sessions) == 2


def test_a_conflicting_write_is_read_again_and_retried(
    ports: OcppPorts, store: FakeSessionStore
) -> None:
    tx = start(ports)["transactionId"]
    store.conflicts_to_inject = 2

    stop(ports, tx, meter_stop=2000, minute=10)

    assert session_of(store, tx).status is SessionStatus.COMPLETED


def test_a_write_that_keeps_conflicting_fails_upstream(
    ports: OcppPorts, store: FakeSessionStore
) -> None:
    tx = start(ports)["transactionId"]
    store.conflicts_to_inject = 10

    with pytest.raises(UpstreamFailure):
        stop(ports, tx, meter_stop=2000, minute=10)


def test_main_meter_values_are_kept_for_the_pile(ports: OcppPorts, store: FakeSessionStore) -> None:
    meter(ports, None, [(1, 123456)], gun=0)

    assert len(store.pile_meters) == 1
    assert store.sessions == {}


def test_meter_values_without_readable_values_write_nothing(
    ports: OcppPorts, store: FakeSessionStore
) -> None:
    payload = {
        "connectorId": 1,
        "transactionId": 5,
        "meterValue": [{"timestamp": ts(1), "sampledValue": [{"value": "x"}]}],
    }

    assert transactions.meter_values_call(a_context(), payload, ports) == {}
    assert store.writes == 0


# -- 2.0.1


def event(
    ports: OcppPorts,
    kind: str,
    seq: int,
    minute: float,
    *,
    wh: int | None = None,
    tx: str = "tx-1",
    token: str | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "eventType": kind,
        "timestamp": ts(minute),
        "triggerReason": "MeterValuePeriodic" if kind == "Updated" else "Authorized",
        "seqNo": seq,
        "transactionInfo": {"transactionId": tx},
        "evse": {"id": 1, "connectorId": 1},
    }
    if wh is not None:
        payload["meterValue"] = [
            {
                "timestamp": ts(minute),
                "sampledValue": [{"value": wh / 1000, "unitOfMeasure": {"unit": "kWh"}}],
            }
        ]
    if token is not None:
        payload["idToken"] = {"idToken": token, "type": "ISO14443"}
    context = a_context(V201, action="TransactionEvent")
    return transactions.transaction_event(context, payload, ports)


def test_a_201_transaction_completes_when_started_updated_and_ended_arrive(
    ports: OcppPorts, store: FakeSessionStore
) -> None:
    answer = event(ports, "Started", 0, 0, wh=1000, token="CARD-1")
    writes = []
    for seq, minute, wh in ((1, 1, 1500), (2, 2, 2000)):
        before = store.writes
        event(ports, "Updated", seq, minute, wh=wh)
        writes.append(store.writes - before)
    event(ports, "Ended", 3, 3, wh=2600)

    session = session_of(store, "tx-1", V201)
    assert answer == {"idTokenInfo": {"status": "Accepted"}}
    assert writes == [1, 1]
    assert session.status is SessionStatus.COMPLETED
    assert session.energy_wh == 1600
    assert (session.meter_start_wh, session.meter_stop_wh) == (1000, 2600)


def test_a_201_transaction_stays_incomplete_until_the_missing_seq_no_arrives(
    ports: OcppPorts, store: FakeSessionStore
) -> None:
    event(ports, "Started", 0, 0, wh=1000)
    event(ports, "Updated", 1, 1, wh=1500)
    event(ports, "Ended", 3, 3, wh=2600)
    assert session_of(store, "tx-1", V201).status is SessionStatus.INCOMPLETE

    event(ports, "Updated", 2, 2, wh=2100)

    session = session_of(store, "tx-1", V201)
    assert session.status is SessionStatus.COMPLETED
    assert session.energy_wh == 1600


def test_a_201_transaction_completes_whatever_order_its_events_come_in(
    ports: OcppPorts, store: FakeSessionStore
) -> None:
    event(ports, "Ended", 3, 3, wh=2600)
    event(ports, "Updated", 2, 2, wh=2100)
    event(ports, "Started", 0, 0, wh=1000)
    assert session_of(store, "tx-1", V201).status is SessionStatus.INCOMPLETE
    event(ports, "Updated", 1, 1, wh=9000)  # a meter reset before 2100
    event(ports, "Updated", 1, 1, wh=9000)

    session = session_of(store, "tx-1", V201)
    assert session.status is SessionStatus.COMPLETED
    assert session.energy_wh == 8000 + 2100 + 500


def test_a_retried_201_event_writes_nothing(ports: OcppPorts, store: FakeSessionStore) -> None:
    event(ports, "Started", 0, 0, wh=1000)
    event(ports, "Ended", 1, 1, wh=2000)
    writes = store.writes

    event(ports, "Started", 0, 0, wh=1000)
    event(ports, "Ended", 1, 1, wh=2000)

    assert store.writes == writes


def test_a_201_updated_before_started_opens_the_session(
    ports: OcppPorts, store: FakeSessionStore
) -> None:
    event(ports, "Updated", 1, 1, wh=1500)

    session = session_of(store, "tx-1", V201)
    assert session.status is SessionStatus.ACTIVE
    assert session.seq_nos == {1}
    assert session.session_id in store.markers


def test_201_meter_values_are_kept_for_the_pile(ports: OcppPorts, store: FakeSessionStore) -> None:
    payload = {"evseId": 1, "meterValue": [{"timestamp": ts(1), "sampledValue": [{"value": 5}]}]}

    transactions.meter_values_call(a_context(V201), payload, ports)

    assert store.pile_meters == [("CP-1", 1, store.pile_meters[0][2])]
    assert store.writes == 1
