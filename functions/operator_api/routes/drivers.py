"""Admin actions on drivers' wallets: read, audit trail, top up, refund, freeze, unfreeze,
cancel. Operator admins act on their own operator's drivers (another operator's answer
404), platform admins on any (naming ``?operator_id=``: a driver has one wallet per
operator); maintenance staff are refused (403)."""

from __future__ import annotations

from typing import Any

from functions.operator_api import wiring
from functions.operator_api.routes.common import caller, dump, path_id
from functions.operator_api.routes.drivers_models import (
    AuditPageView,
    AuditQuery,
    AuditView,
    DriverRefundBody,
    DriverTopUpBody,
    DriverWalletView,
    ReasonBody,
    WalletQuery,
)
from shared.http_api import DocumentedRouter, created, parse_body, parse_query
from shared.services import driver_accounts as accounts
from shared.services.driver_accounts import USER_ID

router = DocumentedRouter("drivers")
ONE = "/operator/drivers/<user_id>"
IDS = {"user_id": USER_ID}


def _user(user_id: str) -> str:
    return path_id(user_id, USER_ID, "driver")


def _operator() -> str | None:
    """``?operator_id=``: which of the driver's wallets (one per operator)."""
    return parse_query(router.current_event, WalletQuery).operator_id


@router.operation(
    "GET",
    f"{ONE}/wallet",
    "A driver's wallet: balance, money on hold, status",
    response=DriverWalletView,
    query=WalletQuery,
    path_patterns=IDS,
    errors=(404,),
)
def get_wallet(user_id: str) -> dict[str, Any]:
    wallet = accounts.get_driver_wallet(
        wiring.ledger(),
        wiring.driver_accounts(),
        caller(router),
        _user(user_id),
        operator_id=_operator(),
    )
    return dump(DriverWalletView.of(wallet))


@router.operation(
    "GET",
    f"{ONE}/audit",
    "Who did what to a driver's wallet and why, newest first",
    query=AuditQuery,
    response=AuditPageView,
    path_patterns=IDS,
    errors=(404,),
)
def list_audit(user_id: str) -> dict[str, Any]:
    user_id = _user(user_id)
    query = parse_query(router.current_event, AuditQuery)
    page = accounts.list_driver_audit(
        wiring.ledger(),
        wiring.driver_accounts(),
        caller(router),
        user_id,
        limit=query.limit,
        cursor=query.next_token,
        operator_id=query.operator_id,
    )
    return {
        "items": [dump(AuditView.of(record)) for record in page.records],
        "next_token": page.next_cursor,
    }


@router.operation(
    "POST",
    f"{ONE}/top-ups",
    "Credit a driver's wallet (idempotent on request_id)",
    status=201,
    body=DriverTopUpBody,
    query=WalletQuery,
    response=DriverWalletView,
    path_patterns=IDS,
    errors=(404, 409),
)
def top_up(user_id: str) -> tuple[dict[str, Any], int]:
    user_id = _user(user_id)
    body = parse_body(router.current_event, DriverTopUpBody)
    wallet = accounts.top_up_driver(
        wiring.ledger(),
        wiring.driver_accounts(),
        caller(router),
        user_id,
        amount_fen=body.amount_fen,
        request_id=body.request_id,
        method=body.method,
        reason=body.reason,
        clock=wiring.clock,
        operator_id=_operator(),
    )
    return created(dump(DriverWalletView.of(wallet)))


@router.operation(
    "POST",
    f"{ONE}/refunds",
    "Pay money back to a driver outside a session (idempotent on request_id)",
    status=201,
    body=DriverRefundBody,
    query=WalletQuery,
    response=DriverWalletView,
    path_patterns=IDS,
    errors=(404, 409),
)
def refund(user_id: str) -> tuple[dict[str, Any], int]:
    user_id = _user(user_id)
    body = parse_body(router.current_event, DriverRefundBody)
    wallet = accounts.refund_driver(
        wiring.ledger(),
        wiring.driver_accounts(),
        caller(router),
        user_id,
        amount_fen=body.amount_fen,
        request_id=body.request_id,
        reason=body.reason,
        clock=wiring.clock,
        operator_id=_operator(),
    )
    return created(dump(DriverWalletView.of(wallet)))


def _reasoned(user_id: str, action: Any) -> dict[str, Any]:
    user_id = _user(user_id)
    body = parse_body(router.current_event, ReasonBody)
    wallet = action(
        wiring.ledger(),
        wiring.driver_accounts(),
        caller(router),
        user_id,
        reason=body.reason,
        clock=wiring.clock,
        operator_id=_operator(),
    )
    return dump(DriverWalletView.of(wallet))


@router.operation(
    "POST",
    f"{ONE}/freeze",
    "Freeze a driver's wallet: no top-up, refund or new payment until unfrozen",
    body=ReasonBody,
    query=WalletQuery,
    response=DriverWalletView,
    path_patterns=IDS,
    errors=(404, 409),
)
def freeze(user_id: str) -> dict[str, Any]:
    return _reasoned(user_id, accounts.freeze_driver)


@router.operation(
    "POST",
    f"{ONE}/unfreeze",
    "Unfreeze a driver's wallet",
    body=ReasonBody,
    query=WalletQuery,
    response=DriverWalletView,
    path_patterns=IDS,
    errors=(404, 409),
)
def unfreeze(user_id: str) -> dict[str, Any]:
    return _reasoned(user_id, accounts.unfreeze_driver)


@router.operation(
    "POST",
    f"{ONE}/cancel",
    "Cancel a driver's account: pay its balance out and close it for good (409 while a "
    "charge holds money; call again once it has settled)",
    body=ReasonBody,
    query=WalletQuery,
    response=DriverWalletView,
    path_patterns=IDS,
    errors=(404, 409),
)
def cancel(user_id: str) -> dict[str, Any]:
    return _reasoned(user_id, accounts.cancel_driver)
