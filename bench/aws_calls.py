"""AWS API calls per request type, counted with botocore event hooks on moto.

Each scenario seeds what it needs, then sends one AWS-shaped event through a real
handler while a ``before-call`` hook on boto3's default session counts every API
call the handler makes (by service and operation). The hook is registered before
the handler module is imported, so the clients its wiring builds carry it.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3


@dataclass
class CallCounter:
    """Counts API calls by ``service.Operation`` while ``is_counting`` is set."""

    calls: Counter[str] = field(default_factory=Counter)
    is_counting: bool = False

    def __call__(self, model: Any, **_: Any) -> None:
        if self.is_counting:
            self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

    @contextmanager
    def counting(self) -> Iterator[Counter[str]]:
        self.calls = Counter()
        self.is_counting = True
        try:
            yield self.calls
        finally:
            self.is_counting = False


def install_counter() -> CallCounter:
    """Hook a counter into boto3's default session; create clients only after this."""
    boto3.setup_default_session()
    counter = CallCounter()
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register("before-call.*.*", counter)
    return counter


@dataclass(frozen=True)
class Scenario:
    """One request type: ``prepare`` seeds data and returns the events to send, in order.

    Only the last event is counted; earlier ones set the state up (e.g. a connect before
    a heartbeat).
    """

    name: str
    handler_module: str
    prepare: Callable[[], list[dict[str, Any]]]


def run_scenarios(scenarios: list[Scenario], counter: CallCounter) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for scenario in scenarios:
        module = importlib.import_module(scenario.handler_module)
        events = scenario.prepare()
        for event in events[:-1]:
            module.lambda_handler(event, _Context())
        with counter.counting() as calls:
            module.lambda_handler(events[-1], _Context())
        dynamodb_writes = sum(
            count
            for name, count in calls.items()
            if name.split(".")[1]
            in {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
        )
        rows.append(
            {
                "scenario": scenario.name,
                "calls": dict(sorted(calls.items())),
                "total": sum(calls.values()),
                "dynamodb_writes": dynamodb_writes,
            }
        )
    return rows


class _Context:
    function_name = "bench"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench-request"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


def print_rows(rows: list[dict[str, Any]]) -> None:
    print("\n== AWS API calls per request (one request each, moto)")
    print(f"{'request':48} {'calls':>5} {'ddb writes':>10}  detail")
    for row in rows:
        detail = ", ".join(f"{name} x{count}" for name, count in row["calls"].items())
        print(f"{row['scenario']:48} {row['total']:>5} {row['dynamodb_writes']:>10}  {detail}")
