"""The uplink tells e-bike paid charging a port left ``charging`` only once the readings of
that message are stored, so a charge that ends on the state change is measured up to the
reading that showed it (on the local stack a 200 Wh energy target was billed 197 Wh: the
end was recorded from the readings before the last one)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.domain.gateways import paid_port_key, parse_gateway_message
from shared.domain.modbus_readings import PortReading, PortState
from shared.services.modbus_uplink import handle_data
from tests.unit.test_modbus_uplink_support import FakeReadings, Port, an_uplink, pile_frame

T0 = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)


@dataclass
class StoreWatchingEvents:
    """Records, per state event, the energy the store holds for the port at that moment."""

    store: FakeReadings
    stored_at_state: list[tuple[int, PortState, int | None]] = field(default_factory=list)

    def reading(self, pile_id: str, port_no: int, reading: PortReading) -> None:
        return None

    def state(self, pile_id: str, port_no: int, state: PortState) -> None:
        stored = [
            samples[port_no].energy_raw
            for (pile, _), samples in sorted(self.store.items.items())
            if pile == pile_id and port_no in samples
        ]
        self.stored_at_state.append((port_no, state, stored[-1] if stored else None))


def _cycle(seq: int, at: datetime, state: str, energy: int) -> dict[str, object]:
    frame = pile_frame(
        [Port(energy_raw=energy, power_w=300 if state == "charging" else 0, state=state)]
        + [Port() for _ in range(9)]
    )
    return {"seq": seq, "ts": at.isoformat(), "frames": [frame]}


def test_state_events_come_after_the_messages_readings_are_stored() -> None:
    uplink = an_uplink()
    uplink.gateways.paid_ports[paid_port_key("EB-1", 1)] = "PO-1"  # port 1 charges for PO-1
    events = StoreWatchingEvents(uplink.readings)
    object.__setattr__(uplink.ports, "events", events)
    first: Any = parse_gateway_message({"gateway_id": "GW-1", **_cycle(1, T0, "charging", 180)})
    handle_data(first, ports=uplink.ports, now=T0, local_day="2026-12-02")
    # one message, two cycles: still charging at 190 Wh, then plugged at 200 Wh
    batch: Any = parse_gateway_message(
        {
            "gateway_id": "GW-1",
            "cycles": [
                _cycle(2, T0 + timedelta(seconds=1), "charging", 190),
                _cycle(3, T0 + timedelta(seconds=2), "plugged", 200),
            ],
        }
    )
    handle_data(batch, ports=uplink.ports, now=T0 + timedelta(seconds=3), local_day="2026-12-02")
    port_one = [(state, energy) for port, state, energy in events.stored_at_state if port == 1]
    assert port_one == [(PortState.CHARGING, 180), (PortState.PLUGGED, 200)]
