"""Domain errors: one base class, subclasses carry fields; edges map them once.

HTTP edges map by class (see ``shared/http_api.py``), the OCPP edge by its own
code table. Never branch on message text.
"""

from __future__ import annotations

from typing import Any


class ChargingError(Exception):
    """Base of every expected failure in the platform."""

    code = "charging_error"

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields


class InvalidInput(ChargingError):
    """The caller sent something malformed or out of range (HTTP 400/422)."""

    code = "invalid_input"


class Unauthenticated(ChargingError):
    """No or bad credentials (HTTP 401)."""

    code = "unauthenticated"


class Forbidden(ChargingError):
    """Authenticated, but the role may not do this (HTTP 403)."""

    code = "forbidden"


class NotFound(ChargingError):
    """No such object, or it belongs to another tenant (HTTP 404, never 403, to leak nothing)."""

    code = "not_found"


class Conflict(ChargingError):
    """The object exists already or is in a state that forbids the change (HTTP 409)."""

    code = "conflict"


class InsufficientBalance(ChargingError):
    """A debit would take a wallet below zero (HTTP 409)."""

    code = "insufficient_balance"


class WalletFrozen(ChargingError):
    """The wallet or card is frozen (HTTP 409)."""

    code = "wallet_frozen"


class TariffMissing(ChargingError):
    """No tariff applies; a missing tariff is an error, never a price of 0."""

    code = "tariff_missing"


class UpstreamFailure(ChargingError):
    """An AWS service or provider failed; adapters raise it ``from`` the SDK error (HTTP 502)."""

    code = "upstream_failure"


class FeatureUnavailable(ChargingError):
    """The capability is declared in the template but its issue has not landed (HTTP 501)."""

    code = "feature_unavailable"
