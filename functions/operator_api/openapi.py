"""The operator API's OpenAPI document, built from the documented routes and their models.

Served at ``GET /openapi/operator.json`` and committed as docs/openapi/operator.json
(``python -m infra.openapi`` writes it; a test fails when the committed copy is stale).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from functions.operator_api.routes import (
    auth,
    cards,
    drivers,
    gateways,
    money,
    operators,
    piles,
    port_commands,
    port_readings,
    pricing,
    site_load,
    stations,
    system,
)
from functions.operator_api.routes import commands as pile_commands
from functions.operator_api.routes import sessions as charging_sessions
from shared.http_api import openapi_document

ROUTERS = (
    system.router,
    auth.router,
    operators.router,
    stations.router,
    site_load.router,
    piles.router,
    gateways.router,
    pricing.router,
    cards.router,
    pile_commands.router,
    port_commands.router,
    port_readings.router,
    charging_sessions.router,
    money.router,
    drivers.router,
)

DESCRIPTION = (
    "Base data of the charging-operations cloud for operator staff: operators, staff logins, "
    "stations, piles and guns/ports, price strategies, discounts and card users. Sign in with "
    "POST /operator/auth/login and send the id_token as a Bearer token. Money is int fen, "
    "energy Wh, power W, times RFC 3339 UTC with Z. Errors are "
    '{"error": {"code", "message", "details"}}; another operator\'s objects answer 404.'
)


@cache
def operator_openapi() -> dict[str, Any]:
    """The document (built once per cold start)."""
    return openapi_document(
        title="Charging cloud operator API",
        version="1.0.0",
        description=DESCRIPTION,
        operations=[op for router in ROUTERS for op in router.operations],
    )
