"""Paid charging on e-bike ports: the same payment workflow as car piles, with a port
command where a car pile gets a remote start, and the port's readings where a car pile
sends meter values.

Workflow side (called from ``paid_charging`` when the order's pile speaks Modbus):

- ``begin_ebike_charge`` stores the order's marker (``PaidCharge`` with protocol
  ``modbus``) and a port key naming the order, then sends the START command (power, time
  and energy limits from the target: the pile's own backstops);
- ``await_session_end`` is the car piles' (the marker is the same);
- ``ebike_outcome`` gives the settle step the port's readings since the start, its power
  samples, and whether the tariff prices by time (power bands) or by energy.

Port side:

- ``command_finished`` (the Modbus bridge's write answers, housekeeping's timeouts): the
  start's echo links the port's charge to the order (session ``ebike-{order_no}``); a
  rejected or unanswered start fails the workflow's wait with ``PileNeverStarted``; the
  stop's echo ends the session; an unanswered stop is sent again (for an hour);
- ``EbikePortEvents.reading``: each reading of a port charging for an order prices the
  charge so far (by time with power bands, or by energy) and switches the port off once
  when the target or the prepaid cap is reached;
- ``EbikePortEvents.state``: the port leaving ``charging`` (idle, plugged after its own
  limit, full, fault) ends the session and resumes the workflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from shared.domain.errors import Conflict, NotFound
from shared.domain.modbus_commands import (
    COMMAND_TIMEOUT,
    MAX_ENERGY_LIMIT_WH,
    MAX_TIME_LIMIT_MIN,
    CommandStatus,
    ModbusCommand,
    PortCommand,
    PortCommandKind,
)
from shared.domain.modbus_readings import PortReading, PortState
from shared.domain.ocpp.remote_calls import call_message_id
from shared.domain.paid_charging import (
    MODBUS,
    ChargeOutcome,
    PaidCharge,
    PaidChargeRequest,
    PaidChargeState,
    SessionEnd,
    ebike_session_id,
    link_for,
    port_key,
)
from shared.observability import logger
from shared.services import modbus_commands
from shared.services.modbus_commands import ModbusCommandPorts

if TYPE_CHECKING:
    from shared.domain.piles import Pile
    from shared.domain.pricing import Cost, LiveCharge, MeterReading
    from shared.domain.tariffs import Tariff
    from shared.services.paid_charging import PaidChargePorts

# Port statuses (the gun item the uplink writes) a paid start may go to: free, plugged,
# or full and still plugged. A charging or faulted port is refused.
STARTABLE_PORT = frozenset({"Available", "Preparing", "Finishing"})
# Readings this long before the start give the energy counter's value at the start.
BASELINE_WINDOW = timedelta(minutes=5)
PURPOSE_PREFIX = "paid:"
# How long an unconfirmed platform stop is sent again (once per command timeout).
STOP_RETRY_WINDOW = timedelta(hours=1)


class PortReadings(Protocol):
    def port_readings(
        self, pile_id: str, port_no: int, since: datetime, until: datetime
    ) -> list[PortReading]:
        """A port's readings in ``since..until`` (gateway time), deduplicated, time-ordered,
        energy folded to a monotonic register. Raises: UpstreamFailure."""


@dataclass(frozen=True, slots=True)
class EbikeChargePorts:
    """What e-bike paid charging needs beyond the car piles' ports."""

    commands: ModbusCommandPorts
    readings: PortReadings


def _ebike(ports: PaidChargePorts) -> EbikeChargePorts:
    if ports.ebike is None:
        raise Conflict("e-bike piles are not wired to this function")
    return ports.ebike


def purpose_of(order_no: str) -> str:
    return f"{PURPOSE_PREFIX}{order_no}"


# --- the workflow's tasks ------------------------------------------------------------------


def begin_ebike_charge(ports: PaidChargePorts, request: PaidChargeRequest, now: datetime) -> str:
    """Store the order's marker and switch the port on; the start command's id.

    Idempotent per ``order_no`` like ``begin_paid_charge``.

    Load bands at switch-on (SPEC "Load management", as ``begin_paid_charge`` for car
    piles): with the station's transformer meter live, a site above 50 % of its capacity
    gets a START whose power limit is half the port's rated power (the pile's rating over
    its ports); above 80 % (or when even that would overload the site) no frame is sent:
    the marker is stored ``never_started`` with a ``site_at_load_limit`` reason, so the
    workflow's wait fails with ``PileNeverStarted`` and the prepayment is refunded in full,
    as for a START the pile refused. The decision is kept on the marker (a retry re-sends
    the same limit).

    DynamoDB: 1 GetItem (marker), 1 GetItem (pile), 1 GetItem (port), 1 GetItem (site load;
    with a live reading + 1 BatchGetItem of the station and pile), 1 PutItem (marker), 1
    PutItem (port key), 1 TransactWriteItems (command). IoT: 1 Publish.

    Raises:
        NotFound: no such pile or port for the order's operator.
        Conflict: the port is busy or faulted, or the order was begun with other terms.
        InvalidInput, UpstreamFailure.
    """
    request.check()
    ebike = _ebike(ports)
    store = ports.paid_charges
    existing = store.get(request.order_no)
    if existing is not None:
        if not existing.is_same_request(request):
            raise Conflict(
                "the order was begun with other terms", kind="order", id=request.order_no
            )
        if (
            existing.is_starting
            and ebike.commands.commands.get(existing.pile_id, existing.call_id) is None
        ):
            _send_start(ports, existing)
        return existing.call_id
    pile = modbus_commands.modbus_pile(request.pile_id, request.operator_id, ebike.commands.piles)
    port_id = f"{request.pile_id}/{request.gun_no}"
    exists, status = store.gun_status(request.pile_id, request.gun_no)
    if not exists or request.gun_no > pile.gun_count:
        raise NotFound(f"port {request.gun_no} of pile {request.pile_id} not found", id=port_id)
    if status is not None and status not in STARTABLE_PORT:
        raise Conflict(f"port {request.gun_no} is {status}, not free to start", id=port_id)
    from shared.services.paid_charging import at_load_limit, log_load_refusal, site_allowance

    allowance = site_allowance(ports, request, now, rated_power_w=port_rated_power_w(pile))
    command_id = call_message_id(now, ports.new_id)
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
        protocol=MODBUS,
        call_id=command_id,
        created_at=now,
        check_at=now + COMMAND_TIMEOUT + timedelta(seconds=5),
        load_band=None if allowance.load_w is None else allowance.band.value,
        power_limit_w=allowance.power_limit_w,
    )
    charge = at_load_limit(charge, allowance, now)
    if not store.create(charge):
        raced = store.get(request.order_no)
        if raced is None or not raced.is_same_request(request):
            raise Conflict(
                "the order was begun with other terms", kind="order", id=request.order_no
            )
        return raced.call_id
    if allowance.is_refused:
        log_load_refusal("paid e-bike charge", charge, allowance)
        return command_id
    _send_start(ports, charge)
    logger.info(
        "paid e-bike charge begun",
        extra={
            "order_no": charge.order_no,
            "pile_id": charge.pile_id,
            "port_no": charge.gun_no,
            "power_limit_w": charge.power_limit_w,
        },
    )
    return command_id


def port_rated_power_w(pile: Pile) -> int:
    """A port's share of the pile's rated power (the pile's rating covers all its ports;
    at least 1 W)."""
    return max(1, pile.rated_power_w // max(1, pile.gun_count))


def _other_terms(request: PaidChargeRequest) -> Conflict:
    return Conflict("the order was begun with other terms", kind="order", id=request.order_no)


def start_command(charge: PaidCharge) -> PortCommand:
    """The START of an order: the pile's own limits from the target (time rounded up to a
    minute, energy when it fits a register; the platform stops at the target itself) and
    the power limit of the site's load band (``PaidCharge.power_limit_w``, LIMITED: half the
    port's rated power; 0 = the pile's default)."""
    from shared.domain.pricing import ChargeMode

    target = charge.target
    time_limit_min = energy_limit_wh = 0
    if target.mode is ChargeMode.TIME and target.value is not None:
        time_limit_min = min(MAX_TIME_LIMIT_MIN, -(-target.value // 60))
    if target.mode is ChargeMode.ENERGY and target.value is not None:
        energy_limit_wh = target.value if target.value <= MAX_ENERGY_LIMIT_WH else 0
    return PortCommand(
        PortCommandKind.START,
        charge.gun_no,
        power_limit_w=charge.power_limit_w or 0,
        time_limit_min=time_limit_min,
        energy_limit_wh=energy_limit_wh,
    )


def _send_start(ports: PaidChargePorts, charge: PaidCharge) -> None:
    ebike = _ebike(ports)
    ports.paid_charges.put_start_keys(charge)
    pile = modbus_commands.modbus_pile(charge.pile_id, charge.operator_id, ebike.commands.piles)
    modbus_commands.send_port_command(
        pile,
        start_command(charge),
        ebike.commands,
        purpose=purpose_of(charge.order_no),
        command_id=charge.call_id,
    )


def ebike_outcome(ports: PaidChargePorts, charge: PaidCharge) -> ChargeOutcome:
    """The port's charge as the settle step prices it.

    DynamoDB: 1 Query (the port's readings), 1 GetItem (tariff version, cached).

    Raises: TariffMissing, UpstreamFailure.
    """
    is_over = charge.state in (PaidChargeState.ENDED, PaidChargeState.NEVER_STARTED)
    tariff = ports.paid_charges.tariff(charge.tariff_id, charge.tariff_version)
    is_by_time = bool(tariff.ebike_power_bands)
    if charge.session_id is None or charge.linked_at is None:
        return ChargeOutcome(
            order_no=charge.order_no,
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
            is_priced_by_time=is_by_time,
        )
    until = charge.end.ended_at if charge.end is not None else ports.clock()
    span = _span(ports, charge, until)
    return ChargeOutcome(
        order_no=charge.order_no,
        started=True,
        ended=is_over,
        session_id=charge.session_id,
        energy_wh=span.energy_wh,
        readings=span.meter_readings(),
        started_at=charge.linked_at,
        stopped_at=until if charge.end is not None else None,
        stop_reason=charge.end.stop_reason if charge.end is not None else None,
        tariff_id=charge.tariff_id,
        tariff_version=charge.tariff_version,
        is_priced_by_time=is_by_time,
        power_samples=span.power_samples(),
    )


# --- the port side -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChargeSpan:
    """A port's readings from the one at (or just before) the start on."""

    started_at: datetime
    readings: tuple[PortReading, ...]

    @property
    def energy_wh(self) -> int:
        if len(self.readings) < 2:
            return 0
        return self.readings[-1].energy_wh - self.readings[0].energy_wh

    @property
    def last_at(self) -> datetime:
        """The newest reading's time, never before the start (a charge ended before its
        first reading after the start lasted no time)."""
        return max(self.readings[-1].at, self.started_at) if self.readings else self.started_at

    def meter_readings(self) -> tuple[MeterReading, ...]:
        from shared.domain.pricing import MeterReading

        return tuple(MeterReading(at=r.at, register_wh=r.energy_wh) for r in self.readings)

    def power_samples(self) -> tuple[tuple[datetime, int], ...]:
        return tuple((r.at, r.power_w) for r in self.readings if r.at >= self.started_at)


def _span(ports: PaidChargePorts, charge: PaidCharge, until: datetime) -> ChargeSpan:
    assert charge.linked_at is not None
    found = _ebike(ports).readings.port_readings(
        charge.pile_id, charge.gun_no, charge.linked_at - BASELINE_WINDOW, until
    )
    return ChargeSpan(charge.linked_at, tuple(span_readings(found, charge.linked_at)))


def span_readings(found: list[PortReading], linked_at: datetime) -> list[PortReading]:
    """The readings of an order's charge: from the baseline on. The baseline is the port's
    last reading before the link that does not show it charging: the pile switches the port
    on when the START arrives, and its echo links the order a moment later (by our clock),
    so a poll in between already counts energy of this charge (a started port was not
    charging: ``begin_ebike_charge`` refuses one that is). Without such a reading, the last
    one at or before the link."""
    before = [r for r in found if r.at <= linked_at]
    idle = [i for i, r in enumerate(before) if r.state is not PortState.CHARGING]
    first = idle[-1] if idle else max(0, len(before) - 1)
    return before[first:] + [r for r in found if r.at > linked_at]


def price_span(tariff: Tariff, span: ChargeSpan, until: datetime) -> Cost:
    """The cost of the port's charge so far: by time with power bands when the tariff has
    them, else by energy over the register readings."""
    from shared.domain.pricing import price_energy, price_time

    if tariff.ebike_power_bands:
        return price_time(
            tariff, span.started_at, max(until, span.started_at), span.power_samples()
        )
    return price_energy(tariff, span.meter_readings())


def _live(tariff: Tariff, span: ChargeSpan, until: datetime) -> LiveCharge:
    from shared.domain.pricing import LiveCharge

    cost = price_span(tariff, span, until)
    elapsed_s = max(0, int((until - span.started_at).total_seconds()))
    return LiveCharge(elapsed_s=elapsed_s, energy_wh=span.energy_wh, cost_fen=cost.total_fen)


def _charging_order(ports: PaidChargePorts, pile_id: str, port_no: int) -> PaidCharge | None:
    order_no = ports.paid_charges.find_start(pile_id, port_key(port_no))
    charge = ports.paid_charges.get(order_no) if order_no else None
    if charge is None or charge.state is not PaidChargeState.CHARGING or not charge.is_ebike:
        return None
    return charge


def port_reading(
    ports: PaidChargePorts, pile_id: str, port_no: int, reading: PortReading
) -> str | None:
    """Price a port's paid charge so far and switch it off once at the target or the cap;
    the stop reason when the stop was sent now.

    DynamoDB: nothing for a port that is not charging; 1 GetItem (port key; nothing more
    for a port nobody paid for), 1 GetItem (marker), 1 GetItem (link), 1 Query (readings),
    the tariff (cached); a stop: 1 conditional UpdateItem (link) + as ``send_port_command``.

    Raises: TariffMissing, UpstreamFailure.
    """
    from shared.domain.pricing import stop_decision

    if reading.state is not PortState.CHARGING:
        return None  # a port that is not charging has nothing to stop (and costs no read)
    charge = _charging_order(ports, pile_id, port_no)
    if charge is None or charge.session_id is None:
        return None
    link = ports.paid_charges.get_link(charge.session_id)
    if link is None or link.is_stop_requested:
        return None
    tariff = ports.paid_charges.tariff(charge.tariff_id, charge.tariff_version)
    until = max(reading.at, charge.linked_at or reading.at)
    span = _span(ports, charge, until)
    live = _live(tariff, span, until)
    reason = stop_decision(link.target, link.prepaid_cap_fen, live)
    if reason is None:
        return None
    ebike = _ebike(ports)
    now = ports.clock()
    command_id = call_message_id(now, ports.new_id)
    if not ports.paid_charges.request_stop(charge.session_id, reason.value, command_id, now):
        return None  # another reading sent it
    pile = modbus_commands.modbus_pile(pile_id, charge.operator_id, ebike.commands.piles)
    modbus_commands.send_port_command(
        pile,
        PortCommand(PortCommandKind.STOP, port_no),
        ebike.commands,
        purpose=purpose_of(charge.order_no),
        command_id=command_id,
    )
    logger.info(
        "paid e-bike charge stopped by the platform",
        extra={"order_no": charge.order_no, "reason": reason.value, "cost_fen": live.cost_fen},
    )
    return reason.value


class StopStore(Protocol):
    """The part of ``PaidChargeStore`` a driver's stop needs."""

    def get(self, order_no: str) -> PaidCharge | None: ...

    def request_stop(self, session_id: str, reason: str, call_id: str, now: datetime) -> bool: ...


@dataclass(frozen=True, slots=True)
class DriverStopPorts:
    """What the driver API needs to stop a paid e-bike charge."""

    paid_charges: StopStore
    commands: ModbusCommandPorts


DRIVER_STOP_REASON = "remote_stop"  # the pile's own word for a stop written to it


def stop_for_driver(ports: DriverStopPorts, order_no: str, now: datetime) -> str:
    """The driver's stop of the order's running port charge: the STOP port command, sent
    once (recorded on the charge's link first, so a repeated call, or a platform stop at the
    target or cap already on its way, sends nothing new; an unanswered STOP is sent again by
    ``command_finished``); ``"sent"``. The port's leaving ``charging`` (or the STOP's echo)
    ends the charge and the order settles.

    DynamoDB: 1 GetItem (marker), 1 conditional UpdateItem (link); a stop: as
    ``send_port_command``. IoT: 1 Publish.

    Raises:
        NotFound: no e-bike charge for the order.
        Conflict: the charge is not running (not started yet, or ended).
        UpstreamFailure.
    """
    charge = ports.paid_charges.get(order_no)
    if charge is None or not charge.is_ebike:
        raise NotFound(f"no e-bike charge for order {order_no}", kind="charge", id=order_no)
    if charge.state is not PaidChargeState.CHARGING or charge.session_id is None:
        raise Conflict("the charge is not running", kind="charge", state=charge.state.value)
    command_id = call_message_id(now, ports.commands.new_id)
    if not ports.paid_charges.request_stop(charge.session_id, DRIVER_STOP_REASON, command_id, now):
        return "sent"  # a stop is on its way already
    pile = modbus_commands.modbus_pile(charge.pile_id, charge.operator_id, ports.commands.piles)
    modbus_commands.send_port_command(
        pile,
        PortCommand(PortCommandKind.STOP, charge.gun_no),
        ports.commands,
        purpose=purpose_of(charge.order_no),
        command_id=command_id,
    )
    logger.info("paid e-bike charge stopped by the driver", extra={"order_no": order_no})
    return "sent"


def port_state(ports: PaidChargePorts, pile_id: str, port_no: int, state: PortState) -> bool:
    """A port that left ``charging`` ends its paid charge; True when this call ended it.

    Raises: UpstreamFailure.
    """
    if state is PortState.CHARGING:
        return False
    charge = _charging_order(ports, pile_id, port_no)
    if charge is None:
        return False
    return end_charge(ports, charge, pile_reason=state.value)


def end_charge(ports: PaidChargePorts, charge: PaidCharge, *, pile_reason: str | None) -> bool:
    """Record the end of the order's port charge and resume the workflow's wait (when its
    token is stored); True when this call recorded it. The stop reason is the platform's
    (target/cap) first, then what the port's last reading says, then ``pile_reason``.

    DynamoDB: 1 GetItem (link), 1 Query (readings), 1 conditional UpdateItem (marker).
    Step Functions: 1 SendTaskSuccess when the token is stored.

    Raises: UpstreamFailure.
    """
    assert charge.session_id is not None
    link = ports.paid_charges.get_link(charge.session_id, consistent=True)
    span = _span(ports, charge, ports.clock())
    last_reason = span.readings[-1].stop_reason if span.readings else None
    reason = (
        (link.stop_reason if link is not None else None)
        or (last_reason if last_reason not in (None, "none") else None)
        or pile_reason
    )
    end = SessionEnd(
        session_id=charge.session_id,
        energy_wh=span.energy_wh,
        stop_reason=reason,
        ended_at=span.last_at,
    )
    recorded, current = ports.paid_charges.record_end(charge.order_no, end)
    if not recorded:
        return False
    logger.info(
        "paid e-bike charge ended",
        extra={"order_no": charge.order_no, "energy_wh": end.energy_wh, "reason": reason},
    )
    if current is not None and current.task_token is not None:
        ports.workflow.succeed(current.task_token, end.output(charge.order_no))
    return True


def command_finished(ports: PaidChargePorts, command: ModbusCommand) -> bool:
    """A port command of a paid order ended: its start's echo links the charge, a refused
    or unanswered start fails the order, its stop's echo ends the charge; True when the
    order moved.

    Raises: UpstreamFailure.
    """
    from shared.services.paid_charging import fail_start

    if command.purpose is None or not command.purpose.startswith(PURPOSE_PREFIX):
        return False
    order_no = command.purpose.removeprefix(PURPOSE_PREFIX)
    charge = ports.paid_charges.get(order_no)
    if charge is None:
        return False
    now = ports.clock()
    if command.kind is PortCommandKind.START and command.command_id == charge.call_id:
        if command.status is CommandStatus.CONFIRMED:
            return _link(ports, charge, now)
        reason = command.error_description or f"the start command {command.status.value}"
        return fail_start(ports, charge, reason, now)
    if command.kind is not PortCommandKind.STOP or charge.state is not PaidChargeState.CHARGING:
        return False
    if command.status is CommandStatus.CONFIRMED:
        return end_charge(ports, charge, pile_reason="remote_stop")
    if command.status is CommandStatus.TIMED_OUT:
        return _retry_stop(ports, charge, command.port_no, now)
    return False


def _retry_stop(ports: PaidChargePorts, charge: PaidCharge, port_no: int, now: datetime) -> bool:
    """The platform's stop went unheard (the gateway lost its link): send it again, for up
    to ``STOP_RETRY_WINDOW`` after the first, so an amount or full target, which the pile
    has no limit of its own for, does not charge on unstopped."""
    assert charge.session_id is not None
    link = ports.paid_charges.get_link(charge.session_id, consistent=True)
    if link is None or link.stop_requested_at is None:
        return False
    if now - link.stop_requested_at > STOP_RETRY_WINDOW:
        logger.warning("paid e-bike stop never confirmed", extra={"order_no": charge.order_no})
        return False
    ebike = _ebike(ports)
    pile = modbus_commands.modbus_pile(charge.pile_id, charge.operator_id, ebike.commands.piles)
    modbus_commands.send_port_command(
        pile,
        PortCommand(PortCommandKind.STOP, port_no),
        ebike.commands,
        purpose=purpose_of(charge.order_no),
    )
    return True


def _link(ports: PaidChargePorts, charge: PaidCharge, now: datetime) -> bool:
    session_id = ebike_session_id(charge.order_no)
    linked, current = ports.paid_charges.link(charge.order_no, session_id, now)
    if not linked or current is None:
        return False
    ports.paid_charges.put_link(link_for(current, session_id))
    logger.info("paid e-bike charge started", extra={"order_no": charge.order_no})
    return True


class EbikePortEvents:
    """The uplink's ``PortEvents`` hook: readings and states of paid ports."""

    def __init__(self, ports: PaidChargePorts) -> None:
        self._ports = ports

    def reading(self, pile_id: str, port_no: int, reading: PortReading) -> None:
        port_reading(self._ports, pile_id, port_no, reading)

    def state(self, pile_id: str, port_no: int, state: PortState) -> None:
        port_state(self._ports, pile_id, port_no, state)


def time_out_port_commands(ports: PaidChargePorts) -> int:
    """Housekeeping's minute job for port commands: time out the unanswered ones (a paid
    order's unanswered start fails its workflow at once); the number timed out.

    DynamoDB: as ``modbus_commands.time_out_due_commands``, + per paid start timed out 1
    GetItem (marker) and 1 UpdateItem. Step Functions: 1 SendTaskFailure when the token is
    stored.

    Raises: Conflict (no e-bike ports wired), UpstreamFailure.
    """
    ebike = _ebike(ports)
    done = modbus_commands.time_out_due_commands(
        commands=ebike.commands.commands,
        clock=ports.clock,
        on_finished=lambda command: command_finished(ports, command),
    )
    return len(done.timed_out)
