"""Answers for functions that template.yaml declares before their issue lands.

They refuse openly (HTTP 501 with the issue that brings the feature, or a raised
``FeatureUnavailable`` for event sources such as Step Functions tasks, whose Catch then
takes the refund path) instead of pretending to work.
"""

from __future__ import annotations

import json
from typing import Any

from shared.domain.errors import FeatureUnavailable
from shared.observability import logger


def http_unavailable(feature: str, issue: int | None) -> dict[str, Any]:
    """An API Gateway HTTP response: 501 with a clear message."""
    logger.info("feature unavailable", extra={"feature": feature, "issue": issue})
    body = {
        "error": {
            "code": FeatureUnavailable.code,
            "message": f"{feature} is not available yet" + (f" (issue {issue})" if issue else ""),
        }
    }
    return {
        "statusCode": 501,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
    }


def refuse_event(feature: str, issue: int) -> None:
    """Raise for an event the function cannot handle yet, so the caller's error path runs."""
    raise FeatureUnavailable(f"{feature} is not available yet (issue {issue})", issue=issue)
