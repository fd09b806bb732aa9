"""Price strategies (tariffs) and discounts of an operator.

A tariff change never overwrites: it writes version n+1 as a new immutable item and moves
the current item to it in one transaction, so sessions priced under version n still
find it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from shared.domain.base_data import Page, PageRequest
from shared.domain.clock import Clock
from shared.domain.discounts import Discount
from shared.domain.errors import NotFound
from shared.domain.ids import NewId
from shared.domain.tariffs import Tariff
from shared.domain.tenancy import Principal
from shared.services.base_data import BaseDataRepository, owning_operator, require_writer

# --- tariffs ---------------------------------------------------------------------------


def create_tariff(
    repo: BaseDataRepository,
    principal: Principal,
    operator_id: str | None,
    fields: Mapping[str, Any],
    *,
    clock: Clock,
    new_id: NewId,
) -> Tariff:
    """Create a price strategy at version 1 (its periods tile the local day exactly).

    Raises:
        Forbidden: maintenance staff. NotFound: another operator named.
        InvalidInput: periods leave a gap or overlap, or another rule is broken.
    """
    require_writer(principal)
    owner = owning_operator(principal, operator_id)
    repo.get_operator(principal, owner)
    now = clock()
    tariff = Tariff(
        tariff_id=new_id("tf"),
        operator_id=owner,
        version=1,
        created_at=now,
        updated_at=now,
        **fields,
    )
    repo.create_tariff(principal, tariff)
    return tariff


def get_tariff(
    repo: BaseDataRepository, principal: Principal, tariff_id: str, version: int | None = None
) -> Tariff:
    """The current tariff, or one of its past versions. Raises: NotFound."""
    if version is None:
        return repo.get_tariff(principal, tariff_id)
    return repo.get_tariff_version(principal, tariff_id, version)


def list_tariffs(
    repo: BaseDataRepository, principal: Principal, operator_id: str | None, page: PageRequest
) -> Page[Tariff]:
    """Tariffs of the caller's operator (a platform admin names one)."""
    return repo.list_tariffs(principal, operator_id, page)


def update_tariff(
    repo: BaseDataRepository,
    principal: Principal,
    tariff_id: str,
    changes: Mapping[str, Any],
    *,
    clock: Clock,
) -> Tariff:
    """Write the changed tariff as the next version.

    Raises:
        Forbidden: maintenance staff. NotFound: not the caller's.
        Conflict: another change landed first (retry on the new version).
        InvalidInput: the result breaks a rule.
    """
    require_writer(principal)
    current = repo.get_tariff(principal, tariff_id)
    updated = replace(current, version=current.version + 1, updated_at=clock(), **changes)
    repo.save_tariff_version(principal, updated)
    return updated


def delete_tariff(repo: BaseDataRepository, principal: Principal, tariff_id: str) -> None:
    """Retire a tariff no station uses; its versions stay for the sessions priced under them.

    Raises:
        Forbidden: maintenance staff. NotFound: not the caller's. Conflict: stations use it.
    """
    require_writer(principal)
    tariff = repo.get_tariff(principal, tariff_id)
    repo.delete_tariff(principal, tariff)


# --- discounts -------------------------------------------------------------------------


def _check_stations(
    repo: BaseDataRepository, principal: Principal, station_ids: Sequence[str], owner: str
) -> None:
    found = {
        station.station_id
        for station in repo.get_stations(principal, station_ids)
        if station.operator_id == owner
    }
    unknown = [sid for sid in station_ids if sid not in found]
    if unknown:
        # Another operator's station answers like one that does not exist: leak nothing.
        raise NotFound(
            f"station {unknown[0]} not found", kind="station", id=unknown[0], unknown=unknown
        )


def create_discount(
    repo: BaseDataRepository,
    principal: Principal,
    operator_id: str | None,
    fields: Mapping[str, Any],
    *,
    clock: Clock,
    new_id: NewId,
) -> Discount:
    """Create a promotion at the operator's own stations (none named: all of them).

    Raises:
        Forbidden: maintenance staff. NotFound: another operator named.
        NotFound: a named station is not the operator's.
        InvalidInput: ends before it starts, wrong amount for the kind.
    """
    require_writer(principal)
    owner = owning_operator(principal, operator_id)
    repo.get_operator(principal, owner)
    now = clock()
    discount = Discount(
        discount_id=new_id("dc"), operator_id=owner, created_at=now, updated_at=now, **fields
    )
    _check_stations(repo, principal, discount.station_ids, owner)
    repo.create_discount(principal, discount)
    return discount


def get_discount(repo: BaseDataRepository, principal: Principal, discount_id: str) -> Discount:
    """One discount of the caller's operator. Raises: NotFound."""
    return repo.get_discount(principal, discount_id)


def list_discounts(
    repo: BaseDataRepository, principal: Principal, operator_id: str | None, page: PageRequest
) -> Page[Discount]:
    """Discounts of the caller's operator (a platform admin names one)."""
    return repo.list_discounts(principal, operator_id, page)


def update_discount(
    repo: BaseDataRepository,
    principal: Principal,
    discount_id: str,
    changes: Mapping[str, Any],
    *,
    clock: Clock,
) -> Discount:
    """Change a discount; the result is checked as a whole (kind and amount, window, stations).

    Raises:
        Forbidden: maintenance staff. NotFound: not the caller's, or a foreign station named.
        InvalidInput: a rule broken.
    """
    require_writer(principal)
    current = repo.get_discount(principal, discount_id)
    updated = replace(current, updated_at=clock(), **changes)
    if updated.station_ids != current.station_ids:
        _check_stations(repo, principal, updated.station_ids, current.operator_id)
    repo.update_discount(principal, updated)
    return updated


def delete_discount(repo: BaseDataRepository, principal: Principal, discount_id: str) -> None:
    """End a discount. Raises: Forbidden (maintenance), NotFound (not the caller's)."""
    require_writer(principal)
    discount = repo.get_discount(principal, discount_id)
    repo.delete_discount(principal, discount)
