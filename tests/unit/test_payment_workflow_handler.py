"""The payments handler's edges on fakes: the notify endpoint's answers (provider ack,
400/401/404/405/409, nothing changed on a refusal) and task events (results returned,
domain errors raised under their own class name for Step Functions' retriers)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from functions.payments import handler, wiring
from shared.domain.errors import Conflict, UpstreamFailure
from shared.domain.payment_orders import OrderState
from shared.domain.payments import PaymentMethod
from shared.services.payment_workflow import start_paid_session
from tests.unit.test_payment_workflow_fakes import GOOD_HEADERS, World, a_request, notice_body, task

ORDER = "PO2611020200000001"


class _Context:
    function_name = "payments"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:payments"
    aws_request_id = "req-1"


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    built = World()
    monkeypatch.setattr(wiring, "ports", lambda: built.ports)
    start_paid_session(built.ports, a_request())
    handler.lambda_handler(task("create_prepay_order", ORDER), _Context())
    yield built


def _notify(
    body: bytes | str,
    *,
    provider: str = "sandbox",
    headers: dict[str, str] | None = None,
    method: str = "POST",
    encode: bool = True,
) -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else body.encode()
    event = {
        "version": "2.0",
        "headers": dict(GOOD_HEADERS if headers is None else headers),
        "pathParameters": {"provider": provider},
        "requestContext": {"http": {"method": method}},
        "body": base64.b64encode(raw).decode() if encode else body,
        "isBase64Encoded": encode,
    }
    return handler.lambda_handler(event, _Context())


def test_accepted_notice_answers_the_providers_ack_and_pays_the_order(world):
    answer = _notify(notice_body(ORDER, "txn-1", 400))

    assert answer["statusCode"] == 200
    assert answer["body"] == '{"code":"SUCCESS"}'
    order = world.orders.get(ORDER)
    assert order is not None and order.state is OrderState.PAID


@pytest.mark.parametrize(
    ("kwargs", "status", "message"),
    [
        ({"provider": "wallet"}, 404, "unknown_provider"),
        ({"provider": "paypal"}, 404, "unknown_provider"),
        ({"method": "GET"}, 405, "method_not_allowed"),
        ({"headers": {"x-sign": "forged"}}, 401, "bad_signature"),
        ({"headers": {"X-Sign": "good"}}, 200, None),  # header names are case-insensitive
    ],
)
def test_notify_edge_answers(world, kwargs, status, message):
    answer = _notify(notice_body(ORDER, "txn-1", 400), **kwargs)

    assert answer["statusCode"] == status
    if message is not None:
        assert answer["body"] == f'{{"code": "FAIL", "message": "{message}"}}'
        assert world.ledger.transfers == {}


def test_malformed_bodies_are_refused_with_400_and_change_nothing(world):
    broken_base64 = {
        "headers": dict(GOOD_HEADERS),
        "pathParameters": {"provider": "sandbox"},
        "requestContext": {"http": {"method": "POST"}},
        "body": "***not base64***",
        "isBase64Encoded": True,
    }
    answers = [
        handler.lambda_handler(broken_base64, _Context()),
        _notify(b"x" * (handler.MAX_NOTIFY_BYTES + 1)),
        _notify(b"{not json"),
        _notify(notice_body(ORDER, "txn-1", 1)),  # not the prepaid amount
    ]

    assert [a["statusCode"] for a in answers] == [400, 400, 400, 400]
    assert world.ledger.transfers == {}
    order = world.orders.get(ORDER)
    assert order is not None and order.state is OrderState.CREATED


def test_a_second_payment_of_a_paid_order_answers_409(world):
    _notify(notice_body(ORDER, "txn-1", 400))
    answer = _notify(notice_body(ORDER, "txn-2", 400))

    assert answer["statusCode"] == 409


def test_a_provider_outage_answers_502_so_the_provider_retries(world, monkeypatch):
    def down(_method: PaymentMethod) -> Any:
        raise UpstreamFailure("secret unreadable")

    monkeypatch.setattr(wiring, "ports", lambda: replace(world.ports, providers=down))
    answer = _notify(notice_body(ORDER, "txn-1", 400))

    assert answer["statusCode"] == 502


def test_a_task_returns_its_result_and_raises_domain_errors_by_class(world):
    handler.lambda_handler(task("wait_for_paid", ORDER, "tok"), _Context())
    _notify(notice_body(ORDER, "txn-1", 400))
    result = handler.lambda_handler(task("remote_start", ORDER), _Context())
    assert result == {"order_no": ORDER, "call_id": f"call-{ORDER}"}

    with pytest.raises(Conflict):  # Step Functions sees errorType "Conflict": compensation
        handler.lambda_handler(task("refund_unused", ORDER), _Context())
