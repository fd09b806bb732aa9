"""Statistics and reports: declared now, built by a later issue."""

from __future__ import annotations

from typing import Any

from shared.observability import logger
from shared.unavailable import http_unavailable


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "requestContext" in event:
        return http_unavailable("reports", issue=None)
    logger.info("report records deferred", extra={"records": len(event.get("Records", []))})
    return {"batchItemFailures": []}
