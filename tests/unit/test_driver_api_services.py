"""Driver services on in-memory fakes: sign-in creates one account per openid (also when two
sign-ins race), starts are refused before anything is stored, a retried start names one
order, cards bind to the phone's owner, and a reservation whose ReserveNow fails frees the
gun."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.domain.cards import Card, CardStatus
from shared.domain.driver_care import Reservation
from shared.domain.drivers import Driver, LoginApp, id_tag_of
from shared.domain.errors import (
    Conflict,
    Forbidden,
    InsufficientBalance,
    InvalidInput,
    NotFound,
    Unauthenticated,
    UpstreamFailure,
)
from shared.domain.payment_orders import PaymentOrder
from shared.domain.piles import Gun, Pile, Presence
from shared.domain.stations import Station
from shared.services import driver_care, driver_charging, driver_login
from shared.services.driver_discovery import DiscoveryPorts
from tests.unit.test_payment_workflow_fakes import PILE, STATION, T0, World

USER = "dr-00000000000000000001"
OTHER = "dr-00000000000000000002"


class FakeDrivers:
    def __init__(self) -> None:
        self.drivers: dict[str, Driver] = {}
        self.logins: dict[tuple[str, str], str] = {}
        self.race: tuple[str, str] | None = None  # a login another sign-in creates first

    def get(self, user_id: str) -> Driver | None:
        return self.drivers.get(user_id)

    def find_login(self, app: LoginApp, openid: str) -> str | None:
        return self.logins.get((app.value, openid))

    def create(self, driver: Driver, app: LoginApp, openid: str) -> bool:
        if self.race is not None:
            winner = Driver(user_id=self.race[0], created_at=T0, openids={app.value: openid})
            self.drivers[winner.user_id] = winner
            self.logins[(app.value, openid)] = winner.user_id
            self.race = None
            return False
        if (app.value, openid) in self.logins:
            return False
        self.drivers[driver.user_id] = driver
        self.logins[(app.value, openid)] = driver.user_id
        return True

    def save_profile(self, driver: Driver) -> None:
        if driver.user_id not in self.drivers:
            raise NotFound("driver not found")
        self.drivers[driver.user_id] = driver


class Identities:
    def openid(self, app: LoginApp, code: str) -> str:
        if not code.startswith("ok:"):
            raise Unauthenticated("refused")
        return code.removeprefix("ok:")


def login_ports(drivers: FakeDrivers) -> driver_login.LoginPorts:
    counter = iter(range(1, 1000))
    return driver_login.LoginPorts(
        drivers=drivers,
        identities=Identities(),
        signing_key=lambda: b"k" * 32,
        clock=lambda: T0,
        new_id=lambda prefix: f"{prefix}-{next(counter):020x}",
    )


def test_sign_in_creates_an_account_once_per_openid() -> None:
    drivers = FakeDrivers()
    ports = login_ports(drivers)

    first = driver_login.sign_in(ports, "wechat", "ok:abc")
    again = driver_login.sign_in(ports, "wechat", "ok:abc")
    other_app = driver_login.sign_in(ports, "alipay", "ok:abc")

    assert (first.is_new, again.is_new) == (True, False)
    assert again.driver.user_id == first.driver.user_id
    assert other_app.driver.user_id != first.driver.user_id
    assert len(drivers.drivers) == 2


def test_sign_in_takes_the_winners_account_when_two_sign_ins_race() -> None:
    drivers = FakeDrivers()
    drivers.race = ("dr-0000000000000000abcd", "abc")

    signed = driver_login.sign_in(login_ports(drivers), "wechat", "ok:abc")

    assert signed.driver.user_id == "dr-0000000000000000abcd"
    assert signed.is_new is False
    assert len(drivers.drivers) == 1


@pytest.mark.parametrize(
    ("app", "code", "error"),
    [
        ("qq", "ok:abc", InvalidInput),
        ("wechat", "", InvalidInput),
        ("wechat", "x" * 257, InvalidInput),
        ("wechat", "nope", Unauthenticated),
        ("wechat", "ok:bad openid!", InvalidInput),
    ],
)
def test_sign_in_is_refused_and_creates_nothing(app: str, code: str, error: type) -> None:
    drivers = FakeDrivers()
    with pytest.raises(error):
        driver_login.sign_in(login_ports(drivers), app, code)
    assert drivers.drivers == {}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic abc"}, {"authorization": "Bearer"}, {"authorization": ""}],
)
def test_a_request_without_a_bearer_token_is_unauthenticated(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthenticated):
        driver_login.bearer_token(headers)


def test_a_bearer_token_is_read_in_any_header_case() -> None:
    assert driver_login.bearer_token({"AUTHORIZATION": "bearer  abc "}) == "abc"


# --- charging ------------------------------------------------------------------------------


class FakeIndex:
    def __init__(self, world: World) -> None:
        self.world = world
        self.statuses = {1: "Available", 2: "Charging"}
        self.online = True

    def _pile(self) -> Pile:
        pile = self.world.base_data.piles[PILE]
        return replace(pile, presence=Presence(is_online=self.online))

    def stations_in_cells(self, cells: Sequence[str]) -> list[Station]:
        return list(self.world.base_data.stations.values())

    def station(self, station_id: str) -> Station | None:
        return self.world.base_data.stations.get(station_id)

    def piles_of(self, station: Station) -> list[Pile]:
        return [self._pile()]

    def guns_of(self, piles: Sequence[Pile]) -> list[Gun]:
        return self.pile_with_guns(PILE)[1]

    def pile_with_guns(self, pile_id: str) -> tuple[Pile | None, list[Gun]]:
        if pile_id != PILE:
            return None, []
        pile = self._pile()
        guns = [
            Gun(
                pile_id=PILE,
                gun_no=n,
                operator_id=pile.operator_id,
                station_id=STATION,
                name=f"Gun {n}",
                is_enabled=True,
                updated_at=T0,
                status=status,
            )
            for n, status in self.statuses.items()
        ]
        return pile, guns


class FakeHolds:
    def __init__(self) -> None:
        self.holders: dict[tuple[str, int], tuple[str, datetime]] = {}

    def holder_of(self, pile_id: str, gun_no: int, now: datetime) -> str | None:
        held = self.holders.get((pile_id, gun_no))
        return held[0] if held is not None and now < held[1] else None


@dataclass
class Link:
    order_no: str
    rating: int | None = None
    comment: str | None = None


@dataclass
class FakeCharges:
    orders_of: Any
    requests: dict[tuple[str, str], str] = field(default_factory=dict)
    links: dict[tuple[str, str], Link] = field(default_factory=dict)

    def claim(self, user_id: str, request_id: str, order_no: str, now: datetime) -> str:
        stored = self.requests.setdefault((user_id, request_id), order_no)
        self.links.setdefault((user_id, stored), Link(stored))
        return stored

    def get_link(self, user_id: str, order_no: str) -> Link | None:
        return self.links.get((user_id, order_no))

    def list_links(
        self, user_id: str, *, limit: int, before: str | None
    ) -> tuple[list[Link], str | None]:
        mine = sorted(
            (link for (u, _), link in self.links.items() if u == user_id),
            key=lambda link: link.order_no,
        )
        return mine[::-1][:limit], None

    def orders(self, order_nos: Sequence[str]) -> Mapping[str, PaymentOrder]:
        found = {no: self.orders_of.get(no) for no in order_nos}
        return {no: order for no, order in found.items() if order is not None}

    def rate(
        self, user_id: str, order_no: str, stars: int, comment: str | None, now: datetime
    ) -> bool:
        link = self.links[(user_id, order_no)]
        if link.rating is not None:
            return False
        link.rating, link.comment = stars, comment
        return True


@dataclass
class Setup:
    world: World
    index: FakeIndex
    holds: FakeHolds
    drivers: FakeDrivers
    charges: FakeCharges
    ports: driver_charging.ChargingPorts


def setup(phone: str | None = None) -> Setup:
    world = World()
    index, holds, drivers = FakeIndex(world), FakeHolds(), FakeDrivers()
    for user in (USER, OTHER):
        drivers.drivers[user] = Driver(
            user_id=user, created_at=T0, openids={"wechat": f"wx-{user}"}, phone=phone
        )
    charges = FakeCharges(world.orders.orders)
    hexes = iter(range(1, 1000))
    ports = driver_charging.ChargingPorts(
        payments=world.ports,
        charges=charges,
        drivers=drivers,
        discovery=DiscoveryPorts(
            index=index,
            tariffs=world.base_data,
            wallets=world.ledger,
            reservations=holds,
            qr_base_url="https://q.example",
        ),
        sessions=None,  # type: ignore[arg-type]
        tariffs=world.base_data,
        random_hex=lambda length: f"{next(hexes):0{length}x}",
    )
    return Setup(world, index, holds, drivers, charges, ports)


def a_start(**overrides: Any) -> driver_charging.StartRequest:
    values: dict[str, Any] = {
        "request_id": "req-000001",
        "pile_id": PILE,
        "gun_no": 1,
        "mode": "amount",
        "value": 400,
        "prepaid_fen": 400,
        "method": "sandbox",
    }
    values.update(overrides)
    return driver_charging.StartRequest(**values)


def test_a_retried_start_names_one_order_and_one_workflow() -> None:
    s = setup()

    first = driver_charging.start_charge(s.ports, USER, LoginApp.WECHAT, a_start())
    again = driver_charging.start_charge(s.ports, USER, LoginApp.WECHAT, a_start())

    assert first.order_no == again.order_no
    assert first.order_no.startswith("PO261102020000")
    assert [name for name, _ in s.world.starter.started] == [first.order_no, first.order_no]
    assert len(s.world.orders.orders) == 1
    assert first.id_tag == id_tag_of(USER) == "D0000000000000000000"


def test_wechat_pay_uses_the_wechat_openid_and_needs_the_wechat_app() -> None:
    s = setup()

    order = driver_charging.start_charge(s.ports, USER, LoginApp.WECHAT, a_start(method="wechat"))

    assert order.payer_id == f"wx-{USER}"
    with pytest.raises(Conflict):
        driver_charging.start_charge(
            s.ports, USER, LoginApp.ALIPAY, a_start(request_id="req-000002", method="alipay")
        )


@pytest.mark.parametrize(
    ("change", "start", "error"),
    [
        ("busy", {}, Conflict),
        ("offline", {}, Conflict),
        ("reserved", {}, Conflict),
        (None, {"gun_no": 3}, NotFound),
        (None, {"method": "wallet"}, InsufficientBalance),
        (None, {"mode": "mileage", "value": None}, InvalidInput),
        (None, {"mode": "energy", "value": 0}, InvalidInput),
        (None, {"method": "cash"}, InvalidInput),
    ],
)
def test_a_refused_start_stores_nothing_and_starts_nothing(
    change: str | None, start: dict[str, Any], error: type
) -> None:
    s = setup()
    if change == "busy":
        s.index.statuses[1] = "Charging"
    elif change == "offline":
        s.index.online = False
    elif change == "reserved":
        s.holds.holders[(PILE, 1)] = (OTHER, T0 + timedelta(minutes=10))

    with pytest.raises(error):
        driver_charging.start_charge(s.ports, USER, LoginApp.WECHAT, a_start(**start))

    assert s.charges.requests == {}
    assert s.world.orders.orders == {}
    assert s.world.starter.started == []


def test_the_drivers_own_reservation_lets_them_start() -> None:
    s = setup()
    s.index.statuses[1] = "Reserved"
    s.holds.holders[(PILE, 1)] = (USER, T0 + timedelta(minutes=10))

    order = driver_charging.start_charge(s.ports, USER, LoginApp.WECHAT, a_start())

    assert order.gun_no == 1


def test_mileage_uses_the_default_consumption_when_the_driver_gave_none() -> None:
    s = setup()
    order = driver_charging.start_charge(
        s.ports, USER, LoginApp.WECHAT, a_start(mode="mileage", value=20)
    )
    assert (order.target_mode, order.target_value) == ("energy", 3000)


def test_another_drivers_charge_is_not_found() -> None:
    s = setup()
    order = driver_charging.start_charge(s.ports, USER, LoginApp.WECHAT, a_start())

    with pytest.raises(NotFound):
        driver_charging.get_charge(s.ports, OTHER, order.order_no)
    assert driver_charging.list_charges(s.ports, OTHER, limit=10, before=None) == ([], None)
    with pytest.raises(NotFound):
        driver_charging.rate_charge(s.ports, OTHER, order.order_no, stars=1, comment=None, now=T0)


# --- cards and reservations ------------------------------------------------------------------


class FakeCards:
    def __init__(self) -> None:
        self.cards = {
            "CARD-1": Card(
                card_no="CARD-1",
                operator_id="op-pay",
                holder_name="Li",
                phone="+8613800000000",
                created_at=T0,
                updated_at=T0,
            )
        }
        self.bindings: dict[str, tuple[str, datetime]] = {}

    def card(self, card_no: str) -> Card | None:
        return self.cards.get(card_no)

    def bind(self, user_id: str, card_no: str, now: datetime) -> bool:
        if card_no in self.bindings:
            return False
        self.bindings[card_no] = (user_id, now)
        return True

    def binding_of(self, card_no: str) -> str | None:
        bound = self.bindings.get(card_no)
        return None if bound is None else bound[0]

    def unbind(self, user_id: str, card_no: str) -> bool:
        if self.binding_of(card_no) != user_id:
            return False
        del self.bindings[card_no]
        return True

    def bound_cards(self, user_id: str) -> list[tuple[str, datetime]]:
        return [(no, at) for no, (user, at) in self.bindings.items() if user == user_id]


def test_a_card_binds_when_the_phones_match_in_either_form() -> None:
    s, cards = setup(phone="13800000000"), FakeCards()

    driver_care.bind_card(cards, s.drivers, USER, "CARD-1", T0)

    assert cards.binding_of("CARD-1") == USER
    with pytest.raises(Conflict):
        driver_care.bind_card(cards, s.drivers, OTHER, "CARD-1", T0)
    with pytest.raises(NotFound):
        driver_care.unbind_card(cards, OTHER, "CARD-1")


def test_a_card_is_refused_for_another_phone_or_when_frozen() -> None:
    s, cards = setup(phone="13900000000"), FakeCards()
    with pytest.raises(Forbidden):
        driver_care.bind_card(cards, s.drivers, USER, "CARD-1", T0)
    s.drivers.drivers[USER] = replace(s.drivers.drivers[USER], phone="13800000000")
    cards.cards["CARD-1"] = replace(cards.cards["CARD-1"], status=CardStatus.FROZEN)
    with pytest.raises(Conflict):
        driver_care.bind_card(cards, s.drivers, USER, "CARD-1", T0)
    assert cards.bindings == {}


class FakeReservations:
    def __init__(self, holds: FakeHolds) -> None:
        self.holds = holds
        self.records: dict[tuple[str, str], Reservation] = {}

    def hold(self, reservation: Reservation, now: datetime) -> bool:
        key = (reservation.pile_id, reservation.gun_no)
        if self.holds.holder_of(*key, now) is not None:
            return False
        self.holds.holders[key] = (reservation.user_id, reservation.expires_at)
        self.records[(reservation.user_id, reservation.reservation_id)] = reservation
        return True

    def get(self, user_id: str, reservation_id: str) -> Reservation | None:
        return self.records.get((user_id, reservation_id))

    def save(self, reservation: Reservation) -> None:
        self.records[(reservation.user_id, reservation.reservation_id)] = reservation

    def release(self, reservation: Reservation) -> None:
        self.holds.holders.pop((reservation.pile_id, reservation.gun_no), None)

    def of_driver(self, user_id: str, limit: int) -> list[Reservation]:
        return [r for (u, _), r in self.records.items() if u == user_id]


class FailingCommands:
    def send(self, principal: Any, pile_id: str, command: Any) -> str:
        raise UpstreamFailure("the pile could not be reached")


def test_a_reservation_whose_reserve_now_fails_frees_the_gun() -> None:
    s = setup()
    reservations = FakeReservations(s.holds)
    ports = driver_care.ReservationPorts(
        reservations=reservations,
        discovery=s.ports.discovery,
        commands=FailingCommands(),
        clock=lambda: T0,
    )

    with pytest.raises(UpstreamFailure):
        driver_care.reserve_gun(
            ports, USER, request_id="r-000001", pile_id=PILE, gun_no=1, minutes=10
        )

    assert s.holds.holder_of(PILE, 1, T0) is None


def test_a_wallet_start_is_covered_only_by_the_wallet_at_the_guns_operator() -> None:
    from shared.domain.ledger import driver_wallet_id
    from shared.services.wallets import open_wallet, top_up_wallet
    from tests.unit.test_payment_workflow_fakes import OPERATOR

    s = setup()

    def fund(operator_id: str, amount_fen: int) -> None:
        account_id = driver_wallet_id(operator_id, USER)
        open_wallet(
            s.world.ledger,
            account_id=account_id,
            operator_id=operator_id,
            owner=USER,
            clock=s.world.clock,
        )
        top_up_wallet(
            s.world.ledger,
            account_id=account_id,
            operator_id=operator_id,
            amount_fen=amount_fen,
            reference=f"topup-{operator_id}",
            method="cash",
            actor="test",
            clock=s.world.clock,
        )

    fund("op-elsewhere", 10_000)  # another operator's wallet never pays here
    with pytest.raises(InsufficientBalance):
        driver_charging.start_charge(s.ports, USER, LoginApp.WECHAT, a_start(method="wallet"))
    assert s.world.orders.orders == {}

    fund(OPERATOR, 400)
    order = driver_charging.start_charge(
        s.ports, USER, LoginApp.WECHAT, a_start(request_id="req-000002", method="wallet")
    )
    assert order.operator_id == OPERATOR
    assert s.world.balance(driver_wallet_id("op-elsewhere", USER)) == 10_000
