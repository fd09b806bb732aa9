"""Wallet top-ups on moto through both handlers: the driver API opens the top-up (once per
request id, the provider prepay's client params in the answer), the payments function's
notify endpoint credits the wallet once however often the notice comes, tampered notices
are refused and change nothing, the history lists it, another driver sees 404."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from functions.payments import handler as payments_handler
from functions.payments import wiring as payments_wiring
from shared.domain.ledger import driver_wallet_id
from shared.domain.payments import PaymentMethod
from tests.integration.test_driver_api_support import (
    DriverWorld,
    dcall,
    shared_world,
    sign_in,
    snapshot,
    world,
)
from tests.unit.test_payment_workflow_fakes import GOOD_HEADERS, FakeProvider, notice_body

__all__ = ["shared_world", "world"]


class _Context:
    function_name = "PaymentsFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:PaymentsFunction"
    aws_request_id = "req-1"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


@pytest.fixture
def provider(world: DriverWorld, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProvider]:
    """One sandbox stand-in behind both functions (the provider factory of each)."""
    import shared.adapters.payments as payments_adapters

    fake = FakeProvider(PaymentMethod.SANDBOX)

    def provider_for(method: PaymentMethod) -> FakeProvider:
        assert method is PaymentMethod.SANDBOX
        return fake

    monkeypatch.setattr(payments_adapters, "provider_for", provider_for)
    payments_wiring.reset()
    monkeypatch.setattr(payments_wiring, "provider_for", provider_for)
    monkeypatch.setattr(payments_wiring, "clock", world.clock)
    from functions.driver_api import wiring

    wiring.reset()
    yield fake
    payments_wiring.reset()
    wiring.reset()


def notify(order_no: str, txn: str, amount_fen: int, headers: dict[str, str] | None = None) -> Any:
    body = notice_body(order_no, txn, amount_fen)
    event = {
        "version": "2.0",
        "routeKey": "POST /payments/notify/{provider}",
        "rawPath": "/payments/notify/sandbox",
        "headers": dict(headers or GOOD_HEADERS),
        "pathParameters": {"provider": "sandbox"},
        "requestContext": {"http": {"method": "POST", "path": "/payments/notify/sandbox"}},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }
    return payments_handler.lambda_handler(event, _Context())  # type: ignore[arg-type]


def top_up(token: str, world: DriverWorld, **overrides: Any) -> Any:
    body = {
        "request_id": "topup-0001",
        "amount_fen": 5_000,
        "method": "sandbox",
        "station_id": world.a.station_id,
    }
    body.update(overrides)
    return dcall("POST", "/driver/wallet/top-ups", token, body=body)


def test_a_top_up_paid_once_and_notified_15_times_credits_the_wallet_once(
    world: DriverWorld, provider: FakeProvider
) -> None:
    token = sign_in("topup-rider-1")
    opened = top_up(token, world)
    assert opened.status == 201, opened.body
    order_no = opened.body["order_no"]
    assert opened.body["state"] == "created"
    assert opened.body["client_params"] == {"prepay_id": f"pp-{order_no}"}
    assert top_up(token, world).body == opened.body  # the same request: the same order
    assert provider.calls == ["create_prepay"]

    answers = [notify(order_no, "sbx-1", 5_000) for _ in range(15)]
    assert {(a["statusCode"], a["body"]) for a in answers} == {(200, '{"code":"SUCCESS"}')}
    wallet = dcall("GET", "/driver/wallet", token, query={"station_id": world.a.station_id})
    assert wallet.body["balance_fen"] == 5_000
    entries = dcall(
        "GET", "/driver/wallet/entries", token, query={"operator_id": world.a.operator_id}
    ).body["items"]
    assert [(e["transfer_id"], e["amount_fen"], e["method"]) for e in entries] == [
        (f"topup:{order_no}", 5_000, "sandbox")
    ]
    history = dcall("GET", "/driver/wallet/top-ups", token)
    assert [(t["order_no"], t["state"]) for t in history.body["items"]] == [(order_no, "paid")]
    one = dcall("GET", f"/driver/wallet/top-ups/{order_no}", token)
    assert one.body["state"] == "paid" and one.body["paid_at"] is not None


def test_tampered_and_mismatched_notices_are_refused_and_change_nothing(
    world: DriverWorld, provider: FakeProvider
) -> None:
    token = sign_in("topup-rider-2")
    order_no = top_up(token, world).body["order_no"]
    before = snapshot(("LEDGER_TABLE",))
    for order, amount, headers, status in (
        (order_no, 5_000, {"x-sign": "forged"}, 401),
        (order_no, 4_000, None, 400),
        ("TU" + "f" * 30, 5_000, None, 400),
    ):
        answer = notify(order, "sbx-9", amount, headers)
        assert answer["statusCode"] == status, answer
    assert snapshot(("LEDGER_TABLE",)) == before
    assert (
        dcall("GET", "/driver/wallet", token, query={"station_id": world.a.station_id}).body[
            "balance_fen"
        ]
        == 0
    )


def test_bad_top_up_requests_answer_4xx_and_store_nothing(
    world: DriverWorld, provider: FakeProvider
) -> None:
    token = sign_in("topup-rider-3")
    before = snapshot(("LEDGER_TABLE",))
    for overrides, status in (
        ({"amount_fen": 0}, 422),
        ({"amount_fen": "50"}, 422),
        ({"method": "wallet"}, 422),
        ({"method": "alipay"}, 409),
        ({"station_id": None}, 422),
        ({"station_id": "st-" + "0" * 20}, 404),
    ):
        answer = top_up(token, world, **overrides)
        assert answer.status == status, (overrides, answer.body)
    assert dcall("POST", "/driver/wallet/top-ups", None, body={}).status == 401
    assert snapshot(("LEDGER_TABLE",)) == before
    assert provider.calls == []


def test_another_drivers_top_up_answers_404(world: DriverWorld, provider: FakeProvider) -> None:
    mine = sign_in("topup-rider-4")
    theirs = sign_in("topup-rider-5")
    order_no = top_up(mine, world, request_id="topup-0004").body["order_no"]
    assert dcall("GET", f"/driver/wallet/top-ups/{order_no}", theirs).status == 404
    assert dcall("GET", "/driver/wallet/top-ups", theirs).body["items"] == []
    assert dcall("GET", "/driver/wallet/top-ups/not-a-number", mine).status == 404


def test_a_notice_for_a_wallet_frozen_meanwhile_is_409_and_credits_nothing(
    world: DriverWorld, provider: FakeProvider
) -> None:
    from functions.driver_api import wiring
    from shared.services.wallets import freeze_wallet

    token = sign_in("topup-rider-6")
    order_no = top_up(token, world, request_id="topup-0006").body["order_no"]
    user_id = dcall("GET", "/driver/me", token).body["user_id"]
    freeze_wallet(
        wiring.ledger(),
        account_id=driver_wallet_id(world.a.operator_id, user_id),
        operator_id=world.a.operator_id,
        actor="op-admin",
        reason="dispute",
        clock=world.clock,
    )
    before = snapshot(("LEDGER_TABLE",))
    answer = notify(order_no, "sbx-6", 5_000)
    assert answer["statusCode"] == 409, answer
    assert snapshot(("LEDGER_TABLE",)) == before


def test_reconciliation_finds_the_operator_of_a_top_up_payment(
    world: DriverWorld, provider: FakeProvider
) -> None:
    import os

    from shared.adapters.dynamodb.money_reports import DynamoOrderOwners

    token = sign_in("topup-rider-7")
    order_no = top_up(token, world, request_id="topup-0007").body["order_no"]
    owners = DynamoOrderOwners(os.environ["LEDGER_TABLE"]).owners_of({order_no, "PO-unknown"})
    assert owners == {order_no: world.a.operator_id}
