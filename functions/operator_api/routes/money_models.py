"""Query and response models of the money routes: the transaction list and its export, and
the daily reconciliation reports. Money is int fen (signed from the wallet's side on a
transaction row), days are Asia/Shanghai ``YYYY-MM-DD``, times RFC 3339 UTC with ``Z``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from functions.operator_api.models import PAGING_HELP, OperatorId, Query, View, WireTime
from shared.services.money_reports import TransactionRow
from shared.services.reconciliation import Difference, MethodSummary, ReconciliationReport

DAY = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
Day = Annotated[str, StringConstraints(pattern=DAY)]
TYPE_NAMES = (
    "prepay, consume, refund, top_up, withdrawal, admin_refund, other; profit_share (listed "
    "only when asked for: the operator's split of consumed money)"
)


class TransactionQuery(Query):
    operator_id: OperatorId | None = Field(
        None, description="Required for a platform admin; staff may omit it or give their own"
    )
    from_on: Day | None = Field(
        None, alias="from", description="First local (Asia/Shanghai) day; default: to"
    )
    to_on: Day | None = Field(None, alias="to", description="Last local day; default: today")
    type: (
        Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,20}(,[a-z_]{1,20}){0,7}$")] | None
    ) = Field(None, description=f"Comma-separated types: {TYPE_NAMES}")
    q: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        None, description="Text in the order no., user, phone or pile (any case)"
    )
    limit: int = Field(50, ge=1, le=100)
    next_token: str | None = Field(None, min_length=1, max_length=512, description=PAGING_HELP)
    format: Literal["json", "csv"] = Field(
        "json", description="csv: the whole range as a file, like /operator/transactions.csv"
    )

    def types(self) -> list[str]:
        return [] if self.type is None else self.type.split(",")


class TransactionView(View):
    transfer_id: str = Field(description="The ledger transfer (its business reference)")
    order_no: str
    posted_at: WireTime
    account_id: str = Field(description="The wallet: driver:{user_id} or card:{card_no}")
    user_id: str
    user_name: str | None
    phone: str | None
    pile_name: str | None
    pile_id: str | None
    type: str = Field(description=TYPE_NAMES)
    kind: str = Field(description="The ledger transfer kind")
    method: str | None
    amount_fen: int = Field(description="Signed from the wallet's side: + credit, - debit")
    balance_after_fen: int | None = Field(description="The wallet's balance right after it")

    @classmethod
    def of(cls, row: TransactionRow) -> TransactionView:
        return cls(
            transfer_id=row.transfer_id,
            order_no=row.order_no,
            posted_at=row.posted_at,
            account_id=row.account_id,
            user_id=row.user_id,
            user_name=row.user_name,
            phone=row.phone,
            pile_name=row.pile_name,
            pile_id=row.pile_id,
            type=row.type.value,
            kind=row.kind,
            method=row.method,
            amount_fen=row.amount_fen,
            balance_after_fen=row.balance_after_fen,
        )


class TransactionPage(View):
    items: list[TransactionView] = Field(description="Newest first; a filtered page may be short")
    next_token: str | None = Field(description=PAGING_HELP)


class ReconciliationQuery(Query):
    operator_id: OperatorId | None = Field(
        None, description="Required for a platform admin; staff may omit it or give their own"
    )


class MethodSummaryView(View):
    method: str
    status: Literal["compared", "provider_unavailable", "provider_failed"]
    ledger_payments_fen: int
    ledger_refunds_fen: int
    provider_payments_fen: int
    provider_refunds_fen: int
    ledger_count: int
    provider_count: int
    matched_count: int

    @classmethod
    def of(cls, summary: MethodSummary) -> MethodSummaryView:
        return cls(
            method=summary.method,
            status=summary.status.value,
            ledger_payments_fen=summary.ledger_payments_fen,
            ledger_refunds_fen=summary.ledger_refunds_fen,
            provider_payments_fen=summary.provider_payments_fen,
            provider_refunds_fen=summary.provider_refunds_fen,
            ledger_count=summary.ledger_count,
            provider_count=summary.provider_count,
            matched_count=summary.matched_count,
        )


class DifferenceView(View):
    method: str
    kind: Literal["payment", "refund"]
    problem: Literal["missing_in_ledger", "missing_at_provider", "amount_mismatch"]
    order_no: str | None
    reference: str
    ledger_amount_fen: int | None
    provider_amount_fen: int | None
    transfer_id: str | None
    at: WireTime

    @classmethod
    def of(cls, difference: Difference) -> DifferenceView:
        return cls(
            method=difference.method,
            kind=difference.kind,
            problem=difference.problem.value,
            order_no=difference.order_no,
            reference=difference.reference,
            ledger_amount_fen=difference.ledger_amount_fen,
            provider_amount_fen=difference.provider_amount_fen,
            transfer_id=difference.transfer_id,
            at=difference.at,
        )


class ReconciliationView(View):
    scope: str = Field(description="The operator id, or PLATFORM for records no operator owns")
    day: str
    generated_at: WireTime
    is_balanced: bool
    methods: list[MethodSummaryView]
    differences: list[DifferenceView] = Field(description="At most 500 are kept")
    differences_total: int

    @classmethod
    def of(cls, report: ReconciliationReport) -> ReconciliationView:
        return cls(
            scope=report.scope,
            day=report.day.isoformat(),
            generated_at=report.generated_at,
            is_balanced=report.is_balanced,
            methods=[MethodSummaryView.of(m) for m in report.methods],
            differences=[DifferenceView.of(d) for d in report.differences],
            differences_total=report.differences_total,
        )
