"""What provisioning the template on embedded AWS produced: the contract between
``infra/local/provision.py`` (which fills it) and the local stack's runtime parts
(WebSocket door, HTTP front, Lambda runner, IoT rule engine, schedule ticker).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FunctionConfig:
    """One Lambda function as deployed: its logical id, handler and resolved environment."""

    logical_id: str  # e.g. "OcppRouterFunction"
    function_name: str  # the physical name in moto's Lambda
    handler: str  # e.g. "functions.ocpp_router.handler.lambda_handler"
    environment: dict[str, str]  # resolved Environment.Variables (Globals merged)
    memory_mb: int
    timeout_s: int


@dataclass(frozen=True, slots=True)
class HttpRoute:
    """One HTTP API route from the template (SAM ``HttpApi`` event)."""

    method: str  # "GET", "POST", ... or "ANY"
    path: str  # API Gateway form, e.g. "/operator/{proxy+}", "/health"
    function: str  # logical id of the target function
    is_jwt_protected: bool  # True when the route uses the Cognito JWT authorizer


@dataclass(frozen=True, slots=True)
class WebSocketRoutes:
    """Route key -> logical id of the target function ($connect, $disconnect, $default)."""

    targets: dict[str, str]
    # Route keys whose integration answers the client through a route response.
    two_way: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class IotRule:
    """An IoT topic rule: its SQL and the function its Lambda action invokes."""

    name: str
    sql: str  # e.g. "SELECT *, topic(2) AS gateway_id FROM 'gw/+/up'"
    function: str  # logical id


@dataclass(frozen=True, slots=True)
class Schedule:
    """A scheduled rule (EventBridge) that invokes a function."""

    name: str
    expression: str  # "rate(1 minute)" or "cron(...)"
    function: str  # logical id
    payload: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LocalDeployment:
    """Everything the runtime needs to behave like the deployed stack."""

    region: str
    endpoint_url: str  # the moto server, e.g. "http://127.0.0.1:4566"
    stack_name: str
    functions: dict[str, FunctionConfig]  # logical id -> config
    http_routes: list[HttpRoute]
    websocket: WebSocketRoutes
    iot_rules: list[IotRule]
    schedules: list[Schedule]
    tables: dict[str, str]  # env var (BASE_DATA_TABLE ...) -> physical table name
    user_pool_id: str
    user_pool_client_id: str
    outputs: dict[
        str, str
    ]  # stack outputs / other physical ids (topic ARNs, state machine ARN, bucket)
