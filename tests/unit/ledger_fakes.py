"""An in-memory ledger honouring the DynamoDB adapter's semantics, for service tests.

It plans each transfer against a snapshot of its wallets and commits only if their
versions are unchanged (else it plans again), exactly like the adapter's conditional
``TransactWriteItems``. ``before_commit`` lets a test run another operation between the
plan and the commit, the interleaving a concurrent writer would cause. Thread-safe.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from shared.domain.errors import NotFound
from shared.domain.ledger import (
    Account,
    AccountKind,
    Entry,
    EntryPage,
    PostResult,
    Transfer,
    applied,
    decode_entry_cursor,
    encode_entry_cursor,
    ensure_same_transfer,
    guarded_account_ids,
    new_internal_account,
    plan_posting,
    posted_wallets,
)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    account_id: str
    action: str
    actor: str
    reason: str
    at: datetime


class InMemoryLedgerRepository:
    """Implements ``shared.services.wallets.LedgerRepository`` in memory."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.accounts: dict[str, Account] = {}
        self.transfers: dict[str, Transfer] = {}
        self.entries: dict[str, dict[str, Entry]] = defaultdict(dict)
        self.audit: list[AuditRecord] = []
        self.before_commit: Callable[[Transfer], None] | None = None
        self.stale_plans = 0

    def open_account(self, account: Account) -> Account:
        with self._lock:
            return self.accounts.setdefault(account.account_id, account)

    def get_account(self, account_id: str) -> Account | None:
        with self._lock:
            return self.accounts.get(account_id)

    def get_transfer(self, transfer_id: str) -> Transfer | None:
        with self._lock:
            return self.transfers.get(transfer_id)

    def post_transfer(self, transfer: Transfer) -> PostResult:
        guarded = guarded_account_ids(transfer)
        while True:
            with self._lock:
                stored = self.transfers.get(transfer.transfer_id)
                wallets = {account_id: self.accounts.get(account_id) for account_id in guarded}
            if stored is not None:
                return ensure_same_transfer(stored, transfer, wallets.values())
            posting = plan_posting(transfer, wallets)
            hook, self.before_commit = self.before_commit, None
            if hook is not None:
                hook(transfer)
            with self._lock:
                if transfer.transfer_id in self.transfers or any(
                    self.accounts.get(change.account_id) is None
                    or self.accounts[change.account_id].version != change.expected_version
                    for change in posting.changes
                    if change.expected_version is not None
                ):
                    self.stale_plans += 1
                    continue
                for change in posting.changes:
                    current = self.accounts.get(change.account_id) or new_internal_account(
                        change.account_id, transfer.posted_at
                    )
                    self.accounts[change.account_id] = applied(current, change, transfer.posted_at)
                for entry in posting.entries:
                    self.entries[entry.account_id][entry.sort_key] = entry
                self.transfers[transfer.transfer_id] = transfer
                return PostResult(transfer, is_new=True, wallets=posted_wallets(posting, wallets))

    def set_frozen(
        self,
        account_id: str,
        *,
        operator_id: str,
        is_frozen: bool,
        actor: str,
        reason: str,
        at: datetime,
    ) -> Account:
        with self._lock:
            account = self.accounts.get(account_id)
            if (
                account is None
                or account.kind is not AccountKind.WALLET
                or account.operator_id != operator_id
            ):
                raise NotFound("wallet not found", kind="wallet", id=account_id)
            if account.is_frozen == is_frozen:
                return account
            changed = replace(
                account, is_frozen=is_frozen, version=account.version + 1, updated_at=at
            )
            self.accounts[account_id] = changed
            action = "freeze" if is_frozen else "unfreeze"
            self.audit.append(AuditRecord(account_id, action, actor, reason, at))
            return changed

    def list_entries(self, account_id: str, *, limit: int, cursor: str | None) -> EntryPage:
        after = None if cursor is None else decode_entry_cursor(cursor)
        with self._lock:
            keys = sorted(self.entries.get(account_id, {}), reverse=True)
            if after is not None:
                keys = [key for key in keys if key < after]
            page = [self.entries[account_id][key] for key in keys[:limit]]
        next_cursor = encode_entry_cursor(page[-1].sort_key) if len(keys) > limit else None
        return EntryPage(tuple(page), next_cursor)

    # helpers for invariant checks

    def entry_sum(self, account_id: str) -> int:
        with self._lock:
            return sum(entry.amount_fen for entry in self.entries.get(account_id, {}).values())
