"""Pile and gun use cases: register a pile with its guns/ports at once, change it, set its
password, enable or rename guns. Presence and gun status are written elsewhere and never
touched here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from shared.domain.base_data import Page, PageRequest
from shared.domain.clock import Clock
from shared.domain.errors import InvalidInput, NotFound
from shared.domain.passwords import hash_password, is_acceptable_password
from shared.domain.piles import Gun, Pile, PileKind, PileProtocol, guns_of
from shared.domain.tenancy import Principal
from shared.services.base_data import BaseDataRepository, require_writer

RandomBytes = Callable[[int], bytes]
SALT_BYTES = 16


def _password_hash(password: str | None, random_bytes: RandomBytes) -> str | None:
    if password is None:
        return None
    if not is_acceptable_password(password):
        raise InvalidInput("password must be 16..40 printable ASCII characters", field="password")
    return hash_password(password, random_bytes(SALT_BYTES))


def create_pile(
    repo: BaseDataRepository,
    principal: Principal,
    fields: Mapping[str, Any],
    *,
    clock: Clock,
    random_bytes: RandomBytes,
    before_store: Callable[[Pile], None] | None = None,
) -> tuple[Pile, list[Gun]]:
    """Register a pile in one of the caller's stations, with all its guns, in one transaction.

    ``fields`` holds the pile's own fields plus ``password`` (OCPP piles; stored only hashed)
    and optionally ``name`` (defaults to the pile id). ``before_store`` sees the valid pile
    before anything is written (and may refuse it by raising).

    Raises:
        Forbidden: maintenance staff. NotFound: the station is not the caller's.
        Conflict: the pile id is taken (ids are unique platform-wide).
        InvalidInput: a field breaks a rule.
    """
    require_writer(principal)
    values = dict(fields)
    password = values.pop("password", None)
    station = repo.get_station(principal, values["station_id"])
    now = clock()
    if values.get("name") is None:
        values["name"] = values["pile_id"]
    protocol = PileProtocol(values["protocol"])
    if protocol.is_ocpp and password is None:
        raise InvalidInput("an OCPP pile needs a password", field="password")
    pile = Pile(
        operator_id=station.operator_id,
        created_at=now,
        updated_at=now,
        password_hash=_password_hash(password, random_bytes),
        **{**values, "kind": PileKind(values["kind"]), "protocol": protocol},
    )
    guns = guns_of(pile)
    if before_store is not None:
        before_store(pile)
    repo.create_pile(principal, pile, guns)
    return pile, guns


def get_pile(repo: BaseDataRepository, principal: Principal, pile_id: str) -> Pile:
    """One pile of the caller's operator, with its presence. Raises: NotFound."""
    return repo.get_pile(principal, pile_id)


def list_piles(
    repo: BaseDataRepository,
    principal: Principal,
    operator_id: str | None,
    station_id: str | None,
    page: PageRequest,
) -> Page[Pile]:
    """Piles of the caller's operator, optionally of one station.

    Raises:
        InvalidInput: a platform admin named no operator (nor a station to take it from).
        NotFound: another operator or its station named.
    """
    if station_id is not None:
        station = repo.get_station(principal, station_id)
        if operator_id is not None and operator_id != station.operator_id:
            raise NotFound(f"station {station_id} not found", kind="station", id=station_id)
        operator_id = station.operator_id
    return repo.list_piles(principal, operator_id, station_id, page)


def update_pile(
    repo: BaseDataRepository,
    principal: Principal,
    pile_id: str,
    changes: Mapping[str, Any],
    *,
    clock: Clock,
    before_store: Callable[[Pile, Pile], None] | None = None,
) -> Pile:
    """Change a pile's descriptive fields or enabled flag (never its presence);
    ``before_store(current, updated)`` may refuse the change by raising before it is written.

    Raises:
        Forbidden: maintenance staff. NotFound: not the caller's. InvalidInput: a rule broken.
    """
    require_writer(principal)
    current = repo.get_pile(principal, pile_id)
    updated = replace(current, updated_at=clock(), **changes)
    if before_store is not None:
        before_store(current, updated)
    repo.update_pile(principal, updated)
    return updated


def set_pile_password(
    repo: BaseDataRepository,
    principal: Principal,
    pile_id: str,
    password: str,
    *,
    clock: Clock,
    random_bytes: RandomBytes,
) -> Pile:
    """Give an OCPP pile a new password (stored salted and hashed; the old one stops working).

    Raises:
        Forbidden: maintenance staff. NotFound: not the caller's.
        InvalidInput: a modbus pile, or the password is not 16..40 printable ASCII.
    """
    require_writer(principal)
    current = repo.get_pile(principal, pile_id)
    if not current.protocol.is_ocpp:
        raise InvalidInput("a modbus pile has no password", field="password")
    updated = replace(
        current, password_hash=_password_hash(password, random_bytes), updated_at=clock()
    )
    repo.update_pile(principal, updated)
    return updated


def delete_pile(repo: BaseDataRepository, principal: Principal, pile_id: str) -> None:
    """Remove a pile and its guns.

    Raises:
        Forbidden: maintenance staff. NotFound: not the caller's.
    """
    require_writer(principal)
    pile = repo.get_pile(principal, pile_id)
    repo.delete_pile(principal, pile)


def list_guns(repo: BaseDataRepository, principal: Principal, pile_id: str) -> list[Gun]:
    """The guns/ports of a pile with their last reported status. Raises: NotFound."""
    pile = repo.get_pile(principal, pile_id)
    return repo.list_guns(principal, pile)


def update_gun(
    repo: BaseDataRepository,
    principal: Principal,
    pile_id: str,
    gun_no: int,
    changes: Mapping[str, Any],
    *,
    clock: Clock,
) -> Gun:
    """Rename a gun/port or enable/disable it.

    Raises:
        Forbidden: maintenance staff. NotFound: no such pile for the caller or no such gun.
    """
    require_writer(principal)
    pile = repo.get_pile(principal, pile_id)
    current = repo.get_gun(principal, pile, gun_no)
    updated = replace(current, updated_at=clock(), **changes)
    repo.update_gun(principal, updated)
    return updated
