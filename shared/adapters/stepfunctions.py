"""Step Functions: resume callback tasks (``SendTaskSuccess`` / ``SendTaskFailure``) and start
the paid-session workflow."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.domain.errors import UpstreamFailure

# The task is not waiting any more: resumed before, timed out, or its execution ended.
_TASK_GONE = frozenset({"TaskDoesNotExist", "TaskTimedOut", "InvalidToken"})
_ALREADY_STARTED = "ExecutionAlreadyExists"
MAX_CAUSE_LENGTH = 32_768
MAX_ERROR_LENGTH = 256


class StepFunctionsResumer:
    """``shared.services.workflow_ports.WorkflowResumer`` on the low-level client."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def succeed(self, task_token: str, output: dict[str, Any]) -> bool:
        return self._call(
            "SendTaskSuccess",
            lambda: self._client.send_task_success(
                taskToken=task_token, output=json.dumps(output, separators=(",", ":"))
            ),
        )

    def fail(self, task_token: str, error: str, cause: str) -> bool:
        return self._call(
            "SendTaskFailure",
            lambda: self._client.send_task_failure(
                taskToken=task_token,
                error=error[:MAX_ERROR_LENGTH],
                cause=cause[:MAX_CAUSE_LENGTH],
            ),
        )

    @staticmethod
    def _call(operation: str, send: Any) -> bool:
        try:
            send()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _TASK_GONE:
                return False
            raise UpstreamFailure(f"{operation} failed", operation=operation) from exc
        except BotoCoreError as exc:
            raise UpstreamFailure(f"{operation} failed", operation=operation) from exc
        return True


class StepFunctionsStarter:
    """Start one execution per paid session; a repeat with the same name and input is a no-op."""

    def __init__(self, client: Any, state_machine_arn: str) -> None:
        self._client = client
        self._arn = state_machine_arn

    def start(self, name: str, execution_input: dict[str, Any]) -> str:
        """Returns the execution ARN. Raises: UpstreamFailure."""
        try:
            answer = self._client.start_execution(
                stateMachineArn=self._arn,
                name=name,
                input=json.dumps(execution_input, separators=(",", ":"), sort_keys=True),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == _ALREADY_STARTED:
                arn = self._arn.replace(":stateMachine:", ":execution:")
                return f"{arn}:{name}"
            raise UpstreamFailure("StartExecution failed", operation="StartExecution") from exc
        except BotoCoreError as exc:
            raise UpstreamFailure("StartExecution failed", operation="StartExecution") from exc
        return str(answer["executionArn"])
