"""moto's Step Functions: ``SendTaskFailure`` keeps its ``cause``, as AWS does.

moto's ``StepFunctionResponse.send_task_failure`` reads only ``taskToken`` and ``error``
and drops ``cause``, so a callback task failed with ``SendTaskFailure(error, cause)``
(the pile side's ``PileNeverStarted`` with ``site_at_load_limit: ...``) reaches the
state machine's ``Catch`` (``$.error``) without its ``Cause``, unlike on AWS. ``install()``
passes the cause on to moto's backend, which already carries it into the failure event
and the caught error. Idempotent; process-wide, like moto's classes.
"""

from __future__ import annotations

import inspect
import threading
from typing import Any

_lock = threading.Lock()
_installed = False


def install() -> None:
    """Make this process's moto ``SendTaskFailure`` keep the cause (idempotent)."""
    global _installed  # noqa: PLW0603 - moto's classes are process-wide, so is this patch
    with _lock:
        if _installed:
            return
        from moto.core.responses import ActionResult, EmptyResult
        from moto.stepfunctions.responses import StepFunctionResponse

        def send_task_failure(self: Any) -> ActionResult:
            backend = self.stepfunction_backend
            extra: dict[str, Any] = {}
            # The executing (parser) backend takes the cause; the plain one has no executions.
            if "cause" in inspect.signature(backend.send_task_failure).parameters:
                extra["cause"] = self._get_param("cause")
            backend.send_task_failure(
                self._get_param("taskToken"), error=self._get_param("error"), **extra
            )
            return EmptyResult()

        StepFunctionResponse.send_task_failure = send_task_failure  # type: ignore[method-assign]
        _installed = True
