"""An e-bike pile's ports with their newest Modbus reading (power, voltage, current,
temperature, energy counter), for the monitor's 5 s refresh."""

from __future__ import annotations

from typing import Any

from functions.operator_api import wiring
from functions.operator_api.models import PILE_ID, PortLiveList, PortLiveView
from functions.operator_api.routes.common import caller, dump, path_id
from shared.http_api import DocumentedRouter
from shared.services.port_live import LivePort, live_ports

router = DocumentedRouter("port_readings")
IDS = {"pile_id": PILE_ID}


def port_view(port: LivePort) -> PortLiveView:
    gun, reading = port.gun, port.reading
    return PortLiveView(
        gun_no=gun.gun_no,
        name=gun.name,
        is_enabled=gun.is_enabled,
        status=gun.status,
        status_at=gun.status_at,
        error_code=gun.error_code,
        state=reading.state.value if reading else None,
        power_w=reading.power_w if reading else None,
        voltage_dv=reading.voltage_dv if reading else None,
        current_ma=reading.current_ma if reading else None,
        temperature_dc=reading.temperature_dc if reading else None,
        energy_wh=reading.energy_wh if reading else None,
        stop_reason=reading.stop_reason if reading else None,
        faults=list(reading.faults) if reading else [],
        at=reading.at if reading else None,
    )


@router.operation(
    "GET",
    "/operator/piles/<pile_id>/ports/live",
    "An e-bike (Modbus) pile's ports with their newest reading; a car/OCPP pile is 409",
    response=PortLiveList,
    path_patterns=IDS,
    errors=(404, 409),
)
def get_ports_live(pile_id: str) -> dict[str, Any]:
    pile_id = path_id(pile_id, PILE_ID, "pile")
    live = live_ports(wiring.base_data(), caller(router), pile_id, wiring.port_readings())
    return dump(PortLiveList(pile_id=pile_id, items=[port_view(port) for port in live.ports]))
