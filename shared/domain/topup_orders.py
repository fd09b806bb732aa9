"""Wallet top-up orders: a driver pays a provider (WeChat Pay, Alipay, the sandbox) and the
money lands in their wallet once (pure).

    created --paid notice--> paid          (the wallet is credited, ledger ``topup:{order_no}``)
    created --expired, closed--> closed    (a payment that still arrives is credited anyway:
                                            the money is the driver's, nothing else depends on it)

The order number is derived from the driver and the client's request id (``TU`` + 30 hex of
SHA-256), so a retried request names the same order and one conditional put creates it once.
No Step Functions: the notification credits the wallet, an unpaid order expires on read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from shared.domain.errors import Conflict, InvalidInput
from shared.domain.payments import PaymentMethod, check_order_no

TOPUP_PREFIX = "TU"
# A top-up is at most 5,000.00 yuan; at least 1 fen.
MAX_TOPUP_FEN = 500_000
PAY_WITHIN = timedelta(minutes=15)
TOPUP_METHODS = frozenset({PaymentMethod.WECHAT, PaymentMethod.ALIPAY, PaymentMethod.SANDBOX})


class TopUpState(StrEnum):
    CREATED = "created"
    PAID = "paid"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class TopUpOrder:
    """A driver's top-up; ``revision`` counts saved changes (optimistic lock)."""

    order_no: str
    request_id: str
    user_id: str
    operator_id: str
    payer_id: str
    method: PaymentMethod
    amount_fen: int
    state: TopUpState
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    revision: int = 0
    client_params: dict[str, str] = field(default_factory=dict)
    provider_txn_id: str | None = None
    paid_at: datetime | None = None

    @property
    def transfer_id(self) -> str:
        """The ledger top-up of this order (one per order: a replay credits nothing more)."""
        return f"topup:{self.order_no}"

    def is_expired(self, now: datetime) -> bool:
        return self.state is TopUpState.CREATED and now >= self.expires_at


def topup_order_no(user_id: str, request_id: str) -> str:
    """``TU`` + 30 hex: one order number per driver and client request id."""
    digest = hashlib.sha256(f"{user_id}\n{request_id}".encode()).hexdigest()
    return f"{TOPUP_PREFIX}{digest[:30]}"


def is_topup_order_no(order_no: str) -> bool:
    return order_no.startswith(TOPUP_PREFIX) and len(order_no) == 32


def require_topup_method(value: object) -> PaymentMethod:
    if isinstance(value, str) and value in {m.value for m in TOPUP_METHODS}:
        return PaymentMethod(value)
    raise InvalidInput("method must be wechat, alipay or sandbox", field="method")


def require_topup_amount(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOPUP_FEN:
        raise InvalidInput(
            f"amount_fen must be an integer in 1..{MAX_TOPUP_FEN}", field="amount_fen"
        )
    return value


def new_topup(
    *,
    request_id: str,
    user_id: str,
    operator_id: str,
    payer_id: str,
    method: object,
    amount_fen: object,
    now: datetime,
) -> TopUpOrder:
    """A fresh top-up waiting for its payment. Raises: InvalidInput (nothing is created)."""
    if not isinstance(request_id, str) or not 1 <= len(request_id) <= 64:
        raise InvalidInput("request_id must be 1..64 characters", field="request_id")
    if not isinstance(payer_id, str) or not 0 < len(payer_id) <= 128:
        raise InvalidInput("payer_id must be 1..128 characters", field="payer_id")
    if now.tzinfo is None:
        raise InvalidInput("now must be aware", field="now")
    order_no = topup_order_no(user_id, request_id)
    check_order_no(order_no)
    return TopUpOrder(
        order_no=order_no,
        request_id=request_id,
        user_id=user_id,
        operator_id=operator_id,
        payer_id=payer_id,
        method=require_topup_method(method),
        amount_fen=require_topup_amount(amount_fen),
        state=TopUpState.CREATED,
        created_at=now,
        updated_at=now,
        expires_at=now + PAY_WITHIN,
    )


_REQUEST_FIELDS = ("request_id", "user_id", "operator_id", "payer_id", "method", "amount_fen")


def same_topup_request(a: TopUpOrder, b: TopUpOrder) -> bool:
    """Two orders asked for the same thing (a retried request)."""
    return all(getattr(a, key) == getattr(b, key) for key in _REQUEST_FIELDS)


def with_client_params(order: TopUpOrder, params: dict[str, str], now: datetime) -> TopUpOrder:
    """The provider order is open: what the app needs to pay (kept once)."""
    if order.client_params or order.state is not TopUpState.CREATED:
        return order
    return replace(order, client_params=dict(params), updated_at=now)


def record_topup_paid(
    order: TopUpOrder, *, provider_txn_id: str, amount_fen: int, paid_at: datetime, now: datetime
) -> TopUpOrder:
    """Take a verified payment once (a closed order still takes it: the money is the
    driver's). The same payment again answers the order unchanged.

    Raises:
        Conflict: another payment already paid the order, or the amount is not the order's.
    """
    if order.provider_txn_id == provider_txn_id:
        return order
    if amount_fen != order.amount_fen:
        raise Conflict("paid amount differs from the top-up", order_no=order.order_no)
    if order.state is TopUpState.PAID:
        raise Conflict("top-up already paid by another payment", order_no=order.order_no)
    return replace(
        order,
        state=TopUpState.PAID,
        provider_txn_id=provider_txn_id,
        paid_at=paid_at,
        updated_at=now,
    )


def close_expired(order: TopUpOrder, now: datetime) -> TopUpOrder:
    """An unpaid order past its ``expires_at`` is closed; anything else is unchanged."""
    if not order.is_expired(now):
        return order
    return replace(order, state=TopUpState.CLOSED, updated_at=now)


__all__ = [
    "MAX_TOPUP_FEN",
    "TOPUP_METHODS",
    "TopUpOrder",
    "TopUpState",
    "close_expired",
    "is_topup_order_no",
    "new_topup",
    "record_topup_paid",
    "require_topup_amount",
    "require_topup_method",
    "same_topup_request",
    "topup_order_no",
    "with_client_params",
]
