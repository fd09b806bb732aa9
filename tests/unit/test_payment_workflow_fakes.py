"""In-memory fakes of the payment workflow's ports (orders, provider, pile side, base data,
Step Functions) and a builder of the whole set; shared by the unit, integration and chaos
tests of the workflow. No tests here."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.domain.clock import from_wire, to_wire
from shared.domain.errors import Conflict, NotFound, UpstreamFailure
from shared.domain.ledger import AccountKind
from shared.domain.passwords import hash_password
from shared.domain.payment_orders import PaymentOrder
from shared.domain.payments import (
    NotificationRejected,
    PaidNotice,
    PartnerReceiver,
    PaymentMethod,
    PrepayRequest,
    PrepayTicket,
    ProviderRecord,
    RefundRequest,
    RefundResult,
    ShareRequest,
    ShareResult,
)
from shared.domain.piles import Pile, PileKind, PileProtocol
from shared.domain.pricing import MeterReading
from shared.domain.stations import Station
from shared.domain.tariffs import PeriodKind, Tariff, TariffPeriod
from shared.services.payment_workflow import PaidSessionRequest, PaymentPorts, ReceiversAdded
from tests.unit.ledger_fakes import InMemoryLedgerRepository

T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
OPERATOR = "op-pay"
STATION = "st-pay"
PILE = "CP-PAY-1"
TARIFF = "tf-pay"
USER = "u-1"
PASSWORD_HASH = hash_password("p" * 16, b"0" * 16, iterations=1)


class InMemoryOrders:
    """``PaymentOrderStore`` with the adapter's revision semantics; ``before_save`` runs a
    competitor between a writer's read and its save (the race a conditional put loses)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.orders: dict[str, PaymentOrder] = {}
        self.before_save: Callable[[PaymentOrder], None] | None = None
        self.saves = 0

    def create(self, order: PaymentOrder) -> bool:
        with self._lock:
            if order.order_no in self.orders:
                return False
            self.orders[order.order_no] = order
            return True

    def save(self, order: PaymentOrder) -> PaymentOrder | None:
        hook, self.before_save = self.before_save, None
        if hook is not None:
            hook(order)
        with self._lock:
            stored = self.orders.get(order.order_no)
            if stored is None or stored.revision != order.revision:
                return None
            saved = replace(order, revision=order.revision + 1)
            self.orders[order.order_no] = saved
            self.saves += 1
            return saved

    def get(self, order_no: str) -> PaymentOrder | None:
        with self._lock:
            return self.orders.get(order_no)


def notice_body(order_no: str, txn: str, amount_fen: int, paid_at: datetime = T0) -> bytes:
    return json.dumps(
        {"order_no": order_no, "txn": txn, "amount_fen": amount_fen, "paid_at": to_wire(paid_at)}
    ).encode()


GOOD_HEADERS = {"x-sign": "good"}


class FakeProvider:
    """A provider that keeps its books in memory; ``fail_next[op] = n`` makes the next n
    calls of ``op`` raise ``UpstreamFailure`` (after doing nothing)."""

    def __init__(self, method: PaymentMethod, *, max_share_bp: int = 10_000) -> None:
        self._method = method
        self.max_share_bp = max_share_bp
        self._lock = threading.RLock()
        self.prepays: dict[str, PrepayRequest] = {}
        self.paid: dict[str, int] = {}
        self.refunds: dict[str, RefundRequest] = {}
        self.shares: dict[str, ShareRequest] = {}
        self.closed: list[str] = []
        self.receivers: dict[str, PartnerReceiver] = {}
        self.fail_next: dict[str, int] = {}
        self.calls: list[str] = []

    @property
    def method(self) -> PaymentMethod:
        return self._method

    def _enter(self, op: str) -> None:
        with self._lock:
            self.calls.append(op)
            if self.fail_next.get(op, 0) > 0:
                self.fail_next[op] -= 1
                raise UpstreamFailure(f"provider {op} failed")

    def create_prepay(self, req: PrepayRequest) -> PrepayTicket:
        self._enter("create_prepay")
        with self._lock:
            self.prepays.setdefault(req.order_no, req)
        return PrepayTicket(self._method, req.order_no, {"prepay_id": f"pp-{req.order_no}"})

    def verify_notification(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> PaidNotice:
        if headers.get("x-sign") != "good":
            raise NotificationRejected(401, "bad_signature")
        try:
            data = json.loads(body)
            return PaidNotice(
                method=self._method,
                order_no=str(data["order_no"]),
                provider_txn_id=str(data["txn"]),
                amount_fen=int(data["amount_fen"]),
                paid_at=from_wire(str(data["paid_at"])),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise NotificationRejected(400, "malformed") from exc

    def notification_ack(self) -> tuple[int, dict[str, str], str]:
        return 200, {"Content-Type": "application/json"}, '{"code":"SUCCESS"}'

    def refund(self, req: RefundRequest) -> RefundResult:
        self._enter("refund")
        with self._lock:
            stored = self.refunds.setdefault(req.out_refund_no, req)
            if stored != req:
                raise Conflict("out_refund_no reused with other money")
        return RefundResult(req.out_refund_no, "success", req.refund_fen)

    def add_receiver(self, receiver: PartnerReceiver) -> None:
        self._enter("add_receiver")
        with self._lock:
            self.receivers[receiver.account] = receiver  # adding again: no change

    def share_profit(self, req: ShareRequest) -> ShareResult:
        self._enter("share_profit")
        with self._lock:
            if req.out_share_no not in self.shares and any(
                r.account not in self.receivers for r in req.receivers
            ):
                # WeChat Pay (and the sandbox) refuse a share to a receiver never added.
                raise UpstreamFailure("receiver never added", code="RECEIVER_INVALID")
            self.shares.setdefault(req.out_share_no, req)
        return ShareResult(req.out_share_no, "success")

    def close_order(self, order_no: str) -> None:
        self._enter("close_order")
        with self._lock:
            if order_no in self.paid:
                raise Conflict("order already paid")
            if order_no not in self.prepays:  # the sandbox answers 404, the adapter 502
                raise UpstreamFailure("provider does not know the order")
            self.closed.append(order_no)

    def records(self, day: date) -> list[ProviderRecord]:
        return []

    def refunded_fen(self) -> int:
        return sum(r.refund_fen for r in self.refunds.values())


@dataclass(frozen=True)
class FakeFacts:
    started: bool
    session_id: str | None
    energy_wh: int
    readings: tuple[MeterReading, ...]
    tariff_id: str | None = TARIFF
    tariff_version: int | None = 1
    ended: bool = True


def readings_for(energy_wh: int, start: datetime = T0) -> tuple[MeterReading, ...]:
    """Two register readings 30 minutes apart that delivered ``energy_wh``."""
    return (
        MeterReading(at=start, register_wh=1000),
        MeterReading(at=start + timedelta(minutes=30), register_wh=1000 + energy_wh),
    )


class FakeCharging:
    """The pile side: ``begin`` records a start per order (``refuse`` raises Conflict),
    ``await_end`` keeps the token, ``outcome`` answers what the test set in ``energy_wh``."""

    def __init__(self) -> None:
        self.begun: dict[str, int] = {}
        self.tokens: dict[str, str] = {}
        self.energy_wh: dict[str, int] = {}
        self.never_started: set[str] = set()
        self.still_charging: set[str] = set()
        self.stops: list[tuple[str, str]] = []
        self.refuse = False

    def begin(self, order: PaymentOrder, now: datetime) -> str:
        if self.refuse:
            raise Conflict("gun is busy", pile_id=order.pile_id)
        self.begun[order.order_no] = self.begun.get(order.order_no, 0) + 1
        return f"call-{order.order_no}"

    def await_end(self, order_no: str, task_token: str, now: datetime) -> None:
        self.tokens[order_no] = task_token

    def outcome(self, order_no: str) -> FakeFacts:
        if order_no not in self.begun:
            raise NotFound("no paid charge", order_no=order_no)
        if order_no in self.never_started:
            return FakeFacts(False, None, 0, ())
        energy = self.energy_wh.get(order_no, 0)
        return FakeFacts(
            True,
            f"se-{order_no}",
            energy,
            readings_for(energy),
            ended=order_no not in self.still_charging,
        )

    def stop(self, pile_id: str, session_id: str, now: datetime) -> None:
        self.stops.append((pile_id, session_id))


# Flat all day: 0.60 electricity + 0.40 service yuan per kWh = 1 fen per 10 Wh.
FLAT_TARIFF = Tariff(
    tariff_id=TARIFF,
    operator_id=OPERATOR,
    name="flat",
    periods=(TariffPeriod(PeriodKind.FLAT, "00:00", "24:00", 60, 40),),
    version=1,
    created_at=T0,
    updated_at=T0,
)


class FakeBaseData:
    def __init__(self, partner_share_bp: int = 5000) -> None:
        self.stations = {
            STATION: Station(
                station_id=STATION,
                operator_id=OPERATOR,
                name="Site",
                address="1 Road",
                lat=31.23,
                lng=121.47,
                transformer_capacity_kva=630,
                partner_share_bp=partner_share_bp,
                created_at=T0,
                updated_at=T0,
                tariff_id=TARIFF,
            )
        }
        self.piles = {
            PILE: Pile(
                pile_id=PILE,
                operator_id=OPERATOR,
                station_id=STATION,
                name=PILE,
                serial="SN1",
                kind=PileKind.CAR,
                protocol=PileProtocol.OCPP16,
                model="AC7",
                rated_power_w=7000,
                gun_count=2,
                is_enabled=True,
                created_at=T0,
                updated_at=T0,
                password_hash=PASSWORD_HASH,
            )
        }
        self.tariffs = {(TARIFF, 1): FLAT_TARIFF}

    def station(self, station_id: str) -> Station | None:
        return self.stations.get(station_id)

    def pile(self, pile_id: str) -> Pile | None:
        return self.piles.get(pile_id)

    def tariff(self, tariff_id: str) -> Tariff | None:
        versions = [t for (tid, _), t in self.tariffs.items() if tid == tariff_id]
        return max(versions, key=lambda t: t.version) if versions else None

    def tariff_version(self, tariff_id: str, version: int) -> Tariff | None:
        return self.tariffs.get((tariff_id, version))


class FakeResumer:
    def __init__(self) -> None:
        self.succeeded: list[tuple[str, dict[str, Any]]] = []
        self.failed: list[tuple[str, str]] = []

    def succeed(self, task_token: str, output: dict[str, Any]) -> bool:
        self.succeeded.append((task_token, output))
        return True

    def fail(self, task_token: str, error: str, cause: str) -> bool:
        self.failed.append((task_token, error))
        return True


class FakeStarter:
    def __init__(self) -> None:
        self.started: list[tuple[str, dict[str, Any]]] = []

    def start(self, name: str, execution_input: dict[str, Any]) -> str:
        self.started.append((name, execution_input))
        return f"arn:aws:states:us-east-1:123456789012:execution:payment:{name}"


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class World:
    """Every fake behind one ``PaymentPorts``."""

    orders: InMemoryOrders = field(default_factory=InMemoryOrders)
    ledger: InMemoryLedgerRepository = field(default_factory=InMemoryLedgerRepository)
    providers: dict[PaymentMethod, FakeProvider] = field(
        default_factory=lambda: {
            m: FakeProvider(m)
            for m in (PaymentMethod.SANDBOX, PaymentMethod.WECHAT, PaymentMethod.ALIPAY)
        }
    )
    charging: FakeCharging = field(default_factory=FakeCharging)
    base_data: FakeBaseData = field(default_factory=FakeBaseData)
    resumer: FakeResumer = field(default_factory=FakeResumer)
    starter: FakeStarter = field(default_factory=FakeStarter)
    clock: Clock = field(default_factory=Clock)
    # One container's memory of receivers added (a fresh one = a new container).
    receivers_added: ReceiversAdded = field(default_factory=ReceiversAdded)

    def provider_for(self, method: PaymentMethod) -> FakeProvider:
        if method not in self.providers:
            raise NotFound("no such provider", method=str(method))
        return self.providers[method]

    @property
    def ports(self) -> PaymentPorts:
        return PaymentPorts(
            orders=self.orders,
            ledger=self.ledger,
            providers=self.provider_for,
            charging=self.charging,
            base_data=self.base_data,
            resumer=self.resumer,
            clock=self.clock,
            starter=self.starter,
            receivers_added=self.receivers_added,
        )

    def balances(self) -> dict[str, int]:
        return {a.account_id: a.balance_fen for a in self.ledger.accounts.values()}

    def balance(self, account_id: str) -> int:
        account = self.ledger.accounts.get(account_id)
        return 0 if account is None else account.balance_fen

    def held(self, account_id: str) -> int:
        account = self.ledger.accounts.get(account_id)
        return 0 if account is None else account.held_fen

    def ledger_problems(self) -> list[str]:
        """Books that do not balance: sums, entries, wallets below zero."""
        problems: list[str] = []
        if sum(self.balances().values()) != 0:
            problems.append("balances do not sum to 0")
        for account_id, account in self.ledger.accounts.items():
            entries = self.ledger.entries.get(account_id, {})
            if sum(e.amount_fen for e in entries.values()) != account.balance_fen:
                problems.append(f"{account_id}: balance != sum of entries")
            if account.kind is AccountKind.WALLET and (
                account.balance_fen < 0 or account.held_fen < 0
            ):
                problems.append(f"{account_id}: below zero")
        return problems


def a_request(**overrides: Any) -> PaidSessionRequest:
    values: dict[str, Any] = {
        "order_no": "PO2611020200000001",
        "operator_id": OPERATOR,
        "station_id": STATION,
        "pile_id": PILE,
        "gun_no": 1,
        "user_id": USER,
        "payer_id": "openid-1",
        "id_tag": "PAY0001",
        "method": "sandbox",
        "prepaid_fen": 400,
        "target_mode": "amount",
        "target_value": 400,
    }
    values.update(overrides)
    return PaidSessionRequest(**values)


def task(step: str, order_no: str, token: str | None = None, **state: Any) -> dict[str, Any]:
    """A Step Functions task event as the ASL builds it."""
    event: dict[str, Any] = {
        "step": step,
        "execution": f"arn:aws:states:us-east-1:123456789012:execution:payment:{order_no}",
        "state": {"order_no": order_no, **state},
    }
    if token is not None:
        event["task_token"] = token
    return event
