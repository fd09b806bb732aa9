"""The paid-session workflow's use cases: start, one function per Step Functions task,
and the provider's "paid" notification (docs/payment-workflow.md).

Each step loads the order, decides with a pure transition (``shared.domain.payment_orders``),
performs its effects, each idempotent on a business reference (ledger transfer ids
``payment:``/``prepay:``/``refund:``/``share:`` + order number, the provider's
``out_refund_no``/``out_share_no``, the pile command per order), and saves the order
conditionally on the revision it read. A retried step (Step Functions retries a task with
the same input) therefore finds its decision stored and repeats only no-op effects.

Decisions that depend on things that can change (the cost from meter values) are saved
BEFORE their effects, so a retry re-applies the same amounts instead of new ones.

Ledger (docs/ledger.md, accounts of the order's operator):
- provider payment: top-up of ``driver:{user}`` from ``clearing:{method}`` (``payment:``),
  then a hold of the prepay (``prepay:``) whose counter account is ``revenue``;
- wallet payment: the hold alone is the payment;
- settlement: capture the consumed part to revenue (release the hold when nothing was
  consumed); for a provider payment the unused part goes back to ``clearing:{method}``
  (``refund:``) in the same step, so the freed money never sits spendable in the wallet
  across a state transition; the provider refund follows in ``refund_unused``;
- profit share: ``revenue`` -> ``partner:{station}`` + ``platform`` (``share:``); at the
  provider the partner's part goes to its receiver account when the order has one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from shared.domain.clock import Clock, to_wire
from shared.domain.errors import (
    Conflict,
    InsufficientBalance,
    InvalidInput,
    NotFound,
    UpstreamFailure,
    WalletFrozen,
)
from shared.domain.ledger import (
    TransferDetails,
    driver_wallet_id,
    hold_transfer,
    partner_payout_transfer,
    profit_share_transfer,
    refund_transfer,
    revenue_account_id,
    top_up_transfer,
)
from shared.domain.payment_orders import (
    OrderState,
    PaymentOrder,
    PaymentOutcome,
    SettleBasis,
    bill_lines,
    close_unpaid,
    fail_refunded,
    failure_detail,
    new_order,
    record_late_refund,
    record_paid,
    record_refunded,
    record_shared,
    record_started,
    record_wallet_hold,
    same_request,
    settle,
    with_pay_token,
    with_prepay,
)
from shared.domain.payments import (
    NotificationRejected,
    PartnerReceiver,
    PaymentMethod,
    PaymentProvider,
    PrepayRequest,
    RefundRequest,
    ShareReceiver,
    ShareRequest,
    ensure_notice_matches,
    provider_share_fen,
)
from shared.domain.piles import Pile
from shared.domain.pricing import (
    ZERO_COST,
    Cost,
    MeterReading,
    price_energy,
    require_tariff,
    split_profit,
)
from shared.domain.pricing import settle as settle_prepay
from shared.domain.stations import Station
from shared.domain.tariffs import Tariff
from shared.domain.topup_orders import is_topup_order_no
from shared.observability import logger
from shared.services.wallets import LedgerRepository, capture_hold, open_wallet, release_hold
from shared.services.workflow_ports import WorkflowResumer

if TYPE_CHECKING:
    from shared.services.wallet_topups import TopUpStore

ACTOR = "payment-workflow"
MAX_SAVE_ATTEMPTS = 8
STEPS = (
    "create_prepay_order",
    "wait_for_paid",
    "remote_start",
    "wait_for_session_end",
    "settle_cost",
    "refund_unused",
    "share_profit",
    "full_refund_or_cancel",
)


# ---------------------------------------------------------------- ports


class PaymentOrderStore(Protocol):
    def create(self, order: PaymentOrder) -> bool:
        """Store a new order; False if the number exists. Raises: UpstreamFailure."""

    def save(self, order: PaymentOrder) -> PaymentOrder | None:
        """Save if unchanged since read at ``order.revision``; the saved order or None."""

    def get(self, order_no: str) -> PaymentOrder | None:
        """The order now (strongly consistent). Raises: UpstreamFailure."""


class ChargeFacts(Protocol):
    """What the pile side knows of a paid charge (``paid_charging.ChargeOutcome``)."""

    @property
    def started(self) -> bool: ...
    @property
    def ended(self) -> bool: ...
    @property
    def session_id(self) -> str | None: ...
    @property
    def energy_wh(self) -> int: ...
    @property
    def readings(self) -> tuple[MeterReading, ...]: ...
    @property
    def tariff_id(self) -> str | None: ...
    @property
    def tariff_version(self) -> int | None: ...


class PileCharging(Protocol):
    """The pile side of a paid session (``shared.services.paid_charging``)."""

    def begin(self, order: PaymentOrder, now: datetime) -> str:
        """Send the remote start once per order; the call id.

        Raises: Conflict (gun offline/busy/faulted), UpstreamFailure.
        """

    def await_end(self, order_no: str, task_token: str, now: datetime) -> None:
        """Keep the callback token; resume it at once if the session already ended."""

    def outcome(self, order_no: str) -> ChargeFacts:
        """The charge as recorded so far. Raises: NotFound, UpstreamFailure."""

    def stop(self, pile_id: str, session_id: str, now: datetime) -> None:
        """Send the remote stop of a session still charging.

        Raises: Conflict (already ended), NotFound, UpstreamFailure.
        """


class PaidChargingBridge:
    """``PileCharging`` on ``shared.services.paid_charging`` (imported on first use: the
    notification path never needs the OCPP modules)."""

    def __init__(self, ports: Any) -> None:
        self._ports = ports  # paid_charging.PaidChargePorts

    def begin(self, order: PaymentOrder, now: datetime) -> str:
        from shared.domain.paid_charging import PaidChargeRequest
        from shared.domain.pricing import ChargeMode, ChargeTarget
        from shared.services.paid_charging import begin_paid_charge

        request = PaidChargeRequest(
            order_no=order.order_no,
            operator_id=order.operator_id,
            station_id=order.station_id,
            pile_id=order.pile_id,
            gun_no=order.gun_no,
            id_tag=order.id_tag,
            target=ChargeTarget(ChargeMode(order.target_mode), order.target_value),
            prepaid_cap_fen=order.prepaid_fen,
            tariff_id=order.tariff_id,
            tariff_version=order.tariff_version,
        )
        return begin_paid_charge(self._ports, request, now)

    def await_end(self, order_no: str, task_token: str, now: datetime) -> None:
        from shared.services.paid_charging import await_session_end

        await_session_end(self._ports, order_no, task_token, now)

    def outcome(self, order_no: str) -> ChargeFacts:
        from shared.services.paid_charging import charge_outcome

        return charge_outcome(self._ports, order_no)

    def stop(self, pile_id: str, session_id: str, now: datetime) -> None:
        from shared.domain.tenancy import Principal, Role
        from shared.services.ocpp.commands import CommandPorts, stop_session

        ports = self._ports
        stop_session(
            Principal(username=ACTOR, role=Role.PLATFORM_ADMIN, operator_id=None),
            pile_id,
            session_id,
            sessions=ports.sessions,
            ports=CommandPorts(
                piles=ports.piles,
                pending_calls=ports.pending_calls,
                schemas=ports.schemas,
                sender=ports.sender,
                clock=ports.clock,
                new_id=ports.new_id,
            ),
        )


class PaymentBaseData(Protocol):
    def station(self, station_id: str) -> Station | None: ...
    def pile(self, pile_id: str) -> Pile | None: ...
    def tariff(self, tariff_id: str) -> Tariff | None:
        """The tariff's current version, or None."""

    def tariff_version(self, tariff_id: str, version: int) -> Tariff | None: ...


class WorkflowStarter(Protocol):
    def start(self, name: str, execution_input: dict[str, Any]) -> str:
        """Start (or find) the execution named ``name``; its ARN. Raises: UpstreamFailure."""


class ReceiversAdded:
    """The partner receivers this container has added at each provider: the share step
    adds a receiver (``PaymentProvider.add_receiver``, idempotent at the provider) before
    the first profit share to it in a container, then never again while the container
    lives; forgotten when a share fails (a receiver removed at the provider is added
    again by the retry). Thread-safe."""

    def __init__(self) -> None:
        self._added: set[tuple[str, str, str | None, str | None]] = set()
        self._lock = threading.Lock()

    @staticmethod
    def _key(
        method: PaymentMethod, receiver: PartnerReceiver
    ) -> tuple[str, str, str | None, str | None]:
        return (method.value, receiver.account, receiver.kind, receiver.name)

    def has(self, method: PaymentMethod, receiver: PartnerReceiver) -> bool:
        with self._lock:
            return self._key(method, receiver) in self._added

    def remember(self, method: PaymentMethod, receiver: PartnerReceiver) -> None:
        with self._lock:
            self._added.add(self._key(method, receiver))

    def forget(self, method: PaymentMethod, receiver: PartnerReceiver) -> None:
        with self._lock:
            self._added.discard(self._key(method, receiver))


@dataclass(frozen=True)
class PaymentPorts:
    orders: PaymentOrderStore
    ledger: LedgerRepository
    providers: Callable[[PaymentMethod], PaymentProvider]
    charging: PileCharging
    base_data: PaymentBaseData
    resumer: WorkflowResumer
    clock: Clock
    starter: WorkflowStarter | None = None
    # Wallet top-up orders (``shared.services.wallet_topups.TopUpStore``): their "paid"
    # notices arrive on the same endpoint and are told apart by the order number.
    topups: TopUpStore | None = None
    # Partner receivers added at the providers by this container (the wiring builds the
    # ports once per container, so this lives as long as the container).
    receivers_added: ReceiversAdded = field(default_factory=ReceiversAdded)


# ---------------------------------------------------------------- order plumbing


def _load(ports: PaymentPorts, order_no: str) -> PaymentOrder:
    order = ports.orders.get(order_no)
    if order is None:
        raise NotFound("payment order not found", kind="payment_order", id=order_no)
    return order


def _update(
    ports: PaymentPorts, order_no: str, change: Callable[[PaymentOrder], PaymentOrder]
) -> PaymentOrder:
    """Apply ``change`` to the order as stored now and save it; re-decide on a lost race."""
    for _ in range(MAX_SAVE_ATTEMPTS):
        order = _load(ports, order_no)
        changed = change(order)
        if changed == order:
            return order
        saved = ports.orders.save(changed)
        if saved is not None:
            return saved
    raise UpstreamFailure("payment order too contended", order_no=order_no)


def _wallet(order: PaymentOrder) -> str:
    return driver_wallet_id(order.operator_id, order.user_id)


def _details(order: PaymentOrder, transaction_type: str | None = None) -> TransferDetails:
    return TransferDetails(
        order_no=order.order_no,
        user_id=order.user_id,
        pile_id=order.pile_id,
        transaction_type=transaction_type,
    )


def _provider(ports: PaymentPorts, order: PaymentOrder) -> PaymentProvider:
    return ports.providers(order.method)


def paid_output(order: PaymentOrder) -> dict[str, Any]:
    """What ``wait_for_paid`` resumes with (``$.results.wait_for_paid``)."""
    return {
        "order_no": order.order_no,
        "method": order.method.value,
        "provider_txn_id": order.provider_txn_id,
        "paid_fen": order.paid_fen,
        "paid_at": None if order.paid_at is None else to_wire(order.paid_at),
    }


# ---------------------------------------------------------------- start


@dataclass(frozen=True)
class PaidSessionRequest:
    """What the driver API asks for; ``order_no`` is minted by the caller once per request
    (``payment_orders.new_order_no``) so a retried request names the same order."""

    order_no: str
    operator_id: str
    station_id: str
    pile_id: str
    gun_no: int
    user_id: str
    payer_id: str
    id_tag: str
    method: str
    prepaid_fen: int
    target_mode: str
    target_value: int | None


def start_paid_session(ports: PaymentPorts, request: PaidSessionRequest) -> PaymentOrder:
    """Create the order (once) and start its workflow execution, named by the order number.

    A repeat of the same request answers the same order (and starts nothing new).

    Raises:
        InvalidInput: a malformed request; nothing is created.
        NotFound: the station, pile or tariff is not the operator's.
        Conflict: the order number is taken by another request.
        InsufficientBalance, WalletFrozen: a wallet payment the wallet cannot cover.
        UpstreamFailure: the table or Step Functions failed (the same request is safe to repeat).
    """
    if ports.starter is None:
        raise UpstreamFailure("no workflow starter configured")
    now = ports.clock()
    station = ports.base_data.station(request.station_id)
    if station is None or station.operator_id != request.operator_id:
        raise NotFound("station not found", kind="station", id=request.station_id)
    pile = ports.base_data.pile(request.pile_id)
    if (
        pile is None
        or pile.operator_id != request.operator_id
        or (pile.station_id != station.station_id)
    ):
        raise NotFound("pile not found", kind="pile", id=request.pile_id)
    if not isinstance(request.gun_no, int) or not 1 <= request.gun_no <= pile.gun_count:
        raise InvalidInput("gun_no is not a gun of the pile", field="gun_no")
    if station.tariff_id is None:
        raise NotFound("the station has no tariff", kind="tariff", id=station.station_id)
    tariff = ports.base_data.tariff(station.tariff_id)
    if tariff is None or tariff.operator_id != request.operator_id:
        raise NotFound("tariff not found", kind="tariff", id=station.tariff_id)
    order = new_order(
        order_no=request.order_no,
        operator_id=request.operator_id,
        station_id=request.station_id,
        pile_id=request.pile_id,
        gun_no=request.gun_no,
        user_id=request.user_id,
        payer_id=request.payer_id,
        id_tag=request.id_tag,
        method=request.method,
        prepaid_fen=request.prepaid_fen,
        target_mode=request.target_mode,
        target_value=request.target_value,
        tariff_id=tariff.tariff_id,
        tariff_version=tariff.version,
        partner_share_bp=station.partner_share_bp,
        now=now,
        partner_account=station.partner_receiver_account(str(request.method)),
        **_receiver_terms(station, str(request.method)),
    )
    wallet = open_wallet(
        ports.ledger,
        account_id=_wallet(order),
        operator_id=order.operator_id,
        owner=order.user_id,
        clock=ports.clock,
    )
    if wallet.is_frozen:
        raise WalletFrozen("wallet is frozen", account_id=wallet.account_id)
    if order.is_wallet and wallet.available_fen < order.prepaid_fen:
        raise InsufficientBalance(
            "insufficient balance",
            account_id=wallet.account_id,
            available_fen=wallet.available_fen,
            requested_fen=order.prepaid_fen,
        )
    if not ports.orders.create(order):
        stored = _load(ports, order.order_no)
        if not same_request(stored, order):
            raise Conflict("order number already used", order_no=order.order_no)
        order = stored
    arn = ports.starter.start(
        order.order_no,
        {
            "order_no": order.order_no,
            "operator_id": order.operator_id,
            "method": order.method.value,
            "prepaid_fen": order.prepaid_fen,
        },
    )
    logger.info(
        "paid session started",
        extra={"order_no": order.order_no, "method": order.method.value, "execution_arn": arn},
    )
    return order


def _receiver_terms(station: Station, method: str) -> dict[str, str | None]:
    """What the provider adds the partner's receiver under, snapshot on the order with its
    account: WeChat Pay and the sandbox the WeChat receiver's type and name, Alipay the
    station's partner name (the royalty relation's receiver name)."""
    if station.partner_receiver_account(method) is None:
        return {}
    receiver = station.partner_wechat_receiver
    if method in ("wechat", "sandbox") and receiver is not None:
        return {"partner_account_kind": receiver.type.value, "partner_account_name": receiver.name}
    if method == "alipay":
        return {"partner_account_name": station.partner_name}
    return {}


def get_order(ports: PaymentPorts, order_no: str, *, user_id: str | None = None) -> PaymentOrder:
    """An order (a driver sees only their own). Raises: NotFound."""
    order = _load(ports, order_no)
    if user_id is not None and order.user_id != user_id:
        raise NotFound("payment order not found", kind="payment_order", id=order_no)
    return order


# ---------------------------------------------------------------- ledger effects


def _post(ports: PaymentPorts, transfer: Any) -> None:
    result = ports.ledger.post_transfer(transfer)
    if result.is_new:
        logger.info(
            "payment transfer posted",
            extra={
                "transfer_id": transfer.transfer_id,
                "transfer_kind": str(transfer.kind),
                "amount_fen": transfer.amount_fen,
            },
        )


def _hold_prepay(ports: PaymentPorts, order: PaymentOrder) -> None:
    _post(
        ports,
        hold_transfer(
            account_id=_wallet(order),
            operator_id=order.operator_id,
            amount_fen=order.prepaid_fen,
            reference=order.hold_id,
            actor=ACTOR,
            posted_at=ports.clock(),
            counter_account_id=revenue_account_id(order.operator_id),
            details=_details(order),
        ),
    )


def _take_payment(ports: PaymentPorts, order: PaymentOrder) -> None:
    """Provider money in: top-up of the driver's wallet, then the prepay hold."""
    _post(
        ports,
        top_up_transfer(
            account_id=_wallet(order),
            operator_id=order.operator_id,
            amount_fen=order.prepaid_fen,
            reference=f"payment:{order.order_no}",
            method=order.method.value,
            actor=ACTOR,
            posted_at=ports.clock(),
            details=_details(order, "prepay"),
        ),
    )
    _hold_prepay(ports, order)


def _hold_exists(ports: PaymentPorts, order: PaymentOrder) -> bool:
    return ports.ledger.get_transfer(order.hold_id) is not None


def _refund_to_route(ports: PaymentPorts, order: PaymentOrder, amount: int, out_no: str) -> None:
    _post(
        ports,
        refund_transfer(
            account_id=_wallet(order),
            operator_id=order.operator_id,
            amount_fen=amount,
            reference=f"refund:{out_no}",
            method=order.method.value,
            actor=ACTOR,
            posted_at=ports.clock(),
            details=_details(order, "refund"),
        ),
    )


def _settle_ledger(ports: PaymentPorts, order: PaymentOrder) -> None:
    """Resolve the prepay hold as settled (capture consumed / release) and, for a provider
    payment, move the unused part back to the method's clearing account. Idempotent."""
    if order.consumed_fen > 0:
        capture_hold(
            ports.ledger,
            hold_id=order.hold_id,
            amount_fen=order.consumed_fen,
            actor=ACTOR,
            clock=ports.clock,
        )
    else:
        release_hold(ports.ledger, hold_id=order.hold_id, actor=ACTOR, clock=ports.clock)
    if not order.is_wallet and order.refund_fen > 0:
        _refund_to_route(ports, order, order.refund_fen, order.out_refund_no)


def _split_ledger(ports: PaymentPorts, order: PaymentOrder) -> tuple[int, int]:
    split = split_profit(order.consumed_fen, order.partner_share_bp)
    if order.consumed_fen > 0:
        _post(
            ports,
            profit_share_transfer(
                operator_id=order.operator_id,
                station_id=order.station_id,
                partner_fen=split.partner_fen,
                platform_fen=split.platform_fen,
                reference=f"share:{order.order_no}",
                actor=ACTOR,
                posted_at=ports.clock(),
                details=_details(order, "profit_share"),
            ),
        )
    return split.partner_fen, split.platform_fen


def _provider_refund(ports: PaymentPorts, order: PaymentOrder) -> str:
    """Send the unused part back by the original route; the refund status."""
    if order.refund_fen == 0:
        return "none"
    if order.is_wallet:
        return "released"
    result = _provider(ports, order).refund(
        RefundRequest(
            order_no=order.order_no,
            out_refund_no=order.out_refund_no,
            refund_fen=order.refund_fen,
            total_fen=order.prepaid_fen,
            reason="unused prepay",
        )
    )
    return result.status


def _provider_share(ports: PaymentPorts, order: PaymentOrder, partner_fen: int) -> tuple[str, int]:
    """Settle the provider side of the split, once per ``out_share_no``; the share status
    and what went to the partner at the provider.

    With a partner receiver account on the order (the station's when the order was created)
    and a partner part above 0 fen: one profit-sharing order to it of that part, capped at
    the provider's maximum share ratio of the consumed amount (WeChat Pay's 30 % unless
    raised), the rest unfrozen for the operator (WeChat Pay ``unfreeze_unsplit``, Alipay
    ``royalty_finish``). What the provider does not send, the operator owes the partner in
    the ledger's partner balance. Raises: UpstreamFailure.
    """
    if order.is_wallet or order.consumed_fen == 0 or order.provider_txn_id is None:
        return "ledger", 0
    provider = _provider(ports, order)
    receiver = order.partner_receiver
    if receiver is not None and not receiver.is_complete:
        # WeChat Pay refuses to add a MERCHANT_ID without the merchant's full name: the
        # partner's part stays in the ledger (owed by the operator), the rest is unfrozen.
        logger.warning(
            "partner receiver incomplete: share not routed to it",
            extra={"order_no": order.order_no, "station_id": order.station_id},
        )
        receiver = None
    routed_fen = 0
    if receiver is not None:
        routed_fen = provider_share_fen(
            partner_fen=partner_fen,
            consumed_fen=order.consumed_fen,
            max_share_bp=provider.max_share_bp,
        )
    receivers: tuple[ShareReceiver, ...] = ()
    if routed_fen > 0 and receiver is not None:
        _ensure_receiver(ports, provider, order, receiver)
        receivers = (
            ShareReceiver(
                account=receiver.account,
                amount_fen=routed_fen,
                description=f"site partner share {order.order_no}",
            ),
        )
    try:
        result = provider.share_profit(
            ShareRequest(
                order_no=order.order_no,
                out_share_no=order.out_share_no,
                provider_txn_id=order.provider_txn_id,
                receivers=receivers,
                unfreeze_rest=True,
            )
        )
    except UpstreamFailure:
        if receiver is not None:
            # Perhaps removed at the provider since: the retry adds it again.
            ports.receivers_added.forget(order.method, receiver)
        raise
    if receivers:
        _post(
            ports,
            partner_payout_transfer(
                operator_id=order.operator_id,
                station_id=order.station_id,
                amount_fen=routed_fen,
                method=order.method.value,
                reference=f"partner_payout:{order.order_no}",
                actor=ACTOR,
                posted_at=ports.clock(),
                details=_details(order, "profit_share"),
            ),
        )
    return result.status, routed_fen if receivers else 0


def _ensure_receiver(
    ports: PaymentPorts, provider: PaymentProvider, order: PaymentOrder, receiver: PartnerReceiver
) -> None:
    """Add the receiver at the provider before the first share to it in this container
    (idempotent at the provider, so a second container or a retry adding it again changes
    nothing there). Raises: UpstreamFailure (the step fails and is retried like any
    provider error), InvalidInput."""
    if ports.receivers_added.has(order.method, receiver):
        return
    provider.add_receiver(receiver)
    ports.receivers_added.remember(order.method, receiver)
    logger.info(
        "partner receiver added at the provider",
        extra={"order_no": order.order_no, "method": order.method.value},
    )


# ---------------------------------------------------------------- task steps


def create_prepay_order(ports: PaymentPorts, order_no: str, execution: str) -> dict[str, Any]:
    """Open the provider order (or hold the wallet) for the execution's order.

    Raises: NotFound, Conflict (no longer open), InsufficientBalance/WalletFrozen (wallet),
        UpstreamFailure (provider or table; retried by the workflow).
    """
    order = _load(ports, order_no)
    if order.did("create_prepay_order"):
        return _summary(order)
    if order.state is not OrderState.CREATED:
        raise Conflict("order is no longer open", order_no=order_no, state=order.state.value)
    params: dict[str, str] = {}
    if order.is_wallet:
        _hold_prepay(ports, order)
    else:
        ticket = _provider(ports, order).create_prepay(
            PrepayRequest(
                order_no=order.order_no,
                amount_fen=order.prepaid_fen,
                description="charging prepay",
                payer_id=order.payer_id,
                expires_at=order.expires_at,
            )
        )
        params = dict(ticket.client_params)

    def change(current: PaymentOrder) -> PaymentOrder:
        opened = with_prepay(
            current, execution_arn=execution, client_params=params, now=ports.clock()
        )
        return record_wallet_hold(opened, ports.clock()) if opened.is_wallet else opened

    return _summary(_update(ports, order_no, change))


def wait_for_paid(ports: PaymentPorts, order_no: str, task_token: str) -> dict[str, Any]:
    """Keep the callback token; resume at once when the order is already paid."""
    order = _update(ports, order_no, lambda o: with_pay_token(o, task_token, ports.clock()))
    if order.is_paid:
        ports.resumer.succeed(task_token, paid_output(order))
    return {"order_no": order_no, "is_paid": order.is_paid}


def remote_start(ports: PaymentPorts, order_no: str) -> dict[str, Any]:
    """Send the remote start. Raises: Conflict (not paid, gun unavailable), UpstreamFailure."""
    order = _load(ports, order_no)
    if not order.did("remote_start"):
        if order.state is not OrderState.PAID:
            raise Conflict("order is not paid", order_no=order_no, state=order.state.value)
        call_id = ports.charging.begin(order, ports.clock())
        order = _update(ports, order_no, lambda o: record_started(o, call_id, ports.clock()))
    return {"order_no": order_no, "call_id": order.call_id}


def wait_for_session_end(ports: PaymentPorts, order_no: str, task_token: str) -> dict[str, Any]:
    """Hand the callback token to the pile side (resumed on the session's end)."""
    ports.charging.await_end(order_no, task_token, ports.clock())
    return {"order_no": order_no}


def _priced(ports: PaymentPorts, order: PaymentOrder) -> tuple[Cost, int, str | None]:
    """The cost (with its lines), energy (Wh) and session of what the pile recorded so far."""
    try:
        facts = ports.charging.outcome(order.order_no)
    except NotFound:
        # No remote start was ever recorded for the order: nothing can have been consumed.
        return ZERO_COST, 0, None
    if not facts.started or len(facts.readings) < 2:
        return ZERO_COST, 0, facts.session_id
    tariff_id = facts.tariff_id or order.tariff_id
    version = facts.tariff_version or order.tariff_version
    tariff = require_tariff(ports.base_data.tariff_version(tariff_id, version), tariff_id, version)
    if getattr(facts, "is_priced_by_time", False):
        return _time_cost(tariff, facts), facts.energy_wh, facts.session_id
    cost = price_energy(tariff, facts.readings)
    return cost, cost.energy_wh, facts.session_id


def _cost_of(ports: PaymentPorts, order: PaymentOrder) -> tuple[int, int, str | None]:
    """The cost (fen), energy (Wh) and session of what the pile recorded so far."""
    cost, energy_wh, session_id = _priced(ports, order)
    return cost.total_fen, energy_wh, session_id


def _time_cost(tariff: Tariff, facts: Any) -> Cost:
    """An e-bike port priced by time with power bands (``paid_charging.ChargeOutcome``
    carries its start, stop and power samples)."""
    from shared.domain.pricing import price_time

    until = facts.stopped_at or facts.readings[-1].at
    return price_time(tariff, facts.started_at, until, facts.power_samples)


def _settle_order(ports: PaymentPorts, order_no: str, basis: SettleBasis) -> PaymentOrder:
    order = _load(ports, order_no)
    if not order.state.is_settled and order.state is not OrderState.FAILED:
        cost, energy_wh, session_id = _priced(ports, order)
        settlement = settle_prepay(order.prepaid_fen, cost.total_fen)
        # The bill is decided with the amounts and saved with them in one conditional
        # write: a retry finds the order settled and keeps the lines it stored.
        lines = bill_lines(cost)

        def change(current: PaymentOrder) -> PaymentOrder:
            return settle(
                current,
                cost_fen=cost.total_fen,
                consumed_fen=settlement.consumed_fen,
                energy_wh=energy_wh,
                session_id=session_id,
                basis=basis,
                now=ports.clock(),
                bill=lines,
                discount_fen=cost.discount_fen,
            )

        order = _update(ports, order_no, change)
    _settle_ledger(ports, order)
    return order


def settle_cost(ports: PaymentPorts, order_no: str, state: Mapping[str, Any]) -> dict[str, Any]:
    """Price the charge with the tariff version it started under and settle the prepay.

    Raises: Conflict (not started), TariffMissing, UpstreamFailure.
    """
    order = _load(ports, order_no)
    if order.state is not OrderState.STARTED and not order.state.is_settled:
        raise Conflict("order has not started", order_no=order_no, state=order.state.value)
    basis = SettleBasis.SESSION_END_LOST if "session_end_lost" in state else SettleBasis.SESSION_END
    order = _settle_order(ports, order_no, basis)
    return {
        "order_no": order_no,
        "cost_fen": order.cost_fen,
        "consumed_fen": order.consumed_fen,
        "refund_fen": order.refund_fen,
        "energy_wh": order.energy_wh,
    }


def refund_unused(ports: PaymentPorts, order_no: str) -> dict[str, Any]:
    """Refund prepaid minus consumed by the original route (once, ``{order_no}-R1``).

    Raises: Conflict (not settled), UpstreamFailure (provider; retried).
    """
    order = _load(ports, order_no)
    if order.state is OrderState.SETTLED:
        status = _provider_refund(ports, order)
        order = _update(ports, order_no, lambda o: record_refunded(o, status, ports.clock()))
    elif order.state not in (OrderState.REFUNDED, OrderState.COMPLETED):
        raise Conflict("order is not settled", order_no=order_no, state=order.state.value)
    return {
        "order_no": order_no,
        "refunded_fen": order.refunded_fen,
        "refund_status": order.refund_status,
    }


def share_profit(ports: PaymentPorts, order_no: str) -> dict[str, Any]:
    """Split the consumed amount at the station's partner share; the order completes.

    Raises: Conflict (not refunded), UpstreamFailure (provider; retried).
    """
    order = _load(ports, order_no)
    if order.state is OrderState.REFUNDED:
        partner_fen, platform_fen = _split_ledger(ports, order)
        status, shared_fen = _provider_share(ports, order, partner_fen)

        def change(current: PaymentOrder) -> PaymentOrder:
            return record_shared(
                current,
                partner_fen=partner_fen,
                platform_fen=platform_fen,
                status=status,
                now=ports.clock(),
                partner_shared_fen=shared_fen,
            )

        order = _update(ports, order_no, change)
    elif order.state is not OrderState.COMPLETED:
        raise Conflict("order is not refunded", order_no=order_no, state=order.state.value)
    logger.info(
        "paid session completed",
        extra={
            "order_no": order_no,
            "consumed_fen": order.consumed_fen,
            "refunded_fen": order.refunded_fen,
        },
    )
    return {
        "order_no": order_no,
        "partner_fen": order.partner_fen,
        "platform_fen": order.platform_fen,
        "share_status": order.share_status,
        "partner_shared_fen": order.partner_shared_fen,
    }


def _reason(state: Mapping[str, Any]) -> str:
    error = state.get("error")
    if isinstance(error, Mapping):
        return str(error.get("Error") or "failed")
    return "failed"


def _detail(state: Mapping[str, Any]) -> str | None:
    """The error's cause, short and safe (``payment_orders.failure_detail``)."""
    error = state.get("error")
    return failure_detail(error.get("Cause")) if isinstance(error, Mapping) else None


def full_refund_or_cancel(
    ports: PaymentPorts, order_no: str, state: Mapping[str, Any]
) -> dict[str, Any]:
    """Compensation: close an unpaid order; otherwise settle what the pile recorded (nothing
    when it never started), refund the rest by the original route, split what was consumed.

    Raises: UpstreamFailure (retried by the workflow, then an operator reconciles).
    """
    reason = _reason(state)
    detail = _detail(state)
    order = _load(ports, order_no)
    if order.state is OrderState.CREATED:
        order = _update(
            ports,
            order_no,
            lambda o: (
                close_unpaid(o, reason, ports.clock(), detail=detail)
                if o.state is OrderState.CREATED
                else o
            ),
        )
    if order.state is OrderState.CLOSED:
        _after_close(ports, order)
        return _summary(order)
    if order.state in (OrderState.COMPLETED, OrderState.FAILED):
        return _summary(order)
    if order.state is OrderState.STARTED:
        _stop_if_charging(ports, order)
    order = _settle_order(ports, order_no, SettleBasis.COMPENSATION)
    status = order.refund_status
    if order.state is OrderState.SETTLED:
        status = _provider_refund(ports, order)
    partner_fen, platform_fen = _split_ledger(ports, order)
    share_status = order.share_status
    shared_fen = order.partner_shared_fen
    if share_status is None:
        try:
            share_status, shared_fen = _provider_share(ports, order, partner_fen)
        except UpstreamFailure:
            # The money is split in the ledger; the provider-side release is left to the
            # operator (the daily reconciliation lists the order).
            share_status = "provider_failed"

    order = _update(
        ports,
        order_no,
        lambda o: _compensated(
            o,
            reason=reason,
            detail=detail,
            refund_status=status,
            partner_fen=partner_fen,
            platform_fen=platform_fen,
            share_status=share_status,
            shared_fen=shared_fen,
            ports=ports,
        ),
    )
    logger.warning(
        "paid session compensated",
        extra={
            "order_no": order_no,
            "reason": reason,
            "detail": detail,
            "refunded_fen": order.refunded_fen,
        },
    )
    return _summary(order)


def _stop_if_charging(ports: PaymentPorts, order: PaymentOrder) -> None:
    """A session still charging when its workflow fails (its end could not be awaited) is
    stopped: it is settled by what it recorded so far, and must not charge on unpaid."""
    try:
        facts = ports.charging.outcome(order.order_no)
    except NotFound:
        return
    if not facts.started or facts.ended or facts.session_id is None:
        return
    try:
        ports.charging.stop(order.pile_id, facts.session_id, ports.clock())
    except (Conflict, NotFound):
        return  # ended meanwhile, or the session is not where the order says
    except UpstreamFailure:
        # The pile is offline or unreachable: the settlement stands on what was recorded;
        # the stop is logged for the operator (the session closes as stale or by the pile).
        logger.warning("compensation could not stop the pile", extra={"order_no": order.order_no})
        return
    logger.warning("compensation stopped a charging session", extra={"order_no": order.order_no})


def _compensated(
    order: PaymentOrder,
    *,
    reason: str,
    detail: str | None,
    refund_status: str | None,
    partner_fen: int,
    platform_fen: int,
    share_status: str,
    shared_fen: int,
    ports: PaymentPorts,
) -> PaymentOrder:
    if order.state.is_terminal:
        return order
    if order.state is OrderState.SETTLED:
        order = record_refunded(order, refund_status or "none", ports.clock())
    return fail_refunded(
        order,
        reason=reason,
        partner_fen=partner_fen,
        platform_fen=platform_fen,
        share_status=share_status,
        now=ports.clock(),
        partner_shared_fen=shared_fen,
        detail=detail,
    )


def _after_close(ports: PaymentPorts, order: PaymentOrder) -> None:
    """An order closed unpaid: no hold may stay, and the provider order is closed."""
    if order.is_wallet:
        if _hold_exists(ports, order):
            release_hold(ports.ledger, hold_id=order.hold_id, actor=ACTOR, clock=ports.clock)
        return
    try:
        _provider(ports, order).close_order(order.order_no)
    except Conflict:
        # Paid at the provider meanwhile: its notification finds the order closed and
        # refunds the payment in full.
        logger.info("closed order was paid at the provider", extra={"order_no": order.order_no})
    except UpstreamFailure:
        # Best effort: the provider order expires by itself (``expires_at``), it may never
        # have been opened (the prepay step failed first: the provider answers "unknown"),
        # and a payment that still arrives is refunded in full by the notification path.
        # Nothing is held for a closed order, so this must not end in CompensationFailed.
        logger.warning("provider order not closed", extra={"order_no": order.order_no})


def _summary(order: PaymentOrder) -> dict[str, Any]:
    return {
        "order_no": order.order_no,
        "state": order.state.value,
        "prepaid_fen": order.prepaid_fen,
        "consumed_fen": order.consumed_fen,
        "refunded_fen": order.refunded_fen,
    }


# ---------------------------------------------------------------- notifications


def record_payment_notice(
    ports: PaymentPorts, method: PaymentMethod, headers: Mapping[str, str], body: bytes
) -> tuple[int, dict[str, str], str]:
    """Verify a provider's "paid" notification and take the payment once; answer the
    provider's ack. A replay changes nothing; a payment of a closed order is refunded in
    full. A wallet top-up's notice (``TU`` order numbers) credits the wallet once
    (``wallet_topups.take_topup_notice``).

    Raises:
        NotificationRejected: not authentic (401) or not an open order's payment (400);
            nothing changed.
        Conflict: the order was already paid by another payment (the provider retries;
            an operator reconciles).
        UpstreamFailure: a table or the provider failed (the provider retries).
    """
    if method is PaymentMethod.WALLET:
        raise NotificationRejected(400, "unknown_provider")
    provider = ports.providers(method)
    notice = provider.verify_notification(headers, body, ports.clock())
    if is_topup_order_no(notice.order_no):
        if ports.topups is None:
            raise NotificationRejected(400, "unknown_order")
        from shared.services.wallet_topups import take_topup_notice

        return take_topup_notice(
            orders=ports.topups,
            ledger=ports.ledger,
            provider=provider,
            notice=notice,
            clock=ports.clock,
        )
    order = ports.orders.get(notice.order_no)
    if order is None:
        raise NotificationRejected(400, "unknown_order")
    if order.method is not method:
        raise NotificationRejected(400, "method_mismatch")
    ensure_notice_matches(notice, order_no=order.order_no, amount_fen=order.prepaid_fen)
    for _ in range(MAX_SAVE_ATTEMPTS):
        order = _load(ports, notice.order_no)
        changed, outcome = record_paid(
            order,
            provider_txn_id=notice.provider_txn_id,
            amount_fen=notice.amount_fen,
            paid_at=notice.paid_at,
            now=ports.clock(),
        )
        if outcome is PaymentOutcome.RECORDED:
            _take_payment(ports, changed)
        saved = changed if changed == order else ports.orders.save(changed)
        if saved is None:
            continue
        if outcome is PaymentOutcome.LATE or saved.late_txn_id == notice.provider_txn_id:
            _refund_late(ports, saved)
        elif saved.pay_token is not None and saved.state is OrderState.PAID:
            ports.resumer.succeed(saved.pay_token, paid_output(saved))
        logger.info(
            "payment notice taken",
            extra={"order_no": saved.order_no, "outcome": outcome.value},
        )
        return provider.notification_ack()
    raise UpstreamFailure("payment order too contended", order_no=notice.order_no)


def _refund_late(ports: PaymentPorts, order: PaymentOrder) -> None:
    """A payment that arrived after the order closed goes back in full (``{order_no}-L1``)."""
    if order.late_refund_status is not None:
        return
    _take_payment(ports, order)
    release_hold(ports.ledger, hold_id=order.hold_id, actor=ACTOR, clock=ports.clock)
    _refund_to_route(ports, order, order.late_fen, order.late_refund_no)
    result = _provider(ports, order).refund(
        RefundRequest(
            order_no=order.order_no,
            out_refund_no=order.late_refund_no,
            refund_fen=order.late_fen,
            total_fen=order.late_fen,
            reason="order closed before payment",
        )
    )
    _update(ports, order.order_no, lambda o: record_late_refund(o, result.status, ports.clock()))
    logger.warning(
        "late payment refunded", extra={"order_no": order.order_no, "amount_fen": order.late_fen}
    )


# ---------------------------------------------------------------- task dispatch


def run_step(ports: PaymentPorts, event: Mapping[str, Any]) -> dict[str, Any]:
    """Run one workflow task from its Step Functions event
    (``{"step", "execution", "state": {..., "order_no"}, "task_token"?}``).

    Raises: InvalidInput (malformed event), and whatever the step raises.
    """
    step = event.get("step")
    state = event.get("state")
    execution = event.get("execution")
    if step not in STEPS or not isinstance(state, Mapping) or not isinstance(execution, str):
        raise InvalidInput("not a payment workflow task", field="step")
    order_no = state.get("order_no")
    if not isinstance(order_no, str):
        raise InvalidInput("the execution input names no order", field="order_no")
    token = event.get("task_token")
    if step in ("wait_for_paid", "wait_for_session_end") and not isinstance(token, str):
        raise InvalidInput("a callback step needs its task token", field="task_token")
    if step == "create_prepay_order":
        return create_prepay_order(ports, order_no, execution)
    if step == "wait_for_paid":
        return wait_for_paid(ports, order_no, str(token))
    if step == "remote_start":
        return remote_start(ports, order_no)
    if step == "wait_for_session_end":
        return wait_for_session_end(ports, order_no, str(token))
    if step == "settle_cost":
        return settle_cost(ports, order_no, state)
    if step == "refund_unused":
        return refund_unused(ports, order_no)
    if step == "share_profit":
        return share_profit(ports, order_no)
    return full_refund_or_cancel(ports, order_no, state)
