"""Card users (RFID/IC cards): issue, top up, freeze, unfreeze, unbind.

The card item lives in the base-data table; its money lives in a ledger wallet
(``card:{card_no}``) run by the wallet service. Top-ups are idempotent on the caller's
``request_id``: the ledger credits a business reference once, and the answer of the first
call is kept on a ``TOPUP#`` item so a retry gets exactly the same answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared.domain.base_data import Page, PageRequest
from shared.domain.cards import (
    MAX_TOP_UP_FEN,
    Card,
    CardStatus,
    card_account_id,
    card_refund_reference,
    card_top_up_reference,
)
from shared.domain.clock import Clock
from shared.domain.errors import Conflict, InvalidInput, NotFound
from shared.domain.tenancy import Principal
from shared.services.base_data import BaseDataRepository, owning_operator, require_writer


class WalletBalance(Protocol):
    """What the wallet service answers (its ``WalletView``)."""

    @property
    def account_id(self) -> str: ...
    @property
    def operator_id(self) -> str: ...
    @property
    def balance_fen(self) -> int: ...
    @property
    def updated_at(self) -> datetime: ...


class Wallets(Protocol):
    """Port of the wallet service for card accounts."""

    def open(self, *, account_id: str, operator_id: str, owner: str) -> WalletBalance: ...
    def top_up(
        self, *, account_id: str, operator_id: str, amount_fen: int, reference: str, actor: str
    ) -> WalletBalance: ...
    def withdraw(
        self, *, account_id: str, operator_id: str, amount_fen: int, reference: str, actor: str
    ) -> WalletBalance: ...
    def get(self, account_id: str) -> WalletBalance: ...


@dataclass(frozen=True, slots=True)
class TopUp:
    """The answer to one top-up request; kept so a retried request gets it again."""

    card_no: str
    operator_id: str
    request_id: str
    amount_fen: int
    balance_fen: int
    created_at: datetime


class TopUpLog(Protocol):
    """Where answers to top-up requests are kept (per card and request id)."""

    def get_top_up(self, principal: Principal, card: Card, request_id: str) -> TopUp | None: ...
    def record_top_up(self, principal: Principal, top_up: TopUp) -> TopUp:
        """Store the answer unless one is there already; return the stored one."""
        ...


class CardRepository(BaseDataRepository, TopUpLog, Protocol):
    """The base-data repository with its top-up log."""


@dataclass(frozen=True, slots=True)
class CardWithBalance:
    card: Card
    balance_fen: int


def _balance(wallets: Wallets, card_no: str) -> int:
    try:
        return wallets.get(card_account_id(card_no)).balance_fen
    except NotFound:
        return 0


def issue_card(
    repo: CardRepository,
    wallets: Wallets,
    principal: Principal,
    operator_id: str | None,
    fields: Mapping[str, Any],
    *,
    clock: Clock,
) -> CardWithBalance:
    """Issue a card (status active) and open its wallet.

    Raises:
        Forbidden: maintenance staff. NotFound: another operator named.
        Conflict: the card number is issued already (numbers are unique platform-wide).
        InvalidInput: a field breaks a rule.
    """
    require_writer(principal)
    owner = owning_operator(principal, operator_id)
    repo.get_operator(principal, owner)
    now = clock()
    card = Card(operator_id=owner, created_at=now, updated_at=now, **fields)
    repo.create_card(principal, card)
    try:
        wallet = wallets.open(
            account_id=card_account_id(card.card_no), operator_id=owner, owner=card.card_no
        )
    except BaseException:
        # Without its wallet the card could never be topped up: take it back.
        repo.delete_card(principal, card)
        raise
    return CardWithBalance(card=card, balance_fen=wallet.balance_fen)


def get_card(
    repo: CardRepository, wallets: Wallets, principal: Principal, card_no: str
) -> CardWithBalance:
    """A card of the caller's operator with its balance. Raises: NotFound."""
    card = repo.get_card(principal, card_no)
    return CardWithBalance(card=card, balance_fen=_balance(wallets, card_no))


def list_cards(
    repo: CardRepository, principal: Principal, operator_id: str | None, page: PageRequest
) -> Page[Card]:
    """Cards of the caller's operator (a platform admin names one); balances come per card."""
    return repo.list_cards(principal, operator_id, page)


def top_up_card(
    repo: CardRepository,
    wallets: Wallets,
    principal: Principal,
    card_no: str,
    *,
    amount_fen: int,
    request_id: str,
    clock: Clock,
) -> TopUp:
    """Credit a card's wallet once per ``request_id``; a retry answers as the first call did.

    Raises:
        Forbidden: maintenance staff. NotFound: not the caller's card.
        Conflict: the card is unbound, or the request id was used with another amount.
        InvalidInput: the amount is out of range.
    """
    require_writer(principal)
    if not 1 <= amount_fen <= MAX_TOP_UP_FEN:
        raise InvalidInput(f"amount_fen must be within 1..{MAX_TOP_UP_FEN}", field="amount_fen")
    card = repo.get_card(principal, card_no)
    previous = repo.get_top_up(principal, card, request_id)
    if previous is None:
        if card.status is CardStatus.UNBOUND:
            raise Conflict("cannot top up an unbound card", card_no=card_no)
        wallet = wallets.top_up(
            account_id=card_account_id(card_no),
            operator_id=card.operator_id,
            amount_fen=amount_fen,
            reference=card_top_up_reference(card_no, request_id),
            actor=principal.username,
        )
        previous = repo.record_top_up(
            principal,
            TopUp(
                card_no=card_no,
                operator_id=card.operator_id,
                request_id=request_id,
                amount_fen=amount_fen,
                balance_fen=wallet.balance_fen,
                created_at=clock(),
            ),
        )
    if previous.amount_fen != amount_fen:
        raise Conflict(
            "request_id was used already for another amount",
            card_no=card_no,
            request_id=request_id,
        )
    return previous


def _change_status(
    repo: CardRepository, wallets: Wallets, principal: Principal, card: Card, updated: Card
) -> CardWithBalance:
    if updated.status is not card.status:
        repo.update_card(principal, updated, card)
    return CardWithBalance(card=updated, balance_fen=_balance(wallets, card.card_no))


def freeze_card(
    repo: CardRepository, wallets: Wallets, principal: Principal, card_no: str, *, clock: Clock
) -> CardWithBalance:
    """Stop a card authorizing charges (its money stays). Raises: Forbidden, NotFound, Conflict."""
    require_writer(principal)
    card = repo.get_card(principal, card_no)
    return _change_status(repo, wallets, principal, card, card.frozen(clock()))


def unfreeze_card(
    repo: CardRepository, wallets: Wallets, principal: Principal, card_no: str, *, clock: Clock
) -> CardWithBalance:
    """Let a frozen card authorize again. Raises: Forbidden, NotFound, Conflict (unbound)."""
    require_writer(principal)
    card = repo.get_card(principal, card_no)
    return _change_status(repo, wallets, principal, card, card.unfrozen(clock()))


def unbind_card(
    repo: CardRepository,
    wallets: Wallets,
    principal: Principal,
    card_no: str,
    *,
    refund_balance: bool,
    clock: Clock,
) -> CardWithBalance:
    """Release a card from its holder for good; with ``refund_balance`` its balance is
    withdrawn through the wallet service first (the holder is paid out by the operator).

    Raises:
        Forbidden: maintenance staff. NotFound: not the caller's.
        Conflict: unbound already, or money left and no ``refund_balance``.
    """
    require_writer(principal)
    card = repo.get_card(principal, card_no)
    balance_fen = _balance(wallets, card_no)
    card.unbound(clock(), balance_fen=0)  # refuses an unbound card before any money moves
    if balance_fen > 0 and refund_balance:
        balance_fen = wallets.withdraw(
            account_id=card_account_id(card_no),
            operator_id=card.operator_id,
            amount_fen=balance_fen,
            reference=card_refund_reference(card_no),
            actor=principal.username,
        ).balance_fen
    updated = card.unbound(clock(), balance_fen=balance_fen)
    repo.update_card(principal, updated, card)
    return CardWithBalance(card=updated, balance_fen=balance_fen)
