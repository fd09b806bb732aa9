"""Card users: RFID/IC cards an operator issues; the card number is the OCPP idTag.

A card's money sits in a ledger wallet (account ``card:{card_no}``); the card item only
says who holds it and whether it may authorize a charge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from shared.domain.base_data import require_text
from shared.domain.errors import Conflict, InvalidInput

# OCPP 1.6 idTag is CiString20; letters, digits and . _ : - cover printed and UID-hex numbers.
CARD_NO_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,20}")
PHONE_PATTERN = re.compile(r"\+?[0-9]{5,20}")
MAX_TOP_UP_FEN = 5_000_000


class CardStatus(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"
    UNBOUND = "unbound"


def is_valid_card_no(card_no: str) -> bool:
    return CARD_NO_PATTERN.fullmatch(card_no) is not None


def card_account_id(card_no: str) -> str:
    """The ledger account holding a card's balance."""
    return f"card:{card_no}"


def card_top_up_reference(card_no: str, request_id: str) -> str:
    """The business reference of a top-up: one credit per (card, request id), ever."""
    return f"card-topup:{card_no}:{request_id}"


def card_refund_reference(card_no: str) -> str:
    """The business reference of the balance withdrawal when a card is unbound (once per card)."""
    return f"card-unbind:{card_no}"


@dataclass(frozen=True, slots=True)
class Card:
    """An issued card and its holder."""

    card_no: str
    operator_id: str
    holder_name: str
    phone: str
    created_at: datetime
    updated_at: datetime
    status: CardStatus = CardStatus.ACTIVE

    def __post_init__(self) -> None:
        if not is_valid_card_no(self.card_no):
            raise InvalidInput(
                "card_no must be 1..20 characters of letters, digits and . _ : -",
                field="card_no",
            )
        require_text(self.holder_name, "holder_name", max_length=64)
        if PHONE_PATTERN.fullmatch(self.phone) is None:
            raise InvalidInput("phone must be 5..20 digits, optionally after +", field="phone")

    @property
    def is_authorizable(self) -> bool:
        """Only an active card may start a charge (OCPP Authorize answers Accepted)."""
        return self.status is CardStatus.ACTIVE

    def frozen(self, at: datetime) -> Card:
        """The card frozen; freezing a frozen card changes nothing.

        Raises:
            Conflict: the card is unbound.
        """
        self._require_bound("freeze")
        return replace(self, status=CardStatus.FROZEN, updated_at=at)

    def unfrozen(self, at: datetime) -> Card:
        """The card active again.

        Raises:
            Conflict: the card is unbound.
        """
        self._require_bound("unfreeze")
        return replace(self, status=CardStatus.ACTIVE, updated_at=at)

    def unbound(self, at: datetime, balance_fen: int) -> Card:
        """The card released from its holder; only once its balance is zero.

        Raises:
            Conflict: the card is unbound already or still holds money.
        """
        self._require_bound("unbind")
        if balance_fen > 0:
            raise Conflict(
                "the card still holds a balance; unbind with refund_balance to withdraw it",
                card_no=self.card_no,
                balance_fen=balance_fen,
            )
        return replace(self, status=CardStatus.UNBOUND, updated_at=at)

    def _require_bound(self, action: str) -> None:
        if self.status is CardStatus.UNBOUND:
            raise Conflict(f"cannot {action} an unbound card", card_no=self.card_no)
