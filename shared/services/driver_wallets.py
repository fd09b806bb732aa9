"""A driver's own wallets: balance and statement (top-ups, prepaid holds, captures, refunds).

A driver keeps one wallet per operator whose stations they pay at: the ledger account
``driver:{operator_id}:{user_id}`` (``payment_workflow`` or a top-up opens it). The driver
names the wallet by the operator or by one of its stations; a wallet never opened is
empty, not an error. ``list_wallets`` lists them all, by the ledger's per-driver index
(LedgerTable GSI3, docs/ledger.md), never by a scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shared.domain.base_data import Operator
from shared.domain.errors import InvalidInput, NotFound
from shared.domain.ledger import Account, Entry, driver_wallet_id
from shared.domain.stations import Station
from shared.domain.tenancy import Principal, Role
from shared.services.wallets import LedgerRepository, list_wallet_entries

# Operator names are public to drivers (they pay at the operators' stations): read as the
# platform, like the payment workflow reads base data.
_READER = Principal(username="driver-wallets", role=Role.PLATFORM_ADMIN, operator_id=None)


class StationReader(Protocol):
    def station(self, station_id: str) -> Station | None: ...


class DriverWalletIndex(Protocol):
    def driver_accounts(self, user_id: str) -> list[Account]:
        """The driver's wallet accounts by operator id (the index may lag a wallet opened
        a moment ago; balances are exact). Raises: UpstreamFailure."""


class OperatorReader(Protocol):
    def get_operator(self, principal: Principal, operator_id: str) -> Operator:
        """Raises: NotFound, UpstreamFailure."""


@dataclass(frozen=True, slots=True)
class DriverWallet:
    operator_id: str
    balance_fen: int
    held_fen: int
    is_frozen: bool
    operator_name: str | None = None  # filled by ``list_wallets`` when given the operators

    @property
    def available_fen(self) -> int:
        return self.balance_fen - self.held_fen


def wallet_operator(
    stations: StationReader, *, operator_id: str | None, station_id: str | None
) -> str:
    """The operator whose wallet the driver means: named, or the named station's.

    Raises: InvalidInput (neither or both named), NotFound (no such station).
    """
    if (operator_id is None) == (station_id is None):
        raise InvalidInput(
            "name the operator_id or a station_id of the wallet (one wallet per operator)",
            field="operator_id",
        )
    if station_id is not None:
        station = stations.station(station_id)
        if station is None:
            raise NotFound("station not found", kind="station", id=station_id)
        return station.operator_id
    assert operator_id is not None
    return operator_id


def wallet_of(ledger: LedgerRepository, operator_id: str, user_id: str) -> DriverWallet:
    """The driver's wallet at the operator now (all zero before it was opened).

    Raises: InvalidInput (operator id), UpstreamFailure.
    """
    account = ledger.get_account(driver_wallet_id(operator_id, user_id))
    if account is None:
        return DriverWallet(operator_id=operator_id, balance_fen=0, held_fen=0, is_frozen=False)
    return DriverWallet(
        operator_id=operator_id,
        balance_fen=account.balance_fen,
        held_fen=account.held_fen,
        is_frozen=account.is_frozen,
    )


def list_wallets(
    ledger: DriverWalletIndex, user_id: str, *, operators: OperatorReader | None = None
) -> list[DriverWallet]:
    """Every wallet the driver has (one per operator they paid or topped up at), by
    operator id, with the operator's name when ``operators`` is given (a deleted
    operator's wallet is still listed, its name None). Only ``user_id``'s wallets: the
    index partition is derived from the account id, never from a request field.

    Wallets opened before the index existed are listed once
    ``python -m infra.backfill_wallet_index`` has run against the table.

    DynamoDB: 1 Query (GSI3) + 1 BatchGetItem (the accounts, consistent); with
    ``operators``, 1 GetItem per wallet.

    Raises: InvalidInput (empty user id), UpstreamFailure.
    """
    if not isinstance(user_id, str) or not user_id:
        raise InvalidInput("user_id is required", field="user_id")
    wallets = []
    for account in ledger.driver_accounts(user_id):
        name = None if operators is None else _operator_name(operators, account.operator_id)
        wallets.append(
            DriverWallet(
                operator_id=account.operator_id,
                balance_fen=account.balance_fen,
                held_fen=account.held_fen,
                is_frozen=account.is_frozen,
                operator_name=name,
            )
        )
    return wallets


def _operator_name(operators: OperatorReader, operator_id: str) -> str | None:
    try:
        return operators.get_operator(_READER, operator_id).name
    except NotFound:
        return None


def wallet_entries(
    ledger: LedgerRepository,
    operator_id: str,
    user_id: str,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[tuple[Entry, ...], str | None]:
    """The wallet's entries newest first and the next page's cursor.

    Raises: InvalidInput (operator id, limit, cursor), UpstreamFailure.
    """
    account_id = driver_wallet_id(operator_id, user_id)
    try:
        page = list_wallet_entries(ledger, account_id, limit=limit, cursor=cursor)
    except NotFound:
        return (), None
    return page.entries, page.next_cursor
