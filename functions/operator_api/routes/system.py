"""Unauthenticated routes: health and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from functions.operator_api import wiring
from functions.operator_api.models import HealthView
from shared.http_api import DocumentedRouter, error_response, json_response

router = DocumentedRouter("system")


@router.operation(
    "GET",
    "/health",
    "Liveness with a cheap table read (cached 10 s)",
    response=HealthView,
    is_public=True,
    errors=(503,),
)
def health() -> Any:
    if wiring.health_probe().is_healthy():
        return {"status": "ok"}
    return error_response(503, "unavailable", "the base-data table does not answer")


@router.operation("GET", "/openapi/operator.json", "This API's OpenAPI 3 document", is_public=True)
def openapi() -> Response[Any]:
    from functions.operator_api.openapi import operator_openapi

    return json_response(operator_openapi())
