"""Fuzzing the router through its lambda_handler: random text, random JSON and mutated
valid frames. Whatever comes in, no exception escapes, the answer is a well-formed
CALLRESULT or CALLERROR (with a code of the pile's version), and a frame answered with a
CALLERROR, or not answered, changes no table."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.ocpp.rpc_errors import V16_ERROR_CODES, V201_ERROR_CODES
from tests.integration.test_ocpp_router_support import PileSide, pile_side

__all__ = ["pile_side"]

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5)
    ),
    max_leaves=20,
)

VALID: dict[str, list[list[Any]]] = {
    "ocpp1.6": [
        [2, "f1", "Heartbeat", {}],
        [2, "f2", "Authorize", {"idTag": "CARD-1"}],
        [
            2,
            "f3",
            "StatusNotification",
            {"connectorId": 1, "status": "Charging", "errorCode": "NoError"},
        ],
        [2, "f4", "BootNotification", {"chargePointVendor": "A", "chargePointModel": "B"}],
        [3, "call-1", {"status": "Accepted"}],
        [4, "call-2", "NotSupported", "", {}],
    ],
    "ocpp2.0.1": [
        [2, "f1", "Heartbeat", {}],
        [2, "f2", "Authorize", {"idToken": {"idToken": "CARD-1", "type": "ISO14443"}}],
        [
            2,
            "f3",
            "StatusNotification",
            {
                "timestamp": "2026-11-01T01:00:00Z",
                "connectorStatus": "Occupied",
                "evseId": 1,
                "connectorId": 1,
            },
        ],
        [
            2,
            "f4",
            "BootNotification",
            {"reason": "PowerUp", "chargingStation": {"vendorName": "A", "model": "B"}},
        ],
        [3, "call-1", {"status": "Accepted"}],
        [4, "call-2", "NotSupported", "", {}],
    ],
}


@st.composite
def mutated(draw: st.DrawFn, version: str) -> str:
    frame: list[Any] = json.loads(json.dumps(draw(st.sampled_from(VALID[version]))))
    how = draw(st.sampled_from(["element", "payload-key", "drop", "append", "truncate", "type"]))
    if how == "element":
        frame[draw(st.integers(0, len(frame) - 1))] = draw(JSON)
    elif how == "payload-key" and isinstance(frame[-1], dict):
        frame[-1][draw(st.text(max_size=12))] = draw(JSON)
    elif how == "drop":
        frame.pop(draw(st.integers(0, len(frame) - 1)))
    elif how == "append":
        frame.append(draw(JSON))
    elif how == "type":
        frame[0] = draw(st.integers(-3, 9))
    text = json.dumps(frame)
    if how == "truncate":
        text = text[: draw(st.integers(0, max(len(text) - 1, 0)))]
    return text


def frames(version: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=200),
        JSON.map(json.dumps),
        mutated(version),
        mutated(version),
        st.sampled_from(VALID[version]).map(json.dumps),
    )


def check_answer(answer: Any, version: str) -> None:
    assert isinstance(answer, list)
    if answer[0] == 3:
        assert len(answer) == 3
        assert isinstance(answer[1], str)
        assert isinstance(answer[2], dict)
        return
    codes = V16_ERROR_CODES if version == "ocpp1.6" else V201_ERROR_CODES
    assert answer[0] == 4
    assert len(answer) == 5
    assert isinstance(answer[1], str)
    assert 0 < len(answer[1]) <= 36
    assert answer[2] in codes
    assert isinstance(answer[3], str)
    assert len(answer[3]) <= 255
    assert isinstance(answer[4], dict)


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
def test_router_survives_random_and_mutated_frames_when_fuzzed(
    pile_side: PileSide, version: str
) -> None:
    pile_side.online("CP-1", version)
    pile_side.put_card("CARD-1", "active")
    answered = {"result": 0, "error": 0, "none": 0}

    @settings(
        max_examples=300,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(text=frames(version))
    def run(text: str) -> None:
        before = pile_side.snapshot()
        answer = pile_side.send("conn-1", text)
        if answer is None:
            answered["none"] += 1
            assert pile_side.snapshot() == before
            return
        check_answer(answer, version)
        if answer[0] == 4:
            answered["error"] += 1
            assert pile_side.snapshot() == before
        else:
            answered["result"] += 1

    run()
    assert answered["error"] > 150
    assert answered["result"] > 0
