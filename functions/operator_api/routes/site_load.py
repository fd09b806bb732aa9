"""A station's live site load, from the transformer meter on an e-bike gateway's bus."""

from __future__ import annotations

from typing import Any

from functions.operator_api import wiring
from functions.operator_api.models import STATION_ID, View, WireTime
from functions.operator_api.routes.common import caller, dump, path_id
from shared.domain.modbus_readings import SiteLoad
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

    @classmethod
    def of(cls, load: SiteLoad) -> SiteLoadView:
        return cls(
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
    load = station_site_load(wiring.base_data(), caller(router), station_id, wiring.site_loads())
    return dump(SiteLoadView.of(load))
