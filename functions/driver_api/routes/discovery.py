"""Finding a gun: stations nearby, one station's guns, and a scanned QR code."""

from __future__ import annotations

from typing import Any

from functions.driver_api import wiring
from functions.driver_api.models import (
    STATION_ID,
    GunView,
    NearbyPage,
    NearbyQuery,
    NearbyStationView,
    PowerBandView,
    PriceView,
    ScanBody,
    ScanView,
    StationDetailView,
)
from functions.driver_api.routes.common import driver, dump, path_id
from shared.domain.drivers import PriceNow
from shared.domain.piles import PileKind
from shared.http_api import DocumentedRouter, parse_body, parse_query
from shared.services import driver_discovery
from shared.services.driver_discovery import GunInfo

router = DocumentedRouter("discovery")


def price_view(price: PriceNow | None) -> PriceView | None:
    if price is None:
        return None
    return PriceView(
        period_kind=price.period_kind.value,
        electricity_fen_per_kwh=price.electricity_fen_per_kwh,
        service_fen_per_kwh=price.service_fen_per_kwh,
        total_fen_per_kwh=price.total_fen_per_kwh,
        until=price.until,
    )


def gun_view(info: GunInfo) -> GunView:
    return GunView(
        pile_id=info.pile.pile_id,
        gun_no=info.gun.gun_no,
        name=info.gun.name,
        pile_kind=info.pile.kind.value,
        rated_power_w=info.pile.rated_power_w,
        state=info.state.value,
        qr_payload=info.qr_payload,
    )


@router.operation(
    "GET",
    "/driver/stations/nearby",
    "Stations within a radius of a point, nearest first, with free guns and the price now",
    query=NearbyQuery,
    response=NearbyPage,
)
def nearby() -> dict[str, Any]:
    driver(router)
    query = parse_query(router.current_event, NearbyQuery)
    found = driver_discovery.nearby_stations(
        wiring.discovery(),
        lat=query.lat,
        lng=query.lng,
        radius_m=query.radius_m,
        limit=query.limit,
        now=wiring.clock(),
    )
    items = [
        NearbyStationView(
            station_id=near.station.station_id,
            name=near.station.name,
            address=near.station.address,
            lat=near.station.lat,
            lng=near.station.lng,
            distance_m=near.distance_m,
            gun_count=near.gun_count,
            free_count=near.free_count,
            price_now=price_view(near.price),
        )
        for near in found
    ]
    return dump(NearbyPage(items=items))


@router.operation(
    "GET",
    "/driver/stations/<station_id>",
    "One station: every gun's state, its QR payload, and the price now",
    response=StationDetailView,
    path_patterns={"station_id": STATION_ID},
    errors=(404,),
)
def station(station_id: str) -> dict[str, Any]:
    driver(router)
    station_id = path_id(station_id, STATION_ID, "station")
    detail = driver_discovery.station_detail(wiring.discovery(), station_id, wiring.clock())
    return dump(
        StationDetailView(
            station_id=detail.station.station_id,
            name=detail.station.name,
            address=detail.station.address,
            lat=detail.station.lat,
            lng=detail.station.lng,
            price_now=price_view(detail.price),
            guns=[gun_view(info) for info in detail.guns],
        )
    )


@router.operation(
    "POST",
    "/driver/scan",
    "A scanned gun QR code: the gun, its state, the price now, the wallet, what an amount buys",
    body=ScanBody,
    response=ScanView,
    errors=(404,),
)
def scan_qr_code() -> dict[str, Any]:
    who = driver(router)
    body = parse_body(router.current_event, ScanBody)
    found = driver_discovery.scan_qr_code(
        wiring.discovery(), who.user_id, body.code, body.amount_fen, wiring.clock()
    )
    info = found.info
    return dump(
        ScanView(
            station_id=found.station.station_id,
            station_name=found.station.name,
            address=found.station.address,
            pile_id=info.pile.pile_id,
            pile_name=info.pile.name,
            pile_kind=info.pile.kind.value,
            gun_no=info.gun.gun_no,
            gun_name=info.gun.name,
            state=info.state.value,
            can_start=found.refusal is None,
            refusal=found.refusal,
            refusal_reason=found.refusal_reason,
            load_band=found.allowance.band.value,
            power_limit_w=found.allowance.power_limit_w,
            tariff_id=None if found.tariff is None else found.tariff.tariff_id,
            price_now=price_view(found.price),
            power_bands=[
                PowerBandView(max_power_w=band.max_power_w, fen_per_hour=band.fen_per_hour)
                for band in (() if found.tariff is None else found.tariff.ebike_power_bands)
                if info.pile.kind is PileKind.EBIKE
            ],
            wallet_available_fen=found.wallet_available_fen,
            estimated_energy_wh=found.estimated_energy_wh,
        )
    )
