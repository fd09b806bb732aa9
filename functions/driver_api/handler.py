"""Driver API (HTTP API, payload v2) for the WeChat / Alipay mini-program: sign-in, nearby
stations, scan, charge and pay, follow the session, wallet and history, cards, complaints
and reservations; the OpenAPI document without auth.

The HTTP API does not check these requests (``Authorizer: NONE``): drivers sign in with the
app's code, not Cognito, and every route but sign-in and the document checks the driver
API's own token (``routes/common.driver``). Each route calls one service;
``shared.http_api`` maps every error once. Clients are built on first use (``wiring``).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.logging import correlation_paths

from functions.driver_api.openapi import ROUTERS
from shared.http_api import install_edge
from shared.observability import logger

app = APIGatewayHttpResolver()
install_edge(app)
for router in ROUTERS:
    app.include_router(router)


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
