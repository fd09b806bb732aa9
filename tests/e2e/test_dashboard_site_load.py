"""The real-time monitor's site load (transformer meter) in headless Chromium on the demo stack.

The demo's Sunshine Garden has a site meter on the simulated e-bike gateway's bus; Science
Park has none. Other bands and a stale reading come from ``SITELOAD#`` items written here
through the Modbus bridge's own adapter (as tests/e2e/test_paid_charging_load_bands_e2e.py
does) for stations made for the test.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import requests

from infra.local import demo
from shared.adapters.dynamodb.gateways import DynamoSiteLoads
from shared.domain.modbus_readings import SiteLoad
from shared.domain.site_load import band_of
from tests.e2e.test_dashboard import (  # noqa: F401 (fixtures)
    ROOT,
    _api_token,
    _login,
    browser,
    demo_ready,
    page,
    pytestmark,
)

SCREENSHOT = ROOT / ".local-stack" / "dashboard-site-load.png"
SUNSHINE = next(s for s in demo.STATIONS if s.key == demo.SITE_METER_STATION)
NO_METER = next(s for s in demo.STATIONS if s.key != demo.SITE_METER_STATION)
# The gateway reports every 60 s, the first time when the demo starts it.
FIRST_READING_WITHIN_MS = 75_000


class Api:
    def __init__(self, stack: Any) -> None:
        self.url = stack.http_url
        self.http = requests.Session()
        self.http.trust_env = False
        token = _api_token(stack.http_url, *demo.DEMO_ADMIN)
        self.http.headers["Authorization"] = f"Bearer {token}"

    def station_id(self, name: str) -> str:
        answer = self.http.get(f"{self.url}/operator/stations", timeout=30)
        answer.raise_for_status()
        (station,) = [s for s in answer.json()["items"] if s["name"] == name]
        return str(station["station_id"])

    def load(self, station_id: str) -> requests.Response:
        return self.http.get(f"{self.url}/operator/stations/{station_id}/load", timeout=30)

    def new_station(self, label: str, capacity_kva: int) -> str:
        answer = self.http.post(
            f"{self.url}/operator/stations",
            json={
                "name": f"负载测试 {label} {uuid.uuid4().hex[:6]}",
                "address": "深圳市测试路 1 号",
                "lat": 22.55,
                "lng": 113.88,
                "transformer_capacity_kva": capacity_kva,
                "partner_share_bp": 0,
            },
            timeout=30,
        )
        answer.raise_for_status()
        return str(answer.json()["station_id"])

    def delete_station(self, station_id: str) -> None:
        self.http.delete(f"{self.url}/operator/stations/{station_id}", timeout=30)


@pytest.fixture(scope="module")
def api(demo_ready: Any) -> Api:  # noqa: F811
    return Api(demo_ready)


@pytest.fixture(scope="module")
def site_loads(demo_ready: Any) -> DynamoSiteLoads:  # noqa: F811
    tables = json.loads((demo_ready.state_dir / "stack.json").read_text())["tables"]
    client = boto3.Session(
        region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local"
    ).client("dynamodb", endpoint_url=demo_ready.aws_endpoint)
    return DynamoSiteLoads(tables["SESSIONS_TABLE"], client)


@pytest.fixture
def stations(api: Api) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for station_id in made:
        api.delete_station(station_id)


def _chip(page: Any, station_id: str) -> Any:  # noqa: F811
    return page.locator(
        f'[data-testid=monitor-station][data-station-id="{station_id}"] [data-testid=site-load]'
    )


def test_monitor_shows_the_live_load_and_band_of_the_station_with_a_meter_and_nothing_without(
    demo_ready: Any,  # noqa: F811
    page: Any,  # noqa: F811
    api: Api,
) -> None:
    sunshine = api.station_id(SUNSHINE.name)
    no_meter = api.station_id(NO_METER.name)
    _login(page, demo_ready.http_url, *demo.DEMO_ADMIN)
    page.goto(f"{demo_ready.http_url}/#/monitor")
    page.wait_for_selector(f'[data-testid=monitor-station][data-station-id="{no_meter}"]')
    chip = _chip(page, sunshine)
    chip.wait_for(timeout=FIRST_READING_WITHIN_MS)  # the monitor refreshes itself every 5 s
    answer = api.load(sunshine).json()
    assert answer["is_live"] and answer["band"] == "normal"  # ~60 kW of 630 kVA
    assert chip.get_attribute("data-band") == "normal"
    assert "站点负载" in chip.inner_text()
    kw = chip.locator("[data-testid=site-load-kw]").inner_text()
    assert kw.endswith(" kW") and 1 <= float(kw.removesuffix(" kW")) < 630
    share = chip.locator("[data-testid=site-load-share]").inner_text()
    assert share.startswith("变压器 ") and share.endswith("%")
    assert chip.locator("[data-testid=site-load-band]").inner_text() == "正常"
    assert "秒前" in chip.locator("[data-testid=site-load-age]").inner_text()
    assert api.load(no_meter).status_code == 404
    assert _chip(page, no_meter).count() == 0


def test_monitor_shows_limited_refused_and_stale_readings_by_colour_and_label(
    demo_ready: Any,  # noqa: F811
    page: Any,  # noqa: F811
    api: Api,
    site_loads: DynamoSiteLoads,
    stations: list[str],
) -> None:
    now = datetime.now(UTC)
    cases = {  # station -> (power W of 400 kVA, reading age, expected band, label)
        "limited": (240_001, timedelta(0), "limited", "新充电限功率 50%"),  # 60.0 %
        "refused": (320_001, timedelta(0), "refused", "暂停新充电"),  # 80.0003 %
        "stale": (390_000, timedelta(minutes=10), "stale", "读数过期"),  # would refuse if live
    }
    ids = {}
    for label, (power_w, age, _, _) in cases.items():
        station_id = api.new_station(label, 400)
        stations.append(station_id)
        ids[label] = station_id
        assert site_loads.record(
            SiteLoad(
                station_id=station_id,
                at=now - age,
                received_at=now - age,
                gateway_id=f"GW-{uuid.uuid4().hex[:6]}",
                power_w=power_w,
            )
        )
    _login(page, demo_ready.http_url, *demo.DEMO_ADMIN)
    page.goto(f"{demo_ready.http_url}/#/monitor")
    for label, (power_w, _, band, text) in cases.items():
        chip = _chip(page, ids[label])
        chip.wait_for()
        assert chip.get_attribute("data-band") == band
        assert chip.locator("[data-testid=site-load-band]").inner_text() == text
        assert chip.get_attribute("data-power-w") == str(power_w)
    stale = _chip(page, ids["stale"])
    assert "10 分钟前" in stale.inner_text()
    assert not any(word in stale.inner_text() for word in ("正常", "限功率", "暂停"))
    assert api.load(ids["stale"]).json()["band"] is None
    assert _chip(page, ids["limited"]).locator("[data-testid=site-load-kw]").inner_text() == (
        "240.0 kW"
    )
    assert _chip(page, ids["refused"]).locator("[data-testid=site-load-share]").inner_text() == (
        "变压器 80.00%"
    )
    colours = {
        label: _chip(page, ids[label])
        .locator("[data-testid=site-load-band]")
        .evaluate("(el) => getComputedStyle(el).backgroundColor")
        for label in cases
    }
    assert len(set(colours.values())) == 3
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    page.evaluate("() => localStorage.setItem('cc.lang', 'en')")
    page.reload()
    refused = _chip(page, ids["refused"])
    refused.wait_for()
    assert refused.locator("[data-testid=site-load-band]").inner_text() == "New charges refused"
    assert "80.00% of transformer" in refused.inner_text()
    assert "10 min ago" in _chip(page, ids["stale"]).inner_text()


def test_band_computed_in_the_browser_matches_the_server_rule_when_the_answer_lacks_it(
    demo_ready: Any,  # noqa: F811
    page: Any,  # noqa: F811
) -> None:
    capacity_w = 630_000
    loads = [-5_000, 0, 315_000, 315_001, 504_000, 504_001, 630_000, 700_000]
    now = datetime.now(UTC)
    fresh = (now - timedelta(seconds=30)).isoformat()
    old = (now - timedelta(minutes=6)).isoformat()
    page.goto(f"{demo_ready.http_url}/")
    results = page.evaluate(
        """async ([loads, capacity, fresh, old]) => {
            const s = await import('/js/siteload.js');
            const bare = (power_w, at) => ({ power_w, at, received_at: at, capacity_w: capacity });
            return {
              bands: loads.map((w) => s.bandOf(w, capacity)),
              described: loads.map((w) => s.describeLoad(bare(w, fresh)).band),
              shares: loads.map((w) => s.describeLoad(bare(w, fresh)).shareBp),
              stale: s.describeLoad(bare(600000, old)),
              kw: [63217, -1500, 0, 999].map(s.formatKw1),
            };
        }""",
        [loads, capacity_w, fresh, old],
    )
    expected = [band_of(w, capacity_w).value for w in loads]
    assert results["bands"] == expected
    assert results["described"] == expected
    assert results["shares"] == [max(w, 0) * 10_000 // capacity_w for w in loads]
    assert results["stale"]["isLive"] is False and results["stale"]["band"] is None
    assert results["kw"] == ["63.2", "-1.5", "0.0", "0.9"]


def test_poller_asks_each_station_once_per_refresh_and_a_station_without_meter_once_a_minute(
    demo_ready: Any,  # noqa: F811
    page: Any,  # noqa: F811
) -> None:
    page.goto(f"{demo_ready.http_url}/")
    results = page.evaluate(
        """async () => {
            const s = await import('/js/siteload.js');
            const { ApiError } = await import('/js/api.js');
            const calls = [];
            const poller = new s.SiteLoadPoller(async (id) => {
              calls.push(id);
              if (id === 'no-meter') throw new ApiError(404, 'not_found', 'no load');
              if (id === 'broken') throw new ApiError(503, 'upstream', 'down');
              return { station_id: id, power_w: 1000 };
            });
            const ids = ['meter', 'no-meter', 'broken'];
            const seen = [];
            for (const at of [0, 5000, 59999, 60000]) {
              const loads = await poller.poll(ids, at);
              const got = [...loads.entries()].map(([id, v]) => [id, v.error ? 'error' : 'ok']);
              seen.push(got.sort());
            }
            return { calls, seen };
        }"""
    )
    assert results["calls"] == [
        "meter",
        "no-meter",
        "broken",
        "meter",
        "broken",
        "meter",
        "broken",
        "meter",
        "no-meter",
        "broken",
    ]
    assert all(seen == [["broken", "error"], ["meter", "ok"]] for seen in results["seen"])
