"""The demo on a running local stack: seeded data through the API, live simulated piles,
the card balance, tenancy of the demo logins, and a free pile an outside client can use."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from infra.local import demo
from infra.local.simulators.ocpp_pile import OcppPileSimulator

ROOT = Path(__file__).resolve().parents[2]
ONLINE_WITHIN_S = 30.0


class Api:
    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()
        self.http.trust_env = False
        answer = self.http.post(
            f"{self.base_url}/operator/auth/login",
            json={"username": username, "password": password},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        self.http.headers["Authorization"] = f"Bearer {answer.json()['id_token']}"

    def get(self, path: str, **params: str) -> requests.Response:
        return self.http.get(f"{self.base_url}{path}", params=params, timeout=30)

    def post(self, path: str, body: dict[str, Any]) -> requests.Response:
        return self.http.post(f"{self.base_url}{path}", json=body, timeout=30)

    def ok(self, path: str, **params: str) -> Any:
        answer = self.get(path, **params)
        assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text}"
        return answer.json()


SEEDED_WITHIN_S = 90.0


def wait_for_demo(stack: Any) -> None:
    """Block until the demo thread has seeded everything (the card is its last step).

    The stack prints ``local stack ready`` before the demo starts seeding through the API.
    """
    deadline = time.monotonic() + SEEDED_WITHIN_S
    http = requests.Session()
    http.trust_env = False
    while time.monotonic() < deadline:
        login = http.post(
            f"{stack.http_url}/operator/auth/login",
            json={"username": demo.DEMO_ADMIN[0], "password": demo.DEMO_ADMIN[1]},
            timeout=30,
        )
        if login.status_code == 200:
            card = http.get(
                f"{stack.http_url}/operator/cards/{demo.CARD_NO}",
                headers={"Authorization": f"Bearer {login.json()['id_token']}"},
                timeout=30,
            )
            if card.status_code == 200 and card.json().get("balance_fen") == demo.CARD_BALANCE_FEN:
                return
        time.sleep(1.0)
    raise AssertionError(f"the demo did not finish seeding:\n{stack.log_tail()}")


@pytest.fixture(scope="module")
def seeded(demo_stack: Any) -> Any:
    wait_for_demo(demo_stack)
    return demo_stack


@pytest.fixture(scope="module")
def admin(seeded: Any) -> Api:
    return Api(seeded.http_url, *demo.DEMO_ADMIN)


@pytest.fixture(scope="module")
def platform(seeded: Any) -> Api:
    return Api(seeded.http_url, *demo.PLATFORM_ADMIN)


def _wait_for(condition: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"{what} not true within {timeout_s:.0f} s (last: {last!r})")


@pytest.mark.e2e
def test_demo_operator_logins_and_roles_exist_when_the_demo_has_seeded(seeded: Any) -> None:
    admin_me = Api(seeded.http_url, *demo.DEMO_ADMIN).ok("/operator/me")
    maint_me = Api(seeded.http_url, *demo.DEMO_MAINT).ok("/operator/me")
    assert admin_me["role"] == "operator-admin"
    assert maint_me["role"] == "maintenance"
    assert admin_me["operator_id"] == maint_me["operator_id"]
    operators = Api(seeded.http_url, *demo.PLATFORM_ADMIN).ok("/operator/operators")["items"]
    ours = [op for op in operators if op["name"] == demo.OPERATOR_NAME]
    assert [op["operator_id"] for op in ours] == [admin_me["operator_id"]]


@pytest.mark.e2e
def test_demo_stations_have_tou_tariffs_and_an_even_partner_share_when_listed(admin: Api) -> None:
    stations = {s["name"]: s for s in admin.ok("/operator/stations")["items"]}
    for expected in demo.STATIONS:
        station = stations[expected.name]
        assert station["partner_share_bp"] == 5000
        assert (station["lat"], station["lng"]) == (expected.lat, expected.lng)
        tariff = admin.ok(f"/operator/tariffs/{station['tariff_id']}")
        assert {p["kind"] for p in tariff["periods"]} == {"sharp", "peak", "flat", "valley"}
    residential = next(s for s in demo.STATIONS if s.key == "sunshine")
    tariff = admin.ok(f"/operator/tariffs/{stations[residential.name]['tariff_id']}")
    assert [b["max_power_w"] for b in tariff["ebike_power_bands"]] == [200, 400, 800, 1200]


@pytest.mark.e2e
def test_demo_piles_exist_with_their_protocols_and_guns_when_listed(admin: Api) -> None:
    piles = {p["pile_id"]: p for p in admin.ok("/operator/piles")["items"]}
    for expected in demo.PILES:
        pile = piles[expected.pile_id]
        assert (pile["protocol"], pile["kind"], pile["gun_count"]) == (
            expected.protocol,
            expected.kind,
            expected.gun_count,
        )
        assert "password" not in pile and "password_hash" not in pile
        guns = admin.ok(f"/operator/piles/{expected.pile_id}/guns")["items"]
        assert [g["gun_no"] for g in guns] == list(range(1, expected.gun_count + 1))
    for free in ("DEMO-16-FREE", "DEMO-201-FREE"):
        assert piles[free]["gun_count"] == 2


@pytest.mark.e2e
def test_simulated_piles_come_online_with_gun_statuses_within_30_s(admin: Api) -> None:
    simulated = [p for p in demo.PILES if p.is_simulated and p.protocol != "modbus"]

    def all_online() -> bool:
        return all(admin.ok(f"/operator/piles/{p.pile_id}")["is_online"] for p in simulated)

    _wait_for(all_online, ONLINE_WITHIN_S, "simulated OCPP piles online")

    def every_gun_reported() -> bool:
        for pile in simulated:
            guns = admin.ok(f"/operator/piles/{pile.pile_id}/guns")["items"]
            if any(not g.get("status") for g in guns):
                return False
        return True

    _wait_for(every_gun_reported, ONLINE_WITHIN_S, "every simulated gun has a status")
    guns = admin.ok("/operator/piles/DEMO-16-B/guns")["items"]
    assert guns[1]["status"].lower() == "faulted"


@pytest.mark.e2e
def test_demo_ebike_ports_get_statuses_and_the_site_load_appears_within_30_s(
    admin: Api,
) -> None:
    ebike = next(p for p in demo.PILES if p.protocol == "modbus")
    bus = admin.ok(f"/operator/gateways/{demo.GATEWAY_ID}")["devices"]
    assert [(d["address"], d["map_id"], d["pile_id"]) for d in bus] == [
        (ebike.modbus_address, "cc-ebike-10", ebike.pile_id),
        (demo.SITE_METER["address"], demo.SITE_METER["map_id"], None),
    ]

    def every_port_reported() -> list[dict[str, Any]] | None:
        guns: list[dict[str, Any]] = admin.ok(f"/operator/piles/{ebike.pile_id}/guns")["items"]
        return guns if guns and all(g.get("status") for g in guns) else None

    guns = _wait_for(every_port_reported, ONLINE_WITHIN_S, f"every {ebike.pile_id} port reported")
    statuses = {g["gun_no"]: g["status"] for g in guns}
    # build_fleet: ports 1-3 charging, 4 plugged, 9 faulted (over-temperature).
    assert (statuses[1], statuses[4], statuses[9]) == ("Charging", "Preparing", "Faulted")
    assert statuses[10] == "Available"

    stations = {s["name"]: s["station_id"] for s in admin.ok("/operator/stations")["items"]}
    sunshine = next(s for s in demo.STATIONS if s.key == demo.SITE_METER_STATION)
    path = f"/operator/stations/{stations[sunshine.name]}/load"

    def site_load() -> dict[str, Any] | None:
        answer = admin.get(path)
        return answer.json() if answer.status_code == 200 else None

    load = _wait_for(site_load, ONLINE_WITHIN_S, "the Sunshine Garden site load")
    # The simulated site draws 60 kW +- 25 % over the day (PT and CT 1).
    assert 40_000 <= load["power_w"] <= 80_000
    assert load["gateway_id"] == demo.GATEWAY_ID


@pytest.mark.e2e
def test_demo_card_holds_exactly_100_yuan_when_seeded_once_or_again(
    seeded: Any, admin: Api
) -> None:
    card = admin.ok(f"/operator/cards/{demo.CARD_NO}")
    assert card["balance_fen"] == demo.CARD_BALANCE_FEN
    first = demo.seed(seeded.http_url)
    second = demo.seed(seeded.http_url)
    assert first == second
    assert admin.ok(f"/operator/cards/{demo.CARD_NO}")["balance_fen"] == demo.CARD_BALANCE_FEN
    names = [s["name"] for s in admin.ok("/operator/stations")["items"]]
    assert all(names.count(s.name) == 1 for s in demo.STATIONS)


@pytest.mark.e2e
def test_demo_admin_sees_only_its_operator_when_another_exists(admin: Api, platform: Api) -> None:
    other = platform.post("/operator/operators", {"name": "Other Operator For Demo Test"})
    assert other.status_code in (200, 201), other.text
    other_id = other.json()["operator_id"]
    station = platform.post(
        "/operator/stations",
        {
            "operator_id": other_id,
            "name": "Other Station",
            "address": "Elsewhere",
            "lat": 23.1,
            "lng": 113.3,
            "transformer_capacity_kva": 400,
            "partner_share_bp": 0,
        },
    )
    assert station.status_code in (200, 201), station.text
    station_id = station.json()["station_id"]

    me = admin.ok("/operator/me")
    listed = admin.ok("/operator/stations")["items"]
    assert {s["operator_id"] for s in listed} == {me["operator_id"]}
    assert admin.get(f"/operator/stations/{station_id}").status_code == 404
    assert admin.get(f"/operator/operators/{other_id}").status_code in (403, 404)
    assert admin.get("/operator/stations", operator_id=other_id).status_code == 404


@pytest.mark.e2e
def test_maintenance_login_cannot_change_base_data(seeded: Any) -> None:
    maint = Api(seeded.http_url, *demo.DEMO_MAINT)
    answer = maint.post(
        "/operator/cards", {"card_no": "MAINT-TRY", "holder_name": "x", "phone": "13800000000"}
    )
    assert answer.status_code == 403
    assert "error" in answer.json()
    assert maint.get("/operator/cards/MAINT-TRY").status_code == 404


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("pile_id", "protocol"), [("DEMO-16-FREE", "ocpp1.6"), ("DEMO-201-FREE", "ocpp2.0.1")]
)
def test_free_pile_accepts_an_outside_client_with_the_documented_password(
    demo_stack: Any, admin: Api, pile_id: str, protocol: str
) -> None:
    pile = OcppPileSimulator(
        pile_id, demo.FREE_PILE_PASSWORD, demo_stack.ws_url, protocol, gun_count=2
    )

    async def connect_boot_and_leave() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(pile.run(stop))
        try:
            await asyncio.wait_for(pile.accepted.wait(), timeout=20)
            await pile.plug_in(2)
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=10)

    asyncio.run(connect_boot_and_leave())
    assert pile.stats.refused == 0
    assert pile.stats.last_boot_status == "Accepted"
    guns = admin.ok(f"/operator/piles/{pile_id}/guns")["items"]
    assert guns[1]["status"] in ("Preparing", "Occupied")


def test_demo_doc_lists_every_fixed_name_and_credential() -> None:
    text = (ROOT / "docs" / "demo.md").read_text(encoding="utf-8")
    fixed = [
        demo.OPERATOR_NAME,
        *demo.DEMO_ADMIN,
        *demo.DEMO_MAINT,
        demo.FREE_PILE_PASSWORD,
        demo.SIM_PILE_PASSWORD,
        demo.CARD_NO,
        demo.CARD_TOP_UP_REQUEST_ID,
        demo.GATEWAY_ID,
        demo.GATEWAY_ICCID,
        *(p.pile_id for p in demo.PILES),
        *(s.name for s in demo.STATIONS),
        *(t.name for t in demo.TARIFFS),
    ]
    missing = [name for name in fixed if name not in text]
    assert missing == []
    assert re.search(r"100\.00 yuan", text)


def test_demo_pile_passwords_fit_the_platform_rule() -> None:
    for pile in demo.PILES:
        if pile.protocol == "modbus":
            assert pile.password is None and pile.gateway_id == demo.GATEWAY_ID
        else:
            assert pile.password is not None and 16 <= len(pile.password) <= 40
