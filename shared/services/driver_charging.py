"""A driver's paid charges: start (through the payment workflow), follow live, stop, rate,
history; and the driver's wallet.

Start: the driver names a gun, a mode and a prepaid cap; the driver API checks the gun can
start for them now (``driver_discovery.start_refusal``) and that a wallet can cover the
cap, mints the order number once per client request id, and hands the order to
``payment_workflow.start_paid_session`` (which opens the provider order, waits for the
payment, starts the pile and settles). A driver sees and touches only their own orders:
another driver's order number answers 404 like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Protocol

from shared.domain.base_data import Page, PageRequest
from shared.domain.clock import from_wire, to_wire
from shared.domain.drivers import DEFAULT_CONSUMPTION_WH_PER_KM, GunRef, LoginApp, id_tag_of
from shared.domain.errors import Conflict, InsufficientBalance, InvalidInput, NotFound
from shared.domain.ledger import driver_wallet_id
from shared.domain.payment_orders import OrderState, PaymentOrder, new_order_no
from shared.domain.payments import PaymentMethod
from shared.domain.pricing import ChargeTarget, Cost, mileage_target, session_cost
from shared.domain.sessions import (
    MeterSample,
    Session,
    is_within,
    live_energy_wh,
    session_readings,
)
from shared.domain.site_load import SITE_AT_LOAD_LIMIT
from shared.domain.tariffs import Tariff
from shared.domain.tenancy import Principal, Role
from shared.services import payment_workflow
from shared.services.driver_discovery import (
    SITE_AT_LIMIT_TEXT,
    DiscoveryPorts,
    SiteLoads,
    locate_gun,
    site_allowance,
    start_refusal,
)
from shared.services.driver_login import DriverStore, get_profile

if TYPE_CHECKING:
    from shared.domain.modbus_readings import PortReading
    from shared.domain.paid_charging import PaidCharge

# The paid-charge and port-reading types load only for an e-bike charge (cold start).

NEWEST_SAMPLES = 3
# A pile never draws more than this many times its rated power (the reset bound, live_cost).
POWER_MARGIN = 2
_MICROSECOND = timedelta(microseconds=1)
_WH_PER_W_US = 3_600 * 1_000_000  # 1 Wh = 1 W for 3600 s
MAX_HISTORY = 50


class ChargeLinkRecord(Protocol):
    @property
    def order_no(self) -> str: ...
    @property
    def rating(self) -> int | None: ...
    @property
    def comment(self) -> str | None: ...


class DriverCharges(Protocol):
    def claim(self, user_id: str, request_id: str, order_no: str, now: datetime) -> str:
        """The order number of a client request (the first one stored wins)."""

    def get_link(self, user_id: str, order_no: str) -> ChargeLinkRecord | None: ...

    def list_links(
        self, user_id: str, *, limit: int, before: str | None
    ) -> tuple[Sequence[ChargeLinkRecord], str | None]: ...

    def orders(self, order_nos: Sequence[str]) -> Mapping[str, PaymentOrder]: ...

    def rate(
        self, user_id: str, order_no: str, stars: int, comment: str | None, now: datetime
    ) -> bool: ...


class ChargeSessions(Protocol):
    """Where a paid charge's session is and what it measured."""

    def session_of(self, order_no: str) -> str | None:
        """The session the pile started for the order (once linked), or None."""

    def session(self, session_id: str) -> Session | None: ...

    def newest_samples(self, session_id: str, limit: int) -> list[MeterSample]: ...

    def samples_around(
        self, session_id: str, at: datetime
    ) -> tuple[list[MeterSample], list[MeterSample]]:
        """The samples of the few log entries keyed at or before ``at``, and of the first
        keyed after it (a bounded read)."""

    def logged_samples(self, session_id: str) -> list[MeterSample]:
        """Every sample of the session's log (the stop check's read)."""

    def marker(self, order_no: str) -> PaidCharge | None:
        """The order's paid-charge marker (e-bike charges: the link time and the end)."""

    def port_readings(
        self, pile_id: str, port_no: int, since: datetime, until: datetime
    ) -> list[PortReading]:
        """An e-bike port's readings in ``since..until``, energy folded."""

    def samples(
        self, principal: Principal, session_id: str, page: PageRequest, now: datetime
    ) -> Page[MeterSample]: ...

    def stop(self, principal: Principal, pile_id: str, session_id: str) -> str:
        """Send the remote stop; the command's status (sent / undelivered)."""


class PaidChargeMarkers(Protocol):
    def get(self, order_no: str) -> PaidCharge | None:
        """The pile side's marker of an order (with ``session_id``), or None."""

    def logged_samples(self, session_id: str) -> list[MeterSample]:
        """The samples stored beside a session (the paid stop check's read)."""


class PortReadings(Protocol):
    def port_readings(
        self, pile_id: str, port_no: int, since: datetime, until: datetime
    ) -> list[PortReading]:
        """A port's readings in ``since..until`` (``ebike_charging.PortReadings``)."""


class LogWindow(Protocol):
    def samples_around(
        self, session_id: str, at: datetime
    ) -> tuple[list[MeterSample], list[MeterSample]]: ...


class SessionsOnPiles:
    """``ChargeSessions`` on the pile side: the paid-charge marker names the session, the
    session store and the operator session queries read it, the pile command service stops
    it (as the platform acting for the driver on the order's operator)."""

    def __init__(
        self,
        markers: PaidChargeMarkers,
        store: Any,
        commands: Any,
        window: LogWindow,
        ports: PortReadings,
        *,
        ebike_stop: Callable[[str], str] | None = None,
    ) -> None:
        self._markers = markers
        self._store = store  # shared.services.sessions.SessionStore
        self._commands = commands  # shared.services.ocpp.commands.CommandPorts
        self._window = window
        self._ports = ports
        # order_no -> status: the STOP port command of a paid e-bike charge
        # (``ebike_charging.stop_for_driver``); None: e-bike charges are not stoppable here.
        self._ebike_stop = ebike_stop

    def marker(self, order_no: str) -> PaidCharge | None:
        return self._markers.get(order_no)

    def port_readings(
        self, pile_id: str, port_no: int, since: datetime, until: datetime
    ) -> list[PortReading]:
        return self._ports.port_readings(pile_id, port_no, since, until)

    def session_of(self, order_no: str) -> str | None:
        marker = self._markers.get(order_no)
        session_id = None if marker is None else marker.session_id
        return None if session_id is None else str(session_id)

    def session(self, session_id: str) -> Session | None:
        found: Session | None = self._store.get(session_id)
        return found

    def newest_samples(self, session_id: str, limit: int) -> list[MeterSample]:
        found: list[MeterSample] = self._store.newest_samples(session_id, limit)
        return found

    def samples_around(
        self, session_id: str, at: datetime
    ) -> tuple[list[MeterSample], list[MeterSample]]:
        return self._window.samples_around(session_id, at)

    def logged_samples(self, session_id: str) -> list[MeterSample]:
        return self._markers.logged_samples(session_id)

    def samples(
        self, principal: Principal, session_id: str, page: PageRequest, now: datetime
    ) -> Page[MeterSample]:
        from shared.services.sessions import list_meter_values

        return list_meter_values(self._store, principal, session_id, page, now=now)

    def stop(self, principal: Principal, pile_id: str, session_id: str) -> str:
        from shared.domain.paid_charging import EBIKE_SESSION_PREFIX
        from shared.services.ocpp.commands import stop_session

        if self._ebike_stop is not None and session_id.startswith(EBIKE_SESSION_PREFIX):
            return self._ebike_stop(session_id.removeprefix(EBIKE_SESSION_PREFIX))

        call = stop_session(
            principal, pile_id, session_id, sessions=self._store, ports=self._commands
        )
        return str(call.status)


class TariffVersions(Protocol):
    def tariff_version(self, tariff_id: str, version: int) -> Tariff | None: ...


@dataclass(frozen=True, slots=True)
class ChargingPorts:
    payments: payment_workflow.PaymentPorts
    charges: DriverCharges
    drivers: DriverStore
    discovery: DiscoveryPorts
    sessions: ChargeSessions
    tariffs: TariffVersions
    random_hex: Callable[[int], str]
    # The transformer meters' live loads (the Modbus bridge's ``SITELOAD#`` items); None:
    # no load limit is checked.
    site_loads: SiteLoads | None = None


@dataclass(frozen=True, slots=True)
class StartRequest:
    request_id: str
    pile_id: str
    gun_no: int
    mode: str
    value: int | None
    prepaid_fen: int
    method: str


@dataclass(frozen=True, slots=True)
class DriverCharge:
    order: PaymentOrder
    rating: int | None = None
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class LiveFigures:
    order: PaymentOrder
    session: Session | None
    elapsed_s: int
    energy_wh: int
    cost_fen: int
    latest: MeterSample | None
    # An e-bike port's charge has no session item: its id and whether it runs are given.
    ebike_session_id: str | None = None
    ebike_charging: bool = False

    @property
    def is_charging(self) -> bool:
        if self.ebike_session_id is not None:
            return self.ebike_charging
        return self.session is not None and self.session.is_open

    @property
    def session_id(self) -> str | None:
        if self.ebike_session_id is not None:
            return self.ebike_session_id
        return None if self.session is None else self.session.session_id


def _target(mode: str, value: int | None, consumption_wh_per_km: int | None) -> ChargeTarget:
    if mode == "mileage":
        if value is None:
            raise InvalidInput("mode mileage needs a value in km", field="value")
        return mileage_target(value, consumption_wh_per_km or DEFAULT_CONSUMPTION_WH_PER_KM)
    return ChargeTarget(mode, value)  # type: ignore[arg-type]


def _payer(method: PaymentMethod, app: LoginApp, user_id: str, openids: Mapping[str, str]) -> str:
    if method in (PaymentMethod.WALLET, PaymentMethod.SANDBOX):
        return user_id
    provider_app = LoginApp.WECHAT if method is PaymentMethod.WECHAT else LoginApp.ALIPAY
    if provider_app is not app or provider_app.value not in openids:
        raise Conflict(
            f"pay with {method.value} from the {provider_app.value} app you signed in with",
            kind="method",
        )
    return openids[provider_app.value]


def start_charge(
    ports: ChargingPorts, user_id: str, app: LoginApp, request: StartRequest
) -> PaymentOrder:
    """Open a paid charge of the driver on a gun (once per ``request_id``).

    Raises:
        InvalidInput: a bad mode/value or method (nothing is stored).
        NotFound: no such gun.
        Conflict: the gun cannot start now (busy, faulted, offline, reserved by someone
            else, no price), the site is at its load limit (details ``reason``
            ``site_at_load_limit``: ``site_load.start_allowance`` REFUSED, the live load
            above 80 % of the transformer's capacity or the allowed power would overload
            it; a LIMITED start goes ahead, the pile is limited at switch-on), the method
            is not the app's, or the request id was used for another charge.
        InsufficientBalance, WalletFrozen: a wallet payment the wallet cannot cover.
        UpstreamFailure: a table or Step Functions failed (the same request is safe to repeat).
    """
    now = ports.payments.clock()
    driver = get_profile(ports.drivers, user_id)
    target = _target(request.mode, request.value, driver.consumption_wh_per_km)
    if request.method not in set(PaymentMethod):
        raise InvalidInput("method must be wallet, wechat, alipay or sandbox", field="method")
    method = PaymentMethod(request.method)
    payer_id = _payer(method, app, user_id, driver.openids)
    station, info = locate_gun(ports.discovery, GunRef(request.pile_id, request.gun_no))
    holder = ports.discovery.reservations.holder_of(request.pile_id, request.gun_no, now)
    refusal = start_refusal(
        info.state, reserved_by=holder, user_id=user_id, has_tariff=station.tariff_id is not None
    )
    if refusal is not None:
        raise Conflict(refusal, kind="gun", state=info.state.value)
    allowance = site_allowance(ports.site_loads, station, info.pile, now)
    if allowance.is_refused:
        raise Conflict(
            SITE_AT_LIMIT_TEXT,
            kind="site",
            reason=SITE_AT_LOAD_LIMIT,
            load_band=allowance.band.value,
            load_w=allowance.load_w,
            rated_power_w=info.pile.rated_power_w,
            capacity_w=allowance.capacity_w,
        )
    if method is PaymentMethod.WALLET:
        account = ports.payments.ledger.get_account(driver_wallet_id(station.operator_id, user_id))
        available = 0 if account is None else account.available_fen
        if available < request.prepaid_fen:
            raise InsufficientBalance(
                "the wallet cannot cover the prepaid amount", balance_fen=available
            )
    order_no = ports.charges.claim(
        user_id, request.request_id, new_order_no(now, ports.random_hex(12)), now
    )
    return payment_workflow.start_paid_session(
        ports.payments,
        payment_workflow.PaidSessionRequest(
            order_no=order_no,
            operator_id=station.operator_id,
            station_id=station.station_id,
            pile_id=info.pile.pile_id,
            gun_no=info.gun.gun_no,
            user_id=user_id,
            payer_id=payer_id,
            id_tag=id_tag_of(user_id),
            method=method.value,
            prepaid_fen=request.prepaid_fen,
            target_mode=target.mode.value,
            target_value=target.value,
        ),
    )


def get_charge(ports: ChargingPorts, user_id: str, order_no: str) -> DriverCharge:
    """One of the driver's charges. Raises: NotFound (another driver's or none)."""
    link = ports.charges.get_link(user_id, order_no)
    if link is None:
        raise NotFound("charge not found", kind="charge")
    order = payment_workflow.get_order(ports.payments, order_no, user_id=user_id)
    return DriverCharge(order=order, rating=link.rating, comment=link.comment)


def list_charges(
    ports: ChargingPorts, user_id: str, *, limit: int, before: str | None
) -> tuple[list[DriverCharge], str | None]:
    """The driver's charges newest first (requests that never made an order are left out).

    DynamoDB: 1 Query (links) + 1 BatchGetItem (orders).
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_HISTORY:
        raise InvalidInput(f"limit must be 1..{MAX_HISTORY}", field="limit")
    links, cursor = ports.charges.list_links(user_id, limit=limit, before=before)
    orders = ports.charges.orders([link.order_no for link in links])
    charges = [
        DriverCharge(order=orders[link.order_no], rating=link.rating, comment=link.comment)
        for link in links
        if link.order_no in orders and orders[link.order_no].user_id == user_id
    ]
    return charges, cursor


def _session_id(ports: ChargingPorts, order: PaymentOrder) -> str | None:
    return order.session_id or ports.sessions.session_of(order.order_no)


def _has_bracket(
    session: Session, before: Sequence[MeterSample], after: Sequence[MeterSample], at: datetime
) -> bool:
    """The entries read next to ``at`` hold the readings just before and after it: an
    energy reading of the session on each side, unless no entry lies on that side (the
    start, the newest readings or the session item's own then are the nearest)."""
    times = [
        s.sampled_at
        for s in (*before, *after)
        if s.energy_wh is not None and is_within(session, s.sampled_at)
    ]
    has_before = not before or any(t <= at for t in times)
    has_after = not after or any(t >= at for t in times)
    return has_before and has_after


def _is_sound(session: Session, samples: Iterable[MeterSample], max_power_w: int | None) -> bool:
    """No meter reset among the readings, and none can hide between two of them: a reset
    between readings A and B >= A means the register counted from 0 past A again, so at
    least A Wh were delivered in between, more than ``max_power_w`` can give in that time
    unless A is small (a register that restarts near 0 each session)."""
    if max_power_w is None:
        return False
    pairs = sorted(set(session_readings(session, [*samples, *session.extra_samples])))
    for (at_a, wh_a), (at_b, wh_b) in pairwise(pairs):
        if wh_b < wh_a:
            return False  # a reset seen
        span_us = (at_b - at_a) // _MICROSECOND
        if max_power_w * span_us >= wh_a * _WH_PER_W_US:
            return False  # a reset could hide in between
    return True


def live_cost(
    sessions: ChargeSessions,
    tariff: Tariff,
    session: Session,
    newest: Sequence[MeterSample],
    *,
    max_power_w: int | None,
) -> Cost:
    """The session's exact cost so far (``session_cost``, the stop check's figure) from a
    bounded read of its log.

    ``price_energy`` spreads each step between two readings over its time and cuts it at the
    tariff's period boundaries; between boundaries a run of rising readings adds up to its
    last minus its first. So the readings that decide the figure are the start, the newest
    and, at each period boundary crossed, the readings just before and after it: those are
    read (``samples_around``) and priced, which gives the same lines, rounding and total as
    every reading, as long as no meter reset lies between two of them. So the whole log
    (``logged_samples``, the stop check's own read) is read instead when a boundary has no
    energy reading on one side among the entries read, when the readings read drop (a
    reset), or when a reset could hide between two of them (``max_power_w``, the pile's
    most, could have delivered the earlier reading's value in between: a register that
    restarts near 0 each session; None: unknown, always the whole log).

    DynamoDB: 2 Queries (Limit 2 / 1 entries) per period boundary crossed since the start
    (none for a charge inside one period); the whole log (1 Query page per ~1 MB) only in
    the cases above.
    """
    known = [*newest]
    first = session_cost(tariff, session, known)
    boundaries = [line.starts_at for line in first.lines[1:]]
    has_last = not newest or any(
        s.energy_wh is not None and is_within(session, s.sampled_at) for s in newest
    )
    if session.started_at is None or not has_last:
        # No start, or the newest entries hold no energy reading: the newest reading is
        # elsewhere in the log.
        return session_cost(tariff, session, sessions.logged_samples(session.session_id))
    for at in boundaries:
        before, after = sessions.samples_around(session.session_id, at)
        known.extend((*before, *after))
        if not _has_bracket(session, before, after, at):
            return session_cost(tariff, session, sessions.logged_samples(session.session_id))
    if not _is_sound(session, known, max_power_w):
        return session_cost(tariff, session, sessions.logged_samples(session.session_id))
    return session_cost(tariff, session, known)


def _cost_so_far(
    ports: ChargingPorts, order: PaymentOrder, session: Session, newest: Sequence[MeterSample]
) -> Cost | None:
    """None when the order's tariff version cannot be read (the cost stays 0 on the view)."""
    tariff = ports.tariffs.tariff_version(order.tariff_id, order.tariff_version)
    if tariff is None:
        return None
    pile = ports.payments.base_data.pile(order.pile_id)
    max_power_w = None if pile is None else pile.rated_power_w * POWER_MARGIN
    return live_cost(ports.sessions, tariff, session, newest, max_power_w=max_power_w)


def live_charge(ports: ChargingPorts, user_id: str, order_no: str, now: datetime) -> LiveFigures:
    """The charge as it runs: energy and cost so far (exactly what the paid stop check
    computes: ``live_cost``; once settled, the bill's), elapsed time and the newest sample
    (power, voltage, current, SoC).

    DynamoDB per call: 1 Query (link) + 1 GetItem (order) + 1 GetItem (marker, until the
    order names its session) + 1 GetItem (session) + 1 Query (the 3 newest log entries) +
    1 GetItem (tariff version) + 1 GetItem (pile: its rated power) + 2 small Queries per
    tariff period boundary the charge has crossed (``live_cost``). A settled order reads no
    log.

    Raises: NotFound.
    """
    charge = get_charge(ports, user_id, order_no)
    order = charge.order
    session_id = _session_id(ports, order)
    if is_ebike_session(session_id):
        return _ebike_live(ports, order, now)
    session = None if session_id is None else ports.sessions.session(session_id)
    if session is None:
        return LiveFigures(order, None, 0, order.energy_wh, order.cost_fen, None)
    end = now if session.is_open else (session.stopped_at or now)
    elapsed = max(0, int((end - session.effective_start).total_seconds()))
    newest = ports.sessions.newest_samples(session.session_id, NEWEST_SAMPLES)
    latest = newest[0] if newest else None
    if order.state.is_settled:
        return LiveFigures(order, session, elapsed, order.energy_wh, order.cost_fen, latest)
    newest_energy = next((s for s in newest if s.energy_wh is not None), None)
    energy = live_energy_wh(session, newest_energy) if session.is_open else session.energy_wh
    cost = _cost_so_far(ports, order, session, newest)
    if cost is None:
        return LiveFigures(order, session, elapsed, energy, 0, latest)
    if session.is_open:
        energy = cost.energy_wh  # the stop check's energy (an energy target stops on it)
    return LiveFigures(order, session, elapsed, energy, cost.total_fen, latest)


def is_ebike_session(session_id: str | None) -> bool:
    """The session of a paid e-bike charge (``paid_charging.ebike_session_id``)."""
    if session_id is None:
        return False
    from shared.domain.paid_charging import EBIKE_SESSION_PREFIX

    return session_id.startswith(EBIKE_SESSION_PREFIX)


@dataclass(frozen=True, slots=True)
class EbikeSpan:
    """An e-bike charge as the platform prices it: the port's readings from the baseline on
    (``ebike_charging.span_readings``), until when, and whether it still runs."""

    marker: PaidCharge
    readings: tuple[PortReading, ...]
    newest: PortReading | None
    until: datetime
    is_running: bool


def _ebike_span(ports: ChargingPorts, order: PaymentOrder, now: datetime) -> EbikeSpan | None:
    """None before the port's charge is linked (nothing measured yet)."""
    from shared.domain.paid_charging import PaidChargeState
    from shared.services.ebike_charging import BASELINE_WINDOW, span_readings

    marker = ports.sessions.marker(order.order_no)
    if marker is None or marker.linked_at is None:
        return None
    until = marker.end.ended_at if marker.end is not None else now
    found = ports.sessions.port_readings(
        marker.pile_id, marker.gun_no, marker.linked_at - BASELINE_WINDOW, until
    )
    return EbikeSpan(
        marker=marker,
        readings=tuple(span_readings(found, marker.linked_at)),
        newest=found[-1] if found else None,
        until=until,
        is_running=marker.state is PaidChargeState.CHARGING,
    )


def _port_sample(reading: PortReading, baseline_wh: int) -> MeterSample:
    """A port reading as a trend sample; energy counts from the charge's baseline."""
    return MeterSample(
        sampled_at=reading.at,
        energy_wh=max(0, reading.energy_wh - baseline_wh),
        power_w=reading.power_w,
        voltage_v=reading.voltage_dv / 10,
        current_a=reading.current_ma / 1000,
        temperature_c=reading.temperature_dc / 10,
    )


def _ebike_live(ports: ChargingPorts, order: PaymentOrder, now: datetime) -> LiveFigures:
    """An e-bike port's charge as it runs, priced as the port's stop check prices it
    (``ebike_charging.price_span`` with the order's tariff version: by time with power bands
    until the newest reading, or by energy over the readings); once settled, the bill's."""
    from shared.domain.paid_charging import ebike_session_id
    from shared.services.ebike_charging import ChargeSpan, price_span

    session_id = ebike_session_id(order.order_no)
    span = _ebike_span(ports, order, now)
    if span is None:
        return LiveFigures(
            order, None, 0, order.energy_wh, order.cost_fen, None, ebike_session_id=session_id
        )
    linked_at = span.marker.linked_at
    assert linked_at is not None
    priced = ChargeSpan(linked_at, span.readings)
    baseline_wh = span.readings[0].energy_wh if span.readings else 0
    latest = None if span.newest is None else _port_sample(span.newest, baseline_wh)
    elapsed = max(0, int((span.until - linked_at).total_seconds()))
    energy, cost_fen = priced.energy_wh, 0
    tariff = ports.tariffs.tariff_version(order.tariff_id, order.tariff_version)
    if order.state.is_settled:
        energy, cost_fen = order.energy_wh, order.cost_fen
    elif tariff is not None:
        # The stop check prices up to the reading it checks; the settle step to the end.
        until = span.until if span.marker.end is not None else priced.last_at
        cost_fen = price_span(tariff, priced, until).total_fen
    return LiveFigures(
        order,
        None,
        elapsed,
        energy,
        cost_fen,
        latest,
        ebike_session_id=session_id,
        ebike_charging=span.is_running,
    )


def _ebike_samples(
    ports: ChargingPorts, order: PaymentOrder, page: PageRequest, now: datetime
) -> Page[MeterSample]:
    """The port's readings of the charge in time order, ``page.limit`` at a time after the
    token (the time of the previous page's last reading)."""
    after = None
    if page.next_token is not None:
        try:
            after = from_wire(page.next_token)
        except ValueError:
            raise InvalidInput(
                "next_token is not a page of this list", field="next_token"
            ) from None
    span = _ebike_span(ports, order, now)
    if span is None:
        return Page(items=[], next_token=None)
    baseline_wh = span.readings[0].energy_wh if span.readings else 0
    rest = [r for r in span.readings if after is None or r.at > after]
    items = [_port_sample(r, baseline_wh) for r in rest[: page.limit]]
    more = len(rest) > page.limit
    return Page(items=items, next_token=to_wire(items[-1].sampled_at) if more else None)


def _principal(order: PaymentOrder, user_id: str) -> Principal:
    # The platform acts for the driver on the order's operator (the order proves ownership).
    return Principal(
        username=f"driver:{user_id}", role=Role.OPERATOR_ADMIN, operator_id=order.operator_id
    )


def charge_samples(
    ports: ChargingPorts, user_id: str, order_no: str, page: PageRequest, now: datetime
) -> Page[MeterSample]:
    """The charge's meter values in time order (the trend chart); an e-bike port's charge:
    its port readings from the charge's baseline (energy counted from it).

    DynamoDB: a car gun's session: as ``sessions.list_meter_values``; an e-bike charge:
    1 GetItem (marker) + 1 Query (the pile's reading items over the charge).

    Raises: NotFound, InvalidInput (a bad page token).
    """
    order = get_charge(ports, user_id, order_no).order
    session_id = _session_id(ports, order)
    if session_id is None:
        return Page(items=[], next_token=None)
    if is_ebike_session(session_id):
        return _ebike_samples(ports, order, page, now)
    return ports.sessions.samples(_principal(order, user_id), session_id, page, now)


def stop_charge(ports: ChargingPorts, user_id: str, order_no: str) -> str:
    """Ask the pile to stop the driver's running charge; the command's status.

    Raises:
        NotFound: not the driver's charge.
        Conflict: the charge is not running (not started yet, or ended).
    """
    order = get_charge(ports, user_id, order_no).order
    session_id = _session_id(ports, order)
    if session_id is None or order.state.is_terminal or order.state.is_settled:
        raise Conflict("the charge is not running", kind="charge", state=order.state.value)
    # An e-bike port's charge (``ebike-`` session) is stopped by a STOP port command:
    # ``SessionsOnPiles`` hands it to ``ebike_charging.stop_for_driver`` (helper A's e2e
    # tests/e2e/test_ebike_charging_e2e.py stops one from the app).
    return ports.sessions.stop(_principal(order, user_id), order.pile_id, session_id)


RATABLE = frozenset({OrderState.SETTLED, OrderState.REFUNDED, OrderState.COMPLETED})


def rate_charge(
    ports: ChargingPorts,
    user_id: str,
    order_no: str,
    *,
    stars: int,
    comment: str | None,
    now: datetime,
) -> DriverCharge:
    """Rate a finished charge once (1..5 stars, an optional comment).

    Raises: InvalidInput, NotFound, Conflict (not finished, or rated already).
    """
    if isinstance(stars, bool) or not isinstance(stars, int) or not 1 <= stars <= 5:
        raise InvalidInput("stars must be 1..5", field="stars")
    if comment is not None and not 0 < len(comment) <= 500:
        raise InvalidInput("comment must be 1..500 characters", field="comment")
    charge = get_charge(ports, user_id, order_no)
    if charge.order.state not in RATABLE:
        raise Conflict("rate the charge once it has ended", kind="charge")
    if not ports.charges.rate(user_id, order_no, stars, comment, now):
        raise Conflict("the charge has been rated already", kind="charge")
    return DriverCharge(order=charge.order, rating=stars, comment=comment)


__all__: list[Any] = [
    "ChargingPorts",
    "DriverCharge",
    "LiveFigures",
    "StartRequest",
    "charge_samples",
    "get_charge",
    "id_tag_of",
    "list_charges",
    "live_charge",
    "rate_charge",
    "start_charge",
    "stop_charge",
]
