"""E-bike port charges in the driver's live view and trend (driver_charging on fakes): no
session item, the port's readings (session ``ebike-{order_no}``) give energy, power, voltage,
current and elapsed time, and the cost so far is the port stop check's figure
(``ebike_charging.price_span`` with the order's tariff version: by energy, or by time with
power bands); the trend pages the port's readings from the charge's baseline."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from shared.domain.base_data import PageRequest
from shared.domain.drivers import LoginApp
from shared.domain.errors import InvalidInput, NotFound
from shared.domain.modbus_readings import PortReading, PortState
from shared.domain.paid_charging import MODBUS, PaidCharge, PaidChargeState, SessionEnd
from shared.domain.payment_orders import OrderState, PaymentOrder
from shared.domain.pricing import ChargeMode, ChargeTarget, price_time
from shared.domain.sessions import MeterSample
from shared.domain.tariffs import PowerBand
from shared.services import driver_charging
from shared.services.ebike_charging import ChargeSpan, span_readings
from shared.services.ebike_charging import _live as stop_check_live
from tests.unit.test_driver_api_services import OTHER, USER, Setup, a_start, setup
from tests.unit.test_payment_workflow_fakes import FLAT_TARIFF, T0, TARIFF

LINKED = T0 + timedelta(minutes=5)


def a_reading(minutes: float, energy_wh: int, power_w: int, state: PortState) -> PortReading:
    return PortReading(
        at=LINKED + timedelta(minutes=minutes),
        energy_wh=energy_wh,
        power_w=power_w,
        voltage_dv=2205,
        current_ma=power_w * 1000 // 220,
        temperature_dc=315,
        state=state,
    )


READINGS = [
    a_reading(-3, 4_000, 0, PortState.CHARGING),  # a poll of the previous charge
    a_reading(-1, 5_000, 0, PortState.PLUGGED),  # the baseline: the last idle reading
    a_reading(1.5, 5_040, 160, PortState.CHARGING),
    a_reading(4, 5_120, 180, PortState.CHARGING),
    a_reading(9.5, 5_300, 900, PortState.CHARGING),
]


class FakeEbikeSessions:
    def __init__(self) -> None:
        self.markers: dict[str, PaidCharge] = {}
        self.readings = list(READINGS)
        self.reads: list[tuple[datetime, datetime]] = []
        self.stops: list[tuple[str, str]] = []

    def stop(self, principal: object, pile_id: str, session_id: str) -> str:
        self.stops.append((pile_id, session_id))
        return "sent"

    def session_of(self, order_no: str) -> str | None:
        marker = self.markers.get(order_no)
        return None if marker is None else marker.session_id

    def session(self, session_id: str) -> None:
        raise AssertionError("an e-bike charge has no session item")

    def marker(self, order_no: str) -> PaidCharge | None:
        return self.markers.get(order_no)

    def port_readings(
        self, pile_id: str, port_no: int, since: datetime, until: datetime
    ) -> list[PortReading]:
        self.reads.append((since, until))
        return [r for r in self.readings if since <= r.at <= until]


def a_marker(order: PaymentOrder, **changes: object) -> PaidCharge:
    marker = PaidCharge(
        order_no=order.order_no,
        operator_id=order.operator_id,
        station_id=order.station_id,
        pile_id=order.pile_id,
        gun_no=order.gun_no,
        id_tag=order.id_tag,
        target=ChargeTarget(ChargeMode.AMOUNT, 400),
        prepaid_cap_fen=400,
        tariff_id=order.tariff_id,
        tariff_version=order.tariff_version,
        protocol=MODBUS,
        call_id="cmd-1",
        created_at=T0,
        check_at=T0,
        state=PaidChargeState.CHARGING,
        session_id=f"ebike-{order.order_no}",
        linked_at=LINKED,
    )
    return replace(marker, **changes)  # type: ignore[arg-type]


def an_ebike_charge(**changes: object) -> tuple[Setup, FakeEbikeSessions, PaymentOrder]:
    s = setup()
    order = driver_charging.start_charge(s.ports, USER, LoginApp.WECHAT, a_start())
    sessions = FakeEbikeSessions()
    sessions.markers[order.order_no] = a_marker(order, **changes)
    s.ports = replace(s.ports, sessions=sessions)  # type: ignore[arg-type]
    return s, sessions, order


NOW = LINKED + timedelta(minutes=10)


def test_the_live_view_of_a_port_charge_by_energy_is_the_stop_checks_figure() -> None:
    s, sessions, order = an_ebike_charge()

    live = driver_charging.live_charge(s.ports, USER, order.order_no, NOW)

    span = ChargeSpan(LINKED, tuple(span_readings(READINGS, LINKED)))
    check = stop_check_live(FLAT_TARIFF, span, READINGS[-1].at)
    assert (live.energy_wh, live.cost_fen) == (300, 30)  # 1 fen per 10 Wh, from the baseline
    assert (live.energy_wh, live.cost_fen) == (check.energy_wh, check.cost_fen)
    assert (live.elapsed_s, live.is_charging, live.session_id) == (
        600,
        True,
        f"ebike-{order.order_no}",
    )
    assert live.latest == MeterSample(
        sampled_at=READINGS[-1].at,
        energy_wh=300,
        power_w=900,
        voltage_v=220.5,
        current_a=4.09,
        temperature_c=31.5,
    )
    assert sessions.reads == [(LINKED - timedelta(minutes=5), NOW)]


def test_the_live_view_of_a_port_charge_by_time_uses_the_power_bands() -> None:
    s, _, order = an_ebike_charge()
    banded = replace(FLAT_TARIFF, ebike_power_bands=(PowerBand(200, 60), PowerBand(1000, 120)))
    s.world.base_data.tariffs[(TARIFF, 1)] = banded

    live = driver_charging.live_charge(s.ports, USER, order.order_no, NOW)

    # 9.5 minutes to the newest reading: 10 started minutes, all in the 200 W band (the
    # 900 W reading is the end instant itself: it prices the minutes after it).
    span = ChargeSpan(LINKED, tuple(span_readings(READINGS, LINKED)))
    expected = price_time(banded, LINKED, READINGS[-1].at, span.power_samples())
    assert live.cost_fen == expected.total_fen == 10
    assert live.cost_fen == stop_check_live(banded, span, READINGS[-1].at).cost_fen


def test_an_ended_port_charge_is_priced_to_its_end_and_a_settled_one_shows_the_bill() -> None:
    ended_at = LINKED + timedelta(minutes=9.5)
    end = SessionEnd("ebike-x", 300, "target_reached", ended_at)
    s, _, order = an_ebike_charge(state=PaidChargeState.ENDED, end=end)

    live = driver_charging.live_charge(s.ports, USER, order.order_no, NOW + timedelta(hours=1))
    assert (live.is_charging, live.elapsed_s, live.cost_fen) == (False, 570, 30)

    s.world.orders.orders[order.order_no] = replace(
        order, state=OrderState.SETTLED, energy_wh=301, cost_fen=31
    )
    settled = driver_charging.live_charge(s.ports, USER, order.order_no, NOW)
    assert (settled.energy_wh, settled.cost_fen) == (301, 31)


def test_a_port_charge_not_linked_yet_shows_nothing_measured() -> None:
    s, sessions, order = an_ebike_charge(
        state=PaidChargeState.STARTING, session_id=None, linked_at=None
    )
    sessions.markers[order.order_no] = replace(
        sessions.markers[order.order_no], session_id=f"ebike-{order.order_no}"
    )
    live = driver_charging.live_charge(s.ports, USER, order.order_no, NOW)
    assert (live.energy_wh, live.cost_fen, live.elapsed_s, live.is_charging) == (0, 0, 0, False)
    assert live.latest is None and sessions.reads == []


def test_the_trend_of_a_port_charge_pages_its_readings_from_the_baseline() -> None:
    s, _, order = an_ebike_charge()
    pages, token = [], None
    while True:
        page = driver_charging.charge_samples(
            s.ports, USER, order.order_no, PageRequest(2, token), NOW
        )
        pages.append([(x.sampled_at, x.energy_wh, x.power_w) for x in page.items])
        token = page.next_token
        if token is None:
            break
    assert pages == [
        [(READINGS[1].at, 0, 0), (READINGS[2].at, 40, 160)],
        [(READINGS[3].at, 120, 180), (READINGS[4].at, 300, 900)],
    ]


@pytest.mark.parametrize("token", ["not-a-time", "eyJzayI6IngifQ=="])
def test_a_bad_page_token_of_a_port_charge_is_refused(token: str) -> None:
    s, sessions, order = an_ebike_charge()
    with pytest.raises(InvalidInput):
        driver_charging.charge_samples(s.ports, USER, order.order_no, PageRequest(2, token), NOW)
    assert sessions.reads == []


def test_another_drivers_port_charge_is_not_found() -> None:
    s, sessions, order = an_ebike_charge()
    with pytest.raises(NotFound):
        driver_charging.live_charge(s.ports, OTHER, order.order_no, NOW)
    with pytest.raises(NotFound):
        driver_charging.charge_samples(s.ports, OTHER, order.order_no, PageRequest(2, None), NOW)
    assert sessions.reads == []


def test_stopping_a_port_charge_from_the_app_goes_to_the_session_port() -> None:
    """The session port (``SessionsOnPiles``) sends the STOP port command of an ``ebike-``
    session (``ebike_charging.stop_for_driver``, tests/unit/test_ebike_charging_driver_stop.py)."""
    s, sessions, order = an_ebike_charge()
    assert driver_charging.stop_charge(s.ports, USER, order.order_no) == "sent"
    assert sessions.stops == [(order.pile_id, f"ebike-{order.order_no}")]
