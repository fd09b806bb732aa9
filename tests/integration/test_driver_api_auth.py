"""Driver sign-in and the token on moto through the handler: accounts created once per
openid, every route refuses no/expired/forged tokens with 401 and changes nothing."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import jwt
import pytest

from tests.conftest import FixedClock
from tests.integration.operator_api_support import api
from tests.integration.test_driver_api_support import (
    SIGNING_KEY,
    dcall,
    driver_api,
    sign_in,
    snapshot,
)

__all__ = ["api", "driver_api"]

PROTECTED = [
    ("GET", "/driver/me"),
    ("PATCH", "/driver/me"),
]


def test_first_sign_in_creates_the_account_and_later_ones_find_it(driver_api: FixedClock) -> None:
    first = dcall("POST", "/driver/auth/login", body={"app": "wechat", "code": "sandbox:li"})
    again = dcall("POST", "/driver/auth/login", body={"app": "wechat", "code": "sandbox:li"})
    other = dcall("POST", "/driver/auth/login", body={"app": "alipay", "code": "sandbox:wang"})

    assert first.status == 200, first.body
    assert first.body["is_new"] is True
    assert again.body["is_new"] is False
    assert again.body["user_id"] == first.body["user_id"]
    assert other.body["user_id"] != first.body["user_id"]
    assert first.body["expires_at"] == "2026-11-01T04:00:00.000Z"
    me = dcall("GET", "/driver/me", first.body["token"])
    assert me.status == 200
    assert me.body == {
        "user_id": first.body["user_id"],
        "created_at": "2026-11-01T02:00:00.000Z",
        "apps": ["wechat"],
        "phone": None,
        "nickname": None,
        "consumption_wh_per_km": None,
    }
    assert "sandbox-li" not in json.dumps(me.body)  # the openid never goes back


def test_profile_changes_and_clears_when_patched(driver_api: FixedClock) -> None:
    token = sign_in("li")

    changed = dcall(
        "PATCH",
        "/driver/me",
        token,
        body={"phone": "13800138000", "nickname": "Li", "consumption_wh_per_km": 160},
    )
    cleared = dcall("PATCH", "/driver/me", token, body={"nickname": None})

    assert changed.status == 200, changed.body
    assert changed.body["phone"] == "13800138000"
    assert changed.body["consumption_wh_per_km"] == 160
    assert cleared.body["nickname"] is None
    assert cleared.body["phone"] == "13800138000"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"app": "wechat", "code": "not-a-sandbox-code"}, 401),
        ({"app": "qq", "code": "sandbox:li"}, 422),
        ({"app": "wechat"}, 422),
        ({"app": "wechat", "code": ""}, 422),
        ({"app": "wechat", "code": "sandbox:li", "extra": 1}, 422),
    ],
)
def test_sign_in_is_refused_and_nothing_stored_when_the_code_or_body_is_bad(
    driver_api: FixedClock, body: dict[str, Any], status: int
) -> None:
    before = snapshot()

    answer = dcall("POST", "/driver/auth/login", body=body)

    assert answer.status == status, answer.body
    assert snapshot() == before


def test_sign_in_is_400_when_the_body_is_not_json(driver_api: FixedClock) -> None:
    answer = dcall("POST", "/driver/auth/login", raw_body="{not json")
    assert answer.status == 400
    assert answer.error["code"] == "malformed_request"


def _forged(claims: dict[str, Any], key: str = "x" * 64, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def _claims(user_id: str, **overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": "charging-cloud/driver-api",
        "aud": "driver-mini-program",
        "sub": user_id,
        "app": "wechat",
        "iat": 1_793_498_400,
        "exp": 1_793_498_400 + 7200,
    }
    claims.update(overrides)
    return claims


def _unsigned(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_protected_route_is_401_and_changes_nothing_when_the_token_is_bad(
    driver_api: FixedClock, method: str, path: str
) -> None:
    token = sign_in("li")
    user_id = dcall("GET", "/driver/me", token).body["user_id"]
    driver_api.advance(hours=2, seconds=31)
    before = snapshot()
    bad_tokens = [
        None,
        token,  # expired
        _forged(_claims(user_id)),  # another key
        _forged(_claims(user_id), key=SIGNING_KEY, algorithm="HS512"),  # another algorithm
        _forged(_claims(user_id, aud="someone-else"), key=SIGNING_KEY),
        _forged(_claims(user_id, iss="someone-else"), key=SIGNING_KEY),
        _unsigned(_claims(user_id)),
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # altered signature
        "not-a-token",
    ]

    for bad in bad_tokens:
        answer = dcall(method, path, bad, body={"nickname": "Mallory"})
        assert answer.status == 401, (bad, answer.body)
        assert answer.error["code"] == "unauthenticated"
        assert user_id not in json.dumps(answer.body)
    assert snapshot() == before


def test_a_token_is_refused_with_another_scheme_or_none(driver_api: FixedClock) -> None:
    token = sign_in("li")
    basic = dcall("GET", "/driver/me", headers={"authorization": f"Basic {token}"})
    empty = dcall("GET", "/driver/me", headers={"authorization": "Bearer "})
    assert (basic.status, empty.status) == (401, 401)


def test_a_token_is_still_good_just_before_it_expires(driver_api: FixedClock) -> None:
    token = sign_in("li")
    driver_api.advance(hours=1, minutes=59)
    assert dcall("GET", "/driver/me", token).status == 200
    driver_api.advance(minutes=2)
    assert dcall("GET", "/driver/me", token).status == 401


def test_a_token_issued_in_the_future_is_refused(driver_api: FixedClock) -> None:
    token = sign_in("li")
    user_id = dcall("GET", "/driver/me", token).body["user_id"]
    future = int((driver_api.now + timedelta(minutes=10)).timestamp())
    early = _forged(_claims(user_id, iat=future, exp=future + 7200), key=SIGNING_KEY)
    assert dcall("GET", "/driver/me", early).status == 401


def test_the_openapi_document_is_served_without_a_token(driver_api: FixedClock) -> None:
    answer = dcall("GET", "/openapi/driver.json")
    assert answer.status == 200
    assert answer.body["info"]["title"] == "Charging cloud driver API"
    assert answer.body["paths"]["/driver/auth/login"]["post"]["security"] == []
    assert answer.body["security"] == [{"driverToken": []}]
