"""The port through which pile events and payment notifications resume a paid session's
workflow (Step Functions callback tasks, ``infra/statemachines/README.md``)."""

from __future__ import annotations

from typing import Any, Protocol


class WorkflowResumer(Protocol):
    def succeed(self, task_token: str, output: dict[str, Any]) -> bool:
        """Resume a waiting task with ``output``.

        Returns False when the task is no longer waiting (already resumed, timed out, the
        execution ended): resuming is idempotent from the caller's side.
        Raises: UpstreamFailure.
        """

    def fail(self, task_token: str, error: str, cause: str) -> bool:
        """Fail a waiting task (its Catch decides what follows); False as for ``succeed``.

        Raises: UpstreamFailure.
        """
