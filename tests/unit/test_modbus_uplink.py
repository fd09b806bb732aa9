"""The Modbus uplink on fakes: envelopes -> port readings, port states on the gun items,
fault events, the site load; bad frames counted and never written."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.domain.errors import InvalidInput
from shared.domain.gateways import BusDevice, parse_gateway_message
from shared.domain.modbus_maps import shipped_maps
from shared.domain.modbus_readings import PortState
from shared.services.gateways import configure_gateway
from shared.services.modbus_uplink import handle_data
from tests.unit.test_modbus_uplink_support import (
    METER_ADDRESS,
    PILE_ADDRESS,
    Port,
    Uplink,
    an_uplink,
    b64,
    devices,
    exception_rtu,
    meter_frames,
    pile_frame,
    port_registers,
    rtu,
)

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)


def envelope(seq: int, at: datetime, frames: list[Any]) -> Any:
    message = parse_gateway_message(
        {"gateway_id": "GW-1", "seq": seq, "ts": at.isoformat(), "frames": frames}
    )
    return message


def send(uplink: Uplink, seq: int, at: datetime, frames: list[Any]) -> Any:
    return handle_data(
        envelope(seq, at, frames), ports=uplink.ports, now=NOW, local_day="2026-12-02"
    )


def ten(**port_one: Any) -> list[Port]:
    return [Port(**port_one)] + [Port() for _ in range(9)]


def test_envelope_stores_every_port_and_the_site_load_when_frames_are_good() -> None:
    uplink = an_uplink(devices(pt=10, ct=40))
    uplink.gateways.paid_ports = {"EB-1#1": "ORDER-1"}  # a paid charge on port 1
    frames = [
        pile_frame(ten(energy_raw=1234, power_w=180, current_ma=820, state="charging")),
        *meter_frames(power_w=1500, energy_wh=8_000_000),
    ]

    result = send(uplink, 1, T0, frames)

    assert result.verdicts == {"good": 4}
    samples = uplink.readings.items[("EB-1", T0)]
    assert sorted(samples) == list(range(1, 11))
    assert samples[1].energy_raw == 1234
    assert samples[1].power_w == 180
    assert samples[1].current_ma == 820
    assert samples[1].state is PortState.CHARGING
    assert samples[2].state is PortState.IDLE
    load = uplink.site_loads.loads["st-1"]
    assert load.power_w == 1500 * 10 * 40  # secondary W x PT x CT
    assert load.energy_import_wh == 8_000_000 * 400
    assert load.current_ma == (10_000 * 40, 11_000 * 40, 12_000 * 40)
    assert load.voltage_dv == (22_000, 22_100, 21_900)
    # first sight of the ports: every port's status item written, OCPP vocabulary
    statuses = {report.gun_no: report.status for _, report in uplink.statuses.reports}
    assert statuses[1] == "Charging"
    assert statuses[2] == "Available"
    # paid charging hears of port 1 only: the other ports cost it nothing
    assert uplink.events.states == [("EB-1", 1, PortState.CHARGING)]
    assert [(port, r.energy_wh) for pile, port, r in uplink.events.readings] == [(1, 1234)]


def test_unchanged_ports_write_no_status_when_the_next_cycle_comes() -> None:
    uplink = an_uplink()
    send(uplink, 1, T0, [pile_frame(ten(energy_raw=10, state="charging"))])
    uplink.statuses.reports.clear()

    send(uplink, 2, T0 + timedelta(minutes=1), [pile_frame(ten(energy_raw=13, state="charging"))])
    assert uplink.statuses.reports == []

    send(uplink, 3, T0 + timedelta(minutes=2), [pile_frame(ten(energy_raw=13, state="full"))])
    assert [(r.gun_no, r.status) for _, r in uplink.statuses.reports] == [(1, "Finishing")]


def test_fault_bit_becomes_one_fault_event_when_it_rises() -> None:
    uplink = an_uplink()
    send(uplink, 1, T0, [pile_frame(ten(state="charging"))])
    hot = ten(state="fault", faults=("over_temperature", "smoke"), stop_reason="fault")

    send(uplink, 2, T0 + timedelta(minutes=1), [pile_frame(hot)])
    send(uplink, 3, T0 + timedelta(minutes=2), [pile_frame(hot)])

    faults = sorted(uplink.faults.faults.values(), key=lambda f: f.error_code)
    assert [(f.gun_no, f.error_code, f.vendor_error_code) for f in faults] == [
        (1, "HighTemperature", "over_temperature"),
        (1, "OtherError", "smoke"),
    ]
    assert faults[0].operator_id == "op-1" and faults[0].station_id == "st-1"
    last = uplink.statuses.reports[-1][1]
    assert (last.status, last.error_code, last.vendor_error_code, last.info) == (
        "Faulted",
        "HighTemperature",
        "over_temperature,smoke",
        "fault",
    )


def test_late_cycle_stores_readings_but_leaves_states_when_a_newer_one_is_applied() -> None:
    uplink = an_uplink()
    send(uplink, 5, T0 + timedelta(minutes=5), [pile_frame(ten(energy_raw=50, state="full"))])
    uplink.statuses.reports.clear()

    result = send(uplink, 4, T0 + timedelta(minutes=4), [pile_frame(ten(state="charging"))])

    assert not result.is_newest
    assert ("EB-1", T0 + timedelta(minutes=4)) in uplink.readings.items
    assert uplink.statuses.reports == []
    assert uplink.gateways.states["EB-1#1"].startswith("full|")


def corpus() -> dict[str, Any]:
    good = rtu(PILE_ADDRESS, port_registers(ten(energy_raw=7)))
    flipped = bytearray(good)
    flipped[10] ^= 0x04
    return {
        "bad_crc": {"rtu": b64(bytes(flipped)), "poll": "ports"},
        "short": {"rtu": b64(good[:3]), "poll": "ports"},
        "truncated": {"rtu": b64(good[:-7]), "poll": "ports"},
        "not_base64": {"rtu": "%%%not-base64%%%", "poll": "ports"},
        "wrong_function": {"rtu": b64(rtu(PILE_ADDRESS, [0] * 100, function=4)), "poll": "ports"},
        "exception": {"rtu": b64(exception_rtu(PILE_ADDRESS, 3, 2)), "poll": "ports"},
        "unknown_device": {"rtu": b64(rtu(77, port_registers(ten()))), "poll": "ports"},
        "count_mismatch": {"rtu": b64(rtu(PILE_ADDRESS, [0] * 40)), "poll": "ports"},
        "no_request": b64(good),
        "unknown_poll": {"rtu": b64(good), "poll": "nope"},
        "meter_exception": {"rtu": b64(exception_rtu(METER_ADDRESS, 3, 4)), "poll": "power"},
        "garbage": b64(bytes(range(40))),
    }


def test_corrupt_corpus_is_counted_and_nothing_is_written_when_every_frame_is_bad() -> None:
    uplink = an_uplink()
    frames = list(corpus().values())

    result = send(uplink, 1, T0, frames)

    assert result.verdicts == {
        "bad_crc": 3,  # flipped bit, truncated (CRC over the wrong bytes), garbage
        "not_rtu": 2,  # 3 bytes, not base64
        "wrong_function": 1,
        "exception": 2,
        "unknown_device": 1,
        "unmatched": 3,  # byte count not the request's, no request, unknown poll id
    }
    assert uplink.gateways.counts == {k: v for k, v in result.verdicts.items()}
    assert uplink.readings.items == {}
    assert uplink.statuses.reports == []
    assert uplink.faults.faults == {}
    assert uplink.site_loads.loads == {}


def test_good_frames_still_count_when_bad_ones_share_the_envelope() -> None:
    uplink = an_uplink()
    frames = [pile_frame(ten(energy_raw=99, state="charging")), *corpus().values()]

    result = send(uplink, 1, T0, frames)

    assert result.verdicts["good"] == 1
    assert uplink.readings.items[("EB-1", T0)][1].energy_raw == 99


def test_unconfigured_gateway_counts_unknown_devices_and_writes_no_reading() -> None:
    uplink = an_uplink({})
    result = send(uplink, 1, T0, [pile_frame(ten())])
    assert result.verdicts == {"unknown_device": 1}
    assert uplink.readings.items == {}


def batch(cycles: list[tuple[int, datetime, list[Any]]]) -> Any:
    return parse_gateway_message(
        {
            "gateway_id": "GW-1",
            "cycles": [
                {"seq": seq, "ts": at.isoformat(), "frames": frames} for seq, at, frames in cycles
            ],
        }
    )


def test_batch_of_cycles_stores_once_per_pile_and_walks_states_in_time_order() -> None:
    uplink = an_uplink()
    uplink.gateways.paid_ports = {"EB-1#1": "ORDER-1"}
    states = ["plugged", "charging", "charging", "full"]
    cycles = [
        (
            seq,
            T0 + timedelta(minutes=seq),
            [
                pile_frame(ten(energy_raw=seq * 10, state=states[seq])),
                *meter_frames(power_w=1000 + seq, energy_wh=5_000),
            ],
        )
        for seq in range(4)
    ]
    cycles.reverse()  # a batch may come in any order

    result = handle_data(batch(cycles), ports=uplink.ports, now=NOW, local_day="2026-12-02")

    assert result.verdicts == {"good": 16}
    assert uplink.readings.puts == 1
    assert len(uplink.readings.items) == 4
    port_one = [(r.gun_no, r.status) for _, r in uplink.statuses.reports if r.gun_no == 1]
    assert port_one == [(1, "Preparing"), (1, "Charging"), (1, "Finishing")]
    assert [(port, s) for _, port, s in uplink.events.states] == [
        (1, PortState.PLUGGED),
        (1, PortState.CHARGING),
        (1, PortState.FULL),
    ]
    assert uplink.site_loads.writes == 1
    assert uplink.site_loads.loads["st-1"].power_w == 1003  # the newest cycle's
    assert uplink.gateways.last_seq == 3


class RecordingDeviceStore:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[BusDevice]]] = []

    def set_devices(self, gateway_id: str, devices: Sequence[BusDevice]) -> None:
        self.calls.append((gateway_id, list(devices)))


@pytest.mark.parametrize(
    ("gateway_id", "bus", "field"),
    [
        ("GW/1", [BusDevice(1, "cc-ebike-10", "op", pile_id="EB")], "gateway_id"),
        ("GW-1", [BusDevice(0, "cc-ebike-10", "op", pile_id="EB")], "address"),
        ("GW-1", [BusDevice(248, "cc-ebike-10", "op", pile_id="EB")], "address"),
        (
            "GW-1",
            [
                BusDevice(1, "cc-ebike-10", "op", pile_id="EB"),
                BusDevice(1, "acrel-adl400", "op", station_id="st"),
            ],
            "address",
        ),
        ("GW-1", [BusDevice(1, "toaster-9000", "op", pile_id="EB")], "map_id"),
        ("GW-1", [BusDevice(1, "cc-ebike-10", "op")], "pile_id"),
        ("GW-1", [BusDevice(2, "acrel-adl400", "op")], "station_id"),
        ("GW-1", [BusDevice(2, "acrel-adl400", "op", station_id="st", ct=0)], "pt"),
    ],
)
def test_configure_gateway_refuses_a_bad_bus_and_stores_nothing(
    gateway_id: str, bus: list[BusDevice], field: str
) -> None:
    store = RecordingDeviceStore()
    with pytest.raises(InvalidInput) as error:
        configure_gateway(store, gateway_id, bus, shipped_maps())
    assert error.value.fields.get("field") == field
    assert store.calls == []


def test_configure_gateway_stores_a_pile_and_a_meter() -> None:
    store = RecordingDeviceStore()
    bus = list(devices(pt=10, ct=40).values())
    configure_gateway(store, "GW-1", bus, shipped_maps())
    assert store.calls == [("GW-1", bus)]
