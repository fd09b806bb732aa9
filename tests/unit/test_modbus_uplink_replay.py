"""Store-and-forward acceptance on fakes: 20,000 poll cycles, a 30 % gap replayed later
(in batches of 1..60 cycles), shuffled, with 30 % repeats, the counter wrapping and the
board resetting it among them: the stored energy equals the uninterrupted run's, to the
Wh."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.domain.gateway_messages import BatchMessage, Cycle
from shared.domain.gateways import parse_gateway_message
from shared.domain.modbus_readings import PortSample, PortState, fold_samples
from shared.services.modbus_uplink import handle_data
from tests.unit.test_modbus_uplink_support import Port, Uplink, an_uplink, pile_frame

T0 = datetime(2026, 10, 1, 0, 0, tzinfo=UTC)
CYCLES = 20_000
MODULUS = 2**32


def series(rng: random.Random) -> tuple[list[Any], list[PortSample], int]:
    """The envelopes of an uninterrupted run, port 1's samples in it, and the true energy
    port 1 drew (Wh)."""
    counter = MODULUS - 25_000  # wraps about 1,000 cycles in
    true_wh = 0
    envelopes = []
    samples = []
    for seq in range(1, CYCLES + 1):
        step = rng.randint(0, 50)  # at most 3 kWh/h, the map's max_power_w
        # at seq 15,000 the board restarted its counter at 0 right after the previous poll
        counter = step if seq == 15_000 else (counter + step) % MODULUS
        if seq > 1:
            true_wh += step
        ports = [Port(energy_raw=counter, power_w=step * 60, state="charging")] + [
            Port(energy_raw=seq % 7) for _ in range(9)
        ]
        at = T0 + timedelta(minutes=seq)
        samples.append(
            PortSample(at, "GW-1", seq, counter, step * 60, 2200, 0, 250, PortState.CHARGING)
        )
        envelopes.append(
            parse_gateway_message(
                {
                    "gateway_id": "GW-1",
                    "seq": seq,
                    "ts": at.isoformat(),
                    "frames": [pile_frame(ports)],
                }
            )
        )
    return envelopes, samples, true_wh


def feed(uplink: Uplink, envelopes: list[Any]) -> None:
    now = T0 + timedelta(days=30)
    for message in envelopes:
        handle_data(message, ports=uplink.ports, now=now, local_day="2026-10-31")


def batches(envelopes: list[Any], rng: random.Random) -> list[Any]:
    """The backlog as the gateway replays it: batches of 1..60 cycles."""
    out = []
    index = 0
    while index < len(envelopes):
        size = rng.randint(1, 60)
        chunk = envelopes[index : index + size]
        index += size
        out.append(
            BatchMessage(
                gateway_id="GW-1",
                cycles=[Cycle(seq=e.seq, ts=e.ts, frames=e.frames) for e in chunk],
            )
        )
    return out


def energy(uplink: Uplink) -> list[tuple[datetime, int]]:
    readings = uplink.readings.port_readings("EB-1", 1, T0, T0 + timedelta(days=30))
    return [(reading.at, reading.energy_wh) for reading in readings]


def test_replayed_backlog_gives_the_uninterrupted_energy_to_the_wh() -> None:
    rng = random.Random(20_000)
    envelopes, samples, true_wh = series(rng)
    gap_start, gap_end = 500, 500 + CYCLES * 30 // 100  # the wrap falls inside the gap
    live = envelopes[:gap_start] + envelopes[gap_end:]
    backlog = envelopes[gap_start:gap_end] + rng.sample(envelopes, CYCLES * 30 // 100)
    rng.shuffle(backlog)

    interrupted = an_uplink()
    feed(interrupted, live)
    feed(interrupted, batches(backlog, rng))

    # the uninterrupted run stores exactly these samples (one per cycle, in order)
    wanted = [
        (reading.at, reading.energy_wh)
        for reading in fold_samples(samples, modulus=MODULUS, max_power_w=3000)
    ]
    got = energy(interrupted)
    assert len(got) == CYCLES
    assert got == wanted
    assert got[-1][1] - got[0][1] == true_wh
    assert interrupted.readings.fold == (MODULUS, 3000)  # the map's counter, as stored
    # states follow the newest cycle only: the late backlog moved nothing back
    assert interrupted.gateways.last_seq == CYCLES
