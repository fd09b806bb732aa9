"""Functional block C (authorization): a card (RFID idTag / idToken) at a pile.

Cards belong to one operator. A card of another operator answers exactly like an unknown
one, so a pile learns nothing about other tenants' cards. 1.6 has no "Unknown" status
(``AuthorizationStatus`` 1.6: Accepted, Blocked, Expired, Invalid, ConcurrentTx) and
answers Invalid; 2.0.1 has ``Unknown`` ("identifier is unknown") and uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any

from shared.domain.ocpp.versions import OcppVersion


class CardStatus(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"
    UNBOUND = "unbound"


@dataclass(frozen=True, slots=True)
class CardRecord:
    """The part of a card item Authorize reads."""

    card_no: str
    operator_id: str
    status: str  # a CardStatus value; anything else is treated as unusable


class Authorization(Enum):
    ACCEPTED = "accepted"
    BLOCKED = "blocked"
    INVALID = "invalid"
    UNKNOWN = "unknown"


_WIRE = {
    OcppVersion.V16: {
        Authorization.ACCEPTED: "Accepted",
        Authorization.BLOCKED: "Blocked",
        Authorization.INVALID: "Invalid",
        Authorization.UNKNOWN: "Invalid",
    },
    OcppVersion.V201: {
        Authorization.ACCEPTED: "Accepted",
        Authorization.BLOCKED: "Blocked",
        Authorization.INVALID: "Invalid",
        Authorization.UNKNOWN: "Unknown",
    },
}


def id_token_of(version: OcppVersion, payload: dict[str, Any]) -> str:
    """The card number in a schema-valid Authorize payload."""
    if version is OcppVersion.V16:
        return str(payload["idTag"])
    return str(payload["idToken"]["idToken"])


def authorize_card(card: CardRecord | None, pile_operator_id: str) -> Authorization:
    """Unknown or foreign -> UNKNOWN; frozen -> BLOCKED; unbound -> INVALID; active -> ACCEPTED."""
    if card is None or card.operator_id != pile_operator_id:
        return Authorization.UNKNOWN
    if card.status == CardStatus.ACTIVE:
        return Authorization.ACCEPTED
    if card.status == CardStatus.FROZEN:
        return Authorization.BLOCKED
    return Authorization.INVALID


def authorize_response(version: OcppVersion, result: Authorization) -> dict[str, Any]:
    status = _WIRE[version][result]
    if version is OcppVersion.V16:
        return {"idTagInfo": {"status": status}}
    return {"idTokenInfo": {"status": status}}
