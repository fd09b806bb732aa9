"""CSMS-initiated calls on moto: the CALL goes out by post_to_connection, the pile's
answer comes back through the router as a later frame and closes the pending call."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends
from moto.core.models import DEFAULT_ACCOUNT_ID

from functions.ocpp_router import wiring
from shared.domain.errors import Conflict, InvalidInput, NotFound
from shared.domain.ocpp.remote_calls import CallStatus, PendingCall
from shared.domain.tenancy import Principal, Role
from shared.services.ocpp.remote_calls import send_call
from tests.integration.test_ocpp_router_support import (
    OPERATOR,
    OTHER_OPERATOR,
    PileSide,
    pile_side,
)

__all__ = ["pile_side"]

ADMIN = Principal("admin", Role.OPERATOR_ADMIN, OPERATOR)
STRANGER = Principal("stranger", Role.OPERATOR_ADMIN, OTHER_OPERATOR)


def send(
    pile_id: str, action: str, payload: dict[str, Any], clock: Any, who: Principal = ADMIN
) -> PendingCall:
    counter = itertools.count(1)
    ports = wiring.ports()
    return send_call(
        pile_id,
        action,
        payload,
        on_behalf_of=who,
        piles=ports.piles,
        pending_calls=ports.pending_calls,
        schemas=ports.schemas,
        sender=wiring.websocket(),
        clock=clock,
        new_id=lambda prefix: f"{prefix}-{next(counter):020d}",
    )


def posted(connection_id: str) -> bytes:
    backend = apigatewaymanagementapi_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    return backend.connections[connection_id].data


def pending_item(pile_side: PileSide, pile_id: str, unique_id: str) -> dict[str, Any]:
    item = pile_side.item("SESSIONS_TABLE", {"pk": f"PILE#{pile_id}", "sk": f"CALL#{unique_id}"})
    assert item is not None
    return item


def test_send_call_posts_the_frame_and_stores_the_pending_call(
    pile_side: PileSide, clock: Any
) -> None:
    pile_side.online("CP-1", "ocpp1.6")

    call = send("CP-1", "Reset", {"type": "Soft"}, clock)

    assert json.loads(posted("conn-1")) == [2, call.unique_id, "Reset", {"type": "Soft"}]
    item = pending_item(pile_side, "CP-1", call.unique_id)
    assert item["status"] == "pending"
    assert item["action"] == "Reset"
    assert item["operator_id"] == OPERATOR
    assert json.loads(item["request_json"]) == {"type": "Soft"}
    assert int(item["expires_at"]) == int(clock.now.timestamp()) + 7 * 86400


def test_call_result_completes_the_pending_call_without_an_answer(
    pile_side: PileSide, clock: Any
) -> None:
    pile_side.online("CP-2", "ocpp2.0.1")
    call = send("CP-2", "Reset", {"type": "Immediate"}, clock)
    clock.advance(seconds=2)

    answer = pile_side.send("conn-1", [3, call.unique_id, {"status": "Accepted"}])

    assert answer is None
    item = pending_item(pile_side, "CP-2", call.unique_id)
    assert item["status"] == CallStatus.ANSWERED.value
    assert json.loads(item["response_json"]) == {"status": "Accepted"}
    assert item["answered_at"] == "2026-11-01T02:00:02.000Z"


def test_call_error_from_the_pile_rejects_the_pending_call(pile_side: PileSide, clock: Any) -> None:
    pile_side.online("CP-1", "ocpp1.6")
    call = send("CP-1", "UnlockConnector", {"connectorId": 1}, clock)

    answer = pile_side.send("conn-1", [4, call.unique_id, "NotSupported", "no lock", {}])

    assert answer is None
    item = pending_item(pile_side, "CP-1", call.unique_id)
    assert (item["status"], item["error_code"], item["error_description"]) == (
        "rejected",
        "NotSupported",
        "no lock",
    )


def test_schema_invalid_call_result_is_recorded_as_invalid(pile_side: PileSide, clock: Any) -> None:
    pile_side.online("CP-1", "ocpp1.6")
    call = send("CP-1", "Reset", {"type": "Hard"}, clock)

    pile_side.send("conn-1", [3, call.unique_id, {"status": "Maybe"}])

    item = pending_item(pile_side, "CP-1", call.unique_id)
    assert item["status"] == "invalid_response"
    assert item["error_code"] == "PropertyConstraintViolation"


def test_unmatched_or_repeated_answers_change_nothing(pile_side: PileSide, clock: Any) -> None:
    pile_side.online("CP-1", "ocpp1.6")
    call = send("CP-1", "Reset", {"type": "Soft"}, clock)
    pile_side.send("conn-1", [3, call.unique_id, {"status": "Accepted"}])
    before = pile_side.snapshot()

    assert pile_side.send("conn-1", [3, "call-99999999999999999999", {"status": "x"}]) is None
    assert pile_side.send("conn-1", [4, call.unique_id, "InternalError", "late", {}]) is None
    assert pile_side.send("conn-1", [3, call.unique_id]) is None  # malformed, not answerable

    assert pile_side.snapshot() == before


def test_send_call_refuses_bad_commands_and_other_tenants(pile_side: PileSide, clock: Any) -> None:
    pile_side.online("CP-1", "ocpp1.6")
    pile_side.put_pile("EB-1", protocol="modbus", password=None)
    before = pile_side.snapshot()

    with pytest.raises(NotFound):
        send("CP-404", "Reset", {"type": "Soft"}, clock)
    with pytest.raises(NotFound):
        send("CP-1", "Reset", {"type": "Soft"}, clock, who=STRANGER)
    with pytest.raises(InvalidInput):
        send("CP-1", "Reset", {"type": "Sideways"}, clock)
    with pytest.raises(InvalidInput):
        send("CP-1", "RequestStartTransaction", {}, clock)
    with pytest.raises(Conflict):
        send("EB-1", "Reset", {"type": "Soft"}, clock)

    assert pile_side.snapshot() == before
