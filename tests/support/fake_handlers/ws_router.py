"""Fake $default route: echoes frames, crashes on request, or pushes through @connections."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import boto3

from tests.support.fake_handlers import calls


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any] | None:
    calls.record("$default", event)
    body = event["body"]
    if body == "crash":
        raise ValueError("router crashed")
    if body == "silent":
        return None
    if body.startswith("sleep:"):
        time.sleep(float(body.split(":", 1)[1]))
    if body == "push":
        client = boto3.client(
            "apigatewaymanagementapi", endpoint_url=os.environ["WS_MANAGEMENT_ENDPOINT"]
        )
        client.post_to_connection(
            ConnectionId=event["requestContext"]["connectionId"], Data=b"pushed"
        )
    return {"statusCode": 200, "body": json.dumps(["echo", body])}
