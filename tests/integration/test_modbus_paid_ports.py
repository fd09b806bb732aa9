"""The gateway item's ``paid_ports`` on moto: a paid e-bike charge's port is put on it when
the charge is linked and taken off when it ends (``PaidChargesOnGateways``, the markers
the bridge's paid charging runs on), so the bridge looks up paid orders for those ports
only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from shared.adapters.dynamodb.base_data_items import encode_item, pile_item
from shared.adapters.dynamodb.gateways import DynamoGateways
from shared.adapters.dynamodb.paid_ports import PaidChargesOnGateways
from shared.domain.gateways import BusDevice
from shared.domain.paid_charging import (
    MODBUS,
    PaidCharge,
    PaidChargeState,
    SessionEnd,
    ebike_session_id,
)
from shared.domain.pricing import ChargeMode, ChargeTarget
from tests.unit.modbus_command_fakes import an_ebike_pile

T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


class Site:
    def __init__(self, tables: dict[str, str]) -> None:
        self.client = boto3.client("dynamodb", region_name="us-east-1")
        base = tables["BASE_DATA_TABLE"]
        self.client.put_item(
            TableName=base, Item=encode_item(pile_item(an_ebike_pile(gateway_id="GW-P")))
        )
        self.gateways = DynamoGateways(base, self.client)
        self.gateways.set_devices(
            "GW-P", [BusDevice(1, "cc-ebike-10", "op-1", station_id="st-1", pile_id="EB-1")]
        )
        self.charges = PaidChargesOnGateways(tables["SESSIONS_TABLE"], base, self.client)

    def paid_ports(self) -> dict[str, str]:
        config = self.gateways.config("GW-P")
        assert config is not None
        return dict(config.paid_ports)

    def start(self, order_no: str, port_no: int) -> PaidCharge:
        charge = PaidCharge(
            order_no=order_no,
            operator_id="op-1",
            station_id="st-1",
            pile_id="EB-1",
            gun_no=port_no,
            id_tag=f"PAY-{order_no}",
            target=ChargeTarget(ChargeMode.FULL),
            prepaid_cap_fen=400,
            tariff_id="tf-1",
            tariff_version=1,
            protocol=MODBUS,
            call_id=f"cmd-{order_no}",
            created_at=T0,
            check_at=T0 + timedelta(minutes=3),
        )
        assert self.charges.create(charge)
        return charge


@pytest.fixture
def site(aws: dict[str, str]) -> Site:
    return Site(aws)


def end(order_no: str) -> SessionEnd:
    return SessionEnd(ebike_session_id(order_no), 120, "full", T0 + timedelta(hours=1))


def test_link_puts_the_port_on_the_gateway_and_the_end_takes_it_off(site: Site) -> None:
    site.start("PO-1", 3)
    site.start("PO-2", 7)
    assert site.paid_ports() == {}

    linked, current = site.charges.link("PO-1", ebike_session_id("PO-1"), T0)
    assert linked and current is not None and current.state is PaidChargeState.CHARGING
    site.charges.link("PO-2", ebike_session_id("PO-2"), T0)
    assert site.paid_ports() == {"EB-1#3": "PO-1", "EB-1#7": "PO-2"}
    # a repeated link (the same echo again) changes nothing
    site.charges.link("PO-1", ebike_session_id("PO-1"), T0)
    assert site.paid_ports() == {"EB-1#3": "PO-1", "EB-1#7": "PO-2"}

    recorded, _ = site.charges.record_end("PO-1", end("PO-1"))

    assert recorded
    assert site.paid_ports() == {"EB-1#7": "PO-2"}
    site.charges.record_end("PO-1", end("PO-1"))  # repeated: nothing else removed
    assert site.paid_ports() == {"EB-1#7": "PO-2"}


def test_a_later_order_on_the_port_is_not_removed_by_an_earlier_orders_end(site: Site) -> None:
    site.start("PO-1", 3)
    site.charges.link("PO-1", ebike_session_id("PO-1"), T0)
    site.gateways.set_paid_port("GW-P", "EB-1", 3, "PO-9")  # the port charged again since

    site.charges.record_end("PO-1", end("PO-1"))

    assert site.paid_ports() == {"EB-1#3": "PO-9"}


def test_a_link_that_does_not_happen_leaves_no_entry(site: Site) -> None:
    charge = site.start("PO-1", 3)
    assert site.charges.record_failure("PO-1", "refused", T0)[0]

    linked, _ = site.charges.link("PO-1", ebike_session_id(charge.order_no), T0)

    assert not linked
    assert site.paid_ports() == {}
    assert site.charges.link("PO-404", "s", T0) == (False, None)


def test_set_paid_port_on_a_gateway_never_heard_of_creates_nothing(site: Site) -> None:
    assert site.gateways.set_paid_port("GW-NONE", "EB-1", 1, "PO-1") is False
    assert site.gateways.config("GW-NONE") is None


def test_the_first_two_ports_race_for_the_map_and_both_land(site: Site, monkeypatch: Any) -> None:
    # the map does not exist yet for either writer: one creates it, the other retries
    real = site.gateways._conditional
    calls = {"n": 0}

    def racing(*args: Any, **kwargs: Any) -> bool:
        calls["n"] += 1
        if calls["n"] == 1:
            site.client.update_item(
                TableName=site.gateways._table,
                Key={"pk": {"S": "GATEWAY#GW-P"}, "sk": {"S": "GATEWAY"}},
                UpdateExpression="SET paid_ports = :m",
                ExpressionAttributeValues={":m": {"M": {"EB-1#9": {"S": "PO-9"}}}},
            )
        return real(*args, **kwargs)

    monkeypatch.setattr(site.gateways, "_conditional", racing)

    assert site.gateways.set_paid_port("GW-P", "EB-1", 2, "PO-2")
    assert site.paid_ports() == {"EB-1#9": "PO-9", "EB-1#2": "PO-2"}
