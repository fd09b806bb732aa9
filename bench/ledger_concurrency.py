"""Concurrent debits on ONE wallet: no lost update, never below zero, exact final balance.

``run(debits, threads)`` opens a wallet, tops it up with enough for three quarters of the
debits, then fires every debit (100 fen each, one in ten sent twice under the same
reference) from ``threads`` threads at once through ``withdraw_wallet`` and the real
``DynamoLedgerRepository``, against a moto server on a free port. It then reads the
whole table and reports: debits that succeeded (must be exactly what the balance
allowed), refused ones, the final balance against the expected one, every account's
balance against the sum of its entries, the sum of all balances (must be 0), commits,
stale plans retried, AWS calls, time.

The emulator is made faithful first, without touching the code under test:

- moto's DynamoDB backend is not atomic across threads: ``transact_write_items`` checks
  conditions and applies writes without a lock, and rolls a cancelled transaction back
  by restoring a deep copy of the whole table taken when it started, wiping whatever
  other threads committed meanwhile. Real DynamoDB applies each request atomically, so
  the server here runs one request at a time (``infra.local.moto_dynamodb``, as the
  local stack does); our threads
  still interleave their read -> plan -> commit cycles freely, which is the concurrency
  under test.
- That deep copy costs O(table size) per transaction (about 2 s per transaction at
  24,000 items here), which would make 8,000 debits take hours; with requests
  serialized, restoring only the items a cancelled transaction touched is exact, so
  ``moto_dynamodb.install`` does that instead.
"""

from __future__ import annotations

import logging
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from infra.local import moto_dynamodb
from infra.template import load_template, table_create_requests
from shared.adapters.dynamodb.ledger import DynamoLedgerRepository
from shared.domain.errors import InsufficientBalance, UpstreamFailure
from shared.observability import logger
from shared.services import wallets

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
AMOUNT_FEN = 100
OPERATOR_ID = "op-bench"
WALLET = "card:BENCH-1"
CLIENT_ATTEMPTS = 10


@contextmanager
def serialized_moto_server() -> Iterator[str]:
    """A faithful moto server in a child process on a free loopback port; yields its URL.

    A child process keeps moto's global state (and the patches) out of the caller, and
    lets the server use a core of its own instead of sharing the caller's GIL.
    """
    child = subprocess.Popen(  # the bench's own interpreter running this module's serve()
        [sys.executable, "-c", "from bench.ledger_concurrency import serve; serve()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=str(ROOT),
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line.strip().isdigit():
            raise RuntimeError("the moto server process did not start (see its stderr)")
        port = int(line)
        yield f"http://127.0.0.1:{port}"
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def serve() -> None:
    """Child process: serve until stdin closes (see ``serialized_moto_server``)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    moto_dynamodb.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print(server.get_host_and_port()[1], flush=True)
    sys.stdin.read()
    server.stop()


def _client(endpoint_url: str, threads: int) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(max_pool_connections=threads + 4, retries={"mode": "standard"}),
    )


def _create_ledger_table(client: Any) -> str:
    requests = table_create_requests(load_template(), name_prefix=f"bench-{uuid.uuid4().hex[:8]}-")
    request = requests["LedgerTable"]
    # The stream feeds nothing here and moto records every write into it: leave it out.
    request.pop("StreamSpecification", None)
    client.create_table(**request)
    return str(request["TableName"])


def _scan(client: Any, table: str) -> list[dict[str, Any]]:
    """Every item (bench/test only: checking the books needs the whole table)."""
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        items.extend(page["Items"])
    return items


def check_books(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Balances against entries, the sum of all balances, and the lowest wallet balance."""
    balances: dict[str, int] = {}
    entry_sums: Counter[str] = Counter()
    for item in items:
        pk, sk = item["pk"]["S"], item["sk"]["S"]
        if sk == "ACCOUNT":
            balances[pk] = int(item["balance_fen"]["N"])
        elif sk.startswith("ENTRY#"):
            entry_sums[pk] += int(item["amount_fen"]["N"])
    mismatched = sorted(pk for pk, balance in balances.items() if balance != entry_sums[pk])
    return {
        "accounts": len(balances),
        "ledger_sum_fen": sum(balances.values()),
        "accounts_not_matching_entries": mismatched,
        "entries": sum(1 for item in items if item["sk"]["S"].startswith("ENTRY#")),
    }


def run(debits: int, threads: int, *, seed: int = 7) -> dict[str, Any]:
    """Fire ``debits`` concurrent debits at one wallet from ``threads`` threads; print figures."""
    allowed = debits * 3 // 4
    references = [f"bench-debit:{n}" for n in range(debits)]
    requests = references + references[::10]  # one in ten sent twice: a client retry
    random.Random(seed).shuffle(requests)
    # One log line per debit (and a warning per "busy" answer) would drown the figures.
    previous_level = logger.log_level
    logger.setLevel("ERROR")
    try:
        return _run(debits, threads, requests, allowed)
    finally:
        logger.setLevel(previous_level)


def _run(debits: int, threads: int, requests: list[str], allowed: int) -> dict[str, Any]:
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731
    with serialized_moto_server() as endpoint:
        client = _client(endpoint, threads)
        calls: Counter[str] = Counter()
        calls_lock = threading.Lock()

        def count_call(model: Any, **_: Any) -> None:
            with calls_lock:
                calls[model.name] += 1

        client.meta.events.register("before-call.dynamodb.*", count_call)
        table = _create_ledger_table(client)
        ledger = DynamoLedgerRepository(table, client)
        wallets.open_wallet(
            ledger, account_id=WALLET, operator_id=OPERATOR_ID, owner="", clock=clock
        )
        wallets.top_up_wallet(
            ledger,
            account_id=WALLET,
            operator_id=OPERATOR_ID,
            amount_fen=allowed * AMOUNT_FEN,
            reference="bench-top-up",
            method="cash",
            actor="bench",
            clock=clock,
        )
        calls.clear()
        ledger.stats.clear()

        succeeded: set[str] = set()
        outcomes: Counter[str] = Counter()
        lock = threading.Lock()
        start = threading.Barrier(threads)

        def debit(reference: str) -> str:
            # A "busy, try again" answer (UpstreamFailure) changed nothing: the client
            # retries with the same reference, as a real client would.
            for attempt in range(CLIENT_ATTEMPTS):
                try:
                    wallets.withdraw_wallet(
                        ledger,
                        account_id=WALLET,
                        operator_id=OPERATOR_ID,
                        amount_fen=AMOUNT_FEN,
                        reference=reference,
                        actor="bench",
                        clock=clock,
                    )
                except InsufficientBalance:
                    return "insufficient_balance"
                except UpstreamFailure:
                    with lock:
                        outcomes["busy_answers_retried_by_client"] += attempt + 1 < CLIENT_ATTEMPTS
                    continue
                return "ok"
            return "gave_up"

        def debit_all(batch: list[str]) -> None:
            start.wait()
            for reference in batch:
                outcome = debit(reference)
                with lock:
                    outcomes[outcome] += 1
                    if outcome == "ok":
                        succeeded.add(reference)

        began = time.perf_counter()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for future in [pool.submit(debit_all, requests[n::threads]) for n in range(threads)]:
                future.result()
        seconds = time.perf_counter() - began
        debit_calls = dict(sorted(calls.items()))

        wallet = wallets.get_wallet(ledger, WALLET)
        books = check_books(_scan(client, table))

    expected_balance = (allowed - len(succeeded)) * AMOUNT_FEN
    figures: dict[str, Any] = {
        "debits": debits,
        "threads": threads,
        "requests": len(requests),
        "allowed_by_balance": allowed,
        "succeeded_distinct": len(succeeded),
        "outcomes": dict(outcomes),
        "final_balance_fen": wallet.balance_fen,
        "expected_balance_fen": expected_balance,
        "lost_updates": (allowed * AMOUNT_FEN - len(succeeded) * AMOUNT_FEN) - wallet.balance_fen,
        **books,
        "commits": ledger.stats["commits"],
        "stale_plans_retried": ledger.stats["stale_plans"],
        "transaction_conflicts": ledger.stats["transaction_conflicts"],
        "commit_attempts_per_success": round(
            (ledger.stats["commits"] + ledger.stats["stale_plans"]) / max(1, len(succeeded)), 2
        ),
        "aws_calls": debit_calls,
        "aws_calls_per_request": round(sum(debit_calls.values()) / len(requests), 2),
        "seconds": round(seconds, 2),
        "requests_per_second": round(len(requests) / seconds, 1),
    }
    print(f"\n== Ledger: {debits} concurrent debits on one wallet, {threads} threads (moto)")
    for name, value in figures.items():
        print(f"{name:28} {value}")
    return figures


if __name__ == "__main__":
    run(debits=200, threads=8)
