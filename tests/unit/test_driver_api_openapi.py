"""docs/openapi/driver.json is what the driver API's routes and models generate."""

from __future__ import annotations

from functions.driver_api.openapi import DOCUMENT, driver_openapi
from infra.openapi import render


def test_the_committed_driver_document_is_current_when_the_routes_change() -> None:
    assert DOCUMENT.read_text(encoding="utf-8") == render(driver_openapi()), (
        "stale: run python -m functions.driver_api.openapi"
    )


def test_every_driver_route_but_sign_in_and_the_document_needs_the_token() -> None:
    document = driver_openapi()
    public = {
        (path, method)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("security") == []
    }
    assert public == {("/driver/auth/login", "post"), ("/openapi/driver.json", "get")}
