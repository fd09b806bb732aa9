"""Hypothesis against the uplink's decoder path: damaged frames (bit flips, truncation,
extension, byte junk, wrong address or function) never crash it and never write a value
that differs from what the device sent; arbitrary messages never raise."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.domain.gateway_messages import DataMessage
from shared.services.gateways import handle_gateway_message
from shared.services.modbus_uplink import handle_data
from tests.unit.test_modbus_uplink_support import (
    Port,
    an_uplink,
    port_registers,
    rtu,
)

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)

ports = st.lists(
    st.builds(
        Port,
        energy_raw=st.integers(0, 2**32 - 1),
        power_w=st.integers(0, 3000),
        voltage_dv=st.integers(0, 3000),
        current_ma=st.integers(0, 20_000),
        temperature_dc=st.integers(-400, 1500),
        state=st.sampled_from(["idle", "plugged", "charging", "full", "fault"]),
        faults=st.lists(
            st.sampled_from(["over_temperature", "leakage", "smoke", "no_load"]),
            unique=True,
            max_size=2,
        ).map(tuple),
    ),
    min_size=10,
    max_size=10,
)


@st.composite
def damaged(draw: st.DrawFn, frame: bytes) -> bytes:
    kind = draw(st.sampled_from(["flip", "flips", "truncate", "extend", "junk", "address"]))
    data = bytearray(frame)
    if kind == "flip":
        index = draw(st.integers(0, len(data) * 8 - 1))
        data[index // 8] ^= 1 << (index % 8)
    elif kind == "flips":  # a burst within 16 bits: CRC-16 detects every one
        start = draw(st.integers(0, len(data) - 2))
        data[start] ^= draw(st.integers(1, 255))
        data[start + 1] ^= draw(st.integers(0, 255))
    elif kind == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif kind == "extend":
        data += draw(st.binary(min_size=1, max_size=8))
    elif kind == "junk":
        start = draw(st.integers(0, len(data) - 1))
        junk = draw(st.binary(min_size=1, max_size=2))
        data[start : start + len(junk)] = junk
    else:
        data[0] = draw(st.integers(0, 255).filter(lambda a: a != frame[0]))
    return bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), port_list=ports)
def test_damaged_frame_never_writes_a_wrong_value(data: st.DataObject, port_list: Any) -> None:
    original = rtu(1, port_registers(port_list))
    mutated = data.draw(damaged(original))
    uplink = an_uplink()
    reference = an_uplink()
    frame = {"rtu": base64.b64encode(mutated).decode(), "poll": "ports"}
    good = {"rtu": base64.b64encode(original).decode(), "poll": "ports"}

    message = {"gateway_id": "GW-1", "seq": 1, "ts": T0.isoformat(), "frames": [frame]}
    try:
        parsed = DataMessage.model_validate(message)
    except ValidationError:  # an empty or oversized frame is refused by the envelope
        return
    result = handle_data(parsed, ports=uplink.ports, now=T0, local_day="2026-12-01")
    handle_data(
        DataMessage.model_validate({**message, "frames": [good]}),
        ports=reference.ports,
        now=T0,
        local_day="2026-12-01",
    )

    if mutated == original:
        return
    written = uplink.readings.items
    # 0 wrong writes: either nothing, or exactly what the device sent
    assert written in ({}, reference.readings.items)
    if written == {}:
        assert result.bad_frames == 1
        assert sum(uplink.gateways.counts.values()) == 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    event=st.one_of(
        json_values,
        st.fixed_dictionaries(
            {
                "gateway_id": st.sampled_from(["GW-1", "", "a/b"]),
                "seq": st.integers(-2, 2**33),
                "ts": st.sampled_from([T0.isoformat(), "yesterday", "2026-12-01T02:00:00"]),
                "frames": st.lists(
                    st.one_of(
                        st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode()),
                        st.fixed_dictionaries(
                            {
                                "rtu": st.binary(max_size=40).map(
                                    lambda b: base64.b64encode(b).decode()
                                ),
                                "start": st.integers(-1, 70000),
                                "count": st.integers(-1, 200),
                            }
                        ),
                        st.fixed_dictionaries({"rtu": st.text(max_size=10), "poll": st.text()}),
                    ),
                    max_size=5,
                ),
            }
        ),
    )
)
def test_arbitrary_message_never_raises(event: Any) -> None:
    uplink = an_uplink()
    outcome = handle_gateway_message(event, ports=uplink.ports, clock=lambda: T0)
    assert outcome.kind in {"data", "register", "heartbeat", "invalid"}
    if outcome.kind != "data":
        assert uplink.readings.items == {}
