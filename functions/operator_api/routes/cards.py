"""Card users (RFID/IC cards): issue, list, read with balance, top up, freeze, unbind."""

from __future__ import annotations

from typing import Any

from functions.operator_api import wiring
from functions.operator_api.models import (
    CARD_NO,
    CardCreate,
    CardPage,
    CardView,
    OwnedPageQuery,
    TopUpBody,
    TopUpView,
    UnbindBody,
)
from functions.operator_api.routes.common import caller, dump, page_body, page_request, path_id
from shared.http_api import (
    DocumentedRouter,
    created,
    parse_body,
    parse_optional_body,
    parse_query,
)
from shared.services import base_data_cards as cards

router = DocumentedRouter("cards")
ONE = "/operator/cards/<card_no>"
IDS = {"card_no": CARD_NO}


@router.operation(
    "POST",
    "/operator/cards",
    "Issue a card and open its wallet",
    status=201,
    body=CardCreate,
    response=CardView,
    errors=(404, 409),
)
def issue_card() -> tuple[dict[str, Any], int]:
    body = parse_body(router.current_event, CardCreate)
    card = cards.issue_card(
        wiring.base_data(),
        wiring.wallets(),
        caller(router),
        body.operator_id,
        body.fields(),
        clock=wiring.clock,
    )
    return created(dump(CardView.with_balance(card)))


@router.operation(
    "GET",
    "/operator/cards",
    "Cards of an operator (no balances)",
    query=OwnedPageQuery,
    response=CardPage,
    errors=(404,),
)
def list_cards() -> dict[str, Any]:
    query = parse_query(router.current_event, OwnedPageQuery)
    page = cards.list_cards(
        wiring.base_data(), caller(router), query.operator_id, page_request(query)
    )
    return page_body(page, CardView.of)


@router.operation(
    "GET",
    ONE,
    "One card with its balance",
    response=CardView,
    path_patterns=IDS,
    errors=(404,),
)
def get_card(card_no: str) -> dict[str, Any]:
    card_no = path_id(card_no, CARD_NO, "card")
    card = cards.get_card(wiring.base_data(), wiring.wallets(), caller(router), card_no)
    return dump(CardView.with_balance(card))


@router.operation(
    "POST",
    f"{ONE}/top-ups",
    "Top a card up (idempotent on request_id)",
    status=201,
    body=TopUpBody,
    response=TopUpView,
    path_patterns=IDS,
    errors=(404, 409),
)
def top_up(card_no: str) -> tuple[dict[str, Any], int]:
    card_no = path_id(card_no, CARD_NO, "card")
    body = parse_body(router.current_event, TopUpBody)
    result = cards.top_up_card(
        wiring.base_data(),
        wiring.wallets(),
        caller(router),
        card_no,
        amount_fen=body.amount_fen,
        request_id=body.request_id,
        clock=wiring.clock,
    )
    return created(dump(TopUpView.of(result)))


@router.operation(
    "POST",
    f"{ONE}/freeze",
    "Stop a card authorizing charges",
    response=CardView,
    path_patterns=IDS,
    errors=(404, 409),
)
def freeze(card_no: str) -> dict[str, Any]:
    card_no = path_id(card_no, CARD_NO, "card")
    card = cards.freeze_card(
        wiring.base_data(), wiring.wallets(), caller(router), card_no, clock=wiring.clock
    )
    return dump(CardView.with_balance(card))


@router.operation(
    "POST",
    f"{ONE}/unfreeze",
    "Let a frozen card authorize again",
    response=CardView,
    path_patterns=IDS,
    errors=(404, 409),
)
def unfreeze(card_no: str) -> dict[str, Any]:
    card_no = path_id(card_no, CARD_NO, "card")
    card = cards.unfreeze_card(
        wiring.base_data(), wiring.wallets(), caller(router), card_no, clock=wiring.clock
    )
    return dump(CardView.with_balance(card))


@router.operation(
    "POST",
    f"{ONE}/unbind",
    "Release a card for good (refused while it holds money unless refund_balance)",
    body=UnbindBody,
    response=CardView,
    path_patterns=IDS,
    errors=(404, 409),
)
def unbind(card_no: str) -> dict[str, Any]:
    card_no = path_id(card_no, CARD_NO, "card")
    body = parse_optional_body(router.current_event, UnbindBody)
    card = cards.unbind_card(
        wiring.base_data(),
        wiring.wallets(),
        caller(router),
        card_no,
        refund_balance=body.refund_balance,
        clock=wiring.clock,
    )
    return dump(CardView.with_balance(card))
