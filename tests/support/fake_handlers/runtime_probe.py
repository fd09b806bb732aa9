"""Fake function for the Lambda runtime tests: reports its context, fails on request,
completes Step Functions task tokens."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3

from tests.support.fake_handlers import calls

IMPORTS = 1  # a module-level counter: the runtime imports this module once


def lambda_handler(event: Any, context: Any) -> Any:
    calls.record("probe", event)
    if not isinstance(event, dict):
        return {"echo": event}
    if "raise" in event:
        raise LookupError(event["raise"])
    if event.get("marshal"):
        return {"at": datetime(2026, 1, 1, tzinfo=UTC)}
    if event.get("decimal"):
        return {"whole": Decimal("12"), "part": Decimal("1.5")}
    if "task_token" in event:
        boto3.client("stepfunctions").send_task_success(
            taskToken=event["task_token"], output=json.dumps({"paid_fen": event["amount_fen"]})
        )
        return None
    if "amount_fen" in event:
        return {"amount_fen": event["amount_fen"] * 2}
    return {
        "function_name": context.function_name,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "aws_request_id": context.aws_request_id,
        "invoked_function_arn": context.invoked_function_arn,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "imports": IMPORTS,
    }
