"""Fake HTTP API function: the path after /fake/ picks the kind of answer."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from tests.support.fake_handlers import calls


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    calls.record("http", event)
    path = event["rawPath"]
    if path.endswith("/bare"):
        return {"hello": "world"}
    if path.endswith("/string"):
        return "hi"
    if path.endswith("/crash"):
        raise KeyError("boom")
    if path.endswith("/malformed"):
        return {"statusCode": "not a number"}
    if path.endswith("/slow"):
        time.sleep(1.0)
    if path.endswith("/binary"):
        return {
            "statusCode": 200,
            "headers": {"content-type": "application/octet-stream"},
            "body": base64.b64encode(b"\x00\x01\xff").decode(),
            "isBase64Encoded": True,
        }
    if path.endswith("/cookies"):
        return {"statusCode": 204, "cookies": ["a=1; Path=/", "b=2; HttpOnly"]}
    return {
        "statusCode": 201 if event["requestContext"]["http"]["method"] == "POST" else 200,
        "headers": {"content-type": "application/json", "x-function": context.function_name},
        "body": json.dumps({"routeKey": event["routeKey"]}),
    }
