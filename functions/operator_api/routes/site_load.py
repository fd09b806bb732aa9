"""A station's live site load, from the transformer meter on an e-bike gateway's bus."""

from __future__ import annotations

from typing import Any

from functions.operator_api import wiring
from functions.operator_api.models import STATION_ID, View, WireTime
from functions.operator_api.routes.common import caller, dump, path_id
from shared.domain.site_load import SiteLoadStatus
from shared.http_api import DocumentedRouter

router = DocumentedRouter("site_load")
IDS = {"station_id": STATION_ID}


class SiteLoadView(View):
    station_id: str
    power_w: int  # total active power, PT/CT applied; negative = export
    energy_import_wh: int | None
    current_ma: list[int] | None  # phases a, b, c
    voltage_dv: list[int] | None  # phases a, b, c, 0.1 V
    at: WireTime  # the gateway's clock
    received_at: WireTime
    gateway_id: str
    capacity_w: int  # the station's transformer capacity (kVA taken as kW)
    load_share_bp: int  # power_w of capacity_w, basis points (an export counts 0)
    is_live: bool  # at most 5 minutes old by both clocks
    # What a new charge gets now: normal, limited (half power above 50 %), refused (above
    # 80 %); null while the reading is stale (a silent meter limits nothing).
    band: str | None

    @classmethod
    def of(cls, status: SiteLoadStatus) -> SiteLoadView:
        load = status.load
        return cls(
            capacity_w=status.capacity_w,
            load_share_bp=status.load_share_bp,
            is_live=status.is_live,
            band=status.band.value if status.band is not None else None,
            station_id=load.station_id,
            power_w=load.power_w,
            energy_import_wh=load.energy_import_wh,
            current_ma=list(load.current_ma) if load.current_ma else None,
            voltage_dv=list(load.voltage_dv) if load.voltage_dv else None,
            at=load.at,
            received_at=load.received_at,
            gateway_id=load.gateway_id,
        )


@router.operation(
    "GET",
    "/operator/stations/<station_id>/load",
    "The station's live site load (its transformer meter)",
    response=SiteLoadView,
    path_patterns=IDS,
    errors=(404,),
)
def get_site_load(station_id: str) -> dict[str, Any]:
    from shared.services.gateways import station_site_load

    station_id = path_id(station_id, STATION_ID, "station")
    status = station_site_load(
        wiring.base_data(), caller(router), station_id, wiring.site_loads(), wiring.clock()
    )
    return dump(SiteLoadView.of(status))
