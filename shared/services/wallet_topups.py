"""A driver tops up their wallet through a payment provider (WeChat Pay, Alipay, the local
sandbox): no Step Functions, the provider's notification credits the wallet.

1. ``start_topup`` creates the top-up order once per client request id (its number is
   derived from the driver and the request id), opens the driver's wallet at the named
   station's operator (one wallet per operator; an operator where the driver has a wallet
   may be named), opens the provider prepay and keeps the app's pay parameters on the order.
2. The provider's "paid" notification (``POST /payments/notify/{provider}``, verified by
   ``payment_workflow.record_payment_notice``, which hands top-up order numbers here) posts
   the ledger top-up ``topup:{order_no}`` (wallet +a, ``operator:{op}:clearing:{method}``
   -a) and marks the order paid. The transfer id is the order number, so a replayed or
   duplicated notice credits once; a different payment of a paid order is a Conflict.
3. An unpaid order expires ``PAY_WITHIN`` after it was created: the next read of it (the
   driver's history or the order) closes it at the provider (best effort) and stores it
   closed. A payment that still arrives (it beat the close) is credited all the same: the
   money is the driver's and nothing else hangs on the order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from shared.domain.clock import Clock
from shared.domain.drivers import Driver, LoginApp
from shared.domain.errors import Conflict, InvalidInput, NotFound, UpstreamFailure, WalletFrozen
from shared.domain.ledger import TransferDetails, driver_wallet_id, top_up_transfer
from shared.domain.payments import (
    NotificationRejected,
    PaidNotice,
    PaymentMethod,
    PaymentProvider,
    PrepayRequest,
    ensure_notice_matches,
)
from shared.domain.stations import Station
from shared.domain.topup_orders import (
    TopUpOrder,
    close_expired,
    new_topup,
    record_topup_paid,
    require_topup_amount,
    require_topup_method,
    same_topup_request,
    topup_order_no,
    with_client_params,
)
from shared.observability import logger
from shared.services.wallets import LedgerRepository, open_wallet

ACTOR = "wallet-topup"
MAX_SAVE_ATTEMPTS = 8
MAX_LIST = 50


class TopUpStore(Protocol):
    def create(self, order: TopUpOrder) -> bool:
        """Store a new order; False if the number exists. Raises: UpstreamFailure."""

    def save(self, order: TopUpOrder) -> TopUpOrder | None:
        """Save if unchanged since read at ``order.revision``; the saved order or None."""

    def get(self, order_no: str) -> TopUpOrder | None:
        """The order now (strongly consistent). Raises: UpstreamFailure."""

    def list_for_user(
        self, user_id: str, *, limit: int, before: str | None
    ) -> tuple[list[TopUpOrder], str | None]:
        """The driver's orders newest first and the next page's cursor."""


class DriverProfiles(Protocol):
    def get(self, user_id: str) -> Driver | None:
        """Raises: UpstreamFailure."""


class StationReader(Protocol):
    def station(self, station_id: str) -> Station | None: ...


@dataclass(frozen=True)
class TopUpPorts:
    orders: TopUpStore
    ledger: LedgerRepository
    providers: Callable[[PaymentMethod], PaymentProvider]
    stations: StationReader
    drivers: DriverProfiles
    clock: Clock


@dataclass(frozen=True, slots=True)
class TopUpRequest:
    request_id: str
    amount_fen: int
    method: str
    station_id: str | None = None
    operator_id: str | None = None


# ---------------------------------------------------------------- plumbing


def _update(
    orders: TopUpStore, order_no: str, change: Callable[[TopUpOrder], TopUpOrder]
) -> TopUpOrder:
    for _ in range(MAX_SAVE_ATTEMPTS):
        order = orders.get(order_no)
        if order is None:
            raise NotFound("top-up not found", kind="topup", id=order_no)
        changed = change(order)
        if changed == order:
            return order
        saved = orders.save(changed)
        if saved is not None:
            return saved
    raise UpstreamFailure("top-up order too contended", order_no=order_no)


def _payer(method: PaymentMethod, app: LoginApp, user_id: str, openids: Mapping[str, str]) -> str:
    if method is PaymentMethod.SANDBOX:
        return user_id
    provider_app = LoginApp.WECHAT if method is PaymentMethod.WECHAT else LoginApp.ALIPAY
    if provider_app is not app or provider_app.value not in openids:
        raise Conflict(
            f"pay with {method.value} from the {provider_app.value} app you signed in with",
            kind="method",
        )
    return openids[provider_app.value]


def _operator_of(ports: TopUpPorts, user_id: str, request: TopUpRequest) -> str:
    """The wallet's operator (one wallet per operator): the named station's, or the named
    operator where the driver already has a wallet."""
    if (request.station_id is None) == (request.operator_id is None):
        raise InvalidInput(
            "name the station_id of a site (or the operator_id) of the wallet's operator",
            field="station_id",
        )
    if request.station_id is not None:
        station = ports.stations.station(request.station_id)
        if station is None:
            raise NotFound("station not found", kind="station", id=request.station_id)
        return station.operator_id
    assert request.operator_id is not None
    if ports.ledger.get_account(driver_wallet_id(request.operator_id, user_id)) is None:
        raise InvalidInput(
            "no wallet at this operator yet: name the station_id of one of its sites",
            field="operator_id",
        )
    return request.operator_id


# ---------------------------------------------------------------- driver side


def start_topup(
    ports: TopUpPorts, user_id: str, app: LoginApp, request: TopUpRequest
) -> TopUpOrder:
    """Create the top-up once per ``request_id`` and open the provider prepay; the order
    carries the app's pay parameters (``client_params``).

    Raises:
        InvalidInput: bad amount, method or request id; no station (or operator where the
            driver has a wallet) named.
        NotFound: the station does not exist.
        Conflict: the method is not the app's, or the request id was used for another top-up.
        WalletFrozen: the wallet is frozen (nothing is created).
        UpstreamFailure: a table or the provider failed (the same request is safe to repeat).
    """
    now = ports.clock()
    method = require_topup_method(request.method)
    require_topup_amount(request.amount_fen)
    driver = ports.drivers.get(user_id)
    if driver is None:
        raise NotFound("driver not found", kind="driver")
    payer_id = _payer(method, app, user_id, driver.openids)
    existing = ports.orders.get(topup_order_no(user_id, request.request_id))
    operator_id = (
        existing.operator_id if existing is not None else _operator_of(ports, user_id, request)
    )
    order = new_topup(
        request_id=request.request_id,
        user_id=user_id,
        operator_id=operator_id,
        payer_id=payer_id,
        method=method,
        amount_fen=request.amount_fen,
        now=now,
    )
    if existing is None:
        wallet = open_wallet(
            ports.ledger,
            account_id=driver_wallet_id(operator_id, user_id),
            operator_id=operator_id,
            owner=user_id,
            clock=ports.clock,
        )
        if wallet.is_frozen:
            raise WalletFrozen("wallet is frozen", account_id=wallet.account_id)
        if not ports.orders.create(order):
            existing = ports.orders.get(order.order_no)
    if existing is not None:
        if not same_topup_request(existing, order):
            raise Conflict("request_id already used for another top-up", kind="topup")
        order = existing
    if order.client_params or order.is_expired(now):
        return order
    ticket = ports.providers(order.method).create_prepay(
        PrepayRequest(
            order_no=order.order_no,
            amount_fen=order.amount_fen,
            description="wallet top-up",
            payer_id=order.payer_id,
            expires_at=order.expires_at,
        )
    )
    params = dict(ticket.client_params)
    saved = _update(
        ports.orders, order.order_no, lambda o: with_client_params(o, params, ports.clock())
    )
    logger.info(
        "wallet top-up opened",
        extra={"order_no": saved.order_no, "method": method.value, "amount_fen": saved.amount_fen},
    )
    return saved


def _expire(ports: TopUpPorts, order: TopUpOrder) -> TopUpOrder:
    """Close an unpaid top-up past its time (provider first, best effort)."""
    now = ports.clock()
    if not order.is_expired(now):
        return order
    try:
        ports.providers(order.method).close_order(order.order_no)
    except Conflict:
        # Paid at the provider: its notification is on its way and credits the wallet.
        return order
    except UpstreamFailure:
        # Best effort: the provider order expires by itself; a payment that still arrives
        # is credited (the notice path takes a closed order's payment).
        logger.warning("provider top-up order not closed", extra={"order_no": order.order_no})
    return _update(ports.orders, order.order_no, lambda o: close_expired(o, ports.clock()))


def get_topup(ports: TopUpPorts, user_id: str, order_no: str) -> TopUpOrder:
    """One of the driver's top-ups (an expired unpaid one is closed first).

    Raises: NotFound (another driver's or none), UpstreamFailure.
    """
    order = ports.orders.get(order_no)
    if order is None or order.user_id != user_id:
        raise NotFound("top-up not found", kind="topup")
    return _expire(ports, order)


def list_topups(
    ports: TopUpPorts, user_id: str, *, limit: int, before: str | None
) -> tuple[list[TopUpOrder], str | None]:
    """The driver's top-ups newest first (expired unpaid ones closed on the way).

    Raises: InvalidInput (limit, cursor), UpstreamFailure.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"limit must be 1..{MAX_LIST}", field="limit")
    found, cursor = ports.orders.list_for_user(user_id, limit=limit, before=before)
    return [_expire(ports, order) for order in found], cursor


# ---------------------------------------------------------------- provider side


def take_topup_notice(
    *,
    orders: TopUpStore,
    ledger: LedgerRepository,
    provider: PaymentProvider,
    notice: PaidNotice,
    clock: Clock,
) -> tuple[int, dict[str, str], str]:
    """Credit the wallet once for a verified "paid" notice of a top-up; the provider's ack.

    Raises:
        NotificationRejected: 400 for an unknown order, another method, order or amount;
            nothing changed.
        Conflict: another payment already paid the order (an operator reconciles).
        WalletFrozen: the wallet was frozen meanwhile (the provider retries; nothing changed).
        UpstreamFailure: a table failed (the provider retries).
    """
    order = orders.get(notice.order_no)
    if order is None:
        raise NotificationRejected(400, "unknown_order")
    if order.method is not notice.method:
        raise NotificationRejected(400, "method_mismatch")
    ensure_notice_matches(notice, order_no=order.order_no, amount_fen=order.amount_fen)
    if order.provider_txn_id not in (None, notice.provider_txn_id):
        raise Conflict("top-up already paid by another payment", order_no=order.order_no)
    result = ledger.post_transfer(
        top_up_transfer(
            account_id=driver_wallet_id(order.operator_id, order.user_id),
            operator_id=order.operator_id,
            amount_fen=order.amount_fen,
            reference=order.transfer_id,
            method=order.method.value,
            actor=ACTOR,
            posted_at=clock(),
            details=TransferDetails(
                order_no=order.order_no, user_id=order.user_id, transaction_type="top_up"
            ),
        )
    )
    saved = _update(
        orders,
        order.order_no,
        lambda o: record_topup_paid(
            o,
            provider_txn_id=notice.provider_txn_id,
            amount_fen=notice.amount_fen,
            paid_at=notice.paid_at,
            now=clock(),
        ),
    )
    logger.info(
        "wallet top-up notice taken",
        extra={"order_no": saved.order_no, "is_new": result.is_new},
    )
    return provider.notification_ack()


__all__ = [
    "TopUpPorts",
    "TopUpRequest",
    "TopUpStore",
    "get_topup",
    "list_topups",
    "start_topup",
    "take_topup_notice",
]
