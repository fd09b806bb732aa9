"""Payment orders of paid charging sessions: states, transitions and money invariants (pure).

One order per paid session (``order_no``), driven by the Step Functions workflow
(``infra/statemachines/payment_session.asl.json``, docs/payment-workflow.md):

    created --paid--> paid --remote start--> started --settle--> settled
        --refund unused--> refunded --profit share--> completed
    created --cancelled unpaid--> closed   (a payment arriving later is refunded in full)
    paid / started / settled / refunded --compensation--> failed

Money on an order, all integer fen: ``prepaid_fen`` is what the driver paid (or the wallet
held); the settlement splits it once into ``consumed_fen`` (min(cost, prepaid)) and
``refund_fen`` (the rest); ``refunded_fen`` is what went back; the profit share splits
``consumed_fen`` into ``partner_fen`` + ``platform_fen``. Invariants at the end of every
paid order: prepaid = consumed + refunded, consumed = partner + platform.

The order keeps the tariff version and the station's partner share it started under, so a
later change of either never reprices or resplits it; likewise the partner's receiver
account at the order's provider (``partner_account``, None when the station names none):
the provider-side share goes where the station said when the driver paid. Every
transition is a pure function returning a new order; the repository saves it
conditionally on the ``revision`` it was read at, so two writers never both win. A
transition asked again with the same facts answers the order unchanged (Step Functions
retries, replayed notifications); the same step with other facts is a ``Conflict``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from shared.domain.errors import ChargingError, Conflict, InvalidInput
from shared.domain.payments import (
    WECHAT_RECEIVER_TYPES,
    PartnerReceiver,
    PaymentMethod,
    check_order_no,
)
from shared.domain.pricing import ChargeTarget, Cost, CostLine
from shared.domain.tariffs import MAX_POWER_BANDS, PeriodKind

# A prepay is at most 1,000.00 yuan: far above any charge, a typo or an attack beyond it.
MAX_PREPAID_FEN = 100_000
# How long the driver has to pay (the workflow's WaitForPaid timeout is the same 15 minutes).
PAY_WITHIN = timedelta(minutes=15)
MAX_TOKEN_LENGTH = 2048
MAX_REASON_LENGTH = 256
# ``failure_detail``: why the session failed, short enough for a list, no payloads.
MAX_FAILURE_DETAIL = 200
# The bill's lines kept on a settled order (item size bounded; docs/payment-workflow.md):
# consecutive runs of one period kind (and power band) are merged; a charge with still more
# runs is summarized per period kind and band, at most 4 kinds x MAX_POWER_BANDS lines.
MAX_BILL_LINES = 4 * MAX_POWER_BANDS + 16
_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
_ID_TAG = re.compile(r"[!-~]{1,20}")


class OrderState(StrEnum):
    CREATED = "created"
    PAID = "paid"
    STARTED = "started"
    SETTLED = "settled"
    REFUNDED = "refunded"
    COMPLETED = "completed"
    CLOSED = "closed"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in (OrderState.COMPLETED, OrderState.CLOSED, OrderState.FAILED)

    @property
    def is_settled(self) -> bool:
        """The prepay has been split into consumed and refund (never decided twice)."""
        return self in (OrderState.SETTLED, OrderState.REFUNDED, OrderState.COMPLETED)


class PaymentOutcome(StrEnum):
    """What a verified "paid" notice did to its order."""

    RECORDED = "recorded"  # first time: the order is paid now
    REPEATED = "repeated"  # the same payment again: nothing changes
    LATE = "late"  # the order was closed unpaid: the payment is refunded in full


class SettleBasis(StrEnum):
    SESSION_END = "session_end"  # the pile reported the end
    SESSION_END_LOST = "session_end_lost"  # no end within 24 h: the last meter value counts
    COMPENSATION = "compensation"  # a failure after the start: what was recorded counts


@dataclass(frozen=True, slots=True)
class BillLine:
    """One line of a settled charge's bill: a run of one time-of-use period (by time: and
    one power band), gross of the discount. ``runs`` > 1: tariff runs merged into it (a
    summary line's ``starts_at``/``ends_at`` are its first start and last end)."""

    period_kind: PeriodKind
    starts_at: datetime
    ends_at: datetime
    energy_wh: int
    electricity_fen: int
    service_fen: int
    band_max_power_w: int | None = None
    runs: int = 1

    @property
    def amount_fen(self) -> int:
        return self.electricity_fen + self.service_fen

    def same_run(self, other: BillLine) -> bool:
        return (self.period_kind, self.band_max_power_w) == (
            other.period_kind,
            other.band_max_power_w,
        )

    def merged(self, other: BillLine) -> BillLine:
        """This line and ``other`` (of the same kind and band) as one."""
        return replace(
            self,
            starts_at=min(self.starts_at, other.starts_at),
            ends_at=max(self.ends_at, other.ends_at),
            energy_wh=self.energy_wh + other.energy_wh,
            electricity_fen=self.electricity_fen + other.electricity_fen,
            service_fen=self.service_fen + other.service_fen,
            runs=self.runs + other.runs,
        )

    @classmethod
    def of(cls, line: CostLine) -> BillLine:
        return cls(
            period_kind=line.period_kind,
            starts_at=line.starts_at,
            ends_at=line.ends_at,
            energy_wh=line.energy_wh,
            electricity_fen=line.electricity_fen,
            service_fen=line.service_fen,
            band_max_power_w=line.band_max_power_w,
        )


def bill_lines(cost: Cost, *, max_lines: int = MAX_BILL_LINES) -> tuple[BillLine, ...]:
    """The bill's lines of a priced charge, bounded: consecutive lines of one period kind
    and band merged; when more than ``max_lines`` remain, one summary line per (kind, band)
    in order of first use. Every merge only adds integers, so the lines keep summing to
    the cost's gross amount (``check_bill``)."""
    runs: list[BillLine] = []
    for line in map(BillLine.of, cost.lines):
        if runs and runs[-1].same_run(line):
            runs[-1] = runs[-1].merged(line)
        else:
            runs.append(line)
    if len(runs) <= max_lines:
        return tuple(runs)
    summary: dict[tuple[PeriodKind, int | None], BillLine] = {}
    for line in runs:
        key = (line.period_kind, line.band_max_power_w)
        summary[key] = summary[key].merged(line) if key in summary else line
    return tuple(summary.values())


def check_bill(lines: tuple[BillLine, ...], discount_fen: int, cost_fen: int) -> None:
    """Refuse a bill whose lines do not add up EXACTLY to the order's cost.

    Raises:
        InvalidInput: a negative figure, too many lines, or lines - discount != cost.
    """
    if len(lines) > MAX_BILL_LINES:
        raise InvalidInput(f"a bill has at most {MAX_BILL_LINES} lines", field="bill_lines")
    figures = [discount_fen, *(v for x in lines for v in (x.energy_wh, x.amount_fen))]
    if any(value < 0 for value in figures) or any(
        min(x.electricity_fen, x.service_fen) < 0 for x in lines
    ):
        raise InvalidInput("bill figures must not be negative", field="bill_lines")
    if sum(line.amount_fen for line in lines) - discount_fen != cost_fen:
        raise InvalidInput(
            "the bill's lines minus the discount must equal the cost", field="bill_lines"
        )


@dataclass(frozen=True, slots=True)
class PaymentOrder:
    """A paid session's order. ``revision`` counts saved changes (optimistic lock)."""

    order_no: str
    operator_id: str
    station_id: str
    pile_id: str
    gun_no: int
    user_id: str
    payer_id: str
    id_tag: str
    method: PaymentMethod
    prepaid_fen: int
    target_mode: str
    target_value: int | None
    tariff_id: str
    tariff_version: int
    partner_share_bp: int
    state: OrderState
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    revision: int = 0
    execution_arn: str | None = None
    client_params: dict[str, str] = field(default_factory=dict)
    pay_token: str | None = None
    provider_txn_id: str | None = None
    paid_fen: int = 0
    paid_at: datetime | None = None
    call_id: str | None = None
    session_id: str | None = None
    energy_wh: int = 0
    cost_fen: int = 0
    consumed_fen: int = 0
    refund_fen: int = 0
    settle_basis: SettleBasis | None = None
    settled_at: datetime | None = None
    refunded_fen: int = 0
    refund_status: str | None = None
    partner_fen: int = 0
    platform_fen: int = 0
    share_status: str | None = None
    # The site partner's receiver account at the order's provider, from the station when
    # the order was created (None: the operator keeps the partner's part and owes it).
    partner_account: str | None = None
    # What the provider sent to ``partner_account`` (0 when nothing was routed there).
    partner_shared_fen: int = 0
    # The receiver's WeChat type (MERCHANT_ID / PERSONAL_OPENID) and the name it is added
    # under at the provider (WeChat receiver name; Alipay: the station's partner name),
    # snapshot with the account: the share step adds the receiver before sharing to it.
    partner_account_kind: str | None = None
    partner_account_name: str | None = None
    late_txn_id: str | None = None
    late_fen: int = 0
    late_refund_status: str | None = None
    failure: str | None = None
    # Why, in a few safe words (the workflow error's cause: e.g. ``site_at_load_limit: the
    # site draws ...``), at most MAX_FAILURE_DETAIL characters, no provider bodies.
    failure_detail: str | None = None
    steps: tuple[str, ...] = ()
    # The bill, stored once at settlement (empty before it, and on orders settled before
    # bills were kept): its lines (gross) minus ``discount_fen`` equal ``cost_fen``.
    bill_lines: tuple[BillLine, ...] = ()
    discount_fen: int = 0

    @property
    def out_refund_no(self) -> str:
        """The one refund of the unused part (stable: retries refund once)."""
        return f"{self.order_no}-R1"

    @property
    def late_refund_no(self) -> str:
        """The refund of a payment that arrived after the order was closed."""
        return f"{self.order_no}-L1"

    @property
    def out_share_no(self) -> str:
        return f"{self.order_no}-S1"

    @property
    def partner_receiver(self) -> PartnerReceiver | None:
        """The partner's receiver to add at the provider before sharing to it, or None."""
        if self.partner_account is None:
            return None
        return PartnerReceiver(
            account=self.partner_account,
            kind=self.partner_account_kind,
            name=self.partner_account_name,
        )

    @property
    def hold_id(self) -> str:
        """The wallet hold that reserves the prepay while the pile charges."""
        return f"prepay:{self.order_no}"

    @property
    def is_paid(self) -> bool:
        return self.paid_fen > 0

    @property
    def is_wallet(self) -> bool:
        return self.method is PaymentMethod.WALLET

    def did(self, step: str) -> bool:
        return step in self.steps


# ---------------------------------------------------------------- validation


def _require_id(value: object, name: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InvalidInput(f"{name} must be 1..64 letters, digits, _ . : -", field=name)
    return value


def _require_int(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{name} must be an integer in {low}..{high}", field=name)
    return value


def _require_account(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= 100 or not value.isprintable():
        raise InvalidInput(
            "partner_account must be 1..100 printable characters", field="partner_account"
        )
    return value


def _require_receiver_kind(value: object) -> str | None:
    if value is None or (isinstance(value, str) and value in WECHAT_RECEIVER_TYPES):
        return value
    raise InvalidInput(
        "partner_account_kind must be MERCHANT_ID or PERSONAL_OPENID",
        field="partner_account_kind",
    )


def _require_receiver_name(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value.strip()) <= 100 or len(value) > 100:
        raise InvalidInput(
            "partner_account_name must be 1..100 characters", field="partner_account_name"
        )
    return value


def require_method(value: object) -> PaymentMethod:
    if isinstance(value, str) and value in set(PaymentMethod):
        return PaymentMethod(value)
    allowed = ", ".join(m.value for m in PaymentMethod)
    raise InvalidInput(f"method must be one of {allowed}", field="method")


def _require_target(mode: object, value: object) -> tuple[str, int | None]:
    target = ChargeTarget(mode, value)  # type: ignore[arg-type]
    return target.mode.value, target.value


def new_order(
    *,
    order_no: str,
    operator_id: str,
    station_id: str,
    pile_id: str,
    gun_no: int,
    user_id: str,
    payer_id: str,
    id_tag: str,
    method: object,
    prepaid_fen: object,
    target_mode: object,
    target_value: object,
    tariff_id: str,
    tariff_version: int,
    partner_share_bp: int,
    now: datetime,
    partner_account: str | None = None,
    partner_account_kind: str | None = None,
    partner_account_name: str | None = None,
) -> PaymentOrder:
    """A fresh order waiting for its payment.

    Raises:
        InvalidInput: any field malformed or out of range (nothing is created).
    """
    check_order_no(order_no)
    if not isinstance(id_tag, str) or not _ID_TAG.fullmatch(id_tag):
        raise InvalidInput("id_tag must be 1..20 printable ASCII characters", field="id_tag")
    if not isinstance(payer_id, str) or not 0 < len(payer_id) <= 128:
        raise InvalidInput("payer_id must be 1..128 characters", field="payer_id")
    mode, value = _require_target(target_mode, target_value)
    if now.tzinfo is None:
        raise InvalidInput("now must be aware", field="now")
    return PaymentOrder(
        order_no=order_no,
        operator_id=_require_id(operator_id, "operator_id"),
        station_id=_require_id(station_id, "station_id"),
        pile_id=_require_id(pile_id, "pile_id"),
        gun_no=_require_int(gun_no, "gun_no", 1, 999),
        user_id=_require_id(user_id, "user_id"),
        payer_id=payer_id,
        id_tag=id_tag,
        method=require_method(method),
        prepaid_fen=_require_int(prepaid_fen, "prepaid_fen", 1, MAX_PREPAID_FEN),
        target_mode=mode,
        target_value=value,
        tariff_id=_require_id(tariff_id, "tariff_id"),
        tariff_version=_require_int(tariff_version, "tariff_version", 1, 999_999),
        partner_share_bp=_require_int(partner_share_bp, "partner_share_bp", 0, 10_000),
        partner_account=_require_account(partner_account),
        partner_account_kind=(
            None if partner_account is None else _require_receiver_kind(partner_account_kind)
        ),
        partner_account_name=(
            None if partner_account is None else _require_receiver_name(partner_account_name)
        ),
        state=OrderState.CREATED,
        created_at=now,
        updated_at=now,
        expires_at=now + PAY_WITHIN,
    )


_REQUEST_FIELDS = (
    "operator_id",
    "station_id",
    "pile_id",
    "gun_no",
    "user_id",
    "payer_id",
    "id_tag",
    "method",
    "prepaid_fen",
    "target_mode",
    "target_value",
    "tariff_id",
    "tariff_version",
    "partner_share_bp",
)


def same_request(a: PaymentOrder, b: PaymentOrder) -> bool:
    """Two orders asked for the same thing (a retried start request)."""
    return all(getattr(a, key) == getattr(b, key) for key in _REQUEST_FIELDS)


# ---------------------------------------------------------------- transitions


def _done(order: PaymentOrder, step: str, now: datetime, **changes: object) -> PaymentOrder:
    steps = order.steps if step in order.steps else (*order.steps, step)
    return replace(order, steps=steps, updated_at=now, **changes)  # type: ignore[arg-type]


def _refuse(order: PaymentOrder, action: str) -> Conflict:
    return Conflict(
        f"order is {order.state.value}: cannot {action}",
        order_no=order.order_no,
        state=order.state.value,
    )


def with_prepay(
    order: PaymentOrder, *, execution_arn: str, client_params: dict[str, str], now: datetime
) -> PaymentOrder:
    """The provider order is open: what the mini-program needs to pay. Raises: Conflict."""
    if order.did("create_prepay_order"):
        return order
    if order.state is not OrderState.CREATED:
        raise _refuse(order, "open a prepay order")
    return _done(
        order,
        "create_prepay_order",
        now,
        execution_arn=execution_arn,
        client_params=dict(client_params),
    )


def with_pay_token(order: PaymentOrder, token: str, now: datetime) -> PaymentOrder:
    """Remember the callback token of ``wait_for_paid`` (a retry overwrites it)."""
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH:
        raise InvalidInput("task token must be 1..2048 characters", field="task_token")
    if order.pay_token == token:
        return order
    return replace(order, pay_token=token, updated_at=now)


def record_paid(
    order: PaymentOrder,
    *,
    provider_txn_id: str,
    amount_fen: int,
    paid_at: datetime,
    now: datetime,
) -> tuple[PaymentOrder, PaymentOutcome]:
    """Take a verified payment of the order once.

    Raises:
        Conflict: the amount is not the prepay, or another payment already paid the order.
    """
    if provider_txn_id in (order.provider_txn_id, order.late_txn_id):
        return order, PaymentOutcome.REPEATED
    if amount_fen != order.prepaid_fen:
        raise Conflict(
            "paid amount differs from the prepay",
            order_no=order.order_no,
            amount_fen=amount_fen,
            prepaid_fen=order.prepaid_fen,
        )
    if order.state is OrderState.CREATED:
        paid = _done(
            order,
            "paid",
            now,
            state=OrderState.PAID,
            provider_txn_id=provider_txn_id,
            paid_fen=amount_fen,
            paid_at=paid_at,
        )
        return paid, PaymentOutcome.RECORDED
    if not order.is_paid and order.late_txn_id is None and order.state.is_terminal:
        late = replace(order, late_txn_id=provider_txn_id, late_fen=amount_fen, updated_at=now)
        return late, PaymentOutcome.LATE
    raise Conflict(
        "order already paid by another payment",
        order_no=order.order_no,
        state=order.state.value,
    )


def record_wallet_hold(order: PaymentOrder, now: datetime) -> PaymentOrder:
    """A wallet payment: the hold placed on the driver's wallet is the payment."""
    if order.is_paid:
        return order
    if order.state is not OrderState.CREATED or not order.is_wallet:
        raise _refuse(order, "hold the wallet")
    return _done(
        order,
        "paid",
        now,
        state=OrderState.PAID,
        provider_txn_id=order.hold_id,
        paid_fen=order.prepaid_fen,
        paid_at=now,
    )


def record_late_refund(order: PaymentOrder, status: str, now: datetime) -> PaymentOrder:
    return replace(order, late_refund_status=status, updated_at=now)


def record_started(order: PaymentOrder, call_id: str, now: datetime) -> PaymentOrder:
    """The remote start went to the pile. Raises: Conflict unless paid."""
    if order.did("remote_start"):
        return order
    if order.state is not OrderState.PAID:
        raise _refuse(order, "start the pile")
    return _done(order, "remote_start", now, state=OrderState.STARTED, call_id=call_id)


def settle(
    order: PaymentOrder,
    *,
    cost_fen: int,
    consumed_fen: int,
    energy_wh: int,
    session_id: str | None,
    basis: SettleBasis,
    now: datetime,
    bill: tuple[BillLine, ...] = (),
    discount_fen: int = 0,
) -> PaymentOrder:
    """Split the prepay once into consumed and refund (``consumed_fen`` from pricing's
    ``settle``: min(cost, prepaid)) and keep the bill's lines (``bill_lines``). A second
    settlement answers the first (its lines included).

    Raises:
        Conflict: not paid, or already closed/failed.
        InvalidInput: amounts that break prepaid = consumed + refund, or bill lines that do
            not add up to the cost (``check_bill``).
    """
    if order.state.is_settled:
        return order
    if order.state not in (OrderState.PAID, OrderState.STARTED) or not order.is_paid:
        raise _refuse(order, "settle")
    _require_int(cost_fen, "cost_fen", 0, 1_000_000_000)
    _require_int(energy_wh, "energy_wh", 0, 1_000_000_000)
    if consumed_fen != min(cost_fen, order.prepaid_fen):
        raise InvalidInput("consumed_fen must be min(cost, prepaid)", field="consumed_fen")
    if bill or discount_fen:
        check_bill(bill, discount_fen, cost_fen)
    return _done(
        order,
        "settle_cost",
        now,
        state=OrderState.SETTLED,
        cost_fen=cost_fen,
        consumed_fen=consumed_fen,
        refund_fen=order.prepaid_fen - consumed_fen,
        energy_wh=energy_wh,
        session_id=session_id or order.session_id,
        settle_basis=basis,
        settled_at=now,
        bill_lines=tuple(bill),
        discount_fen=discount_fen,
    )


def record_refunded(order: PaymentOrder, status: str, now: datetime) -> PaymentOrder:
    """The unused part went back (``status`` success/processing, ``none`` for 0 fen)."""
    if order.state in (OrderState.REFUNDED, OrderState.COMPLETED, OrderState.FAILED):
        return order
    if order.state is not OrderState.SETTLED:
        raise _refuse(order, "refund")
    return _done(
        order,
        "refund_unused",
        now,
        state=OrderState.REFUNDED,
        refunded_fen=order.refund_fen,
        refund_status=status,
    )


def record_shared(
    order: PaymentOrder,
    *,
    partner_fen: int,
    platform_fen: int,
    status: str,
    now: datetime,
    partner_shared_fen: int = 0,
) -> PaymentOrder:
    """The consumed money is split: the order is complete. ``partner_shared_fen`` is what
    the provider sent to the partner's account (0..``partner_fen``: capped at the provider's
    maximum share ratio; the rest the operator owes the partner in the ledger).

    Raises:
        Conflict: not refunded yet.
        InvalidInput: parts that do not sum to the consumed amount.
    """
    if order.state is OrderState.COMPLETED:
        return order
    if order.state is not OrderState.REFUNDED:
        raise _refuse(order, "share the profit")
    if partner_fen < 0 or platform_fen < 0 or partner_fen + platform_fen != order.consumed_fen:
        raise InvalidInput("split parts must sum to the consumed amount", field="partner_fen")
    _check_shared(partner_shared_fen, partner_fen)
    return _done(
        order,
        "share_profit",
        now,
        state=OrderState.COMPLETED,
        partner_fen=partner_fen,
        platform_fen=platform_fen,
        share_status=status,
        partner_shared_fen=partner_shared_fen,
    )


def _check_shared(partner_shared_fen: int, partner_fen: int) -> None:
    if not 0 <= partner_shared_fen <= partner_fen:
        raise InvalidInput(
            "the provider shares at most the partner's part", field="partner_shared_fen"
        )


def close_unpaid(
    order: PaymentOrder, reason: str, now: datetime, *, detail: str | None = None
) -> PaymentOrder:
    """Cancel an order nobody paid; ``detail`` from ``failure_detail``. Raises: Conflict
    once paid."""
    if order.state is OrderState.CLOSED:
        return order
    if order.state is not OrderState.CREATED:
        raise _refuse(order, "close unpaid")
    return _done(
        order,
        "full_refund_or_cancel",
        now,
        state=OrderState.CLOSED,
        failure=reason[:MAX_REASON_LENGTH],
        failure_detail=_bounded_detail(detail),
    )


def fail_refunded(
    order: PaymentOrder,
    *,
    reason: str,
    partner_fen: int,
    platform_fen: int,
    share_status: str | None,
    now: datetime,
    partner_shared_fen: int = 0,
    detail: str | None = None,
) -> PaymentOrder:
    """Compensation done: the settled order's unused part is back and what was consumed is
    split; the session failed. Raises: Conflict unless settled, InvalidInput on the parts."""
    if order.state is OrderState.FAILED:
        return order
    if not order.state.is_settled or order.state is OrderState.COMPLETED:
        raise _refuse(order, "fail")
    if partner_fen + platform_fen != order.consumed_fen:
        raise InvalidInput("split parts must sum to the consumed amount", field="partner_fen")
    _check_shared(partner_shared_fen, partner_fen)
    return _done(
        order,
        "full_refund_or_cancel",
        now,
        state=OrderState.FAILED,
        partner_shared_fen=partner_shared_fen,
        refunded_fen=order.refund_fen,
        refund_status=order.refund_status or "compensated",
        partner_fen=partner_fen,
        platform_fen=platform_fen,
        share_status=share_status,
        failure=reason[:MAX_REASON_LENGTH],
        failure_detail=_bounded_detail(detail),
    )


# ---------------------------------------------------------------- failure detail


def _bounded_detail(detail: str | None) -> str | None:
    return None if detail is None else failure_detail(detail)


def _error_class_names() -> frozenset[str]:
    names: set[str] = set()
    pending: list[type[ChargingError]] = [ChargingError]
    while pending:
        cls = pending.pop()
        names.add(cls.__name__)
        pending.extend(cls.__subclasses__())
    return frozenset(names)


def failure_detail(cause: object) -> str | None:
    """A short, safe text of why a workflow failed, from its error's ``Cause``.

    - A Lambda task error's cause is JSON (``errorType``, ``errorMessage``, stack trace):
      the project's own error classes keep ``Type: message`` (their messages are ours and
      carry no provider bodies), any other error only its type; the stack trace never.
    - A cause the platform sent itself (``SendTaskFailure`` from the pile side, e.g.
      ``site_at_load_limit: the site draws ...``) is kept as it is.
    - Control characters become spaces, runs of spaces one, at most MAX_FAILURE_DETAIL
      characters (cut with ``...``); nothing left -> None.
    """
    if not isinstance(cause, str) or not cause.strip():
        return None
    text = cause
    if cause.lstrip().startswith("{"):
        try:
            parsed = json.loads(cause)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            error_type = parsed.get("errorType")
            message = parsed.get("errorMessage")
            if not isinstance(error_type, str) or not re.fullmatch(
                r"[A-Za-z_][\w.]{0,63}", error_type
            ):
                return None
            if error_type in _error_class_names() and isinstance(message, str) and message:
                text = f"{error_type}: {message}"
            else:
                text = error_type
    cleaned = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    if not cleaned:
        return None
    if len(cleaned) > MAX_FAILURE_DETAIL:
        cleaned = cleaned[: MAX_FAILURE_DETAIL - 3].rstrip() + "..."
    return cleaned


# ---------------------------------------------------------------- invariants


def money_problems(order: PaymentOrder) -> list[str]:
    """Broken money invariants of an order (empty when it is sound).

    Always: amounts never negative, refunded <= prepaid. Once settled: prepaid = consumed +
    refund. At the end: completed/failed: prepaid = consumed + refunded and consumed =
    partner + platform; closed: nothing consumed, a late payment refunded in full. A
    stored bill: its lines minus the discount equal the cost.
    """
    problems: list[str] = []
    amounts = (
        order.paid_fen,
        order.consumed_fen,
        order.refund_fen,
        order.refunded_fen,
        order.partner_fen,
        order.platform_fen,
    )
    if any(amount < 0 for amount in amounts):
        problems.append("negative amount")
    if order.is_paid and order.paid_fen != order.prepaid_fen:
        problems.append("paid != prepaid")
    settled = order.state.is_settled or order.state is OrderState.FAILED
    if settled and order.consumed_fen + order.refund_fen != order.prepaid_fen:
        problems.append("prepaid != consumed + refund")
    if order.state in (OrderState.COMPLETED, OrderState.FAILED):
        if order.consumed_fen + order.refunded_fen != order.prepaid_fen:
            problems.append("prepaid != consumed + refunded")
        if order.partner_fen + order.platform_fen != order.consumed_fen:
            problems.append("consumed != partner + platform")
        if not 0 <= order.partner_shared_fen <= order.partner_fen:
            problems.append("provider share > partner part")
    if order.state is OrderState.CLOSED and (order.is_paid or order.consumed_fen):
        problems.append("closed order holds money")
    if order.late_txn_id is not None and order.late_refund_status is None:
        problems.append("late payment not refunded")
    gross_fen = sum(line.amount_fen for line in order.bill_lines)
    if (order.bill_lines or order.discount_fen) and gross_fen - order.discount_fen != (
        order.cost_fen
    ):
        problems.append("bill lines - discount != cost")
    return problems


def new_order_no(now: datetime, random_hex: str) -> str:
    """``PO`` + UTC yymmddHHMMSS + 12 hex: time-sortable, within the providers' 32."""
    if not re.fullmatch(r"[0-9a-f]{12}", random_hex):
        raise InvalidInput("random_hex must be 12 lowercase hex digits", field="random_hex")
    return f"PO{now.strftime('%y%m%d%H%M%S')}{random_hex}"


__all__ = [
    "MAX_BILL_LINES",
    "MAX_PREPAID_FEN",
    "BillLine",
    "OrderState",
    "PaymentOrder",
    "PaymentOutcome",
    "SettleBasis",
    "bill_lines",
    "check_bill",
    "close_unpaid",
    "fail_refunded",
    "failure_detail",
    "money_problems",
    "new_order",
    "new_order_no",
    "record_late_refund",
    "record_paid",
    "record_refunded",
    "record_shared",
    "record_started",
    "record_wallet_hold",
    "same_request",
    "settle",
    "with_pay_token",
    "with_prepay",
]
