"""The simulated transparent DTU against the Modbus bridge's handler on moto: its ICCID
registration starts a poll cycle, every read request the bridge publishes down is answered
by the simulated bus, and the cycle's answers store the ports' readings, the port status
items and the site load."""

from __future__ import annotations

import base64
from typing import Any

import boto3
import pytest
from moto.iotdata.models import iotdata_backends

from functions.modbus_bridge import handler
from functions.modbus_bridge import wiring as bridge_wiring
from infra.local.simulators.ebike_gateway import EbikeGatewaySimulator
from shared.adapters.dynamodb.base_data_items import encode_item, pile_item
from shared.adapters.dynamodb.gateways import DynamoGateways, DynamoSiteLoads
from shared.adapters.dynamodb.port_readings import DynamoPortReadings
from shared.domain.gateways import BusDevice
from shared.domain.modbus_maps import shipped_maps
from shared.domain.modbus_readings import PortState
from tests.integration.test_ocpp_router_support import lambda_context
from tests.unit.modbus_command_fakes import an_ebike_pile

ICCID = "89860000000000000077"


def _down(gateway_id: str) -> list[bytes]:
    backend = iotdata_backends["123456789012"]["us-east-1"]
    return [
        payload for topic, payload in backend.published_payloads if topic == f"gw/{gateway_id}/down"
    ]


def test_transparent_dtu_answers_every_read_of_the_bridges_poll_cycle(
    aws: dict[str, str], clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = boto3.client("dynamodb", "us-east-1")
    base = aws["BASE_DATA_TABLE"]
    client.put_item(TableName=base, Item=encode_item(pile_item(an_ebike_pile(gateway_id="DTU-1"))))
    DynamoGateways(base, client).set_devices(
        "DTU-1",
        [
            BusDevice(1, "cc-ebike-10", "op-1", station_id="st-1", pile_id="EB-1"),
            BusDevice(2, "acrel-adl400", "op-1", station_id="st-1"),
        ],
    )
    bridge_wiring.reset()
    monkeypatch.setattr(bridge_wiring, "clock", clock)
    gateway = EbikeGatewaySimulator(
        "DTU-1", ICCID, "127.0.0.1", 1, mode="transparent", clock=clock, monotonic_ns=lambda: 0
    )
    gateway.start_charging(4, 350)
    assert gateway.topic == "gw/DTU-1/raw"

    def up(payload: bytes) -> None:
        event = {"gateway_id": "DTU-1", "raw": base64.b64encode(payload).decode()}
        handler.lambda_handler(event, lambda_context())

    up(ICCID.encode("ascii"))  # the registration packet starts a cycle
    answered = 0
    for _ in range(20):
        requests = _down("DTU-1")
        if len(requests) == answered:
            break
        for request in requests[answered:]:
            answer = gateway.handle_down(request)
            assert answer is not None
            answered += 1
            clock.advance(seconds=1)
            up(answer)
    cycle = [
        poll
        for map_id in ("cc-ebike-10", "acrel-adl400")
        for poll in shipped_maps()[map_id].polls
        if poll.every_cycle
    ]
    assert answered == len(cycle)  # every cycle read of both devices, one at a time
    readings = DynamoPortReadings(aws["SESSIONS_TABLE"], client).port_readings(
        "EB-1", 4, clock().replace(year=2000), clock()
    )
    assert readings and readings[-1].state is PortState.CHARGING
    assert 330 <= readings[-1].power_w <= 370
    load = DynamoSiteLoads(aws["SESSIONS_TABLE"], client).get("st-1")
    assert load is not None and load.power_w > 0
