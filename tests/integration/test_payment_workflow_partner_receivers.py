"""Partner receiver accounts on the station routes through real storage (moto): stored,
returned, changed and cleared; bad input answered 4xx with the tables unchanged. The
workflow's share with them is in ``test_payment_workflow_partner_share.py``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer

from tests.integration import operator_api_support as support
from tests.integration.operator_api_support import (
    World,
    call,
    seeded_world,
    snapshot,
    station_body,
)

api = support.api
tenants = support.tenants

MERCHANT = {"type": "MERCHANT_ID", "account": "1900000109", "name": "Riverside Property Co."}
OPENID = {"type": "PERSONAL_OPENID", "account": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}
ALIPAY_USER = "2088101122136241"


def _station_item(aws: dict[str, str], station_id: str) -> dict[str, Any]:
    raw = (
        boto3.client("dynamodb")
        .get_item(
            TableName=aws["BASE_DATA_TABLE"],
            Key={"pk": {"S": f"STATION#{station_id}"}, "sk": {"S": "STATION"}},
        )
        .get("Item")
    )
    assert raw is not None
    return {key: TypeDeserializer().deserialize(value) for key, value in raw.items()}


# ---------------------------------------------------------------- the station routes


def test_station_receivers_are_stored_returned_changed_and_cleared(api, tenants, aws):
    a, _ = tenants
    made = call(
        "POST",
        "/operator/stations",
        a.admin,
        body=station_body(partner_wechat_receiver=MERCHANT, partner_alipay_account=ALIPAY_USER),
    )
    assert made.status == 201, made.body
    station_id = made.body["station_id"]
    assert made.body["partner_wechat_receiver"] == MERCHANT
    assert made.body["partner_alipay_account"] == ALIPAY_USER
    item = _station_item(aws, station_id)
    assert item["partner_wechat_receiver"] == MERCHANT
    assert item["partner_alipay_account"] == ALIPAY_USER

    read = call("GET", f"/operator/stations/{station_id}", a.admin)
    assert read.status == 200
    assert read.body["partner_wechat_receiver"] == MERCHANT

    changed = call(
        "PATCH",
        f"/operator/stations/{station_id}",
        a.admin,
        body={"partner_wechat_receiver": OPENID, "partner_alipay_account": "13800138000"},
    )
    assert changed.status == 200, changed.body
    assert changed.body["partner_wechat_receiver"] == {**OPENID, "name": None}
    assert changed.body["partner_alipay_account"] == "13800138000"
    assert _station_item(aws, station_id)["partner_wechat_receiver"] == OPENID

    renamed = call("PATCH", f"/operator/stations/{station_id}", a.admin, body={"name": "New"})
    assert renamed.body["partner_wechat_receiver"] == {**OPENID, "name": None}

    cleared = call(
        "PATCH",
        f"/operator/stations/{station_id}",
        a.admin,
        body={"partner_wechat_receiver": None, "partner_alipay_account": None},
    )
    assert cleared.status == 200
    assert cleared.body["partner_wechat_receiver"] is None
    assert cleared.body["partner_alipay_account"] is None
    item = _station_item(aws, station_id)
    assert "partner_wechat_receiver" not in item and "partner_alipay_account" not in item


def test_station_without_receivers_answers_them_as_null(api, tenants):
    a, _ = tenants
    read = call("GET", f"/operator/stations/{a.station_id}", a.admin)
    assert read.body["partner_wechat_receiver"] is None
    assert read.body["partner_alipay_account"] is None


BAD_RECEIVERS = [
    ({"partner_wechat_receiver": {"type": "MERCHANT", "account": "1900000109"}}, "type"),
    (
        {
            "partner_wechat_receiver": {
                "type": "MERCHANT_ID",
                "account": "19000A0109",
                "name": "Riverside",
            }
        },
        "account",
    ),
    ({"partner_wechat_receiver": {"type": "PERSONAL_OPENID", "account": "190000010"}}, "account"),
    ({"partner_wechat_receiver": {"type": "MERCHANT_ID", "account": 1900000109}}, "account"),
    ({"partner_wechat_receiver": {"type": "MERCHANT_ID"}}, "account"),
    ({"partner_wechat_receiver": {"type": "MERCHANT_ID", "account": "1900000109"}}, "name"),
    (
        {"partner_wechat_receiver": {"type": "MERCHANT_ID", "account": "1900000109", "x": 1}},
        "x",
    ),
    ({"partner_wechat_receiver": {**MERCHANT, "name": "  "}}, "name"),
    ({"partner_wechat_receiver": "1900000109"}, "partner_wechat_receiver"),
    ({"partner_alipay_account": "alipay-user"}, "partner_alipay_account"),
    ({"partner_alipay_account": "2088" + "1" * 13}, "partner_alipay_account"),
    ({"partner_alipay_account": "x" * 101}, "partner_alipay_account"),
    ({"partner_alipay_account": 2088101122136241}, "partner_alipay_account"),
]


@pytest.fixture(scope="module")
def refusing_world() -> Iterator[World]:
    with seeded_world() as seeded:
        yield seeded


@pytest.mark.parametrize(("change", "named"), BAD_RECEIVERS)
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_bad_receiver_is_refused_with_4xx_and_changes_nothing(
    refusing_world: World, method: str, change: dict[str, Any], named: str
) -> None:
    a = refusing_world.a
    before = snapshot()
    if method == "POST":
        answer = call("POST", "/operator/stations", a.admin, body=station_body(**change))
    else:
        answer = call("PATCH", f"/operator/stations/{a.station_id}", a.admin, body=change)
    # 422: the body's shape (pydantic); 400: a domain rule (the account's form per type).
    assert answer.status in (400, 422), answer.body
    assert named in str(answer.body["error"])
    assert snapshot() == before
