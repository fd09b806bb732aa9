"""The operator dashboard in headless Chromium against the demo stack."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from infra.local import demo
from tests.e2e.test_demo import wait_for_demo

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / ".local-stack" / "dashboard.png"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed"),
]


@pytest.fixture(scope="module")
def demo_ready(demo_stack: Any) -> Any:
    wait_for_demo(demo_stack)
    return demo_stack


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    opened.problems = problems
    yield opened
    context.close()
    assert problems == []


def _login(page: Any, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/")
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.click("#login-submit")
    page.wait_for_selector("#whoami")


def _api_token(base_url: str, username: str, password: str) -> str:
    answer = requests.post(
        f"{base_url}/operator/auth/login",
        json={"username": username, "password": password},
        timeout=30,
    )
    answer.raise_for_status()
    return str(answer.json()["id_token"])


def test_monitor_shows_demo_stations_and_online_piles_when_demo_admin_logs_in(
    demo_ready: Any, page: Any
) -> None:
    _login(page, demo_ready.http_url, *demo.DEMO_ADMIN)
    assert demo.DEMO_ADMIN[0] in page.inner_text("#whoami")
    page.goto(f"{demo_ready.http_url}/#/monitor")
    page.wait_for_selector("[data-testid=monitor-station]")
    station_text = page.inner_text("#monitor-body")
    for station in demo.STATIONS:
        assert station.name in station_text
    simulated = [p.pile_id for p in demo.PILES if p.is_simulated and p.protocol != "modbus"]
    for pile_id in simulated:
        # The monitor refreshes itself every 5 s: wait for the pile to turn online there.
        page.wait_for_selector(
            f'[data-testid=monitor-pile][data-pile-id="{pile_id}"][data-online="true"]',
            timeout=45_000,
        )
    free = page.locator('[data-testid=monitor-pile][data-pile-id="DEMO-16-FREE"]')
    assert free.count() == 1
    states = page.locator(
        '[data-testid=monitor-pile][data-pile-id="DEMO-16-B"] [data-testid=monitor-gun]'
    )
    page.wait_for_function(
        """() => [...document.querySelectorAll(
              '[data-pile-id="DEMO-16-B"] [data-testid=monitor-gun]')]
              .some((g) => g.dataset.state === 'faulted')""",
        timeout=30_000,
    )
    assert states.count() == 2
    page.goto(f"{demo_ready.http_url}/#/overview")
    page.wait_for_selector("[data-testid=overview-table]")
    overview = page.inner_text("[data-testid=overview-table]")
    assert all(station.name in overview for station in demo.STATIONS)
    page.goto(f"{demo_ready.http_url}/#/monitor")
    page.wait_for_selector('[data-testid=monitor-pile][data-online="true"]')
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_station_created_through_the_form_is_listed_when_the_api_accepts_it(
    demo_ready: Any, page: Any
) -> None:
    name = f"测试电站 Test Station {uuid.uuid4().hex[:6]}"
    _login(page, demo_ready.http_url, *demo.DEMO_ADMIN)
    page.goto(f"{demo_ready.http_url}/#/stations")
    page.click("[data-testid=new-station] > summary")
    form = page.locator("[data-testid=station-form]")
    form.locator("[name=name]").fill(name)
    form.locator("[name=address]").fill("深圳市宝安区测试路 1 号")
    form.locator("[name=lat]").fill("22.5550")
    form.locator("[name=lng]").fill("113.8830")
    form.locator("[name=transformer_capacity_kva]").fill("400")
    form.locator("[name=partner_share]").fill("30")
    form.locator("[data-testid=station-form-submit]").click()
    page.wait_for_selector(f"[data-testid=station-name]:text-is('{name}')")
    token = _api_token(demo_ready.http_url, *demo.DEMO_ADMIN)
    headers = {"Authorization": f"Bearer {token}"}
    stations = requests.get(
        f"{demo_ready.http_url}/operator/stations", headers=headers, timeout=30
    ).json()["items"]
    created = [s for s in stations if s["name"] == name]
    assert len(created) == 1
    assert created[0]["partner_share_bp"] == 3000
    assert created[0]["transformer_capacity_kva"] == 400
    deleted = requests.delete(
        f"{demo_ready.http_url}/operator/stations/{created[0]['station_id']}",
        headers=headers,
        timeout=30,
    )
    assert deleted.status_code in (200, 204)


def test_form_shows_the_api_validation_error_when_input_is_bad(demo_ready: Any, page: Any) -> None:
    _login(page, demo_ready.http_url, *demo.DEMO_ADMIN)
    page.goto(f"{demo_ready.http_url}/#/stations")
    page.click("[data-testid=new-station] > summary")
    form = page.locator("[data-testid=station-form]")
    form.locator("[name=name]").fill("Bad Latitude Station")
    form.locator("[name=address]").fill("Nowhere")
    form.locator("[name=lat]").fill("123.5")
    form.locator("[name=lng]").fill("113.9")
    form.locator("[name=transformer_capacity_kva]").fill("400")
    form.locator("[data-testid=station-form-submit]").click()
    error = form.locator("[data-testid=form-error]")
    error.wait_for()
    text = error.inner_text()
    assert "lat" in text
    assert "HTTP 4" in text
    assert form.locator(".field.invalid[data-field=lat]").count() == 1
    token = _api_token(demo_ready.http_url, *demo.DEMO_ADMIN)
    stations = requests.get(
        f"{demo_ready.http_url}/operator/stations",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).json()["items"]
    assert all(s["name"] != "Bad Latitude Station" for s in stations)


def test_login_form_shows_the_error_when_the_password_is_wrong(demo_ready: Any, page: Any) -> None:
    page.goto(f"{demo_ready.http_url}/")
    page.fill("#login-username", demo.DEMO_ADMIN[0])
    page.fill("#login-password", "not-the-password")
    page.click("#login-submit")
    page.wait_for_selector("[data-testid=form-error]")
    assert page.locator("#whoami").count() == 0


def test_maintenance_sees_data_read_only_when_logged_in(demo_ready: Any, page: Any) -> None:
    _login(page, demo_ready.http_url, *demo.DEMO_MAINT)
    page.wait_for_selector("#read-only-badge")
    page.goto(f"{demo_ready.http_url}/#/cards")
    page.wait_for_selector(f"[data-testid='balance-{demo.CARD_NO}']")
    assert page.inner_text(f"[data-testid='balance-{demo.CARD_NO}']") == "¥100.00"
    assert page.locator("[data-testid=new-card]").count() == 0
    page.goto(f"{demo_ready.http_url}/#/stations")
    page.wait_for_selector("[data-testid=stations-table]")
    assert page.locator("[data-testid=new-station]").count() == 0
    assert page.locator("[data-testid=edit-station]").count() == 0
    assert page.locator("#nav-operators").count() == 0


def test_money_is_formatted_and_parsed_exactly_when_run_in_the_browser(
    demo_ready: Any, page: Any
) -> None:
    page.goto(f"{demo_ready.http_url}/")
    results = page.evaluate(
        """async () => {
            const m = await import('/js/money.js');
            return {
              formatted: [10000, -105, 5, 0, 123456789, 2 ** 53].map(m.formatYuan),
              parsed: ['100', '100.5', '0.07', '1,000.00', '1.234', 'abc', '-2.50']
                .map(m.parseYuan),
              share: [m.parsePercentBp('50'), m.parsePercentBp('12.5'), m.formatPercentBp(5000)],
            };
        }"""
    )
    assert results["formatted"] == ["100.00", "-1.05", "0.05", "0.00", "1,234,567.89", "—"]
    assert results["parsed"] == [10000, 10050, 7, 100000, None, None, -250]
    assert results["share"] == [5000, 1250, "50.00%"]


def test_session_renews_its_token_before_it_expires_when_the_dashboard_stays_open(
    demo_ready: Any, page: Any
) -> None:
    _login(page, demo_ready.http_url, *demo.DEMO_ADMIN)
    before = page.evaluate(
        """() => {
            const s = JSON.parse(sessionStorage.getItem('cc.session'));
            s.expires_at = Date.now() + 30000;  // about to expire
            sessionStorage.setItem('cc.session', JSON.stringify(s));
            return s;
        }"""
    )
    page.goto(f"{demo_ready.http_url}/#/stations")
    page.wait_for_selector("[data-testid=stations-table]")
    after = page.evaluate("() => JSON.parse(sessionStorage.getItem('cc.session'))")
    assert after["expires_at"] > before["expires_at"] + 600_000
    assert after["id_token"]
    assert page.locator("#whoami").count() == 1


def test_pile_can_be_disabled_and_enabled_from_the_piles_page(demo_ready: Any, page: Any) -> None:
    token = _api_token(demo_ready.http_url, *demo.DEMO_ADMIN)
    headers = {"Authorization": f"Bearer {token}"}

    def is_enabled() -> bool:
        pile = requests.get(
            f"{demo_ready.http_url}/operator/piles/DEMO-201-FREE", headers=headers, timeout=30
        ).json()
        return bool(pile["is_enabled"])

    _login(page, demo_ready.http_url, *demo.DEMO_ADMIN)
    page.goto(f"{demo_ready.http_url}/#/piles")
    toggle = page.locator("[data-testid=toggle-DEMO-201-FREE]")
    toggle.wait_for()
    assert is_enabled()
    toggle.click()
    page.wait_for_selector("#main .alert-ok")
    assert not is_enabled()
    page.locator("[data-testid=toggle-DEMO-201-FREE]").click()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=toggle-DEMO-201-FREE]')?.textContent === '停用'"
    )
    assert is_enabled()


def test_tariff_from_the_tou_template_is_created_and_drawn_when_saved(
    demo_ready: Any, page: Any
) -> None:
    name = f"E2E 分时 {uuid.uuid4().hex[:6]}"
    _login(page, demo_ready.http_url, *demo.DEMO_ADMIN)
    page.goto(f"{demo_ready.http_url}/#/tariffs")
    page.click("[data-testid=new-tariff] > summary")
    editor = page.locator("[data-testid=tariff-form]")
    editor.locator("[data-testid=field-tariff-name]").fill(name)
    editor.locator("button", has_text="深圳").click()
    assert editor.locator(".period-row").count() == 8
    editor.locator("button[type=submit]").click()
    row = page.locator("[data-testid=tariffs-table] tr", has_text=name)
    row.wait_for()
    assert row.locator(".timeline .seg").count() == 8
    token = _api_token(demo_ready.http_url, *demo.DEMO_ADMIN)
    tariffs = requests.get(
        f"{demo_ready.http_url}/operator/tariffs",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).json()["items"]
    created = next(t for t in tariffs if t["name"] == name)
    assert created["periods"][0] == {
        "kind": "valley",
        "start": "00:00",
        "end": "08:00",
        "electricity_fen_per_kwh": 30,
        "service_fen_per_kwh": 40,
    }


def test_tariff_editor_shows_the_api_error_when_periods_leave_a_gap(
    demo_ready: Any, page: Any
) -> None:
    _login(page, demo_ready.http_url, *demo.DEMO_ADMIN)
    page.goto(f"{demo_ready.http_url}/#/tariffs")
    page.click("[data-testid=new-tariff] > summary")
    editor = page.locator("[data-testid=tariff-form]")
    editor.locator("[data-testid=field-tariff-name]").fill("Gap tariff")
    row = editor.locator(".period-row").first
    row.locator("[name=end]").fill("20:00")
    row.locator("[name=electricity]").fill("0.80")
    row.locator("[name=service]").fill("0.40")
    editor.locator("button[type=submit]").click()
    error = editor.locator("[data-testid=form-error]")
    error.wait_for()
    assert "20:00-24:00" in error.inner_text()


def test_card_issued_and_topped_up_in_yuan_shows_the_exact_balance(
    demo_ready: Any, page: Any
) -> None:
    card_no = f"E2E-{uuid.uuid4().hex[:8]}"
    _login(page, demo_ready.http_url, *demo.DEMO_ADMIN)
    page.goto(f"{demo_ready.http_url}/#/cards")
    page.click("[data-testid=new-card] > summary")
    issue = page.locator("[data-testid=card-form]")
    issue.locator("[name=card_no]").fill(card_no)
    issue.locator("[name=holder_name]").fill("测试 Rider")
    issue.locator("[name=phone]").fill("13900000000")
    issue.locator("[data-testid=card-form-submit]").click()
    amount = page.locator(f"[data-testid=topup-amount-{card_no}]")
    amount.wait_for()
    amount.fill("12.3")
    amount.press("Enter")
    page.wait_for_function(
        f"() => document.querySelector(\"[data-testid='balance-{card_no}']\")"
        "?.textContent === '¥12.30'"
    )
    token = _api_token(demo_ready.http_url, *demo.DEMO_ADMIN)
    card = requests.get(
        f"{demo_ready.http_url}/operator/cards/{card_no}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).json()
    assert card["balance_fen"] == 1230
