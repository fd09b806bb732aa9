"""State transitions and AWS calls per paid session, on moto with the real ASL and handler.

One provider-paid session (4.00 paid, 3.00 consumed, 1.00 refunded, split 50:50) and one
wallet session run end to end; the counter records every AWS API call made by the payments
handler (its tasks and the paid notification), by thread, so the harness's own polling is
not counted. Transitions are the states entered (what Step Functions Standard bills,
$0.025 per 1,000). Provider HTTP and the pile side are fakes here (their calls are theirs).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from shared.services.payment_workflow import start_paid_session

TRANSITION_USD = 0.025 / 1000
_active = threading.local()


class _ThreadCounter:
    """Counts ``service.Operation`` calls made on threads that set ``_active.on``."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, model: Any, **_: Any) -> None:
        if getattr(_active, "on", False):
            with self._lock:
                self.calls[f"{model.service_model.service_name}.{model.name}"] += 1


def _counted(function: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _active.on = True
        try:
            return function(*args, **kwargs)
        finally:
            _active.on = False

    return wrapper


def run() -> dict[str, Any]:
    from bench.payment_chaos import fund_wallet
    from tests.integration.test_payment_workflow_support import payment_world
    from tests.unit.test_payment_workflow_fakes import a_request

    counter = _ThreadCounter()
    rows: dict[str, Any] = {}
    with payment_world() as world:
        for client in (world.dynamodb, world.sfn):  # every client behind the world's ports
            client.meta.events.register("before-call.*.*", counter)
        fund_wallet(world)
        world.invoke = _counted(world.invoke)  # type: ignore[method-assign]
        world.notify = _counted(world.notify)  # type: ignore[method-assign]
        for name, method in (("provider (sandbox)", "sandbox"), ("wallet", "wallet")):
            order_no = "PO261102020000B" + ("1" if method == "sandbox" else "2")
            counter.calls.clear()
            world.invocations.clear()
            start_paid_session(world.ports, a_request(order_no=order_no, method=method))
            if method == "sandbox":
                world.wait_for_pay_token(order_no)
                world.notify(order_no, f"txn-{order_no}", 400)
            world.end_session(order_no, 3000)
            execution = world.execution_arn(world.machine_arn, order_no)
            described = world.wait_for_end(execution)
            events = world.sfn.get_execution_history(executionArn=execution)["events"]
            transitions = sum(1 for e in events if e["type"].endswith("StateEntered"))
            calls = dict(sorted(counter.calls.items()))
            rows[name] = {
                "status": described["status"],
                "state_transitions": transitions,
                "lambda_invocations": len(world.invocations) + (1 if method == "sandbox" else 0),
                "aws_calls": calls,
                "aws_calls_total": sum(calls.values()),
                "dynamodb_calls": sum(v for k, v in calls.items() if k.startswith("dynamodb.")),
                "step_functions_usd": round(transitions * TRANSITION_USD, 6),
            }
    print("payment workflow per paid session (handler's AWS calls; harness polling excluded)")
    for name, row in rows.items():
        print(
            f"  {name:20} {row['status']:9} transitions {row['state_transitions']:2}  "
            f"lambda {row['lambda_invocations']}  aws calls {row['aws_calls_total']:3} "
            f"(dynamodb {row['dynamodb_calls']})  sfn ${row['step_functions_usd']}"
        )
        print(f"    {row['aws_calls']}")
    return rows
