"""Presence of Modbus piles on fakes: any message of a gateway marks the piles on its bus
online, writing only on a change (never per message); housekeeping's sweep marks them
offline when the gateway has been silent longer than its threshold, and only then."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.modbus_bridge.rtu import PymodbusRtuDecoder
from shared.domain.gateway_messages import RawMessage
from shared.domain.gateways import (
    OFFLINE_AFTER,
    BusDevice,
    GatewayConfig,
    GatewayPresence,
    offline_after,
    presence_change,
)
from shared.services.gateway_presence import sweep_silent_gateways
from shared.services.gateways import handle_gateway_message
from shared.services.modbus_uplink import Transparent, handle_raw
from tests.unit.test_modbus_uplink_support import (
    EBIKE,
    Port,
    Uplink,
    an_uplink,
    devices,
    meter_frames,
    pile_frame,
)

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def data(seq: int, at: datetime) -> dict[str, Any]:
    return {
        "gateway_id": "GW-1",
        "seq": seq,
        "ts": at.isoformat(),
        "frames": [pile_frame([Port() for _ in range(10)]), *meter_frames(1500, 8_000_000)],
    }


def send(uplink: Uplink, clock: Clock, event: dict[str, Any]) -> Any:
    return handle_gateway_message(event, ports=uplink.ports, clock=clock)


def two_piles() -> dict[int, BusDevice]:
    bus = devices()
    bus[3] = BusDevice(3, EBIKE, "op-1", station_id="st-1", pile_id="EB-2")
    return bus


def test_first_message_marks_the_bus_piles_online_and_steady_messages_write_nothing() -> None:
    uplink, clock = an_uplink(two_piles()), Clock()

    send(uplink, clock, data(1, T0))

    assert uplink.presence.piles == {"EB-1": (True, T0), "EB-2": (True, T0)}
    assert uplink.gateways.presence_due == T0 + OFFLINE_AFTER
    assert uplink.gateways.present_piles == {"EB-1", "EB-2"}
    for minute in range(1, 60):
        clock.now = T0 + timedelta(minutes=minute)
        send(uplink, clock, data(minute + 1, clock.now))
    send(uplink, clock, {"gateway_id": "GW-1", "type": "heartbeat"})
    # one write per pile for the hour: the first message's
    assert uplink.presence.writes == 2
    # the due time moves once less than half the threshold is left (minutes 13, 26, 39,
    # 52): 5 index writes in the hour, whatever the number of messages
    assert uplink.gateways.due_moves == 5
    assert uplink.gateways.presence_due == T0 + timedelta(minutes=52) + OFFLINE_AFTER


@pytest.mark.parametrize(
    "event",
    [
        {"gateway_id": "GW-1", "type": "heartbeat"},
        {"gateway_id": "GW-1", "type": "register", "iccid": "89860412345678901234"},
        data(1, T0),
    ],
    ids=["heartbeat", "register", "data"],
)
def test_any_json_message_marks_presence(event: dict[str, Any]) -> None:
    uplink, clock = an_uplink(), Clock()

    send(uplink, clock, event)

    assert uplink.presence.piles == {"EB-1": (True, T0)}
    assert uplink.gateways.presence_due == T0 + OFFLINE_AFTER


@dataclass
class FakeDownLink:
    sent: list[bytes] = field(default_factory=list)

    def publish(self, gateway_id: str, payload: bytes) -> None:
        self.sent.append(payload)


@pytest.mark.parametrize(
    "payload", [b"89860412345678901234", b"\xfe"], ids=["registration", "heartbeat"]
)
def test_transparent_dtu_messages_mark_presence(payload: bytes) -> None:
    uplink = an_uplink()
    transparent = Transparent(downlink=FakeDownLink(), encoder=PymodbusRtuDecoder())

    handle_raw(
        RawMessage(gateway_id="GW-1", raw=base64.b64encode(payload).decode()),
        ports=uplink.ports,
        transparent=transparent,
        now=T0,
        local_day="2026-12-01",
    )

    assert uplink.presence.piles == {"EB-1": (True, T0)}
    assert uplink.gateways.present_piles == {"EB-1"}


def test_a_pile_joining_the_bus_is_marked_and_the_due_time_moves_only_when_half_gone() -> None:
    uplink, clock = an_uplink(), Clock()
    send(uplink, clock, data(1, T0))
    uplink.gateways.devices = two_piles()
    clock.now = T0 + timedelta(minutes=1)

    send(uplink, clock, data(2, clock.now))

    assert uplink.presence.piles["EB-2"] == (True, clock.now)
    assert uplink.presence.writes == 2
    assert uplink.gateways.presence_due == T0 + OFFLINE_AFTER


def test_a_heartbeat_every_ten_minutes_moves_the_due_time_every_twenty() -> None:
    uplink, clock = an_uplink(), Clock()
    for minute in range(0, 121, 10):
        clock.now = T0 + timedelta(minutes=minute)
        send(uplink, clock, {"gateway_id": "GW-1", "type": "heartbeat"})

    # minute 0 (online), then 20, 40, ..., 120: due - now < 12.5 min every other message
    assert uplink.gateways.due_moves == 7
    assert uplink.presence.writes == 1


def test_a_meter_only_gateway_holds_no_presence() -> None:
    uplink, clock = an_uplink({2: devices()[2]}), Clock()

    send(uplink, clock, data(1, T0))

    assert uplink.presence.writes == 0
    assert uplink.gateways.presence_due is None


def test_unknown_gateway_writes_no_presence() -> None:
    uplink, clock = an_uplink({}), Clock()

    send(uplink, clock, {"gateway_id": "GW-1", "type": "heartbeat"})

    assert uplink.presence.writes == 0


def test_offline_after_is_the_default_or_the_gateways_own_clamped() -> None:
    assert offline_after(None) == timedelta(minutes=25)
    assert offline_after(3600) == timedelta(hours=1)
    assert offline_after(1) == timedelta(minutes=2)
    assert offline_after(10**9) == timedelta(hours=24)


def test_presence_change_uses_the_gateways_threshold() -> None:
    config = GatewayConfig("GW-1", devices(), {}, offline_after_s=3600)

    change = presence_change(config, T0)

    assert change is not None and change.due == T0 + timedelta(hours=1)


# The sweep ------------------------------------------------------------------------------


@dataclass
class Gw:
    last_seen_at: datetime
    due: datetime | None
    piles: frozenset[str]
    present: frozenset[str] | None
    offline_after_s: int | None = None


@dataclass
class FakePresenceStore:
    gateways: dict[str, Gw] = field(default_factory=dict)
    writes: int = 0
    reads: int = 0
    queries: int = 0
    # a message landing right after the sweep's read: (gateway, new last_seen)
    speak_after_read: tuple[str, datetime] | None = None
    fail_end: bool = False

    def due_for_presence(self, now: datetime, limit: int = 200) -> list[str]:
        self.queries += 1
        due = [(gw.due, gid) for gid, gw in self.gateways.items() if gw.due and gw.due <= now]
        return [gid for _, gid in sorted(due)][:limit]

    def presence(self, gateway_id: str) -> GatewayPresence | None:
        self.reads += 1
        gw = self.gateways.get(gateway_id)
        if gw is None:
            return None
        found = GatewayPresence(
            gateway_id, gw.last_seen_at, gw.due, gw.piles | (gw.present or frozenset())
        )
        found = replace(found, offline_after_s=gw.offline_after_s)
        if self.speak_after_read and self.speak_after_read[0] == gateway_id:
            gw.last_seen_at = self.speak_after_read[1]
            self.speak_after_read = None
        return found

    def _unchanged(self, presence: GatewayPresence) -> Gw | None:
        gw = self.gateways.get(presence.gateway_id)
        if gw is None or gw.due != presence.presence_due:
            return None
        if gw.last_seen_at != presence.last_seen_at:
            return None
        return gw

    def postpone_presence(self, presence: GatewayPresence, due: datetime) -> bool:
        self.writes += 1
        gw = self.gateways[presence.gateway_id]
        if gw.due != presence.presence_due:
            return False
        gw.due = due
        return True

    def release_presence(self, presence: GatewayPresence) -> bool:
        self.writes += 1
        gw = self._unchanged(presence)
        if gw is None:
            return False
        gw.present = None
        return True

    def end_presence(self, presence: GatewayPresence) -> bool:
        self.writes += 1
        if self.fail_end:
            from shared.domain.errors import UpstreamFailure

            raise UpstreamFailure("UpdateItem failed")
        gw = self._unchanged(presence)
        if gw is None or gw.present is not None:
            return False
        gw.due = None
        return True


@dataclass
class FakePiles:
    piles: dict[str, tuple[bool, datetime]] = field(default_factory=dict)
    writes: int = 0

    def mark_bus_offline(self, pile_id: str, last_seen_at: datetime) -> bool:
        self.writes += 1
        _, seen = self.piles.get(pile_id, (False, last_seen_at))
        if seen > last_seen_at:
            return False
        self.piles[pile_id] = (False, last_seen_at)
        return True


def a_store(last_seen: datetime, due: datetime, **gw: Any) -> FakePresenceStore:
    store = FakePresenceStore()
    store.gateways["GW-1"] = Gw(last_seen, due, frozenset({"EB-1"}), frozenset({"EB-1"}), **gw)
    return store


def test_sweep_reads_nothing_before_the_due_time() -> None:
    store, piles = a_store(T0, T0 + OFFLINE_AFTER), FakePiles({"EB-1": (True, T0)})

    sweep = sweep_silent_gateways(store, piles, T0 + OFFLINE_AFTER - timedelta(seconds=1))

    assert (sweep.checked, store.queries, store.reads, store.writes) == (0, 1, 0, 0)
    assert piles.piles["EB-1"][0] is True


def test_sweep_postpones_a_gateway_heard_from_since() -> None:
    heard = T0 + timedelta(minutes=20)
    store, piles = a_store(heard, T0 + OFFLINE_AFTER), FakePiles({"EB-1": (True, T0)})

    sweep = sweep_silent_gateways(store, piles, T0 + OFFLINE_AFTER)

    assert (sweep.checked, sweep.postponed, sweep.silent) == (1, 1, ())
    assert store.gateways["GW-1"].due == heard + OFFLINE_AFTER
    assert piles.writes == 0 and piles.piles["EB-1"][0] is True


def test_sweep_marks_the_piles_of_a_silent_gateway_offline_as_last_seen() -> None:
    last = T0 + timedelta(minutes=3)
    store = a_store(last, last + OFFLINE_AFTER)
    store.gateways["GW-1"].piles = frozenset({"EB-1", "EB-2"})
    piles = FakePiles({"EB-1": (True, T0), "EB-2": (True, T0)})

    sweep = sweep_silent_gateways(store, piles, last + OFFLINE_AFTER)

    assert sweep.silent == ("GW-1",) and sweep.piles_offline == 2
    assert piles.piles == {"EB-1": (False, last), "EB-2": (False, last)}
    assert store.gateways["GW-1"].due is None  # out of the index
    # a second minute finds nothing to read
    again = sweep_silent_gateways(store, piles, last + 2 * OFFLINE_AFTER)
    assert (again.checked, store.reads) == (0, 1)


def test_sweep_uses_the_gateways_own_threshold() -> None:
    store = a_store(T0, T0 + timedelta(hours=1), offline_after_s=3600)
    piles = FakePiles({"EB-1": (True, T0)})

    assert sweep_silent_gateways(store, piles, T0 + OFFLINE_AFTER).checked == 0
    assert sweep_silent_gateways(store, piles, T0 + timedelta(hours=1)).silent == ("GW-1",)


def test_a_message_right_after_the_sweeps_read_keeps_the_piles_online() -> None:
    store = a_store(T0, T0 + OFFLINE_AFTER)
    now = T0 + OFFLINE_AFTER
    store.speak_after_read = ("GW-1", now)
    piles = FakePiles({"EB-1": (True, T0)})

    sweep = sweep_silent_gateways(store, piles, now)

    assert sweep.silent == () and piles.piles["EB-1"][0] is True
    assert store.gateways["GW-1"].present == frozenset({"EB-1"})


def test_a_pile_stamped_online_after_the_gateways_last_message_stays_online() -> None:
    store = a_store(T0, T0 + OFFLINE_AFTER)
    later = T0 + OFFLINE_AFTER  # the bridge marked it online after the release
    piles = FakePiles({"EB-1": (True, later)})

    sweep = sweep_silent_gateways(store, piles, T0 + OFFLINE_AFTER)

    assert sweep.piles_offline == 0 and piles.piles["EB-1"] == (True, later)


def test_a_failure_between_the_steps_is_finished_by_the_next_minute() -> None:
    store = a_store(T0, T0 + OFFLINE_AFTER)
    store.fail_end = True
    piles = FakePiles({"EB-1": (True, T0)})
    from shared.domain.errors import UpstreamFailure

    with pytest.raises(UpstreamFailure):
        sweep_silent_gateways(store, piles, T0 + OFFLINE_AFTER)
    assert piles.piles["EB-1"] == (False, T0)
    store.fail_end = False

    sweep = sweep_silent_gateways(store, piles, T0 + OFFLINE_AFTER + timedelta(minutes=1))

    assert sweep.silent == ("GW-1",) and store.gateways["GW-1"].due is None


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=30),
)
def test_bridge_and_sweep_together_online_iff_heard_within_the_threshold(
    gaps: list[int],
) -> None:
    """Messages at arbitrary gaps (minutes) and the sweep every minute: after each sweep the
    pile is offline exactly when the gateway has been silent for the threshold or longer;
    the pile item is written only on a change."""
    uplink, clock = an_uplink(), Clock()
    store = BridgeStore(uplink)
    piles = SharedPiles(uplink)
    send(uplink, clock, {"gateway_id": "GW-1", "type": "heartbeat"})
    store.last_seen = clock.now
    changes = 1  # offline (never marked) -> online
    for gap in gaps:
        for _ in range(gap):
            clock.now += timedelta(minutes=1)
            was_online = uplink.presence.piles["EB-1"][0]
            sweep_silent_gateways(store, piles, clock.now)
            is_online = uplink.presence.piles["EB-1"][0]
            assert is_online == (clock.now - store.last_seen < OFFLINE_AFTER)
            changes += was_online != is_online
        was_online = uplink.presence.piles["EB-1"][0]
        send(uplink, clock, {"gateway_id": "GW-1", "type": "heartbeat"})
        store.last_seen = clock.now
        assert uplink.presence.piles["EB-1"][0] is True
        changes += not was_online
    assert uplink.presence.writes + piles.writes == changes


class BridgeStore:
    """The sweep's store over the bridge's fake gateway item."""

    def __init__(self, uplink: Uplink) -> None:
        self.gateways = uplink.gateways
        self.last_seen = T0

    def due_for_presence(self, now: datetime, limit: int = 200) -> list[str]:
        due = self.gateways.presence_due
        return ["GW-1"] if due is not None and due <= now else []

    def presence(self, gateway_id: str) -> GatewayPresence | None:
        return GatewayPresence(
            gateway_id,
            self.last_seen,
            self.gateways.presence_due,
            frozenset({"EB-1"}) | self.gateways.present_piles,
        )

    def postpone_presence(self, presence: GatewayPresence, due: datetime) -> bool:
        self.gateways.presence_due = due
        return True

    def release_presence(self, presence: GatewayPresence) -> bool:
        self.gateways.present_piles = frozenset()
        return True

    def end_presence(self, presence: GatewayPresence) -> bool:
        self.gateways.presence_due = None
        return True


class SharedPiles:
    """Offline writes on the same pile items the bridge's fake presence marks online."""

    def __init__(self, uplink: Uplink) -> None:
        self.presence = uplink.presence
        self.writes = 0

    def mark_bus_offline(self, pile_id: str, last_seen_at: datetime) -> bool:
        self.writes += 1
        self.presence.piles[pile_id] = (False, last_seen_at)
        return True
