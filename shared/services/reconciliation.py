"""Daily reconciliation of the ledger with the payment providers' records.

For one Asia/Shanghai day and one operator it compares the ledger's provider movements,
the entries of ``operator:{op}:clearing:{method}`` for wechat, alipay and sandbox (money
in from a provider debits the clearing account, a refund out credits it), with what the
provider says it took and refunded that day (``PaymentProvider.records(day)``), and
reports every difference: a provider record with no ledger movement
(``missing_in_ledger``), a ledger movement the provider does not know
(``missing_at_provider``), or both with different amounts (``amount_mismatch``).

Matching, per method and kind (payment / refund): a provider record first pairs with a
movement naming its reference (the ledger reference is ``prefix:{reference}`` or carries
it in its details), then with one naming its order number; among several candidates the
one with the same amount wins. Provider records name no operator: a record belongs to the
operator its order belongs to (the order item), or whose movement names its order; the
rest are reported in the platform's own report (``PLATFORM``).

A payment confirmed by the provider just before midnight may be posted just after it:
ledger movements up to ``BOUNDARY_MARGIN`` into the neighbouring days are read too and
may pair with the day's records, but are never reported as missing themselves (they
belong to the other day's run).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Protocol

from shared.domain.base_data import resolve_operator
from shared.domain.clock import LOCAL_TZ, Clock, local_day
from shared.domain.errors import FeatureUnavailable, InvalidInput, NotFound, UpstreamFailure
from shared.domain.ledger import Entry, TransferKind
from shared.domain.tenancy import Principal, Role
from shared.observability import logger

PROVIDER_METHODS = ("wechat", "alipay", "sandbox")
PLATFORM = "PLATFORM"
BOUNDARY_MARGIN = timedelta(minutes=15)
MAX_STORED_DIFFERENCES = 500
PAYMENT = "payment"
REFUND = "refund"


class Problem(StrEnum):
    MISSING_IN_LEDGER = "missing_in_ledger"
    MISSING_AT_PROVIDER = "missing_at_provider"
    AMOUNT_MISMATCH = "amount_mismatch"


class MethodStatus(StrEnum):
    COMPARED = "compared"
    PROVIDER_UNAVAILABLE = "provider_unavailable"  # not configured in this deployment
    PROVIDER_FAILED = "provider_failed"  # configured, but its records could not be read


# ---------------------------------------------------------------- ports


class ProviderRecordLike(Protocol):
    """A provider's record of one payment or refund (``ProviderRecord`` of the adapters)."""

    @property
    def order_no(self) -> str: ...
    @property
    def kind(self) -> str: ...  # "payment" | "refund"
    @property
    def reference(self) -> str: ...
    @property
    def amount_fen(self) -> int: ...
    @property
    def at(self) -> datetime: ...


class RecordSource(Protocol):
    """What reconciliation needs of a ``PaymentProvider``."""

    def records(self, day: date) -> Sequence[ProviderRecordLike]:
        """The provider's payments and refunds of a local day.

        Raises: UpstreamFailure (unreachable, refused), FeatureUnavailable (the deployment
        has no credentials for it).
        """
        ...


class ClearingEntries(Protocol):
    def clearing_entries(
        self, operator_id: str, method: str, start_at: datetime, end_at: datetime
    ) -> list[Entry]:
        """Entries of ``operator:{op}:clearing:{method}`` posted in [start, end).

        Raises: UpstreamFailure.
        """
        ...


class OrderOwners(Protocol):
    def owners_of(self, order_nos: Collection[str]) -> Mapping[str, str]:
        """order no. -> operator id, for the payment orders that exist.

        Raises: UpstreamFailure.
        """
        ...


class OperatorDirectory(Protocol):
    def operator_ids(self) -> list[str]:
        """Every operator of the platform. Raises: UpstreamFailure."""
        ...


# ---------------------------------------------------------------- the report


@dataclass(frozen=True, slots=True)
class Difference:
    method: str
    kind: str
    problem: Problem
    order_no: str | None
    reference: str
    ledger_amount_fen: int | None
    provider_amount_fen: int | None
    transfer_id: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class MethodSummary:
    method: str
    status: MethodStatus
    ledger_payments_fen: int = 0
    ledger_refunds_fen: int = 0
    provider_payments_fen: int = 0
    provider_refunds_fen: int = 0
    ledger_count: int = 0
    provider_count: int = 0
    matched_count: int = 0


@dataclass(frozen=True, slots=True)
class ReconciliationReport:
    """One day's reconciliation of one operator (or of ``PLATFORM``: records no operator
    owns). ``differences`` keeps at most ``MAX_STORED_DIFFERENCES``; ``differences_total``
    counts them all."""

    scope: str
    day: date
    generated_at: datetime
    methods: tuple[MethodSummary, ...]
    differences: tuple[Difference, ...]
    differences_total: int

    @property
    def is_balanced(self) -> bool:
        return self.differences_total == 0 and all(
            m.status is not MethodStatus.PROVIDER_FAILED for m in self.methods
        )


class ReconciliationStore(Protocol):
    def save(self, report: ReconciliationReport) -> None:
        """Store (or replace) the day's report of its scope. Raises: UpstreamFailure."""
        ...

    def get(self, scope: str, day: date) -> ReconciliationReport | None:
        """The stored report. Raises: UpstreamFailure."""
        ...


# ---------------------------------------------------------------- matching (pure)


@dataclass(frozen=True, slots=True)
class Movement:
    """A ledger entry on a provider's clearing account, from the provider's side."""

    method: str
    kind: str
    order_no: str | None
    reference: str
    transfer_id: str
    amount_fen: int
    at: datetime
    identifiers: frozenset[str] = field(default_factory=frozenset)


_SEPARATORS = re.compile(r"[:/]")


def movement_of(method: str, entry: Entry) -> Movement:
    """A clearing entry as a provider movement: a debit of the clearing account is money
    the provider took in for us (payment), a credit money it paid back (refund)."""
    details = entry.details
    order_no = details.order_no if details is not None else None
    names = {entry.transfer_id, entry.reference}
    tokens = {t for name in names for t in _SEPARATORS.split(name) if t}
    if order_no:
        tokens.add(order_no)
    return Movement(
        method=method,
        kind=PAYMENT if entry.amount_fen < 0 else REFUND,
        order_no=order_no,
        reference=entry.reference,
        transfer_id=entry.transfer_id,
        amount_fen=abs(entry.amount_fen),
        at=entry.posted_at,
        identifiers=frozenset(names | tokens),
    )


@dataclass(frozen=True, slots=True)
class Comparison:
    matched: int
    differences: tuple[Difference, ...]


def compare(
    method: str,
    movements: Sequence[Movement],
    records: Sequence[ProviderRecordLike],
    *,
    day_start: datetime,
    day_end: datetime,
) -> Comparison:
    """Pair the day's provider records with ledger movements; report what differs.

    Movements outside [day_start, day_end) may pair but are never reported missing.
    """
    free = sorted(movements, key=lambda m: (m.at, m.transfer_id))
    pairs: list[tuple[ProviderRecordLike, Movement]] = []
    waiting = sorted(records, key=lambda r: (r.at, r.reference))
    for by_reference in (True, False):
        still: list[ProviderRecordLike] = []
        for record in waiting:
            key = record.reference if by_reference else record.order_no
            candidates = [m for m in free if m.kind == record.kind and key in m.identifiers]
            if not candidates:
                still.append(record)
                continue
            chosen = next(
                (m for m in candidates if m.amount_fen == record.amount_fen), candidates[0]
            )
            free.remove(chosen)
            pairs.append((record, chosen))
        waiting = still
    differences: list[Difference] = [
        Difference(
            method=method,
            kind=record.kind,
            problem=Problem.AMOUNT_MISMATCH,
            order_no=record.order_no,
            reference=record.reference,
            ledger_amount_fen=movement.amount_fen,
            provider_amount_fen=record.amount_fen,
            transfer_id=movement.transfer_id,
            at=record.at,
        )
        for record, movement in pairs
        if movement.amount_fen != record.amount_fen
    ]
    differences += [
        Difference(
            method=method,
            kind=record.kind,
            problem=Problem.MISSING_IN_LEDGER,
            order_no=record.order_no,
            reference=record.reference,
            ledger_amount_fen=None,
            provider_amount_fen=record.amount_fen,
            transfer_id=None,
            at=record.at,
        )
        for record in waiting
    ]
    differences += [
        Difference(
            method=method,
            kind=movement.kind,
            problem=Problem.MISSING_AT_PROVIDER,
            order_no=movement.order_no,
            reference=movement.reference,
            ledger_amount_fen=movement.amount_fen,
            provider_amount_fen=None,
            transfer_id=movement.transfer_id,
            at=movement.at,
        )
        for movement in free
        if day_start <= movement.at < day_end
    ]
    differences.sort(key=lambda d: (d.at, d.reference))
    return Comparison(matched=len(pairs), differences=tuple(differences))


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants a local (Asia/Shanghai) day starts and ends at."""
    start = datetime.combine(day, time(), tzinfo=LOCAL_TZ)
    return start, start + timedelta(days=1)


def day_to_reconcile(now: datetime) -> date:
    """The day the daily run reconciles: yesterday, Asia/Shanghai (the run is at 10:30
    there, once the providers have published yesterday's bills)."""
    return local_day(now) - timedelta(days=1)


# ---------------------------------------------------------------- the daily run


@dataclass(frozen=True, slots=True)
class ReconciliationPorts:
    operators: OperatorDirectory
    clearing: ClearingEntries
    order_owners: OrderOwners
    # Per provider method its records, or None when the deployment has no such provider.
    providers: Mapping[str, RecordSource | None]
    store: ReconciliationStore
    clock: Clock


@dataclass(frozen=True, slots=True)
class _MethodRecords:
    status: MethodStatus
    records: tuple[ProviderRecordLike, ...] = ()


def _provider_records(ports: ReconciliationPorts, day: date) -> dict[str, _MethodRecords]:
    found: dict[str, _MethodRecords] = {}
    for method in PROVIDER_METHODS:
        source = ports.providers.get(method)
        if source is None:
            found[method] = _MethodRecords(MethodStatus.PROVIDER_UNAVAILABLE)
            continue
        try:
            records = tuple(source.records(day))
        except FeatureUnavailable:
            found[method] = _MethodRecords(MethodStatus.PROVIDER_UNAVAILABLE)
            continue
        except UpstreamFailure as failure:
            logger.error(
                "provider records unavailable", extra={"method": method, "code": failure.code}
            )
            found[method] = _MethodRecords(MethodStatus.PROVIDER_FAILED)
            continue
        found[method] = _MethodRecords(MethodStatus.COMPARED, records)
    return found


def _summary(
    method: str,
    status: MethodStatus,
    movements: Sequence[Movement],
    records: Sequence[ProviderRecordLike],
    matched: int,
) -> MethodSummary:
    return MethodSummary(
        method=method,
        status=status,
        ledger_payments_fen=sum(m.amount_fen for m in movements if m.kind == PAYMENT),
        ledger_refunds_fen=sum(m.amount_fen for m in movements if m.kind == REFUND),
        provider_payments_fen=sum(r.amount_fen for r in records if r.kind == PAYMENT),
        provider_refunds_fen=sum(r.amount_fen for r in records if r.kind == REFUND),
        ledger_count=len(movements),
        provider_count=len(records),
        matched_count=matched,
    )


def _report(
    scope: str,
    day: date,
    now: datetime,
    methods: list[MethodSummary],
    differences: list[Difference],
) -> ReconciliationReport:
    return ReconciliationReport(
        scope=scope,
        day=day,
        generated_at=now,
        methods=tuple(methods),
        differences=tuple(differences[:MAX_STORED_DIFFERENCES]),
        differences_total=len(differences),
    )


def reconcile_day(ports: ReconciliationPorts, day: date) -> list[ReconciliationReport]:
    """Reconcile every operator's ledger with the providers for ``day`` and store one
    report per operator, plus the platform's report of records no operator owns.

    Raises: UpstreamFailure (the ledger or the report store failed; a provider that fails
    is reported in the reports instead).
    """
    start, end = day_bounds(day)
    now = ports.clock()
    by_method = _provider_records(ports, day)
    operator_ids = ports.operators.operator_ids()
    all_records = [r for found in by_method.values() for r in found.records]
    owners = ports.order_owners.owners_of({r.order_no for r in all_records})
    movements: dict[tuple[str, str], list[Movement]] = {
        (op, method): [
            movement_of(method, entry)
            for entry in ports.clearing.clearing_entries(
                op, method, start - BOUNDARY_MARGIN, end + BOUNDARY_MARGIN
            )
            # The provider's payout of a partner share is neither a payment nor a refund.
            if entry.transfer_kind is not TransferKind.PARTNER_PAYOUT
        ]
        for op in operator_ids
        for method in PROVIDER_METHODS
    }
    # Whose is each record: the order's operator, else the operator whose movement names it.
    claimed: dict[str, str] = dict(owners)
    for (op, _), listed in movements.items():
        for movement in listed:
            for name in movement.identifiers:
                claimed.setdefault(name, op)
    reports: list[ReconciliationReport] = []
    orphans: list[Difference] = []
    orphan_methods: list[MethodSummary] = []
    for op in operator_ids:
        summaries: list[MethodSummary] = []
        differences: list[Difference] = []
        for method in PROVIDER_METHODS:
            found = by_method[method]
            theirs = [
                r for r in found.records if claimed.get(r.order_no, claimed.get(r.reference)) == op
            ]
            mine = movements[(op, method)]
            in_day = [m for m in mine if start <= m.at < end]
            if found.status is not MethodStatus.COMPARED:
                summaries.append(_summary(method, found.status, in_day, (), 0))
                continue
            comparison = compare(method, mine, theirs, day_start=start, day_end=end)
            differences += comparison.differences
            summaries.append(_summary(method, found.status, in_day, theirs, comparison.matched))
        reports.append(_report(op, day, now, summaries, differences))
    for method in PROVIDER_METHODS:
        found = by_method[method]
        unowned = [
            r
            for r in found.records
            if claimed.get(r.order_no, claimed.get(r.reference)) not in operator_ids
        ]
        comparison = compare(method, (), unowned, day_start=start, day_end=end)
        orphans += comparison.differences
        orphan_methods.append(_summary(method, found.status, (), unowned, 0))
    reports.append(_report(PLATFORM, day, now, orphan_methods, orphans))
    for report in reports:
        ports.store.save(report)
    logger.info(
        "reconciliation done",
        extra={
            "day": day.isoformat(),
            "operators": len(operator_ids),
            "unbalanced": sum(1 for r in reports if not r.is_balanced),
            "differences": sum(r.differences_total for r in reports),
        },
    )
    return reports


def run_daily_reconciliation(
    ports: ReconciliationPorts, day: date | None = None
) -> dict[str, object]:
    """The scheduled job: reconcile ``day`` (default yesterday, Asia/Shanghai).

    Raises: UpstreamFailure.
    """
    target = day or day_to_reconcile(ports.clock())
    reports = reconcile_day(ports, target)
    return {
        "job": "daily_reconciliation",
        "day": target.isoformat(),
        "operators": len(reports) - 1,
        "unbalanced": sorted(r.scope for r in reports if not r.is_balanced),
        "differences": sum(r.differences_total for r in reports),
    }


# ---------------------------------------------------------------- reading reports


def get_reconciliation(
    store: ReconciliationStore, principal: Principal, operator_id: str | None, day: date
) -> ReconciliationReport:
    """A stored daily report of the caller's operator (a platform admin names one).

    Raises: Forbidden (maintenance staff), InvalidInput, NotFound (no report that day).
    """
    principal.require_role(Role.OPERATOR_ADMIN)
    owner = resolve_operator(principal, operator_id)
    return _stored(store, owner, day)


def get_platform_reconciliation(
    store: ReconciliationStore, principal: Principal, day: date
) -> ReconciliationReport:
    """The platform's report of provider records no operator owns (platform admins only).

    Raises: Forbidden, NotFound.
    """
    principal.require_role()
    return _stored(store, PLATFORM, day)


def _stored(store: ReconciliationStore, scope: str, day: date) -> ReconciliationReport:
    report = store.get(scope, day)
    if report is None:
        raise NotFound(
            "no reconciliation report for this day", kind="reconciliation", id=day.isoformat()
        )
    return report


def parse_day(text: str) -> date:
    """A ``YYYY-MM-DD`` day. Raises: InvalidInput."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) is None:
        raise InvalidInput("day must be YYYY-MM-DD", field="day")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput("day must be a calendar day YYYY-MM-DD", field="day") from exc
