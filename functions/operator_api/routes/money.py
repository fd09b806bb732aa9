"""Money for operator admins: the transaction list (JSON pages or a CSV file for Excel) and
the daily reconciliation reports. Maintenance staff are refused (403); another operator's
money does not exist for the caller (404)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from functions.operator_api import wiring
from functions.operator_api.routes.common import caller, dump
from functions.operator_api.routes.money_models import (
    DAY,
    ReconciliationQuery,
    ReconciliationView,
    TransactionPage,
    TransactionQuery,
    TransactionView,
)
from shared.domain.clock import local_day
from shared.http_api import DocumentedRouter, parse_query
from shared.services import money_reports, reconciliation
from shared.services.money_reports import TransactionFilter

router = DocumentedRouter("money")
DAY_PATTERN = {"day": DAY}


def _selection(query: TransactionQuery) -> TransactionFilter:
    return money_reports.transaction_filter(
        caller(router),
        operator_id=query.operator_id,
        from_on=None if query.from_on is None else reconciliation.parse_day(query.from_on),
        to_on=None if query.to_on is None else reconciliation.parse_day(query.to_on),
        types=query.types(),
        text=query.q,
        today=local_day(wiring.clock()),
    )


def _csv(selection: TransactionFilter) -> Response[str]:
    rows = money_reports.all_transactions(
        wiring.transaction_index(), wiring.row_directory(), selection
    )
    name = f"transactions-{selection.from_on.isoformat()}_{selection.to_on.isoformat()}.csv"
    return Response(
        status_code=200,
        content_type="text/csv; charset=utf-8",
        body=money_reports.transactions_csv(rows),
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.operation(
    "GET",
    "/operator/transactions",
    "Transactions of wallets (drivers, cards), newest first, by local day, type and text",
    query=TransactionQuery,
    response=TransactionPage,
    errors=(404,),
)
def list_transactions() -> dict[str, Any] | Response[str]:
    query = parse_query(router.current_event, TransactionQuery)
    selection = _selection(query)
    if query.format == "csv":
        return _csv(selection)
    page = money_reports.list_transactions(
        wiring.transaction_index(),
        wiring.row_directory(),
        selection,
        limit=query.limit,
        cursor=query.next_token,
    )
    return {
        "items": [dump(TransactionView.of(row)) for row in page.rows],
        "next_token": page.next_cursor,
    }


@router.operation(
    "GET",
    "/operator/transactions.csv",
    "The transactions of the range as CSV (UTF-8 with BOM, for Excel; at most 10,000 rows)",
    query=TransactionQuery,
    errors=(404,),
)
def export_transactions() -> Response[str]:
    query = parse_query(router.current_event, TransactionQuery)
    return _csv(_selection(query))


@router.operation(
    "GET",
    "/operator/reconciliation/<day>",
    "The day's reconciliation of the ledger with the payment providers' records",
    query=ReconciliationQuery,
    response=ReconciliationView,
    path_patterns=DAY_PATTERN,
    errors=(404,),
)
def get_reconciliation(day: str) -> dict[str, Any]:
    query = parse_query(router.current_event, ReconciliationQuery)
    report = reconciliation.get_reconciliation(
        wiring.reconciliation_reports(),
        caller(router),
        query.operator_id,
        reconciliation.parse_day(day),
    )
    return dump(ReconciliationView.of(report))


@router.operation(
    "GET",
    "/operator/reconciliation/<day>/unattributed",
    "Provider records of the day no operator owns (platform admins)",
    response=ReconciliationView,
    path_patterns=DAY_PATTERN,
    errors=(404,),
)
def get_platform_reconciliation(day: str) -> dict[str, Any]:
    report = reconciliation.get_platform_reconciliation(
        wiring.reconciliation_reports(), caller(router), reconciliation.parse_day(day)
    )
    return dump(ReconciliationView.of(report))
