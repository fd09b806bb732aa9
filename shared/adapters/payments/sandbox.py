"""The sandbox provider (``infra/local/sandbox_pay.py``) over HTTP, for the local stack.

It behaves like the real providers: orders are opened at the provider, the driver's
"pay" click (``POST {SANDBOX_PAY_URL}/sandbox/orders/{order_no}/confirm``) pays them,
and a signed notification (WeChat-style headers, ``Sandboxpay-*``) arrives at
``/payments/notify/sandbox``, sometimes more than once. Notifications are verified with
the sandbox's public key, fetched once from ``GET /sandbox/public-key``.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from shared.domain.clock import from_wire, to_wire
from shared.domain.errors import Conflict, InvalidInput, UpstreamFailure
from shared.domain.payments import (
    FULL_SHARE_BP,
    NotificationRejected,
    PaidNotice,
    PartnerReceiver,
    PaymentMethod,
    PrepayRequest,
    PrepayTicket,
    ProviderRecord,
    RefundRequest,
    RefundResult,
    ShareRequest,
    ShareResult,
    check_order_no,
)

from .signed_headers import load_public_key, verify_signed_headers

SIGNATURE_TYPE = "SANDBOX-SHA256-RSA2048"
HEADER_PREFIX = "Sandboxpay-"
TIMEOUT_S = 10.0


class SandboxPaymentProvider:
    """``PaymentProvider`` on the sandbox at ``base_url``."""

    method = PaymentMethod.SANDBOX
    # The sandbox shares any ratio (a 50:50 partner share runs whole locally).
    max_share_bp = FULL_SHARE_BP

    def __init__(self, base_url: str, *, timeout_s: float = TIMEOUT_S) -> None:
        self._base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._keys: dict[str, Any] | None = None
        self._merchant_id = ""
        self._lock = threading.Lock()

    def create_prepay(self, req: PrepayRequest) -> PrepayTicket:
        answer = self._call(
            "POST",
            "/sandbox/orders",
            {
                "order_no": req.order_no,
                "amount_fen": req.amount_fen,
                "description": req.description,
                "payer_id": req.payer_id,
                "expires_at": to_wire(req.expires_at),
            },
        )
        quoted = urllib.parse.quote(req.order_no, safe="")
        return PrepayTicket(
            method=self.method,
            order_no=req.order_no,
            client_params={
                "prepay_id": str(answer["prepay_id"]),
                "confirm_url": f"{self._base_url}/sandbox/orders/{quoted}/confirm",
            },
        )

    def verify_notification(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> PaidNotice:
        keys, merchant_id = self._public_keys()
        verify_signed_headers(
            headers,
            body,
            now,
            prefix=HEADER_PREFIX,
            signature_type=SIGNATURE_TYPE,
            public_keys=keys,
        )
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise NotificationRejected(400, "malformed_body") from exc
        if not isinstance(payload, dict):
            raise NotificationRejected(400, "malformed_body")
        if payload.get("event_type") != "TRANSACTION.SUCCESS":
            raise NotificationRejected(400, "not_paid")
        if payload.get("merchant_id") != merchant_id:
            raise NotificationRejected(400, "merchant_mismatch")
        return _paid_notice(payload)

    def notification_ack(self) -> tuple[int, dict[str, str], str]:
        return 200, {"Content-Type": "application/json"}, '{"code":"SUCCESS"}'

    def refund(self, req: RefundRequest) -> RefundResult:
        answer = self._call(
            "POST",
            f"/sandbox/orders/{urllib.parse.quote(req.order_no, safe='')}/refunds",
            {
                "out_refund_no": req.out_refund_no,
                "refund_fen": req.refund_fen,
                "total_fen": req.total_fen,
                "reason": req.reason,
            },
        )
        if answer.get("status") not in ("success", "processing"):
            raise UpstreamFailure("sandbox refund in an unknown state", provider="sandbox")
        return RefundResult(
            out_refund_no=req.out_refund_no,
            status="success" if answer["status"] == "success" else "processing",
            refund_fen=int(answer["refund_fen"]),
        )

    def add_receiver(self, receiver: PartnerReceiver) -> None:
        """Add the receiver at the sandbox (``POST /sandbox/receivers``, idempotent): like
        WeChat Pay, the sandbox refuses a share to a receiver never added."""
        self._call(
            "POST",
            "/sandbox/receivers",
            {
                "account": receiver.account,
                "type": receiver.kind,
                "name": receiver.name,
                "relation_type": "PARTNER",
            },
        )

    def share_profit(self, req: ShareRequest) -> ShareResult:
        answer = self._call(
            "POST",
            f"/sandbox/orders/{urllib.parse.quote(req.order_no, safe='')}/shares",
            {
                "out_share_no": req.out_share_no,
                "provider_txn_id": req.provider_txn_id,
                "receivers": [
                    {"account": r.account, "amount_fen": r.amount_fen, "description": r.description}
                    for r in req.receivers
                ],
                "unfreeze_rest": req.unfreeze_rest,
            },
        )
        if answer.get("status") == "success":
            return ShareResult(out_share_no=req.out_share_no, status="success")
        return ShareResult(out_share_no=req.out_share_no, status="processing")

    def close_order(self, order_no: str) -> None:
        check_order_no(order_no)
        self._call("POST", f"/sandbox/orders/{urllib.parse.quote(order_no, safe='')}/close", {})

    def records(self, day: date) -> list[ProviderRecord]:
        rows = self._call("GET", f"/sandbox/records?day={day.isoformat()}", None)
        if not isinstance(rows, list):
            raise UpstreamFailure("sandbox records malformed", provider="sandbox")
        try:
            return [
                ProviderRecord(
                    order_no=str(row["order_no"]),
                    kind="payment" if row["kind"] == "payment" else "refund",
                    reference=str(row["reference"]),
                    amount_fen=int(row["amount_fen"]),
                    at=from_wire(str(row["at"])),
                )
                for row in rows
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise UpstreamFailure("sandbox records malformed", provider="sandbox") from exc

    # --- plumbing --------------------------------------------------------------------------

    def _public_keys(self) -> tuple[dict[str, Any], str]:
        with self._lock:
            if self._keys is None:
                answer = self._call("GET", "/sandbox/public-key", None)
                try:
                    key = load_public_key(str(answer["public_key"]))
                    self._keys = {str(answer["serial"]): key}
                    self._merchant_id = str(answer["merchant_id"])
                except (KeyError, TypeError, ValueError) as exc:
                    raise UpstreamFailure(
                        "sandbox public key unreadable", provider="sandbox"
                    ) from exc
            return self._keys, self._merchant_id

    def _call(self, verb: str, path: str, payload: dict[str, Any] | None) -> Any:
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        request = urllib.request.Request(  # noqa: S310 - SANDBOX_PAY_URL from the stack
            self._base_url + path,
            data=data,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            method=verb,
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as answer:  # noqa: S310
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            code = _error_code(exc)
            if code == "ORDER_PAID":
                raise Conflict("order already paid", provider="sandbox", code=code) from exc
            raise UpstreamFailure(
                "sandbox refused the call", provider="sandbox", status=exc.code, code=code
            ) from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise UpstreamFailure("sandbox unreachable", provider="sandbox") from exc


def _error_code(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read())
    except (ValueError, OSError):
        return ""
    return str(body.get("code", "")) if isinstance(body, dict) else ""


def _paid_notice(payload: dict[str, Any]) -> PaidNotice:
    order_no = payload.get("order_no")
    txn_id = payload.get("txn_id")
    amount_fen = payload.get("amount_fen")
    paid_at = payload.get("paid_at")
    if not isinstance(order_no, str) or not isinstance(txn_id, str) or not txn_id:
        raise NotificationRejected(400, "malformed_body")
    try:
        check_order_no(order_no)
    except InvalidInput as exc:
        raise NotificationRejected(400, "malformed_body") from exc
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        raise NotificationRejected(400, "malformed_body")
    try:
        paid = from_wire(str(paid_at))
    except ValueError as exc:
        raise NotificationRejected(400, "malformed_body") from exc
    return PaidNotice(
        method=PaymentMethod.SANDBOX,
        order_no=order_no,
        provider_txn_id=txn_id,
        amount_fen=amount_fen,
        paid_at=paid,
    )
