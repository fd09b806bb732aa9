"""Properties of the port-reading store: folding is independent of arrival order and
repeats, always monotonic; the compact item encoding (``=`` for unchanged ports) reads
back exactly what was stored, across items and batch boundaries."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.adapters.dynamodb.port_readings import DynamoPortReadings
from shared.domain.modbus_readings import PortSample, PortState, fold_samples

T0 = datetime(2026, 12, 1, tzinfo=UTC)
MODULUS = 2**32
STATES = list(PortState)


@st.composite
def series(draw: st.DrawFn) -> list[PortSample]:
    count = draw(st.integers(1, 80))
    counter = draw(st.sampled_from([0, 5_000, MODULUS - 400]))
    samples = []
    for index in range(count):
        step = draw(st.integers(0, 50))
        is_reset = draw(st.integers(0, 30)) == 0  # the board restarts its counter at 0
        counter = step if is_reset else (counter + step) % MODULUS
        samples.append(
            PortSample(
                at=T0 + timedelta(minutes=index),
                gateway_id="GW-1",
                seq=index + 1,
                energy_raw=counter,
                power_w=step * 60,
                voltage_dv=2200,
                current_ma=step * 10,
                temperature_dc=draw(st.integers(-50, 900)),
                state=draw(st.sampled_from(STATES)),
                stop_reason=draw(st.sampled_from([None, "full", "unplugged"])),
                faults=tuple(draw(st.lists(st.sampled_from(["smoke", "leakage"]), unique=True))),
            )
        )
    return samples


@settings(max_examples=80, deadline=None)
@given(samples=series(), seed=st.integers(0, 2**32))
def test_fold_is_the_same_whatever_the_order_and_repeats(
    samples: list[PortSample], seed: int
) -> None:
    rng = random.Random(seed)
    mixed = samples + rng.sample(samples, len(samples) // 3)
    rng.shuffle(mixed)

    wanted = fold_samples(samples, modulus=MODULUS, max_power_w=3000)
    got = fold_samples(mixed, modulus=MODULUS, max_power_w=3000)

    assert got == wanted
    energies = [reading.energy_wh for reading in got]
    assert energies == sorted(energies)


class FakeDynamo:
    """put_item/query over one table, enough for DynamoPortReadings."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def put_item(self, TableName: str, Item: dict[str, Any]) -> None:  # noqa: N803 - boto3's names
        self.items[(Item["pk"]["S"], Item["sk"]["S"])] = Item

    def query(self, **request: Any) -> dict[str, Any]:
        values = request["ExpressionAttributeValues"]
        found = [
            item
            for (pk, sk), item in sorted(self.items.items())
            if pk == values[":pk"]["S"] and values[":since"]["S"] <= sk <= values[":until"]["S"]
        ]
        return {"Items": found}


@settings(max_examples=50, deadline=None)
@given(samples=series(), cuts=st.lists(st.integers(1, 79), max_size=6), idle=st.booleans())
def test_items_read_back_what_was_stored_when_split_into_batches(
    samples: list[PortSample], cuts: list[int], idle: bool
) -> None:
    client = FakeDynamo()
    store = DynamoPortReadings("T", client)
    other = PortSample(T0, "GW-1", 0, 7, 0, 2200, 0, 250, PortState.IDLE)
    bounds = sorted({0, len(samples), *(c for c in cuts if c < len(samples))})
    for start, end in itertools.pairwise(bounds):
        cycles = []
        for index, sample in enumerate(samples[start:end], start=start):
            ports = {1: sample}
            # port 2 is idle and unchanged ("=" in the item) or missing every third cycle
            if idle or index % 3:
                ports[2] = replace(other, at=sample.at, seq=sample.seq)
            cycles.append((sample.at, ports))
        store.store("EB-1", cycles, modulus=MODULUS, max_power_w=3000)

    until = T0 + timedelta(hours=2)
    assert store.port_readings("EB-1", 1, T0, until) == fold_samples(
        samples, modulus=MODULUS, max_power_w=3000
    )
    port_two = store.port_readings("EB-1", 2, T0, until)
    assert {(r.energy_wh, r.state) for r in port_two} <= {(other.energy_raw, other.state)}
    expected_two = sum(1 for index in range(len(samples)) if idle or index % 3)
    assert len(port_two) == expected_two
