"""Payment notifications and the payment workflow's tasks: built by issue 5.

HTTP notifications are refused with 501 (the provider retries later); a Step Functions
task raises, so the workflow's Catch takes the full-refund path and no money is kept.
"""

from __future__ import annotations

from typing import Any

from shared.unavailable import http_unavailable, refuse_event


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "requestContext" in event:
        return http_unavailable("payment notifications", issue=5)
    refuse_event("the payment workflow", issue=5)
    return {}
