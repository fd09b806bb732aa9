"""The operator API's routers, imported by route group on the first request to the group.

One request needs the routes of one part of the API. Importing all fifteen route modules
(their pydantic models, services and domain modules) at cold start cost about 1.1x
``import boto3`` on top of the framework; now the handler imports none of them, and the
first request to a group imports that group's modules only (docs/cold-start.md).

The groups partition the route modules, and a path's group holds every route whose rule can
match the path (``tests/unit/test_import_cost_routes.py`` checks this against every rule),
so each group's resolver answers exactly as one resolver with all the routes: the same
route, the same 404, the same 405 with the same allowed methods. A path no rule can match
gets an empty resolver (404). Each router is included in one resolver only (Powertools
binds a router to the resolver that includes it).
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from shared.http_api import install_edge

# Every route module, in the order of ``openapi.ROUTERS`` (a test checks they agree).
ROUTE_MODULES = (
    "system",
    "auth",
    "operators",
    "stations",
    "site_load",
    "piles",
    "gateways",
    "pricing",
    "cards",
    "commands",
    "port_commands",
    "port_readings",
    "sessions",
    "money",
    "drivers",
)

SYSTEM = ("system",)
AUTH = ("auth",)
OPERATORS = ("operators",)
STATIONS = ("stations", "site_load")
PILES = ("piles",)
GATEWAYS = ("gateways",)
PRICING = ("pricing",)
CARDS = ("cards",)
PILE_COMMANDS = ("commands",)
# /operator/piles/{id}/ports/live sits beside the port commands' /ports/{port_no}/...
PORT_COMMANDS = ("port_commands", "port_readings")
SESSIONS = ("sessions",)
MONEY = ("money",)
DRIVERS = ("drivers",)
GROUPS = (
    SYSTEM,
    AUTH,
    OPERATORS,
    STATIONS,
    PILES,
    GATEWAYS,
    PRICING,
    CARDS,
    PILE_COMMANDS,
    PORT_COMMANDS,
    SESSIONS,
    MONEY,
    DRIVERS,
)
NO_ROUTES: tuple[str, ...] = ()

_TOP = {"health": SYSTEM, "openapi": SYSTEM}
# /operator/{segment}/...
_OPERATOR = {
    "auth": AUTH,
    "me": AUTH,
    "operators": OPERATORS,
    "stations": STATIONS,
    "gateways": GATEWAYS,
    "discounts": PRICING,
    "tariffs": PRICING,
    "cards": CARDS,
    "sessions": SESSIONS,
    "reconciliation": MONEY,
    "transactions": MONEY,
    "transactions.csv": MONEY,
    "drivers": DRIVERS,
}
# /operator/piles/{pile_id}/{segment}/...: the pile's own parts and its e-bike ports; any
# other segment names an OCPP pile command (or no route at all).
_PILE_PARTS = {
    "guns": PILES,
    "password": PILES,
    "port-commands": PORT_COMMANDS,
    "ports": PORT_COMMANDS,
}


def group_of(path: str) -> tuple[str, ...]:
    """The route modules whose routes can match ``path`` (``NO_ROUTES``: none can)."""
    parts = path.split("/")
    if len(parts) < 2 or parts[0]:
        return NO_ROUTES
    if parts[1] != "operator":
        return _TOP.get(parts[1], NO_ROUTES)
    if len(parts) < 3:
        return NO_ROUTES
    if parts[2] == "piles":
        if len(parts) < 5:
            return PILES
        return _PILE_PARTS.get(parts[4], PILE_COMMANDS)
    return _OPERATOR.get(parts[2], NO_ROUTES)


_resolvers: dict[tuple[str, ...], APIGatewayHttpResolver] = {}
# The local stack runs a function's invocations on several threads: a group's resolver is
# built once, or two resolvers would each claim the group's routers.
_building = threading.Lock()


def resolver_for(group: tuple[str, ...]) -> APIGatewayHttpResolver:
    """The resolver of ``group``'s routes with the API's edge (error mapping, 404/405,
    body-size guard), its modules imported on the first call: once per container and group."""
    resolver = _resolvers.get(group)
    if resolver is None:
        with _building:
            resolver = _resolvers.get(group)
            if resolver is None:
                resolver = _resolvers[group] = _build(group)
    return resolver


def _build(group: tuple[str, ...]) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()
    install_edge(app)
    for name in group:
        module = importlib.import_module(f"functions.operator_api.routes.{name}")
        app.include_router(module.router)
    return app


def resolver_for_event(event: dict[str, Any]) -> APIGatewayHttpResolver:
    """The resolver for an HTTP API (payload v2) event, by its path as the resolver reads
    it (the raw path less a named stage)."""
    return resolver_for(group_of(APIGatewayProxyEventV2(event).path))
