"""The sandbox provider end to end in-process: the sandbox server, the adapter over HTTP,
and a stand-in notify endpoint that verifies every notification it receives."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from infra.local.sandbox_pay import SandboxOptions, SandboxPayServer, start_sandbox
from shared.adapters.payments.sandbox import SandboxPaymentProvider
from shared.domain.clock import local_day
from shared.domain.errors import Conflict, UpstreamFailure
from shared.domain.payments import (
    NotificationRejected,
    PaidNotice,
    PartnerReceiver,
    PaymentMethod,
    PrepayRequest,
    RefundRequest,
    ShareReceiver,
    ShareRequest,
)


class NotifyEndpoint:
    """The platform's ``/payments/notify/sandbox`` stand-in: verify, then ack (or fail first)."""

    def __init__(self, failures_before_ack: int = 0) -> None:
        self.provider: SandboxPaymentProvider | None = None
        self.notices: list[PaidNotice] = []
        self.raw: list[tuple[dict[str, str], bytes]] = []
        self.refused: list[str] = []
        self.failures_left = failures_before_ack
        self.arrived = threading.Condition()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = endpoint.receive(self.path, dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def receive(self, path: str, headers: dict[str, str], body: bytes) -> int:
        assert path == "/payments/notify/sandbox"
        assert self.provider is not None
        with self.arrived:
            self.raw.append((headers, body))
            if self.failures_left > 0:
                self.failures_left -= 1
                return 500
            try:
                notice = self.provider.verify_notification(headers, body, datetime.now(UTC))
            except NotificationRejected as exc:
                self.refused.append(exc.reason)
                return exc.status
            self.notices.append(notice)
            self.arrived.notify_all()
        return self.provider.notification_ack()[0]

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[PaidNotice]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.notices) >= count, timeout_s)
            return list(self.notices)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[NotifyEndpoint]:
    ep = NotifyEndpoint()
    yield ep
    ep.stop()


def _sandbox(endpoint: NotifyEndpoint, **options: Any) -> tuple[SandboxPayServer, str]:
    settings = {"first_retry_s": 0.01, "max_retry_s": 0.05, **options}
    server, url = start_sandbox(0, endpoint.base, options=SandboxOptions(**settings))
    endpoint.provider = SandboxPaymentProvider(url)
    return server, url


@pytest.fixture
def sandbox(endpoint: NotifyEndpoint) -> Iterator[tuple[SandboxPayServer, SandboxPaymentProvider]]:
    server, _ = _sandbox(endpoint)
    assert endpoint.provider is not None
    yield server, endpoint.provider
    server.shutdown()
    server.server_close()


def _prepay(order_no: str = "po-000000000001", amount_fen: int = 400) -> PrepayRequest:
    return PrepayRequest(
        order_no=order_no,
        amount_fen=amount_fen,
        description="charging",
        payer_id="driver-1",
        expires_at=datetime.now(UTC) + timedelta(minutes=15),
    )


def _confirm(url: str) -> dict[str, Any]:
    import json
    import urllib.request

    request = urllib.request.Request(url, data=b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=5) as answer:
        return dict(json.loads(answer.read()))


def test_paid_notification_verified_when_driver_confirms(sandbox, endpoint) -> None:
    server, provider = sandbox
    ticket = provider.create_prepay(_prepay())
    assert ticket.method is PaymentMethod.SANDBOX
    assert ticket.client_params["prepay_id"]
    paid = _confirm(ticket.client_params["confirm_url"])
    assert paid["status"] == "paid"

    [notice] = endpoint.wait_for(1)
    assert notice.order_no == "po-000000000001"
    assert notice.amount_fen == 400
    assert notice.provider_txn_id == paid["txn_id"]
    server.wait_deliveries()
    assert endpoint.refused == []


def test_duplicates_delivered_and_each_verifies_when_configured(endpoint) -> None:
    server, _ = _sandbox(endpoint, duplicates=2)
    provider = endpoint.provider
    assert provider is not None
    try:
        ticket = provider.create_prepay(_prepay())
        _confirm(ticket.client_params["confirm_url"])
        notices = endpoint.wait_for(3)
        server.wait_deliveries()
        assert len(endpoint.notices) == 3
        assert {n.provider_txn_id for n in notices} == {notices[0].provider_txn_id}
        # every copy was signed afresh (own nonce), and the verify is pure: again and again
        nonces = {h["Sandboxpay-Nonce"] for h, _ in endpoint.raw}
        assert len(nonces) == 3
        headers, body = endpoint.raw[0]
        now = datetime.now(UTC)
        assert all(
            provider.verify_notification(headers, body, now) == notices[0] for _ in range(15)
        )
    finally:
        server.shutdown()
        server.server_close()


def test_seeded_duplicate_probability_sends_extra_copies_when_drawn(endpoint) -> None:
    server, _ = _sandbox(endpoint, duplicate_probability=1.0, seed=7)
    provider = endpoint.provider
    assert provider is not None
    try:
        ticket = provider.create_prepay(_prepay())
        _confirm(ticket.client_params["confirm_url"])
        endpoint.wait_for(2)
        server.wait_deliveries()
        assert len(endpoint.notices) == 2
    finally:
        server.shutdown()
        server.server_close()


def test_notification_retried_until_acknowledged_when_endpoint_fails() -> None:
    ep = NotifyEndpoint(failures_before_ack=3)
    server, _ = _sandbox(ep)
    try:
        assert ep.provider is not None
        ticket = ep.provider.create_prepay(_prepay())
        _confirm(ticket.client_params["confirm_url"])
        ep.wait_for(1)
        server.wait_deliveries()
        assert len(ep.raw) == 4
        assert len(ep.notices) == 1
        assert server.order_view("po-000000000001")["notifications_sent"] == 1
    finally:
        server.shutdown()
        server.server_close()
        ep.stop()


def test_tampered_or_stale_notification_refused_when_checked(sandbox, endpoint) -> None:
    _, provider = sandbox
    ticket = provider.create_prepay(_prepay())
    _confirm(ticket.client_params["confirm_url"])
    endpoint.wait_for(1)
    headers, body = endpoint.raw[0]
    now = datetime.now(UTC)
    cases = {
        "bad_signature": (headers, body.replace(b"400", b"401")),
        "unknown_serial": ({**headers, "Sandboxpay-Serial": "00"}, body),
        "missing_headers": ({k: v for k, v in headers.items() if "Nonce" not in k}, body),
        "probe_signature": ({**headers, "Sandboxpay-Signature": "WECHATPAY/SIGNTEST/abc"}, body),
    }
    for reason, (h, b) in cases.items():
        with pytest.raises(NotificationRejected) as exc:
            provider.verify_notification(h, b, now)
        assert (exc.value.status, exc.value.reason) == (401, reason)
    with pytest.raises(NotificationRejected) as exc:
        provider.verify_notification(headers, body, now + timedelta(minutes=6))
    assert exc.value.reason == "stale"


def test_refund_share_records_when_order_paid(sandbox, endpoint) -> None:
    server, provider = sandbox
    ticket = provider.create_prepay(_prepay())
    paid = _confirm(ticket.client_params["confirm_url"])
    refund = RefundRequest("po-000000000001", "po-000000000001-r", 100, 400, "unused")
    first = provider.refund(refund)
    again = provider.refund(refund)
    assert first == again
    assert (first.status, first.refund_fen) == ("success", 100)
    share = ShareRequest(
        "po-000000000001",
        "po-000000000001-s",
        paid["txn_id"],
        (ShareReceiver("partner-1", 150, "site partner"),),
        unfreeze_rest=True,
    )
    provider.add_receiver(PartnerReceiver("partner-1", "PERSONAL_OPENID"))
    assert provider.share_profit(share).status == "success"
    assert provider.share_profit(share).status == "success"
    view = server.order_view("po-000000000001")
    assert len(view["refunds"]) == 1 and len(view["shares"]) == 1

    # more than was paid: refused by the provider, UpstreamFailure
    with pytest.raises(UpstreamFailure):
        provider.refund(RefundRequest("po-000000000001", "po-000000000001-r2", 300, 400, "x"))

    records = provider.records(local_day(datetime.now(UTC)))
    kinds = sorted((r.kind, r.reference, r.amount_fen) for r in records)
    assert kinds == [("payment", paid["txn_id"], 400), ("refund", "po-000000000001-r", 100)]
    assert provider.records(local_day(datetime.now(UTC)) - timedelta(days=1)) == []
    server.wait_deliveries()


def test_close_refused_when_paid_and_confirm_refused_when_closed(sandbox, endpoint) -> None:
    server, provider = sandbox
    ticket = provider.create_prepay(_prepay())
    _confirm(ticket.client_params["confirm_url"])
    with pytest.raises(Conflict):
        provider.close_order("po-000000000001")
    other = provider.create_prepay(_prepay("po-000000000002"))
    provider.close_order("po-000000000002")
    provider.close_order("po-000000000002")
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as exc:
        _confirm(other.client_params["confirm_url"])
    assert exc.value.code == 409
    server.wait_deliveries()


def test_prepay_repeat_same_and_other_amount_conflicts_when_reused(sandbox) -> None:
    _, provider = sandbox
    first = provider.create_prepay(_prepay())
    assert provider.create_prepay(_prepay()) == first
    with pytest.raises(UpstreamFailure):
        provider.create_prepay(_prepay(amount_fen=500))


def test_upstream_failure_when_sandbox_unreachable() -> None:
    provider = SandboxPaymentProvider("http://127.0.0.1:9", timeout_s=1)
    with pytest.raises(UpstreamFailure):
        provider.create_prepay(_prepay())


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"order_no": "po-000000000009"}', b'{"order_no": "x", "amount_fen": 1}'],
)
def test_sandbox_answers_400_and_opens_nothing_when_bad_input(sandbox, body) -> None:
    import json
    import urllib.error
    import urllib.request

    server, _ = sandbox
    request = urllib.request.Request(f"{server.url}/sandbox/orders", data=body, method="POST")
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(request, timeout=5)
    assert exc.value.code == 400
    assert json.loads(exc.value.read())["code"] == "PARAM_ERROR"
    assert server.orders == {}


def test_share_refused_until_the_receiver_is_added_then_taken_once(sandbox, endpoint) -> None:
    server, provider = sandbox
    ticket = provider.create_prepay(_prepay())
    paid = _confirm(ticket.client_params["confirm_url"])
    share = ShareRequest(
        "po-000000000001",
        "po-000000000001-s",
        paid["txn_id"],
        (ShareReceiver("1900000110", 120, "site partner"),),
        unfreeze_rest=True,
    )
    with pytest.raises(UpstreamFailure) as refused:
        provider.share_profit(share)
    assert refused.value.fields["code"] == "RECEIVER_INVALID"
    assert server.order_view("po-000000000001")["shares"] == []

    receiver = PartnerReceiver("1900000110", "MERCHANT_ID", "Riverside Property Co.")
    provider.add_receiver(receiver)
    provider.add_receiver(receiver)  # idempotent, as at WeChat Pay
    assert server.receivers_view() == [
        {
            "account": "1900000110",
            "type": "MERCHANT_ID",
            "name": "Riverside Property Co.",
            "relation_type": "PARTNER",
        }
    ]
    assert provider.share_profit(share).status == "success"
    assert provider.share_profit(share).status == "success"
    [stored] = server.order_view("po-000000000001")["shares"]
    assert stored["amount_fen"] == 120
    server.wait_deliveries()


@pytest.mark.parametrize(
    "body",
    [
        {"account": "1900000110", "type": "MERCHANT_ID", "relation_type": "PARTNER"},
        {"account": "1900000110", "type": "OTHER", "name": "x", "relation_type": "PARTNER"},
        {"account": "1900000110", "relation_type": "STAFF"},
        {"account": "", "relation_type": "PARTNER"},
        {"account": "oUpF8u", "name": " ", "relation_type": "PARTNER"},
    ],
)
def test_receiver_add_answers_400_and_adds_nothing_when_bad(sandbox, body) -> None:
    import json
    import urllib.error
    import urllib.request

    server, _ = sandbox
    request = urllib.request.Request(
        f"{server.url}/sandbox/receivers",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(request, timeout=5)
    assert exc.value.code == 400
    assert json.loads(exc.value.read())["code"] == "PARAM_ERROR"
    assert server.receivers_view() == []
