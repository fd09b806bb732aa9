"""One wallet per (operator, driver) on moto through the driver API and the payments
handler: a driver who topped up and paid at operator A's station starts paid sessions at
operator B's (by provider and from a B wallet topped up at B's station); two wallets,
each operator's money on its own clearing account, the books balanced."""

from __future__ import annotations

import os
from typing import Any

import boto3

from shared.domain.ledger import driver_wallet_id
from tests.integration.test_driver_api_charging import (
    FakeSender,
    charging,
    executions,
    machine,
    start_body,
)
from tests.integration.test_driver_api_support import (
    DriverWorld,
    dcall,
    shared_world,
    sign_in,
    world,
)
from tests.integration.test_wallet_topups import FakeProvider, notify, provider, top_up

__all__ = ["charging", "machine", "provider", "shared_world", "world"]


def balances() -> dict[str, int]:
    """Every ledger account's balance (a scan: tests only)."""
    client = boto3.client("dynamodb")
    found: dict[str, int] = {}
    kwargs: dict[str, Any] = {"TableName": os.environ["LEDGER_TABLE"]}
    while True:
        page = client.scan(**kwargs)
        for item in page["Items"]:
            if item["pk"]["S"].startswith("ACCOUNT#") and item["sk"]["S"] == "ACCOUNT":
                found[item["pk"]["S"][len("ACCOUNT#") :]] = int(item["balance_fen"]["N"])
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def paid_top_up(token: str, station_id: str, request_id: str, world: DriverWorld) -> str:
    opened = top_up(token, world, request_id=request_id, amount_fen=1_000, station_id=station_id)
    assert opened.status == 201, opened.body
    answer = notify(opened.body["order_no"], f"sbx-{request_id}", 1_000)
    assert answer["statusCode"] == 200, answer
    order_no: str = opened.body["order_no"]
    return order_no


def test_a_driver_of_operator_a_pays_at_operator_b_by_provider_and_by_wallet(
    world: DriverWorld, charging: FakeSender, provider: FakeProvider, machine: str
) -> None:
    token = sign_in("two-operators")
    user_id = dcall("GET", "/driver/me", token).body["user_id"]
    a, b = world.a, world.b

    paid_top_up(token, a.station_id, "topup-a-0001", world)
    at_a = dcall(
        "POST", "/driver/charges", token, body=start_body(world, "req-two-a1", method="wallet")
    )
    by_provider_at_b = dcall(
        "POST",
        "/driver/charges",
        token,
        body=start_body(world, "req-two-b1", pile_id=b.pile_id, method="sandbox"),
    )
    topup_b = paid_top_up(token, b.station_id, "topup-b-0001", world)
    by_wallet_at_b = dcall(
        "POST",
        "/driver/charges",
        token,
        body=start_body(world, "req-two-b2", pile_id=b.pile_id, method="wallet"),
    )

    for answer in (at_a, by_provider_at_b, by_wallet_at_b):
        assert answer.status == 201, answer.body
        assert answer.body["order_no"] in executions(machine)
    wallet_a = dcall("GET", "/driver/wallet", token, query={"station_id": a.station_id}).body
    wallet_b = dcall("GET", "/driver/wallet", token, query={"operator_id": b.operator_id}).body
    assert (wallet_a["operator_id"], wallet_a["balance_fen"]) == (a.operator_id, 1_000)
    assert (wallet_b["operator_id"], wallet_b["balance_fen"]) == (b.operator_id, 1_000)
    entries_b = dcall("GET", "/driver/wallet/entries", token, query={"station_id": b.station_id})
    assert [e["transfer_id"] for e in entries_b.body["items"]] == [f"topup:{topup_b}"]

    ledger = balances()
    mine = {aid for aid in ledger if aid.startswith("driver:") and aid.endswith(f":{user_id}")}
    assert mine == {
        driver_wallet_id(a.operator_id, user_id),
        driver_wallet_id(b.operator_id, user_id),
    }
    assert ledger[f"operator:{a.operator_id}:clearing:sandbox"] <= -1_000
    assert ledger[f"operator:{b.operator_id}:clearing:sandbox"] <= -1_000
    assert sum(ledger.values()) == 0
