"""Card wallets on the ledger: the ``Wallets`` port of the card service, bridged to the wallet
service (``shared.services.wallets``). Only the card routes need it, so wiring imports it
on first use."""

from __future__ import annotations

from typing import Any

from shared.domain.clock import Clock
from shared.services import wallets
from shared.services.base_data_cards import WalletBalance

# An operator tops a card up at its counter against money taken in person.
TOP_UP_METHOD = "cash"


class LedgerWallets:
    """``Wallets`` on the ledger repository (``DynamoLedgerRepository``)."""

    def __init__(self, ledger: Any, clock: Clock) -> None:
        self._ledger = ledger
        self._clock = clock

    def open(self, *, account_id: str, operator_id: str, owner: str) -> WalletBalance:
        view: WalletBalance = wallets.open_wallet(
            self._ledger,
            account_id=account_id,
            operator_id=operator_id,
            owner=owner,
            clock=self._clock,
        )
        return view

    def top_up(
        self, *, account_id: str, operator_id: str, amount_fen: int, reference: str, actor: str
    ) -> WalletBalance:
        view: WalletBalance = wallets.top_up_wallet(
            self._ledger,
            account_id=account_id,
            operator_id=operator_id,
            amount_fen=amount_fen,
            reference=reference,
            method=TOP_UP_METHOD,
            actor=actor,
            clock=self._clock,
        )
        return view

    def withdraw(
        self, *, account_id: str, operator_id: str, amount_fen: int, reference: str, actor: str
    ) -> WalletBalance:
        view: WalletBalance = wallets.withdraw_wallet(
            self._ledger,
            account_id=account_id,
            operator_id=operator_id,
            amount_fen=amount_fen,
            reference=reference,
            actor=actor,
            clock=self._clock,
        )
        return view

    def get(self, account_id: str) -> WalletBalance:
        view: WalletBalance = wallets.get_wallet(self._ledger, account_id)
        return view
