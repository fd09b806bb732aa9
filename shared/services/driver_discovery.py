"""What a driver looks up before charging: stations nearby, one station's guns, a scanned
gun (with the price now, the wallet and what an amount buys), and why a gun cannot start.

Every read is a key or index read: nearby stations come from the station index (GSI2,
one Query per geohash cell around the point), a station's piles from GSI1, their guns by
BatchGetItem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.domain.drivers import (
    GunRef,
    GunState,
    PriceNow,
    cells_covering,
    distance_m,
    gun_state,
    parse_qr,
    price_now,
    qr_payload,
)
from shared.domain.errors import InvalidInput, NotFound
from shared.domain.ledger import driver_wallet_id
from shared.domain.modbus_readings import SiteLoad
from shared.domain.piles import Gun, Pile, PileKind
from shared.domain.pricing import estimate_energy_wh
from shared.domain.site_load import (
    SITE_AT_LOAD_LIMIT,
    LoadBand,
    StartAllowance,
    start_allowance,
)
from shared.domain.stations import Station
from shared.domain.tariffs import Tariff

MAX_NEARBY = 50
NO_LOAD_BAND = StartAllowance(LoadBand.NORMAL, None, None, None)


class StationIndex(Protocol):
    def stations_in_cells(self, cells: Sequence[str]) -> list[Station]:
        """Stations indexed under these geohash cells. Raises: UpstreamFailure."""

    def station(self, station_id: str) -> Station | None: ...

    def piles_of(self, station: Station) -> list[Pile]: ...

    def guns_of(self, piles: Sequence[Pile]) -> list[Gun]: ...

    def pile_with_guns(self, pile_id: str) -> tuple[Pile | None, list[Gun]]: ...


class TariffReader(Protocol):
    def tariff(self, tariff_id: str) -> Tariff | None:
        """The tariff's current version, or None."""


class WalletReader(Protocol):
    def get_account(self, account_id: str) -> object | None:
        """The account (with ``available_fen``), or None."""


class ReservationCheck(Protocol):
    def holder_of(self, pile_id: str, gun_no: int, now: datetime) -> str | None:
        """The user id holding a live reservation of the gun, or None."""


class SiteLoads(Protocol):
    def get(self, station_id: str) -> SiteLoad | None:
        """The station's live load from its transformer meter, or None. Raises:
        UpstreamFailure."""


@dataclass(frozen=True, slots=True)
class DiscoveryPorts:
    index: StationIndex
    tariffs: TariffReader
    wallets: WalletReader
    reservations: ReservationCheck
    qr_base_url: str
    # The transformer meters' live loads (the Modbus bridge's ``SITELOAD#`` items); None:
    # no load band is checked (every start at full power).
    site_loads: SiteLoads | None = None


@dataclass(frozen=True, slots=True)
class GunInfo:
    pile: Pile
    gun: Gun
    state: GunState
    qr_payload: str


@dataclass(frozen=True, slots=True)
class NearbyStation:
    station: Station
    distance_m: int
    gun_count: int
    free_count: int
    price: PriceNow | None


@dataclass(frozen=True, slots=True)
class StationDetail:
    station: Station
    price: PriceNow | None
    guns: tuple[GunInfo, ...]


@dataclass(frozen=True, slots=True)
class ScannedGun:
    station: Station
    info: GunInfo
    tariff: Tariff | None
    price: PriceNow | None
    refusal: str | None
    wallet_available_fen: int
    estimated_energy_wh: int | None
    # The site's load band for a charge starting now (NORMAL when no meter reports).
    allowance: StartAllowance = NO_LOAD_BAND
    refusal_reason: str | None = None  # a code for ``refusal`` (``REFUSAL_REASONS``)


def _state(pile: Pile, gun: Gun) -> GunState:
    return gun_state(
        is_online=pile.presence.is_online,
        is_enabled=pile.is_enabled and gun.is_enabled,
        status=gun.status,
    )


def _guns(ports: DiscoveryPorts, piles: Sequence[Pile]) -> list[GunInfo]:
    by_pile = {pile.pile_id: pile for pile in piles}
    infos = [
        GunInfo(
            pile=by_pile[gun.pile_id],
            gun=gun,
            state=_state(by_pile[gun.pile_id], gun),
            qr_payload=qr_payload(ports.qr_base_url, gun.pile_id, gun.gun_no),
        )
        for gun in ports.index.guns_of(piles)
        if gun.pile_id in by_pile
    ]
    return sorted(infos, key=lambda info: (info.pile.pile_id, info.gun.gun_no))


def _price(ports: DiscoveryPorts, station: Station, now: datetime) -> PriceNow | None:
    tariff = _tariff(ports, station)
    return None if tariff is None else price_now(tariff, now)


def _tariff(ports: DiscoveryPorts, station: Station) -> Tariff | None:
    if station.tariff_id is None:
        return None
    tariff = ports.tariffs.tariff(station.tariff_id)
    if tariff is None or tariff.operator_id != station.operator_id:
        return None
    return tariff


def nearby_stations(
    ports: DiscoveryPorts, *, lat: float, lng: float, radius_m: int, limit: int, now: datetime
) -> list[NearbyStation]:
    """Stations within ``radius_m`` of the point, nearest first, with free guns and the price.

    DynamoDB: 1 Query per covering cell (4 for 3 km around Shanghai), then per station
    returned 1 Query (piles) + 1 BatchGetItem (guns) + 1 GetItem (tariff, once per tariff).

    Raises:
        InvalidInput: a point off the map, a radius outside 1..10000 m, a limit outside 1..50.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_NEARBY:
        raise InvalidInput(f"limit must be 1..{MAX_NEARBY}", field="limit")
    cells = cells_covering(lat, lng, radius_m)
    seen: set[str] = set()
    found: list[tuple[int, Station]] = []
    for station in ports.index.stations_in_cells(cells):
        if station.station_id in seen:
            continue
        seen.add(station.station_id)
        meters = distance_m(lat, lng, station.lat, station.lng)
        if meters <= radius_m:
            found.append((meters, station))
    found.sort(key=lambda pair: (pair[0], pair[1].station_id))
    prices: dict[str | None, PriceNow | None] = {}
    answer: list[NearbyStation] = []
    for meters, station in found[:limit]:
        guns = _guns(ports, ports.index.piles_of(station))
        if station.tariff_id not in prices:
            prices[station.tariff_id] = _price(ports, station, now)
        answer.append(
            NearbyStation(
                station=station,
                distance_m=meters,
                gun_count=len(guns),
                free_count=sum(1 for g in guns if g.state is GunState.FREE),
                price=prices[station.tariff_id],
            )
        )
    return answer


def station_detail(ports: DiscoveryPorts, station_id: str, now: datetime) -> StationDetail:
    """A station with every gun's state and the price now. Raises: NotFound."""
    station = ports.index.station(station_id)
    if station is None:
        raise NotFound("station not found", kind="station")
    guns = _guns(ports, ports.index.piles_of(station))
    return StationDetail(station=station, price=_price(ports, station, now), guns=tuple(guns))


_REFUSALS = {
    GunState.OFFLINE: "the pile is offline",
    GunState.FAULTED: "the gun is faulted",
    GunState.BUSY: "the gun is charging another vehicle",
    GunState.RESERVED: "the gun is reserved by someone else",
    GunState.UNAVAILABLE: "the gun is out of service",
}
NO_PRICE = "the station has no price yet"
SITE_AT_LIMIT_TEXT = "the site is at its load limit: try again later"
# The machine-readable code of each refusal (the scan's ``refusal_reason``).
REFUSAL_REASONS = {
    _REFUSALS[GunState.OFFLINE]: "pile_offline",
    _REFUSALS[GunState.FAULTED]: "gun_faulted",
    _REFUSALS[GunState.BUSY]: "gun_busy",
    _REFUSALS[GunState.RESERVED]: "gun_reserved",
    _REFUSALS[GunState.UNAVAILABLE]: "gun_unavailable",
    NO_PRICE: "no_price",
    SITE_AT_LIMIT_TEXT: SITE_AT_LOAD_LIMIT,
}


def start_refusal(
    state: GunState, *, reserved_by: str | None, user_id: str, has_tariff: bool
) -> str | None:
    """Why a driver cannot start on a gun now, or None when they can."""
    if reserved_by is not None and reserved_by != user_id:
        return _REFUSALS[GunState.RESERVED]
    if state is GunState.RESERVED and reserved_by == user_id:
        state = GunState.FREE  # the driver's own reservation
    if state in _REFUSALS:
        return _REFUSALS[state]
    if not has_tariff:
        return NO_PRICE
    return None


def site_allowance(
    site_loads: SiteLoads | None, station: Station, pile: Pile, now: datetime
) -> StartAllowance:
    """The site's load band for a charge of ``pile`` starting now (``site_load.
    start_allowance``: above 50 % of the transformer's capacity half the rated power, above
    80 % or when even that would overload it, refused). No meter wired or reporting: NORMAL.

    DynamoDB: 1 GetItem (``SITELOAD#{station}``) when loads are wired.

    Raises: UpstreamFailure.
    """
    load = None if site_loads is None else site_loads.get(station.station_id)
    rated_power_w = pile.rated_power_w
    if pile.kind is PileKind.EBIKE:
        # An e-bike pile's rating covers all its ports: a charge gets a port's share (as
        # the START's limit is chosen at switch-on, ``ebike_charging.port_rated_power_w``).
        rated_power_w = max(1, rated_power_w // max(1, pile.gun_count))
    return start_allowance(
        capacity_kva=station.transformer_capacity_kva,
        load=load,
        rated_power_w=rated_power_w,
        now=now,
    )


def locate_gun(ports: DiscoveryPorts, ref: GunRef) -> tuple[Station, GunInfo]:
    """The station, pile and gun a reference names. Raises: NotFound."""
    pile, guns = ports.index.pile_with_guns(ref.pile_id)
    gun = next((g for g in guns if g.gun_no == ref.gun_no), None)
    if pile is None or gun is None:
        raise NotFound("no such gun", kind="gun")
    station = ports.index.station(pile.station_id)
    if station is None:
        raise NotFound("no such gun", kind="gun")
    info = GunInfo(
        pile=pile,
        gun=gun,
        state=_state(pile, gun),
        qr_payload=qr_payload(ports.qr_base_url, pile.pile_id, gun.gun_no),
    )
    return station, info


def scan_qr_code(
    ports: DiscoveryPorts, user_id: str, code: str, amount_fen: int | None, now: datetime
) -> ScannedGun:
    """What a scanned QR code names, for this driver, now: ``refusal`` when a charge cannot
    start (the gun's state, someone else's reservation, no price, or the site's load above
    80 % of its capacity: ``refusal_reason`` ``site_at_load_limit``), and the load band a
    charge starting now would get (LIMITED: ``allowance.power_limit_w``, half the pile's
    rated power), so the driver knows before paying.

    DynamoDB: 1 Query (pile + guns), 1 GetItem each (station, tariff, reservation, wallet,
    the site's live load when wired).

    Raises:
        InvalidInput: not one of our codes. NotFound: no such pile or gun.
    """
    station, info = locate_gun(ports, parse_qr(code))
    tariff = _tariff(ports, station)
    price = None if tariff is None else price_now(tariff, now)
    holder = ports.reservations.holder_of(info.pile.pile_id, info.gun.gun_no, now)
    account = ports.wallets.get_account(driver_wallet_id(station.operator_id, user_id))
    available = int(getattr(account, "available_fen", 0)) if account is not None else 0
    estimate = None
    is_priced = tariff is not None and price is not None and price.total_fen_per_kwh > 0
    if amount_fen is not None and tariff is not None and is_priced:
        estimate = estimate_energy_wh(tariff, amount_fen, now)
    refusal = start_refusal(
        info.state, reserved_by=holder, user_id=user_id, has_tariff=tariff is not None
    )
    allowance = site_allowance(ports.site_loads, station, info.pile, now)
    if refusal is None and allowance.is_refused:
        refusal = SITE_AT_LIMIT_TEXT
    return ScannedGun(
        station=station,
        info=info,
        tariff=tariff,
        price=price,
        refusal=refusal,
        wallet_available_fen=available,
        estimated_energy_wh=estimate,
        allowance=allowance,
        refusal_reason=None if refusal is None else REFUSAL_REASONS[refusal],
    )
