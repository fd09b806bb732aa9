"""The simulated gateway's store-and-forward through the bridge on moto: an hour of
envelopes kept while offline, replayed shuffled with repeats, stores the same energy as the
port counted (and as the uninterrupted run would have)."""

from __future__ import annotations

import random
from typing import Any

import boto3
import pytest

from functions.modbus_bridge import handler
from functions.modbus_bridge import wiring as bridge_wiring
from infra.local.simulators.ebike_gateway import EbikeGatewaySimulator
from shared.adapters.dynamodb.base_data_items import encode_item, pile_item
from shared.adapters.dynamodb.gateways import DynamoGateways
from shared.adapters.dynamodb.port_readings import DynamoPortReadings
from shared.domain.gateways import BusDevice
from tests.integration.test_ocpp_router_support import lambda_context
from tests.unit.modbus_command_fakes import an_ebike_pile


def test_backlog_replayed_shuffled_with_repeats_stores_the_ports_energy_exactly(
    aws: dict[str, str], clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = boto3.client("dynamodb", "us-east-1")
    base = aws["BASE_DATA_TABLE"]
    client.put_item(TableName=base, Item=encode_item(pile_item(an_ebike_pile(gateway_id="GW-R"))))
    DynamoGateways(base, client).set_devices(
        "GW-R", [BusDevice(1, "cc-ebike-10", "op-1", station_id="st-1", pile_id="EB-1")]
    )
    bridge_wiring.reset()
    monkeypatch.setattr(bridge_wiring, "clock", clock)
    ns = [0]
    gateway = EbikeGatewaySimulator(
        "GW-R",
        "89860000000000000099",
        "127.0.0.1",
        1,
        first_seq=500,
        clock=clock,
        monotonic_ns=lambda: ns[0],
        rng=random.Random(11),
    )
    gateway.start_charging(2, 777)
    start = clock()

    def send(envelope: dict[str, Any]) -> None:
        handler.lambda_handler({"gateway_id": "GW-R", **envelope}, lambda_context())

    send(gateway.build_envelope())
    gateway.go_offline()
    for _ in range(60):
        clock.advance(seconds=60)
        ns[0] += 60 * 10**9
        gateway.queue_envelope()
    gateway.go_online(shuffle=True, repeat_fraction=0.3)
    backlog = list(gateway._backlog)
    assert len(backlog) > 60
    for envelope in backlog:
        send(envelope)
    readings = DynamoPortReadings(aws["SESSIONS_TABLE"], client).port_readings(
        "EB-1", 2, start, clock()
    )
    assert len(readings) == 61
    assert readings[-1].energy_wh - readings[0].energy_wh == 777  # one hour at 777 W
    assert readings[-1].energy_wh == gateway.readings()[0][1].energy_wh
