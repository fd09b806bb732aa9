"""Mini-program driver API: declared in template.yaml, built by issue 6."""

from __future__ import annotations

from typing import Any

from shared.unavailable import http_unavailable


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return http_unavailable("the driver API", issue=6)
