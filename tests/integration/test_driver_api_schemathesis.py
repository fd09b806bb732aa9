"""Schemathesis against docs/openapi/driver.json, in process: every operation of the document
gets generated requests (valid and not) through the real handler on moto, signed in as a
driver; no answer may be a 5xx, and every answer must match the document (status code,
content type, body schema).

The handler is served to Schemathesis as a WSGI app that turns each request into the API
Gateway HTTP API (payload 2.0) event the Lambda receives.
"""

from __future__ import annotations

import base64
import functools
import io
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qsl

import boto3
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from functions.driver_api import wiring
from infra.openapi import render
from tests.integration.test_driver_api_support import (
    DriverWorld,
    LambdaContext,
    driver_event,
    reset_piles,
    shared_world,
    sign_in,
)

__all__ = ["shared_world"]

DOCUMENT_PATH = "docs/openapi/driver.json"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _document() -> dict[str, Any]:
    from functions.driver_api.openapi import DOCUMENT, driver_openapi

    committed: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    assert DOCUMENT.read_text(encoding="utf-8") == render(driver_openapi()), "stale document"
    return committed


schema = schemathesis.openapi.from_dict(_document())


def lambda_as_wsgi(
    environ: dict[str, Any], start_response: Callable[[str, list[tuple[str, str]]], Any]
) -> Iterable[bytes]:
    """The driver API's Lambda handler behind WSGI: environ -> HTTP API v2 event -> answer."""
    from functions.driver_api.handler import lambda_handler

    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    headers = {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    query: dict[str, str] = {}
    for key, value in parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value  # API Gateway joins
    event = driver_event(
        environ["REQUEST_METHOD"],
        environ.get("PATH_INFO") or "/",
        raw_body=base64.b64encode(raw).decode() if raw else None,
        query=query or None,
    )
    event["headers"] = headers
    event["isBase64Encoded"] = bool(raw)
    event["rawQueryString"] = environ.get("QUERY_STRING", "")
    answer = lambda_handler(event, LambdaContext())
    body = answer.get("body") or ""
    data = base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode()
    reason = "OK" if answer["statusCode"] < 400 else "Error"
    start_response(
        f"{answer['statusCode']} {reason}",
        [(str(k), str(v)) for k, v in (answer.get("headers") or {}).items()],
    )
    return [data]


class FakeSender:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def post(self, connection_id: str, text: str) -> None:
        self.sent.append(text)


@pytest.fixture(scope="module")
def signed_in(shared_world: DriverWorld) -> Iterator[str]:
    """A driver's token, the payment state machine, the uploads bucket and a fake
    ``@connections`` sender."""
    machine = boto3.client("stepfunctions").create_state_machine(
        name="payment-session-fuzz",
        definition=json.dumps(
            {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
        ),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PAYMENT_STATE_MACHINE_ARN", machine)
        patch.setenv("WS_MANAGEMENT_ENDPOINT", "https://ws.example.com/prod")
        boto3.client("s3").create_bucket(Bucket="fuzz-uploads")
        patch.setenv("UPLOADS_BUCKET", "fuzz-uploads")
        wiring.reset()
        sender = FakeSender()
        patch.setattr(wiring, "_websocket_sender", functools.cache(lambda: sender))
        reset_piles(shared_world)
        yield sign_in("schemathesis")
        wiring.reset()


schema.app = lambda_as_wsgi


@schema.parametrize()
@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_answer_is_a_5xx_or_off_the_document(case: Any, signed_in: str) -> None:
    response = case.call(headers={"Authorization": f"Bearer {signed_in}"})
    case.validate_response(response, checks=CHECKS)


def test_the_wsgi_bridge_answers_like_the_handler(signed_in: str) -> None:
    out: dict[str, Any] = {}

    def start(status: str, headers: list[tuple[str, str]]) -> None:
        out["status"] = status

    body = b"".join(
        lambda_as_wsgi(
            {
                "REQUEST_METHOD": "GET",
                "PATH_INFO": "/driver/me",
                "QUERY_STRING": "",
                "HTTP_AUTHORIZATION": f"Bearer {signed_in}",
                "wsgi.input": io.BytesIO(b""),
            },
            start,
        )
    )
    assert out["status"].startswith("200")
    assert json.loads(body)["user_id"].startswith("dr-")
