"""Scheduled housekeeping (pending-call timeouts, stale sessions, reconciliation): later issues."""

from __future__ import annotations

from typing import Any

from shared.observability import logger


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.debug("housekeeping tick", extra={"rule": event.get("resources")})
    return {"status": "idle"}
