"""Request and response models of the driver-account routes (admin actions on drivers'
wallets). Every action names its reason, kept in the wallet's audit trail; money actions
carry a ``request_id``, so a retried request moves the money once."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from functions.operator_api.models import PAGING_HELP, Body, Query, View, WireTime
from shared.services.driver_accounts import REQUEST_ID, USER_ID, AuditRecord, DriverWallet

UserId = Annotated[str, StringConstraints(pattern=USER_ID)]
Reason = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, pattern=r"\S"),
    Field(description="Why (kept in the audit trail)"),
]
RequestId = Annotated[
    str,
    StringConstraints(pattern=REQUEST_ID),
    Field(description="Idempotency key: the same request_id moves the money once"),
]


class DriverTopUpBody(Body):
    amount_fen: int = Field(ge=1, le=5_000_000)
    request_id: RequestId
    reason: Reason
    method: Literal["admin", "cash"] = Field(
        "admin", description="admin: a credit the operator grants; cash: money taken in person"
    )


class DriverRefundBody(Body):
    amount_fen: int = Field(ge=1, le=5_000_000)
    request_id: RequestId
    reason: Reason


class ReasonBody(Body):
    reason: Reason


class WalletQuery(Query):
    operator_id: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.\-]+$",
        description="whose wallet of the driver (one per operator): platform admins name it; "
        "operator staff get their own operator's",
    )


class AuditQuery(WalletQuery):
    limit: int = Field(50, ge=1, le=100)
    next_token: str | None = Field(None, min_length=1, max_length=1024, description=PAGING_HELP)


class ClosureView(View):
    status: Literal["cancelling", "cancelled"]
    actor: str
    reason: str
    started_at: WireTime
    refunded_fen: int = Field(description="The balance paid out when it was cancelled")
    closed_at: WireTime | None


class DriverWalletView(View):
    user_id: str
    account_id: str
    operator_id: str
    status: Literal["active", "frozen", "cancelling", "cancelled"]
    balance_fen: int = Field(description="Including money on hold")
    held_fen: int = Field(description="On hold for running charges")
    available_fen: int
    updated_at: WireTime
    closure: ClosureView | None

    @classmethod
    def of(cls, wallet: DriverWallet) -> DriverWalletView:
        closure = wallet.closure
        return cls(
            user_id=wallet.user_id,
            account_id=wallet.account_id,
            operator_id=wallet.operator_id,
            status=wallet.status.value,
            balance_fen=wallet.balance_fen,
            held_fen=wallet.held_fen,
            available_fen=wallet.available_fen,
            updated_at=wallet.updated_at,
            closure=None
            if closure is None
            else ClosureView(
                status=closure.status.value,
                actor=closure.actor,
                reason=closure.reason,
                started_at=closure.started_at,
                refunded_fen=closure.refunded_fen,
                closed_at=closure.closed_at,
            ),
        )


class AuditView(View):
    action: str = Field(description="top_up, refund, freeze, unfreeze or cancel")
    actor: str = Field(description="The staff member who did it")
    reason: str
    at: WireTime
    amount_fen: int | None
    reference: str | None = Field(description="The ledger transfer it posted")

    @classmethod
    def of(cls, record: AuditRecord) -> AuditView:
        return cls(
            action=record.action,
            actor=record.actor,
            reason=record.reason,
            at=record.at,
            amount_fen=record.amount_fen,
            reference=record.reference,
        )


class AuditPageView(View):
    items: list[AuditView] = Field(description="Newest first")
    next_token: str | None = Field(description=PAGING_HELP)
