"""The real-time monitor's e-bike port power in headless Chromium on the demo stack.

The demo gateway (infra/local/simulators/ebike_gateway.py) charges ports of DEMO-EB-1 at
fixed powers and reports when the demo starts, then every minute. The monitor asks
GET /operator/piles/{id}/ports/live for an e-bike pile instead of .../guns (one request per
pile and refresh) and shows a charging port's power on its chip, the temperature in its
tooltip.
"""

from __future__ import annotations

from typing import Any

import requests

from infra.local import demo
from tests.e2e.test_dashboard import (  # noqa: F401 (fixtures)
    _api_token,
    _login,
    browser,
    demo_ready,
    page,
    pytestmark,
)

EBIKE = next(p.pile_id for p in demo.PILES if p.protocol == "modbus")
CAR = next(p.pile_id for p in demo.PILES if p.kind == "car")
# The gateway reports when the demo starts; a late first report arrives within a minute.
FIRST_READING_WITHIN_MS = 75_000


def _live(base_url: str, token: str, pile_id: str) -> requests.Response:
    return requests.get(
        f"{base_url}/operator/piles/{pile_id}/ports/live",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def test_monitor_shows_the_power_of_the_demo_gateways_charging_ports(
    demo_ready: Any,  # noqa: F811
    page: Any,  # noqa: F811
) -> None:
    base = demo_ready.http_url
    token = _api_token(base, *demo.DEMO_ADMIN)
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    _login(page, base, *demo.DEMO_ADMIN)
    page.goto(f"{base}/#/monitor")
    power = page.locator(
        f'[data-testid=monitor-pile][data-pile-id="{EBIKE}"] '
        "[data-testid=monitor-gun][data-state=charging] [data-testid=monitor-gun-power]"
    )
    power.first.wait_for(timeout=FIRST_READING_WITHIN_MS)  # the monitor refreshes every 5 s

    answer = _live(base, token, EBIKE)
    assert answer.status_code == 200, answer.text
    charging = {
        item["gun_no"]: item
        for item in answer.json()["items"]
        if item["state"] == "charging" and item["power_w"]
    }
    assert charging, answer.text
    port_no, item = min(charging.items())
    chip = page.locator(
        f'[data-testid=monitor-pile][data-pile-id="{EBIKE}"] '
        f'[data-testid=monitor-gun][data-gun-no="{port_no}"]'
    )
    # The demo's ports draw fixed powers: the chip shows the API's figure.
    page.wait_for_function(
        """([pile, port, text]) => [...document.querySelectorAll(
              `[data-pile-id="${pile}"] [data-testid=monitor-gun][data-gun-no="${port}"]`)]
              .some((g) => g.textContent.trim().endsWith(text))""",
        arg=[EBIKE, port_no, f"{item['power_w']} W"],
    )
    assert chip.get_attribute("data-power-w") == str(item["power_w"])
    title = chip.get_attribute("title") or ""
    assert "温度" in title and "°C" in title
    # An idle port shows no power figure.
    idle = [i["gun_no"] for i in answer.json()["items"] if i["state"] == "idle"]
    if idle:
        idle_chip = page.locator(
            f'[data-testid=monitor-pile][data-pile-id="{EBIKE}"] '
            f'[data-testid=monitor-gun][data-gun-no="{idle[0]}"] [data-testid=monitor-gun-power]'
        )
        assert idle_chip.count() == 0

    # One request per e-bike pile and refresh: the live ports, never also its guns (the
    # overview the login lands on asks for guns: only the monitor's next refresh counts).
    stamp = page.inner_text("#monitor-updated")
    asked.clear()
    page.wait_for_function(
        "(before) => document.querySelector('#monitor-updated').textContent !== before",
        arg=stamp,
    )
    refreshed = list(asked)
    assert sum(f"/operator/piles/{EBIKE}/ports/live" in url for url in refreshed) == 1
    listing = "\n".join(refreshed)
    assert not any(f"/operator/piles/{EBIKE}/guns" in url for url in refreshed), listing
    assert any(f"/operator/piles/{CAR}/guns" in url for url in refreshed)
    assert not any(f"/operator/piles/{CAR}/ports/live" in url for url in refreshed)
    # Tenths are formatted exactly in the browser.
    shown = page.evaluate(
        """async () => {
             const m = await import('/js/ports.js');
             return [m.formatTenths(312), m.formatTenths(-5), m.formatAmps(1270)];
           }"""
    )
    assert shown == ["31.2", "-0.5", "1.27"]


def test_a_car_piles_live_ports_are_refused(demo_ready: Any) -> None:  # noqa: F811
    token = _api_token(demo_ready.http_url, *demo.DEMO_ADMIN)
    answer = _live(demo_ready.http_url, token, CAR)
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "conflict"
