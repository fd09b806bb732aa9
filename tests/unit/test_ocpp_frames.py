"""OCPP-J frame parsing and formatting (pure), with a property over arbitrary text."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.ocpp.frames import (
    MAX_CALL_BYTES,
    Call,
    CallError,
    CallResult,
    FrameRejected,
    format_call,
    format_call_error,
    format_call_result,
    parse_frame,
)
from shared.domain.ocpp.rpc_errors import RpcFault


def test_parse_reads_a_call_when_frame_is_well_formed() -> None:
    assert parse_frame('[2,"m-1","Heartbeat",{}]') == Call("m-1", "Heartbeat", {})


def test_parse_reads_results_and_errors_when_frame_is_well_formed() -> None:
    assert parse_frame('[3,"m-1",{"a":1}]') == CallResult("m-1", {"a": 1})
    assert parse_frame('[4,"m-1","NotSupported","no",{"x":1}]') == CallError(
        "m-1", "NotSupported", "no", {"x": 1}
    )
    assert parse_frame('[4,"m-1","GenericError","no"]') == CallError("m-1", "GenericError", "no")


@pytest.mark.parametrize(
    ("text", "fault", "message_id", "is_answerable"),
    [
        (None, RpcFault.RPC_FRAMEWORK_ERROR, "-1", True),
        ("", RpcFault.RPC_FRAMEWORK_ERROR, "-1", True),
        ("[" * 100_000, RpcFault.RPC_FRAMEWORK_ERROR, "-1", True),
        ('[2,"a","Heartbeat",{"x":Infinity}]', RpcFault.RPC_FRAMEWORK_ERROR, "-1", True),
        ("42", RpcFault.RPC_FRAMEWORK_ERROR, "-1", True),
        ('[true,"a","Heartbeat",{}]', RpcFault.RPC_FRAMEWORK_ERROR, "a", True),
        ('[2.0,"a","Heartbeat",{}]', RpcFault.RPC_FRAMEWORK_ERROR, "a", True),
        ('[2,"","Heartbeat",{}]', RpcFault.RPC_FRAMEWORK_ERROR, "-1", True),
        ('[2,null,"Heartbeat",{}]', RpcFault.RPC_FRAMEWORK_ERROR, "-1", True),
        ('[6,"a"]', RpcFault.MESSAGE_TYPE_NOT_SUPPORTED, "a", True),
        ('[2,"a","",{}]', RpcFault.RPC_FRAMEWORK_ERROR, "a", True),
        ('[2,"a","Heartbeat",null]', RpcFault.FORMAT_VIOLATION, "a", True),
        ('[2,"a","Heartbeat",{},{}]', RpcFault.RPC_FRAMEWORK_ERROR, "a", True),
        ('[3,"a",[]]', RpcFault.FORMAT_VIOLATION, "a", False),
        ('[4,"a",1,"x",{}]', RpcFault.FORMAT_VIOLATION, "a", False),
        ("[3,5,{}]", RpcFault.RPC_FRAMEWORK_ERROR, "-1", True),
    ],
)
def test_parse_rejects_with_the_fault_and_id_when_frame_is_malformed(
    text: str | None, fault: RpcFault, message_id: str, is_answerable: bool
) -> None:
    with pytest.raises(FrameRejected) as rejected:
        parse_frame(text)

    assert rejected.value.fault is fault
    assert rejected.value.message_id == message_id
    assert rejected.value.is_answerable is is_answerable


def test_parse_rejects_a_call_above_the_size_limit_under_its_own_id() -> None:
    text = json.dumps([2, "big", "Heartbeat", {"pad": "x" * MAX_CALL_BYTES}])

    with pytest.raises(FrameRejected) as rejected:
        parse_frame(text)

    assert (rejected.value.fault, rejected.value.message_id) == (RpcFault.FORMAT_VIOLATION, "big")


def test_format_produces_compact_json_arrays() -> None:
    assert format_call("c1", "Reset", {"type": "Soft"}) == '[2,"c1","Reset",{"type":"Soft"}]'
    assert format_call_result("c1", {}) == '[3,"c1",{}]'
    assert format_call_error("c1", "NotImplemented", "x") == '[4,"c1","NotImplemented","x",{}]'


def test_format_call_error_cuts_the_description_to_255_characters() -> None:
    frame = json.loads(format_call_error("c1", "GenericError", "é" * 400))

    assert len(frame[3]) == 255


@given(st.text(max_size=300))
def test_parse_only_ever_raises_frame_rejected_when_text_is_arbitrary(text: str) -> None:
    try:
        parsed = parse_frame(text)
    except FrameRejected as rejected:
        assert rejected.message_id
        return
    assert isinstance(parsed, Call | CallResult | CallError)


@given(
    message_id=st.text(min_size=1, max_size=36),
    action=st.text(min_size=1, max_size=30),
    payload=st.dictionaries(st.text(max_size=10), st.integers() | st.text(max_size=10)),
)
def test_format_then_parse_gives_the_call_back(
    message_id: str, action: str, payload: dict[str, object]
) -> None:
    assert parse_frame(format_call(message_id, action, dict(payload))) == Call(
        message_id, action, dict(payload)
    )
