"""Messages from 4G gateways (the Modbus bridge's use case): validate, record the gateway,
hand data to the Modbus uplink, and configure which devices sit on a gateway's bus."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shared.domain.clock import Clock, local_day
from shared.domain.errors import InvalidInput, NotFound
from shared.domain.gateways import GATEWAY_ID_PATTERN, BusDevice, GatewaySeen, parse_gateway_message
from shared.domain.modbus_maps import DeviceKind, RegisterMap
from shared.domain.modbus_readings import SiteLoad
from shared.domain.site_load import SiteLoadStatus, site_load_status
from shared.domain.tenancy import Principal
from shared.services.base_data import BaseDataRepository, get_station
from shared.services.modbus_uplink import (
    RawResult,
    RtuDecoder,
    Transparent,
    UplinkPorts,
    UplinkResult,
    handle_data,
    handle_raw,
    mark_present,
    record_sims,
)

__all__ = [
    "DeviceConfigStore",
    "GatewayOutcome",
    "RtuDecoder",
    "configure_gateway",
    "handle_gateway_message",
    "station_site_load",
]


class SiteLoadReader(Protocol):
    def get(self, station_id: str) -> SiteLoad | None:
        """The station's live load item, or None. Raises: UpstreamFailure."""


def station_site_load(
    repo: BaseDataRepository,
    principal: Principal,
    station_id: str,
    loads: SiteLoadReader,
    now: datetime,
) -> SiteLoadStatus:
    """The live load of a station the caller may see (its transformer meter, PT/CT applied),
    its share of the station's transformer capacity and the load band a new charge gets.

    DynamoDB: the station read of ``get_station`` + 1 GetItem.

    Raises:
        NotFound: no such station for this caller, or no meter has reported a load yet.
        UpstreamFailure: a store failed.
    """
    station = get_station(repo, principal, station_id)
    load = loads.get(station.station_id)
    if load is None:
        raise NotFound("no site load has been reported for this station", field="station_id")
    return site_load_status(capacity_kva=station.transformer_capacity_kva, load=load, now=now)


class DeviceConfigStore(Protocol):
    def set_devices(self, gateway_id: str, devices: Sequence[BusDevice]) -> None:
        """Replace the gateway's bus devices. Raises: UpstreamFailure."""


@dataclass(frozen=True, slots=True)
class GatewayOutcome:
    kind: str  # data | register | heartbeat | answer | write_answer | invalid
    gateway_id: str | None = None
    uplink: UplinkResult | None = None
    raw: RawResult | None = None
    is_replay: bool = False
    invalid_fields: list[str] = field(default_factory=list)


def handle_gateway_message(
    raw: Any, *, ports: UplinkPorts, clock: Clock, transparent: Transparent | None = None
) -> GatewayOutcome:
    """Handle one message from ``gw/{id}/up`` (JSON) or ``gw/{id}/raw`` (a transparent DTU's
    bytes, base64 under ``raw``); bad input is reported, never raised.

    DynamoDB: heartbeat 1 GetItem + 1 UpdateItem; registration 1 GetItem + 1 UpdateItem + 1
    UpdateItem per pile on the bus (its SIM record); data see ``handle_data``; raw see
    ``handle_raw``; any of them + 1 UpdateItem per pile marked online (``mark_present``).

    Raises: UpstreamFailure (the IoT rule's asynchronous invoke then retries).
    """
    if not isinstance(raw, Mapping):
        return GatewayOutcome(kind="invalid", invalid_fields=["event"])
    try:
        message = parse_gateway_message(raw)
    except InvalidInput as error:
        gateway_id = raw.get("gateway_id")
        return GatewayOutcome(
            kind="invalid",
            gateway_id=gateway_id if isinstance(gateway_id, str) else None,
            invalid_fields=list(error.fields.get("fields", [error.fields.get("field", "")])),
        )
    from shared.domain.gateway_messages import (
        BatchMessage,
        DataMessage,
        HeartbeatMessage,
        RawMessage,
        RegistrationMessage,
    )

    now = clock()
    if isinstance(message, DataMessage | BatchMessage):
        result = handle_data(message, ports=ports, now=now, local_day=local_day(now).isoformat())
        return GatewayOutcome(
            "data", message.gateway_id, uplink=result, is_replay=not result.is_newest
        )
    if isinstance(message, RawMessage):
        if transparent is None:
            return GatewayOutcome("invalid", message.gateway_id, invalid_fields=["raw"])
        raw_result = handle_raw(
            message,
            ports=ports,
            transparent=transparent,
            now=now,
            local_day=local_day(now).isoformat(),
        )
        return GatewayOutcome(raw_result.kind, message.gateway_id, raw=raw_result)
    config = ports.gateways.config(message.gateway_id)
    presence = mark_present(config, ports, now) if config is not None else None
    if isinstance(message, RegistrationMessage):
        ports.gateways.record(
            GatewaySeen(message.gateway_id, now, iccid=message.iccid, presence=presence)
        )
        if config is not None:
            record_sims(config, message.iccid, ports, now)
        return GatewayOutcome("register", message.gateway_id)
    assert isinstance(message, HeartbeatMessage)
    ports.gateways.record(GatewaySeen(message.gateway_id, now, presence=presence))
    return GatewayOutcome("heartbeat", message.gateway_id)


def configure_gateway(
    store: DeviceConfigStore,
    gateway_id: str,
    devices: Sequence[BusDevice],
    maps: Mapping[str, RegisterMap],
) -> None:
    """Set which devices answer on a gateway's bus (address, register map, pile or station).

    Raises:
        InvalidInput: a bad gateway id, a duplicate or out-of-range address, an unknown map,
            a pile map without ``pile_id`` or a meter map without ``station_id``, PT/CT < 1.
        UpstreamFailure: the store failed.
    """
    if not re.fullmatch(GATEWAY_ID_PATTERN, gateway_id):
        raise InvalidInput("gateway_id must be 1..48 letters, digits, . _ -", field="gateway_id")
    addresses = [device.address for device in devices]
    if len(set(addresses)) != len(addresses):
        raise InvalidInput("device addresses are unique on a bus", field="address")
    for device in devices:
        if not 1 <= device.address <= 247:
            raise InvalidInput("a device address is 1..247", field="address")
        register_map = maps.get(device.map_id)
        if register_map is None:
            raise InvalidInput("no register map with this id", field="map_id")
        if register_map.kind is DeviceKind.EBIKE_PILE and device.pile_id is None:
            raise InvalidInput("a pile device needs its pile_id", field="pile_id")
        if register_map.kind is DeviceKind.METER and device.station_id is None:
            raise InvalidInput("a meter needs the station_id it measures", field="station_id")
        if device.pt < 1 or device.ct < 1:
            raise InvalidInput("PT and CT ratios are at least 1", field="pt")
    store.set_devices(gateway_id, devices)
