"""The daily reconciliation on moto: the reports function's scheduled job compares the
ledger's clearing entries (written like the payment workflow writes them) with a provider's
records, stores one report per operator, and the operator API serves them per tenant."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import pytest

from functions.operator_api import wiring
from functions.reports import handler as reports_handler
from functions.reports import wiring as reports_wiring
from shared.domain.ledger import TransferDetails, refund_transfer, top_up_transfer
from shared.services import wallets
from shared.services.reconciliation import RecordSource
from tests.conftest import FixedClock
from tests.integration.operator_api_support import (
    PLATFORM_ADMIN,
    LambdaContext,
    Tenant,
    api,
    call,
    tenants,
)

__all__ = ["api", "tenants"]

DAY = "2026-11-01"
# Within 2026-11-01 in Shanghai (the operator API's fixed clock is 10:00 there).
PAID_AT = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Record:
    order_no: str
    kind: str
    reference: str
    amount_fen: int
    at: datetime


class FakeProvider:
    def __init__(self, records: Sequence[Record]) -> None:
        self.records_ = list(records)
        self.days: list[date] = []

    def records(self, day: date) -> Sequence[Record]:
        self.days.append(day)
        return list(self.records_)


@pytest.fixture
def reports(api: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, RecordSource | None]]:
    """The reports function on the same moto, its providers replaced by fakes."""
    providers: dict[str, RecordSource | None] = {"wechat": None, "alipay": None, "sandbox": None}
    reports_wiring.reset()
    monkeypatch.setattr(reports_wiring, "providers", lambda: providers)
    monkeypatch.setattr(reports_wiring, "clock", FixedClock(PAID_AT + timedelta(days=1)))
    yield providers
    reports_wiring.reset()


def run_job(**extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = reports_handler.lambda_handler(
        {"job": "daily_reconciliation", **extra}, LambdaContext()
    )
    return result


def pay(tenant: Tenant, user: str, order_no: str, amount_fen: int, method: str) -> None:
    wiring.ledger().post_transfer(
        top_up_transfer(
            account_id=f"driver:{user}",
            operator_id=tenant.operator_id,
            amount_fen=amount_fen,
            reference=f"payment:{order_no}",
            method=method,
            actor="workflow",
            posted_at=PAID_AT,
            details=TransferDetails(order_no=order_no, user_id=user, transaction_type="prepay"),
        )
    )


def refund(tenant: Tenant, user: str, order_no: str, out_no: str, amount_fen: int) -> None:
    wiring.ledger().post_transfer(
        refund_transfer(
            account_id=f"driver:{user}",
            operator_id=tenant.operator_id,
            amount_fen=amount_fen,
            reference=f"refund:{out_no}",
            method="sandbox",
            actor="workflow",
            posted_at=PAID_AT + timedelta(hours=1),
            details=TransferDetails(order_no=order_no, user_id=user, transaction_type="refund"),
        )
    )


def put_order(order_no: str, operator_id: str) -> None:
    boto3.client("dynamodb").put_item(
        TableName=os.environ["LEDGER_TABLE"],
        Item={
            "pk": {"S": f"ORDER#{order_no}"},
            "sk": {"S": "ORDER"},
            "order_no": {"S": order_no},
            "operator_id": {"S": operator_id},
        },
    )


@pytest.fixture
def books(tenants: tuple[Tenant, Tenant]) -> tuple[Tenant, Tenant]:
    a, b = tenants
    for tenant, user in ((a, "u-a"), (b, "u-b")):
        wallets.open_wallet(
            wiring.ledger(),
            account_id=f"driver:{user}",
            operator_id=tenant.operator_id,
            owner="",
            clock=wiring.clock,
        )
    pay(a, "u-a", "ORD-A1", 400, "sandbox")
    refund(a, "u-a", "ORD-A1", "RF-A1", 100)
    pay(a, "u-a", "ORD-A2", 500, "sandbox")  # the provider never saw it
    pay(b, "u-b", "ORD-B1", 900, "sandbox")
    put_order("ORD-A9", a.operator_id)
    return a, b


def sandbox_records() -> list[Record]:
    return [
        Record("ORD-A1", "payment", "sbx-txn-1", 400, PAID_AT),
        Record("ORD-A1", "refund", "RF-A1", 100, PAID_AT + timedelta(hours=1)),
        Record("ORD-A9", "payment", "sbx-txn-9", 700, PAID_AT),  # paid, never in the ledger
        Record("ORD-B1", "payment", "sbx-txn-b", 950, PAID_AT),  # the ledger took 900
        Record("ORD-ZZ", "payment", "sbx-txn-z", 50, PAID_AT),  # nobody's order
    ]


def test_the_job_finds_every_difference_and_each_operator_reads_its_own(
    books: tuple[Tenant, Tenant], reports: dict[str, RecordSource | None]
) -> None:
    a, b = books
    provider = FakeProvider(sandbox_records())
    reports["sandbox"] = provider

    result = run_job()  # yesterday in Shanghai, by the reports clock

    assert result["day"] == DAY and provider.days == [date(2026, 11, 1)]
    assert sorted(result["unbalanced"]) == sorted([a.operator_id, b.operator_id, "PLATFORM"])
    assert result["differences"] == 4
    mine = call("GET", f"/operator/reconciliation/{DAY}", a.admin)
    assert mine.status == 200, mine.body
    assert mine.body["is_balanced"] is False
    assert {(d["problem"], d["order_no"]) for d in mine.body["differences"]} == {
        ("missing_at_provider", "ORD-A2"),
        ("missing_in_ledger", "ORD-A9"),
    }
    sandbox = next(m for m in mine.body["methods"] if m["method"] == "sandbox")
    assert sandbox["status"] == "compared" and sandbox["matched_count"] == 2
    assert (sandbox["ledger_payments_fen"], sandbox["ledger_refunds_fen"]) == (900, 100)
    wechat = next(m for m in mine.body["methods"] if m["method"] == "wechat")
    assert wechat["status"] == "provider_unavailable"
    theirs = call("GET", f"/operator/reconciliation/{DAY}", b.admin)
    (mismatch,) = theirs.body["differences"]
    assert (
        mismatch["problem"],
        mismatch["ledger_amount_fen"],
        mismatch["provider_amount_fen"],
    ) == (
        "amount_mismatch",
        900,
        950,
    )
    assert (
        call(
            "GET", f"/operator/reconciliation/{DAY}", a.admin, query={"operator_id": b.operator_id}
        ).status
        == 404
    )
    stray = call("GET", f"/operator/reconciliation/{DAY}/unattributed", PLATFORM_ADMIN)
    assert [d["order_no"] for d in stray.body["differences"]] == ["ORD-ZZ"]
    assert call("GET", f"/operator/reconciliation/{DAY}/unattributed", a.admin).status == 403


def test_matching_books_are_balanced_and_a_rerun_replaces_the_report(
    books: tuple[Tenant, Tenant], reports: dict[str, RecordSource | None]
) -> None:
    a, _ = books
    reports["sandbox"] = FakeProvider(sandbox_records())
    run_job(day=DAY)
    reports["sandbox"] = FakeProvider(
        [
            Record("ORD-A1", "payment", "sbx-txn-1", 400, PAID_AT),
            Record("ORD-A1", "refund", "RF-A1", 100, PAID_AT + timedelta(hours=1)),
            Record("ORD-A2", "payment", "sbx-txn-2", 500, PAID_AT),
            Record("ORD-B1", "payment", "sbx-txn-b", 900, PAID_AT),
        ]
    )

    result = run_job(day=DAY)

    assert result["unbalanced"] == [] and result["differences"] == 0
    report = call("GET", f"/operator/reconciliation/{DAY}", a.admin).body
    assert report["is_balanced"] is True and report["differences"] == []


def test_other_events_keep_their_placeholder_behaviour(
    reports: dict[str, RecordSource | None],
) -> None:
    http = reports_handler.lambda_handler({"requestContext": {}}, LambdaContext())
    stream = reports_handler.lambda_handler({"Records": [{}, {}]}, LambdaContext())
    unknown = reports_handler.lambda_handler({"job": "weekly"}, LambdaContext())
    bad_day = run_job(day="2026-02-30")

    assert http["statusCode"] == 501
    assert stream == {"batchItemFailures": []}
    assert "error" in unknown and "error" in bad_day
