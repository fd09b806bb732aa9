"""Who is asking, and what they may see.

Operator staff come with a role and an operator id (from the Cognito token); a
platform admin sees every operator. The data layer takes a ``Principal`` on every
call and refuses anything outside its operator with ``NotFound``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.domain.errors import Forbidden, NotFound


class Role(StrEnum):
    PLATFORM_ADMIN = "platform-admin"
    OPERATOR_ADMIN = "operator-admin"
    MAINTENANCE = "maintenance"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated member of staff."""

    username: str
    role: Role
    operator_id: str | None  # None only for a platform admin

    @property
    def is_platform_admin(self) -> bool:
        return self.role is Role.PLATFORM_ADMIN

    def can_see(self, operator_id: str) -> bool:
        return self.is_platform_admin or self.operator_id == operator_id

    def require_operator(self, operator_id: str, kind: str, object_id: str) -> None:
        """Raise NotFound (never 403: leak nothing) when the object is another tenant's."""
        if not self.can_see(operator_id):
            raise NotFound(f"{kind} {object_id} not found", kind=kind, id=object_id)

    def require_role(self, *roles: Role) -> None:
        """Raise Forbidden unless the principal has one of ``roles`` (platform admin always may)."""
        if self.is_platform_admin or self.role in roles:
            return
        raise Forbidden(f"role {self.role} may not do this", role=str(self.role))
