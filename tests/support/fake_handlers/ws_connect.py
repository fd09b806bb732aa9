"""Fake $connect/$disconnect: the pile id in the query string picks the answer."""

from __future__ import annotations

from typing import Any

from tests.support.fake_handlers import calls

REFUSALS = {"wrong-password": 401, "disabled": 403, "unknown": 404, "bad-protocol": 400}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    route = event["requestContext"]["routeKey"]
    calls.record(route, event)
    if route == "$disconnect":
        return {"statusCode": 200}
    pile_id = event["queryStringParameters"]["pileId"]
    if pile_id == "crash":
        raise RuntimeError("connect handler crashed")
    if pile_id in REFUSALS:
        return {"statusCode": REFUSALS[pile_id], "body": f"refused: {pile_id}"}
    if pile_id == "no-protocol":
        return {"statusCode": 200}
    offered = event["headers"].get("Sec-WebSocket-Protocol", "")
    chosen = [name.strip() for name in offered.split(",") if name.strip()]
    headers = {"Sec-WebSocket-Protocol": chosen[-1]} if chosen else {}
    return {"statusCode": 200, "headers": headers}
