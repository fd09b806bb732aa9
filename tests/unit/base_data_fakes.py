"""In-memory fakes of the base-data ports, with the same tenancy answers as the DynamoDB
repository: another operator's object is NotFound, writes are checked against the
caller's operator, lists read one operator only."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from shared.domain.base_data import Operator, Page, PageRequest, StaffMember, resolve_operator
from shared.domain.cards import Card
from shared.domain.discounts import Discount
from shared.domain.errors import (
    Conflict,
    InsufficientBalance,
    InvalidInput,
    NotFound,
    Unauthenticated,
    UpstreamFailure,
)
from shared.domain.piles import Gun, Pile
from shared.domain.stations import Station
from shared.domain.tariffs import Tariff
from shared.domain.tenancy import Principal, Role
from shared.services.base_data_cards import TopUp
from shared.services.staff import AuthTokens

T = TypeVar("T")


def _missing(kind: str, object_id: object) -> NotFound:
    return NotFound(f"{kind} {object_id} not found", kind=kind, id=object_id)


class InMemoryBaseData:
    """``BaseDataRepository`` + ``TopUpLog`` in dictionaries."""

    def __init__(self) -> None:
        self.operators: dict[str, Operator] = {}
        self.staff: dict[tuple[str, str], StaffMember] = {}
        self.stations: dict[str, Station] = {}
        self.pile_counts: dict[str, int] = {}
        self.piles: dict[str, Pile] = {}
        self.guns: dict[tuple[str, int], Gun] = {}
        self.tariffs: dict[str, Tariff] = {}
        self.tariff_versions: dict[tuple[str, int], Tariff] = {}
        self.station_counts: dict[str, int] = {}
        self.discounts: dict[str, Discount] = {}
        self.cards: dict[str, Card] = {}
        self.top_ups: dict[tuple[str, str], TopUp] = {}
        self.is_down = False
        self.pings = 0

    # helpers
    def _visible(self, principal: Principal, obj: T | None, kind: str, object_id: object) -> T:
        if obj is None or not principal.can_see(getattr(obj, "operator_id", "")):
            raise _missing(kind, object_id)
        return obj

    def _writable(
        self, principal: Principal, operator_id: str, kind: str, object_id: object
    ) -> None:
        tenant = operator_id if principal.is_platform_admin else resolve_operator(principal, None)
        if tenant != operator_id:
            raise _missing(kind, object_id)

    def _page(self, items: list[T], page: PageRequest, key: Callable[[T], str]) -> Page[T]:
        ordered = sorted(items, key=key)
        start = 0
        if page.next_token is not None:
            if not page.next_token.isdigit():
                raise InvalidInput("next_token is not a token from this list", field="next_token")
            start = int(page.next_token)
        chunk = ordered[start : start + page.limit]
        more = start + page.limit < len(ordered)
        return Page(items=chunk, next_token=str(start + page.limit) if more else None)

    def _count_station(self, tariff_id: str, delta: int) -> None:
        self.station_counts[tariff_id] = self.station_counts.get(tariff_id, 0) + delta

    def ping(self) -> None:
        self.pings += 1
        if self.is_down:
            raise UpstreamFailure("down")

    # operators
    def create_operator(self, principal: Principal, operator: Operator) -> None:
        principal.require_role()
        if operator.operator_id in self.operators:
            raise Conflict("operator exists")
        self.operators[operator.operator_id] = operator

    def get_operator(self, principal: Principal, operator_id: str) -> Operator:
        return self._visible(principal, self.operators.get(operator_id), "operator", operator_id)

    def list_operators(self, principal: Principal, page: PageRequest) -> Page[Operator]:
        if not principal.is_platform_admin:
            return Page(items=[self.get_operator(principal, resolve_operator(principal, None))])
        return self._page(list(self.operators.values()), page, lambda op: op.operator_id)

    def update_operator(self, principal: Principal, operator: Operator) -> None:
        self._writable(principal, operator.operator_id, "operator", operator.operator_id)
        self.get_operator(principal, operator.operator_id)
        self.operators[operator.operator_id] = operator

    def delete_operator(self, principal: Principal, operator_id: str) -> None:
        self.get_operator(principal, operator_id)
        owned: list[Any] = [
            *self.stations.values(),
            *self.piles.values(),
            *self.tariffs.values(),
            *self.discounts.values(),
            *self.cards.values(),
            *self.staff.values(),
        ]
        if any(obj.operator_id == operator_id for obj in owned):
            raise Conflict("operator still owns base data")
        del self.operators[operator_id]

    def create_staff(self, principal: Principal, member: StaffMember) -> None:
        self._writable(principal, member.operator_id, "operator", member.operator_id)
        if (member.operator_id, member.username) in self.staff:
            raise Conflict("username is taken")
        self.staff[(member.operator_id, member.username)] = member

    def list_staff(
        self, principal: Principal, operator_id: str, page: PageRequest
    ) -> Page[StaffMember]:
        owner = resolve_operator(principal, operator_id)
        members = [m for (op, _), m in self.staff.items() if op == owner]
        return self._page(members, page, lambda m: m.username)

    # stations
    def create_station(self, principal: Principal, station: Station) -> None:
        self._writable(principal, station.operator_id, "operator", station.operator_id)
        if station.tariff_id is not None:
            tariff = self.tariffs.get(station.tariff_id)
            if tariff is None or tariff.operator_id != station.operator_id:
                raise _missing("tariff", station.tariff_id)
            self.station_counts[station.tariff_id] = (
                self.station_counts.get(station.tariff_id, 0) + 1
            )
        self.stations[station.station_id] = station

    def get_station(self, principal: Principal, station_id: str) -> Station:
        return self._visible(principal, self.stations.get(station_id), "station", station_id)

    def get_stations(self, principal: Principal, station_ids: Sequence[str]) -> list[Station]:
        return [
            self.stations[sid]
            for sid in dict.fromkeys(station_ids)
            if sid in self.stations and principal.can_see(self.stations[sid].operator_id)
        ]

    def list_stations(
        self, principal: Principal, operator_id: str | None, page: PageRequest
    ) -> Page[Station]:
        owner = resolve_operator(principal, operator_id)
        items = [s for s in self.stations.values() if s.operator_id == owner]
        return self._page(items, page, lambda s: s.station_id)

    def update_station(self, principal: Principal, station: Station, previous: Station) -> None:
        self._writable(principal, station.operator_id, "station", station.station_id)
        self.get_station(principal, station.station_id)
        if station.tariff_id != previous.tariff_id:
            if station.tariff_id is not None:
                tariff = self.tariffs.get(station.tariff_id)
                if tariff is None or tariff.operator_id != station.operator_id:
                    raise _missing("tariff", station.tariff_id)
                self.station_counts[station.tariff_id] = (
                    self.station_counts.get(station.tariff_id, 0) + 1
                )
            if previous.tariff_id is not None:
                self.station_counts[previous.tariff_id] -= 1
        self.stations[station.station_id] = station

    def delete_station(self, principal: Principal, station: Station) -> None:
        self._writable(principal, station.operator_id, "station", station.station_id)
        self.get_station(principal, station.station_id)
        if self.pile_counts.get(station.station_id, 0) > 0:
            raise Conflict("the station still has piles")
        if station.tariff_id is not None:
            self.station_counts[station.tariff_id] -= 1
        del self.stations[station.station_id]

    # piles
    def create_pile(self, principal: Principal, pile: Pile, guns: Sequence[Gun]) -> None:
        self._writable(principal, pile.operator_id, "operator", pile.operator_id)
        if pile.pile_id in self.piles:
            raise Conflict("pile_id is registered already")
        station = self.stations.get(pile.station_id)
        if station is None or station.operator_id != pile.operator_id:
            raise _missing("station", pile.station_id)
        self.piles[pile.pile_id] = pile
        for gun in guns:
            self.guns[(gun.pile_id, gun.gun_no)] = gun
        self.pile_counts[pile.station_id] = self.pile_counts.get(pile.station_id, 0) + 1

    def get_pile(self, principal: Principal, pile_id: str) -> Pile:
        return self._visible(principal, self.piles.get(pile_id), "pile", pile_id)

    def list_piles(
        self,
        principal: Principal,
        operator_id: str | None,
        station_id: str | None,
        page: PageRequest,
    ) -> Page[Pile]:
        owner = resolve_operator(principal, operator_id)
        items = [
            p
            for p in self.piles.values()
            if p.operator_id == owner and (station_id is None or p.station_id == station_id)
        ]
        return self._page(items, page, lambda p: f"{p.station_id}#{p.pile_id}")

    def update_pile(self, principal: Principal, pile: Pile) -> None:
        self._writable(principal, pile.operator_id, "pile", pile.pile_id)
        current = self.get_pile(principal, pile.pile_id)
        self.piles[pile.pile_id] = replace(pile, presence=current.presence)

    def delete_pile(self, principal: Principal, pile: Pile) -> None:
        self._writable(principal, pile.operator_id, "pile", pile.pile_id)
        self.get_pile(principal, pile.pile_id)
        del self.piles[pile.pile_id]
        for key in [key for key in self.guns if key[0] == pile.pile_id]:
            del self.guns[key]
        self.pile_counts[pile.station_id] -= 1

    def list_guns(self, principal: Principal, pile: Pile) -> list[Gun]:
        self.get_pile(principal, pile.pile_id)
        return sorted(
            (g for (pid, _), g in self.guns.items() if pid == pile.pile_id),
            key=lambda g: g.gun_no,
        )

    def get_gun(self, principal: Principal, pile: Pile, gun_no: int) -> Gun:
        return self._visible(
            principal, self.guns.get((pile.pile_id, gun_no)), "gun", f"{pile.pile_id}/{gun_no}"
        )

    def update_gun(self, principal: Principal, gun: Gun) -> None:
        self._writable(principal, gun.operator_id, "gun", gun.gun_no)
        self.get_gun(principal, self.get_pile(principal, gun.pile_id), gun.gun_no)
        self.guns[(gun.pile_id, gun.gun_no)] = gun

    # tariffs
    def create_tariff(self, principal: Principal, tariff: Tariff) -> None:
        self._writable(principal, tariff.operator_id, "operator", tariff.operator_id)
        self.tariffs[tariff.tariff_id] = tariff
        self.tariff_versions[(tariff.tariff_id, tariff.version)] = tariff

    def get_tariff(self, principal: Principal, tariff_id: str) -> Tariff:
        return self._visible(principal, self.tariffs.get(tariff_id), "tariff", tariff_id)

    def get_tariff_version(self, principal: Principal, tariff_id: str, version: int) -> Tariff:
        return self._visible(
            principal, self.tariff_versions.get((tariff_id, version)), "tariff version", tariff_id
        )

    def list_tariffs(
        self, principal: Principal, operator_id: str | None, page: PageRequest
    ) -> Page[Tariff]:
        owner = resolve_operator(principal, operator_id)
        items = [t for t in self.tariffs.values() if t.operator_id == owner]
        return self._page(items, page, lambda t: t.tariff_id)

    def save_tariff_version(self, principal: Principal, tariff: Tariff) -> None:
        self._writable(principal, tariff.operator_id, "tariff", tariff.tariff_id)
        current = self.get_tariff(principal, tariff.tariff_id)
        if (
            current.version != tariff.version - 1
            or (tariff.tariff_id, tariff.version) in self.tariff_versions
        ):
            raise Conflict("the tariff changed meanwhile")
        self.tariffs[tariff.tariff_id] = tariff
        self.tariff_versions[(tariff.tariff_id, tariff.version)] = tariff

    def delete_tariff(self, principal: Principal, tariff: Tariff) -> None:
        self._writable(principal, tariff.operator_id, "tariff", tariff.tariff_id)
        self.get_tariff(principal, tariff.tariff_id)
        if self.station_counts.get(tariff.tariff_id, 0) > 0:
            raise Conflict("stations still use this tariff")
        del self.tariffs[tariff.tariff_id]

    # discounts
    def create_discount(self, principal: Principal, discount: Discount) -> None:
        self._writable(principal, discount.operator_id, "operator", discount.operator_id)
        self.discounts[discount.discount_id] = discount

    def get_discount(self, principal: Principal, discount_id: str) -> Discount:
        return self._visible(principal, self.discounts.get(discount_id), "discount", discount_id)

    def list_discounts(
        self, principal: Principal, operator_id: str | None, page: PageRequest
    ) -> Page[Discount]:
        owner = resolve_operator(principal, operator_id)
        items = [d for d in self.discounts.values() if d.operator_id == owner]
        return self._page(items, page, lambda d: d.discount_id)

    def update_discount(self, principal: Principal, discount: Discount) -> None:
        self._writable(principal, discount.operator_id, "discount", discount.discount_id)
        self.get_discount(principal, discount.discount_id)
        self.discounts[discount.discount_id] = discount

    def delete_discount(self, principal: Principal, discount: Discount) -> None:
        self._writable(principal, discount.operator_id, "discount", discount.discount_id)
        self.get_discount(principal, discount.discount_id)
        del self.discounts[discount.discount_id]

    # cards
    def create_card(self, principal: Principal, card: Card) -> None:
        self._writable(principal, card.operator_id, "operator", card.operator_id)
        if card.card_no in self.cards:
            raise Conflict("card_no is issued already")
        self.cards[card.card_no] = card

    def get_card(self, principal: Principal, card_no: str) -> Card:
        return self._visible(principal, self.cards.get(card_no), "card", card_no)

    def list_cards(
        self, principal: Principal, operator_id: str | None, page: PageRequest
    ) -> Page[Card]:
        owner = resolve_operator(principal, operator_id)
        items = [c for c in self.cards.values() if c.operator_id == owner]
        return self._page(items, page, lambda c: c.card_no)

    def update_card(self, principal: Principal, card: Card, previous: Card) -> None:
        self._writable(principal, card.operator_id, "card", card.card_no)
        current = self.get_card(principal, card.card_no)
        if current.status is not previous.status:
            raise Conflict("the card changed meanwhile")
        self.cards[card.card_no] = card

    def delete_card(self, principal: Principal, card: Card) -> None:
        self._writable(principal, card.operator_id, "card", card.card_no)
        self.get_card(principal, card.card_no)
        del self.cards[card.card_no]

    def get_top_up(self, principal: Principal, card: Card, request_id: str) -> TopUp | None:
        self.get_card(principal, card.card_no)
        return self.top_ups.get((card.card_no, request_id))

    def record_top_up(self, principal: Principal, top_up: TopUp) -> TopUp:
        self._writable(principal, top_up.operator_id, "card", top_up.card_no)
        return self.top_ups.setdefault((top_up.card_no, top_up.request_id), top_up)


@dataclass(frozen=True)
class FakeWallet:
    account_id: str
    operator_id: str
    balance_fen: int
    updated_at: datetime


class FakeWallets:
    """``Wallets`` with the ledger's contract: one credit per reference, no overdraft."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self.wallets: dict[str, FakeWallet] = {}
        self.references: dict[str, tuple[str, int]] = {}
        self.fail_open = False

    def open(self, *, account_id: str, operator_id: str, owner: str) -> FakeWallet:
        if self.fail_open:
            raise UpstreamFailure("ledger down")
        return self.wallets.setdefault(
            account_id, FakeWallet(account_id, operator_id, 0, self._now())
        )

    def _move(
        self, account_id: str, operator_id: str, amount_fen: int, reference: str
    ) -> FakeWallet:
        wallet = self.wallets.get(account_id)
        if wallet is None or wallet.operator_id != operator_id:
            raise NotFound("wallet not found")
        if reference in self.references:
            if self.references[reference] != (account_id, amount_fen):
                raise Conflict("reference used for different money")
            return wallet
        if wallet.balance_fen + amount_fen < 0:
            raise InsufficientBalance("not enough money")
        self.references[reference] = (account_id, amount_fen)
        wallet = replace(
            wallet, balance_fen=wallet.balance_fen + amount_fen, updated_at=self._now()
        )
        self.wallets[account_id] = wallet
        return wallet

    def top_up(
        self, *, account_id: str, operator_id: str, amount_fen: int, reference: str, actor: str
    ) -> FakeWallet:
        return self._move(account_id, operator_id, amount_fen, reference)

    def withdraw(
        self, *, account_id: str, operator_id: str, amount_fen: int, reference: str, actor: str
    ) -> FakeWallet:
        return self._move(account_id, operator_id, -amount_fen, reference)

    def get(self, account_id: str) -> FakeWallet:
        wallet = self.wallets.get(account_id)
        if wallet is None:
            raise NotFound("wallet not found")
        return wallet


class FakeStaffDirectory:
    """``StaffDirectory`` in memory: users with a password, role and operator."""

    def __init__(self) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, str] = {}
        self.refuse_passwords_shorter_than = 12

    def sign_in(self, username: str, password: str) -> AuthTokens:
        user = self.users.get(username)
        if user is None or user["password"] != password:
            raise Unauthenticated("invalid username or password")
        token = f"refresh-{username}"
        self.refresh_tokens[token] = username
        return AuthTokens(
            id_token=f"id-{username}",
            access_token=f"access-{username}",
            expires_in=3600,
            refresh_token=token,
        )

    def refresh(self, refresh_token: str) -> AuthTokens:
        username = self.refresh_tokens.get(refresh_token)
        if username is None:
            raise Unauthenticated("the refresh token is not valid; sign in again")
        return AuthTokens(
            id_token=f"id-{username}", access_token=f"access-{username}", expires_in=3600
        )

    def create_user(self, username: str, password: str, role: Role, operator_id: str) -> None:
        if username in self.users:
            raise Conflict("username is taken", username=username)
        if len(password) < self.refuse_passwords_shorter_than:
            raise InvalidInput("the password does not meet the policy", field="password")
        self.users[username] = {"password": password, "role": role, "operator_id": operator_id}

    def delete_user(self, username: str) -> None:
        self.users.pop(username, None)
