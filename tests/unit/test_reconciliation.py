"""Daily reconciliation on fakes: the ledger's clearing movements against provider records,
differences found (missing on either side, amount mismatch), attribution, day boundaries,
provider failures, and who may read the reports."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.errors import (
    FeatureUnavailable,
    Forbidden,
    InvalidInput,
    NotFound,
    UpstreamFailure,
)
from shared.domain.ledger import (
    Leg,
    Transfer,
    TransferDetails,
    TransferKind,
    partner_payout_transfer,
    top_up_transfer,
)
from shared.domain.tenancy import Principal, Role
from shared.services import reconciliation, wallets
from shared.services.reconciliation import (
    PLATFORM,
    MethodStatus,
    Problem,
    ReconciliationPorts,
    ReconciliationReport,
    RecordSource,
    day_bounds,
    get_platform_reconciliation,
    get_reconciliation,
    parse_day,
    reconcile_day,
    run_daily_reconciliation,
)
from tests.conftest import FixedClock
from tests.unit.ledger_fakes import InMemoryLedgerRepository
from tests.unit.money_fakes import InMemoryClearingEntries

DAY = date(2026, 11, 1)
START, END = day_bounds(DAY)
OPS = ("op-1", "op-2")


@dataclass(frozen=True)
class Record:
    order_no: str
    kind: str
    reference: str
    amount_fen: int
    at: datetime


class FakeProvider:
    def __init__(self, records: Sequence[Record] = (), *, is_down: bool = False) -> None:
        self.records_ = list(records)
        self.is_down = is_down
        self.days: list[date] = []

    def records(self, day: date) -> Sequence[Record]:
        self.days.append(day)
        if self.is_down:
            raise UpstreamFailure("provider down")
        return list(self.records_)


class FakeOrders:
    def __init__(self, owners: Mapping[str, str] | None = None) -> None:
        self.known = dict(owners or {})

    def owners_of(self, order_nos: Collection[str]) -> Mapping[str, str]:
        return {n: self.known[n] for n in order_nos if n in self.known}


class FakeOperators:
    def operator_ids(self) -> list[str]:
        return list(OPS)


class FakeReports:
    def __init__(self) -> None:
        self.saved: dict[tuple[str, date], ReconciliationReport] = {}

    def save(self, report: ReconciliationReport) -> None:
        self.saved[(report.scope, report.day)] = report

    def get(self, scope: str, day: date) -> ReconciliationReport | None:
        return self.saved.get((scope, day))


class World:
    def __init__(self) -> None:
        self.clock = FixedClock(END + timedelta(hours=2))
        self.ledger = InMemoryLedgerRepository()
        self.wechat = FakeProvider()
        self.alipay = FakeProvider()
        self.orders = FakeOrders()
        self.reports = FakeReports()
        for n, op in enumerate(OPS):
            wallets.open_wallet(
                self.ledger,
                account_id=f"driver:u-{n}",
                operator_id=op,
                owner="",
                clock=self.clock,
            )

    def ports(self, **providers: RecordSource | None) -> ReconciliationPorts:
        chosen: dict[str, RecordSource | None] = {
            "wechat": self.wechat,
            "alipay": self.alipay,
            "sandbox": None,
        }
        chosen.update(providers)
        return ReconciliationPorts(
            operators=FakeOperators(),
            clearing=InMemoryClearingEntries(self.ledger),
            order_owners=self.orders,
            providers=chosen,
            store=self.reports,
            clock=self.clock,
        )

    def pay(
        self,
        order_no: str,
        amount_fen: int,
        at: datetime,
        *,
        op: str = "op-1",
        method: str = "wechat",
    ) -> None:
        self.ledger.post_transfer(
            top_up_transfer(
                account_id=f"driver:u-{OPS.index(op)}",
                operator_id=op,
                amount_fen=amount_fen,
                reference=f"payment:{order_no}",
                method=method,
                actor="notify",
                posted_at=at,
                details=TransferDetails(order_no=order_no),
            )
        )

    def refund(self, order_no: str, out_refund_no: str, amount_fen: int, at: datetime) -> None:
        self.ledger.post_transfer(
            Transfer(
                transfer_id=f"refund:{out_refund_no}",
                kind=TransferKind.WITHDRAWAL,
                operator_id="op-1",
                legs=(
                    Leg("driver:u-0", -amount_fen),
                    Leg("operator:op-1:clearing:wechat", amount_fen),
                ),
                reference=f"refund:{out_refund_no}",
                actor="workflow",
                posted_at=at,
                method="wechat",
                details=TransferDetails(order_no=order_no),
            )
        )

    def run(self, **providers: RecordSource | None) -> dict[str, ReconciliationReport]:
        return {r.scope: r for r in reconcile_day(self.ports(**providers), DAY)}


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


def payment(order_no: str, amount_fen: int, when: datetime, reference: str = "") -> Record:
    return Record(order_no, "payment", reference or f"wx-{order_no}", amount_fen, when)


@pytest.fixture
def world() -> World:
    return World()


def test_matching_books_are_balanced(world: World) -> None:
    world.pay("ORD-1", 400, at(3))
    world.refund("ORD-1", "RF-1", 100, at(4))
    world.pay("ORD-2", 900, at(5), op="op-2")
    world.wechat.records_ = [
        payment("ORD-1", 400, at(3)),
        Record("ORD-1", "refund", "RF-1", 100, at(4)),
        payment("ORD-2", 900, at(5)),
    ]

    reports = world.run()

    one = reports["op-1"]
    assert one.is_balanced and one.differences == ()
    wechat = next(m for m in one.methods if m.method == "wechat")
    assert (wechat.ledger_payments_fen, wechat.ledger_refunds_fen) == (400, 100)
    assert (wechat.provider_payments_fen, wechat.provider_refunds_fen) == (400, 100)
    assert wechat.matched_count == 2 and wechat.status is MethodStatus.COMPARED
    assert next(m for m in one.methods if m.method == "sandbox").status is (
        MethodStatus.PROVIDER_UNAVAILABLE
    )
    assert reports["op-2"].is_balanced and reports[PLATFORM].is_balanced
    assert world.reports.get("op-1", DAY) == one


def test_a_partner_payout_at_the_provider_is_neither_payment_nor_refund(world: World) -> None:
    world.pay("ORD-1", 400, at(3))
    world.ledger.post_transfer(
        partner_payout_transfer(
            operator_id="op-1",
            station_id="st-1",
            amount_fen=90,
            method="wechat",
            reference="partner_payout:ORD-1",
            actor="workflow",
            posted_at=at(4),
            details=TransferDetails(order_no="ORD-1"),
        )
    )
    world.wechat.records_ = [payment("ORD-1", 400, at(3))]

    one = world.run()["op-1"]

    assert one.is_balanced and one.differences == ()
    wechat = next(m for m in one.methods if m.method == "wechat")
    assert (wechat.ledger_payments_fen, wechat.ledger_refunds_fen) == (400, 0)


def test_every_kind_of_difference_is_reported(world: World) -> None:
    world.orders.known["ORD-9"] = "op-1"
    world.pay("ORD-1", 400, at(1))
    world.pay("ORD-2", 500, at(2))
    world.refund("ORD-1", "RF-1", 100, at(3))
    world.wechat.records_ = [
        payment("ORD-1", 400, at(1)),
        payment("ORD-9", 700, at(2)),  # the provider took it, the ledger never did
        Record("ORD-1", "refund", "RF-1", 150, at(3)),  # refunded another amount
    ]

    report = world.run()["op-1"]

    found = {(d.problem, d.order_no, d.ledger_amount_fen, d.provider_amount_fen) for d in
             report.differences}  # fmt: skip
    assert found == {
        (Problem.MISSING_IN_LEDGER, "ORD-9", None, 700),
        (Problem.MISSING_AT_PROVIDER, "ORD-2", 500, None),
        (Problem.AMOUNT_MISMATCH, "ORD-1", 100, 150),
    }
    assert not report.is_balanced and report.differences_total == 3


def test_records_no_operator_owns_go_to_the_platform_report(world: World) -> None:
    world.alipay.records_ = [payment("ORD-STRAY", 300, at(2))]

    reports = world.run()

    assert reports["op-1"].is_balanced and reports["op-2"].is_balanced
    (stray,) = reports[PLATFORM].differences
    assert (stray.method, stray.problem, stray.order_no) == (
        "alipay",
        Problem.MISSING_IN_LEDGER,
        "ORD-STRAY",
    )


def test_a_record_belongs_to_the_operator_whose_movement_names_its_order(world: World) -> None:
    world.pay("ORD-5", 800, at(6), op="op-2")
    world.wechat.records_ = [payment("ORD-5", 810, at(6))]

    reports = world.run()

    (diff,) = reports["op-2"].differences
    assert diff.problem is Problem.AMOUNT_MISMATCH
    assert reports["op-1"].is_balanced and reports[PLATFORM].is_balanced


def test_a_payment_posted_just_after_midnight_pairs_with_the_days_record(world: World) -> None:
    world.pay("ORD-LATE", 600, END + timedelta(minutes=3))
    world.pay("ORD-NEXT", 700, END + timedelta(minutes=5))  # the next day's own business
    world.pay("ORD-PREV", 200, START - timedelta(minutes=5))
    world.wechat.records_ = [payment("ORD-LATE", 600, END - timedelta(seconds=2))]

    report = world.run()["op-1"]

    assert report.is_balanced, report.differences


def test_a_failing_provider_is_reported_and_the_rest_still_compared(world: World) -> None:
    world.pay("ORD-1", 400, at(1), method="alipay")
    world.wechat.is_down = True

    report = world.run()["op-1"]

    statuses = {m.method: m.status for m in report.methods}
    assert statuses["wechat"] is MethodStatus.PROVIDER_FAILED
    assert statuses["alipay"] is MethodStatus.COMPARED
    assert [d.order_no for d in report.differences] == ["ORD-1"]
    assert not report.is_balanced


def test_the_reference_pairs_before_the_order(world: World) -> None:
    world.pay("ORD-1", 400, at(2))
    world.refund("ORD-1", "RF-1", 100, at(3))
    world.refund("ORD-1", "RF-2", 250, at(4))
    # The provider swapped the amounts: pairing by order (and amount) would hide it.
    world.wechat.records_ = [
        payment("ORD-1", 400, at(2)),
        Record("ORD-1", "refund", "RF-2", 100, at(4)),
        Record("ORD-1", "refund", "RF-1", 250, at(3)),
    ]

    report = world.run()["op-1"]

    assert [(d.reference, d.transfer_id, d.ledger_amount_fen, d.provider_amount_fen)
            for d in report.differences] == [
        ("RF-1", "refund:RF-1", 100, 250),
        ("RF-2", "refund:RF-2", 250, 100),
    ]  # fmt: skip


def test_many_differences_are_capped_when_stored(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reconciliation, "MAX_STORED_DIFFERENCES", 2)
    world.wechat.records_ = [payment(f"ORD-{n}", 100, at(1)) for n in range(5)]
    world.orders.known.update({f"ORD-{n}": "op-1" for n in range(5)})

    report = world.run()["op-1"]

    assert len(report.differences) == 2 and report.differences_total == 5


@settings(max_examples=25, deadline=None)
@given(
    amounts=st.lists(st.integers(min_value=1, max_value=50_000), min_size=1, max_size=8),
    dropped=st.integers(min_value=0, max_value=7),
)
def test_dropping_one_provider_record_shows_exactly_that_payment(
    amounts: list[int], dropped: int
) -> None:
    world = World()
    records = []
    for n, amount in enumerate(amounts):
        world.pay(f"ORD-{n}", amount, at(n + 1))
        records.append(payment(f"ORD-{n}", amount, at(n + 1)))
    world.wechat.records_ = records
    assert world.run()["op-1"].is_balanced
    gone = records.pop(dropped % len(records))

    (diff,) = world.run()["op-1"].differences

    assert (diff.problem, diff.order_no, diff.ledger_amount_fen) == (
        Problem.MISSING_AT_PROVIDER,
        gone.order_no,
        gone.amount_fen,
    )


def test_the_nightly_run_reconciles_yesterday_in_shanghai(world: World) -> None:
    # 2026-11-02 01:30 in Shanghai: yesterday there is 2026-11-01.
    world.clock.now = datetime(2026, 11, 1, 17, 30, tzinfo=UTC)

    result = run_daily_reconciliation(world.ports())

    assert result["day"] == "2026-11-01" and world.wechat.days == [DAY]
    assert result["operators"] == 2 and result["unbalanced"] == []


def test_reports_are_read_by_their_operator_only(world: World) -> None:
    world.run()
    admin = Principal("alice", Role.OPERATOR_ADMIN, "op-1")

    assert get_reconciliation(world.reports, admin, None, DAY).scope == "op-1"
    root = Principal("root", Role.PLATFORM_ADMIN, None)
    assert get_reconciliation(world.reports, root, "op-2", DAY).scope == "op-2"
    assert get_platform_reconciliation(world.reports, root, DAY).scope == PLATFORM
    with pytest.raises(NotFound):
        get_reconciliation(world.reports, admin, "op-2", DAY)
    with pytest.raises(NotFound):
        get_reconciliation(world.reports, admin, None, DAY + timedelta(days=1))
    with pytest.raises(Forbidden):
        get_reconciliation(world.reports, Principal("t", Role.MAINTENANCE, "op-1"), None, DAY)
    with pytest.raises(Forbidden):
        get_platform_reconciliation(world.reports, admin, DAY)
    with pytest.raises(InvalidInput):
        get_reconciliation(world.reports, root, None, DAY)


@pytest.mark.parametrize("text", ["2026-13-01", "2026-02-30", "20261101", "2026-1-1", ""])
def test_bad_days_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_day(text)


class UnconfiguredProvider:
    def records(self, day: date) -> Sequence[Record]:
        raise FeatureUnavailable("no credentials")


def test_a_provider_without_credentials_is_unavailable_not_failed(world: World) -> None:
    report = world.run(wechat=UnconfiguredProvider())["op-1"]

    statuses = {m.method: m.status for m in report.methods}
    assert statuses["wechat"] is MethodStatus.PROVIDER_UNAVAILABLE
    assert report.is_balanced


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (UpstreamFailure("WeChat Pay secret incomplete", missing=["mchid"]), FeatureUnavailable),
        (UpstreamFailure("payment provider not configured", setting="X"), FeatureUnavailable),
        (FeatureUnavailable("adapter not yet available"), FeatureUnavailable),
        (UpstreamFailure("secrets manager down", operation="GetSecretValue"), UpstreamFailure),
    ],
)
def test_reports_wiring_tells_unconfigured_from_failing_providers(
    monkeypatch: pytest.MonkeyPatch, error: Exception, expected: type[Exception]
) -> None:
    import shared.adapters.payments as payments
    from functions.reports import wiring as reports_wiring

    def broken(method: object) -> object:
        raise error

    monkeypatch.setattr(payments, "provider_for", broken)
    source = reports_wiring.providers({"WECHATPAY_SECRET_ID": "arn:secret"})["wechat"]

    assert source is not None
    with pytest.raises(expected):
        source.records(DAY)


def test_reports_wiring_leaves_out_providers_without_settings() -> None:
    from functions.reports import wiring as reports_wiring

    sources = reports_wiring.providers({"SANDBOX_PAY_URL": "http://127.0.0.1:1"})

    assert sources["wechat"] is None and sources["alipay"] is None
    assert sources["sandbox"] is not None
