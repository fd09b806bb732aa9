"""Fault bits in a late backlog (store-and-forward) on fakes: a bit that rose and cleared
while the gateway was offline still raises one fault event at the reading that showed it;
a replay raises nothing new; the ongoing fault the newer messages raised is not raised
again; a rise split over two backlog messages is raised once."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.gateway_messages import BatchMessage
from shared.domain.gateways import parse_gateway_message
from shared.services.modbus_uplink import handle_data
from tests.unit.test_modbus_uplink_support import Port, Uplink, an_uplink, pile_frame

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=1)


def cycle(minute: int, faults: tuple[str, ...] = ()) -> dict[str, Any]:
    port = Port(state="fault" if faults else "charging", faults=faults)
    return {
        "seq": minute + 1,
        "ts": (T0 + timedelta(minutes=minute)).isoformat(),
        "frames": [pile_frame([port] + [Port() for _ in range(9)])],
    }


def send(uplink: Uplink, cycles: list[dict[str, Any]]) -> Any:
    message = parse_gateway_message({"gateway_id": "GW-1", "cycles": cycles})
    assert isinstance(message, BatchMessage)
    return handle_data(message, ports=uplink.ports, now=NOW, local_day="2026-12-02")


def port_one_faults(uplink: Uplink) -> list[tuple[str, datetime]]:
    return sorted(
        (fault.vendor_error_code or "", fault.reported_at)
        for fault in uplink.faults.faults.values()
        if fault.gun_no == 1
    )


HOT = ("over_temperature",)


def test_a_fault_that_rose_and_cleared_in_the_backlog_raises_one_event() -> None:
    uplink = an_uplink()
    send(uplink, [cycle(60)])  # back online: the newest state, no fault
    backlog = [cycle(m, HOT if 12 <= m <= 14 else ()) for m in range(10, 20)]

    result = send(uplink, list(reversed(backlog)))

    assert port_one_faults(uplink) == [("over_temperature", T0 + timedelta(minutes=12))]
    assert result.faults_recorded == 1
    assert not result.is_newest  # the state stays the newest message's
    # the same backlog again (a repeat): nothing new
    assert send(uplink, backlog).faults_recorded == 0
    assert len(uplink.faults.faults) == 1


def test_two_rises_in_the_backlog_are_two_events() -> None:
    uplink = an_uplink()
    send(uplink, [cycle(60)])
    faulty = {11, 12, 15}

    send(uplink, [cycle(m, HOT if m in faulty else ()) for m in range(10, 20)])

    assert [at for _, at in port_one_faults(uplink)] == [
        T0 + timedelta(minutes=11),
        T0 + timedelta(minutes=15),
    ]


def test_the_ongoing_fault_raised_by_the_newer_message_is_not_raised_again() -> None:
    uplink = an_uplink()
    send(uplink, [cycle(60, HOT)])  # newest: the fault is on (raised now, at minute 60)
    assert len(port_one_faults(uplink)) == 1

    # the backlog shows it began at minute 55 and lasted to the end of the backlog
    send(uplink, [cycle(m, HOT if m >= 55 else ()) for m in range(50, 60)])

    assert port_one_faults(uplink) == [("over_temperature", T0 + timedelta(minutes=60))]


def test_a_fault_lasting_to_the_end_of_the_backlog_but_gone_now_is_raised() -> None:
    uplink = an_uplink()
    send(uplink, [cycle(60)])

    send(uplink, [cycle(m, HOT if m >= 55 else ()) for m in range(50, 60)])

    assert port_one_faults(uplink) == [("over_temperature", T0 + timedelta(minutes=55))]


def test_a_rise_split_over_two_backlog_messages_is_raised_once() -> None:
    uplink = an_uplink()
    send(uplink, [cycle(60)])
    pattern = {m: HOT if 14 <= m <= 22 else () for m in range(10, 30)}

    send(uplink, [cycle(m, pattern[m]) for m in range(10, 20)])
    send(uplink, [cycle(m, pattern[m]) for m in range(20, 30)])  # starts with the bit set

    assert port_one_faults(uplink) == [("over_temperature", T0 + timedelta(minutes=14))]


@settings(max_examples=40, deadline=None)
@given(
    bits=st.lists(st.booleans(), min_size=4, max_size=40),
    chunk=st.integers(min_value=1, max_value=12),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_backlog_in_time_ordered_chunks_raises_each_rise_exactly_once(
    bits: list[bool], chunk: int, seed: int
) -> None:
    """The uninterrupted run's rises (a bit set after a reading without it) are the
    events, whatever the chunking of a backlog replayed in time order, each chunk's cycles
    shuffled, with repeats."""
    uplink = an_uplink()
    newest = len(bits) + 5
    send(uplink, [cycle(newest)])
    rng = random.Random(seed)
    cycles = [cycle(m, HOT if on else ()) for m, on in enumerate(bits)]
    for start in range(0, len(cycles), chunk):
        part = cycles[start : start + chunk]
        rng.shuffle(part)
        send(uplink, part)
        if rng.random() < 0.3:
            send(uplink, part)  # a repeat
    rises = [
        T0 + timedelta(minutes=m) for m, on in enumerate(bits) if on and (m == 0 or not bits[m - 1])
    ]
    assert [at for _, at in port_one_faults(uplink)] == rises
