"""Wallet use cases on the ledger: open, top up, withdraw, freeze, list, and holds.

Each money movement is ONE ledger transfer whose id is the caller's business reference
(``card-topup:CARD-1:req-123``): repeating a call with the same reference changes nothing
and answers the wallet as it is; the same reference with other money is a ``Conflict``.
The rules live in ``shared.domain.ledger``; the repository makes each transfer atomic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.domain.clock import Clock
from shared.domain.errors import Conflict, InvalidInput, NotFound
from shared.domain.ledger import (
    MAX_ACTOR_LENGTH,
    MAX_REASON_LENGTH,
    Account,
    AccountKind,
    EntryPage,
    HoldStatus,
    PostResult,
    Transfer,
    TransferKind,
    capture_transfer,
    hold_status,
    hold_transfer,
    new_wallet,
    release_transfer,
    require_operator_id,
    require_text,
    require_token,
    require_wallet_id,
    resolution_id,
    stored_instant,
    top_up_transfer,
    withdrawal_transfer,
)
from shared.observability import logger

MAX_PAGE_SIZE = 200


class LedgerRepository(Protocol):
    """Port of the ledger store. Every transfer it posts is atomic and idempotent on its id."""

    def open_account(self, account: Account) -> Account:
        """Create the account unless its id exists; answer the stored one.

        Raises: UpstreamFailure.
        """

    def get_account(self, account_id: str) -> Account | None:
        """The account now (strongly consistent), or None. Raises: UpstreamFailure."""

    def get_transfer(self, transfer_id: str) -> Transfer | None:
        """A posted transfer, or None. Raises: UpstreamFailure."""

    def post_transfer(self, transfer: Transfer) -> PostResult:
        """Post atomically: the transfer, every account change, one entry per posted leg.

        A transfer id already posted answers the stored transfer (``is_new=False``) and
        changes nothing.

        Raises:
            Conflict: the id was used for different money.
            NotFound: a wallet is missing or another operator's.
            WalletFrozen, InsufficientBalance: the wallet refuses it; nothing changed.
            UpstreamFailure: the store failed or stayed too contended to commit.
        """

    def set_frozen(
        self,
        account_id: str,
        *,
        operator_id: str,
        is_frozen: bool,
        actor: str,
        reason: str,
        at: datetime,
    ) -> Account:
        """Freeze or unfreeze a wallet with an audit record; no-op if already so.

        Raises: NotFound (missing or another operator's), UpstreamFailure.
        """

    def list_entries(self, account_id: str, *, limit: int, cursor: str | None) -> EntryPage:
        """An account's entries, newest first. Raises: InvalidInput (cursor), UpstreamFailure."""


@dataclass(frozen=True, slots=True)
class WalletView:
    """A wallet as callers see it; ``balance_fen`` includes money on hold."""

    account_id: str
    operator_id: str
    balance_fen: int
    is_frozen: bool
    updated_at: datetime
    owner: str = ""
    held_fen: int = 0

    @property
    def available_fen(self) -> int:
        return self.balance_fen - self.held_fen


@dataclass(frozen=True, slots=True)
class HoldView:
    """A hold: reserved ``amount_fen``, its state, and what a capture posted."""

    hold_id: str
    account_id: str
    operator_id: str
    amount_fen: int
    status: HoldStatus
    captured_fen: int
    counter_account_id: str
    created_at: datetime
    resolved_at: datetime | None


def _view(account: Account) -> WalletView:
    return WalletView(
        account_id=account.account_id,
        operator_id=account.operator_id,
        balance_fen=account.balance_fen,
        is_frozen=account.is_frozen,
        updated_at=account.updated_at,
        owner=account.owner,
        held_fen=account.held_fen,
    )


def _wallet(ledger: LedgerRepository, account_id: str, operator_id: str | None) -> Account:
    account = ledger.get_account(account_id)
    if (
        account is None
        or account.kind is not AccountKind.WALLET
        or (operator_id is not None and account.operator_id != operator_id)
    ):
        raise NotFound("wallet not found", kind="wallet", id=account_id)
    return account


def _posted(ledger: LedgerRepository, transfer: Transfer, operator_id: str) -> WalletView:
    result = ledger.post_transfer(transfer)
    logger.info(
        "ledger transfer posted" if result.is_new else "ledger transfer repeated",
        extra={
            "transfer_id": transfer.transfer_id,
            "transfer_kind": str(transfer.kind),
            "account_id": transfer.account_id,
            "amount_fen": transfer.amount_fen,
        },
    )
    wallet = result.wallet(transfer.account_id)
    if wallet is None or wallet.operator_id != operator_id:
        raise NotFound("wallet not found", kind="wallet", id=transfer.account_id)
    return _view(wallet)


def open_wallet(
    ledger: LedgerRepository, *, account_id: str, operator_id: str, owner: str, clock: Clock
) -> WalletView:
    """Open an empty wallet; opening it again answers the existing wallet.

    Raises:
        InvalidInput: a bad account id (``card:...``/``driver:...``), operator id or owner.
        Conflict: the id is another operator's wallet.
    """
    wallet = new_wallet(account_id=account_id, operator_id=operator_id, owner=owner, at=clock())
    stored = ledger.open_account(wallet)
    if stored.kind is not AccountKind.WALLET or stored.operator_id != wallet.operator_id:
        raise Conflict("account id already in use", account_id=account_id)
    return _view(stored)


def top_up_wallet(
    ledger: LedgerRepository,
    *,
    account_id: str,
    operator_id: str,
    amount_fen: int,
    reference: str,
    method: str,
    actor: str,
    clock: Clock,
) -> WalletView:
    """Credit ``amount_fen`` (int fen) from the operator's clearing account of ``method``.

    Raises:
        InvalidInput: amount not an int in 1..MAX_AMOUNT_FEN, bad reference/method/ids.
        NotFound: no such wallet for this operator.
        WalletFrozen: the wallet is frozen.
        Conflict: ``reference`` was used for different money.
    """
    transfer = top_up_transfer(
        account_id=account_id,
        operator_id=operator_id,
        amount_fen=amount_fen,
        reference=reference,
        method=method,
        actor=actor,
        posted_at=clock(),
    )
    return _posted(ledger, transfer, operator_id)


def withdraw_wallet(
    ledger: LedgerRepository,
    *,
    account_id: str,
    operator_id: str,
    amount_fen: int,
    reference: str,
    actor: str,
    clock: Clock,
) -> WalletView:
    """Pay ``amount_fen`` (int fen) out of the wallet through the operator's cash clearing.

    Raises:
        InvalidInput: bad amount, reference or ids.
        NotFound: no such wallet for this operator.
        WalletFrozen: the wallet is frozen.
        InsufficientBalance: less than ``amount_fen`` is available; nothing changed.
        Conflict: ``reference`` was used for different money.
    """
    transfer = withdrawal_transfer(
        account_id=account_id,
        operator_id=operator_id,
        amount_fen=amount_fen,
        reference=reference,
        actor=actor,
        posted_at=clock(),
    )
    return _posted(ledger, transfer, operator_id)


def get_wallet(ledger: LedgerRepository, account_id: str) -> WalletView:
    """The wallet now. Raises: InvalidInput (not a wallet id), NotFound."""
    return _view(_wallet(ledger, require_wallet_id(account_id), None))


def list_wallet_entries(
    ledger: LedgerRepository, account_id: str, *, limit: int = 50, cursor: str | None = None
) -> EntryPage:
    """The wallet's entries newest first, ``limit`` (1..200) per page.

    Raises: InvalidInput (limit, cursor, account id), NotFound.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE_SIZE}", field="limit")
    _wallet(ledger, require_wallet_id(account_id), None)
    return ledger.list_entries(account_id, limit=limit, cursor=cursor)


def _set_frozen(
    ledger: LedgerRepository,
    *,
    account_id: str,
    operator_id: str,
    is_frozen: bool,
    actor: str,
    reason: str,
    clock: Clock,
) -> WalletView:
    account = ledger.set_frozen(
        require_wallet_id(account_id),
        operator_id=require_operator_id(operator_id),
        is_frozen=is_frozen,
        actor=require_text(actor, "actor", MAX_ACTOR_LENGTH),
        reason=require_text(reason, "reason", MAX_REASON_LENGTH),
        at=stored_instant(clock()),
    )
    logger.info(
        "wallet frozen" if is_frozen else "wallet unfrozen", extra={"account_id": account_id}
    )
    return _view(account)


def freeze_wallet(
    ledger: LedgerRepository,
    *,
    account_id: str,
    operator_id: str,
    actor: str,
    reason: str,
    clock: Clock,
) -> WalletView:
    """Freeze: top-ups, withdrawals and new holds are refused until unfrozen.

    Holds placed before the freeze can still be captured or released. Freezing a frozen
    wallet changes nothing.

    Raises: InvalidInput, NotFound.
    """
    return _set_frozen(
        ledger,
        account_id=account_id,
        operator_id=operator_id,
        is_frozen=True,
        actor=actor,
        reason=reason,
        clock=clock,
    )


def unfreeze_wallet(
    ledger: LedgerRepository,
    *,
    account_id: str,
    operator_id: str,
    actor: str,
    reason: str,
    clock: Clock,
) -> WalletView:
    """Unfreeze; unfreezing an unfrozen wallet changes nothing. Raises: InvalidInput, NotFound."""
    return _set_frozen(
        ledger,
        account_id=account_id,
        operator_id=operator_id,
        is_frozen=False,
        actor=actor,
        reason=reason,
        clock=clock,
    )


def _hold_view(hold: Transfer, resolution: Transfer | None) -> HoldView:
    return HoldView(
        hold_id=hold.transfer_id,
        account_id=hold.account_id,
        operator_id=hold.operator_id,
        amount_fen=hold.amount_fen,
        status=hold_status(resolution),
        captured_fen=(
            resolution.amount_fen
            if resolution is not None and resolution.kind is TransferKind.CAPTURE
            else 0
        ),
        counter_account_id=hold.counter_account_id or "",
        created_at=hold.posted_at,
        resolved_at=None if resolution is None else resolution.posted_at,
    )


def _stored_hold(ledger: LedgerRepository, hold_id: str) -> Transfer:
    hold_transfer_ = ledger.get_transfer(require_token(hold_id, "hold_id"))
    if hold_transfer_ is None or hold_transfer_.kind is not TransferKind.HOLD:
        raise NotFound("hold not found", kind="hold", id=hold_id)
    return hold_transfer_


def hold(
    ledger: LedgerRepository,
    *,
    account_id: str,
    operator_id: str,
    amount_fen: int,
    reference: str,
    actor: str,
    clock: Clock,
    counter_account_id: str | None = None,
) -> HoldView:
    """Reserve ``amount_fen`` on a wallet (pending); the hold id is ``reference``.

    A capture will credit ``counter_account_id`` (default: the operator's revenue account).

    Raises:
        InvalidInput, NotFound, WalletFrozen,
        InsufficientBalance: less than ``amount_fen`` available (balance - held).
        Conflict: ``reference`` was used for different money.
    """
    transfer = hold_transfer(
        account_id=account_id,
        operator_id=operator_id,
        amount_fen=amount_fen,
        reference=reference,
        actor=actor,
        posted_at=clock(),
        counter_account_id=counter_account_id,
    )
    result = ledger.post_transfer(transfer)
    logger.info(
        "wallet hold placed" if result.is_new else "wallet hold repeated",
        extra={"hold_id": transfer.transfer_id, "amount_fen": transfer.amount_fen},
    )
    return _hold_view(result.transfer, ledger.get_transfer(resolution_id(transfer.transfer_id)))


def capture_hold(
    ledger: LedgerRepository, *, hold_id: str, amount_fen: int, actor: str, clock: Clock
) -> HoldView:
    """Post a hold: ``amount_fen`` (1..held) goes to its counter account, the rest is freed.

    Capturing again with the same amount changes nothing.

    Raises:
        NotFound: no such hold.
        InvalidInput: more than held, or a bad amount.
        Conflict: the hold was already released or captured with another amount.
    """
    stored = _stored_hold(ledger, hold_id)
    transfer = capture_transfer(stored, amount_fen=amount_fen, actor=actor, posted_at=clock())
    result = ledger.post_transfer(transfer)
    logger.info(
        "wallet hold captured" if result.is_new else "wallet hold capture repeated",
        extra={"hold_id": hold_id, "amount_fen": transfer.amount_fen},
    )
    return _hold_view(stored, result.transfer)


def release_hold(ledger: LedgerRepository, *, hold_id: str, actor: str, clock: Clock) -> HoldView:
    """Void a hold: all of it becomes available again. Releasing again changes nothing.

    Raises:
        NotFound: no such hold.
        Conflict: the hold was already captured.
    """
    stored = _stored_hold(ledger, hold_id)
    transfer = release_transfer(stored, actor=actor, posted_at=clock())
    result = ledger.post_transfer(transfer)
    logger.info(
        "wallet hold released" if result.is_new else "wallet hold release repeated",
        extra={"hold_id": hold_id, "amount_fen": transfer.amount_fen},
    )
    return _hold_view(stored, result.transfer)


def get_hold(ledger: LedgerRepository, hold_id: str) -> HoldView:
    """A hold and its state. Raises: NotFound."""
    stored = _stored_hold(ledger, hold_id)
    return _hold_view(stored, ledger.get_transfer(resolution_id(hold_id)))
