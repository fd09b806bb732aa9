"""Issue 7 acceptance on the local stack: paid charging of an e-bike port, as a driver does it.

A simulated 4G gateway (a real MQTT client, real RTU frames) carries a 10-port e-bike pile
and the site's transformer meter; its chargers draw a realistic 300 W while the devices'
clock runs ``SPEED`` times faster (``EbikeGatewaySimulator(speed=...)``), so a port counts
20 Wh a second and targets are reached in seconds. A driver signs in with the sandbox login,
scans a port's QR code, starts through the driver API and pays (the sandbox provider's
confirm, or the wallet topped up through the sandbox first); the START write travels down
over MQTT, the port charges, and:

1. an energy target: the port switches off at the target; the order settles, the unused
   part is refunded (the driver's history and wallet statement show it), the partner's
   split is recorded; the operator's monitor showed the port charging, then plugged, and
   the site load;
2. a wallet payment, stopped early by the driver's stop call: the wallet is charged what
   was used;
3. an amount target above the prepaid cap: the cap is reached first, the platform switches
   the port off, nothing is refunded;
4. a site above half its transformer's capacity (the station's capacity set just above the
   live load): the scan says the charge is limited, the START caps the port at half its
   rating (the pile's 10 kW over 10 ports: 500 W) and the 800 W charger draws 500 W;
5. the site's load passing 80 % between the driver's start and the payment: at switch-on
   no START is written, the order fails ``PileNeverStarted`` and the prepayment is refunded
   in full.

Tariff: flat 1.00 yuan per kWh (10 Wh = 1 fen), partner share 33.33 %.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from infra.local.simulators.modbus_frames import PortState, StopReason
from tests.e2e.conformance_support import unique
from tests.e2e.conftest import RunningStack
from tests.e2e.ebike_support import EbikeSite, running_ebike_site
from tests.e2e.payment_support import PARTNER_SHARE_BP, TIMEOUT_S, Payments, poll
from tests.e2e.test_driver_api_e2e import Driver

pytestmark = pytest.mark.e2e

SPEED = 240.0  # 300 W for a real second counts 20 Wh
DRAW_W = 300  # an e-bike charger
ENERGY_PORT, WALLET_PORT, CAP_PORT, LIMITED_PORT, REFUSED_PORT = 1, 2, 3, 4, 5
BIG_DRAW_W = 800  # a fast charger, capped by the load band


@pytest.fixture(scope="module")
def ebike(local_stack: RunningStack) -> Iterator[EbikeSite]:
    plugged = {port: DRAW_W for port in (ENERGY_PORT, WALLET_PORT, CAP_PORT)}
    plugged[LIMITED_PORT] = BIG_DRAW_W
    plugged[REFUSED_PORT] = DRAW_W
    with running_ebike_site(
        local_stack, "E-bike charging", plugged=plugged, report_interval_s=1.0, speed=SPEED
    ) as site:
        site.wait_status(ENERGY_PORT, {"Preparing"})
        yield site


@pytest.fixture(scope="module")
def payments(local_stack: RunningStack) -> Payments:
    return Payments(local_stack)


def _qr_code(driver: Driver, ebike: EbikeSite, port_no: int) -> str:
    station = driver.ok("GET", f"/driver/stations/{ebike.site.station_id}")
    port = next(
        g for g in station["guns"] if (g["pile_id"], g["gun_no"]) == (ebike.pile_id, port_no)
    )
    code: str = port["qr_payload"]
    return code


def _scan_and_start(
    driver: Driver, ebike: EbikeSite, port_no: int, **charge: Any
) -> dict[str, Any]:
    scanned = poll(
        f"port {port_no} startable",
        lambda: driver.ok("POST", "/driver/scan", {"code": _qr_code(driver, ebike, port_no)}),
        lambda scan: bool(scan["can_start"]),
        TIMEOUT_S,
    )
    assert (scanned["pile_id"], scanned["gun_no"]) == (ebike.pile_id, port_no)
    started: dict[str, Any] = driver.ok(
        "POST",
        "/driver/charges",
        {"request_id": unique("start"), "pile_id": ebike.pile_id, "gun_no": port_no, **charge},
    )
    return started


def _start_awaiting_payment(driver: Driver, ebike: EbikeSite, port_no: int, **charge: Any) -> str:
    """A sandbox-paid charge started on the port (``_scan_and_start``); its order number
    once the driver's charge shows the pay parameters."""
    order_no = str(_scan_and_start(driver, ebike, port_no, method="sandbox", **charge)["order_no"])
    poll(
        "the pay parameters",
        lambda: driver.ok("GET", f"/driver/charges/{order_no}"),
        lambda shown: bool(shown["client_params"]),
        TIMEOUT_S,
    )
    return order_no


def _charging(ebike: EbikeSite, port_no: int) -> None:
    """The START reached the bus: the port charges, and the monitor shows it."""
    poll(
        f"port {port_no} switched on",
        lambda: ebike.gateway.port_state(port_no),
        lambda state: state is PortState.CHARGING,
        TIMEOUT_S,
    )


def _bill(driver: Driver, payments: Payments, order_no: str) -> dict[str, Any]:
    execution = payments.finished(order_no)
    assert execution["status"] == "SUCCEEDED", payments.errors(order_no)
    bill: dict[str, Any] = driver.ok("GET", f"/driver/charges/{order_no}")
    return bill


def test_sandbox_paid_port_charges_to_its_energy_target_and_settles(
    ebike: EbikeSite, payments: Payments
) -> None:
    driver = Driver(ebike.stack)
    driver.sign_in(unique("rider"))
    order_no = _start_awaiting_payment(
        driver, ebike, ENERGY_PORT, mode="energy", value=100, prepaid_fen=100
    )
    payments.pay(order_no)
    _charging(ebike, ENERGY_PORT)
    # The operator's monitor: the port charging, the site's live load from its meter.
    ebike.wait_status(ENERGY_PORT, {"Charging"})
    load = ebike.site_load()
    assert load["gateway_id"] == ebike.gateway.gateway_id
    assert 40_000 <= load["power_w"] <= 80_000  # the simulated site: 60 kW +- 25 %
    live = poll(
        "the live charge moving",
        lambda: driver.ok("GET", f"/driver/charges/{order_no}/live"),
        lambda figures: figures["energy_wh"] >= 10 or not figures["is_charging"],
        TIMEOUT_S,
    )
    if live["is_charging"]:  # (the 100 Wh may be reached before a poll sees it running)
        assert live["state"] == "started" and 10 <= live["energy_wh"] < 100
        assert live["cost_fen"] in (live["energy_wh"] // 10, -(-live["energy_wh"] // 10))
        assert 280 <= live["power_w"] <= 320  # the charger's 300 W, as the port measures it

    bill = _bill(driver, payments, order_no)
    assert bill["state"] == "completed"
    # The target became the pile's own energy limit: the port switched off at 100 Wh.
    assert (bill["energy_wh"], bill["consumed_fen"], bill["refunded_fen"]) == (100, 10, 90)
    assert ebike.gateway.port_state(ENERGY_PORT) is PortState.PLUGGED
    assert ebike.stop_reason(ENERGY_PORT) is StopReason.ENERGY_LIMIT
    ebike.wait_status(ENERGY_PORT, {"Preparing"})  # plugged, no longer charging

    order = payments.order(order_no)
    partner_fen = 10 * PARTNER_SHARE_BP // 10_000
    assert (order.partner_fen, order.platform_fen) == (partner_fen, 10 - partner_fen)
    history = driver.ok("GET", "/driver/charges")["items"]
    assert [(c["order_no"], c["refunded_fen"]) for c in history] == [(order_no, 90)]
    statement = driver.ok("GET", "/driver/wallet/entries", station_id=ebike.site.station_id)
    moves = {e["transfer_id"]: e["amount_fen"] for e in statement["items"]}
    assert moves[f"payment:{order_no}"] == 100
    assert moves[f"refund:{order_no}-R1"] == -90


def test_wallet_paid_charge_stopped_early_by_the_driver(
    ebike: EbikeSite, payments: Payments
) -> None:
    driver = Driver(ebike.stack)
    driver.sign_in(unique("wallet-rider"))
    topup = driver.ok(
        "POST",
        "/driver/wallet/top-ups",
        {
            "request_id": unique("topup"),
            "amount_fen": 500,
            "method": "sandbox",
            "station_id": ebike.site.station_id,
        },
    )
    payments.pay(topup["order_no"])
    poll(
        "the top-up paid",
        lambda: driver.ok("GET", "/driver/wallet", station_id=ebike.site.station_id),
        lambda wallet: wallet["balance_fen"] == 500,
        TIMEOUT_S,
    )
    started = _scan_and_start(
        driver, ebike, WALLET_PORT, mode="energy", value=5_000, prepaid_fen=300, method="wallet"
    )
    order_no = started["order_no"]
    _charging(ebike, WALLET_PORT)
    ebike.wait_status(WALLET_PORT, {"Charging"})
    # The app offers "stop" once its live view shows the charge running: the START's echo
    # has come back and linked the port's charge to the order (the port may switch on a
    # moment before that).
    poll(
        "the driver's live view shows the charge running",
        lambda: driver.ok("GET", f"/driver/charges/{order_no}/live"),
        lambda live: live["is_charging"] is True,
        TIMEOUT_S,
    )
    stopping = driver.call("POST", f"/driver/charges/{order_no}/stop")
    assert stopping.status_code == 202, stopping.text

    bill = _bill(driver, payments, order_no)
    assert bill["state"] == "completed"
    assert 0 < bill["energy_wh"] < 5_000
    consumed = bill["consumed_fen"]
    assert bill["energy_wh"] // 10 <= consumed <= -(-bill["energy_wh"] // 10)
    assert bill["refunded_fen"] == 300 - consumed
    assert ebike.gateway.port_state(WALLET_PORT) is PortState.PLUGGED
    assert ebike.stop_reason(WALLET_PORT) is StopReason.REMOTE_STOP
    wallet = driver.ok("GET", "/driver/wallet", station_id=ebike.site.station_id)
    assert wallet["balance_fen"] == 500 - consumed
    ebike.wait_status(WALLET_PORT, {"Preparing"})


def test_prepaid_cap_reached_before_the_amount_target_switches_the_port_off(
    ebike: EbikeSite, payments: Payments
) -> None:
    driver = Driver(ebike.stack)
    driver.sign_in(unique("cap-rider"))
    order_no = _start_awaiting_payment(
        driver, ebike, CAP_PORT, mode="amount", value=50, prepaid_fen=10
    )
    payments.pay(order_no)
    _charging(ebike, CAP_PORT)

    bill = _bill(driver, payments, order_no)
    assert bill["state"] == "completed"
    # Priced at 0.10 at least: electricity and service are each rounded to the fen, so
    # 92 Wh (5.52 + 3.68 fen) already cost 10 fen.
    assert bill["energy_wh"] >= 90
    assert (bill["consumed_fen"], bill["refunded_fen"]) == (10, 0)
    assert payments.session_end(order_no)["stop_reason"] == "cap_reached"
    assert ebike.gateway.port_state(CAP_PORT) is PortState.PLUGGED
    assert ebike.stop_reason(CAP_PORT) is StopReason.REMOTE_STOP  # the platform's stop


def _set_capacity_for(ebike: EbikeSite, share_percent: int) -> None:
    """The station's transformer capacity set so the live load is about ``share_percent``."""
    load_w = ebike.site_load()["power_w"]
    capacity_kva = -(-load_w * 100 // share_percent) // 1000
    path = f"/operator/stations/{ebike.site.station_id}"
    ebike.api.ok("PATCH", path, {"transformer_capacity_kva": capacity_kva})


def _restore_capacity(ebike: EbikeSite) -> None:
    path = f"/operator/stations/{ebike.site.station_id}"
    ebike.api.ok("PATCH", path, {"transformer_capacity_kva": 630})


def test_a_site_above_half_load_switches_the_port_on_at_half_its_rating(
    ebike: EbikeSite, payments: Payments
) -> None:
    _set_capacity_for(ebike, 65)
    try:
        driver = Driver(ebike.stack)
        driver.sign_in(unique("limited-rider"))
        scanned = driver.ok("POST", "/driver/scan", {"code": _qr_code(driver, ebike, LIMITED_PORT)})
        assert (scanned["load_band"], scanned["power_limit_w"]) == ("limited", 500)
        order_no = _start_awaiting_payment(
            driver, ebike, LIMITED_PORT, mode="energy", value=100, prepaid_fen=50
        )
        payments.pay(order_no)
        _charging(ebike, LIMITED_PORT)
        assert ebike.gateway.port_limits(LIMITED_PORT).power_limit_w == 500
        port = ebike.gateway.readings()[0][LIMITED_PORT - 1]
        if port.state is PortState.CHARGING:  # (100 Wh take 3 s at this speed)
            assert 480 <= port.power_w <= 520  # the 800 W charger held at 500 W (+- jitter)
        bill = _bill(driver, payments, order_no)
    finally:
        _restore_capacity(ebike)
    assert (bill["energy_wh"], bill["consumed_fen"], bill["refunded_fen"]) == (100, 10, 40)
    start = next(c for c in ebike.commands() if c["kind"] == "start" and c["port_no"] == 4)
    assert (start["status"], start["power_limit_w"]) == ("confirmed", 500)


def test_a_site_past_80_percent_at_switch_on_refunds_in_full_and_writes_no_start(
    ebike: EbikeSite, payments: Payments
) -> None:
    driver = Driver(ebike.stack)
    driver.sign_in(unique("refused-rider"))
    order_no = _start_awaiting_payment(
        driver, ebike, REFUSED_PORT, mode="energy", value=100, prepaid_fen=50
    )
    _set_capacity_for(ebike, 90)  # the site's load rose meanwhile
    try:
        payments.pay(order_no)
        execution = payments.finished(order_no)
    finally:
        _restore_capacity(ebike)
    assert execution["status"] == "FAILED"
    assert "PileNeverStarted" in payments.errors(order_no)
    bill = driver.ok("GET", f"/driver/charges/{order_no}")
    assert (bill["consumed_fen"], bill["refunded_fen"]) == (0, 50)
    assert bill["failure"] == "PileNeverStarted"
    assert ebike.gateway.port_state(REFUSED_PORT) is PortState.PLUGGED
    assert not [c for c in ebike.commands() if c["port_no"] == REFUSED_PORT]
