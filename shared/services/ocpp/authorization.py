"""Functional block C: Authorize (1.6 idTag, 2.0.1 idToken) against our card users."""

from __future__ import annotations

from typing import Any

from shared.domain.ocpp.authorization import authorize_card, authorize_response, id_token_of
from shared.domain.ocpp.dispatch import CallContext
from shared.services.ocpp.ports import OcppPorts


def authorize(ctx: CallContext, payload: dict[str, Any], ports: OcppPorts) -> dict[str, Any]:
    """Look the card up and answer its status for this pile's operator.

    DynamoDB: 1 GetItem of the card item (none for an empty token). Raises: UpstreamFailure.
    """
    card_no = id_token_of(ctx.version, payload)
    card = ports.piles.find_card(card_no) if card_no else None
    return authorize_response(ctx.version, authorize_card(card, ctx.operator_id))
