"""Many threads debiting one wallet at once, against a moto server (the bench's own code).

``bench/ledger_concurrency.py`` runs a ``ThreadedMotoServer`` (requests applied one at
a time, as DynamoDB applies each request atomically) in a child process on a free
port; in-process ``mock_aws`` is not safe across threads. The bench runs 8,000 debits;
this runs 200 (plus 20 duplicates) from 8 threads.
"""

from __future__ import annotations

from bench.ledger_concurrency import AMOUNT_FEN, run


def test_concurrent_debits_lose_no_update_and_stop_exactly_at_zero_when_threads_race() -> None:
    figures = run(debits=200, threads=8)

    allowed = figures["allowed_by_balance"]
    assert allowed == 150
    assert figures["succeeded_distinct"] == allowed
    assert figures["commits"] == allowed
    assert figures["outcomes"].get("gave_up", 0) == 0
    assert figures["outcomes"]["ok"] + figures["outcomes"]["insufficient_balance"] == 220
    assert figures["final_balance_fen"] == figures["expected_balance_fen"] == 0
    assert figures["lost_updates"] == 0
    assert figures["ledger_sum_fen"] == 0
    assert figures["accounts_not_matching_entries"] == []
    # One entry on the wallet and one on cash clearing per debit, plus the top-up's two.
    assert figures["entries"] == 2 * (allowed + 1)
    assert figures["stale_plans_retried"] > 0, "the threads never actually raced"
    assert allowed * AMOUNT_FEN == 15_000
