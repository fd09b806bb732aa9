"""Paid charging on OCPP piles: what the payment workflow's tasks call, and the hooks the
router and housekeeping run for sessions that belong to a paid order.

Workflow side (``infra/statemachines/README.md``):

- ``begin_paid_charge`` stores the order's marker and sends the remote start (once);
- ``await_session_end`` stores the callback token, resuming it at once when the session has
  already ended or the start already failed;
- ``charge_outcome`` gives the settle step the session's readings, times and stop reason.

Pile side (``shared/services/ocpp/transactions.py``, ``router.py``, housekeeping):

- ``link_started_session``: the first transaction message naming the order (1.6 idTag, 2.0.1
  remoteStartId / idToken) links the session; its card check then answers Accepted;
- ``check_live_charge``: each meter value of a linked session prices the charge so far (the
  order's tariff version) and sends the stop once when the target or the cap is reached;
- ``session_ended``: a stop, an Ended event or a stale close resumes the workflow;
- ``remote_start_answered`` / ``sweep_unstarted``: a rejected, unanswered or unused remote
  start fails the workflow's wait with ``PileNeverStarted``.

E-bike ports (Modbus piles behind gateways) take the same three tasks: ``begin_paid_charge``
hands them to ``shared/services/ebike_charging.py`` (a port command instead of a remote
start, the port's readings instead of meter values), and the marker is the same.

DynamoDB costs are in docs/data-model.md (Paid charging) and docs/message-costs.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from shared.domain.clock import Clock
from shared.domain.errors import Conflict, NotFound
from shared.domain.ids import NewId, new_id
from shared.domain.ocpp.remote_calls import (
    CALL_TIMEOUT,
    PendingCall,
    call_message_id,
    numeric_id,
)
from shared.domain.ocpp.versions import OcppVersion, version_of
from shared.domain.paid_charging import (
    MODBUS,
    NEVER_STARTED,
    REMOTE_START_ACTIONS,
    ChargeOutcome,
    PaidCharge,
    PaidChargeRequest,
    PaidChargeState,
    PaidLink,
    SessionEnd,
    link_for,
    remote_start_key,
    start_verdict,
    tag_key,
)
from shared.domain.sessions import MeterSample, Session
from shared.observability import logger
from shared.services.ocpp import remote_calls
from shared.services.ocpp.ports import (
    FrameSender,
    OcppPorts,
    PendingCallStore,
    PileStore,
    SchemaCheck,
)
from shared.services.sessions import SessionStore, owned_gun_samples
from shared.services.workflow_ports import WorkflowResumer

if TYPE_CHECKING:
    from shared.domain.modbus_readings import SiteLoad
    from shared.domain.ocpp.commands import ChargingProfile
    from shared.domain.pricing import MeterReading
    from shared.domain.site_load import StartAllowance
    from shared.domain.tariffs import Tariff
    from shared.services.ebike_charging import EbikeChargePorts

# Pricing and the OCPP command builders are imported where a paid session needs them: the
# router loads this module for every transaction message (cold start).

__all__ = [
    "ChargeOutcome",
    "PaidChargePorts",
    "PaidChargeRequest",
    "PaidChargeStore",
    "SiteLimits",
    "await_session_end",
    "begin_paid_charge",
    "charge_outcome",
]

# Gun statuses a remote start may go to: 1.6 Available/Preparing (plugged, no transaction);
# 2.0.1 Available, or Occupied (plugged) while no authorized session runs on the gun.
STARTABLE_16 = frozenset({"Available", "Preparing"})
STARTABLE_201 = frozenset({"Available", "Occupied"})
# The cap is the stop point: what the pile draws while the stop travels is the platform's
# (consumed is capped at the prepaid amount), so the driver gets exactly what was paid.
STOP_MARGIN_FEN = 0
SWEEP_BATCH = 200
# The cap of a LIMITED switch-on travels as a TxProfile in the remote start (1.6 §5.11 /
# 2.0.1 F01.FR.08-10). Stack level 0: the lowest, the cap is the only TxProfile the
# transaction starts with.
LIMIT_STACK_LEVEL = 0
_OPEN_SESSIONS_READ = 20


class PaidChargeStore(Protocol):
    """Paid-charge markers on SessionsTable (+ gun statuses and tariff versions of
    BaseDataTable). Every method raises UpstreamFailure when DynamoDB fails."""

    def get(self, order_no: str) -> PaidCharge | None:
        """The order's marker (consistent read), or None."""

    def create(self, charge: PaidCharge) -> bool:
        """Store a new marker; False when the order has one already."""

    def put_start_keys(self, charge: PaidCharge) -> None:
        """Store the names the pile's first transaction message finds the order by."""

    def find_start(self, pile_id: str, key: str) -> str | None:
        """The order a start key names on this pile, or None."""

    def link(self, order_no: str, session_id: str, now: datetime) -> tuple[bool, PaidCharge | None]:
        """starting -> charging with ``session_id`` (a repeat for the same session is True);
        the marker as it is now (None when there is none)."""

    def put_link(self, link: PaidLink) -> None:
        """Store the session's link unless it has one (its stop state survives a repeat)."""

    def get_link(self, session_id: str, *, consistent: bool = False) -> PaidLink | None:
        """The session's link to its order, or None for a session nobody paid for."""

    def request_stop(self, session_id: str, reason: str, call_id: str, now: datetime) -> bool:
        """Record the platform's stop on the link; False when one was recorded already."""

    def store_token(self, order_no: str, task_token: str, now: datetime) -> PaidCharge | None:
        """Set (overwrite) the callback token; the marker after the write, None if none."""

    def record_end(self, order_no: str, end: SessionEnd) -> tuple[bool, PaidCharge | None]:
        """charging -> ended; False (and the marker as it is) when it was not charging."""

    def record_failure(
        self, order_no: str, reason: str, now: datetime
    ) -> tuple[bool, PaidCharge | None]:
        """starting -> never_started; False (and the marker as it is) when not starting."""

    def starts_due(self, now: datetime, limit: int) -> list[PaidCharge]:
        """Markers still starting whose ``check_at`` is due (sparse index, no scan)."""

    def postpone(self, order_no: str, check_at: datetime) -> None:
        """Move a starting marker's next check (nothing when it is no longer starting)."""

    def gun_status(self, pile_id: str, gun_no: int) -> tuple[bool, str | None]:
        """``(gun exists, its last status)`` from the gun item."""

    def tariff(self, tariff_id: str, version: int) -> Tariff:
        """An immutable tariff version. Raises: TariffMissing."""

    def logged_samples(self, session_id: str) -> list[MeterSample]:
        """The samples stored beside a session (eventually consistent)."""

    def site_load(self, station_id: str) -> SiteLoad | None:
        """The station's last transformer-meter reading (``SITELOAD#``), or None."""

    def site_limits(self, station_id: str, pile_id: str) -> SiteLimits:
        """The station's transformer capacity and the pile's rated power."""


@dataclass(frozen=True, slots=True)
class SiteLimits:
    """What the load bands weigh a switch-on against (None: the item or value is missing)."""

    capacity_kva: int | None
    rated_power_w: int | None


@dataclass(frozen=True, slots=True)
class PaidChargePorts:
    """What paid charging needs: its store, the session store, the pile-call ports and
    the workflow resumer."""

    paid_charges: PaidChargeStore
    sessions: SessionStore
    piles: PileStore
    pending_calls: PendingCallStore
    schemas: SchemaCheck
    sender: FrameSender
    workflow: WorkflowResumer
    clock: Clock
    new_id: NewId = new_id
    ebike: EbikeChargePorts | None = None  # e-bike ports (Modbus piles), where wired


# --- the workflow's tasks ------------------------------------------------------------------


def begin_paid_charge(ports: PaidChargePorts, request: PaidChargeRequest, now: datetime) -> str:
    """Store the order's marker and send the remote start; the remote start's call id (on
    a Modbus pile: the START port command's id, see ``ebike_charging.begin_ebike_charge``).

    Idempotent per ``order_no``: a retry answers the same call id and sends nothing new
    (unless the first attempt stopped before the call was stored).

    Load bands at switch-on (SPEC "Load management", ``site_load.start_allowance``): with
    the station's transformer meter live, a site above 50 % of its capacity gets a remote
    start carrying a TxProfile that caps the charge at half the pile's rated power (in W);
    above 80 % (or when even that would overload the site) nothing is sent: the marker is
    stored ``never_started`` with a ``site_at_load_limit`` reason, so the workflow's wait
    fails with ``PileNeverStarted`` and the prepayment is refunded in full, exactly like a
    start the pile rejected. The decision is made once and kept on the marker.

    DynamoDB: 1 GetItem (marker), 1 GetItem (pile), 1 GetItem (gun) (+ 1 Query of the
    pile's active sessions for a 2.0.1 gun that is Occupied), 1 GetItem (site load; with a
    live reading + 1 BatchGetItem of the station and pile), 1 PutItem (marker), 1-2
    PutItems (start keys), 1 PutItem (call). API Gateway: 1 PostToConnection.

    Raises:
        InvalidInput: a bad request field.
        NotFound: no such pile or gun for the order's operator.
        Conflict: the pile is offline, the gun is not free (busy, faulted, unavailable),
            or the order was begun with other terms.
        UpstreamFailure: DynamoDB or API Gateway failed.
    """
    request.check()
    store = ports.paid_charges
    existing = store.get(request.order_no)
    if existing is not None and existing.is_ebike:
        return _begin_ebike(ports, request, now)
    if existing is not None:
        return _resume_begin(ports, existing, request)
    route = ports.piles.get_route(request.pile_id)
    if route is not None and route.protocol == MODBUS:
        return _begin_ebike(ports, request, now)
    version = None if route is None else version_of(route.protocol)
    if route is None or route.operator_id != request.operator_id:
        raise NotFound(f"pile {request.pile_id} not found", kind="pile", id=request.pile_id)
    if version is None:
        raise Conflict("the pile does not speak OCPP", pile_id=request.pile_id)
    if route.operator_id != request.operator_id:
        raise NotFound(f"pile {request.pile_id} not found", kind="pile", id=request.pile_id)
    if not route.is_online or route.connection_id is None:
        raise Conflict("the pile is offline", kind="pile", id=request.pile_id)
    _require_free_gun(ports, request, version)
    allowance = site_allowance(ports, request, now)
    call_id = call_message_id(now, ports.new_id)
    charge = PaidCharge(
        order_no=request.order_no,
        operator_id=request.operator_id,
        station_id=request.station_id,
        pile_id=request.pile_id,
        gun_no=request.gun_no,
        id_tag=request.id_tag,
        target=request.target,
        prepaid_cap_fen=request.prepaid_cap_fen,
        tariff_id=request.tariff_id,
        tariff_version=request.tariff_version,
        protocol=version,
        call_id=call_id,
        created_at=now,
        check_at=now + CALL_TIMEOUT + timedelta(seconds=5),
        remote_start_id=numeric_id(call_id) if version is OcppVersion.V201 else None,
        load_band=None if allowance.load_w is None else allowance.band.value,
        power_limit_w=allowance.power_limit_w,
    )
    charge = at_load_limit(charge, allowance, now)
    if not store.create(charge):
        raced = store.get(request.order_no)
        if raced is None:
            raise Conflict("the order's marker could not be stored", order_no=request.order_no)
        return _resume_begin(ports, raced, request)
    if allowance.is_refused:
        log_load_refusal("paid charge", charge, allowance)
        return call_id
    _send_remote_start(ports, charge)
    logger.info(
        "paid charge begun",
        extra={
            "order_no": charge.order_no,
            "pile_id": charge.pile_id,
            "gun_no": charge.gun_no,
            "power_limit_w": charge.power_limit_w,
        },
    )
    return call_id


def site_allowance(
    ports: PaidChargePorts,
    request: PaidChargeRequest,
    now: datetime,
    *,
    rated_power_w: int | None = None,
) -> StartAllowance:
    """The site's load band for switching the gun (or e-bike port) on now
    (``site_load.start_allowance`` with the station's transformer capacity, its live load
    and ``rated_power_w``; by default the pile's rated power stands for the gun's: pile
    models carry no per-gun rating). Without a live meter reading nothing else is read: a
    silent meter never blocks charging.

    DynamoDB: 1 GetItem (site load); with a live reading + 1 BatchGetItem (station, pile).
    """
    from shared.domain.site_load import LoadBand, StartAllowance, is_live, start_allowance

    load = ports.paid_charges.site_load(request.station_id)
    if load is None or not is_live(load, now):
        return StartAllowance(LoadBand.NORMAL, None, None, None)
    limits = ports.paid_charges.site_limits(request.station_id, request.pile_id)
    rated = limits.rated_power_w if rated_power_w is None else rated_power_w
    if rated is None:
        logger.warning("pile without a rated power", extra={"pile_id": request.pile_id})
        return StartAllowance(LoadBand.NORMAL, None, None, None)
    return start_allowance(
        capacity_kva=limits.capacity_kva, load=load, rated_power_w=rated, now=now
    )


def at_load_limit(charge: PaidCharge, allowance: StartAllowance, now: datetime) -> PaidCharge:
    """``charge`` as its marker is first stored: never started, with the reason, when the
    site's load refuses the start; unchanged otherwise."""
    from shared.domain.site_load import SITE_AT_LOAD_LIMIT

    if not allowance.is_refused:
        return charge
    return replace(
        charge,
        state=PaidChargeState.NEVER_STARTED,
        failure=(
            f"{SITE_AT_LOAD_LIMIT}: the site draws {allowance.load_w} W of its "
            f"{allowance.capacity_w} W transformer capacity, no new charge may start"
        ),
        failed_at=now,
    )


def log_load_refusal(what: str, charge: PaidCharge, allowance: StartAllowance) -> None:
    """Log the start of ``charge`` (``what``: "paid charge", "paid e-bike charge") the
    site's load refused."""
    logger.info(
        f"{what} refused at the site's load limit",
        extra={
            "order_no": charge.order_no,
            "station_id": charge.station_id,
            "load_w": allowance.load_w,
            "capacity_w": allowance.capacity_w,
        },
    )


def _begin_ebike(ports: PaidChargePorts, request: PaidChargeRequest, now: datetime) -> str:
    from shared.services.ebike_charging import begin_ebike_charge

    return begin_ebike_charge(ports, request, now)


def _resume_begin(ports: PaidChargePorts, charge: PaidCharge, request: PaidChargeRequest) -> str:
    if not charge.is_same_request(request):
        raise Conflict("the order was begun with other terms", kind="order", id=request.order_no)
    if charge.is_starting and ports.pending_calls.get(charge.pile_id, charge.call_id) is None:
        # The first attempt stopped between its marker and its call: send it now.
        _send_remote_start(ports, charge)
    return charge.call_id


def _require_free_gun(ports: PaidChargePorts, request: PaidChargeRequest, version: str) -> None:
    exists, status = ports.paid_charges.gun_status(request.pile_id, request.gun_no)
    if not exists:
        raise NotFound(
            f"gun {request.gun_no} of pile {request.pile_id} not found",
            kind="gun",
            id=f"{request.pile_id}/{request.gun_no}",
        )
    if status is None:
        return  # never reported: the pile itself refuses a start it cannot make
    startable = STARTABLE_16 if version == OcppVersion.V16 else STARTABLE_201
    if status not in startable or (status == "Occupied" and _has_active_session(ports, request)):
        raise Conflict(
            f"gun {request.gun_no} is {status}, not free to start",
            kind="gun",
            id=f"{request.pile_id}/{request.gun_no}",
        )


def _has_active_session(ports: PaidChargePorts, request: PaidChargeRequest) -> bool:
    from shared.domain.base_data import PageRequest
    from shared.domain.sessions import SessionFilter, SessionStatus

    page = ports.sessions.list_sessions(
        SessionFilter(request.operator_id, request.pile_id, SessionStatus.ACTIVE),
        PageRequest(limit=_OPEN_SESSIONS_READ),
    )
    # A 2.0.1 transaction begun at plug-in (TxStartPoint EVConnected) waits for a token:
    # the remote start authorizes it (F01), and its next event names our remoteStartId.
    return any(
        session.gun_no == request.gun_no and session.id_tag is not None for session in page.items
    )


def _send_remote_start(ports: PaidChargePorts, charge: PaidCharge) -> None:
    from shared.domain.ocpp.commands import RemoteStart

    ports.paid_charges.put_start_keys(charge)
    route, version = remote_calls.route_to(charge.pile_id, None, ports.piles)
    command = RemoteStart(charge.gun_no, charge.id_tag, charging_profile=_limit_profile(charge))
    request = command.to_ocpp(version, numeric_id(charge.call_id))
    remote_calls.place_call(
        route,
        version,
        charge.call_id,
        request.action,
        request.payload,
        requested_by=None,
        pending_calls=ports.pending_calls,
        schemas=ports.schemas,
        sender=ports.sender,
        clock=ports.clock,
    )


def _limit_profile(charge: PaidCharge) -> ChargingProfile | None:
    """The TxProfile capping a LIMITED charge: relative to the transaction's start, one
    period from 0 s at ``power_limit_w`` W (1.6 chargingRateUnit W, 2.0.1 likewise); None
    for a charge at its rated power."""
    if charge.power_limit_w is None:
        return None
    from shared.domain.ocpp.commands import (
        ChargingProfile,
        ChargingSchedule,
        ProfileKind,
        ProfilePurpose,
        RateUnit,
        SchedulePeriod,
    )

    return ChargingProfile(
        profile_id=numeric_id(charge.call_id),
        stack_level=LIMIT_STACK_LEVEL,
        purpose=ProfilePurpose.TX,
        kind=ProfileKind.RELATIVE,
        schedule=ChargingSchedule(
            rate_unit=RateUnit.W, periods=(SchedulePeriod(start_s=0, limit=charge.power_limit_w),)
        ),
    )


def await_session_end(
    ports: PaidChargePorts, order_no: str, task_token: str, now: datetime
) -> None:
    """Store the workflow's callback token on the order (overwriting an earlier one); when
    the session has already ended or the start has already failed, resume it at once.

    DynamoDB: 1 UpdateItem. Step Functions: 1 SendTaskSuccess/Failure when already over.

    Raises: NotFound (no marker for the order), UpstreamFailure.
    """
    charge = ports.paid_charges.store_token(order_no, task_token, now)
    if charge is None:
        raise NotFound(f"no paid charge for order {order_no}", kind="order", id=order_no)
    if charge.state is PaidChargeState.ENDED and charge.end is not None:
        ports.workflow.succeed(task_token, charge.end.output(order_no))
    elif charge.state is PaidChargeState.NEVER_STARTED:
        ports.workflow.fail(task_token, NEVER_STARTED, charge.failure or "never started")


def charge_outcome(ports: PaidChargePorts, order_no: str) -> ChargeOutcome:
    """The charge as the settle step prices it: the session's register readings (start,
    samples, stop), times, stop reason (the platform's target/cap stop first) and the
    order's tariff version; ``started`` False when no session was ever linked.

    DynamoDB: 1 GetItem (marker); when linked: 2 GetItems (session, link), 1 Query (its
    log), 1.6: + the gun's readings sent with id -1.

    Raises: NotFound (no marker, or its session vanished), UpstreamFailure.
    """
    store = ports.paid_charges
    charge = store.get(order_no)
    if charge is None:
        raise NotFound(f"no paid charge for order {order_no}", kind="order", id=order_no)
    if charge.is_ebike:
        from shared.services.ebike_charging import ebike_outcome

        return ebike_outcome(ports, charge)
    is_over = charge.state in (PaidChargeState.ENDED, PaidChargeState.NEVER_STARTED)
    if charge.session_id is None:
        return ChargeOutcome(
            order_no=order_no,
            started=False,
            ended=is_over,
            session_id=None,
            energy_wh=0,
            readings=(),
            started_at=None,
            stopped_at=None,
            stop_reason=None,
            tariff_id=charge.tariff_id,
            tariff_version=charge.tariff_version,
        )
    session = ports.sessions.get(charge.session_id, consistent=True)
    if session is None:
        raise NotFound("the order's session is gone", kind="session", id=charge.session_id)
    link = store.get_link(session.session_id, consistent=True)
    samples = set(ports.sessions.log(session.session_id).samples)
    if session.protocol is OcppVersion.V16:
        samples.update(owned_gun_samples(ports.sessions, session, now=ports.clock()))
    readings = _readings(session, samples)
    return ChargeOutcome(
        order_no=order_no,
        started=True,
        ended=is_over or not session.is_open,
        session_id=session.session_id,
        energy_wh=session.energy_wh if not session.is_open else _energy(readings),
        readings=readings,
        started_at=session.started_at,
        stopped_at=session.stopped_at,
        stop_reason=_stop_reason(link, session),
        tariff_id=charge.tariff_id,
        tariff_version=charge.tariff_version,
    )


def _readings(session: Session, samples: Iterable[MeterSample]) -> tuple[MeterReading, ...]:
    from shared.domain.pricing import session_meter_readings

    return session_meter_readings(session, samples)


def _energy(readings: Sequence[MeterReading]) -> int:
    from shared.domain.sessions import register_energy_wh

    return register_energy_wh((r.at, r.register_wh) for r in readings)


def _stop_reason(link: PaidLink | None, session: Session) -> str | None:
    if link is not None and link.stop_reason is not None:
        return link.stop_reason
    if session.stop_reason is not None:
        return session.stop_reason
    return "closed_stale" if session.closed_stale_at is not None else None


# --- the pile side -------------------------------------------------------------------------


def link_started_session(
    ports: PaidChargePorts, session: Session, *, id_tag: str | None, remote_start_id: int | None
) -> bool:
    """Link a session to the order its start names (2.0.1 remoteStartId first, then the
    idTag); True when the session is (now or already) that order's, so its token is
    accepted.

    DynamoDB: 1-2 GetItems (start keys); when one names an order: 1 conditional UpdateItem
    (marker) + 1 conditional PutItem (the session's link).

    Raises: UpstreamFailure.
    """
    store = ports.paid_charges
    keys = []
    if remote_start_id is not None:
        keys.append(remote_start_key(remote_start_id))
    if id_tag:
        keys.append(tag_key(id_tag))
    order_no = None
    for key in keys:
        order_no = store.find_start(session.pile_id, key)
        if order_no is not None:
            break
    if order_no is None:
        return False
    linked, charge = store.link(order_no, session.session_id, ports.clock())
    if not linked or charge is None:
        logger.warning(
            "start names an order that is not starting",
            extra={
                "order_no": order_no,
                "session_id": session.session_id,
                "state": None if charge is None else charge.state.value,
            },
        )
        return False
    store.put_link(link_for(charge, session.session_id))
    if session.gun_no is not None and session.gun_no != charge.gun_no:
        logger.warning(
            "paid session started on another gun",
            extra={"order_no": order_no, "gun_no": session.gun_no, "ordered": charge.gun_no},
        )
    logger.info(
        "paid session linked", extra={"order_no": order_no, "session_id": session.session_id}
    )
    return True


def check_live_charge(
    ports: PaidChargePorts, session: Session, samples: Sequence[MeterSample]
) -> str | None:
    """Price a linked session so far and stop it once when its target or cap is reached;
    the stop reason when a stop was sent now.

    The exact price needs every reading (tariff periods), so the session's log is read
    only once an upper bound (energy since the start at the tariff's dearest rate, plus
    rounding) says the target or the cap may be reached; before that nothing is read.

    DynamoDB: 1 GetItem (link; nothing more for a session nobody paid for), 1 GetItem per
    container (the tariff version, immutable and cached); near the cap or target: 1 Query
    (the session's log, eventually consistent); a stop: 1 conditional UpdateItem (link) +
    1 GetItem (pile) + 1 PutItem (the call). API Gateway: 1 PostToConnection.

    Raises: TariffMissing, UpstreamFailure.
    """
    store = ports.paid_charges
    link = store.get_link(session.session_id)
    if link is None or link.is_stop_requested or not session.is_open:
        return None
    from shared.domain.ocpp.commands import RemoteStop
    from shared.domain.pricing import LiveCharge, session_cost, stop_decision

    tariff = store.tariff(link.tariff_id, link.tariff_version)
    if not _may_stop(link, session, samples, tariff):
        return None
    known = [*store.logged_samples(session.session_id), *samples]
    readings = _readings(session, known)
    if not readings or session.started_at is None:
        return None
    cost = session_cost(tariff, session, known)
    elapsed_s = max(0, int((readings[-1].at - session.started_at).total_seconds()))
    live = LiveCharge(elapsed_s=elapsed_s, energy_wh=cost.energy_wh, cost_fen=cost.total_fen)
    reason = stop_decision(link.target, link.prepaid_cap_fen, live, margin_fen=STOP_MARGIN_FEN)
    if reason is None:
        return None
    now = ports.clock()
    call_id = call_message_id(now, ports.new_id)
    if not store.request_stop(session.session_id, reason.value, call_id, now):
        return None  # another message sent it
    route, version = remote_calls.route_to(session.pile_id, None, ports.piles)
    stop = RemoteStop(session.ocpp_transaction_id).to_ocpp(version, numeric_id(call_id))
    remote_calls.place_call(
        route,
        version,
        call_id,
        stop.action,
        stop.payload,
        requested_by=None,
        pending_calls=ports.pending_calls,
        schemas=ports.schemas,
        sender=ports.sender,
        clock=ports.clock,
    )
    logger.info(
        "paid session stopped by the platform",
        extra={
            "order_no": link.order_no,
            "session_id": session.session_id,
            "reason": reason.value,
            "cost_fen": cost.total_fen,
        },
    )
    return reason.value


def _may_stop(
    link: PaidLink, session: Session, samples: Sequence[MeterSample], tariff: Tariff
) -> bool:
    """False only when neither the target nor the cap can have been reached by the newest
    reading of ``samples``: its energy since the meter start (no reset seen), priced at the
    dearest period, plus a fen of rounding per period, is below them."""
    from shared.domain.pricing import ChargeMode

    newest = max(
        (s for s in samples if s.energy_wh is not None), key=lambda s: s.sampled_at, default=None
    )
    start_wh = session.meter_start_wh
    if newest is None or newest.energy_wh is None or start_wh is None:
        return True
    if session.started_at is None or newest.energy_wh < start_wh:
        return True  # a meter reset: only the exact figure tells
    energy_wh = newest.energy_wh - start_wh
    dearest = max(p.electricity_fen_per_kwh + p.service_fen_per_kwh for p in tariff.periods)
    cost_bound = -(-energy_wh * dearest // 1000) + len(tariff.periods) + 1 + STOP_MARGIN_FEN
    elapsed_s = (newest.sampled_at - session.started_at).total_seconds()
    target = link.target
    reached = {
        ChargeMode.TIME: elapsed_s,
        ChargeMode.ENERGY: energy_wh,
        ChargeMode.AMOUNT: cost_bound,
    }
    if target.value is not None and reached.get(target.mode, 0) >= target.value:
        return True
    return cost_bound >= link.prepaid_cap_fen


def session_ended(ports: PaidChargePorts, session: Session) -> bool:
    """Record the end of a linked session on its order and resume the workflow's wait
    (when its token is stored; otherwise ``await_session_end`` resumes it); True when
    this call recorded the end.

    DynamoDB: 1 GetItem (link, consistent); linked: 1 conditional UpdateItem (marker).
    Step Functions: 1 SendTaskSuccess when the token is stored.

    Raises: UpstreamFailure.
    """
    store = ports.paid_charges
    link = store.get_link(session.session_id, consistent=True)
    if link is None:
        return False
    end = SessionEnd(
        session_id=session.session_id,
        energy_wh=session.energy_wh,
        stop_reason=_stop_reason(link, session),
        ended_at=ports.clock(),
    )
    recorded, charge = store.record_end(link.order_no, end)
    if not recorded:
        return False
    logger.info(
        "paid session ended",
        extra={"order_no": link.order_no, "session_id": session.session_id},
    )
    if charge is not None and charge.task_token is not None:
        ports.workflow.succeed(charge.task_token, end.output(link.order_no))
    return True


def remote_start_answered(ports: PaidChargePorts, call: PendingCall) -> bool:
    """A remote start's call has ended (answered, CALLERROR, invalid answer): when it is a
    paid order's and the pile did not accept, fail the order at once; True when failed.

    DynamoDB: for remote starts only: 1 GetItem (start key) + 1 GetItem (marker); a
    failure: 1 conditional UpdateItem. Step Functions: 1 SendTaskFailure when the token
    is stored.

    Raises: UpstreamFailure.
    """
    if call.action not in REMOTE_START_ACTIONS:
        return False
    charge = _charge_of_call(ports, call)
    if charge is None or not charge.is_starting:
        return False
    now = ports.clock()
    verdict = start_verdict(
        call_status=call.status.value,
        answer_status=_answer_status(call),
        answered_at=call.answered_at,
        call_timeout_at=call.timeout_at,
        created_at=charge.created_at,
        now=now,
    )
    if verdict.failure is None:
        return False
    return fail_start(ports, charge, verdict.failure, now)


def _charge_of_call(ports: PaidChargePorts, call: PendingCall) -> PaidCharge | None:
    try:
        payload = json.loads(call.request_json)
    except ValueError:
        return None
    if call.version is OcppVersion.V16:
        key = tag_key(str(payload.get("idTag", "")))
    else:
        key = remote_start_key(int(payload.get("remoteStartId", 0)))
    order_no = ports.paid_charges.find_start(call.pile_id, key)
    charge = ports.paid_charges.get(order_no) if order_no else None
    if charge is None or charge.call_id != call.unique_id:
        return None
    return charge


def _answer_status(call: PendingCall) -> str | None:
    if call.response_json is None:
        return None
    try:
        answer: Any = json.loads(call.response_json)
    except ValueError:
        return None
    return str(answer.get("status")) if isinstance(answer, dict) else None


def fail_start(ports: PaidChargePorts, charge: PaidCharge, reason: str, now: datetime) -> bool:
    """starting -> never_started and ``PileNeverStarted`` to the waiting workflow; False
    when the order had moved on (a session linked meanwhile).

    Raises: UpstreamFailure.
    """
    failed, current = ports.paid_charges.record_failure(charge.order_no, reason, now)
    if not failed:
        return False
    logger.info(
        "paid charge never started",
        extra={"order_no": charge.order_no, "pile_id": charge.pile_id, "reason": reason},
    )
    if current is not None and current.task_token is not None:
        ports.workflow.fail(current.task_token, NEVER_STARTED, reason)
    return True


@dataclass(frozen=True, slots=True)
class StartSweep:
    """What one ``sweep_unstarted`` run did."""

    failed: tuple[str, ...]
    postponed: int
    checked: int


def sweep_unstarted(
    ports: PaidChargePorts, now: datetime, *, limit: int = SWEEP_BATCH
) -> StartSweep:
    """Housekeeping: fail the orders whose remote start was refused, timed out, or left
    without a session for 3 minutes after the pile accepted it; look again later at the
    others.

    DynamoDB: 1 Query (sparse index of starting markers due); per marker 1 GetItem (its
    call) and 1 conditional UpdateItem (failed, or its next check).

    Raises: UpstreamFailure.
    """
    failed: list[str] = []
    postponed = 0
    due = ports.paid_charges.starts_due(now, limit)
    for charge in due:
        if charge.is_ebike:
            moved = _sweep_ebike(ports, charge, now)
            if moved == "failed":
                failed.append(charge.order_no)
            postponed += moved == "postponed"
            continue
        call = ports.pending_calls.get(charge.pile_id, charge.call_id)
        verdict = start_verdict(
            call_status=None if call is None else call.status.value,
            answer_status=None if call is None else _answer_status(call),
            answered_at=None if call is None else call.answered_at,
            call_timeout_at=None if call is None else call.timeout_at,
            created_at=charge.created_at,
            now=now,
        )
        if verdict.failure is not None:
            if fail_start(ports, charge, verdict.failure, now):
                failed.append(charge.order_no)
            continue
        if verdict.check_again_at is not None:
            ports.paid_charges.postpone(charge.order_no, verdict.check_again_at)
            postponed += 1
    return StartSweep(failed=tuple(failed), postponed=postponed, checked=len(due))


def _sweep_ebike(ports: PaidChargePorts, charge: PaidCharge, now: datetime) -> str | None:
    """An e-bike start with no session yet: its command decides (the bridge and the
    command timeout normally did already; this catches a missed listener)."""
    from shared.domain.paid_charging import LOST_CALL_GRACE
    from shared.services.ebike_charging import command_finished

    command = (
        None
        if ports.ebike is None
        else ports.ebike.commands.commands.get(charge.pile_id, charge.call_id)
    )
    if command is None:
        if now >= charge.created_at + LOST_CALL_GRACE:
            reason = "the start command was never sent"
            return "failed" if fail_start(ports, charge, reason, now) else None
        ports.paid_charges.postpone(charge.order_no, charge.created_at + LOST_CALL_GRACE)
        return "postponed"
    if command.status.is_open:
        ports.paid_charges.postpone(charge.order_no, command.timeout_at + timedelta(seconds=1))
        return "postponed"
    if command_finished(ports, command):
        current = ports.paid_charges.get(charge.order_no)
        if current is not None and current.state is PaidChargeState.NEVER_STARTED:
            return "failed"
    return None


def is_paid_token(ports: PaidChargePorts, pile_id: str, id_tag: str) -> bool:
    """Whether ``id_tag`` is the token of an order starting on this pile (Authorize of a
    remote start's idTag, which no card carries).

    DynamoDB: 1 GetItem (start key) + 1 GetItem (marker) when the key exists.
    """
    order_no = ports.paid_charges.find_start(pile_id, tag_key(id_tag))
    if order_no is None:
        return False
    charge = ports.paid_charges.get(order_no)
    return charge is not None and charge.state in (
        PaidChargeState.STARTING,
        PaidChargeState.CHARGING,
    )


def ports_of(ports: OcppPorts) -> PaidChargePorts | None:
    """The paid-charging ports inside the router's, or None when they carry none."""
    if ports.paid_charges is None or ports.workflow is None:
        return None
    return PaidChargePorts(
        paid_charges=ports.paid_charges,
        sessions=ports.sessions,
        piles=ports.piles,
        pending_calls=ports.pending_calls,
        schemas=ports.schemas,
        sender=ports.sender,
        workflow=ports.workflow,
        clock=ports.clock,
    )
