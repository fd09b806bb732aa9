"""Operator money through the operator API's lambda_handler on moto: the transaction list
and its CSV export, admin actions on drivers' wallets with their audit trail, tenancy
(operator A never sees or touches B's money: 404) and bad input (4xx, nothing changed).

One seeded world serves the module (seeding costs seconds): each test that changes money
uses its own drivers, and list tests select their rows by user (``q``)."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from functions.operator_api import wiring
from shared.domain.ledger import TransferDetails, driver_wallet_id, top_up_transfer
from shared.services import wallets
from tests.integration.operator_api_support import (
    PLATFORM_ADMIN,
    LambdaContext,
    Tenant,
    World,
    call,
    http_event,
    seeded_world,
    snapshot,
)

DAY = "2026-11-01"  # the fixed clock: 2026-11-01 02:00 UTC = 10:00 in Shanghai


def open_driver(tenant: Tenant, user_id: str) -> None:
    wallets.open_wallet(
        wiring.ledger(),
        account_id=driver_wallet_id(tenant.operator_id, user_id),
        operator_id=tenant.operator_id,
        owner="",
        clock=wiring.clock,
    )


def driver_top_up(tenant: Tenant, user_id: str, amount_fen: int, request_id: str) -> Any:
    return call(
        "POST",
        f"/operator/drivers/{user_id}/top-ups",
        tenant.admin,
        body={"amount_fen": amount_fen, "request_id": request_id, "reason": "活动赠送"},
    )


def advance(seconds: int = 1) -> None:
    wiring.clock.advance(seconds=seconds)  # type: ignore[attr-defined]


def post_payment(a: Tenant, user: str, order_no: str, details: TransferDetails) -> None:
    advance()
    wiring.ledger().post_transfer(
        top_up_transfer(
            account_id=driver_wallet_id(a.operator_id, user),
            operator_id=a.operator_id,
            amount_fen=400 if order_no == "ORD-A1" else 100,
            reference=f"payment:{order_no}",
            method="wechat",
            actor="notify",
            posted_at=wiring.clock(),
            details=details,
        )
    )


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """A and B seeded (a card each, topped up 100.00); drivers u-a and u-b with 10.00;
    u-a1 paid by WeChat at a pile, topped up and refunded by an admin; u-a5 paid twice at
    piles named only by id (A's, then B's)."""
    with seeded_world() as seeded:
        a, b = seeded.a, seeded.b
        for tenant, user in ((a, "u-a"), (b, "u-b"), (a, "u-a1"), (a, "u-a5")):
            open_driver(tenant, user)
        assert driver_top_up(a, "u-a", 1_000, "req-seed-a1").status == 201
        assert driver_top_up(b, "u-b", 1_000, "req-seed-b1").status == 201
        post_payment(
            a,
            "u-a1",
            "ORD-A1",
            TransferDetails(
                order_no="ORD-A1",
                user_id="u-a1",
                phone="13700000001",
                pile_id=a.pile_id,
                pile_name='=东门, "快充" 1号',
                transaction_type="prepay",
            ),
        )
        advance()
        assert driver_top_up(a, "u-a1", 1_000, "req-a1-0001").status == 201
        advance()
        refund = call(
            "POST",
            "/operator/drivers/u-a1/refunds",
            a.admin,
            body={"amount_fen": 300, "request_id": "ref-a1-0001", "reason": "退回多收"},
        )
        assert refund.status == 201, refund.body
        for order_no, pile_id in (("ORD-A3", a.pile_id), ("ORD-A4", b.pile_id)):
            post_payment(a, "u-a5", order_no, TransferDetails(order_no=order_no, pile_id=pile_id))
        boto3.client("dynamodb").put_item(
            TableName=os.environ["BASE_DATA_TABLE"],
            Item={
                "pk": {"S": "DRIVER#u-a5"},
                "sk": {"S": "PROFILE"},
                "kind": {"S": "driver"},
                "user_id": {"S": "u-a5"},
                "nickname": {"S": "小红"},
                "phone": {"S": "13600000005"},
            },
        )
        yield seeded


def listed(who: dict[str, Any], **query: str) -> list[dict[str, Any]]:
    answer = call("GET", "/operator/transactions", who, query=query)
    assert answer.status == 200, answer.body
    items: list[dict[str, Any]] = answer.body["items"]
    return items


# ---------------------------------------------------------------- transaction list


def test_transactions_are_listed_newest_first_with_user_pile_and_balance(world: World) -> None:
    a = world.a

    rows = listed(a.admin, q="u-a1")
    (card,) = listed(a.admin, q="Li Lei")

    assert [row["type"] for row in rows] == ["admin_refund", "top_up", "prepay"]
    refund, top_up, paid = rows
    assert (refund["amount_fen"], refund["balance_after_fen"]) == (-300, 1_100)
    assert top_up["method"] == "admin" and top_up["balance_after_fen"] == 1_400
    assert paid["order_no"] == "ORD-A1" and paid["pile_id"] == a.pile_id
    assert paid["pile_name"] == '=东门, "快充" 1号' and paid["phone"] == "13700000001"
    assert card["account_id"] == f"card:{a.card_no}"
    assert (card["user_name"], card["phone"]) == ("Li Lei", "13800000000")


def test_transactions_filter_by_type_and_text_and_page(world: World) -> None:
    a = world.a

    by_type = listed(a.admin, q="u-a1", type="top_up,prepay")
    first = call("GET", "/operator/transactions", a.admin, query={"q": "u-a1", "limit": "2"})
    rest = call(
        "GET",
        "/operator/transactions",
        a.admin,
        query={"q": "u-a1", "limit": "2", "next_token": first.body["next_token"]},
    )

    assert [r["type"] for r in by_type] == ["top_up", "prepay"]
    assert [r["order_no"] for r in listed(a.admin, q="东门")] == ["ORD-A1"]
    assert len(first.body["items"]) == 2 and len(rest.body["items"]) == 1
    assert rest.body["next_token"] is None


def test_rows_naming_a_pile_by_id_show_its_current_name(world: World) -> None:
    pile = call("GET", f"/operator/piles/{world.a.pile_id}", world.a.admin).body

    names = {row["order_no"]: row["pile_name"] for row in listed(world.a.admin, q="u-a5")}

    assert names == {"ORD-A3": pile["name"], "ORD-A4": None}  # B's pile is nothing to A


def test_driver_rows_show_the_drivers_nickname_and_phone(world: World) -> None:
    rows = listed(world.a.admin, q="13600000005")

    assert {(r["order_no"], r["user_name"], r["phone"]) for r in rows} == {
        ("ORD-A3", "小红", "13600000005"),
        ("ORD-A4", "小红", "13600000005"),
    }


def test_other_days_are_empty(world: World) -> None:
    assert listed(world.a.admin, **{"from": "2026-10-01", "to": "2026-10-31"}) == []


def test_csv_export_is_excel_ready(world: World) -> None:
    a = world.a

    answer = raw_call("/operator/transactions.csv", a.admin, {"from": DAY, "to": DAY, "q": "u-a1"})
    same = raw_call("/operator/transactions", a.admin, {"format": "csv", "q": "u-a1"})

    assert answer["statusCode"] == 200
    headers = {k.lower(): v for k, v in answer["headers"].items()}
    assert headers["content-type"].startswith("text/csv")
    assert "attachment" in headers["content-disposition"]
    assert not answer.get("isBase64Encoded")
    text = answer["body"]
    assert text == same["body"]
    assert text.startswith("\ufeff订单号,")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    assert len(rows) == 4
    paid = next(row for row in rows if row[0] == "ORD-A1")
    assert paid[5] == '\'=东门, "快充" 1号'  # quoted, and defused against formulas
    assert paid[7] == "预付" and paid[9] == "4.00"
    assert next(row for row in rows if row[7] == "管理员退款")[9] == "-3.00"


def raw_call(path: str, who: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    """The handler's response as is (the support's ``call`` reads bodies as JSON)."""
    from functions.operator_api.handler import lambda_handler

    response: dict[str, Any] = lambda_handler(
        http_event("GET", path, who=who, query=query), LambdaContext()
    )
    return response


# ---------------------------------------------------------------- driver accounts


def test_driver_actions_move_money_once_and_are_audited(world: World) -> None:
    a = world.a
    open_driver(a, "u-a2")

    assert driver_top_up(a, "u-a2", 2_000, "req-a2-0001").status == 201
    advance()
    repeat = driver_top_up(a, "u-a2", 2_000, "req-a2-0001")
    advance()
    frozen = call("POST", "/operator/drivers/u-a2/freeze", a.admin, body={"reason": "可疑"})
    advance()
    refused = driver_top_up(a, "u-a2", 500, "req-a2-0002")
    advance()
    thawed = call("POST", "/operator/drivers/u-a2/unfreeze", a.admin, body={"reason": "ok"})
    advance()
    cancelled = call("POST", "/operator/drivers/u-a2/cancel", a.admin, body={"reason": "注销"})
    audit = call("GET", "/operator/drivers/u-a2/audit", a.admin)
    wallet = call("GET", "/operator/drivers/u-a2/wallet", a.admin)

    assert repeat.status == 201 and repeat.body["balance_fen"] == 2_000
    assert frozen.body["status"] == "frozen"
    assert refused.status == 409 and refused.error["code"] == "wallet_frozen"
    assert thawed.body["status"] == "active"
    assert cancelled.status == 200, cancelled.body
    assert cancelled.body["status"] == "cancelled" and cancelled.body["balance_fen"] == 0
    assert cancelled.body["closure"]["refunded_fen"] == 2_000
    assert wallet.body == cancelled.body
    actions = [(r["action"], r["actor"], r["reason"]) for r in audit.body["items"]]
    assert actions == [
        ("cancel", "admin-a", "注销"),
        ("freeze", "admin-a", "cancel: 注销"),
        ("unfreeze", "admin-a", "ok"),
        ("freeze", "admin-a", "可疑"),
        ("top_up", "admin-a", "活动赠送"),
    ]
    after = call("POST", "/operator/drivers/u-a2/unfreeze", a.admin, body={"reason": "x"})
    assert after.status == 409


def test_audit_pages_newest_first_with_the_ledgers_freeze_records(world: World) -> None:
    a = world.a
    open_driver(a, "u-a3")
    for n in range(3):
        advance()
        assert driver_top_up(a, "u-a3", 100, f"req-a3-000{n}").status == 201
    advance()
    call("POST", "/operator/drivers/u-a3/freeze", a.admin, body={"reason": "check"})

    seen: list[str] = []
    token = None
    for _ in range(5):
        query = {"limit": "2"} | ({"next_token": token} if token else {})
        page = call("GET", "/operator/drivers/u-a3/audit", a.admin, query=query)
        assert page.status == 200, page.body
        seen += [f"{r['action']}:{r['reference']}" for r in page.body["items"]]
        token = page.body["next_token"]
        if token is None:
            break

    assert seen == [
        "freeze:None",
        f"top_up:driver-topup:{a.operator_id}:u-a3:req-a3-0002",
        f"top_up:driver-topup:{a.operator_id}:u-a3:req-a3-0001",
        f"top_up:driver-topup:{a.operator_id}:u-a3:req-a3-0000",
    ]


def test_cancel_waits_for_a_running_charge_then_finishes(world: World) -> None:
    a = world.a
    open_driver(a, "u-a4")
    assert driver_top_up(a, "u-a4", 1_000, "req-a4-0001").status == 201
    wallets.hold(
        wiring.ledger(),
        account_id=driver_wallet_id(a.operator_id, "u-a4"),
        operator_id=a.operator_id,
        amount_fen=400,
        reference="prepay:ORD-A4",
        actor="workflow",
        clock=wiring.clock,
    )
    advance()
    before = snapshot()

    refused = call("POST", "/operator/drivers/u-a4/cancel", a.admin, body={"reason": "leaving"})
    assert refused.status == 409
    assert snapshot() == before
    advance()
    call("POST", "/operator/drivers/u-a4/freeze", a.admin, body={"reason": "leaving soon"})
    wallets.capture_hold(
        wiring.ledger(), hold_id="prepay:ORD-A4", amount_fen=300, actor="wf", clock=wiring.clock
    )
    advance()
    done = call("POST", "/operator/drivers/u-a4/cancel", a.admin, body={"reason": "leaving"})

    assert done.status == 200, done.body
    assert done.body["status"] == "cancelled" and done.body["closure"]["refunded_fen"] == 700
    assert done.body["balance_fen"] == done.body["held_fen"] == 0


def test_platform_admin_acts_on_any_operators_driver(world: World) -> None:
    b = world.b
    open_driver(b, "u-b1")

    body = {"amount_fen": 100, "request_id": "req-root-01", "reason": "补偿", "method": "cash"}
    before = snapshot()
    unnamed = call("POST", "/operator/drivers/u-b1/top-ups", PLATFORM_ADMIN, body=body)
    assert unnamed.status == 422, unnamed.body  # which of the driver's wallets?
    assert snapshot() == before
    answer = call(
        "POST",
        "/operator/drivers/u-b1/top-ups",
        PLATFORM_ADMIN,
        body=body,
        query={"operator_id": b.operator_id},
    )

    assert answer.status == 201, answer.body
    assert answer.body["operator_id"] == b.operator_id
    assert answer.body["account_id"] == driver_wallet_id(b.operator_id, "u-b1")


def _foreign_calls(b: Tenant) -> list[tuple[str, str, Any, dict[str, str] | None]]:
    reason = {"reason": "nope"}
    return [
        ("GET", "/operator/transactions", None, {"operator_id": b.operator_id}),
        ("GET", "/operator/transactions.csv", None, {"operator_id": b.operator_id}),
        ("GET", f"/operator/reconciliation/{DAY}", None, {"operator_id": b.operator_id}),
        ("GET", "/operator/drivers/u-b/wallet", None, None),
        ("GET", "/operator/drivers/u-b/audit", None, None),
        (
            "POST",
            "/operator/drivers/u-b/top-ups",
            {"amount_fen": 1, "request_id": "req-evil-01", "reason": "x"},
            None,
        ),
        (
            "POST",
            "/operator/drivers/u-b/refunds",
            {"amount_fen": 1, "request_id": "req-evil-01", "reason": "x"},
            None,
        ),
        ("POST", "/operator/drivers/u-b/freeze", reason, None),
        ("POST", "/operator/drivers/u-b/unfreeze", reason, None),
        ("POST", "/operator/drivers/u-b/cancel", reason, None),
        ("GET", "/operator/drivers/nobody/wallet", None, None),
    ]


def test_operator_a_cannot_see_or_touch_bs_money(world: World) -> None:
    before = snapshot()

    for method, path, body, query in _foreign_calls(world.b):
        answer = call(method, path, world.a.admin, body=body, query=query)
        assert answer.status == 404, (method, path, answer.body)

    accounts = {row["account_id"] for row in listed(world.a.admin)}
    assert {driver_wallet_id(world.a.operator_id, "u-a"), f"card:{world.a.card_no}"} <= accounts
    assert not accounts & {driver_wallet_id(world.b.operator_id, "u-b"), f"card:{world.b.card_no}"}
    assert snapshot() == before


def test_maintenance_staff_are_refused_money(world: World) -> None:
    before = snapshot()

    for path in ("/operator/transactions", "/operator/drivers/u-a/wallet"):
        assert call("GET", path, world.a.maintenance).status == 403
    answer = call("POST", "/operator/drivers/u-a/freeze", world.a.maintenance, body={"reason": "x"})
    assert answer.status == 403
    assert snapshot() == before


TOP_UP = "/operator/drivers/u-a/top-ups"
GOOD = {"amount_fen": 100, "request_id": "req-bad-0001", "reason": "why"}


@pytest.mark.parametrize(
    ("method", "path", "body", "query", "status"),
    [
        ("GET", "/operator/transactions", None, {"from": "2026-13-01"}, 422),
        ("GET", "/operator/transactions", None, {"from": "yesterday"}, 422),
        ("GET", "/operator/transactions", None, {"from": "2026-11-02", "to": "2026-11-01"}, 422),
        ("GET", "/operator/transactions", None, {"from": "2026-01-01", "to": "2026-11-01"}, 422),
        ("GET", "/operator/transactions", None, {"type": "gift"}, 422),
        ("GET", "/operator/transactions", None, {"type": "DROP TABLE"}, 422),
        ("GET", "/operator/transactions", None, {"limit": "0"}, 422),
        ("GET", "/operator/transactions", None, {"limit": "101"}, 422),
        ("GET", "/operator/transactions", None, {"next_token": "garbage"}, 422),
        ("GET", "/operator/transactions", None, {"format": "xlsx"}, 422),
        ("GET", "/operator/transactions", None, {"q": "x" * 65}, 422),
        ("GET", "/operator/transactions", None, {"sort": "asc"}, 422),
        ("GET", "/operator/reconciliation/2026-02-30", None, None, 422),
        ("GET", "/operator/reconciliation/tomorrow", None, None, 422),
        ("GET", "/operator/reconciliation/2026-10-31", None, None, 404),
        ("GET", "/operator/drivers/u-a/audit", None, {"next_token": "garbage"}, 422),
        ("POST", TOP_UP, {**GOOD, "amount_fen": 0}, None, 422),
        ("POST", TOP_UP, {**GOOD, "amount_fen": -100}, None, 422),
        ("POST", TOP_UP, {**GOOD, "amount_fen": 1.5}, None, 422),
        ("POST", TOP_UP, {**GOOD, "amount_fen": "100"}, None, 422),
        ("POST", TOP_UP, {**GOOD, "amount_fen": 5_000_001}, None, 422),
        ("POST", TOP_UP, {**GOOD, "request_id": "short"}, None, 422),
        ("POST", TOP_UP, {**GOOD, "reason": ""}, None, 422),
        ("POST", TOP_UP, {**GOOD, "reason": " "}, None, 422),
        ("POST", TOP_UP, {**GOOD, "method": "wechat"}, None, 422),
        ("POST", TOP_UP, {**GOOD, "extra": 1}, None, 422),
        ("POST", TOP_UP, {"amount_fen": 100, "request_id": "req-bad-0001"}, None, 422),
        ("POST", TOP_UP, "not json", None, 400),
        ("POST", TOP_UP, {**GOOD, "request_id": "req-seed-a1"}, None, 409),
        ("POST", "/operator/drivers/u-a/refunds", {**GOOD, "amount_fen": 999_999}, None, 409),
        ("POST", "/operator/drivers/u-a/freeze", {}, None, 422),
        ("POST", "/operator/drivers/u-a/cancel", {"reason": "x" * 201}, None, 422),
        ("POST", "/operator/drivers/a%20b/freeze", {"reason": "x"}, None, 404),
        ("DELETE", "/operator/drivers/u-a/wallet", None, None, 405),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    world: World,
    method: str,
    path: str,
    body: Any,
    query: dict[str, str] | None,
    status: int,
) -> None:
    # A GET writes nothing by construction: the tables are compared around writes only.
    before = snapshot() if method != "GET" else None

    if isinstance(body, str):
        answer = call(method, path, world.a.admin, raw_body=body, query=query)
    else:
        answer = call(method, path, world.a.admin, body=body, query=query)

    assert answer.status == status, answer.body
    assert "error" in answer.body
    if before is not None:
        assert snapshot() == before


def test_platform_admin_must_name_the_operator_of_a_list(world: World) -> None:
    answer = call("GET", "/operator/transactions", PLATFORM_ADMIN)
    named = call(
        "GET", "/operator/transactions", PLATFORM_ADMIN, query={"operator_id": world.b.operator_id}
    )

    assert answer.status == 422
    accounts = {row["account_id"] for row in named.body["items"]}
    assert {driver_wallet_id(world.b.operator_id, "u-b"), f"card:{world.b.card_no}"} <= accounts
    assert not accounts & {driver_wallet_id(world.a.operator_id, "u-a"), f"card:{world.a.card_no}"}


def test_the_openapi_document_lists_the_money_routes(world: World) -> None:
    document = call("GET", "/openapi/operator.json", None).body

    for path in (
        "/operator/transactions",
        "/operator/transactions.csv",
        "/operator/reconciliation/{day}",
        "/operator/drivers/{user_id}/wallet",
        "/operator/drivers/{user_id}/audit",
        "/operator/drivers/{user_id}/cancel",
    ):
        assert path in document["paths"], path
    parameters = document["paths"]["/operator/transactions"]["get"]["parameters"]
    assert {"from", "to", "type", "q", "next_token", "format"} <= {p["name"] for p in parameters}
