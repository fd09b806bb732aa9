"""The driver's wallet: balance, and the statement (top-ups, prepaid holds, bills, refunds)."""

from __future__ import annotations

from typing import Any

from functions.driver_api import wiring
from functions.driver_api.models import EntriesQuery, EntryPage, EntryView, WalletView
from functions.driver_api.routes.common import driver, dump
from shared.http_api import DocumentedRouter, parse_query
from shared.services import driver_wallets

router = DocumentedRouter("wallet")


@router.operation(
    "GET", "/driver/wallet", "The wallet's balance, held and available amounts", response=WalletView
)
def wallet() -> dict[str, Any]:
    who = driver(router)
    found = driver_wallets.wallet_of(wiring.ledger(), who.user_id)
    return dump(
        WalletView(
            balance_fen=found.balance_fen,
            held_fen=found.held_fen,
            available_fen=found.available_fen,
            is_frozen=found.is_frozen,
        )
    )


@router.operation(
    "GET",
    "/driver/wallet/entries",
    "The wallet's statement, newest first: top-ups, prepaid holds, bills and refunds",
    query=EntriesQuery,
    response=EntryPage,
)
def entries() -> dict[str, Any]:
    who = driver(router)
    query = parse_query(router.current_event, EntriesQuery)
    found, cursor = driver_wallets.wallet_entries(
        wiring.ledger(), who.user_id, limit=query.limit, cursor=query.next_token
    )
    items = [
        EntryView(
            transfer_id=entry.transfer_id,
            kind=entry.transfer_kind.value,
            amount_fen=entry.amount_fen,
            balance_after_fen=entry.balance_after_fen,
            posted_at=entry.posted_at,
            order_no=None if entry.details is None else entry.details.order_no,
            method=entry.method,
        )
        for entry in found
    ]
    return dump(EntryPage(items=items, next_token=cursor))
