"""Admin actions on drivers' wallets: read, audit trail, top up, refund, freeze, unfreeze,
cancel. Operator admins act on their own operator's drivers (another operator's answer
404), platform admins on any (naming ``?operator_id=``: a driver has one wallet per
operator); maintenance staff are refused (403)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

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
from shared.services.driver_accounts import USER_ID, DriverWallet

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


def _wallet_action(
    path: str, summary: str, body: type[BaseModel], *, status: int = 200
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``POST {ONE}/{path}``: an action on one driver's wallet (``?operator_id=`` names
    which), ``body`` in, the wallet after the action out."""
    return router.operation(
        "POST",
        f"{ONE}/{path}",
        summary,
        status=status,
        body=body,
        query=WalletQuery,
        response=DriverWalletView,
        path_patterns=IDS,
        errors=(404, 409),
    )


def _act(
    user_id: str, body: type[BaseModel], action: Callable[..., DriverWallet]
) -> dict[str, Any]:
    """``action`` (a ``driver_accounts`` use case) on the driver's wallet with the fields
    of the request's ``body``; the wallet after it."""
    user_id = _user(user_id)
    fields = parse_body(router.current_event, body).model_dump()
    wallet = action(
        wiring.ledger(),
        wiring.driver_accounts(),
        caller(router),
        user_id,
        clock=wiring.clock,
        operator_id=_operator(),
        **fields,
    )
    return dump(DriverWalletView.of(wallet))


@_wallet_action(
    "top-ups", "Credit a driver's wallet (idempotent on request_id)", DriverTopUpBody, status=201
)
def top_up(user_id: str) -> tuple[dict[str, Any], int]:
    return created(_act(user_id, DriverTopUpBody, accounts.top_up_driver))


@_wallet_action(
    "refunds",
    "Pay money back to a driver outside a session (idempotent on request_id)",
    DriverRefundBody,
    status=201,
)
def refund(user_id: str) -> tuple[dict[str, Any], int]:
    return created(_act(user_id, DriverRefundBody, accounts.refund_driver))


@_wallet_action(
    "freeze",
    "Freeze a driver's wallet: no top-up, refund or new payment until unfrozen",
    ReasonBody,
)
def freeze(user_id: str) -> dict[str, Any]:
    return _act(user_id, ReasonBody, accounts.freeze_driver)


@_wallet_action("unfreeze", "Unfreeze a driver's wallet", ReasonBody)
def unfreeze(user_id: str) -> dict[str, Any]:
    return _act(user_id, ReasonBody, accounts.unfreeze_driver)


@_wallet_action(
    "cancel",
    "Cancel a driver's account: pay its balance out and close it for good (409 while a "
    "charge holds money; call again once it has settled)",
    ReasonBody,
)
def cancel(user_id: str) -> dict[str, Any]:
    return _act(user_id, ReasonBody, accounts.cancel_driver)
