"""The driver's stop of a paid e-bike charge, on fakes: one STOP port command to the
gateway (a repeat, or a platform stop already on its way, sends nothing new), its echo ends
the charge with the pile's ``remote_stop``; a charge that is not running is refused with
nothing sent. The driver API's session port hands ``ebike-`` sessions to it."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from shared.domain.errors import Conflict, NotFound
from shared.domain.modbus_commands import PortCommand, PortCommandKind, default_control, write_for
from shared.domain.pricing import ChargeMode, ChargeTarget
from shared.domain.tenancy import Principal, Role
from shared.services import ebike_charging
from shared.services.driver_charging import SessionsOnPiles
from shared.services.ebike_charging import DriverStopPorts, stop_for_driver
from tests.unit.test_ebike_paid_charging import World


def _stop_ports(world: World) -> DriverStopPorts:
    return DriverStopPorts(paid_charges=world.paid, commands=world.command_ports)


def _stops(world: World) -> list[Any]:
    return [c for c in world.commands.items.values() if c.kind is PortCommandKind.STOP]


def test_driver_stop_sends_one_stop_and_its_echo_ends_the_charge() -> None:
    world = World()
    world.begin(target=ChargeTarget(ChargeMode.ENERGY, 5_000))
    world.baseline()
    world.echo_start()
    world.token()
    world.reading(300)
    assert stop_for_driver(_stop_ports(world), "PO-1", world.now) == "sent"
    [stop] = _stops(world)
    assert (stop.port_no, stop.purpose) == (1, "paid:PO-1")
    link = world.paid.get_link("ebike-PO-1")
    assert link is not None and link.stop_reason == "remote_stop"
    assert stop_for_driver(_stop_ports(world), "PO-1", world.now) == "sent"
    assert len(_stops(world)) == 1 and len(world.publisher.published) == 2  # start + stop
    register = write_for(PortCommand(PortCommandKind.STOP, 1), default_control(), 1).address
    assert world.answer(function_code=6, address=register, value=2) is not None
    [(_, output)] = world.resumer.succeeded
    assert output["stop_reason"] == "remote_stop" and output["energy_wh"] == 5


def test_a_platform_stop_on_its_way_makes_the_drivers_stop_send_nothing() -> None:
    world = World()
    world.begin(target=ChargeTarget(ChargeMode.AMOUNT, 1), prepaid_cap_fen=400)
    world.baseline()
    world.echo_start()
    world.reading(600)  # 10 Wh: 1.5 fen >= the 1 fen target, the platform stops
    assert len(_stops(world)) == 1
    assert stop_for_driver(_stop_ports(world), "PO-1", world.now) == "sent"
    assert len(_stops(world)) == 1


def test_a_charge_that_is_not_running_is_refused_and_nothing_is_sent() -> None:
    world = World()
    with pytest.raises(NotFound):
        stop_for_driver(_stop_ports(world), "PO-1", world.now)
    world.begin()
    with pytest.raises(Conflict):  # the START is not confirmed yet
        stop_for_driver(_stop_ports(world), "PO-1", world.now)
    assert _stops(world) == [] and len(world.publisher.published) == 1
    world.echo_start()
    charge = world.paid.get("PO-1")
    assert charge is not None
    assert ebike_charging.end_charge(world.ports, charge, pile_reason="idle")
    with pytest.raises(Conflict):
        stop_for_driver(_stop_ports(world), "PO-1", world.now)
    assert _stops(world) == []


def test_driver_api_session_port_hands_ebike_sessions_to_the_ebike_stop() -> None:
    stopped: list[str] = []

    def ebike_stop(order_no: str) -> str:
        stopped.append(order_no)
        return "sent"

    # The positional ports are not touched for an e-bike session.
    positional = [
        name
        for name, parameter in inspect.signature(SessionsOnPiles).parameters.items()
        if parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]
    unused: list[Any] = [None] * len(positional)
    sessions = SessionsOnPiles(*unused, ebike_stop=ebike_stop)
    principal = Principal(username="driver:u-1", role=Role.OPERATOR_ADMIN, operator_id="op-1")
    assert sessions.stop(principal, "EB-1", "ebike-PO-9") == "sent"
    assert stopped == ["PO-9"]
