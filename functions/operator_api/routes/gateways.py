"""4G gateways: the devices on their Modbus bus (piles and the site meter) and what the
bridge last heard from them."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, RootModel, StringConstraints, model_validator

from functions.operator_api import wiring
from functions.operator_api.models import Body, PileId, StationId, View, WireTime
from functions.operator_api.routes.common import caller, dump, path_id
from shared.domain.clock import local_day
from shared.domain.gateways import GATEWAY_ID_PATTERN, BusDevice, GatewayRecord
from shared.domain.modbus_maps import shipped_maps
from shared.http_api import DocumentedRouter, parse_body
from shared.services import gateway_devices

router = DocumentedRouter("gateways")
ONE = "/operator/gateways/<gateway_id>"
IDS = {"gateway_id": GATEWAY_ID_PATTERN}
MAX_DEVICES = 32  # an RS485 segment carries 32 unit loads

MapId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,47}$")]
Ratio = Annotated[int, Field(ge=1, le=100_000)]


class GatewayDeviceBody(Body):
    """One device on the bus: a modbus pile (``pile_id``) or a station's site meter
    (``station_id``, with the installed PT and CT ratios)."""

    address: int = Field(ge=1, le=247, description="Modbus unit address on the RS485 bus")
    map_id: MapId = Field(description="Register map: cc-ebike-10, acrel-adl400, ...")
    pile_id: PileId | None = None
    station_id: StationId | None = None
    pt_ratio: Ratio = Field(1, description="Meters only: voltage transformer ratio")
    ct_ratio: Ratio = Field(1, description="Meters only: current transformer ratio")

    @model_validator(mode="after")
    def _one_target(self) -> GatewayDeviceBody:
        if (self.pile_id is None) == (self.station_id is None):
            raise ValueError("name either pile_id or station_id")
        return self

    def entry(self) -> gateway_devices.DeviceEntry:
        return gateway_devices.DeviceEntry(
            address=self.address,
            map_id=self.map_id,
            pile_id=self.pile_id,
            station_id=self.station_id,
            pt=self.pt_ratio,
            ct=self.ct_ratio,
        )


class GatewayDevicesBody(RootModel[list[GatewayDeviceBody]]):
    """Every device on the bus (replaces the configuration; ``[]`` clears it)."""

    model_config = ConfigDict(strict=True, defer_build=True)
    root: list[GatewayDeviceBody] = Field(max_length=MAX_DEVICES)


class GatewayDeviceView(View):
    address: int
    map_id: str
    kind: str | None  # ebike_pile | meter (None for a map no longer shipped)
    pile_id: str | None
    station_id: str | None
    pt_ratio: int
    ct_ratio: int

    @classmethod
    def of(cls, device: BusDevice) -> GatewayDeviceView:
        found = shipped_maps().get(device.map_id)
        return cls(
            address=device.address,
            map_id=device.map_id,
            kind=str(found.kind) if found is not None else None,
            pile_id=device.pile_id,
            station_id=device.station_id,
            pt_ratio=device.pt,
            ct_ratio=device.ct,
        )


class FrameCountsView(View):
    day: str  # Asia/Shanghai calendar day
    counts: dict[str, int]  # frame verdict (bad_crc, unknown_device ...) -> frames


class GatewayView(View):
    gateway_id: str
    operator_id: str | None
    devices: list[GatewayDeviceView]
    last_seen_at: WireTime | None
    last_seq: int | None
    states_at: WireTime | None  # the gateway's clock of the newest applied poll cycle
    iccid: str | None
    offline_after_s: int | None = None  # the gateway's own silence threshold (null: 1500 s)
    frames_today: FrameCountsView | None = None

    @classmethod
    def of(cls, record: GatewayRecord, frames: FrameCountsView | None = None) -> GatewayView:
        return cls(
            gateway_id=record.gateway_id,
            operator_id=record.owner,
            devices=[GatewayDeviceView.of(record.devices[a]) for a in sorted(record.devices)],
            last_seen_at=record.last_seen_at,
            last_seq=record.last_seq,
            states_at=record.states_at,
            iccid=record.iccid,
            offline_after_s=record.offline_after_s,
            frames_today=frames,
        )


@router.operation(
    "GET",
    ONE,
    "A gateway: its bus devices, when it was last heard, its SIM, today's frame counters",
    response=GatewayView,
    path_patterns=IDS,
    errors=(404,),
)
def get_gateway(gateway_id: str) -> dict[str, Any]:
    gateway_id = path_id(gateway_id, GATEWAY_ID_PATTERN, "gateway")
    store = wiring.gateways()
    record = gateway_devices.get_gateway(store, caller(router), gateway_id)
    day = local_day(wiring.clock()).isoformat()
    frames = FrameCountsView(day=day, counts=store.frame_counts(gateway_id, day))
    return dump(GatewayView.of(record, frames))


@router.operation(
    "PUT",
    f"{ONE}/devices",
    "Set the devices on a gateway's bus (piles and the site meter; replaces them all)",
    body=GatewayDevicesBody,
    response=GatewayView,
    path_patterns=IDS,
    errors=(404, 409),
)
def put_gateway_devices(gateway_id: str) -> dict[str, Any]:
    gateway_id = path_id(gateway_id, GATEWAY_ID_PATTERN, "gateway")
    body = parse_body(router.current_event, GatewayDevicesBody)
    record = gateway_devices.put_gateway_devices(
        wiring.base_data(),
        wiring.gateways(),
        caller(router),
        gateway_id,
        [device.entry() for device in body.root],
        maps=shipped_maps(),
    )
    return dump(GatewayView.of(record))


class GatewayPresenceBody(Body):
    """How long the gateway may stay silent before its piles count as offline."""

    offline_after_s: int | None = Field(
        ge=gateway_devices.MIN_OFFLINE_AFTER_S,
        le=gateway_devices.MAX_OFFLINE_AFTER_S,
        description="Seconds (120..86400); null: the default of 25 minutes. A gateway that "
        "publishes many poll cycles per message needs more than its publishing interval.",
    )


@router.operation(
    "PUT",
    f"{ONE}/presence",
    "Set how long a gateway may stay silent before its piles show offline",
    body=GatewayPresenceBody,
    response=GatewayView,
    path_patterns=IDS,
    errors=(404,),
)
def put_gateway_presence(gateway_id: str) -> dict[str, Any]:
    gateway_id = path_id(gateway_id, GATEWAY_ID_PATTERN, "gateway")
    body = parse_body(router.current_event, GatewayPresenceBody)
    record = gateway_devices.set_offline_after(
        wiring.gateways(), caller(router), gateway_id, body.offline_after_s
    )
    return dump(GatewayView.of(record))
