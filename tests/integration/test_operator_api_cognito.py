"""Sign-in and staff logins against moto's Cognito, with the user pool built from the
template's own settings (custom:operator_id, password policy, role groups, app client)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import jwt
import pytest

from functions.operator_api import wiring
from infra.template import load_template
from shared.adapters.cognito import CognitoStaffDirectory
from shared.domain.errors import Conflict, InvalidInput
from shared.domain.tenancy import Role
from shared.http_api import principal_from_claims
from tests.integration.operator_api_support import call


def _resolve(value: Any) -> Any:
    """Template values without intrinsics (the pool name is the only !Sub we meet)."""
    return "test-operators" if isinstance(value, dict) else value


@pytest.fixture
def cognito(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    resources = load_template()["Resources"]
    pool_props = resources["UserPool"]["Properties"]
    client = boto3.client("cognito-idp")
    pool_id = client.create_user_pool(
        PoolName=_resolve(pool_props["UserPoolName"]),
        Policies=pool_props["Policies"],
        Schema=[
            {**attribute, "AttributeDataType": attribute["AttributeDataType"]}
            for attribute in pool_props["Schema"]
        ],
        AdminCreateUserConfig=pool_props["AdminCreateUserConfig"],
        UsernameConfiguration=pool_props["UsernameConfiguration"],
    )["UserPool"]["Id"]
    for resource in resources.values():
        if resource["Type"] == "AWS::Cognito::UserPoolGroup":
            client.create_group(UserPoolId=pool_id, GroupName=resource["Properties"]["GroupName"])
    client_props = resources["OperatorDashboardClient"]["Properties"]
    client_id = client.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=client_props["ClientName"],
        GenerateSecret=client_props["GenerateSecret"],
        ExplicitAuthFlows=client_props["ExplicitAuthFlows"],
        ReadAttributes=client_props["ReadAttributes"],
    )["UserPoolClient"]["ClientId"]
    monkeypatch.setenv("USER_POOL_ID", pool_id)
    monkeypatch.setenv("USER_POOL_CLIENT_ID", client_id)
    wiring.reset()
    yield {"pool_id": pool_id, "client_id": client_id}
    wiring.reset()


def _make_platform_admin(pool_id: str) -> None:
    client = boto3.client("cognito-idp")
    client.admin_create_user(UserPoolId=pool_id, Username="root", MessageAction="SUPPRESS")
    client.admin_set_user_password(
        UserPoolId=pool_id, Username="root", Password="Root-Password-1", Permanent=True
    )
    client.admin_add_user_to_group(UserPoolId=pool_id, Username="root", GroupName="platform-admin")


def _claims_of(id_token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(id_token, options={"verify_signature": False})
    return claims


def test_staff_login_made_through_the_api_signs_in_with_its_operator_and_role(cognito):
    _make_platform_admin(cognito["pool_id"])
    login = call(
        "POST",
        "/operator/auth/login",
        who=None,
        body={"username": "root", "password": "Root-Password-1"},
    )
    assert login.status == 200, login.body
    root = _claims_of(login.body["id_token"])
    assert principal_from_claims(root).role is Role.PLATFORM_ADMIN

    operator = call("POST", "/operator/operators", root, body={"name": "Operator A"})
    operator_id = operator.body["operator_id"]
    made = call(
        "POST",
        f"/operator/operators/{operator_id}/staff",
        root,
        body={"username": "admin-a", "password": "Admin-Password-1", "role": "operator-admin"},
    )
    assert made.status == 201, made.body

    staff_login = call(
        "POST",
        "/operator/auth/login",
        who=None,
        body={"username": "admin-a", "password": "Admin-Password-1"},
    )
    assert staff_login.status == 200
    claims = _claims_of(staff_login.body["id_token"])
    assert claims["custom:operator_id"] == operator_id
    principal = principal_from_claims(claims)
    assert (principal.role, principal.operator_id) == (Role.OPERATOR_ADMIN, operator_id)
    me = call("GET", "/operator/me", claims)
    assert me.body == {"username": "admin-a", "role": "operator-admin", "operator_id": operator_id}

    refreshed = call(
        "POST",
        "/operator/auth/refresh",
        who=None,
        body={"refresh_token": staff_login.body["refresh_token"]},
    )
    assert (
        refreshed.status == 200
        and _claims_of(refreshed.body["id_token"])["cognito:username"] == "admin-a"
    )


def test_login_refuses_alike_when_the_user_is_unknown_or_the_password_wrong(cognito):
    _make_platform_admin(cognito["pool_id"])
    wrong = call(
        "POST", "/operator/auth/login", who=None, body={"username": "root", "password": "nope"}
    )
    unknown = call(
        "POST", "/operator/auth/login", who=None, body={"username": "ghost", "password": "nope"}
    )
    assert wrong.status == unknown.status == 401
    assert wrong.body == unknown.body
    bad_refresh = call("POST", "/operator/auth/refresh", who=None, body={"refresh_token": "forged"})
    assert bad_refresh.status == 401


def test_staff_login_is_not_left_half_made_when_the_pool_refuses_the_password(cognito):
    client = boto3.client("cognito-idp")
    strict_pool = client.create_user_pool(
        PoolName="strict",
        Policies={
            "PasswordPolicy": {
                "MinimumLength": 12,
                "RequireUppercase": True,
                "RequireLowercase": True,
                "RequireNumbers": True,
                "RequireSymbols": False,
            }
        },
        Schema=[{"Name": "operator_id", "AttributeDataType": "String", "Mutable": True}],
    )["UserPool"]["Id"]
    client.create_group(UserPoolId=strict_pool, GroupName="maintenance")
    directory = CognitoStaffDirectory(strict_pool, cognito["client_id"])
    with pytest.raises(InvalidInput) as refused:
        directory.create_user("weak", "all-lowercase-words", Role.MAINTENANCE, "op-" + "1" * 20)
    assert refused.value.fields["field"] == "password"
    assert client.list_users(UserPoolId=strict_pool)["Users"] == []
    directory.create_user("strong", "Strong-Password-1", Role.MAINTENANCE, "op-" + "1" * 20)
    with pytest.raises(Conflict):
        directory.create_user("strong", "Strong-Password-1", Role.MAINTENANCE, "op-" + "1" * 20)
    groups = client.admin_list_groups_for_user(UserPoolId=strict_pool, Username="strong")
    assert [group["GroupName"] for group in groups["Groups"]] == ["maintenance"]
