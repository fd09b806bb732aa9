"""``make demo``: fixed, documented demo data seeded through the real operator API, then
simulated piles so the dashboard shows live data at once.

``start_demo(stack_info, stop_event)`` is called by ``python -m infra.local run --demo``
in a thread once the stack is up. It signs in as the platform admin over HTTP and seeds,
idempotently (every object is looked up by its fixed id or name before it is created, and
the card top-up carries a fixed request id), the data listed in ``docs/demo.md``; then it
runs the simulators until ``stop_event`` is set. Piles, guns, the gateway and the card
have fixed ids; operators, stations and tariffs get ids the API mints, and the demo finds
them again by name.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from infra.local.simulators.ebike_gateway import EbikeGatewaySimulator
from infra.local.simulators.fleet import Fleet
from infra.local.simulators.modbus_frames import PortFault
from infra.local.simulators.ocpp_pile import OcppPileSimulator

log = logging.getLogger("charging_cloud.demo")

PLATFORM_ADMIN = ("platform-admin", "platform-admin-pass")
OPERATOR_NAME = "Demo Charging Co."
OPERATOR_CONTACT = ("演示联系人 Demo Contact", "075588880000")
DEMO_ADMIN = ("demo-admin", "demo-admin-pass")
DEMO_MAINT = ("demo-maint", "demo-maint-pass")
FREE_PILE_PASSWORD = "demo-pile-password-16"  # noqa: S105 - documented demo credential
SIM_PILE_PASSWORD = "demo-sim-password-0001"  # noqa: S105 - documented demo credential

CARD_NO = "DEMO-CARD-1"
CARD_HOLDER = ("演示用户 Demo Rider", "13800138000")
CARD_BALANCE_FEN = 10_000
CARD_TOP_UP_REQUEST_ID = "demo-card-1-initial-top-up"

GATEWAY_ID = "DEMO-GW-1"
GATEWAY_ICCID = "89860123456789012345"
# The site meter the simulated gateway carries (infra/local/simulators/ebike_gateway.py):
# an Acrel ADL400 at address 2 measuring Sunshine Garden's transformer, reading primary
# values (PT and CT 1). DEMO-EB-1 joins the bus at its modbus_address when it is created.
SITE_METER = {"address": 2, "map_id": "acrel-adl400", "pt_ratio": 1, "ct_ratio": 1}
SITE_METER_STATION = "sunshine"

REQUEST_TIMEOUT_S = 30


@dataclass(frozen=True, slots=True)
class DemoTariff:
    key: str
    name: str
    # (kind, start, end, electricity fen/kWh, service fen/kWh) in Asia/Shanghai local time
    periods: tuple[tuple[str, str, str, int, int], ...]
    ebike_power_bands: tuple[tuple[int, int], ...] = ()  # (max_power_w, fen_per_hour)

    def body(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "periods": [
                {
                    "kind": kind,
                    "start": start,
                    "end": end,
                    "electricity_fen_per_kwh": electricity,
                    "service_fen_per_kwh": service,
                }
                for kind, start, end, electricity, service in self.periods
            ],
            "ebike_power_bands": [
                {"max_power_w": max_w, "fen_per_hour": fen} for max_w, fen in self.ebike_power_bands
            ],
        }


@dataclass(frozen=True, slots=True)
class DemoStation:
    key: str
    name: str
    address: str
    lat: float
    lng: float
    transformer_capacity_kva: int
    tariff_key: str
    partner_name: str
    partner_share_bp: int = 5_000  # 50:50 with the site partner


@dataclass(frozen=True, slots=True)
class DemoPile:
    pile_id: str
    station_key: str
    name: str
    kind: str  # car | ebike
    protocol: str  # ocpp1.6 | ocpp2.0.1 | modbus
    model: str
    rated_power_w: int
    gun_count: int
    is_simulated: bool
    password: str | None = None
    gateway_id: str | None = None
    modbus_address: int | None = None

    def body(self, station_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "pile_id": self.pile_id,
            "station_id": station_id,
            "name": self.name,
            "serial": f"SN-{self.pile_id}",
            "kind": self.kind,
            "protocol": self.protocol,
            "model": self.model,
            "rated_power_w": self.rated_power_w,
            "gun_count": self.gun_count,
            "is_enabled": True,
        }
        if self.password is not None:
            body["password"] = self.password
        if self.gateway_id is not None:
            body["gateway_id"] = self.gateway_id
            body["modbus_address"] = self.modbus_address
        return body


# Guangdong-style time-of-use day; sharp in the evening peak. Prices in fen per kWh.
_TOU_RESIDENTIAL = (
    ("valley", "00:00", "08:00", 30, 40),
    ("flat", "08:00", "10:00", 62, 50),
    ("peak", "10:00", "12:00", 98, 60),
    ("flat", "12:00", "14:00", 62, 50),
    ("peak", "14:00", "19:00", 98, 60),
    ("sharp", "19:00", "21:00", 118, 60),
    ("peak", "21:00", "22:00", 98, 60),
    ("flat", "22:00", "24:00", 62, 50),
)
_TOU_CAR_PARK = (
    ("valley", "00:00", "08:00", 32, 60),
    ("flat", "08:00", "10:00", 68, 80),
    ("peak", "10:00", "12:00", 110, 80),
    ("flat", "12:00", "14:00", 68, 80),
    ("peak", "14:00", "19:00", 110, 80),
    ("sharp", "19:00", "21:00", 132, 80),
    ("peak", "21:00", "22:00", 110, 80),
    ("flat", "22:00", "24:00", 68, 80),
)

TARIFFS = (
    DemoTariff(
        key="residential",
        name="阳光花园分时电价 Sunshine Garden TOU",
        periods=_TOU_RESIDENTIAL,
        ebike_power_bands=((200, 20), (400, 30), (800, 50), (1200, 80)),
    ),
    DemoTariff(key="car_park", name="科技园分时电价 Science Park TOU", periods=_TOU_CAR_PARK),
)

STATIONS = (
    DemoStation(
        key="sunshine",
        name="阳光花园 Sunshine Garden",
        address="广东省深圳市福田区福华路 88 号阳光花园小区 (88 Fuhua Rd, Futian, Shenzhen)",
        lat=22.5431,
        lng=114.0579,
        transformer_capacity_kva=630,
        tariff_key="residential",
        partner_name="阳光花园物业 Sunshine Garden Property Mgmt.",
    ),
    DemoStation(
        key="science_park",
        name="科技园 Science Park",
        address="广东省深圳市南山区科技园南区停车场 (Science Park South car park, Nanshan)",
        lat=22.5405,
        lng=113.9345,
        transformer_capacity_kva=1250,
        tariff_key="car_park",
        partner_name="科技园停车场 Science Park Parking Co.",
    ),
)

PILES = (
    DemoPile(
        pile_id="DEMO-16-A",
        station_key="sunshine",
        name="阳光花园 1 号交流桩 AC #1",
        kind="car",
        protocol="ocpp1.6",
        model="SIM-AC7",
        rated_power_w=7_000,
        gun_count=1,
        is_simulated=True,
        password=SIM_PILE_PASSWORD,
    ),
    DemoPile(
        pile_id="DEMO-EB-1",
        station_key="sunshine",
        name="阳光花园电单车棚 10 口 E-bike shed, 10 ports",
        kind="ebike",
        protocol="modbus",
        model="SIM-EB10",
        rated_power_w=10_000,
        gun_count=10,
        is_simulated=True,
        gateway_id=GATEWAY_ID,
        modbus_address=1,
    ),
    DemoPile(
        pile_id="DEMO-16-FREE",
        station_key="sunshine",
        name="阳光花园 2 号交流桩 · 外部客户端 AC #2 (outside client)",
        kind="car",
        protocol="ocpp1.6",
        model="FREE-AC14",
        rated_power_w=14_000,
        gun_count=2,
        is_simulated=False,
        password=FREE_PILE_PASSWORD,
    ),
    DemoPile(
        pile_id="DEMO-201-A",
        station_key="science_park",
        name="科技园 1 号直流快充 DC #1",
        kind="car",
        protocol="ocpp2.0.1",
        model="SIM-DC120",
        rated_power_w=120_000,
        gun_count=2,
        is_simulated=True,
        password=SIM_PILE_PASSWORD,
    ),
    DemoPile(
        pile_id="DEMO-16-B",
        station_key="science_park",
        name="科技园 2 号直流快充 DC #2",
        kind="car",
        protocol="ocpp1.6",
        model="SIM-DC60",
        rated_power_w=60_000,
        gun_count=2,
        is_simulated=True,
        password=SIM_PILE_PASSWORD,
    ),
    DemoPile(
        pile_id="DEMO-201-FREE",
        station_key="science_park",
        name="科技园 3 号直流快充 · 外部客户端 DC #3 (outside client)",
        kind="car",
        protocol="ocpp2.0.1",
        model="FREE-DC60",
        rated_power_w=60_000,
        gun_count=2,
        is_simulated=False,
        password=FREE_PILE_PASSWORD,
    ),
)


class DemoSeedError(Exception):
    """The operator API refused a seeding step; the message carries its answer."""


class OperatorApiClient:
    """Just enough of the operator API over HTTP for seeding (the demo is an API client)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = requests.Session()
        self._http.trust_env = False  # loopback: never through a proxy
        self._token: str | None = None

    def login(self, username: str, password: str) -> None:
        body = self.call(
            "POST", "/operator/auth/login", {"username": username, "password": password}
        )
        self._token = str(body["id_token"])

    def call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | list[dict[str, Any]] | None = None,
        *,
        params: Mapping[str, str] | None = None,
        accept: tuple[int, ...] = (),
    ) -> dict[str, Any]:
        """One request; a status in ``accept`` (e.g. 404, 409) comes back as
        ``{"status": n, ...}`` instead of raising.

        Raises:
            DemoSeedError: any other non-2xx answer, with the API's error message.
        """
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        response = self._http.request(
            method,
            self.base_url + path,
            json=body,
            params=params,
            headers=headers,
            timeout=REQUEST_TIMEOUT_S,
        )
        data: dict[str, Any] = response.json() if response.content else {}
        if response.ok:
            return data
        if response.status_code in accept:
            return {"status": response.status_code, **data}
        error = data.get("error", {}) if isinstance(data, dict) else {}
        raise DemoSeedError(
            f"{method} {path} -> {response.status_code} {error.get('code', '')}: "
            f"{error.get('message', response.text[:200])}"
        )

    def list_all(self, path: str, params: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        query = dict(params or {})
        while True:
            page = self.call("GET", path, params=query)
            items.extend(page.get("items", []))
            token = page.get("next_token")
            if not token:
                return items
            query["next_token"] = str(token)


@dataclass(frozen=True, slots=True)
class SeededIds:
    """What seeding found or created (the minted ids of this stack)."""

    operator_id: str
    tariff_ids: dict[str, str]
    station_ids: dict[str, str]


def seed(http_url: str) -> SeededIds:
    """Create the demo data through the API unless it exists; safe to run again.

    Raises:
        DemoSeedError: the API refused a step.
        requests.RequestException: the API is unreachable.
    """
    admin = OperatorApiClient(http_url)
    admin.login(*PLATFORM_ADMIN)
    operator_id = _ensure_operator(admin)
    _ensure_staff(admin, operator_id, DEMO_ADMIN, "operator-admin")
    _ensure_staff(admin, operator_id, DEMO_MAINT, "maintenance")

    # The rest is done as the demo operator's admin, as an operator would.
    api = OperatorApiClient(http_url)
    api.login(*DEMO_ADMIN)
    tariff_ids = _ensure_tariffs(api)
    station_ids = _ensure_stations(api, tariff_ids)
    for pile in PILES:
        _ensure_pile(api, pile, station_ids[pile.station_key])
    _ensure_site_meter(api, station_ids[SITE_METER_STATION])
    _ensure_card(api)
    return SeededIds(operator_id=operator_id, tariff_ids=tariff_ids, station_ids=station_ids)


def _ensure_operator(api: OperatorApiClient) -> str:
    for operator in api.list_all("/operator/operators"):
        if operator.get("name") == OPERATOR_NAME:
            return str(operator["operator_id"])
    created = api.call(
        "POST",
        "/operator/operators",
        {
            "name": OPERATOR_NAME,
            "contact_name": OPERATOR_CONTACT[0],
            "contact_phone": OPERATOR_CONTACT[1],
        },
    )
    log.info("demo operator created: %s", created["operator_id"])
    return str(created["operator_id"])


def _ensure_staff(
    api: OperatorApiClient, operator_id: str, login: tuple[str, str], role: str
) -> None:
    username, password = login
    answer = api.call(
        "POST",
        f"/operator/operators/{operator_id}/staff",
        {"username": username, "password": password, "role": role},
        accept=(409,),
    )
    if answer.get("status") != 409:
        log.info("demo staff login created: %s (%s)", username, role)


def _ensure_tariffs(api: OperatorApiClient) -> dict[str, str]:
    existing = {t["name"]: str(t["tariff_id"]) for t in api.list_all("/operator/tariffs")}
    ids: dict[str, str] = {}
    for tariff in TARIFFS:
        if tariff.name in existing:
            ids[tariff.key] = existing[tariff.name]
            continue
        created = api.call("POST", "/operator/tariffs", tariff.body())
        ids[tariff.key] = str(created["tariff_id"])
    return ids


def _ensure_stations(api: OperatorApiClient, tariff_ids: Mapping[str, str]) -> dict[str, str]:
    existing = {s["name"]: s for s in api.list_all("/operator/stations")}
    ids: dict[str, str] = {}
    for station in STATIONS:
        tariff_id = tariff_ids[station.tariff_key]
        found = existing.get(station.name)
        if found is not None:
            ids[station.key] = str(found["station_id"])
            if found.get("tariff_id") != tariff_id:
                api.call(
                    "PATCH", f"/operator/stations/{found['station_id']}", {"tariff_id": tariff_id}
                )
            continue
        created = api.call(
            "POST",
            "/operator/stations",
            {
                "name": station.name,
                "address": station.address,
                "lat": station.lat,
                "lng": station.lng,
                "transformer_capacity_kva": station.transformer_capacity_kva,
                "partner_share_bp": station.partner_share_bp,
                "partner_name": station.partner_name,
                "tariff_id": tariff_id,
            },
        )
        ids[station.key] = str(created["station_id"])
    return ids


def _ensure_pile(api: OperatorApiClient, pile: DemoPile, station_id: str) -> None:
    found = api.call("GET", f"/operator/piles/{pile.pile_id}", accept=(404,))
    if found.get("status") == 404:
        api.call("POST", "/operator/piles", pile.body(station_id))
        log.info("demo pile created: %s", pile.pile_id)
    elif found.get("is_enabled") is False:
        api.call("PATCH", f"/operator/piles/{pile.pile_id}", {"is_enabled": True})
    elif pile.modbus_address is not None:
        # A pile seeded before piles joined their gateway's bus joins it now (idempotent).
        api.call(
            "PATCH", f"/operator/piles/{pile.pile_id}", {"modbus_address": pile.modbus_address}
        )


def _ensure_site_meter(api: OperatorApiClient, station_id: str) -> None:
    """Put the site meter on the demo gateway's bus, keeping the piles there (the PUT
    replaces the whole bus; the piles joined it when they were created)."""
    gateway = api.call("GET", f"/operator/gateways/{GATEWAY_ID}")
    current = [_device_body(device) for device in gateway.get("devices", [])]
    wanted = [d for d in current if d["address"] != SITE_METER["address"]]
    wanted.append({**SITE_METER, "station_id": station_id})
    wanted.sort(key=lambda device: int(device["address"]))
    if wanted != current:
        api.call("PUT", f"/operator/gateways/{GATEWAY_ID}/devices", wanted)
        log.info("demo site meter configured on %s", GATEWAY_ID)


def _device_body(device: Mapping[str, Any]) -> dict[str, Any]:
    """A device as GET shows it -> as PUT takes it (a pile by its id, a meter by station)."""
    if device.get("pile_id") is not None:
        return {name: device[name] for name in ("address", "map_id", "pile_id")}
    return {
        name: device[name] for name in ("address", "map_id", "station_id", "pt_ratio", "ct_ratio")
    }


def _ensure_card(api: OperatorApiClient) -> None:
    found = api.call("GET", f"/operator/cards/{CARD_NO}", accept=(404,))
    if found.get("status") == 404:
        api.call(
            "POST",
            "/operator/cards",
            {"card_no": CARD_NO, "holder_name": CARD_HOLDER[0], "phone": CARD_HOLDER[1]},
        )
    # The fixed request id makes the top-up happen once per stack, however often we run.
    api.call(
        "POST",
        f"/operator/cards/{CARD_NO}/top-ups",
        {"amount_fen": CARD_BALANCE_FEN, "request_id": CARD_TOP_UP_REQUEST_ID},
        accept=(409,),
    )


# --- simulation --------------------------------------------------------------------------


def build_fleet(ws_url: str, mqtt_host: str, mqtt_port: int) -> Fleet:
    """The simulated piles and gateway of the demo, with a scenario that keeps data moving."""
    piles = {
        pile.pile_id: OcppPileSimulator(
            pile.pile_id,
            pile.password or "",
            ws_url,
            pile.protocol,
            gun_count=pile.gun_count,
            vendor="ChargingCloudSim",
            model=pile.model,
            serial=f"SN-{pile.pile_id}",
            iccid=f"8986000000000000{index:04d}",
        )
        for index, pile in enumerate(PILES)
        if pile.is_simulated and pile.protocol != "modbus"
    }
    gateway = EbikeGatewaySimulator(GATEWAY_ID, GATEWAY_ICCID, mqtt_host, mqtt_port)
    for port_no, power_w in ((1, 180), (2, 240), (3, 320), (6, 150)):
        gateway.start_charging(port_no, power_w)
    gateway.plug_in(4)
    gateway.fault(9, PortFault.OVER_TEMPERATURE)

    async def scenario(stop: asyncio.Event) -> None:
        await _when_accepted(piles.values(), stop)
        await piles["DEMO-16-A"].plug_in(1)
        await piles["DEMO-201-A"].start_charging(1)
        await piles["DEMO-16-B"].start_charging(1)
        await piles["DEMO-16-B"].fault(2, "GroundFailure")
        tick = 0
        while not stop.is_set():
            await _sleep_unless(stop, 45.0)
            tick += 1
            # Something changes every 45 s so the monitor visibly moves.
            if tick % 2:
                await piles["DEMO-201-A"].plug_in(2)
                gateway.stop_charging(6)
            else:
                await piles["DEMO-201-A"].unplug(2)
                gateway.start_charging(6, 150)

    return Fleet(list(piles.values()), [gateway], scenario)


async def _when_accepted(piles: Any, stop: asyncio.Event) -> None:
    while not stop.is_set() and not all(pile.is_accepted for pile in piles):
        await asyncio.sleep(0.5)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return


def _stack_value(stack_info: Any, name: str) -> Any:
    if isinstance(stack_info, Mapping):
        return stack_info[name]
    return getattr(stack_info, name)


def start_demo(stack_info: Any, stop_event: threading.Event) -> None:
    """Seed the demo data (retrying while the API warms up), then simulate until stopped."""
    http_url = str(_stack_value(stack_info, "http_url"))
    delay_s = 1.0
    while not stop_event.is_set():
        try:
            ids = seed(http_url)
            break
        except (DemoSeedError, requests.RequestException) as exc:
            log.warning("demo seeding failed, retrying in %.0f s: %s", delay_s, exc)
            stop_event.wait(delay_s)
            delay_s = min(delay_s * 2, 30.0)
    else:
        return
    log.info(
        "demo ready: dashboard %s/ logins %s / %s and %s / %s; operator %s; "
        "free piles DEMO-16-FREE, DEMO-201-FREE (password %s); card %s (see docs/demo.md)",
        http_url,
        *DEMO_ADMIN,
        *DEMO_MAINT,
        ids.operator_id,
        FREE_PILE_PASSWORD,
        CARD_NO,
    )
    logging.getLogger("ocpp").setLevel(logging.WARNING)
    fleet = build_fleet(
        str(_stack_value(stack_info, "ws_url")),
        str(_stack_value(stack_info, "mqtt_host")),
        int(_stack_value(stack_info, "mqtt_port")),
    )
    started = time.monotonic()
    fleet.run(stop_event)
    log.info("demo simulators stopped after %d s", int(time.monotonic() - started))
