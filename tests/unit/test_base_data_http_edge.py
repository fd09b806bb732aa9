"""The shared HTTP edge: error statuses by class, claims to Principal, body parsing, and the
committed OpenAPI document staying in step with the routes and models."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from pydantic import ValidationError

from functions.operator_api.models import StationCreate, StationPatch, TopUpBody
from infra.openapi import OPERATOR_DOCUMENT, render, stale_documents
from shared.domain.errors import (
    ChargingError,
    Conflict,
    FeatureUnavailable,
    Forbidden,
    InsufficientBalance,
    InvalidInput,
    NotFound,
    Unauthenticated,
    UpstreamFailure,
    WalletFrozen,
)
from shared.domain.tenancy import Role
from shared.http_api import (
    MAX_BODY_BYTES,
    MalformedRequest,
    MethodNotAllowed,
    PayloadTooLarge,
    parse_body,
    principal_from_claims,
    response_for_error,
    response_for_validation,
    status_of,
)


def _event(body: str | None, *, is_base64: bool = False) -> APIGatewayProxyEventV2:
    return APIGatewayProxyEventV2(
        {
            "version": "2.0",
            "rawPath": "/",
            "requestContext": {"http": {"method": "POST"}},
            "body": body,
            "isBase64Encoded": is_base64,
        }
    )


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (MalformedRequest("x"), 400),
        (InvalidInput("x"), 422),
        (Unauthenticated("x"), 401),
        (Forbidden("x"), 403),
        (NotFound("x"), 404),
        (MethodNotAllowed("x"), 405),
        (Conflict("x"), 409),
        (InsufficientBalance("x"), 409),
        (WalletFrozen("x"), 409),
        (PayloadTooLarge("x"), 413),
        (FeatureUnavailable("x"), 501),
        (UpstreamFailure("x"), 502),
        (ChargingError("x"), 400),
    ],
)
def test_each_error_class_has_its_status_when_mapped(error, status):
    assert status_of(error) == status
    response = response_for_error(error)
    assert response.status_code == status
    assert response.body == {"error": {"code": error.code, "message": "x", "details": {}}}


def test_error_details_carry_only_public_fields_when_mapped():
    error = Conflict("card holds money", card_no="C-1", balance_fen=300, phone="138")
    body: Any = response_for_error(error).body
    assert body["error"]["details"] == {"balance_fen": 300}


def test_validation_errors_name_paths_and_never_echo_values_when_mapped():
    with pytest.raises(ValidationError) as caught:
        TopUpBody.model_validate_json(
            '{"amount_fen": "100", "request_id": "secret-value-123", "x": 1}'
        )
    body: Any = response_for_validation(caught.value).body
    paths = [problem["path"] for problem in body["error"]["details"]["errors"]]
    assert sorted(paths) == ["amount_fen", "x"]
    assert "secret-value" not in json.dumps(body)
    assert body["error"]["message"].startswith(f"{paths[0]}: ")


def test_strict_models_refuse_coercion_and_nulls_when_parsing():
    valid = {
        "name": "S",
        "address": "A",
        "lat": 31,
        "lng": 121.5,
        "transformer_capacity_kva": 630,
        "partner_share_bp": 5000,
    }
    assert StationCreate.model_validate_json(json.dumps(valid)).lat == 31.0
    for field, value in [
        ("transformer_capacity_kva", "630"),
        ("partner_share_bp", 50.0),
        ("name", 5),
        ("lat", True),
    ]:
        with pytest.raises(ValidationError):
            StationCreate.model_validate_json(json.dumps({**valid, field: value}))
    assert StationPatch.model_validate_json('{"tariff_id": null}').changes() == {"tariff_id": None}
    for text in ('{"name": null}', "{}"):
        with pytest.raises(ValidationError):
            StationPatch.model_validate_json(text)


def test_bodies_are_read_with_base64_and_size_limits_when_parsed():
    body = json.dumps({"amount_fen": 5, "request_id": "request-0001"})
    encoded = base64.b64encode(body.encode()).decode()
    assert parse_body(_event(encoded, is_base64=True), TopUpBody).amount_fen == 5
    with pytest.raises(PayloadTooLarge):
        parse_body(_event("x" * (MAX_BODY_BYTES + 1)), TopUpBody)
    with pytest.raises(MalformedRequest, match="not valid JSON"):
        parse_body(_event("{"), TopUpBody)
    with pytest.raises(MalformedRequest, match="JSON object"):
        parse_body(_event("  "), TopUpBody)
    with pytest.raises(MalformedRequest, match="UTF-8"):
        parse_body(_event(base64.b64encode(b"\xff\xfe").decode(), is_base64=True), TopUpBody)


@pytest.mark.parametrize(
    ("groups", "role"),
    [
        ("[maintenance]", Role.MAINTENANCE),
        ("[maintenance operator-admin]", Role.OPERATOR_ADMIN),
        (["operator-admin", "platform-admin"], Role.PLATFORM_ADMIN),
        ("platform-admin", Role.PLATFORM_ADMIN),
    ],
)
def test_claims_give_the_strongest_role_when_groups_come_as_list_or_string(groups, role):
    claims = {
        "cognito:username": "u",
        "cognito:groups": groups,
        "token_use": "id",
        "custom:operator_id": "op-" + "1" * 20,
    }
    principal = principal_from_claims(claims)
    assert principal.role is role
    assert principal.operator_id == (None if role is Role.PLATFORM_ADMIN else "op-" + "1" * 20)


@pytest.mark.parametrize(
    ("claims", "error"),
    [
        (None, Unauthenticated),
        ({}, Unauthenticated),
        (
            {"cognito:username": "u", "cognito:groups": "[maintenance]", "token_use": "access"},
            Unauthenticated,
        ),
        ({"cognito:groups": "[maintenance]"}, Unauthenticated),
        ({"cognito:username": "u", "cognito:groups": "[drivers]"}, Forbidden),
        ({"cognito:username": "u", "cognito:groups": "[maintenance]"}, Forbidden),
    ],
)
def test_claims_are_refused_when_they_name_no_usable_staff_member(claims, error):
    with pytest.raises(error):
        principal_from_claims(claims)


def test_committed_openapi_document_is_current_when_the_code_changes():
    assert stale_documents() == [], "run: python -m infra.openapi"
    document = json.loads(OPERATOR_DOCUMENT.read_text(encoding="utf-8"))
    assert render(document) == OPERATOR_DOCUMENT.read_text(encoding="utf-8")
    public = {
        path
        for path, ops in document["paths"].items()
        if any(op.get("security") == [] for op in ops.values())
    }
    assert public == {
        "/health",
        "/openapi/operator.json",
        "/operator/auth/login",
        "/operator/auth/refresh",
    }
