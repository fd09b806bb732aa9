"""Operator staff: sign-in through the user directory (Cognito) and creating staff logins.

A staff login is a Cognito user with the ``custom:operator_id`` attribute, a permanent
password and membership of its role's group; the base-data table keeps a staff item per
operator so listing staff is a Query, not a scan of the user pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shared.domain.base_data import STAFF_ROLES, Page, PageRequest, StaffMember, resolve_operator
from shared.domain.clock import Clock
from shared.domain.errors import Forbidden
from shared.domain.tenancy import Principal, Role
from shared.services.base_data import BaseDataRepository, require_writer


@dataclass(frozen=True, slots=True)
class AuthTokens:
    """Tokens from a sign-in; ``refresh_token`` is absent when refreshing."""

    id_token: str
    access_token: str
    expires_in: int
    refresh_token: str | None = None


class StaffDirectory(Protocol):
    """Port of the user directory.

    ``sign_in``/``refresh`` raise Unauthenticated for any bad credential alike (no hint
    whether the user exists); ``create_user`` raises Conflict for a taken username and
    InvalidInput for a password the pool refuses.
    """

    def sign_in(self, username: str, password: str) -> AuthTokens: ...
    def refresh(self, refresh_token: str) -> AuthTokens: ...
    def create_user(self, username: str, password: str, role: Role, operator_id: str) -> None: ...
    def delete_user(self, username: str) -> None: ...


def sign_in(directory: StaffDirectory, username: str, password: str) -> AuthTokens:
    """Exchange a username and password for tokens. Raises: Unauthenticated."""
    return directory.sign_in(username, password)


def refresh_tokens(directory: StaffDirectory, refresh_token: str) -> AuthTokens:
    """New ID and access tokens from a refresh token. Raises: Unauthenticated."""
    return directory.refresh(refresh_token)


def create_staff(
    repo: BaseDataRepository,
    directory: StaffDirectory,
    principal: Principal,
    operator_id: str,
    *,
    username: str,
    password: str,
    role: Role,
    clock: Clock,
) -> StaffMember:
    """Create a staff login for an operator: a platform admin for any operator, an operator
    admin for its own; only operator-admin and maintenance roles are given out here.

    Raises:
        Forbidden: maintenance staff, or a role that cannot be given.
        NotFound: the operator is not the caller's.
        Conflict: the username is taken. InvalidInput: the password is refused.
    """
    require_writer(principal)
    if role not in STAFF_ROLES:
        raise Forbidden("only operator-admin and maintenance logins can be created", role=role)
    owner = resolve_operator(principal, operator_id)
    repo.get_operator(principal, owner)
    member = StaffMember(
        username=username,
        operator_id=owner,
        role=role,
        created_at=clock(),
        created_by=principal.username,
    )
    directory.create_user(username, password, role, owner)
    try:
        repo.create_staff(principal, member)
    except BaseException:
        directory.delete_user(username)
        raise
    return member


def list_staff(
    repo: BaseDataRepository, principal: Principal, operator_id: str, page: PageRequest
) -> Page[StaffMember]:
    """Staff logins of an operator the caller may see. Raises: NotFound."""
    owner = resolve_operator(principal, operator_id)
    repo.get_operator(principal, owner)
    return repo.list_staff(principal, owner, page)
