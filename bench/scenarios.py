"""Request types whose AWS calls ``make bench`` counts: piles connecting and talking
OCPP, and operators using the base-data API. Runs on in-process moto with the tables of
template.yaml; each row is one request through the real handler.
"""

from __future__ import annotations

import json
from typing import Any

from bench.aws_calls import CallCounter, Scenario, install_counter, print_rows, run_scenarios
from tests.integration import operator_api_support as operator
from tests.integration.test_ocpp_router_support import (
    OPERATOR,
    PASSWORD,
    PileSide,
    basic,
    connect_event,
    disconnect_event,
    frame_event,
)
from tests.support.aws import aws_with_tables

ADMIN = operator.claims("bench-admin", "operator-admin", OPERATOR)


def _pile_scenarios(side: PileSide) -> list[Scenario]:
    side.put_pile("BENCH-16", protocol="ocpp1.6")
    side.put_pile("BENCH-201", protocol="ocpp2.0.1")
    side.put_card("BENCH-CARD", "active")
    connect_16 = connect_event(
        "BENCH-16", connection_id="c16", authorization=basic("BENCH-16", PASSWORD)
    )
    connect_201 = connect_event(
        "BENCH-201", connection_id="c201", authorization=basic("BENCH-201", PASSWORD)
    )
    boot_16 = frame_event(
        "c16", [2, "b1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]
    )
    boot_201 = frame_event(
        "c201",
        [
            2,
            "b2",
            "BootNotification",
            {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}},
        ],
    )

    def frames(*events: dict[str, Any]) -> Any:
        return lambda: list(events)

    router = "functions.ocpp_router.handler"
    connect = "functions.ws_connect.handler"
    status_16 = [
        2,
        "s1",
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
    ]
    status_201 = [
        2,
        "s2",
        "StatusNotification",
        {
            "timestamp": "2026-11-01T02:00:00Z",
            "connectorStatus": "Available",
            "evseId": 1,
            "connectorId": 1,
        },
    ]
    return [
        Scenario("ws $connect (pile auth, 1.6)", connect, frames(connect_16)),
        Scenario("ocpp1.6 BootNotification", router, frames(boot_16)),
        Scenario(
            "ocpp1.6 Heartbeat (steady state)",
            router,
            frames(frame_event("c16", [2, "h1", "Heartbeat", {}])),
        ),
        Scenario("ocpp1.6 StatusNotification", router, frames(frame_event("c16", status_16))),
        Scenario(
            "ocpp1.6 Authorize",
            router,
            frames(frame_event("c16", [2, "a1", "Authorize", {"idTag": "BENCH-CARD"}])),
        ),
        Scenario("ocpp1.6 malformed frame", router, frames(frame_event("c16", "[2, 'x'"))),
        Scenario("ws $connect (pile auth, 2.0.1)", connect, frames(connect_201)),
        Scenario("ocpp2.0.1 BootNotification", router, frames(boot_201)),
        Scenario(
            "ocpp2.0.1 Heartbeat (steady state)",
            router,
            frames(frame_event("c201", [2, "h2", "Heartbeat", {}])),
        ),
        Scenario("ocpp2.0.1 StatusNotification", router, frames(frame_event("c201", status_201))),
        Scenario("ws $disconnect", connect, frames(disconnect_event("c16"))),
    ]


def _operator_scenarios() -> list[Scenario]:
    api = "functions.operator_api.handler"
    made = operator.call("POST", "/operator/operators", body={"name": "Bench Operator"})
    operator_id = made.body["operator_id"]
    admin = operator.claims("bench-admin", "operator-admin", operator_id)
    tariff = operator.call(
        "POST", "/operator/tariffs", admin, body={"name": "TOU", "periods": operator.tou_periods()}
    )
    station = operator.call(
        "POST",
        "/operator/stations",
        admin,
        body=operator.station_body(tariff_id=tariff.body["tariff_id"]),
    )
    station_id = station.body["station_id"]
    operator.call(
        "POST", "/operator/piles", admin, body=operator.pile_body("BENCH-API-1", station_id)
    )
    operator.call(
        "POST",
        "/operator/cards",
        admin,
        body={"card_no": "BENCH-CARD-API", "holder_name": "Li Lei", "phone": "13800000000"},
    )

    def one(method: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> Any:
        return lambda: [operator.http_event(method, path, body=body, who=admin, query=query)]

    return [
        Scenario("GET /health", api, lambda: [operator.http_event("GET", "/health")]),
        Scenario("GET /operator/stations", api, one("GET", "/operator/stations")),
        Scenario("GET /operator/piles/{id}", api, one("GET", "/operator/piles/BENCH-API-1")),
        Scenario(
            "GET /operator/piles?station_id=",
            api,
            one("GET", "/operator/piles", query={"station_id": station_id}),
        ),
        Scenario(
            "POST /operator/stations",
            api,
            one("POST", "/operator/stations", body=operator.station_body(name="Bench Station 2")),
        ),
        Scenario(
            "POST /operator/piles (2 guns)",
            api,
            one("POST", "/operator/piles", body=operator.pile_body("BENCH-API-2", station_id)),
        ),
        Scenario(
            "POST /operator/cards/{no}/top-ups",
            api,
            one(
                "POST",
                "/operator/cards/BENCH-CARD-API/top-ups",
                body={"amount_fen": 5000, "request_id": "bench-topup-0001"},
            ),
        ),
        Scenario(
            "POST /operator/stations (invalid body)",
            api,
            one("POST", "/operator/stations", body={"name": 3}),
        ),
    ]


def report() -> list[dict[str, Any]]:
    """Count the AWS calls of every request type; print and return the rows."""
    with aws_with_tables() as tables:
        counter: CallCounter = install_counter()  # after moto starts: it resets boto3's session
        side = PileSide(tables, counter=_NullCounter())
        from functions.ocpp_router import wiring as router_wiring
        from functions.operator_api import wiring as operator_wiring
        from functions.ws_connect import wiring as connect_wiring

        for wiring in (operator_wiring, router_wiring, connect_wiring):
            wiring.reset()
        rows = run_scenarios(_pile_scenarios(side), counter)
        rows += run_scenarios(_operator_scenarios(), counter)
    print_rows(rows)
    print(json.dumps({row["scenario"]: row["total"] for row in rows}))
    return rows


class _NullCounter:
    def __call__(self, model: Any, **_: Any) -> None:
        return None
