"""Unauthenticated: the driver API's OpenAPI document."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared.http_api import DocumentedRouter, json_response

router = DocumentedRouter("system")


@router.operation("GET", "/openapi/driver.json", "This API's OpenAPI 3 document", is_public=True)
def openapi() -> Response[Any]:
    from functions.driver_api.openapi import driver_openapi

    return json_response(driver_openapi())
