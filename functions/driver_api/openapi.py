"""The driver API's OpenAPI document, built from the documented routes and their models.

Served at ``GET /openapi/driver.json`` and committed as docs/openapi/driver.json
(``python -m functions.driver_api.openapi`` writes it, ``--check`` fails when stale; a
test checks it too).
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path
from typing import Any

from functions.driver_api.routes import auth, care, charging, discovery, system, wallet
from shared.http_api import openapi_document

ROUTERS = (
    system.router,
    auth.router,
    discovery.router,
    charging.router,
    wallet.router,
    care.router,
)

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi" / "driver.json"

DESCRIPTION = (
    "The mini-program's HTTPS API for drivers and riders (WeChat and Alipay apps). Sign in "
    "with POST /driver/auth/login (the app's one-time code) and send the token as "
    "Authorization: Bearer <token> (valid 2 hours). A driver sees only their own account, "
    "charges, wallet, cards, complaints and reservations; anyone else's answer 404. Money "
    "is int fen, energy Wh, power W, times RFC 3339 UTC with Z. Errors are "
    '{"error": {"code", "message", "details"}}.'
)

SECURITY_SCHEME = {
    "driverToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The token from POST /driver/auth/login",
    }
}


@cache
def driver_openapi() -> dict[str, Any]:
    """The document (built once per cold start)."""
    document = openapi_document(
        title="Charging cloud driver API",
        version="1.0.0",
        description=DESCRIPTION,
        operations=[op for router in ROUTERS for op in router.operations],
    )
    document["components"]["securitySchemes"] = SECURITY_SCHEME
    document["security"] = [{"driverToken": []}]
    return document


def main(argv: list[str] | None = None) -> int:
    from infra.openapi import render

    args = sys.argv[1:] if argv is None else argv
    text = render(driver_openapi())
    if "--check" in args:
        if not DOCUMENT.exists() or DOCUMENT.read_text(encoding="utf-8") != text:
            sys.stderr.write(
                "stale: docs/openapi/driver.json (python -m functions.driver_api.openapi)\n"
            )
            return 1
        return 0
    DOCUMENT.parent.mkdir(parents=True, exist_ok=True)
    DOCUMENT.write_text(text, encoding="utf-8")
    sys.stdout.write("wrote docs/openapi/driver.json\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
