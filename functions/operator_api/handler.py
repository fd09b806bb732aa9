"""Operator API (HTTP API, payload v2): base data for operator staff behind the Cognito JWT
authorizer, plus health, sign-in and the OpenAPI document without auth.

Each route lives in ``routes/`` and calls one service; ``shared.http_api`` maps every
error once. Route modules are imported by group on the first request to the group
(``route_groups``) and clients are built on first use (``wiring``), so importing stays cheap.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from functions.operator_api.route_groups import resolver_for_event
from shared.observability import logger


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return resolver_for_event(event).resolve(event, context)
