"""Functional block C: Authorize (1.6 idTag, 2.0.1 idToken) against our card users."""

from __future__ import annotations

from typing import Any

from shared.domain.ocpp.authorization import (
    Authorization,
    authorize_card,
    authorize_response,
    id_token_of,
)
from shared.domain.ocpp.dispatch import CallContext
from shared.services import paid_charging
from shared.services.ocpp.ports import OcppPorts


def authorize(ctx: CallContext, payload: dict[str, Any], ports: OcppPorts) -> dict[str, Any]:
    """Look the card up and answer its status for this pile's operator; the token of a
    paid order starting on this pile (no card carries it) is accepted.

    DynamoDB: 1 GetItem of the card item (none for an empty token); a token no card
    accepts: + 1 GetItem (paid start key), + 1 GetItem (order) when it names one.
    Raises: UpstreamFailure.
    """
    card_no = id_token_of(ctx.version, payload)
    card = ports.piles.find_card(card_no) if card_no else None
    result = authorize_card(card, ctx.operator_id)
    paid = paid_charging.ports_of(ports)
    is_refused = result is not Authorization.ACCEPTED and bool(card_no)
    if is_refused and paid is not None and paid_charging.is_paid_token(paid, ctx.pile_id, card_no):
        result = Authorization.ACCEPTED
    return authorize_response(ctx.version, result)
