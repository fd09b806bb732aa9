"""The operator API's session routes through lambda_handler on moto, with sessions made by
a pile through the OCPP router: lists, live figures, meter values, tenancy, bad input."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.operator_api_support import (
    PILE_PASSWORD,
    PLATFORM_ADMIN,
    Tenant,
    api,
    call,
    tenants,
)
from tests.integration.test_ocpp_router_support import basic, pile_side
from tests.integration.test_ocpp_transactions_support import (
    TransactionSide,
    meter_16,
    start_16,
    stop_16,
    transaction_side,
)

__all__ = ["api", "pile_side", "tenants", "transaction_side"]


@pytest.fixture
def charged(
    tenants: tuple[Tenant, Tenant], transaction_side: TransactionSide
) -> tuple[Tenant, Tenant, dict[str, Any]]:
    """Tenant A's pile ran one session on gun 1 (stopped) and has one running on gun 2."""
    a, b = tenants
    side = transaction_side
    connected = side.side.connect(
        a.pile_id, connection_id="conn-a", authorization=basic(a.pile_id, PILE_PASSWORD)
    )
    assert connected["statusCode"] == 200
    assert side.side.boot("conn-a", "ocpp1.6")[2]["status"] == "Accepted"
    first = side.result("conn-a", "StartTransaction", start_16(1, a.card_no, 1_000, 0))
    tx1 = first["transactionId"]
    side.result("conn-a", "MeterValues", meter_16(1, tx1, [(10, 4_000), (20, 7_500)]))
    side.result("conn-a", "StopTransaction", stop_16(tx1, 9_000, 30, a.card_no))
    second = side.result("conn-a", "StartTransaction", start_16(2, a.card_no, 50_000, 40))
    tx2 = second["transactionId"]
    side.result("conn-a", "MeterValues", meter_16(2, tx2, [(50, 52_000)]))
    side.result("conn-a", "MeterValues", meter_16(2, tx2, [(60, 55_500)]))
    sessions = {item["ocpp_transaction_id"]: item for item in side.sessions_of(a.pile_id)}
    ids = {
        "stopped": sessions[str(tx1)]["session_id"],
        "running": sessions[str(tx2)]["session_id"],
    }
    return a, b, ids


def test_sessions_of_a_pile_are_listed_newest_first(
    charged: tuple[Tenant, Tenant, dict[str, Any]],
) -> None:
    a, _, ids = charged

    answer = call("GET", "/operator/sessions", a.admin, query={"pile_id": a.pile_id})

    assert answer.status == 200, answer.body
    assert [item["session_id"] for item in answer.body["items"]] == [
        ids["running"],
        ids["stopped"],
    ]
    stopped = answer.body["items"][1]
    assert stopped["status"] == "completed"
    assert stopped["energy_wh"] == 8_000
    assert stopped["gun_no"] == 1
    assert stopped["tariff_id"] == a.tariff_id and stopped["tariff_version"] == 1
    assert stopped["started_at"] == "2026-11-01T00:00:00.000Z"
    assert stopped["stop_reason"] == "Local"
    assert answer.body["next_token"] is None


def test_sessions_are_listed_by_status_active_by_default(
    charged: tuple[Tenant, Tenant, dict[str, Any]],
) -> None:
    a, _, ids = charged

    active = call("GET", "/operator/sessions", a.admin)
    completed = call("GET", "/operator/sessions", a.admin, query={"status": "completed"})
    running_on_pile = call(
        "GET", "/operator/sessions", a.maintenance, query={"pile_id": a.pile_id, "status": "active"}
    )

    assert [item["session_id"] for item in active.body["items"]] == [ids["running"]]
    assert [item["session_id"] for item in completed.body["items"]] == [ids["stopped"]]
    assert [item["session_id"] for item in running_on_pile.body["items"]] == [ids["running"]]


def test_a_running_session_shows_its_live_figures(
    charged: tuple[Tenant, Tenant, dict[str, Any]],
) -> None:
    a, _, ids = charged

    answer = call("GET", f"/operator/sessions/{ids['running']}", a.admin)

    assert answer.status == 200, answer.body
    assert answer.body["status"] == "active"
    assert answer.body["energy_wh"] == 5_500
    assert answer.body["latest"] == {
        "sampled_at": "2026-11-01T01:00:00.000Z",
        "energy_wh": 55_500,
        "power_w": 7000,
        "voltage_v": None,
        "current_a": None,
        "soc_percent": None,
        "temperature_c": None,
    }


def test_meter_values_come_in_time_order_for_the_trend_chart(
    charged: tuple[Tenant, Tenant, dict[str, Any]],
) -> None:
    a, _, ids = charged

    first = call(
        "GET", f"/operator/sessions/{ids['stopped']}/meter-values", a.admin, query={"limit": "1"}
    )
    rest = call(
        "GET",
        f"/operator/sessions/{ids['stopped']}/meter-values",
        a.admin,
        query={"limit": "1", "next_token": first.body["next_token"]},
    )
    whole = call("GET", f"/operator/sessions/{ids['stopped']}/meter-values", a.admin)

    assert [s["energy_wh"] for s in whole.body["items"]] == [4_000, 7_500]
    assert [s["power_w"] for s in whole.body["items"]] == [7000, 7000]
    assert first.status == rest.status == 200
    assert [s["energy_wh"] for s in first.body["items"] + rest.body["items"]] == [4_000, 7_500]


def test_another_operators_sessions_are_not_found(
    charged: tuple[Tenant, Tenant, dict[str, Any]],
) -> None:
    _, b, ids = charged

    one = call("GET", f"/operator/sessions/{ids['stopped']}", b.admin)
    samples = call("GET", f"/operator/sessions/{ids['stopped']}/meter-values", b.admin)
    listed = call("GET", "/operator/sessions", b.admin, query={"pile_id": "CP-a"})
    foreign_operator = call(
        "GET", "/operator/sessions", b.admin, query={"operator_id": charged[0].operator_id}
    )

    assert one.status == samples.status == 404
    assert one.error["code"] == "not_found"
    assert listed.status == 200 and listed.body["items"] == []
    assert foreign_operator.status == 404


def test_a_platform_admin_names_the_operator(
    charged: tuple[Tenant, Tenant, dict[str, Any]],
) -> None:
    a, _, ids = charged

    unnamed = call("GET", "/operator/sessions", PLATFORM_ADMIN)
    named = call("GET", "/operator/sessions", PLATFORM_ADMIN, query={"operator_id": a.operator_id})
    one = call("GET", f"/operator/sessions/{ids['running']}", PLATFORM_ADMIN)

    assert unnamed.status == 422
    assert [item["session_id"] for item in named.body["items"]] == [ids["running"]]
    assert one.status == 200


@pytest.mark.parametrize(
    ("path", "query", "status"),
    [
        ("/operator/sessions/se-nothing", None, 404),
        ("/operator/sessions/se-0000000000000000000z/meter-values", None, 404),
        ("/operator/sessions/se-00000000000000000000", None, 404),
        ("/operator/sessions", {"status": "open"}, 422),
        ("/operator/sessions", {"limit": "0"}, 422),
        ("/operator/sessions", {"pile_id": "bad pile"}, 422),
        ("/operator/sessions", {"next_token": "not-a-token"}, 422),
        ("/operator/sessions", {"colour": "red"}, 422),
    ],
)
def test_bad_requests_are_refused_and_change_nothing(
    charged: tuple[Tenant, Tenant, dict[str, Any]],
    transaction_side: TransactionSide,
    path: str,
    query: dict[str, str] | None,
    status: int,
) -> None:
    a, _, _ = charged
    before = transaction_side.side.snapshot()

    answer = call("GET", path, a.admin, query=query)

    assert answer.status == status, answer.body
    assert transaction_side.side.snapshot() == before


def test_session_routes_need_a_signed_in_caller(
    charged: tuple[Tenant, Tenant, dict[str, Any]],
) -> None:
    _, _, ids = charged

    assert call("GET", "/operator/sessions", None).status == 401
    assert call("GET", f"/operator/sessions/{ids['running']}", None).status == 401


def test_the_openapi_document_lists_the_session_routes(api: Any) -> None:
    document = call("GET", "/openapi/operator.json", None).body

    paths = document["paths"]
    assert "get" in paths["/operator/sessions"]
    assert "get" in paths["/operator/sessions/{session_id}"]
    assert "get" in paths["/operator/sessions/{session_id}/meter-values"]
