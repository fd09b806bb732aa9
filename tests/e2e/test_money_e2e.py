"""Operator money on the local stack, with real clients: a card top-up appears in the
transaction list served through the HTTP front (JSON and the CSV file with its BOM, byte
for byte), and the reports function's reconciliation job, invoked through embedded
Lambda, reads the sandbox provider's records and stores a report the API serves."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
import requests

from shared.domain.clock import local_day
from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

PLATFORM_ADMIN = ("platform-admin", "platform-admin-pass")
REPORTS_HANDLER = "functions.reports.handler.lambda_handler"


def _headers(stack: RunningStack) -> dict[str, str]:
    response = requests.post(
        f"{stack.http_url}/operator/auth/login",
        json={"username": PLATFORM_ADMIN[0], "password": PLATFORM_ADMIN[1]},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['id_token']}"}


def _post(stack: RunningStack, path: str, headers: dict[str, str], body: dict[str, Any]) -> Any:
    response = requests.post(f"{stack.http_url}{path}", json=body, headers=headers, timeout=30)
    assert response.status_code in (200, 201), f"{path}: {response.status_code} {response.text}"
    return response.json()


def _invoke_reports(stack: RunningStack, payload: dict[str, Any]) -> dict[str, Any]:
    client = boto3.client(
        "lambda",
        endpoint_url=stack.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    names = [
        function["FunctionName"]
        for page in client.get_paginator("list_functions").paginate()
        for function in page["Functions"]
        if function.get("Handler") == REPORTS_HANDLER
    ]
    assert len(names) == 1, names
    response = client.invoke(FunctionName=names[0], Payload=json.dumps(payload).encode())
    result: dict[str, Any] = json.loads(response["Payload"].read())
    return result


def test_card_top_up_is_listed_exported_and_reconciled(local_stack: RunningStack) -> None:
    headers = _headers(local_stack)
    suffix = uuid.uuid4().hex[:8]
    operator_id = _post(local_stack, "/operator/operators", headers, {"name": f"Money {suffix}"})[
        "operator_id"
    ]
    card_no = f"M{suffix}"
    _post(
        local_stack,
        "/operator/cards",
        headers,
        {
            "operator_id": operator_id,
            "card_no": card_no,
            "holder_name": "韩梅梅",
            "phone": "+8613900000000",
        },
    )
    _post(
        local_stack,
        f"/operator/cards/{card_no}/top-ups",
        headers,
        {"amount_fen": 2_345, "request_id": f"e2e-{suffix}"},
    )
    today = local_day(datetime.now(UTC)).isoformat()
    query = {"operator_id": operator_id, "from": today, "to": today}

    listed = requests.get(
        f"{local_stack.http_url}/operator/transactions", params=query, headers=headers, timeout=30
    )
    exported = requests.get(
        f"{local_stack.http_url}/operator/transactions.csv",
        params=query,
        headers=headers,
        timeout=30,
    )

    assert listed.status_code == 200, listed.text
    (row,) = listed.json()["items"]
    assert (row["account_id"], row["amount_fen"], row["balance_after_fen"]) == (
        f"card:{card_no}",
        2_345,
        2_345,
    )
    assert (row["user_name"], row["phone"], row["type"]) == ("韩梅梅", "+8613900000000", "top_up")
    assert exported.status_code == 200, exported.text
    assert exported.headers["Content-Type"].startswith("text/csv")
    assert exported.content.startswith(b"\xef\xbb\xbf")
    header, line = csv.reader(io.StringIO(exported.content.decode("utf-8-sig"), newline=""))
    assert header[0] == "订单号"
    assert (line[3], line[4], line[7], line[9]) == ("韩梅梅", "'+8613900000000", "充值", "23.45")

    result = _invoke_reports(local_stack, {"job": "daily_reconciliation", "day": today})

    assert result.get("day") == today, result
    report = requests.get(
        f"{local_stack.http_url}/operator/reconciliation/{today}",
        params={"operator_id": operator_id},
        headers=headers,
        timeout=30,
    )
    assert report.status_code == 200, report.text
    body = report.json()
    statuses = {m["method"]: m["status"] for m in body["methods"]}
    assert statuses["sandbox"] == "compared"
    assert body["is_balanced"] is True and body["differences"] == []
