"""Transactions through the router's lambda_handler on moto: whole sessions of both
versions, what is stored, retries, id -1, unknown transactions, out-of-order events, and
the DynamoDB writes each message costs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_ocpp_router_support import OPERATOR, STATION, PileSide
from tests.integration.test_ocpp_transactions_support import (
    TARIFF,
    TransactionSide,
    event_201,
    meter_16,
    pile_side,
    start_16,
    stop_16,
    transaction_side,
    ts,
)

__all__ = ["pile_side", "transaction_side"]

V16, V201 = "ocpp1.6", "ocpp2.0.1"


@pytest.fixture
def pile16(transaction_side: TransactionSide) -> TransactionSide:
    transaction_side.side.online("CP-16", V16)
    transaction_side.side.put_card("CARD-1", "active")
    transaction_side.side.put_card("CARD-2", "active")
    transaction_side.put_station_tariff()
    return transaction_side


@pytest.fixture
def pile201(transaction_side: TransactionSide) -> TransactionSide:
    transaction_side.side.online("CP-201", V201)
    transaction_side.side.put_card("CARD-1", "active")
    transaction_side.put_station_tariff()
    return transaction_side


# -- OCPP 1.6


def test_a_16_session_is_stored_from_start_to_stop(pile16: TransactionSide) -> None:
    answer = pile16.result("conn-1", "StartTransaction", start_16(1, "CARD-1", 10_000, 0))
    tx = answer["transactionId"]
    for minute in range(1, 4):
        pile16.result("conn-1", "MeterValues", meter_16(1, tx, [(minute, 10_000 + 500 * minute)]))
    stopped = pile16.result("conn-1", "StopTransaction", stop_16(tx, 12_000, 4, "CARD-1"))

    session = pile16.session("CP-16", V16, tx)
    assert answer["idTagInfo"] == {"status": "Accepted"}
    assert isinstance(tx, int) and 0 < tx < 2**31
    assert stopped == {"idTagInfo": {"status": "Accepted"}}
    assert session["status"] == "completed"
    assert session["energy_wh"] == 2000
    assert (session["ocpp_transaction_id"], session["gun_no"], session["id_tag"]) == (
        str(tx),
        1,
        "CARD-1",
    )
    assert (session["operator_id"], session["station_id"]) == (OPERATOR, STATION)
    assert (session["tariff_id"], session["tariff_version"]) == (TARIFF, 4)
    assert (session["started_at"], session["stopped_at"]) == (ts(0), ts(4))
    assert session["start_received_at"] == "2026-11-01T02:00:00.000Z"
    assert (session["meter_start_wh"], session["meter_stop_wh"]) == (10_000, 12_000)
    assert session["stop_reason"] == "Local"
    items = pile16.items(f"SESSION#{session['session_id']}")
    assert sorted(item["sk"][:6] for item in items) == ["METER#"] * 3 + ["SESSIO"]


def test_each_message_costs_the_documented_writes_16(pile16: TransactionSide) -> None:
    start_writes = pile16.writes_of("conn-1", "StartTransaction", start_16(1, "CARD-1", 0, 0))
    [session] = pile16.sessions_of("CP-16")
    tx = int(session["ocpp_transaction_id"])
    meter_writes = [
        pile16.writes_of("conn-1", "MeterValues", meter_16(1, tx, [(m, 100 * m)]))
        for m in range(1, 4)
    ]
    stop_writes = pile16.writes_of("conn-1", "StopTransaction", stop_16(tx, 400, 4))
    late_writes = pile16.writes_of("conn-1", "MeterValues", meter_16(1, tx, [(3.5, 350)]))

    assert start_writes == 4  # id counter, start identity, open marker, session
    assert meter_writes == [1, 1, 1]
    assert stop_writes == 2  # session, open marker deleted
    assert late_writes == 1  # folded into the closed session


def test_a_retried_start_gets_the_same_transaction_id_16(pile16: TransactionSide) -> None:
    first = pile16.result("conn-1", "StartTransaction", start_16(1, "CARD-1", 500, 0))

    pile16.counter.reset()
    again = pile16.result("conn-1", "StartTransaction", start_16(1, "CARD-1", 500, 0))

    assert again == first
    assert pile16.counter.writes == 0
    assert len(pile16.sessions_of("CP-16")) == 1


def test_transaction_ids_are_unique_across_piles(pile16: TransactionSide) -> None:
    pile16.side.put_pile("CP-16B", protocol=V16)
    pile16.side.connect("CP-16B", connection_id="conn-2")
    pile16.side.boot("conn-2", V16)

    ids = {
        pile16.result(conn, "StartTransaction", start_16(1, "CARD-1", 0, m))["transactionId"]
        for conn in ("conn-1", "conn-2")
        for m in range(3)
    }

    assert len(ids) == 6


def test_an_unknown_card_is_answered_invalid_and_the_session_still_recorded(
    pile16: TransactionSide,
) -> None:
    answer = pile16.result("conn-1", "StartTransaction", start_16(1, "NOBODY", 0, 0))

    assert answer["idTagInfo"] == {"status": "Invalid"}
    assert pile16.session("CP-16", V16, answer["transactionId"])["status"] == "active"


def test_id_minus_one_messages_are_matched_to_the_session_on_their_gun(
    pile16: TransactionSide,
) -> None:
    tx = pile16.result("conn-1", "StartTransaction", start_16(2, "CARD-2", 1_000, 0))[
        "transactionId"
    ]

    pile16.result("conn-1", "MeterValues", meter_16(2, -1, [(5, 1_800)]))
    pile16.result("conn-1", "MeterValues", meter_16(2, None, [(6, 2_100)]))
    answer = pile16.result("conn-1", "StopTransaction", stop_16(-1, 2_500, 10, "CARD-2"))

    session = pile16.session("CP-16", V16, tx)
    assert answer == {"idTagInfo": {"status": "Accepted"}}
    assert session["status"] == "completed"
    assert session["energy_wh"] == 1_500
    assert len(pile16.sessions_of("CP-16")) == 1


def test_a_stop_for_a_transaction_never_seen_is_recorded_incomplete(
    pile16: TransactionSide,
) -> None:
    payload = stop_16(4242, 9_000, 60, "CARD-1", data=[(0, 6_000), (30, 7_500)])

    first = pile16.result("conn-1", "StopTransaction", payload)
    again = pile16.result("conn-1", "StopTransaction", payload)

    [session] = pile16.sessions_of("CP-16")
    assert first == again == {"idTagInfo": {"status": "Accepted"}}
    assert session["status"] == "incomplete"
    assert session["energy_wh"] == 3_000
    assert "started_at" not in session


def test_a_late_start_completes_the_session_its_stop_rebuilt(pile16: TransactionSide) -> None:
    pile16.result("conn-1", "StopTransaction", stop_16(-1, 9_000, 60, "CARD-1", data=[(30, 7_000)]))
    [orphan] = pile16.sessions_of("CP-16")

    answer = pile16.result("conn-1", "StartTransaction", start_16(1, "CARD-1", 6_000, 0))

    [session] = pile16.sessions_of("CP-16")
    assert answer["transactionId"] == int(orphan["ocpp_transaction_id"])
    assert session["status"] == "completed"
    assert session["energy_wh"] == 3_000


def test_a_bad_start_is_refused_and_changes_nothing(pile16: TransactionSide) -> None:
    before = pile16.side.snapshot()

    missing = pile16.call("conn-1", "StartTransaction", {"connectorId": 1, "idTag": "C"})
    negative = pile16.call("conn-1", "StartTransaction", start_16(1, "CARD-1", -5, 0))
    bad_time = pile16.call(
        "conn-1",
        "StartTransaction",
        {"connectorId": 1, "idTag": "C", "meterStart": 1, "timestamp": "2026-02-30T00:00:00Z"},
    )

    assert missing[2] == "OccurenceConstraintViolation"
    assert negative[2] == "PropertyConstraintViolation"
    assert bad_time[2] == "PropertyConstraintViolation"
    assert pile16.side.snapshot() == before


def test_main_meter_values_are_kept_for_the_pile_with_one_write(pile16: TransactionSide) -> None:
    writes = pile16.writes_of("conn-1", "MeterValues", meter_16(0, None, [(1, 99_000)]))

    items = pile16.items("PILE#CP-16")
    assert writes == 1
    assert [item["kind"] for item in items if item["sk"].startswith("METER#")] == ["pile_meter"]


# -- OCPP 2.0.1


def test_a_201_session_is_stored_from_started_to_ended(pile201: TransactionSide) -> None:
    started = pile201.result(
        "conn-1", "TransactionEvent", event_201("Started", 0, "tx-a", 0, wh=5_000, token="CARD-1")
    )
    writes = [
        pile201.writes_of(
            "conn-1",
            "TransactionEvent",
            event_201("Updated", seq, "tx-a", seq, wh=5_000 + 400 * seq),
        )
        for seq in range(1, 4)
    ]
    ended = pile201.result(
        "conn-1",
        "TransactionEvent",
        event_201("Ended", 4, "tx-a", 4, wh=7_000, token="CARD-1", reason="Remote"),
    )

    session = pile201.session("CP-201", V201, "tx-a")
    assert started == ended == {"idTokenInfo": {"status": "Accepted"}}
    assert writes == [1, 1, 1]
    assert session["status"] == "completed"
    assert session["energy_wh"] == 2_000
    assert (session["started_seq_no"], session["ended_seq_no"]) == (0, 4)
    assert (session["stop_reason"], session["gun_no"]) == ("Remote", 1)
    assert (session["tariff_id"], session["tariff_version"]) == (TARIFF, 4)


def test_a_201_transaction_completes_only_when_every_seq_no_arrived(
    pile201: TransactionSide,
) -> None:
    pile201.result("conn-1", "TransactionEvent", event_201("Ended", 3, "tx-b", 30, wh=3_000))
    pile201.result("conn-1", "TransactionEvent", event_201("Started", 0, "tx-b", 0, wh=1_000))
    pile201.result("conn-1", "TransactionEvent", event_201("Updated", 2, "tx-b", 20, wh=2_500))
    assert pile201.session("CP-201", V201, "tx-b")["status"] == "incomplete"

    writes = pile201.writes_of(
        "conn-1", "TransactionEvent", event_201("Updated", 1, "tx-b", 10, wh=1_600)
    )
    pile201.result("conn-1", "TransactionEvent", event_201("Updated", 1, "tx-b", 10, wh=1_600))

    session = pile201.session("CP-201", V201, "tx-b")
    assert writes == 1
    assert session["status"] == "completed"
    assert session["energy_wh"] == 2_000


def test_201_meter_values_are_kept_for_the_pile(pile201: TransactionSide) -> None:
    payload = {
        "evseId": 0,
        "meterValue": [{"timestamp": ts(1), "sampledValue": [{"value": 123.4}]}],
    }

    writes = pile201.writes_of("conn-1", "MeterValues", payload)

    assert writes == 1


def test_a_bad_transaction_event_is_refused_and_changes_nothing(
    pile201: TransactionSide,
) -> None:
    before = pile201.side.snapshot()
    bad: dict[str, Any] = event_201("Started", 0, "tx-c", 0)
    bad["eventType"] = "Begun"

    answer = pile201.call("conn-1", "TransactionEvent", bad)

    assert answer[2] == "PropertyConstraintViolation"
    assert pile201.side.snapshot() == before


def test_transaction_messages_need_an_accepted_boot(transaction_side: TransactionSide) -> None:
    side: PileSide = transaction_side.side
    side.put_pile("CP-NB", protocol=V16)
    side.connect("CP-NB", connection_id="conn-nb")

    answer = transaction_side.call("conn-nb", "StartTransaction", start_16(1, "CARD-1", 0, 0))

    assert answer[2] == "SecurityError"
