"""Paid charging on a pile: the marker a payment order leaves on the OCPP side, and its rules.

Design overview
---------------
A paid session's workflow (``infra/statemachines/README.md``) asks the pile side to start a
charge for an order, then waits for the session to end. The pile side keeps one
``PaidCharge`` per order (the marker) and moves it once along::

    starting --session linked--> charging --session ended--> ended
        └--remote start rejected / timed out / no session in 3 min--> never_started

The pile names the order only indirectly: a 1.6 StartTransaction carries the ``idTag`` we
sent in RemoteStartTransaction, a 2.0.1 TransactionEvent the ``remoteStartId`` of our
RequestStartTransaction (and the idToken). ``start_keys`` are those names, stored beside
the pile so the first transaction message of the session finds the order with one read.

Once linked, the session carries a ``PaidLink`` (what its meter values need to price the
charge and decide a stop, so they read one item). The live stop is sent once: the link
records it under a condition. Whatever ends first, the session or the workflow's wait,
the other side sees it: the end is stored on the marker and the callback token too, each
written atomically, so a token stored after the end is resumed at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from shared.domain.errors import InvalidInput
from shared.domain.ocpp.versions import OcppVersion

if TYPE_CHECKING:
    # Imported where used: the router loads this module for every transaction message,
    # and pricing only for paid sessions (cold start, docs/message-costs.md).
    from shared.domain.pricing import ChargeTarget, MeterReading

# No session within this long after the pile accepted the remote start: it never started.
START_WINDOW = timedelta(minutes=3)
# How long housekeeping waits for a remote start whose call was never stored before giving
# up (a crash between the marker and the call; a retried begin re-sends it meanwhile).
LOST_CALL_GRACE = timedelta(minutes=5)
MAX_ORDER_NO_LENGTH = 64
# 1.6 CiString20Type, the shorter of the two versions' id token limits.
MAX_ID_TAG_LENGTH = 20
MAX_GUN_NO = 20
MAX_CAP_FEN = 10_000_000
NEVER_STARTED = "PileNeverStarted"
# An e-bike port's marker: the pile speaks Modbus through its gateway, its start is a port
# command (``shared/services/ebike_charging.py``) and the session is the port's charge.
MODBUS = "modbus"
EBIKE_SESSION_PREFIX = "ebike-"
REMOTE_START_ACTIONS = frozenset({"RemoteStartTransaction", "RequestStartTransaction"})
_ORDER_NO = re.compile(r"[A-Za-z0-9_.:-]+")
_ID_TAG = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no space (and no '#', see below)


class PaidChargeState(StrEnum):
    STARTING = "starting"  # remote start sent, no session yet
    CHARGING = "charging"  # linked to a session
    ENDED = "ended"  # the session ended (stop, Ended, closed stale)
    NEVER_STARTED = "never_started"  # rejected, timed out, or no session in time


@dataclass(frozen=True, slots=True)
class PaidChargeRequest:
    """What the workflow asks the pile side to start for one order."""

    order_no: str
    operator_id: str
    station_id: str
    pile_id: str
    gun_no: int
    id_tag: str
    target: ChargeTarget
    prepaid_cap_fen: int
    tariff_id: str
    tariff_version: int

    def check(self) -> None:
        """Raises: InvalidInput naming the first bad field."""
        _require_text(self.order_no, "order_no", MAX_ORDER_NO_LENGTH, _ORDER_NO)
        for name in ("operator_id", "station_id", "pile_id", "tariff_id"):
            _require_text(getattr(self, name), name, 100, _ORDER_NO)
        # '#' would split the pile-side lookup key; 20 characters fit both OCPP versions.
        _require_text(self.id_tag, "id_tag", MAX_ID_TAG_LENGTH, _ID_TAG)
        if "#" in self.id_tag:
            raise InvalidInput("id_tag must not contain '#'", field="id_tag")
        _require_int(self.gun_no, "gun_no", 1, MAX_GUN_NO)
        _require_int(self.prepaid_cap_fen, "prepaid_cap_fen", 1, MAX_CAP_FEN)
        _require_int(self.tariff_version, "tariff_version", 1, 999_999)
        from shared.domain.pricing import ChargeTarget

        if not isinstance(self.target, ChargeTarget):
            raise InvalidInput("target must be a ChargeTarget", field="target")


def _require_text(value: Any, name: str, limit: int, pattern: re.Pattern[str]) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= limit or not pattern.fullmatch(value):
        raise InvalidInput(f"{name} must be 1..{limit} characters of {pattern.pattern}", field=name)


def _require_int(value: Any, name: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{name} must be an integer within {low}..{high}", field=name)


def tag_key(id_tag: str) -> str:
    """The lookup key of a start naming its order by idTag / idToken."""
    return f"T#{id_tag}"


def remote_start_key(remote_start_id: int) -> str:
    """The lookup key of a 2.0.1 start naming its order by ``remoteStartId``."""
    return f"R#{remote_start_id}"


def port_key(port_no: int) -> str:
    """The lookup key of the order charging an e-bike port (its readings find it)."""
    return f"P#{port_no}"


def ebike_session_id(order_no: str) -> str:
    """The session of a paid e-bike charge: the order's charge of its port."""
    return f"{EBIKE_SESSION_PREFIX}{order_no}"


def start_keys(
    version: OcppVersion | str, id_tag: str, remote_start_id: int | None, gun_no: int = 0
) -> tuple[str, ...]:
    """Every name under which the pile's first transaction message (an e-bike port's
    readings) can find the order."""
    if version == MODBUS:
        return (port_key(gun_no),)
    keys = [tag_key(id_tag)]
    if version is OcppVersion.V201 and remote_start_id is not None:
        keys.append(remote_start_key(remote_start_id))
    return tuple(keys)


@dataclass(frozen=True, slots=True)
class SessionEnd:
    """What the workflow learns when the session ends (the ``SendTaskSuccess`` output)."""

    session_id: str
    energy_wh: int
    stop_reason: str | None
    ended_at: datetime

    def output(self, order_no: str) -> dict[str, Any]:
        return {
            "order_no": order_no,
            "session_id": self.session_id,
            "energy_wh": self.energy_wh,
            "stop_reason": self.stop_reason,
        }


@dataclass(frozen=True, slots=True)
class PaidCharge:
    """The marker of one order on the pile side, as stored."""

    order_no: str
    operator_id: str
    station_id: str
    pile_id: str
    gun_no: int
    id_tag: str
    target: ChargeTarget
    prepaid_cap_fen: int
    tariff_id: str
    tariff_version: int
    protocol: OcppVersion | str  # an OcppVersion, or MODBUS for an e-bike port
    call_id: str  # the remote start's message id (e-bike: the start command's id)
    created_at: datetime
    check_at: datetime  # when housekeeping looks at a start that has no session yet
    state: PaidChargeState = PaidChargeState.STARTING
    remote_start_id: int | None = None  # 2.0.1
    session_id: str | None = None
    linked_at: datetime | None = None
    task_token: str | None = None
    end: SessionEnd | None = None
    failure: str | None = None  # why it never started
    failed_at: datetime | None = None
    # The site's load band when the pile was switched on (``shared.domain.site_load``;
    # None: no live meter reading) and the power the remote start capped the charge at
    # (None: the rated power). A retried begin re-sends the same cap.
    load_band: str | None = None
    power_limit_w: int | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        return start_keys(self.protocol, self.id_tag, self.remote_start_id, self.gun_no)

    @property
    def is_ebike(self) -> bool:
        return self.protocol == MODBUS

    @property
    def is_starting(self) -> bool:
        return self.state is PaidChargeState.STARTING

    def is_same_request(self, request: PaidChargeRequest) -> bool:
        """A retried begin of this order (the workflow retries with the same input)."""
        return (
            self.operator_id,
            self.station_id,
            self.pile_id,
            self.gun_no,
            self.id_tag,
            self.target,
            self.prepaid_cap_fen,
            self.tariff_id,
            self.tariff_version,
        ) == (
            request.operator_id,
            request.station_id,
            request.pile_id,
            request.gun_no,
            request.id_tag,
            request.target,
            request.prepaid_cap_fen,
            request.tariff_id,
            request.tariff_version,
        )


@dataclass(frozen=True, slots=True)
class PaidLink:
    """What a linked session's meter values need: the order's target, cap and tariff, and
    whether the platform has asked the pile to stop (sent once)."""

    session_id: str
    order_no: str
    target: ChargeTarget
    prepaid_cap_fen: int
    tariff_id: str
    tariff_version: int
    stop_reason: str | None = None  # ours: target_reached / cap_reached
    stop_call_id: str | None = None
    stop_requested_at: datetime | None = None

    @property
    def is_stop_requested(self) -> bool:
        return self.stop_requested_at is not None


def link_for(charge: PaidCharge, session_id: str) -> PaidLink:
    return PaidLink(
        session_id=session_id,
        order_no=charge.order_no,
        target=charge.target,
        prepaid_cap_fen=charge.prepaid_cap_fen,
        tariff_id=charge.tariff_id,
        tariff_version=charge.tariff_version,
    )


@dataclass(frozen=True, slots=True)
class StartVerdict:
    """What the remote start's call says so far: failed (with why), or when to look again."""

    failure: str | None = None
    check_again_at: datetime | None = None


def start_verdict(
    *,
    call_status: str | None,
    answer_status: str | None,
    answered_at: datetime | None,
    call_timeout_at: datetime | None,
    created_at: datetime,
    now: datetime,
) -> StartVerdict:
    """Whether a remote start with no session yet has failed.

    ``call_status`` is the pending call's status (None: no call stored), ``answer_status``
    the pile's ``status`` field (Accepted / Rejected) once answered. Accepted: the session
    has ``START_WINDOW`` from the answer. Rejected, a CALLERROR, an invalid answer, a
    timeout: failed. Still pending or waiting for the pile: look again at its deadline.
    """
    if call_status is None:
        deadline = created_at + LOST_CALL_GRACE
        if now >= deadline:
            return StartVerdict(failure="the remote start was never sent")
        return StartVerdict(check_again_at=deadline)
    if call_status == "answered":
        if answer_status != "Accepted":
            return StartVerdict(failure=f"the pile answered the remote start {answer_status}")
        deadline = (answered_at or now) + START_WINDOW
        if now >= deadline:
            return StartVerdict(failure="no session started within 3 minutes of the remote start")
        return StartVerdict(check_again_at=deadline)
    if call_status in ("pending", "undelivered"):
        deadline = call_timeout_at or now
        return StartVerdict(check_again_at=max(deadline, now) + timedelta(seconds=1))
    reasons = {
        "rejected": "the pile refused the remote start with a CALLERROR",
        "invalid_response": "the pile's answer to the remote start was invalid",
        "timed_out": "the pile did not answer the remote start in time",
    }
    return StartVerdict(failure=reasons.get(call_status, f"remote start {call_status}"))


@dataclass(frozen=True, slots=True)
class ChargeOutcome:
    """What the workflow's settle step needs of the charge (``charge_outcome``)."""

    order_no: str
    started: bool
    ended: bool
    session_id: str | None
    energy_wh: int
    readings: tuple[MeterReading, ...]
    started_at: datetime | None
    stopped_at: datetime | None
    stop_reason: str | None
    tariff_id: str
    tariff_version: int
    # E-bike ports priced by time with power bands (the tariff has bands): the settle step
    # prices ``started_at``..``stopped_at`` with these (gateway time, W) samples.
    is_priced_by_time: bool = False
    power_samples: tuple[tuple[datetime, int], ...] = ()
