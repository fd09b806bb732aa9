"""Chaos subset in ``make test``: seeded runs of the real ASL on moto, one injected fault each
(bench/payment_chaos.py runs 400). No fen lost or created; every execution ends defined."""

from __future__ import annotations

import pytest

from bench.payment_chaos import BATCH, Plan, plan_for, run_batch, run_plans

SEEDS = list(range(1, 13))  # two of each fault kind, in batches of six


@pytest.mark.parametrize("first", range(0, len(SEEDS), BATCH))
def test_every_fault_ends_in_a_defined_state_with_no_fen_lost_or_created(first):
    results, books, _ = run_batch(SEEDS[first : first + BATCH])

    assert [(r.plan, r.problems) for r in results if r.problems] == []
    assert books == []
    faults = {r.plan.fault for r in results}
    assert faults == {
        "error_once",
        "crash_after",
        "fatal",
        "duplicate",
        "timeout",
        "duplicate_notice",
    }


def test_faults_in_the_compensation_still_end_defined_with_the_books_balanced():
    plans = [
        Plan(901, "sandbox", 400, 3000, "full_refund_or_cancel", "crash_after", "remote_start"),
        Plan(902, "sandbox", 400, 3000, "full_refund_or_cancel", "duplicate", "settle_cost"),
        Plan(903, "wallet", 400, 3000, "full_refund_or_cancel", "error_once", "share_profit"),
        Plan(904, "sandbox", 400, 0, "full_refund_or_cancel", "crash_after", "create_prepay_order"),
    ]
    results, books, _ = run_plans(plans)

    assert [(r.plan, r.problems) for r in results if r.problems] == []
    assert books == []
    assert [r.order.state.value for r in results] == ["failed", "failed", "failed", "closed"]
    assert all(r.error == "PaymentSessionFailed" for r in results)


@pytest.mark.parametrize("seed", [7, 11])
def test_a_seed_plans_the_same_run_every_time(seed):
    assert plan_for(seed) == plan_for(seed)
