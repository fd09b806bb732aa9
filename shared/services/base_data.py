"""Base data use cases: operators, stations and the repository port every base-data service uses.

Roles are checked here (maintenance staff read, only admins write); tenancy is checked
again by the repository itself on every read, update and delete, so a slip in a service
still cannot reach another operator's items. Piles, tariffs/discounts and cards have
their own modules (``base_data_piles``, ``base_data_pricing``, ``base_data_cards``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from shared.domain.base_data import Operator, Page, PageRequest, StaffMember, resolve_operator
from shared.domain.cards import Card
from shared.domain.clock import Clock
from shared.domain.discounts import Discount
from shared.domain.errors import InvalidInput, NotFound, UpstreamFailure
from shared.domain.ids import NewId
from shared.domain.piles import Gun, Pile
from shared.domain.stations import Station
from shared.domain.tariffs import Tariff
from shared.domain.tenancy import Principal, Role


class BaseDataRepository(Protocol):
    """Port of the base-data table. Every method takes the caller and refuses other tenants.

    Reads of another operator's object raise ``NotFound``; updates and deletes are
    conditional on the caller's operator; lists read only the caller's operator (a
    platform admin names one).
    """

    def ping(self) -> None:
        """A cheap read proving the table answers. Raises: UpstreamFailure."""

    # operators and staff
    def create_operator(self, principal: Principal, operator: Operator) -> None: ...
    def get_operator(self, principal: Principal, operator_id: str) -> Operator: ...
    def list_operators(self, principal: Principal, page: PageRequest) -> Page[Operator]: ...
    def update_operator(self, principal: Principal, operator: Operator) -> None: ...
    def delete_operator(self, principal: Principal, operator_id: str) -> None: ...
    def create_staff(self, principal: Principal, member: StaffMember) -> None: ...
    def list_staff(
        self, principal: Principal, operator_id: str, page: PageRequest
    ) -> Page[StaffMember]: ...

    # stations
    def create_station(self, principal: Principal, station: Station) -> None: ...
    def get_station(self, principal: Principal, station_id: str) -> Station: ...
    def get_stations(self, principal: Principal, station_ids: Sequence[str]) -> list[Station]: ...
    def list_stations(
        self, principal: Principal, operator_id: str | None, page: PageRequest
    ) -> Page[Station]: ...
    def update_station(self, principal: Principal, station: Station, previous: Station) -> None: ...
    def delete_station(self, principal: Principal, station: Station) -> None: ...

    # piles and guns
    def create_pile(self, principal: Principal, pile: Pile, guns: Sequence[Gun]) -> None: ...
    def get_pile(self, principal: Principal, pile_id: str) -> Pile: ...
    def list_piles(
        self,
        principal: Principal,
        operator_id: str | None,
        station_id: str | None,
        page: PageRequest,
    ) -> Page[Pile]: ...
    def update_pile(self, principal: Principal, pile: Pile) -> None: ...
    def delete_pile(self, principal: Principal, pile: Pile) -> None: ...
    def list_guns(self, principal: Principal, pile: Pile) -> list[Gun]: ...
    def get_gun(self, principal: Principal, pile: Pile, gun_no: int) -> Gun: ...
    def update_gun(self, principal: Principal, gun: Gun) -> None: ...

    # tariffs
    def create_tariff(self, principal: Principal, tariff: Tariff) -> None: ...
    def get_tariff(self, principal: Principal, tariff_id: str) -> Tariff: ...
    def get_tariff_version(self, principal: Principal, tariff_id: str, version: int) -> Tariff: ...
    def list_tariffs(
        self, principal: Principal, operator_id: str | None, page: PageRequest
    ) -> Page[Tariff]: ...
    def save_tariff_version(self, principal: Principal, tariff: Tariff) -> None: ...
    def delete_tariff(self, principal: Principal, tariff: Tariff) -> None: ...

    # discounts
    def create_discount(self, principal: Principal, discount: Discount) -> None: ...
    def get_discount(self, principal: Principal, discount_id: str) -> Discount: ...
    def list_discounts(
        self, principal: Principal, operator_id: str | None, page: PageRequest
    ) -> Page[Discount]: ...
    def update_discount(self, principal: Principal, discount: Discount) -> None: ...
    def delete_discount(self, principal: Principal, discount: Discount) -> None: ...

    # cards
    def create_card(self, principal: Principal, card: Card) -> None: ...
    def get_card(self, principal: Principal, card_no: str) -> Card: ...
    def list_cards(
        self, principal: Principal, operator_id: str | None, page: PageRequest
    ) -> Page[Card]: ...
    def update_card(self, principal: Principal, card: Card, previous: Card) -> None: ...
    def delete_card(self, principal: Principal, card: Card) -> None: ...


def require_writer(principal: Principal) -> None:
    """Base-data writes are for admins; maintenance staff read only.

    Raises:
        Forbidden: the principal is maintenance staff.
    """
    principal.require_role(Role.OPERATOR_ADMIN)


def owning_operator(principal: Principal, operator_id: str | None) -> str:
    """The operator a new object belongs to: the caller's own, or the one a platform admin names.

    Raises:
        InvalidInput: a platform admin named no operator.
        NotFound: staff named another operator (it does not exist for them).
    """
    return resolve_operator(principal, operator_id)


# --- health ---------------------------------------------------------------------------


@dataclass(slots=True)
class HealthProbe:
    """Answers ``/health`` from a cheap table read, remembered for ``ttl`` so a busy
    load balancer or uptime check does not cost a read per call."""

    repo: BaseDataRepository
    clock: Clock
    ttl: timedelta = timedelta(seconds=10)
    _ok_until: datetime | None = None

    def is_healthy(self) -> bool:
        """True when the table answered within the last ``ttl``; never raises."""
        now = self.clock()
        if self._ok_until is not None and now < self._ok_until:
            return True
        try:
            self.repo.ping()
        except UpstreamFailure:
            self._ok_until = None
            return False
        self._ok_until = now + self.ttl
        return True


# --- operators -------------------------------------------------------------------------


def create_operator(
    repo: BaseDataRepository,
    principal: Principal,
    fields: Mapping[str, Any],
    *,
    clock: Clock,
    new_id: NewId,
) -> Operator:
    """Register a merchant (platform admin only).

    Raises:
        Forbidden: the caller is not a platform admin.
        InvalidInput: a field breaks a rule.
    """
    principal.require_role()
    now = clock()
    operator = Operator(operator_id=new_id("op"), created_at=now, updated_at=now, **fields)
    repo.create_operator(principal, operator)
    return operator


def get_operator(repo: BaseDataRepository, principal: Principal, operator_id: str) -> Operator:
    """One operator: a platform admin any, staff their own. Raises: NotFound."""
    return repo.get_operator(principal, operator_id)


def list_operators(
    repo: BaseDataRepository, principal: Principal, page: PageRequest
) -> Page[Operator]:
    """Every operator for a platform admin; staff see a page holding their own operator."""
    if principal.is_platform_admin:
        return repo.list_operators(principal, page)
    if page.next_token is not None:
        # Staff get one page (their operator); no token was ever issued for more.
        raise InvalidInput("next_token is not a token from this list", field="next_token")
    own = resolve_operator(principal, None)
    return Page(items=[repo.get_operator(principal, own)])


def update_operator(
    repo: BaseDataRepository,
    principal: Principal,
    operator_id: str,
    changes: Mapping[str, Any],
    *,
    clock: Clock,
) -> Operator:
    """Change an operator's name or contact (platform admin, or its own operator admin).

    Raises:
        Forbidden: maintenance staff. NotFound: no such operator for the caller.
        InvalidInput: a change breaks a rule.
    """
    require_writer(principal)
    current = repo.get_operator(principal, operator_id)
    updated = replace(current, updated_at=clock(), **changes)
    repo.update_operator(principal, updated)
    return updated


def delete_operator(repo: BaseDataRepository, principal: Principal, operator_id: str) -> None:
    """Remove an operator that owns nothing any more (platform admin only).

    Raises:
        Forbidden: not a platform admin. NotFound: no such operator.
        Conflict: it still owns stations, piles, tariffs, discounts, cards or staff.
    """
    principal.require_role()
    repo.delete_operator(principal, operator_id)


# --- stations ------------------------------------------------------------------------


def _check_tariff(
    repo: BaseDataRepository, principal: Principal, tariff_id: str | None, operator_id: str
) -> None:
    if tariff_id is None:
        return
    tariff = repo.get_tariff(principal, tariff_id)
    if tariff.operator_id != operator_id:
        raise NotFound(f"tariff {tariff_id} not found", kind="tariff", id=tariff_id)


def create_station(
    repo: BaseDataRepository,
    principal: Principal,
    operator_id: str | None,
    fields: Mapping[str, Any],
    *,
    clock: Clock,
    new_id: NewId,
) -> Station:
    """Open a station for the caller's operator (a platform admin names the operator).

    Raises:
        Forbidden: maintenance staff. NotFound: the operator or tariff is not the caller's.
        InvalidInput: a field breaks a rule.
    """
    require_writer(principal)
    owner = owning_operator(principal, operator_id)
    repo.get_operator(principal, owner)
    now = clock()
    station = Station(
        station_id=new_id("st"), operator_id=owner, created_at=now, updated_at=now, **fields
    )
    _check_tariff(repo, principal, station.tariff_id, owner)
    repo.create_station(principal, station)
    return station


def get_station(repo: BaseDataRepository, principal: Principal, station_id: str) -> Station:
    """One station of the caller's operator. Raises: NotFound."""
    return repo.get_station(principal, station_id)


def list_stations(
    repo: BaseDataRepository, principal: Principal, operator_id: str | None, page: PageRequest
) -> Page[Station]:
    """Stations of the caller's operator (a platform admin names one).

    Raises:
        InvalidInput: a platform admin named no operator. NotFound: another operator named.
    """
    return repo.list_stations(principal, operator_id, page)


def update_station(
    repo: BaseDataRepository,
    principal: Principal,
    station_id: str,
    changes: Mapping[str, Any],
    *,
    clock: Clock,
) -> Station:
    """Change a station's fields; ``tariff_id`` may be set, changed or cleared (``None``).

    Raises:
        Forbidden: maintenance staff. NotFound: station or tariff not the caller's.
        InvalidInput: a change breaks a rule.
    """
    require_writer(principal)
    current = repo.get_station(principal, station_id)
    updated = replace(current, updated_at=clock(), **changes)
    if updated.tariff_id != current.tariff_id:
        _check_tariff(repo, principal, updated.tariff_id, current.operator_id)
    repo.update_station(principal, updated, current)
    return updated


def delete_station(repo: BaseDataRepository, principal: Principal, station_id: str) -> None:
    """Close a station that has no piles left.

    Raises:
        Forbidden: maintenance staff. NotFound: not the caller's. Conflict: piles remain.
    """
    require_writer(principal)
    station = repo.get_station(principal, station_id)
    repo.delete_station(principal, station)
