"""Session services on the in-memory store: the operator API's queries (tenancy, live
figures, trend samples) and closing sessions nobody finishes."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from shared.domain.base_data import PageRequest
from shared.domain.errors import InvalidInput, NotFound
from shared.domain.ocpp.versions import OcppVersion
from shared.domain.sessions import (
    STALE_AFTER,
    MeterSample,
    SessionStatus,
    TariffRef,
    session_id_for,
)
from shared.domain.tenancy import Principal, Role
from shared.services import sessions as service
from shared.services.ocpp import transactions
from tests.unit.sessions_fakes import NOW, FakeSessionStore, a_context, ports_with

STAFF = Principal("alice", Role.OPERATOR_ADMIN, "op-1")
OTHER_STAFF = Principal("bob", Role.OPERATOR_ADMIN, "op-2")
ADMIN = Principal("root", Role.PLATFORM_ADMIN, None)
T0 = NOW - timedelta(hours=10)


def ts(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


@pytest.fixture
def store() -> FakeSessionStore:
    return FakeSessionStore(tariffs={"st-1": TariffRef("tf-1", 1)})


def started(store: FakeSessionStore, *, minute: float = 0, meter: int = 1000, gun: int = 1) -> str:
    ports = ports_with(store)
    payload = {"connectorId": gun, "idTag": "CARD-1", "meterStart": meter, "timestamp": ts(minute)}
    received = T0 + timedelta(minutes=minute)
    context = a_context(action="StartTransaction", received_at=received)
    answer: dict[str, Any] = transactions.start_transaction(context, payload, ports)
    return session_id_for("CP-1", OcppVersion.V16, str(answer["transactionId"]))


def metered(store: FakeSessionStore, session_id: str, minute: float, wh: int) -> None:
    tx = int(store.sessions[session_id].ocpp_transaction_id)
    payload = {
        "connectorId": 1,
        "transactionId": tx,
        "meterValue": [
            {
                "timestamp": ts(minute),
                "sampledValue": [
                    {"value": str(wh)},
                    {"value": "11", "measurand": "Current.Import"},
                ],
            }
        ],
    }
    context = a_context(received_at=T0 + timedelta(minutes=minute))
    transactions.meter_values_call(context, payload, ports_with(store))


# -- queries


def test_a_session_is_read_with_its_live_figures(store: FakeSessionStore) -> None:
    session_id = started(store)
    metered(store, session_id, 1, 1300)
    metered(store, session_id, 2, 1600)

    figures = service.get_session(store, STAFF, session_id)

    assert figures.energy_wh == 600
    assert figures.latest == MeterSample(T0 + timedelta(minutes=2), energy_wh=1600, current_a=11.0)


def test_another_operators_session_is_not_found(store: FakeSessionStore) -> None:
    session_id = started(store)

    with pytest.raises(NotFound):
        service.get_session(store, OTHER_STAFF, session_id)
    with pytest.raises(NotFound):
        service.list_meter_values(store, OTHER_STAFF, session_id, PageRequest(), now=NOW)
    assert service.get_session(store, ADMIN, session_id).session.operator_id == "op-1"


def test_sessions_are_listed_by_pile_or_by_status(store: FakeSessionStore) -> None:
    first = started(store, minute=0)
    second = started(store, minute=5, gun=2)

    by_pile = service.list_sessions(
        store, STAFF, operator_id=None, pile_id="CP-1", status=None, page=PageRequest()
    )
    active = service.list_sessions(
        store, STAFF, operator_id=None, pile_id=None, status=None, page=PageRequest()
    )
    foreign = service.list_sessions(
        store, OTHER_STAFF, operator_id=None, pile_id="CP-1", status=None, page=PageRequest()
    )

    assert [s.session_id for s in by_pile.items] == [second, first]
    assert {s.session_id for s in active.items} == {first, second}
    assert foreign.items == []


def test_a_platform_admin_must_name_the_operator(store: FakeSessionStore) -> None:
    with pytest.raises(InvalidInput):
        service.list_sessions(
            store, ADMIN, operator_id=None, pile_id=None, status=None, page=PageRequest()
        )


def test_meter_values_include_the_readings_kept_on_the_session(store: FakeSessionStore) -> None:
    session_id = started(store)
    metered(store, session_id, 2, 1500)
    session = store.sessions[session_id]
    late = MeterSample(T0 + timedelta(minutes=1), energy_wh=1200)
    store.sessions[session_id] = replace(session, extra_samples=frozenset({late}))

    page = service.list_meter_values(store, STAFF, session_id, PageRequest(), now=NOW)

    assert [s.energy_wh for s in page.items] == [1200, 1500]
    assert page.next_token is None


def test_meter_values_come_in_pages_in_time_order(store: FakeSessionStore) -> None:
    session_id = started(store)
    for minute in range(1, 6):
        metered(store, session_id, minute, 1000 + 100 * minute)

    first = service.list_meter_values(store, STAFF, session_id, PageRequest(limit=3), now=NOW)
    rest = service.list_meter_values(
        store, STAFF, session_id, PageRequest(limit=3, next_token=first.next_token), now=NOW
    )

    assert [s.energy_wh for s in first.items] == [1100, 1200, 1300]
    assert [s.energy_wh for s in rest.items] == [1400, 1500]
    assert rest.next_token is None


# -- housekeeping


def test_a_session_without_messages_for_hours_is_closed_incomplete_with_its_energy(
    store: FakeSessionStore,
) -> None:
    session_id = started(store)
    metered(store, session_id, 30, 4000)

    sweep = service.close_stale_sessions(NOW, sessions=store)

    session = store.sessions[session_id]
    assert sweep.closed == (session_id,)
    assert session.status is SessionStatus.INCOMPLETE
    assert session.energy_wh == 3000
    assert session.closed_stale_at == NOW
    assert store.markers == {}


def test_a_session_with_recent_messages_is_checked_again_later(store: FakeSessionStore) -> None:
    session_id = started(store)
    metered(store, session_id, 8 * 60, 4000)  # two hours before NOW

    sweep = service.close_stale_sessions(NOW, sessions=store)

    assert sweep.closed == ()
    assert sweep.postponed == 1
    assert store.sessions[session_id].status is SessionStatus.ACTIVE
    assert store.markers[session_id] == T0 + timedelta(hours=8) + STALE_AFTER


def test_no_session_is_checked_before_its_time(store: FakeSessionStore) -> None:
    started(store, minute=9 * 60)

    assert service.close_stale_sessions(NOW, sessions=store).checked == 0


def test_a_stop_after_the_stale_close_completes_the_session(store: FakeSessionStore) -> None:
    session_id = started(store)
    service.close_stale_sessions(NOW, sessions=store)
    tx = int(store.sessions[session_id].ocpp_transaction_id)

    payload = {"transactionId": tx, "meterStop": 5000, "timestamp": ts(60)}
    transactions.stop_transaction(a_context(action="StopTransaction"), payload, ports_with(store))

    session = store.sessions[session_id]
    assert session.status is SessionStatus.COMPLETED
    assert session.energy_wh == 4000


def test_a_marker_left_by_a_closed_session_is_dropped(store: FakeSessionStore) -> None:
    session_id = started(store)
    store.sessions[session_id] = replace(store.sessions[session_id], status=SessionStatus.COMPLETED)

    service.close_stale_sessions(NOW, sessions=store)

    assert store.markers == {}
    assert store.sessions[session_id].status is SessionStatus.COMPLETED
