"""A driver's own wallet: balance and statement (top-ups, prepaid holds, captures, refunds).

The wallet is the ledger account ``driver:{user_id}`` (``payment_workflow`` opens it on the
first paid charge); a driver who never charged has an empty wallet, not an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain.errors import NotFound
from shared.domain.ledger import Entry, driver_wallet_id
from shared.services.wallets import LedgerRepository, list_wallet_entries


@dataclass(frozen=True, slots=True)
class DriverWallet:
    balance_fen: int
    held_fen: int
    is_frozen: bool

    @property
    def available_fen(self) -> int:
        return self.balance_fen - self.held_fen


def wallet_of(ledger: LedgerRepository, user_id: str) -> DriverWallet:
    """The driver's wallet now (all zero before the first charge). Raises: UpstreamFailure."""
    account = ledger.get_account(driver_wallet_id(user_id))
    if account is None:
        return DriverWallet(balance_fen=0, held_fen=0, is_frozen=False)
    return DriverWallet(
        balance_fen=account.balance_fen, held_fen=account.held_fen, is_frozen=account.is_frozen
    )


def wallet_entries(
    ledger: LedgerRepository, user_id: str, *, limit: int, cursor: str | None
) -> tuple[tuple[Entry, ...], str | None]:
    """The wallet's entries newest first and the next page's cursor.

    Raises: InvalidInput (limit, cursor), UpstreamFailure.
    """
    try:
        page = list_wallet_entries(ledger, driver_wallet_id(user_id), limit=limit, cursor=cursor)
    except NotFound:
        return (), None
    return page.entries, page.next_cursor
