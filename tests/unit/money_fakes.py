"""In-memory ports of the operator-money services (transaction index, wallet owners, driver
account store, reconciliation sources and store), on top of ``InMemoryLedgerRepository``
with the same semantics as the DynamoDB adapters in shared/adapters/dynamodb/money_reports.py.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Collection, Mapping
from dataclasses import replace
from datetime import date, datetime

from shared.domain.clock import local_day, to_wire
from shared.domain.errors import InvalidInput, UpstreamFailure
from shared.domain.ledger import Entry
from shared.services.driver_accounts import AccountStatus, AuditPage, AuditRecord, Closure
from shared.services.money_reports import DayPage, WalletOwner, index_position
from tests.unit.ledger_fakes import InMemoryLedgerRepository


class InMemoryTransactionIndex:
    """GSI2 of the ledger: subject entries by operator and local day."""

    def __init__(self, ledger: InMemoryLedgerRepository) -> None:
        self.ledger = ledger
        self.calls: list[tuple[str, date, str | None, int]] = []

    def list_day(self, operator_id: str, day: date, *, before: str | None, limit: int) -> DayPage:
        self.calls.append((operator_id, day, before, limit))
        found = sorted(
            (
                entry
                for entries in self.ledger.entries.values()
                for entry in entries.values()
                if entry.is_subject
                and entry.operator_id == operator_id
                and local_day(entry.posted_at) == day
                and (before is None or index_position(entry) < before)
            ),
            key=index_position,
            reverse=True,
        )
        return DayPage(tuple(found[:limit]), len(found) > limit)


class InMemoryRowDirectory:
    """Card holders by wallet id; piles by id with their operator and name."""

    def __init__(
        self,
        known: Mapping[str, WalletOwner] | None = None,
        piles: Mapping[str, tuple[str, str]] | None = None,
    ) -> None:
        self.known = dict(known or {})
        self.piles = dict(piles or {})
        self.calls: list[set[str]] = []
        self.pile_calls: list[set[str]] = []

    def wallet_owners(self, account_ids: Collection[str]) -> Mapping[str, WalletOwner]:
        self.calls.append(set(account_ids))
        return {a: self.known[a] for a in account_ids if a in self.known}

    def pile_names(self, operator_id: str, pile_ids: Collection[str]) -> Mapping[str, str]:
        self.pile_calls.append(set(pile_ids))
        return {
            p: self.piles[p][1]
            for p in pile_ids
            if p in self.piles and self.piles[p][0] == operator_id
        }


class InMemoryDriverAccountStore:
    """Closures and audit records; the ledger fake's own freeze audit is listed with them."""

    def __init__(self, ledger: InMemoryLedgerRepository) -> None:
        self.ledger = ledger
        self.closures: dict[str, Closure] = {}
        self.audit: dict[tuple[str, str], AuditRecord] = {}
        self.fail_finish = False

    def get_closure(self, account_id: str) -> Closure | None:
        return self.closures.get(account_id)

    def start_closure(self, closure: Closure) -> Closure:
        return self.closures.setdefault(closure.account_id, closure)

    def finish_closure(self, closure: Closure) -> Closure:
        if self.fail_finish:
            raise UpstreamFailure("store down")
        stored = self.closures[closure.account_id]
        if stored.status is AccountStatus.CANCELLED:
            return stored
        finished = replace(
            stored,
            status=AccountStatus.CANCELLED,
            refunded_fen=closure.refunded_fen,
            closed_at=closure.closed_at,
        )
        self.closures[closure.account_id] = finished
        return finished

    def record_audit(self, record: AuditRecord) -> None:
        key = (record.account_id, f"{to_wire(record.at)}#{record.reference}")
        self.audit.setdefault(key, record)

    def _all(self, account_id: str) -> list[tuple[str, AuditRecord]]:
        mine = [(sk, r) for (a, sk), r in self.audit.items() if a == account_id]
        ledgers = [
            (
                f"{to_wire(r.at)}#{index:012d}",
                AuditRecord(
                    account_id=r.account_id,
                    operator_id=self.ledger.accounts[r.account_id].operator_id,
                    action=r.action,
                    actor=r.actor,
                    reason=r.reason,
                    at=r.at,
                ),
            )
            for index, r in enumerate(self.ledger.audit)
            if r.account_id == account_id
        ]
        return sorted(mine + ledgers, key=lambda pair: pair[0], reverse=True)

    def list_audit(self, account_id: str, *, limit: int, cursor: str | None) -> AuditPage:
        records = self._all(account_id)
        if cursor is not None:
            try:
                after = json.loads(base64.urlsafe_b64decode(cursor))["sk"]
            except (ValueError, KeyError) as exc:
                raise InvalidInput("cursor is not valid", field="cursor") from exc
            records = [pair for pair in records if pair[0] < after]
        page = records[:limit]
        next_cursor = (
            base64.urlsafe_b64encode(json.dumps({"sk": page[-1][0]}).encode()).decode()
            if len(records) > limit
            else None
        )
        return AuditPage(tuple(r for _, r in page), next_cursor)


class InMemoryClearingEntries:
    """Entries of an operator's clearing accounts in a time range (the ledger fake's)."""

    def __init__(self, ledger: InMemoryLedgerRepository) -> None:
        self.ledger = ledger

    def clearing_entries(
        self, operator_id: str, method: str, start_at: datetime, end_at: datetime
    ) -> list[Entry]:
        account = f"operator:{operator_id}:clearing:{method}"
        return sorted(
            (
                entry
                for entry in self.ledger.entries.get(account, {}).values()
                if start_at <= entry.posted_at < end_at
            ),
            key=lambda entry: entry.sort_key,
        )
