"""The HTTP edge every HTTP function shares (API Gateway HTTP API, payload v2.0).

One place maps failures to answers, so every HTTP function speaks the same way:

- ``ChargingError`` -> its status (table below) and
  ``{"error": {"code", "message", "details"}}``;
- pydantic ``ValidationError`` -> 422 with the path of every bad field (never the value:
  bodies carry passwords);
- a body that is not JSON -> 400; a body over 64 KB -> 413 before any route runs;
- an unknown path -> 404, a known path with another method -> 405 with ``Allow``;
- anything unexpected -> 500 with a constant message (the traceback goes to the log).

It also turns the JWT claims API Gateway verified into a ``Principal``, parses bodies and
query strings with pydantic, and documents routes for the OpenAPI document
(``DocumentedRouter``, ``openapi_document``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver, Router
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent
from pydantic import BaseModel, ValidationError

from shared.domain.errors import (
    ChargingError,
    Conflict,
    FeatureUnavailable,
    Forbidden,
    InsufficientBalance,
    InvalidInput,
    NotFound,
    TariffMissing,
    Unauthenticated,
    UpstreamFailure,
    WalletFrozen,
)
from shared.domain.tenancy import Principal, Role
from shared.observability import logger

M = TypeVar("M", bound=BaseModel)

MAX_BODY_BYTES = 64 * 1024
_MAX_DETAIL_ERRORS = 20


class MalformedRequest(InvalidInput):
    """The request cannot be read at all: not JSON, not UTF-8, bad base64 (HTTP 400)."""

    code = "malformed_request"


class PayloadTooLarge(ChargingError):
    """The body is over ``MAX_BODY_BYTES`` (HTTP 413)."""

    code = "payload_too_large"


class MethodNotAllowed(ChargingError):
    """The path exists, the method does not (HTTP 405)."""

    code = "method_not_allowed"


# Most specific first; the first class in an error's MRO found here gives the status.
STATUS_BY_ERROR: dict[type[ChargingError], int] = {
    MalformedRequest: 400,
    InvalidInput: 422,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    MethodNotAllowed: 405,
    Conflict: 409,
    InsufficientBalance: 409,
    WalletFrozen: 409,
    TariffMissing: 409,
    PayloadTooLarge: 413,
    FeatureUnavailable: 501,
    UpstreamFailure: 502,
    ChargingError: 400,
}

# Fields of an error that may go back to the caller (never values the caller sent).
_PUBLIC_FIELDS = frozenset(
    {
        "field",
        "kind",
        "id",
        "allowed",
        "unknown",
        "errors",
        "limit_bytes",
        "balance_fen",
        "pile_count",
        "station_count",
        "role",
        "reason",  # a refusal's machine-readable reason (site_at_load_limit)
        "state",  # the state that refused an action (a gun's, an order's)
        # A load-limit refusal's figures (W), so the app can say why and when to retry.
        "load_band",
        "load_w",
        "rated_power_w",
        "capacity_w",
    }
)


def status_of(error: ChargingError) -> int:
    """The HTTP status of a domain error, by class (never by message)."""
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


def error_response(
    status: int,
    code: str,
    message: str,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response[Any]:
    """The one shape of every error answer."""
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"error": {"code": code, "message": message, "details": dict(details or {})}},
        headers=dict(headers or {}),
    )


def response_for_error(error: ChargingError) -> Response[Any]:
    """Map a domain error to its answer; server-side failures log, expected ones do not shout."""
    status = status_of(error)
    details = {key: value for key, value in error.fields.items() if key in _PUBLIC_FIELDS}
    headers: dict[str, str] = {}
    if isinstance(error, MethodNotAllowed):
        headers["Allow"] = ", ".join(error.fields.get("allowed", []))
    if status >= 500:
        logger.warning("request failed upstream", extra={"code": error.code, "status": status})
    else:
        logger.info("request refused", extra={"code": error.code, "status": status})
    return error_response(status, error.code, error.message, details, headers)


def _field_path(location: Sequence[int | str]) -> str:
    return ".".join(str(part) for part in location) or "body"


def response_for_validation(error: ValidationError) -> Response[Any]:
    """422 naming every bad field by its path (``periods.0.start``), without input values."""
    problems = error.errors(include_url=False, include_input=False, include_context=False)
    listed = [
        {"path": _field_path(problem["loc"]), "message": problem["msg"], "type": problem["type"]}
        for problem in problems[:_MAX_DETAIL_ERRORS]
    ]
    first = listed[0] if listed else {"path": "body", "message": "invalid"}
    message = f"{first['path']}: {first['message']}"
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more)"
    logger.info("request refused", extra={"code": "validation_failed", "status": 422})
    return error_response(422, "validation_failed", message, {"errors": listed})


def response_for_unexpected(error: Exception) -> Response[Any]:
    """500 with a constant message; the traceback is logged, nothing leaks to the caller."""
    logger.exception("unhandled error", extra={"error_type": type(error).__name__})
    return error_response(500, "internal_error", "the request failed; it has been logged")


# --- reading requests -------------------------------------------------------------------------


def body_bytes(event: BaseProxyEvent) -> bytes:
    """The raw body (base64 undone).

    Raises:
        MalformedRequest: the base64 is broken. PayloadTooLarge: over 64 KB.
    """
    body = event.body
    if body is None:
        return b""
    raw = body.encode()
    if len(raw) > MAX_BODY_BYTES * 4 // 3 + 4:
        raise _too_large()
    if event.is_base64_encoded:
        try:
            raw = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedRequest("request body is not valid base64") from exc
    if len(raw) > MAX_BODY_BYTES:
        raise _too_large()
    return raw


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"request body is over {MAX_BODY_BYTES // 1024} KB", limit_bytes=MAX_BODY_BYTES
    )


def parse_body(event: BaseProxyEvent, model: type[M]) -> M:
    """Validate the JSON body against ``model`` (strict types, no extra fields).

    Raises:
        MalformedRequest: no body, not UTF-8 or not JSON. PayloadTooLarge: over 64 KB.
        ValidationError: the JSON does not fit the model (mapped to 422).
    """
    raw = body_bytes(event)
    if not raw.strip():
        raise MalformedRequest("request body must be a JSON object")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedRequest("request body is not UTF-8") from exc
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        broken = [problem for problem in exc.errors() if problem["type"] == "json_invalid"]
        if broken:
            raise MalformedRequest(
                f"request body is not valid JSON: {broken[0]['msg'].removeprefix('Invalid JSON: ')}"
            ) from exc
        raise


def parse_optional_body(event: BaseProxyEvent, model: type[M]) -> M:
    """Like ``parse_body``, but an empty body means the model's defaults."""
    if not body_bytes(event).strip():
        return model()
    return parse_body(event, model)


def parse_query(event: BaseProxyEvent, model: type[M]) -> M:
    """Validate query-string parameters against ``model`` (strings coerced where declared).

    Raises:
        ValidationError: unknown or malformed parameters (mapped to 422).
    """
    return model.model_validate(dict(event.query_string_parameters or {}))


# --- who is asking ----------------------------------------------------------------------------

_ROLE_ORDER = (Role.PLATFORM_ADMIN, Role.OPERATOR_ADMIN, Role.MAINTENANCE)


def _groups(claim: object) -> list[str]:
    # Real API Gateway renders a list claim as the string "[a b]"; tests and local pass a list.
    if isinstance(claim, list):
        return [str(group) for group in claim]
    if isinstance(claim, str):
        return [part for part in re.split(r"[\s,]+", claim.strip().strip("[]")) if part]
    return []


def principal_from_claims(claims: Mapping[str, Any] | None) -> Principal:
    """The staff member an ID token names: username, strongest role, operator.

    Raises:
        Unauthenticated: no claims, not an ID token, or no username.
        Forbidden: no known role, or staff without an operator.
    """
    if not claims:
        raise Unauthenticated("sign in first: the request carries no token")
    if claims.get("token_use", "id") != "id":
        raise Unauthenticated("use the ID token from sign-in, not the access token")
    username = claims.get("cognito:username")
    if not isinstance(username, str) or not username:
        raise Unauthenticated("the token names no user")
    groups = set(_groups(claims.get("cognito:groups")))
    role = next((role for role in _ROLE_ORDER if str(role) in groups), None)
    if role is None:
        raise Forbidden("the user has no role in the operator dashboard")
    operator_id = claims.get("custom:operator_id") or None
    if role is not Role.PLATFORM_ADMIN and not isinstance(operator_id, str):
        raise Forbidden("the user belongs to no operator", role=str(role))
    return Principal(
        username=username,
        role=role,
        operator_id=operator_id if role is not Role.PLATFORM_ADMIN else None,
    )


def principal_of(event: BaseProxyEvent) -> Principal:
    """The caller of a JWT-protected route (claims API Gateway's authorizer verified)."""
    context = event.get("requestContext") or {}
    claims = ((context.get("authorizer") or {}).get("jwt") or {}).get("claims")
    return principal_from_claims(claims)


# --- wiring the edge into a resolver ----------------------------------------------------------


def _allowed_methods(app: ApiGatewayResolver, path: str) -> list[str]:
    routes = [*getattr(app, "_static_routes", []), *getattr(app, "_dynamic_routes", [])]
    return sorted({route.method for route in routes if route.rule.match(path)})


def install_edge(app: ApiGatewayResolver) -> None:
    """Register the error mapping, the 404/405 answers and the body-size guard on ``app``."""

    def route_not_found(_: NotFoundError) -> Response[Any]:
        event = app.current_event
        allowed = _allowed_methods(app, event.path)
        if allowed:
            return response_for_error(
                MethodNotAllowed(
                    f"{event.http_method} is not allowed here; use {', '.join(allowed)}",
                    allowed=allowed,
                )
            )
        return response_for_error(NotFound("no such route", kind="route"))

    def guard_body_size(resolver: ApiGatewayResolver, next_middleware: Callable[..., Any]) -> Any:
        body_bytes(resolver.current_event)
        return next_middleware(resolver)

    app.exception_handler(NotFoundError)(route_not_found)
    app.exception_handler(ChargingError)(response_for_error)
    app.exception_handler(ValidationError)(response_for_validation)
    app.exception_handler(Exception)(response_for_unexpected)
    app.use([guard_body_size])


def created(body: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    """A 201 answer."""
    return dict(body), HTTPStatus.CREATED.value


def no_content() -> Response[Any]:
    """A 204 answer."""
    return Response(status_code=HTTPStatus.NO_CONTENT.value, body=None)


# --- documented routes and the OpenAPI document -----------------------------------------------


@dataclass(frozen=True, slots=True)
class Operation:
    """One documented route: what it takes and answers, for the OpenAPI document."""

    method: str
    rule: str  # Powertools form: /operator/stations/<station_id>
    summary: str
    tag: str
    status: int = 200
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    is_public: bool = False
    path_patterns: Mapping[str, str] = field(default_factory=dict)
    errors: tuple[int, ...] = ()

    @property
    def openapi_path(self) -> str:
        return re.sub(r"<(\w+)>", r"{\1}", self.rule)

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"<(\w+)>", self.rule)


class DocumentedRouter(Router):
    """A Powertools ``Router`` that also records each route for the OpenAPI document."""

    def __init__(self, tag: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.tag = tag
        self.operations: list[Operation] = []

    def operation(
        self,
        method: str,
        rule: str,
        summary: str,
        *,
        status: int = 200,
        body: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        is_public: bool = False,
        path_patterns: Mapping[str, str] | None = None,
        errors: Sequence[int] = (),
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register ``rule`` for ``method`` and document it."""
        self.operations.append(
            Operation(
                method=method,
                rule=rule,
                summary=summary,
                tag=self.tag,
                status=status,
                body=body,
                response=response,
                query=query,
                is_public=is_public,
                path_patterns=dict(path_patterns or {}),
                errors=tuple(errors),
            )
        )
        return self.route(rule, method)


_ERROR_TEXT = {
    400: "Malformed request (not JSON, bad encoding)",
    401: "Not signed in",
    403: "The role may not do this",
    404: "No such object for this caller (another operator's objects answer 404 too)",
    405: "Method not allowed on this path",
    409: "Conflicts with the current state",
    413: "Body over 64 KB",
    422: "Validation failed; details.errors names each field",
    502: "An upstream service failed",
}


def openapi_document(
    *, title: str, version: str, description: str, operations: Sequence[Operation]
) -> dict[str, Any]:
    """An OpenAPI 3.1 document for ``operations``, schemas generated from their models."""
    from pydantic.json_schema import models_json_schema

    models: list[tuple[type[BaseModel], Any]] = []
    seen: set[tuple[type[BaseModel], str]] = set()
    for op in operations:
        for model, mode in ((op.body, "validation"), (op.query, "validation")):
            if model is not None and (model, mode) not in seen:
                seen.add((model, mode))
                models.append((model, mode))
        if op.response is not None and (op.response, "serialization") not in seen:
            seen.add((op.response, "serialization"))
            models.append((op.response, "serialization"))
    refs, definitions = models_json_schema(models, ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = dict(definitions.get("$defs", {}))
    schemas["Error"] = _ERROR_SCHEMA

    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        entry: dict[str, Any] = {
            "summary": op.summary,
            "tags": [op.tag],
            "operationId": _operation_id(op),
            "parameters": _parameters(op, refs, schemas),
            "responses": _responses(op, refs),
        }
        if op.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
            }
        if op.is_public:
            entry["security"] = []
        paths.setdefault(op.openapi_path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": {path: paths[path] for path in sorted(paths)},
        "components": {
            "schemas": {name: schemas[name] for name in sorted(schemas)},
            "securitySchemes": {
                "cognitoIdToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "The id_token from POST /operator/auth/login",
                }
            },
        },
        "security": [{"cognitoIdToken": []}],
    }


_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}


def _operation_id(op: Operation) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", " ", op.openapi_path.replace("{", "by ")).split()
    return op.method.lower() + "".join(word.capitalize() for word in words)


def _parameters(
    op: Operation, refs: Mapping[Any, Any], schemas: Mapping[str, Any]
) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": op.path_patterns[name]}
            if name in op.path_patterns
            else {"type": "string"},
        }
        for name in op.path_params
    ]
    if op.query is not None:
        schema = schemas[refs[(op.query, "validation")]["$ref"].rsplit("/", 1)[1]]
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            parameters.append(
                {"name": name, "in": "query", "required": name in required, "schema": prop}
            )
    return parameters


def _responses(op: Operation, refs: Mapping[Any, Any]) -> dict[str, Any]:
    success: dict[str, Any] = {"description": HTTPStatus(op.status).phrase}
    if op.response is not None:
        success["content"] = {"application/json": {"schema": refs[(op.response, "serialization")]}}
    responses: dict[str, Any] = {str(op.status): success}
    codes = set(op.errors) | {413, 422, 502}
    if op.body is not None:
        codes.add(400)
    if not op.is_public:
        codes |= {401, 403}
    for code in sorted(codes):
        responses[str(code)] = {
            "description": _ERROR_TEXT.get(code, HTTPStatus(code).phrase),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    return responses


def json_response(document: Mapping[str, Any]) -> Response[Any]:
    """A JSON document served as is (e.g. the OpenAPI document)."""
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(document, separators=(",", ":")),
    )
