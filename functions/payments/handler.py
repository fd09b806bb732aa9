"""Payments: provider notifications (``POST /payments/notify/{provider}``, HTTP API v2) and
the payment workflow's Step Functions tasks (``{"step": ...}``, infra/statemachines/README.md).

A notification is verified and taken once; the answer is the provider's expected ack, a
refusal is 400/401 with nothing changed (the provider retries later). A task's failure is
raised so Step Functions sees the error's class name (``UpstreamFailure`` is retried, any
other error goes to the compensation).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.payments import wiring
from shared.domain.errors import (
    ChargingError,
    Conflict,
    InvalidInput,
    NotFound,
    UpstreamFailure,
    WalletFrozen,
)
from shared.domain.payments import NotificationRejected, PaymentMethod
from shared.observability import logger
from shared.services.payment_workflow import record_payment_notice, run_step

MAX_NOTIFY_BYTES = 64 * 1024
# The notify edge's error table (shared.http_api's would import the API framework here).
_STATUS = (
    (NotFound, 404),
    (Conflict, 409),
    (WalletFrozen, 409),  # a top-up of a wallet frozen meanwhile: the provider retries
    (InvalidInput, 400),
    (UpstreamFailure, 502),
)
_NOTIFY_METHODS = frozenset({PaymentMethod.WECHAT, PaymentMethod.ALIPAY, PaymentMethod.SANDBOX})


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "requestContext" in event:
        return _notify(event)
    return _task(event)


def _answer(status: int, body: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": headers or {"content-type": "application/json"},
        "body": body,
    }


def _refusal(status: int, code: str) -> dict[str, Any]:
    # WeChat Pay reads {"code": "FAIL", "message": ...}; Alipay retries anything but "success".
    return _answer(status, json.dumps({"code": "FAIL", "message": code}))


def _body(event: dict[str, Any]) -> bytes | None:
    raw = event.get("body") or ""
    if not isinstance(raw, str) or len(raw) > MAX_NOTIFY_BYTES * 2:
        return None
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            return None
    return raw.encode()


def _notify(event: dict[str, Any]) -> dict[str, Any]:
    method_text = str((event.get("pathParameters") or {}).get("provider") or "")
    http = event.get("requestContext", {}).get("http", {})
    if http.get("method", "POST") != "POST":
        return _refusal(405, "method_not_allowed")
    if method_text not in {m.value for m in _NOTIFY_METHODS}:
        return _refusal(404, "unknown_provider")
    body = _body(event)
    if body is None or len(body) > MAX_NOTIFY_BYTES:
        return _refusal(400, "malformed_body")
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    logger.append_keys(provider=method_text)
    try:
        status, ack_headers, ack_body = record_payment_notice(
            wiring.ports(), PaymentMethod(method_text), headers, body
        )
    except NotificationRejected as refused:
        logger.warning("payment notice refused", extra={"reason": refused.reason})
        return _refusal(refused.status, refused.reason)
    except ChargingError as error:
        status = next((code for cls, code in _STATUS if isinstance(error, cls)), 500)
        (logger.error if status >= 500 else logger.warning)(
            "payment notice failed", extra={"code": error.code, "status": status}
        )
        return _refusal(status, error.code)
    return _answer(status, ack_body, ack_headers)


def _task(event: dict[str, Any]) -> dict[str, Any]:
    step = str(event.get("step") or "")[:64]
    order_no = str((event.get("state") or {}).get("order_no") or "")[:64]
    logger.append_keys(step=step, order_no=order_no)
    try:
        return run_step(wiring.ports(), event)
    except ChargingError as error:
        logger.warning("payment step failed", extra={"code": error.code})
        raise
