"""E-bike paid-charge markers on moto: the ``modbus`` marker round-trips and its port key
names the order (what the port's readings look it up by)."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from shared.adapters.dynamodb.paid_charging import DynamoPaidCharges
from shared.domain.paid_charging import MODBUS, PaidCharge, PaidChargeState, port_key
from shared.domain.pricing import ChargeMode, ChargeTarget

T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


def test_modbus_marker_round_trips_and_its_port_key_names_the_order(
    aws: dict[str, str],
) -> None:
    store = DynamoPaidCharges(
        aws["SESSIONS_TABLE"], aws["BASE_DATA_TABLE"], boto3.client("dynamodb", "us-east-1")
    )
    charge = PaidCharge(
        order_no="PO-E1",
        operator_id="op-1",
        station_id="st-1",
        pile_id="EB-1",
        gun_no=7,
        id_tag="PAY-PO-E1",
        target=ChargeTarget(ChargeMode.TIME, 1800),
        prepaid_cap_fen=300,
        tariff_id="tf-1",
        tariff_version=1,
        protocol=MODBUS,
        call_id="261101020000000-00000000000000000001",
        created_at=T0,
        check_at=T0 + timedelta(seconds=65),
    )
    assert store.create(charge)
    assert store.get("PO-E1") == charge
    store.put_start_keys(charge)
    assert store.find_start("EB-1", port_key(7)) == "PO-E1"
    assert store.find_start("EB-1", port_key(1)) is None
    linked, current = store.link("PO-E1", "ebike-PO-E1", T0 + timedelta(seconds=3))
    assert linked and current is not None and current.state is PaidChargeState.CHARGING
    assert current.is_ebike


# --- the whole chain on moto: workflow task -> down frame -> simulated pile -> bridge ------


class Chain:
    """The payment workflow's begin/await on bridge-built ports, the simulated gateway
    answering the down frames, and its envelopes going through the bridge's handler."""

    def __init__(self, aws: dict[str, str], clock: Any, monkeypatch: Any) -> None:
        from functions.modbus_bridge import wiring as bridge_wiring
        from infra.local.simulators.ebike_gateway import EbikeGatewaySimulator
        from shared.adapters.dynamodb.base_data_items import (
            encode_item,
            pile_item,
            tariff_version_item,
        )
        from shared.adapters.dynamodb.gateways import DynamoGateways
        from shared.adapters.ebike_charging import bridge_paid_ports
        from shared.domain.gateways import BusDevice
        from shared.services.ebike_charging import EbikePortEvents, command_finished
        from tests.unit.modbus_command_fakes import an_ebike_pile
        from tests.unit.test_paid_charging_fakes import FLAT, FakeResumer

        self.clock = clock
        self.client = boto3.client("dynamodb", "us-east-1")
        base = aws["BASE_DATA_TABLE"]
        self.client.put_item(TableName=base, Item=encode_item(tariff_version_item(FLAT)))
        self.client.put_item(
            TableName=base, Item=encode_item(pile_item(an_ebike_pile(gateway_id="GW-E")))
        )
        for port_no in range(1, 11):
            self.client.put_item(
                TableName=base,
                Item={
                    "pk": {"S": "PILE#EB-1"},
                    "sk": {"S": f"GUN#{port_no:03d}"},
                    "status": {"S": "Available"},
                },
            )
        DynamoGateways(base, self.client).set_devices(
            "GW-E",
            [
                BusDevice(1, "cc-ebike-10", "op-1", station_id="st-1", pile_id="EB-1"),
                BusDevice(2, "acrel-adl400", "op-1", station_id="st-1"),
            ],
        )
        self.resumer = FakeResumer()
        ids = iter(range(1, 100_000))
        self.ports = replace(
            bridge_paid_ports(
                sessions_table=aws["SESSIONS_TABLE"],
                base_data_table=base,
                dynamodb=self.client,
                iot_data=boto3.client("iot-data", "us-east-1"),
                stepfunctions=None,
                topic_prefix="gw",
                clock=clock,
                new_id=lambda prefix: f"{prefix}-{next(ids):020d}",
            ),
            workflow=self.resumer,
        )
        bridge_wiring.reset()
        monkeypatch.setattr(bridge_wiring, "clock", clock)
        monkeypatch.setattr(bridge_wiring, "port_events", EbikePortEvents(self.ports))
        monkeypatch.setattr(
            bridge_wiring, "command_listener", lambda c: command_finished(self.ports, c)
        )
        self.ns = 0
        self.gateway = EbikeGatewaySimulator(
            "GW-E",
            "89860000000000000042",
            "127.0.0.1",
            1,
            first_seq=1,
            clock=clock,
            monotonic_ns=lambda: self.ns,
        )
        self.sent = 0

    def bridge(self, envelope: dict[str, Any]) -> None:
        from functions.modbus_bridge import handler
        from tests.integration.test_ocpp_router_support import lambda_context

        handler.lambda_handler({"gateway_id": "GW-E", **envelope}, lambda_context())

    def deliver_commands(self) -> None:
        """The gateway hears what was published since: the pile answers, the echo goes up."""
        from shared.domain.modbus_commands import write_frame

        commands, _ = self.ports.ebike.commands.commands.recent("EB-1", 50, None)  # type: ignore[union-attr]
        for command in sorted(commands, key=lambda c: c.command_id)[self.sent :]:
            echo = self.gateway.handle_down(write_frame(command.write))
            assert echo is not None
            self.bridge(self.gateway._envelope([base64.b64encode(echo).decode()]))
            self.sent += 1

    def minute(self) -> None:
        self.clock.advance(seconds=60)
        self.ns += 60 * 10**9
        self.bridge(self.gateway.build_envelope())
        self.deliver_commands()


def test_paid_port_charges_through_the_bridge_and_stops_at_the_amount_target(
    aws: dict[str, str], clock: Any, monkeypatch: Any
) -> None:
    from shared.domain.paid_charging import PaidChargeRequest
    from shared.domain.pricing import price_energy
    from shared.services import paid_charging
    from tests.unit.test_paid_charging_fakes import FLAT

    chain = Chain(aws, clock, monkeypatch)
    chain.gateway.plug_in(1, draw_w=600)
    chain.bridge(chain.gateway.build_envelope())  # the port shows plugged
    request = PaidChargeRequest(
        order_no="PO-E2",
        operator_id="op-1",
        station_id="st-1",
        pile_id="EB-1",
        gun_no=1,
        id_tag="PAY-PO-E2",
        target=ChargeTarget(ChargeMode.AMOUNT, 50),
        prepaid_cap_fen=300,
        tariff_id=FLAT.tariff_id,
        tariff_version=FLAT.version,
    )
    paid_charging.begin_paid_charge(chain.ports, request, clock())
    paid_charging.await_session_end(chain.ports, "PO-E2", "tok-E2", clock())
    chain.deliver_commands()
    charge = chain.ports.paid_charges.get("PO-E2")
    assert charge is not None and charge.state is PaidChargeState.CHARGING
    for _ in range(60):
        chain.minute()
        if chain.resumer.succeeded:
            break
    [(token, output)] = chain.resumer.succeeded
    assert token == "tok-E2" and output["stop_reason"] == "target_reached"
    port_wh = chain.gateway.readings()[0][0].energy_wh
    assert output["energy_wh"] == port_wh  # the counter started at 0
    outcome = paid_charging.charge_outcome(chain.ports, "PO-E2")
    assert outcome.energy_wh == port_wh
    assert 50 <= price_energy(FLAT, outcome.readings).total_fen <= 52
    stops = [
        c
        for c in chain.ports.ebike.commands.commands.recent("EB-1", 50, None)[0]  # type: ignore[union-attr]
        if c.kind.value == "stop"
    ]
    assert len(stops) == 1 and stops[0].status.value == "confirmed"
