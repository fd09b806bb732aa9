"""Base data shared rules: ids, paging, operators (merchants) and their staff.

Stations, piles, tariffs, discounts and cards have their own modules; what they share
(id shapes, the page of a list, the operator that owns them) lives here. Every rule
raises ``InvalidInput`` naming the field, so any writer (API, demo seed, tests) gets
the same answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from shared.domain.errors import Forbidden, InvalidInput, NotFound
from shared.domain.tenancy import Principal, Role

T = TypeVar("T")

# Ids we mint: prefix + 20 hex digits (shared.domain.ids.new_id); ids from outside
# (pile_id = OCPP identity, card_no = idTag) have their own shapes.
OPERATOR_ID_PATTERN = re.compile(r"op-[0-9a-f]{20}")
STATION_ID_PATTERN = re.compile(r"st-[0-9a-f]{20}")
TARIFF_ID_PATTERN = re.compile(r"tf-[0-9a-f]{20}")
DISCOUNT_ID_PATTERN = re.compile(r"dc-[0-9a-f]{20}")
USERNAME_PATTERN = re.compile(r"[A-Za-z0-9._@-]{3,64}")

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50


def is_valid_id(pattern: re.Pattern[str], value: str) -> bool:
    """True when ``value`` has the whole shape of ``pattern`` (ids in paths are checked first)."""
    return pattern.fullmatch(value) is not None


def require_text(value: str, field_name: str, *, max_length: int, min_length: int = 1) -> None:
    """Raise InvalidInput unless ``value`` is ``min_length..max_length`` characters, not blank."""
    if not min_length <= len(value) <= max_length or not value.strip():
        raise InvalidInput(
            f"{field_name} must be {min_length}..{max_length} characters and not blank",
            field=field_name,
        )


def require_range(value: int | float, field_name: str, low: int | float, high: int | float) -> None:
    """Raise InvalidInput unless ``low <= value <= high``."""
    if not low <= value <= high:
        raise InvalidInput(f"{field_name} must be within {low}..{high}", field=field_name)


def resolve_operator(principal: Principal, operator_id: str | None) -> str:
    """The operator a request acts on: the one a platform admin names, or the caller's own.

    Raises:
        InvalidInput: a platform admin named no operator.
        NotFound: staff named another operator (to them it does not exist).
        Forbidden: staff without an operator (a malformed token).
    """
    if principal.is_platform_admin:
        if operator_id is None:
            raise InvalidInput("operator_id is required for a platform admin", field="operator_id")
        return operator_id
    if principal.operator_id is None:
        raise Forbidden("staff without an operator", role=str(principal.role))
    if operator_id is not None and operator_id != principal.operator_id:
        raise NotFound(f"operator {operator_id} not found", kind="operator", id=operator_id)
    return principal.operator_id


@dataclass(frozen=True, slots=True)
class PageRequest:
    """One page of a list: at most ``limit`` items after the opaque ``next_token``."""

    limit: int = DEFAULT_PAGE_SIZE
    next_token: str | None = None

    def __post_init__(self) -> None:
        require_range(self.limit, "limit", 1, MAX_PAGE_SIZE)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """Items of one page and the token of the next (``None`` on the last page)."""

    items: Sequence[T]
    next_token: str | None = None


@dataclass(frozen=True, slots=True)
class Operator:
    """A merchant running charging sites; owns stations, piles, tariffs, discounts and cards."""

    operator_id: str
    name: str
    created_at: datetime
    updated_at: datetime
    contact_name: str | None = None
    contact_phone: str | None = None

    def __post_init__(self) -> None:
        require_text(self.name, "name", max_length=100)
        if self.contact_name is not None:
            require_text(self.contact_name, "contact_name", max_length=64)
        if self.contact_phone is not None:
            require_text(self.contact_phone, "contact_phone", max_length=32)


STAFF_ROLES = frozenset({Role.OPERATOR_ADMIN, Role.MAINTENANCE})


@dataclass(frozen=True, slots=True)
class StaffMember:
    """A login of an operator's staff (a Cognito user in the role's group)."""

    username: str
    operator_id: str
    role: Role
    created_at: datetime
    created_by: str = field(default="")

    def __post_init__(self) -> None:
        if not is_valid_id(USERNAME_PATTERN, self.username):
            raise InvalidInput(
                "username must be 3..64 characters of letters, digits and . _ @ -",
                field="username",
            )
        if self.role not in STAFF_ROLES:
            raise InvalidInput("staff role must be operator-admin or maintenance", field="role")
