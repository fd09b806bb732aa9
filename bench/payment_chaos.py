"""Chaos on the payment workflow: seeded runs of the real ASL on moto, each with one fault
injected into one task (an error retried, a crash after the work, a fatal error, a duplicate
delivery, a callback that never comes, a notification delivered three times).

Every execution must end in a defined state (SUCCEEDED, or FAILED with
``PaymentSessionFailed``) and no fen may be lost or created: per order, prepaid = consumed
+ refunded and consumed = partner + platform; across the books, every balance is the sum of
its entries, all balances sum to 0, revenue is emptied by the splits, the provider refunded
exactly what the orders say, wallets hold nothing. ``make test`` runs a subset
(tests/integration/test_payment_workflow_chaos.py); ``python -m bench --only payments`` 400.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from shared.domain.ledger import driver_wallet_id
from shared.domain.payment_orders import OrderState, PaymentOrder, money_problems
from shared.domain.payments import PaymentMethod
from shared.services.payment_workflow import start_paid_session
from shared.services.wallets import open_wallet, top_up_wallet
from tests.integration.test_payment_workflow_support import PaymentWorld, payment_world
from tests.unit.test_payment_workflow_fakes import OPERATOR, STATION, USER, a_request

TASK_STEPS = (
    "create_prepay_order",
    "wait_for_paid",
    "remote_start",
    "wait_for_session_end",
    "settle_cost",
    "refund_unused",
    "share_profit",
    "full_refund_or_cancel",
)
TASK_FAULTS = ("error_once", "crash_after", "fatal", "duplicate")
CALLBACK_STEPS = ("wait_for_paid", "wait_for_session_end")
WALLET_FUNDS_FEN = 10_000_000
WALLET = driver_wallet_id(OPERATOR, USER)
BATCH = 6


@dataclass(frozen=True)
class Plan:
    seed: int
    method: str
    prepaid_fen: int
    energy_wh: int
    step: str
    fault: str
    # A fault in the compensation needs a failure that runs it: a fatal error here.
    trigger: str | None = None

    @property
    def order_no(self) -> str:
        return f"PO26110202{self.seed:08d}"


def plan_for(seed: int) -> Plan:
    """One seeded run: the method, amounts, and the one fault it meets."""
    rng = random.Random(seed)
    method = rng.choice(["sandbox", "sandbox", "wallet"])
    fault_kinds = [*TASK_FAULTS, "timeout", "duplicate_notice"]
    fault = fault_kinds[seed % len(fault_kinds)]
    if fault == "timeout":
        step = rng.choice(CALLBACK_STEPS if method == "sandbox" else ("wait_for_session_end",))
    elif fault == "duplicate_notice":
        step = "wait_for_paid"
        method = "sandbox"
    else:
        # The compensation only meets faults it can recover from (a fatal error there ends
        # in CompensationFailed by design: an operator reconciles it).
        step = rng.choice(TASK_STEPS)
        if step == "full_refund_or_cancel" and fault == "fatal":
            fault = "error_once"
    trigger = (
        rng.choice(["create_prepay_order", "remote_start", "settle_cost", "share_profit"])
        if step == "full_refund_or_cancel"
        else None
    )
    return Plan(
        seed=seed,
        method=method,
        prepaid_fen=rng.choice([100, 400, 1000, 2500]),
        energy_wh=rng.choice([0, 1200, 3000, 9000, 40_000]),
        step=step,
        fault=fault,
        trigger=trigger,
    )


def _ended(world: PaymentWorld, execution_arn: str) -> bool:
    return bool(world.sfn.describe_execution(executionArn=execution_arn)["status"] != "RUNNING")


def _wait(world: PaymentWorld, execution_arn: str, ready: Any, what: str) -> bool:
    """Wait until ``ready()`` (True) or the execution ended without it (False)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if ready():
            return True
        if _ended(world, execution_arn):
            return bool(ready())
        time.sleep(0.02)
    raise AssertionError(f"neither {what} nor the end came")


@dataclass(frozen=True)
class RunResult:
    plan: Plan
    status: str
    error: str | None
    order: PaymentOrder
    problems: tuple[str, ...]


def run_one(world: PaymentWorld, plan: Plan) -> RunResult:
    """Drive one execution through its fault to the end and check its order."""
    world.faults.plan = {plan.step: plan.fault} if plan.fault in TASK_FAULTS else {}
    if plan.trigger is not None:
        world.faults.plan[plan.trigger] = "fatal"
    world.faults.fired.clear()
    order_no = plan.order_no
    ports = world.ports_with_machine(world.short_machine_arn)
    start_paid_session(
        ports,
        a_request(
            order_no=order_no,
            method=plan.method,
            prepaid_fen=plan.prepaid_fen,
            target_value=plan.prepaid_fen,
        ),
    )
    execution = world.execution_arn(world.short_machine_arn, order_no)
    world.charging.energy_wh[order_no] = plan.energy_wh
    if plan.method != "wallet":
        token_stored = _wait(
            world,
            execution,
            lambda: (o := world.orders.get(order_no)) is not None and o.pay_token is not None,
            "the pay token",
        )
        if token_stored and not (plan.fault == "timeout" and plan.step == "wait_for_paid"):
            times = 3 if plan.fault == "duplicate_notice" else 1
            world.notify(order_no, f"txn-{plan.seed}", plan.prepaid_fen, times=times)
    has_end_token = _wait(
        world, execution, lambda: order_no in world.charging.tokens, "the session-end token"
    )
    if has_end_token and not (plan.fault == "timeout" and plan.step == "wait_for_session_end"):
        # The wait may have been failed meanwhile by an injected fault: its token is gone.
        with contextlib.suppress(Exception):
            world.end_session(order_no, plan.energy_wh)
    described = world.wait_for_end(execution)
    order = world.order(order_no)
    problems = list(money_problems(order))
    if not order.state.is_terminal:
        problems.append(f"order left {order.state.value}")
    if described["status"] not in ("SUCCEEDED", "FAILED"):
        problems.append(f"execution {described['status']}")
    if described["status"] == "FAILED" and described.get("error") != "PaymentSessionFailed":
        problems.append(f"execution failed with {described.get('error')}")
    if described["status"] == "SUCCEEDED" and order.state is not OrderState.COMPLETED:
        problems.append("succeeded without completing the order")
    provider = world.providers[PaymentMethod.SANDBOX]
    refunded_at_provider = sum(
        r.refund_fen for r in provider.refunds.values() if r.order_no == order_no
    )
    expected_refund = (0 if order.is_wallet else order.refunded_fen) + (
        order.late_fen if order.late_refund_status else 0
    )
    if refunded_at_provider != expected_refund:
        problems.append(f"provider refunded {refunded_at_provider} != {expected_refund}")
    return RunResult(
        plan=plan,
        status=str(described["status"]),
        error=described.get("error"),
        order=order,
        problems=tuple(problems),
    )


def book_problems(world: PaymentWorld, results: list[RunResult]) -> list[str]:
    """The whole ledger against every run's orders."""
    problems = world.ledger_problems()
    accounts = world.accounts()

    def balance(account_id: str) -> int:
        return accounts.get(account_id, {}).get("balance", 0)

    consumed = sum(r.order.consumed_fen for r in results)
    by_provider = sum(r.order.consumed_fen for r in results if not r.order.is_wallet)
    by_wallet = sum(r.order.consumed_fen for r in results if r.order.is_wallet)
    split = balance(f"operator:{OPERATOR}:partner:{STATION}") + balance(
        f"operator:{OPERATOR}:platform"
    )
    if balance(f"operator:{OPERATOR}:revenue") != 0:
        problems.append("revenue not emptied by the splits")
    if split != consumed:
        problems.append(f"split {split} != consumed {consumed}")
    if balance(f"operator:{OPERATOR}:clearing:sandbox") != -by_provider:
        problems.append("sandbox clearing != provider-paid consumption")
    if balance(WALLET) != WALLET_FUNDS_FEN - by_wallet:
        problems.append("wallet != funds - wallet-paid consumption")
    if accounts.get(WALLET, {}).get("held", 0) != 0:
        problems.append("money left on hold")
    return problems


def fund_wallet(world: PaymentWorld) -> None:
    open_wallet(
        world.ledger, account_id=WALLET, operator_id=OPERATOR, owner=USER, clock=world.ports.clock
    )
    top_up_wallet(
        world.ledger,
        account_id=WALLET,
        operator_id=OPERATOR,
        amount_fen=WALLET_FUNDS_FEN,
        reference="chaos-funds",
        method="cash",
        actor="bench",
        clock=world.ports.clock,
    )


def run_batch(seeds: range | list[int]) -> tuple[list[RunResult], list[str], int]:
    """Runs on one fresh embedded AWS: the results, the books' problems, task invocations.

    Batches stay small because moto copies a whole table to roll back a transaction, so
    every ledger posting slows down as the table grows.
    """
    return run_plans([plan_for(seed) for seed in seeds])


def run_plans(plans: list[Plan]) -> tuple[list[RunResult], list[str], int]:
    """``plans`` on one fresh embedded AWS (see ``run_batch``)."""
    with payment_world() as world:
        fund_wallet(world)
        results = [run_one(world, plan) for plan in plans]
        return results, book_problems(world, results), len(world.invocations)


def run(runs: int = 400, first_seed: int = 1, batch: int = BATCH) -> dict[str, Any]:
    """Seeded chaos runs in batches; prints and returns the summary."""
    started = time.monotonic()
    results: list[RunResult] = []
    books: list[str] = []
    invocations = 0
    seeds = list(range(first_seed, first_seed + runs))
    for start in range(0, runs, batch):
        batch_results, batch_books, batch_invocations = run_batch(seeds[start : start + batch])
        results += batch_results
        books += batch_books
        invocations += batch_invocations
    failed = [r for r in results if r.problems]
    summary = {
        "runs": runs,
        "outcomes": dict(Counter(f"{r.status}/{r.order.state.value}" for r in results)),
        "faults": dict(Counter(f"{r.plan.step}:{r.plan.fault}" for r in results)),
        "runs_with_problems": len(failed),
        "first_problems": [(r.plan.seed, list(r.problems)) for r in failed[:5]],
        "book_problems": books,
        "fen_lost_or_created": 0 if not books and not failed else "see problems",
        "task_invocations_per_run": round(invocations / runs, 2),
        "seconds": round(time.monotonic() - started, 1),
    }
    print(f"payment chaos: {runs} runs in {summary['seconds']} s")
    for key in ("outcomes", "runs_with_problems", "book_problems", "fen_lost_or_created"):
        print(f"  {key}: {summary[key]}")
    return summary
