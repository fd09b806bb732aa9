"""Payment providers: the types every provider speaks, the port, and the pure checks.

A provider (WeChat Pay v3, Alipay, the local sandbox) takes a prepay order, tells us
by a signed notification that the driver paid, refunds part of it by the original
route, splits what was consumed with the site partner, and lists its records of a day
for reconciliation. The adapters live in ``shared/adapters/payments/``; this module
has no I/O, env or clock.

Notifications are refused with ``NotificationRejected``: 401 when the message cannot
be authenticated (missing or bad signature, unknown key, probe signature, outside the
freshness window), 400 when it is authentic but not a payment we can take (another
merchant or app, not paid, malformed, or not matching the order). A refused
notification changes nothing; the provider retries it later.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Literal, Protocol

from shared.domain.errors import InvalidInput

# One transfer is at most 100,000.00 yuan (docs/ledger.md); a provider order the same.
MAX_AMOUNT_FEN = 10_000_000
# WeChat Pay refuses notifications older than 5 minutes in its own SDKs; we do the same.
FRESHNESS_WINDOW_S = 300
# WeChat out_trade_no: 6..32 of digits, letters, ``_-|*``; Alipay: letters, digits, ``_``
# (its gateway also takes ``-``). Our order numbers keep to the common part.
_ORDER_NO = re.compile(r"^[0-9A-Za-z_-]{6,32}$")
# out_refund_no / out_request_no / out_order_no (profit sharing): up to 64 characters.
_REFERENCE = re.compile(r"^[0-9A-Za-z_|*@-]{1,64}$")
_YUAN = re.compile(r"^(0|[1-9][0-9]{0,8})(?:\.([0-9]{1,2}))?$")
MAX_RECEIVERS = 50
MAX_TEXT = 127
# Basis points. WeChat Pay limits what one order may share to receivers to the merchant's
# maximum ratio, 30 % unless raised with WeChat; Alipay's royalty ratio is capped the same
# way by default. A provider's cap comes from its secret (``max_share_bp``).
FULL_SHARE_BP = 10_000
DEFAULT_MAX_SHARE_BP = 3_000


def share_cap_bp(value: object) -> int:
    """A provider's maximum share ratio from its configuration (default 30 %).

    Raises: InvalidInput unless an integer 1..10000 (or absent/empty).
    """
    if value is None or value == "":
        return DEFAULT_MAX_SHARE_BP
    try:
        cap = int(str(value))
    except ValueError as exc:
        raise InvalidInput(
            "max_share_bp must be an integer 1..10000", field="max_share_bp"
        ) from exc
    if not 1 <= cap <= FULL_SHARE_BP:
        raise InvalidInput("max_share_bp must be an integer 1..10000", field="max_share_bp")
    return cap


def provider_share_fen(*, partner_fen: int, consumed_fen: int, max_share_bp: int) -> int:
    """What the provider can send the partner of one order: the ledger's partner part, at
    most ``max_share_bp`` of the consumed amount (rounded down: never above the cap). The
    rest of the partner part stays owed by the operator in the ledger."""
    if partner_fen <= 0 or consumed_fen <= 0:
        return 0
    return min(partner_fen, consumed_fen * max_share_bp // FULL_SHARE_BP)


class PaymentMethod(StrEnum):
    WECHAT = "wechat"
    ALIPAY = "alipay"
    WALLET = "wallet"
    SANDBOX = "sandbox"


RefundStatus = Literal["success", "processing"]
ShareStatus = Literal["success", "processing"]
RecordKind = Literal["payment", "refund"]


class NotificationRejected(Exception):
    """A provider notification we refuse: ``status`` 401 (not authentic) or 400 (not ours).

    ``reason`` is a short constant (``bad_signature``, ``stale``, ``amount_mismatch`` ...)
    safe to log; nothing of the body is in it.
    """

    def __init__(self, status: int, reason: str) -> None:
        if status not in (400, 401):
            raise ValueError("status must be 400 or 401")
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


def _check_amount(name: str, amount_fen: int, *, minimum: int = 1) -> None:
    if (
        isinstance(amount_fen, bool)
        or not isinstance(amount_fen, int)
        or not minimum <= amount_fen <= MAX_AMOUNT_FEN
    ):
        raise InvalidInput(
            f"{name} must be an integer number of fen in {minimum}..{MAX_AMOUNT_FEN}", field=name
        )


def _check_text(name: str, text: str, *, required: bool = True) -> None:
    if not isinstance(text, str) or len(text) > MAX_TEXT or (required and not text.strip()):
        raise InvalidInput(f"{name} must be text of 1..{MAX_TEXT} characters", field=name)


def check_order_no(order_no: str) -> None:
    """Raises: InvalidInput unless 6..32 of digits, letters, ``_`` and ``-``."""
    if not isinstance(order_no, str) or not _ORDER_NO.match(order_no):
        raise InvalidInput("order_no must be 6..32 of 0-9, A-Z, a-z, _ and -", field="order_no")


def check_reference(name: str, reference: str) -> None:
    """Refund and share numbers. Raises: InvalidInput unless 1..64 of ``0-9A-Za-z_-|*@``."""
    if not isinstance(reference, str) or not _REFERENCE.match(reference):
        raise InvalidInput(f"{name} must be 1..64 of 0-9, A-Z, a-z and _-|*@", field=name)


def _check_aware(name: str, at: datetime) -> None:
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise InvalidInput(f"{name} must be an aware datetime", field=name)


@dataclass(frozen=True)
class PrepayRequest:
    """An order to pay ``amount_fen`` before ``expires_at``; ``payer_id``: openid / buyer id."""

    order_no: str
    amount_fen: int
    description: str
    payer_id: str
    expires_at: datetime

    def __post_init__(self) -> None:
        check_order_no(self.order_no)
        _check_amount("amount_fen", self.amount_fen)
        _check_text("description", self.description)
        _check_text("payer_id", self.payer_id)
        _check_aware("expires_at", self.expires_at)


@dataclass(frozen=True)
class PrepayTicket:
    """What the mini-program needs to open the provider's payment sheet."""

    method: PaymentMethod
    order_no: str
    client_params: dict[str, str]


@dataclass(frozen=True)
class PaidNotice:
    """A verified "paid" notification; ``provider_txn_id`` is the provider's transaction id."""

    method: PaymentMethod
    order_no: str
    provider_txn_id: str
    amount_fen: int
    paid_at: datetime


@dataclass(frozen=True)
class RefundRequest:
    """Refund ``refund_fen`` of an order paid ``total_fen``; ``out_refund_no`` is stable."""

    order_no: str
    out_refund_no: str
    refund_fen: int
    total_fen: int
    reason: str

    def __post_init__(self) -> None:
        check_order_no(self.order_no)
        check_reference("out_refund_no", self.out_refund_no)
        _check_amount("refund_fen", self.refund_fen)
        _check_amount("total_fen", self.total_fen)
        if self.refund_fen > self.total_fen:
            raise InvalidInput("refund_fen exceeds total_fen", field="refund_fen")
        _check_text("reason", self.reason, required=False)


@dataclass(frozen=True)
class RefundResult:
    out_refund_no: str
    status: RefundStatus
    refund_fen: int


@dataclass(frozen=True)
class ShareReceiver:
    """One receiver of a profit share: a merchant id (digits) or a personal account id."""

    account: str
    amount_fen: int
    description: str

    def __post_init__(self) -> None:
        _check_text("account", self.account)
        _check_amount("amount_fen", self.amount_fen)
        _check_text("description", self.description)


# WeChat Pay receiver types (``/v3/profitsharing/receivers/add``); a receiver without a
# type is typed by the adapter from the account's form, as the share order does.
WECHAT_RECEIVER_TYPES = frozenset({"MERCHANT_ID", "PERSONAL_OPENID"})
MAX_RECEIVER_NAME = 100


@dataclass(frozen=True)
class PartnerReceiver:
    """A site partner's receiver account to make known at the provider before the first
    profit share to it: WeChat Pay adds it as a ``PARTNER`` receiver, Alipay binds the
    royalty relation. ``kind`` is WeChat's receiver type (``MERCHANT_ID`` /
    ``PERSONAL_OPENID``; None: from the account's form); ``name`` the merchant's full name
    or the person's real name (WeChat Pay requires it for a ``MERCHANT_ID`` and encrypts
    it with the platform key; optional otherwise)."""

    account: str
    kind: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        _check_text("account", self.account)
        if self.kind is not None and self.kind not in WECHAT_RECEIVER_TYPES:
            raise InvalidInput("kind must be MERCHANT_ID or PERSONAL_OPENID", field="kind")
        if self.name is not None and (
            not isinstance(self.name, str)
            or not self.name.strip()
            or len(self.name) > MAX_RECEIVER_NAME
        ):
            raise InvalidInput(
                f"name must be text of 1..{MAX_RECEIVER_NAME} characters", field="name"
            )

    @property
    def is_complete(self) -> bool:
        """False for a WeChat ``MERCHANT_ID`` without the merchant's full name: WeChat Pay
        refuses to add it, so no share can go to it."""
        return not (self.kind == "MERCHANT_ID" and self.name is None)

    def __repr__(self) -> str:
        # The name is personal data for a PERSONAL_OPENID: kept out of logs and errors.
        return f"PartnerReceiver(account={self.account!r}, kind={self.kind!r}, name=***)"


@dataclass(frozen=True)
class ShareRequest:
    """Split a paid order; ``unfreeze_rest`` gives what is not shared back to the merchant."""

    order_no: str
    out_share_no: str
    provider_txn_id: str
    receivers: tuple[ShareReceiver, ...]
    unfreeze_rest: bool

    def __post_init__(self) -> None:
        check_order_no(self.order_no)
        check_reference("out_share_no", self.out_share_no)
        _check_text("provider_txn_id", self.provider_txn_id)
        if (
            not isinstance(self.receivers, tuple)
            or len(self.receivers) > MAX_RECEIVERS
            or not all(isinstance(r, ShareReceiver) for r in self.receivers)
        ):
            raise InvalidInput(
                f"receivers must be a tuple of 0..{MAX_RECEIVERS} ShareReceiver", field="receivers"
            )
        if not self.receivers and not self.unfreeze_rest:
            raise InvalidInput("nothing to share and nothing to unfreeze", field="receivers")
        if not isinstance(self.unfreeze_rest, bool):
            raise InvalidInput("unfreeze_rest must be a boolean", field="unfreeze_rest")


@dataclass(frozen=True)
class ShareResult:
    out_share_no: str
    status: ShareStatus


@dataclass(frozen=True)
class ProviderRecord:
    """One line of the provider's own books: a payment (reference = txn id) or a refund."""

    order_no: str
    kind: RecordKind
    reference: str
    amount_fen: int
    at: datetime


class PaymentProvider(Protocol):
    """The port every payment provider implements. Provider errors raise ``UpstreamFailure``."""

    @property
    def method(self) -> PaymentMethod: ...

    @property
    def max_share_bp(self) -> int:
        """The most of an order the provider shares to receivers (basis points)."""
        ...

    def create_prepay(self, req: PrepayRequest) -> PrepayTicket:
        """Open the order at the provider. Raises: UpstreamFailure."""
        ...

    def verify_notification(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> PaidNotice:
        """Authenticate and read a "paid" notification; pure: the same input, the same answer.

        Raises: NotificationRejected (401 not authentic, 400 not ours / not paid).
        """
        ...

    def notification_ack(self) -> tuple[int, dict[str, str], str]:
        """The HTTP status, headers and body the provider expects for an accepted notification."""
        ...

    def refund(self, req: RefundRequest) -> RefundResult:
        """Refund by the original route; an ``out_refund_no`` refunds once.

        Raises: UpstreamFailure.
        """
        ...

    def add_receiver(self, receiver: PartnerReceiver) -> None:
        """Make ``receiver`` known as a profit-sharing receiver (WeChat Pay
        ``/v3/profitsharing/receivers/add`` with ``relation_type=PARTNER``; Alipay
        ``alipay.trade.royalty.relation.bind``); idempotent at the provider: adding a
        receiver again changes nothing. A share to a receiver never added is refused.

        Raises: InvalidInput (a receiver the provider cannot take, e.g. a WeChat
        ``MERCHANT_ID`` without its name), UpstreamFailure.
        """
        ...

    def share_profit(self, req: ShareRequest) -> ShareResult:
        """Split a paid order; an ``out_share_no`` splits once. Every receiver must have been
        added (``add_receiver``). Raises: UpstreamFailure."""
        ...

    def close_order(self, order_no: str) -> None:
        """Close an unpaid order. Raises: Conflict (already paid), UpstreamFailure."""
        ...

    def records(self, day: date) -> list[ProviderRecord]:
        """The provider's payments and refunds of an Asia/Shanghai day. Raises: UpstreamFailure."""
        ...


def fen_to_yuan(amount_fen: int) -> str:
    """Fen as the two-decimal yuan string Alipay wants (``400`` -> ``"4.00"``), without float.

    Raises: InvalidInput for negatives, bools and non-integers.
    """
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen < 0:
        raise InvalidInput(
            "amount must be a non-negative integer number of fen", field="amount_fen"
        )
    yuan, fen = divmod(amount_fen, 100)
    return f"{yuan}.{fen:02d}"


def yuan_to_fen(text: str) -> int:
    """A provider's yuan string (``"4.00"``, ``"4.5"``, ``"4"``) as fen, exactly.

    Raises: ValueError for anything else (signs, exponents, three decimals, spaces).
    """
    match = _YUAN.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError("not a yuan amount")
    whole, decimals = match.group(1), match.group(2) or ""
    return int(whole) * 100 + int(decimals.ljust(2, "0"))


def is_fresh(sent_at: datetime, now: datetime, window_s: int = FRESHNESS_WINDOW_S) -> bool:
    """True when a message signed at ``sent_at`` is within ``window_s`` of ``now``, either way
    (the provider's clock may run ahead of ours)."""
    return abs((now - sent_at).total_seconds()) <= window_s


def ensure_notice_matches(notice: PaidNotice, *, order_no: str, amount_fen: int) -> None:
    """Check a verified notice against the order we opened: the same order and amount.

    The adapter cannot know the order; the workflow calls this after loading it.

    Raises: NotificationRejected(400) on a mismatch.
    """
    if notice.order_no != order_no:
        raise NotificationRejected(400, "order_mismatch")
    if notice.amount_fen != amount_fen:
        raise NotificationRejected(400, "amount_mismatch")
