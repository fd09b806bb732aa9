"""Issue 6 acceptance on the local stack: a new driver, end to end through the HTTP front.

A new user signs in with a sandbox code, finds the site nearby, scans a gun's QR code,
starts by amount paying with the sandbox provider, watches the live figures move while a
real OCPP 1.6 pile (``ocpp`` ChargePoint over a WebSocket) sends meter values, stops the
charge from the app, and finds the bill and the refund in the history and the wallet.
Tariff: flat 1.00 yuan per kWh (10 Wh = 1 fen).
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.e2e.conformance_support import V16, OperatorApi, unique
from tests.e2e.conftest import RunningStack
from tests.e2e.payment_support import TIMEOUT_S, Charger, PaidSite, Payments, poll

pytestmark = pytest.mark.e2e

METER_START_WH = 20_000


class Driver:
    """The mini-program: the driver API through the stack's HTTP front."""

    def __init__(self, stack: RunningStack) -> None:
        self.base_url = stack.http_url
        self.session = requests.Session()

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> requests.Response:
        return self.session.request(
            method, f"{self.base_url}{path}", json=body, params=params or None, timeout=TIMEOUT_S
        )

    def ok(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        answer = self.call(method, path, body, **params)
        assert 200 <= answer.status_code < 300, (
            f"{method} {path}: {answer.status_code} {answer.text}"
        )
        return answer.json() if answer.content else None

    def sign_in(self, name: str) -> dict[str, Any]:
        signed: dict[str, Any] = self.ok(
            "POST", "/driver/auth/login", {"app": "wechat", "code": f"sandbox:{name}"}
        )
        self.session.headers["Authorization"] = f"Bearer {signed['token']}"
        return signed


def test_a_new_driver_finds_scans_pays_watches_stops_and_sees_the_bill_and_refund(
    local_stack: RunningStack,
) -> None:
    site = PaidSite.create(OperatorApi(local_stack), "Driver journey")
    payments = Payments(local_stack)
    driver = Driver(local_stack)
    assert driver.call("GET", "/driver/me").status_code == 401

    signed = driver.sign_in(unique("rider"))
    assert signed["is_new"] is True

    with Charger(local_stack, site.new_pile(V16), V16) as charger:
        pile_id = charger.pile.pile_id
        nearby = driver.ok(
            "GET", "/driver/stations/nearby", lat=31.2301, lng=121.4702, radius_m=1000
        )
        ours = next(item for item in nearby["items"] if item["station_id"] == site.station_id)
        assert ours["free_count"] == 2
        assert ours["price_now"]["total_fen_per_kwh"] == 100
        station = driver.ok("GET", f"/driver/stations/{site.station_id}")
        gun = next(g for g in station["guns"] if (g["pile_id"], g["gun_no"]) == (pile_id, 1))

        scanned = driver.ok("POST", "/driver/scan", {"code": gun["qr_payload"], "amount_fen": 400})
        assert (scanned["pile_id"], scanned["gun_no"], scanned["can_start"]) == (pile_id, 1, True)
        assert scanned["estimated_energy_wh"] == 4_000

        started = driver.ok(
            "POST",
            "/driver/charges",
            {
                "request_id": unique("start"),
                "pile_id": pile_id,
                "gun_no": 1,
                "mode": "amount",
                "value": 400,
                "prepaid_fen": 400,
                "method": "sandbox",
            },
        )
        order_no = started["order_no"]
        payable = poll(
            "the pay parameters",
            lambda: driver.ok("GET", f"/driver/charges/{order_no}"),
            lambda charge: bool(charge["client_params"]),
            TIMEOUT_S,
        )
        assert payable["state"] == "created"
        payments.pay(order_no)
        request = charger.expect_remote_start()
        assert charger.start(request, METER_START_WH) == "Accepted"

        charger.meter(METER_START_WH + 500)
        first = poll(
            "live figures",
            lambda: driver.ok("GET", f"/driver/charges/{order_no}/live"),
            lambda live: live["energy_wh"] == 500,
            TIMEOUT_S,
        )
        charger.meter(METER_START_WH + 1_500)
        second = poll(
            "live figures moving",
            lambda: driver.ok("GET", f"/driver/charges/{order_no}/live"),
            lambda live: live["energy_wh"] == 1_500,
            TIMEOUT_S,
        )
        assert (first["is_charging"], first["cost_fen"]) == (True, 50)
        assert second["cost_fen"] == 150
        trend = driver.ok("GET", f"/driver/charges/{order_no}/meter-values")
        assert [s["energy_wh"] for s in trend["items"]][-2:] == [
            METER_START_WH + 500,
            METER_START_WH + 1_500,
        ]

        stopping = driver.call("POST", f"/driver/charges/{order_no}/stop")
        assert stopping.status_code == 202, stopping.text
        charger.expect_remote_stop()
        charger.stop(METER_START_WH + 1_500)
        execution = payments.finished(order_no)

    assert execution["status"] == "SUCCEEDED"
    bill = driver.ok("GET", f"/driver/charges/{order_no}")
    assert bill["state"] == "completed"
    assert (bill["energy_wh"], bill["consumed_fen"], bill["refunded_fen"]) == (1_500, 150, 250)
    lines = bill["bill_lines"]
    assert lines and sum(line["energy_wh"] for line in lines) == 1_500
    assert sum(line["amount_fen"] for line in lines) - bill["discount_fen"] == bill["cost_fen"]
    assert bill["cost_fen"] == 150
    history = driver.ok("GET", "/driver/charges")
    assert [c["order_no"] for c in history["items"]] == [order_no]
    statement = driver.ok("GET", "/driver/wallet/entries", station_id=site.station_id)
    moves = {e["transfer_id"]: e["amount_fen"] for e in statement["items"]}
    assert moves[f"payment:{order_no}"] == 400  # paid in
    assert moves[f"refund:{order_no}-R1"] == -250  # the unused part, back by the sandbox
    assert driver.ok("GET", "/driver/wallet", station_id=site.station_id)["balance_fen"] == 0
    rated = driver.ok("PUT", f"/driver/charges/{order_no}/rating", {"stars": 5})
    assert rated["rating"] == 5
