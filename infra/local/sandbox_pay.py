"""A sandbox payment provider for the local stack: pays on a confirmation call, then sends
signed notifications like WeChat Pay's, sometimes more than once.

It is a small stdlib HTTP server with its own RSA key pair, generated at start (nothing
to configure, nothing secret outside the process). Endpoints (JSON in and out):

- ``GET /sandbox/public-key``: ``{"serial", "public_key" (PEM), "merchant_id"}``;
- ``POST /sandbox/orders``: open ``{order_no, amount_fen, description, payer_id,
  expires_at}``; a repeat with the same amount answers the same order, another is 409;
- ``GET /sandbox/orders/{order_no}``: the order as the sandbox sees it;
- ``POST /sandbox/orders/{order_no}/confirm``: the driver's "pay" click: paid once, then
  notified;
- ``POST /sandbox/orders/{order_no}/refunds``: ``{out_refund_no, refund_fen, total_fen,
  reason}``, once per ``out_refund_no``;
- ``POST /sandbox/orders/{order_no}/shares``: ``{out_share_no, provider_txn_id,
  receivers: [{account, amount_fen, description}], unfreeze_rest}``, once per number;
- ``POST /sandbox/orders/{order_no}/close``: close an unpaid order (409 ``ORDER_PAID``);
- ``POST /sandbox/receivers``: add a profit-sharing receiver ``{account, type?, name?,
  relation_type}`` (WeChat Pay's ``/v3/profitsharing/receivers/add``: idempotent, a
  ``MERCHANT_ID`` needs its name); ``GET /sandbox/receivers`` lists them. A share to a
  receiver never added is refused (400 ``RECEIVER_INVALID``), like WeChat Pay;
- ``GET /sandbox/records?day=YYYY-MM-DD``: payments and refunds of an Asia/Shanghai day.

Errors answer ``{"code", "message"}`` with 400, 404 or 409. Refunds plus shares never
exceed what was paid (409 ``NOT_ENOUGH``).

Notifications: after a confirm, a background thread POSTs ``{"id", "event_type":
"TRANSACTION.SUCCESS", "merchant_id", "order_no", "txn_id", "amount_fen", "paid_at"}`` to
``{notify_base}/payments/notify/sandbox`` with headers ``Sandboxpay-Timestamp``,
``-Nonce``, ``-Serial``, ``-Signature`` (RSA-SHA256, PKCS#1 v1.5, base64, over
``timestamp\\nnonce\\nbody\\n``) and ``-Signature-Type: SANDBOX-SHA256-RSA2048``. Each
attempt is signed afresh. It retries (0.2 s doubling to 5 s) until a 2xx arrives, for at
most ``max_attempts``. Then it delivers ``duplicates`` extra copies, and one more with
``duplicate_probability`` (seeded), as providers do when an ack gets lost.

Run alone: ``python -m infra.local.sandbox_pay --port 8090 --notify-base http://127.0.0.1:8000``
(duplicates from ``SANDBOX_PAY_DUPLICATES`` etc., see ``SandboxOptions.from_env``).
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import random
import re
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from shared.domain.clock import from_wire, local_day, to_wire

log = logging.getLogger("sandbox_pay")

SIGNATURE_TYPE = "SANDBOX-SHA256-RSA2048"
HEADER_PREFIX = "Sandboxpay-"
NOTIFY_PATH = "/payments/notify/sandbox"
DEFAULT_MERCHANT_ID = "sandbox-merchant"
MAX_BODY_BYTES = 64 * 1024
_ORDER_PATH = re.compile(
    r"^/sandbox/orders/([0-9A-Za-z_-]{6,32})(?:/(confirm|refunds|shares|close))?$"
)


class SandboxError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class _Order:
    order_no: str
    amount_fen: int
    description: str
    payer_id: str
    expires_at: str
    created_at: str
    status: str = "open"  # open -> paid | closed
    txn_id: str | None = None
    paid_at: str | None = None
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    shares: dict[str, dict[str, Any]] = field(default_factory=dict)
    notifications_sent: int = 0

    def view(self) -> dict[str, Any]:
        return {
            "order_no": self.order_no,
            "amount_fen": self.amount_fen,
            "status": self.status,
            "txn_id": self.txn_id,
            "paid_at": self.paid_at,
            "expires_at": self.expires_at,
            "refunds": list(self.refunds.values()),
            "shares": list(self.shares.values()),
            "notifications_sent": self.notifications_sent,
        }

    def committed_fen(self) -> int:
        refunded = sum(int(r["refund_fen"]) for r in self.refunds.values())
        shared = sum(int(s["amount_fen"]) for s in self.shares.values())
        return refunded + shared


@dataclass(frozen=True)
class SandboxOptions:
    """How the sandbox delivers notifications."""

    duplicates: int = 0
    duplicate_probability: float = 0.0
    seed: int | None = None
    max_attempts: int = 30
    first_retry_s: float = 0.2
    max_retry_s: float = 5.0
    merchant_id: str = DEFAULT_MERCHANT_ID

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> SandboxOptions:
        """``SANDBOX_PAY_DUPLICATES`` (extra copies per payment, default 0),
        ``SANDBOX_PAY_DUPLICATE_PROBABILITY`` (chance of one more, default 0),
        ``SANDBOX_PAY_SEED`` (default: unseeded)."""
        seed = environ.get("SANDBOX_PAY_SEED")
        return cls(
            duplicates=int(environ.get("SANDBOX_PAY_DUPLICATES", "0")),
            duplicate_probability=float(environ.get("SANDBOX_PAY_DUPLICATE_PROBABILITY", "0")),
            seed=int(seed) if seed else None,
        )


class SandboxPayServer(ThreadingHTTPServer):
    """The HTTP server with the sandbox's books; ``url`` is where adapters reach it."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], notify_base: str, options: SandboxOptions):
        super().__init__(address, _Handler)
        self.notify_url = notify_base.rstrip("/") + NOTIFY_PATH
        self.options = options
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.serial = secrets.token_hex(20).upper()
        self.public_pem = (
            self.private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )
        self.orders: dict[str, _Order] = {}
        self.records: list[dict[str, Any]] = []
        self.receivers: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self._random = random.Random(options.seed)
        self._txn_counter = 0
        self._deliveries: list[threading.Thread] = []
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        host, port = self.server_address[0], self.server_address[1]
        return f"http://{host!s}:{port}"

    # --- books -----------------------------------------------------------------------------

    def create_order(self, body: dict[str, Any]) -> dict[str, Any]:
        order_no = _text(body, "order_no")
        if not re.match(r"^[0-9A-Za-z_-]{6,32}$", order_no):
            raise SandboxError(400, "PARAM_ERROR", "order_no")
        amount_fen = _positive_int(body, "amount_fen")
        expires_at = _text(body, "expires_at")
        _parse_time(expires_at)
        with self.lock:
            order = self.orders.get(order_no)
            if order is not None:
                if order.amount_fen != amount_fen:
                    raise SandboxError(409, "ORDER_NO_USED", "order_no used with another amount")
                return {"order_no": order_no, "prepay_id": _prepay_id(order_no)}
            self.orders[order_no] = _Order(
                order_no=order_no,
                amount_fen=amount_fen,
                description=_text(body, "description"),
                payer_id=_text(body, "payer_id"),
                expires_at=expires_at,
                created_at=to_wire(datetime.now(UTC)),
            )
        return {"order_no": order_no, "prepay_id": _prepay_id(order_no)}

    def confirm(self, order_no: str) -> dict[str, Any]:
        now = datetime.now(UTC)
        with self.lock:
            order = self._order(order_no)
            if order.status == "paid":
                return order.view()
            if order.status == "closed":
                raise SandboxError(409, "ORDER_CLOSED", "order closed")
            if _parse_time(order.expires_at) < now:
                raise SandboxError(409, "ORDER_EXPIRED", "order expired")
            self._txn_counter += 1
            order.status = "paid"
            order.txn_id = f"sbx{now.strftime('%Y%m%d%H%M%S')}{self._txn_counter:08d}"
            order.paid_at = to_wire(now)
            self.records.append(
                {
                    "order_no": order_no,
                    "kind": "payment",
                    "reference": order.txn_id,
                    "amount_fen": order.amount_fen,
                    "at": order.paid_at,
                }
            )
            copies = 1 + self.options.duplicates
            if self._random.random() < self.options.duplicate_probability:
                copies += 1
            payload = {
                "id": f"ntf-{secrets.token_hex(8)}",
                "event_type": "TRANSACTION.SUCCESS",
                "merchant_id": self.options.merchant_id,
                "order_no": order_no,
                "txn_id": order.txn_id,
                "amount_fen": order.amount_fen,
                "paid_at": order.paid_at,
            }
            view = order.view()
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")
        thread = threading.Thread(
            target=self._deliver, args=(order_no, body, copies), daemon=True, name="sandbox-notify"
        )
        self._deliveries.append(thread)
        thread.start()
        return view

    def refund(self, order_no: str, body: dict[str, Any]) -> dict[str, Any]:
        out_refund_no = _text(body, "out_refund_no")
        refund_fen = _positive_int(body, "refund_fen")
        total_fen = _positive_int(body, "total_fen")
        with self.lock:
            order = self._order(order_no)
            known = order.refunds.get(out_refund_no)
            if known is not None:
                if known["refund_fen"] != refund_fen:
                    raise SandboxError(
                        409, "REFUND_NO_USED", "out_refund_no used with another amount"
                    )
                return known
            if order.status != "paid":
                raise SandboxError(409, "ORDER_NOT_PAID", "order not paid")
            if total_fen != order.amount_fen:
                raise SandboxError(400, "PARAM_ERROR", "total_fen differs from the order")
            if order.committed_fen() + refund_fen > order.amount_fen:
                raise SandboxError(409, "NOT_ENOUGH", "refunds and shares exceed the payment")
            now = to_wire(datetime.now(UTC))
            result = {
                "out_refund_no": out_refund_no,
                "status": "success",
                "refund_fen": refund_fen,
                "reason": str(body.get("reason", "")),
                "at": now,
            }
            order.refunds[out_refund_no] = result
            self.records.append(
                {
                    "order_no": order_no,
                    "kind": "refund",
                    "reference": out_refund_no,
                    "amount_fen": refund_fen,
                    "at": now,
                }
            )
            return result

    def add_receiver(self, body: dict[str, Any]) -> dict[str, Any]:
        account = _text(body, "account")
        kind = body.get("type")
        name = body.get("name")
        if kind is not None and kind not in ("MERCHANT_ID", "PERSONAL_OPENID"):
            raise SandboxError(400, "PARAM_ERROR", "type")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise SandboxError(400, "PARAM_ERROR", "name")
        if kind == "MERCHANT_ID" and name is None:
            raise SandboxError(400, "PARAM_ERROR", "a MERCHANT_ID receiver needs its name")
        if _text(body, "relation_type") != "PARTNER":
            raise SandboxError(400, "PARAM_ERROR", "relation_type")
        receiver = {"account": account, "type": kind, "name": name, "relation_type": "PARTNER"}
        with self.lock:
            self.receivers[account] = receiver  # adding again updates, as WeChat Pay does
        return {"account": account, "type": kind, "relation_type": "PARTNER"}

    def receivers_view(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self.receivers.values()]

    def share(self, order_no: str, body: dict[str, Any]) -> dict[str, Any]:
        out_share_no = _text(body, "out_share_no")
        receivers = body.get("receivers")
        if not isinstance(receivers, list):
            raise SandboxError(400, "PARAM_ERROR", "receivers")
        amounts = [_positive_int(r, "amount_fen") for r in receivers if isinstance(r, dict)]
        if len(amounts) != len(receivers):
            raise SandboxError(400, "PARAM_ERROR", "receivers")
        accounts = [_text(r, "account") for r in receivers]
        unfreeze_rest = body.get("unfreeze_rest")
        if not isinstance(unfreeze_rest, bool):
            raise SandboxError(400, "PARAM_ERROR", "unfreeze_rest")
        with self.lock:
            order = self._order(order_no)
            known = order.shares.get(out_share_no)
            if known is not None:
                return {"out_share_no": out_share_no, "status": known["status"]}
            if order.status != "paid":
                raise SandboxError(409, "ORDER_NOT_PAID", "order not paid")
            if body.get("provider_txn_id") != order.txn_id:
                raise SandboxError(400, "PARAM_ERROR", "provider_txn_id differs from the order")
            if any(account not in self.receivers for account in accounts):
                raise SandboxError(400, "RECEIVER_INVALID", "receiver never added")
            if order.committed_fen() + sum(amounts) > order.amount_fen:
                raise SandboxError(409, "NOT_ENOUGH", "refunds and shares exceed the payment")
            order.shares[out_share_no] = {
                "out_share_no": out_share_no,
                "status": "success",
                "amount_fen": sum(amounts),
                "receivers": receivers,
                "unfreeze_rest": unfreeze_rest,
            }
            return {"out_share_no": out_share_no, "status": "success"}

    def close(self, order_no: str) -> dict[str, Any]:
        with self.lock:
            order = self._order(order_no)
            if order.status == "paid":
                raise SandboxError(409, "ORDER_PAID", "order already paid")
            order.status = "closed"
            return order.view()

    def records_of(self, day: date) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self.records if local_day(from_wire(str(r["at"]))) == day]

    def order_view(self, order_no: str) -> dict[str, Any]:
        with self.lock:
            return self._order(order_no).view()

    def _order(self, order_no: str) -> _Order:
        order = self.orders.get(order_no)
        if order is None:
            raise SandboxError(404, "ORDER_NOT_EXIST", "no such order")
        return order

    # --- notifications ---------------------------------------------------------------------

    def signed_headers(self, body: bytes) -> dict[str, str]:
        """Fresh timestamp, nonce and signature for one delivery of ``body``."""
        timestamp = str(int(time.time()))
        nonce = secrets.token_hex(16)
        message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
        signature = self.private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        return {
            "Content-Type": "application/json",
            f"{HEADER_PREFIX}Timestamp": timestamp,
            f"{HEADER_PREFIX}Nonce": nonce,
            f"{HEADER_PREFIX}Serial": self.serial,
            f"{HEADER_PREFIX}Signature": base64.b64encode(signature).decode("ascii"),
            f"{HEADER_PREFIX}Signature-Type": SIGNATURE_TYPE,
        }

    def _deliver(self, order_no: str, body: bytes, copies: int) -> None:
        for _ in range(copies):
            if not self._deliver_once(body):
                log.warning("notification not acknowledged", extra={"order_no": order_no})
                return
            with self.lock:
                self.orders[order_no].notifications_sent += 1

    def _deliver_once(self, body: bytes) -> bool:
        pause = self.options.first_retry_s
        for _ in range(self.options.max_attempts):
            if self.stopping.is_set():
                return False
            request = urllib.request.Request(  # noqa: S310 - the configured notify URL
                self.notify_url, data=body, headers=self.signed_headers(body), method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                    if 200 <= answer.status < 300:
                        return True
            except (urllib.error.URLError, OSError, TimeoutError):
                pass
            if self.stopping.wait(pause):
                return False
            pause = min(pause * 2, self.options.max_retry_s)
        return False

    def wait_deliveries(self, timeout_s: float = 10.0) -> None:
        """Wait for the notification threads started so far (tests)."""
        deadline = time.monotonic() + timeout_s
        for thread in list(self._deliveries):
            thread.join(max(0.0, deadline - time.monotonic()))

    def shutdown(self) -> None:
        self.stopping.set()
        super().shutdown()


class _Handler(BaseHTTPRequestHandler):
    server: SandboxPayServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)

    def do_GET(self) -> None:
        self._answer(self._route_get)

    def do_POST(self) -> None:
        self._answer(self._route_post)

    def _route_get(self) -> dict[str, Any] | list[dict[str, Any]]:
        parsed = urllib.parse.urlsplit(self.path)
        if parsed.path == "/sandbox/public-key":
            return {
                "serial": self.server.serial,
                "public_key": self.server.public_pem,
                "merchant_id": self.server.options.merchant_id,
            }
        if parsed.path == "/sandbox/records":
            query = urllib.parse.parse_qs(parsed.query)
            try:
                day = date.fromisoformat(query["day"][0])
            except (KeyError, ValueError) as exc:
                raise SandboxError(400, "PARAM_ERROR", "day must be YYYY-MM-DD") from exc
            return self.server.records_of(day)
        if parsed.path == "/sandbox/receivers":
            return self.server.receivers_view()
        match = _ORDER_PATH.match(parsed.path)
        if match and match.group(2) is None:
            return self.server.order_view(match.group(1))
        raise SandboxError(404, "NOT_FOUND", "no such resource")

    def _route_post(self) -> dict[str, Any] | list[dict[str, Any]]:
        body = self._json_body()
        path = urllib.parse.urlsplit(self.path).path
        if path == "/sandbox/orders":
            return self.server.create_order(body)
        if path == "/sandbox/receivers":
            return self.server.add_receiver(body)
        match = _ORDER_PATH.match(path)
        if match is None or match.group(2) is None:
            raise SandboxError(404, "NOT_FOUND", "no such resource")
        order_no, action = match.group(1), match.group(2)
        if action == "confirm":
            return self.server.confirm(order_no)
        if action == "refunds":
            return self.server.refund(order_no, body)
        if action == "shares":
            return self.server.share(order_no, body)
        return self.server.close(order_no)

    def _json_body(self) -> dict[str, Any]:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError as exc:
            raise SandboxError(400, "PARAM_ERROR", "bad Content-Length") from exc
        if not 0 <= length <= MAX_BODY_BYTES:
            raise SandboxError(400, "PARAM_ERROR", "body too large")
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw or b"{}")
        except ValueError as exc:
            raise SandboxError(400, "PARAM_ERROR", "body is not JSON") from exc
        if not isinstance(body, dict):
            raise SandboxError(400, "PARAM_ERROR", "body must be an object")
        return body

    def _answer(self, route: Any) -> None:
        try:
            status, payload = 200, route()
        except SandboxError as exc:
            status, payload = exc.status, {"code": exc.code, "message": exc.message}
        data = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > 128:
        raise SandboxError(400, "PARAM_ERROR", name)
    return value


def _positive_int(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SandboxError(400, "PARAM_ERROR", name)
    return value


def _parse_time(text: str) -> datetime:
    try:
        return from_wire(text)
    except ValueError as exc:
        raise SandboxError(400, "PARAM_ERROR", "bad timestamp") from exc


def _prepay_id(order_no: str) -> str:
    return f"sbx-prepay-{order_no}"


def start_sandbox(
    port: int,
    notify_base: str,
    *,
    host: str = "127.0.0.1",
    options: SandboxOptions | None = None,
) -> tuple[SandboxPayServer, str]:
    """Start the sandbox in a daemon thread (``port`` 0 picks a free one).

    Returns the server (``shutdown()`` and ``server_close()`` stop it) and its base URL,
    the value of ``SANDBOX_PAY_URL``.
    """
    server = SandboxPayServer((host, port), notify_base, options or SandboxOptions())
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name="sandbox-pay"
    ).start()
    return server, server.url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.sandbox_pay")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--notify-base", default="http://127.0.0.1:8000")
    args = parser.parse_args(argv)
    options = SandboxOptions.from_env(os.environ)
    server = SandboxPayServer((args.host, args.port), args.notify_base, options)
    print(f"sandbox pay on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
