"""WeChat Pay and Alipay adapters over real HTTP against local stub providers: the request
bytes on the wire are what the merchant signature covers, and the stub's signed answers
are verified by the SDKs (no network beyond 127.0.0.1)."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shared.adapters.payments.alipay import AlipayProvider
from shared.adapters.payments.wechat import WeChatPayProvider
from shared.domain.errors import UpstreamFailure
from shared.domain.payments import PrepayRequest, RefundRequest
from tests.unit.test_payment_providers_support import (
    MCHID,
    MERCHANT_SERIAL,
    alipay_config,
    alipay_sign_string,
    rsa_key,
    sign,
    verify,
    wechat_config,
    wechat_signed,
)

Route = Callable[[str, str, bytes, dict[str, str]], tuple[int, dict[str, str], bytes]]


class StubProvider:
    def __init__(self, route: Route) -> None:
        self.seen: list[dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = dict(self.headers.items())
                stub.seen.append({"verb": self.command, "path": self.path, "body": body})
                status, answer_headers, answer = route(self.command, self.path, body, headers)
                self.send_response(status)
                for name, value in answer_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _wechat_route(verb: str, path: str, body: bytes, headers: dict[str, str]) -> Any:
    scheme, _, params = headers["Authorization"].partition(" ")
    fields = {k: v.strip('"') for k, v in (p.split("=", 1) for p in params.split(","))}
    message = f"{verb}\n{path}\n{fields['timestamp']}\n{fields['nonce_str']}\n".encode()
    if scheme != "WECHATPAY2-SHA256-RSA2048" or not verify(
        rsa_key("wechat-merchant"), message + body + b"\n", fields["signature"]
    ):
        return 401, {"Content-Type": "application/json"}, b'{"code":"SIGN_ERROR"}'
    assert fields["mchid"] == MCHID and fields["serial_no"] == MERCHANT_SERIAL
    if path == "/v3/pay/transactions/jsapi":
        answer = json.dumps({"prepay_id": "wx02" + json.loads(body)["out_trade_no"]}).encode()
    elif path == "/v3/refund/domestic/refunds":
        request = json.loads(body)
        answer = json.dumps(
            {
                "out_refund_no": request["out_refund_no"],
                "status": "SUCCESS",
                "amount": request["amount"],
            }
        ).encode()
    else:
        return 404, {"Content-Type": "application/json"}, b'{"code":"NOT_FOUND"}'
    signed = wechat_signed(answer, datetime.now(UTC))
    return 200, signed, answer


def _alipay_route(verb: str, path: str, body: bytes, headers: dict[str, str]) -> Any:
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query))
    signature = query.pop("sign")
    assert verify(rsa_key("alipay-app"), alipay_sign_string(query).encode(), signature)
    method = query["method"]
    biz = json.loads(query["biz_content"])
    if method == "alipay.trade.create":
        inner = {"code": "10000", "msg": "Success", "trade_no": "2026" + biz["out_trade_no"]}
    elif method == "alipay.trade.refund":
        inner = {
            "code": "10000",
            "msg": "Success",
            "fund_change": "Y",
            "refund_fee": biz["refund_amount"],
        }
    else:
        inner = {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.SYSTEM_ERROR"}
    text = json.dumps(inner, separators=(",", ":"))
    key = method.replace(".", "_") + "_response"
    raw = f'{{"{key}":{text},"sign":"{sign(rsa_key("alipay-platform"), text.encode())}"}}'
    return 200, {"Content-Type": "application/json;charset=utf-8"}, raw.encode()


@pytest.fixture
def wechat_stub() -> Iterator[StubProvider]:
    stub = StubProvider(_wechat_route)
    yield stub
    stub.stop()


@pytest.fixture
def alipay_stub() -> Iterator[StubProvider]:
    stub = StubProvider(_alipay_route)
    yield stub
    stub.stop()


def _prepay() -> PrepayRequest:
    return PrepayRequest(
        order_no="po-000000000007",
        amount_fen=400,
        description="充电预付",
        payer_id="2088102122524333",
        expires_at=datetime.now(UTC) + timedelta(minutes=15),
    )


def test_wechat_prepay_and_refund_over_http_when_stub_signs(wechat_stub) -> None:
    provider = WeChatPayProvider(
        wechat_config(), notify_url="https://x/payments/notify/wechat", gateway=wechat_stub.url
    )
    ticket = provider.create_prepay(_prepay())
    assert ticket.client_params["package"] == "prepay_id=wx02po-000000000007"
    result = provider.refund(RefundRequest("po-000000000007", "po-000000000007-r", 100, 400, "x"))
    assert (result.status, result.refund_fen) == ("success", 100)
    assert json.loads(wechat_stub.seen[0]["body"])["amount"] == {"total": 400, "currency": "CNY"}


def test_wechat_upstream_failure_when_stub_refuses(wechat_stub) -> None:
    provider = WeChatPayProvider(
        wechat_config(), notify_url="https://x/payments/notify/wechat", gateway=wechat_stub.url
    )
    with pytest.raises(UpstreamFailure):
        provider.close_order("po-000000000007")  # the stub answers 404


def test_alipay_prepay_and_refund_over_http_when_stub_signs(alipay_stub) -> None:
    provider = AlipayProvider(
        alipay_config(),
        notify_url="https://x/payments/notify/alipay",
        gateway=f"{alipay_stub.url}/gateway.do",
    )
    assert provider.create_prepay(_prepay()).client_params == {"tradeNO": "2026po-000000000007"}
    assert (
        provider.refund(RefundRequest("po-000000000007", "r-1", 100, 400, "x")).status == "success"
    )
    with pytest.raises(UpstreamFailure):
        provider.close_order("po-000000000007")
