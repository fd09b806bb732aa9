"""Admin actions of operator staff on drivers' wallets (``driver:{operator_id}:{user_id}``,
the driver's wallet at the caller's operator; a platform admin names the operator): read,
top up, refund (money back to the driver outside a charging session), freeze, unfreeze,
cancel, each leaving an audit record of who did it and why.

Money moves through the ledger (``shared.domain.ledger``), one transfer per action with
the business reference as its id, so a retried request moves nothing new:
``driver-topup:{operator_id}:{user_id}:{request_id}``,
``driver-refund:{operator_id}:{user_id}:{request_id}``, ``driver-cancel:{operator_id}:{user_id}``.
Freeze and unfreeze are the ledger's own state changes, which
write their own audit items; top-ups, refunds and the cancellation get an audit item here,
keyed by the transfer, so a retry writes no second one.

Cancelling is resumable and never loses money: the cancellation is recorded first
(``cancelling``), the wallet is frozen (nothing new can move, money still on hold can
settle), then, once nothing is on hold, its whole balance is paid out by a CLOSURE
transfer and the cancellation is finished (``cancelled``). A call that finds money on hold
answers ``Conflict`` and leaves the wallet frozen and ``cancelling``; calling again after
the charge settled finishes it. A cancelled (or cancelling) wallet refuses every other
action here, and stays frozen, so the ledger refuses new top-ups, withdrawals and holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from shared.domain.clock import Clock
from shared.domain.errors import Conflict, InvalidInput, NotFound
from shared.domain.ledger import (
    MAX_REASON_LENGTH,
    Account,
    AccountKind,
    TopUpMethod,
    Transfer,
    TransferDetails,
    TransferKind,
    driver_wallet_id,
    require_text,
    stored_instant,
    top_up_transfer,
    withdrawal_transfer,
)
from shared.domain.tenancy import Principal, Role
from shared.observability import logger
from shared.services.wallets import LedgerRepository

USER_ID = r"^[A-Za-z0-9._-]{1,64}$"
REQUEST_ID = r"^[A-Za-z0-9._:-]{8,64}$"
MAX_AUDIT_PAGE = 100
ADMIN_TOP_UP_METHODS = (TopUpMethod.ADMIN.value, TopUpMethod.CASH.value)


class AccountStatus(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"


class AuditAction(StrEnum):
    TOP_UP = "top_up"
    REFUND = "refund"
    FREEZE = "freeze"
    UNFREEZE = "unfreeze"
    CANCEL = "cancel"


@dataclass(frozen=True, slots=True)
class Closure:
    """The cancellation of a driver's wallet: who, why, and what was paid out."""

    account_id: str
    operator_id: str
    status: AccountStatus  # CANCELLING or CANCELLED
    actor: str
    reason: str
    started_at: datetime
    refunded_fen: int = 0
    closed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One admin action on a wallet. ``reference`` names the transfer it posted (if any)."""

    account_id: str
    operator_id: str
    action: str
    actor: str
    reason: str
    at: datetime
    amount_fen: int | None = None
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class AuditPage:
    records: tuple[AuditRecord, ...]
    next_cursor: str | None


class DriverAccountStore(Protocol):
    """Cancellations and audit records of wallets (next to the ledger's own items)."""

    def get_closure(self, account_id: str) -> Closure | None:
        """The wallet's cancellation, if any (strongly consistent). Raises: UpstreamFailure."""

    def start_closure(self, closure: Closure) -> Closure:
        """Record a cancellation unless one exists; answer the stored one.

        Raises: UpstreamFailure.
        """

    def finish_closure(self, closure: Closure) -> Closure:
        """Mark a ``cancelling`` closure ``cancelled`` with what was paid out; a finished one
        is answered as stored. Raises: UpstreamFailure."""

    def record_audit(self, record: AuditRecord) -> None:
        """Store the record unless one with its time and reference exists.

        Raises: UpstreamFailure.
        """

    def list_audit(self, account_id: str, *, limit: int, cursor: str | None) -> AuditPage:
        """The wallet's audit records newest first (the ledger's freeze/unfreeze records
        included). Raises: InvalidInput (cursor), UpstreamFailure."""


@dataclass(frozen=True, slots=True)
class DriverWallet:
    """A driver's wallet as operator staff see it."""

    user_id: str
    account_id: str
    operator_id: str
    owner: str
    balance_fen: int
    held_fen: int
    status: AccountStatus
    updated_at: datetime
    closure: Closure | None

    @property
    def available_fen(self) -> int:
        return self.balance_fen - self.held_fen


def _user(user_id: str) -> str:
    if not isinstance(user_id, str) or re.fullmatch(USER_ID.strip("^$"), user_id) is None:
        raise NotFound("no driver has this id", kind="driver")
    return user_id


def _request_id(request_id: object) -> str:
    if not isinstance(request_id, str) or re.fullmatch(REQUEST_ID.strip("^$"), request_id) is None:
        raise InvalidInput(
            "request_id must be 8..64 letters, digits or . _ : -", field="request_id"
        )
    return request_id


def _reason(reason: object) -> str:
    return require_text(reason, "reason", MAX_REASON_LENGTH)


def _operator(principal: Principal, operator_id: str | None) -> str:
    """Whose wallet of the driver: the caller's operator's; a platform admin names one."""
    if principal.is_platform_admin:
        if operator_id is None:
            raise InvalidInput(
                "name the operator_id of the wallet (a driver has one per operator)",
                field="operator_id",
            )
        return operator_id
    if principal.operator_id is None or operator_id not in (None, principal.operator_id):
        raise NotFound("driver account not found", kind="driver")
    return principal.operator_id


def _visible_wallet(
    ledger: LedgerRepository, principal: Principal, user_id: str, operator_id: str | None
) -> Account:
    account_id = driver_wallet_id(_operator(principal, operator_id), _user(user_id))
    account = ledger.get_account(account_id)
    if (
        account is None
        or account.kind is not AccountKind.WALLET
        or not principal.can_see(account.operator_id)
    ):
        raise NotFound("driver account not found", kind="driver", id=user_id)
    return account


def _view(user_id: str, account: Account, closure: Closure | None) -> DriverWallet:
    if closure is not None:
        status = closure.status
    else:
        status = AccountStatus.FROZEN if account.is_frozen else AccountStatus.ACTIVE
    return DriverWallet(
        user_id=user_id,
        account_id=account.account_id,
        operator_id=account.operator_id,
        owner=account.owner,
        balance_fen=account.balance_fen,
        held_fen=account.held_fen,
        status=status,
        updated_at=account.updated_at,
        closure=closure,
    )


def _open_account(
    ledger: LedgerRepository,
    store: DriverAccountStore,
    principal: Principal,
    user_id: str,
    operator_id: str | None,
) -> Account:
    """The caller's driver wallet that is not cancelled. Raises: NotFound, Conflict."""
    account = _visible_wallet(ledger, principal, user_id, operator_id)
    if store.get_closure(account.account_id) is not None:
        raise Conflict("the driver account is cancelled", kind="driver", id=user_id)
    return account


def _post(ledger: LedgerRepository, transfer: Transfer, user_id: str) -> Transfer:
    result = ledger.post_transfer(transfer)
    logger.info(
        "driver transfer posted" if result.is_new else "driver transfer repeated",
        extra={
            "transfer_id": transfer.transfer_id,
            "transfer_kind": str(transfer.kind),
            "amount_fen": transfer.amount_fen,
        },
    )
    if result.wallet(transfer.account_id) is None:
        raise NotFound("driver account not found", kind="driver", id=user_id)
    return result.transfer


def _audit_transfer(
    store: DriverAccountStore, transfer: Transfer, action: AuditAction, reason: str
) -> None:
    store.record_audit(
        AuditRecord(
            account_id=transfer.account_id,
            operator_id=transfer.operator_id,
            action=action.value,
            actor=transfer.actor,
            reason=reason,
            at=transfer.posted_at,
            amount_fen=transfer.amount_fen,
            reference=transfer.transfer_id,
        )
    )


def get_driver_wallet(
    ledger: LedgerRepository,
    store: DriverAccountStore,
    principal: Principal,
    user_id: str,
    *,
    operator_id: str | None = None,
) -> DriverWallet:
    """A driver's wallet with its status.

    Raises: Forbidden (maintenance staff), NotFound (none, or another operator's).
    """
    principal.require_role(Role.OPERATOR_ADMIN)
    account = _visible_wallet(ledger, principal, user_id, operator_id)
    return _view(user_id, account, store.get_closure(account.account_id))


def top_up_driver(
    ledger: LedgerRepository,
    store: DriverAccountStore,
    principal: Principal,
    user_id: str,
    *,
    operator_id: str | None = None,
    amount_fen: int,
    request_id: str,
    method: str,
    reason: str,
    clock: Clock,
) -> DriverWallet:
    """Credit ``amount_fen`` (int fen) to a driver's wallet once per ``request_id``, from the
    operator's ``admin`` (or ``cash``) clearing account.

    Raises:
        Forbidden: maintenance staff. NotFound: no such wallet of the caller's operator.
        InvalidInput: amount, request id, method or reason.
        WalletFrozen: frozen. Conflict: cancelled, or the request id used for other money.
    """
    principal.require_role(Role.OPERATOR_ADMIN)
    if method not in ADMIN_TOP_UP_METHODS:
        raise InvalidInput("method must be admin or cash", field="method")
    why, request = _reason(reason), _request_id(request_id)
    account = _open_account(ledger, store, principal, user_id, operator_id)
    transfer = top_up_transfer(
        account_id=account.account_id,
        operator_id=account.operator_id,
        amount_fen=amount_fen,
        reference=f"driver-topup:{account.operator_id}:{user_id}:{request}",
        method=method,
        actor=principal.username,
        posted_at=clock(),
        details=TransferDetails(user_id=user_id, order_no=request),
    )
    posted = _post(ledger, transfer, user_id)
    _audit_transfer(store, posted, AuditAction.TOP_UP, why)
    return get_driver_wallet(ledger, store, principal, user_id, operator_id=operator_id)


def refund_driver(
    ledger: LedgerRepository,
    store: DriverAccountStore,
    principal: Principal,
    user_id: str,
    *,
    operator_id: str | None = None,
    amount_fen: int,
    request_id: str,
    reason: str,
    clock: Clock,
) -> DriverWallet:
    """Pay ``amount_fen`` (int fen) back to the driver outside a session (the operator pays
    it out: cash clearing), once per ``request_id``.

    Raises:
        Forbidden, NotFound, InvalidInput as ``top_up_driver``;
        InsufficientBalance: less is available (balance - held); nothing changed.
        WalletFrozen: frozen. Conflict: cancelled, or the request id used for other money.
    """
    principal.require_role(Role.OPERATOR_ADMIN)
    why, request = _reason(reason), _request_id(request_id)
    account = _open_account(ledger, store, principal, user_id, operator_id)
    transfer = withdrawal_transfer(
        account_id=account.account_id,
        operator_id=account.operator_id,
        amount_fen=amount_fen,
        reference=f"driver-refund:{account.operator_id}:{user_id}:{request}",
        actor=principal.username,
        posted_at=clock(),
        details=TransferDetails(user_id=user_id, order_no=request, transaction_type="admin_refund"),
    )
    posted = _post(ledger, transfer, user_id)
    _audit_transfer(store, posted, AuditAction.REFUND, why)
    return get_driver_wallet(ledger, store, principal, user_id, operator_id=operator_id)


def _set_frozen(
    ledger: LedgerRepository,
    store: DriverAccountStore,
    principal: Principal,
    user_id: str,
    *,
    operator_id: str | None = None,
    is_frozen: bool,
    reason: str,
    clock: Clock,
) -> DriverWallet:
    principal.require_role(Role.OPERATOR_ADMIN)
    why = _reason(reason)
    account = _open_account(ledger, store, principal, user_id, operator_id)
    # The ledger writes the audit record of a freeze or unfreeze with the state change.
    changed = ledger.set_frozen(
        account.account_id,
        operator_id=account.operator_id,
        is_frozen=is_frozen,
        actor=principal.username,
        reason=why,
        at=stored_instant(clock()),
    )
    return _view(user_id, changed, None)


def freeze_driver(
    ledger: LedgerRepository,
    store: DriverAccountStore,
    principal: Principal,
    user_id: str,
    *,
    operator_id: str | None = None,
    reason: str,
    clock: Clock,
) -> DriverWallet:
    """Freeze: top-ups, refunds and new payments are refused; money on hold still settles.
    Freezing a frozen wallet changes nothing.

    Raises: Forbidden, NotFound, InvalidInput (reason), Conflict (cancelled).
    """
    return _set_frozen(
        ledger,
        store,
        principal,
        user_id,
        is_frozen=True,
        reason=reason,
        clock=clock,
        operator_id=operator_id,
    )


def unfreeze_driver(
    ledger: LedgerRepository,
    store: DriverAccountStore,
    principal: Principal,
    user_id: str,
    *,
    operator_id: str | None = None,
    reason: str,
    clock: Clock,
) -> DriverWallet:
    """Unfreeze (a no-op when not frozen). Raises: Forbidden, NotFound, InvalidInput, Conflict."""
    return _set_frozen(
        ledger,
        store,
        principal,
        user_id,
        is_frozen=False,
        reason=reason,
        clock=clock,
        operator_id=operator_id,
    )


def cancel_driver(
    ledger: LedgerRepository,
    store: DriverAccountStore,
    principal: Principal,
    user_id: str,
    *,
    operator_id: str | None = None,
    reason: str,
    clock: Clock,
) -> DriverWallet:
    """Cancel a driver's account: freeze it, pay its whole balance out, close it for good.
    Cancelling a cancelled account answers it as it is.

    Raises:
        Forbidden, NotFound, InvalidInput (reason).
        Conflict: money is on hold for a running charge (the account is left frozen and
            ``cancelling``; cancel again once the charge has settled).
    """
    principal.require_role(Role.OPERATOR_ADMIN)
    why = _reason(reason)
    account = _visible_wallet(ledger, principal, user_id, operator_id)
    closure = store.get_closure(account.account_id)
    if closure is not None and closure.status is AccountStatus.CANCELLED:
        return _view(user_id, account, closure)
    if closure is None and account.held_fen > 0:
        raise Conflict(
            "money is on hold for a running charge: cancel after it has settled",
            kind="driver",
            id=user_id,
        )
    now = stored_instant(clock())
    if closure is None:
        closure = store.start_closure(
            Closure(
                account_id=account.account_id,
                operator_id=account.operator_id,
                status=AccountStatus.CANCELLING,
                actor=principal.username,
                reason=why,
                started_at=now,
            )
        )
    account = ledger.set_frozen(
        account.account_id,
        operator_id=account.operator_id,
        is_frozen=True,
        actor=principal.username,
        reason=f"cancel: {why}"[:MAX_REASON_LENGTH],
        at=now,
    )
    # Frozen, the balance can only fall (a capture of money on hold): wait for holds.
    if account.held_fen > 0:
        raise Conflict(
            "money is on hold for a running charge: cancel again after it has settled",
            kind="driver",
            id=user_id,
        )
    reference = f"driver-cancel:{account.operator_id}:{user_id}"
    payout = ledger.get_transfer(reference)
    if payout is None and account.balance_fen > 0:
        payout = _post(
            ledger,
            withdrawal_transfer(
                account_id=account.account_id,
                operator_id=account.operator_id,
                amount_fen=account.balance_fen,
                reference=reference,
                actor=principal.username,
                posted_at=now,
                details=TransferDetails(user_id=user_id, transaction_type="admin_refund"),
                kind=TransferKind.CLOSURE,
            ),
            user_id,
        )
    refunded = 0 if payout is None else payout.amount_fen
    # Keyed by the cancellation's start, so a call resuming after a crash writes no second.
    store.record_audit(
        AuditRecord(
            account_id=account.account_id,
            operator_id=account.operator_id,
            action=AuditAction.CANCEL.value,
            actor=closure.actor,
            reason=closure.reason,
            at=closure.started_at,
            amount_fen=refunded,
            reference=reference,
        )
    )
    finished = store.finish_closure(
        replace(closure, status=AccountStatus.CANCELLED, refunded_fen=refunded, closed_at=now)
    )
    logger.info("driver account cancelled", extra={"refunded_fen": finished.refunded_fen})
    fresh = ledger.get_account(account.account_id) or account
    return _view(user_id, fresh, finished)


def list_driver_audit(
    ledger: LedgerRepository,
    store: DriverAccountStore,
    principal: Principal,
    user_id: str,
    *,
    operator_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> AuditPage:
    """Who did what to a driver's wallet and why, newest first.

    Raises: Forbidden, NotFound, InvalidInput (limit, cursor).
    """
    principal.require_role(Role.OPERATOR_ADMIN)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_AUDIT_PAGE:
        raise InvalidInput(f"limit must be 1..{MAX_AUDIT_PAGE}", field="limit")
    account = _visible_wallet(ledger, principal, user_id, operator_id)
    return store.list_audit(account.account_id, limit=limit, cursor=cursor)
