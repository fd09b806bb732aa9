"""The apps' identity exchanges over real local HTTP: WeChat code2session (a stub of
api.weixin.qq.com) and Alipay oauth.token (a stub gateway that checks the app's RSA2
signature and signs its answers): the openid of a good code, 401 for a refused code, 502
when the app fails or its answer is forged; and sign-in through the handler with the
credentials read from the secrets (no sandbox)."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from functions.driver_api import wiring
from shared.adapters import driver_login
from shared.adapters.driver_login import AlipayOAuthToken, WeChatCode2Session
from shared.domain.drivers import LoginApp
from shared.domain.errors import FeatureUnavailable, Unauthenticated, UpstreamFailure
from tests.integration.operator_api_support import api
from tests.integration.test_driver_api_support import SIGNING_KEY, dcall, driver_api
from tests.unit.test_payment_providers_support import (
    alipay_config,
    alipay_sign_string,
    rsa_key,
    sign,
    verify,
)

__all__ = ["api", "driver_api"]

ANSWERS: dict[str, Any] = {
    "good": {"openid": "oWx-0001", "session_key": "never-leaves"},
    "used": {"errcode": 40163, "errmsg": "code been used"},
    "invalid": {"errcode": 40029, "errmsg": "invalid code"},
    "busy": {"errcode": -1, "errmsg": "system error"},
    "no-openid": {"session_key": "x"},
}


class WeChatStub:
    def __init__(self) -> None:
        self.queries: list[dict[str, list[str]]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                stub.queries.append(query)
                code = query.get("js_code", [""])[0]
                body = b"<html>oops" if code == "broken" else json.dumps(ANSWERS[code]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sns/jscode2session"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def wechat() -> Iterator[WeChatStub]:
    stub = WeChatStub()
    yield stub
    stub.close()


def test_a_good_code_gives_the_openid_and_sends_the_apps_credentials(wechat: WeChatStub) -> None:
    exchange = WeChatCode2Session("wx-app", "app-secret", url=wechat.url)

    assert exchange.openid(LoginApp.WECHAT, "good") == "oWx-0001"
    [query] = wechat.queries
    assert query == {
        "appid": ["wx-app"],
        "secret": ["app-secret"],
        "js_code": ["good"],
        "grant_type": ["authorization_code"],
    }


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("used", Unauthenticated),
        ("invalid", Unauthenticated),
        ("busy", UpstreamFailure),
        ("no-openid", UpstreamFailure),
        ("broken", UpstreamFailure),
    ],
)
def test_a_refused_or_failed_exchange_raises_its_error(
    wechat: WeChatStub, code: str, error: type
) -> None:
    with pytest.raises(error):
        WeChatCode2Session("wx-app", "s", url=wechat.url).openid(LoginApp.WECHAT, code)


def test_an_unreachable_wechat_is_an_upstream_failure() -> None:
    exchange = WeChatCode2Session("wx-app", "s", url="http://127.0.0.1:9/sns", timeout_s=1.0)
    with pytest.raises(UpstreamFailure):
        exchange.openid(LoginApp.WECHAT, "good")


def test_the_wechat_exchange_signs_in_wechat_users_only() -> None:
    with pytest.raises(FeatureUnavailable):
        WeChatCode2Session("wx-app", "s").openid(LoginApp.ALIPAY, "good")


def test_sign_in_uses_code2session_with_the_secrets_app_credentials(
    driver_api: Any, wechat: WeChatStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = boto3.client("secretsmanager").create_secret(
        Name="test/driver/with-wechat",
        SecretString=json.dumps(
            {"signing_key": SIGNING_KEY, "wechat_appid": "wx-app", "wechat_app_secret": "s3"}
        ),
    )
    monkeypatch.setenv("DRIVER_AUTH_SECRET_ID", secret["ARN"])
    monkeypatch.delenv("DRIVER_LOGIN_SANDBOX")
    monkeypatch.setattr(driver_login, "WECHAT_CODE2SESSION_URL", wechat.url)
    wiring.reset()

    signed = dcall("POST", "/driver/auth/login", body={"app": "wechat", "code": "good"})
    refused = dcall("POST", "/driver/auth/login", body={"app": "wechat", "code": "used"})
    sandbox = dcall("POST", "/driver/auth/login", body={"app": "wechat", "code": "sandbox:x"})
    alipay = dcall("POST", "/driver/auth/login", body={"app": "alipay", "code": "good"})

    assert signed.status == 200, signed.body
    assert "never-leaves" not in json.dumps(signed.body)
    assert dcall("GET", "/driver/me", signed.body["token"]).status == 200
    assert refused.status == 401
    assert sandbox.status == 502  # no sandbox here: WeChat has no answer for that code
    assert alipay.status == 501


# --- Alipay ---------------------------------------------------------------------------------


class AlipayStub:
    """A stub of Alipay's gateway: checks the app's RSA2 signature on the request and signs
    its answer with the platform key, as Alipay does."""

    def __init__(self) -> None:
        self.methods: list[str] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fields = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                signature = fields.pop("sign")
                assert verify(rsa_key("alipay-app"), alipay_sign_string(fields).encode(), signature)
                stub.methods.append(fields["method"])
                code = fields["code"]
                key = "alipay_system_oauth_token_response"
                if code == "good":
                    text = json.dumps({"open_id": "074a-open", "access_token": "never-leaves"})
                    signature = sign(rsa_key("alipay-platform"), text.encode())
                    raw = f'{{"{key}":{text},"sign":"{signature}"}}'
                elif code == "forged":
                    text = json.dumps({"open_id": "mallory"})
                    raw = f'{{"{key}":{text},"sign":"{sign(rsa_key("other"), text.encode())}"}}'
                else:
                    error = {"code": "40002" if code == "used" else "20000", "msg": "x"}
                    raw = json.dumps({"error_response": error, "sign": ""})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(raw.encode())

            def log_message(self, *_: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/gateway.do"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def alipay() -> Iterator[AlipayStub]:
    stub = AlipayStub()
    yield stub
    stub.close()


def test_an_alipay_auth_code_gives_the_open_id_over_signed_http(alipay: AlipayStub) -> None:
    exchange = AlipayOAuthToken(alipay_config(), gateway=alipay.url)

    assert exchange.openid(LoginApp.ALIPAY, "good") == "074a-open"
    assert alipay.methods == ["alipay.system.oauth.token"]


@pytest.mark.parametrize(
    ("code", "error"),
    [("used", Unauthenticated), ("down", UpstreamFailure), ("forged", UpstreamFailure)],
)
def test_a_refused_failed_or_forged_alipay_answer_raises_its_error(
    alipay: AlipayStub, code: str, error: type
) -> None:
    with pytest.raises(error):
        AlipayOAuthToken(alipay_config(), gateway=alipay.url).openid(LoginApp.ALIPAY, code)


def test_sign_in_from_alipay_uses_the_alipay_secret(
    driver_api: Any, alipay: AlipayStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = alipay_config()
    secret = boto3.client("secretsmanager").create_secret(
        Name="test/payments/alipay",
        SecretString=json.dumps(
            {
                "app_id": config.app_id,
                "app_private_key": config.app_private_key,
                "alipay_public_key": config.alipay_public_key,
                "seller_id": config.seller_id,
            }
        ),
    )
    monkeypatch.setenv("ALIPAY_SECRET_ID", secret["ARN"])
    monkeypatch.delenv("DRIVER_LOGIN_SANDBOX")
    monkeypatch.setattr(
        driver_login, "AlipayOAuthToken", functools.partial(AlipayOAuthToken, gateway=alipay.url)
    )
    wiring.reset()

    signed = dcall("POST", "/driver/auth/login", body={"app": "alipay", "code": "good"})
    refused = dcall("POST", "/driver/auth/login", body={"app": "alipay", "code": "used"})
    wechat = dcall("POST", "/driver/auth/login", body={"app": "wechat", "code": "good"})

    assert signed.status == 200, signed.body
    assert "never-leaves" not in json.dumps(signed.body)
    assert refused.status == 401
    assert wechat.status == 501  # no WeChat credentials in the DriverAuthSecret here


def test_an_incomplete_alipay_secret_leaves_alipay_sign_in_off(
    driver_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = boto3.client("secretsmanager").create_secret(
        Name="test/payments/alipay-placeholder",
        SecretString=json.dumps({"app_id": "", "app_private_key": "", "alipay_public_key": ""}),
    )
    monkeypatch.setenv("ALIPAY_SECRET_ID", secret["ARN"])
    monkeypatch.delenv("DRIVER_LOGIN_SANDBOX")
    wiring.reset()

    answer = dcall("POST", "/driver/auth/login", body={"app": "alipay", "code": "good"})

    assert answer.status == 501
