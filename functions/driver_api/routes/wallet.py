"""The driver's wallets (one per operator, named by ``?operator_id=`` or ``?station_id=``;
``GET /driver/wallets`` lists them all): balance, the statement (top-ups, prepaid holds,
bills, refunds), and top-ups paid through WeChat Pay, Alipay or the sandbox
(shared/services/wallet_topups.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from functions.driver_api import wiring
from functions.driver_api.models import (
    TOPUP_NO,
    EntriesQuery,
    EntryPage,
    EntryView,
    TopUpBody,
    TopUpPage,
    TopUpsQuery,
    TopUpView,
    WalletItemView,
    WalletList,
    WalletQuery,
    WalletView,
)
from functions.driver_api.routes.common import driver, dump, path_id
from shared.http_api import DocumentedRouter, created, parse_body, parse_query
from shared.services import driver_wallets

if TYPE_CHECKING:
    from shared.domain.topup_orders import TopUpOrder

router = DocumentedRouter("wallet")


@router.operation(
    "GET",
    "/driver/wallet",
    "The balance, held and available amounts of the driver's wallet at an operator (named, "
    "or the operator of the named station)",
    query=WalletQuery,
    response=WalletView,
    errors=(404,),
)
def wallet() -> dict[str, Any]:
    who = driver(router)
    query = parse_query(router.current_event, WalletQuery)
    operator_id = driver_wallets.wallet_operator(
        wiring.base_data(), operator_id=query.operator_id, station_id=query.station_id
    )
    found = driver_wallets.wallet_of(wiring.ledger(), operator_id, who.user_id)
    return dump(
        WalletView(
            operator_id=found.operator_id,
            balance_fen=found.balance_fen,
            held_fen=found.held_fen,
            available_fen=found.available_fen,
            is_frozen=found.is_frozen,
        )
    )


@router.operation(
    "GET",
    "/driver/wallets",
    "Every wallet of the driver (one per operator they paid or topped up at) with its "
    "balance, held and available amounts and the operator's name",
    response=WalletList,
)
def all_wallets() -> dict[str, Any]:
    who = driver(router)
    found = driver_wallets.list_wallets(wiring.ledger(), who.user_id, operators=wiring.operators())
    items = [
        WalletItemView(
            operator_id=w.operator_id,
            operator_name=w.operator_name,
            balance_fen=w.balance_fen,
            held_fen=w.held_fen,
            available_fen=w.available_fen,
            is_frozen=w.is_frozen,
        )
        for w in found
    ]
    return dump(WalletList(items=items))


@router.operation(
    "GET",
    "/driver/wallet/entries",
    "The statement of the driver's wallet at an operator, newest first: top-ups, prepaid "
    "holds, bills and refunds",
    query=EntriesQuery,
    response=EntryPage,
    errors=(404,),
)
def entries() -> dict[str, Any]:
    who = driver(router)
    query = parse_query(router.current_event, EntriesQuery)
    operator_id = driver_wallets.wallet_operator(
        wiring.base_data(), operator_id=query.operator_id, station_id=query.station_id
    )
    found, cursor = driver_wallets.wallet_entries(
        wiring.ledger(), operator_id, who.user_id, limit=query.limit, cursor=query.next_token
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


def topup_view(order: TopUpOrder) -> TopUpView:
    return TopUpView(
        order_no=order.order_no,
        state=order.state.value,
        method=order.method.value,
        amount_fen=order.amount_fen,
        created_at=order.created_at,
        pay_by=order.expires_at,
        paid_at=order.paid_at,
        client_params=dict(order.client_params),
    )


@router.operation(
    "POST",
    "/driver/wallet/top-ups",
    "Top the wallet up through a payment provider: the order with the app's pay parameters",
    status=201,
    body=TopUpBody,
    response=TopUpView,
    errors=(404, 409),
)
def start_topup() -> tuple[dict[str, Any], int]:
    from shared.services import wallet_topups

    who = driver(router)
    body = parse_body(router.current_event, TopUpBody)
    order = wallet_topups.start_topup(
        wiring.topup_ports(),
        who.user_id,
        who.app,
        wallet_topups.TopUpRequest(
            request_id=body.request_id,
            amount_fen=body.amount_fen,
            method=body.method,
            station_id=body.station_id,
            operator_id=body.operator_id,
        ),
    )
    return created(dump(topup_view(order)))


@router.operation(
    "GET",
    "/driver/wallet/top-ups",
    "The driver's top-ups, newest first",
    query=TopUpsQuery,
    response=TopUpPage,
)
def topups() -> dict[str, Any]:
    from shared.services import wallet_topups

    who = driver(router)
    query = parse_query(router.current_event, TopUpsQuery)
    found, cursor = wallet_topups.list_topups(
        wiring.topup_ports(), who.user_id, limit=query.limit, before=query.next_token
    )
    return dump(TopUpPage(items=[topup_view(o) for o in found], next_token=cursor))


@router.operation(
    "GET",
    "/driver/wallet/top-ups/<order_no>",
    "One top-up: paid yet?",
    response=TopUpView,
    path_patterns={"order_no": TOPUP_NO},
    errors=(404,),
)
def topup(order_no: str) -> dict[str, Any]:
    from shared.services import wallet_topups

    who = driver(router)
    order_no = path_id(order_no, TOPUP_NO, "top-up")
    return dump(topup_view(wallet_topups.get_topup(wiring.topup_ports(), who.user_id, order_no)))
