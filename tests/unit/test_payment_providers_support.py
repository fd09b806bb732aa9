"""Test doubles for the payment adapters: real RSA keys, provider HTTP stubbed at the SDK's
transport, and builders of correctly signed notifications (which tests then spoil)."""

from __future__ import annotations

import base64
import functools
import json
import secrets
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import alipay
import pytest
import wechatpayv3.core
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.adapters.payments.wechat import WeChatPayConfig

MCHID = "1900000109"
APPID = "wx8888888888888888"
APIV3_KEY = "0123456789abcdef0123456789abcdef"
PLATFORM_KEY_ID = "PUB_KEY_ID_0114232134912410000000000000"
MERCHANT_SERIAL = "444F4864EA9B34415C"

ALIPAY_APP_ID = "2021000000000001"
ALIPAY_SELLER_ID = "2088000000000001"


@functools.cache
def rsa_key(name: str) -> rsa.RSAPrivateKey:
    """One 2048-bit key per name for the whole test session (generation is the slow part)."""
    del name
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey, fmt: str = "pkcs8") -> str:
    form = (
        serialization.PrivateFormat.PKCS8
        if fmt == "pkcs8"
        else serialization.PrivateFormat.TraditionalOpenSSL
    )
    return key.private_bytes(serialization.Encoding.PEM, form, serialization.NoEncryption()).decode(
        "ascii"
    )


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def verify(key: rsa.RSAPrivateKey, message: bytes, signature: str) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        key.public_key().verify(
            base64.b64decode(signature), message, padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        return False
    return True


# --- WeChat Pay ---------------------------------------------------------------------------


def wechat_config() -> WeChatPayConfig:
    return WeChatPayConfig(
        mchid=MCHID,
        appid=APPID,
        apiv3_key=APIV3_KEY,
        private_key=private_pem(rsa_key("wechat-merchant")),
        cert_serial_no=MERCHANT_SERIAL,
        platform_public_key=public_pem(rsa_key("wechat-platform")),
        platform_public_key_id=PLATFORM_KEY_ID,
    )


def wechat_transaction(**overrides: Any) -> dict[str, Any]:
    transaction: dict[str, Any] = {
        "mchid": MCHID,
        "appid": APPID,
        "out_trade_no": "po-000000000001",
        "transaction_id": "4200000000202612020000000001",
        "trade_type": "JSAPI",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "bank_type": "OTHERS",
        "success_time": "2026-12-02T14:00:05+08:00",
        "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
        "amount": {"total": 400, "payer_total": 400, "currency": "CNY", "payer_currency": "CNY"},
    }
    transaction.update(overrides)
    return transaction


def wechat_envelope(
    transaction: dict[str, Any] | bytes,
    *,
    apiv3_key: str = APIV3_KEY,
    event_type: str = "TRANSACTION.SUCCESS",
) -> dict[str, Any]:
    plain = (
        transaction
        if isinstance(transaction, bytes)
        else json.dumps(transaction, ensure_ascii=False).encode("utf-8")
    )
    nonce = secrets.token_hex(6)
    associated = "transaction"
    ciphertext = AESGCM(apiv3_key.encode()).encrypt(nonce.encode(), plain, associated.encode())
    return {
        "id": "EV-2018022511223320873",
        "create_time": "2026-12-02T14:00:06+08:00",
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": "支付成功",
        "resource": {
            "original_type": "transaction",
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": base64.b64encode(ciphertext).decode(),
            "associated_data": associated,
            "nonce": nonce,
        },
    }


def wechat_signed(
    body: bytes,
    at: datetime,
    *,
    key: rsa.RSAPrivateKey | None = None,
    serial: str = PLATFORM_KEY_ID,
    prefix: str = "Wechatpay-",
    signature_type: str = "WECHATPAY2-SHA256-RSA2048",
) -> dict[str, str]:
    timestamp = str(int(at.timestamp()))
    nonce = secrets.token_hex(16)
    signature = sign(
        key or rsa_key("wechat-platform"), f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
    )
    return {
        f"{prefix}Timestamp": timestamp,
        f"{prefix}Nonce": nonce,
        f"{prefix}Serial": serial,
        f"{prefix}Signature": signature,
        f"{prefix}Signature-Type": signature_type,
        "Content-Type": "application/json",
    }


@dataclass
class FakeResponse:
    status_code: int
    text: str
    headers: dict[str, str]
    content: bytes = b""


@dataclass
class FakeWeChatHttp:
    """Stands in for the ``requests`` module inside ``wechatpayv3.core``.

    Checks every request's merchant signature (``Authorization``), records it, and answers
    from ``routes`` (``(verb, path) -> (status, body)``), signing 2xx answers with the
    platform key as WeChat Pay does.
    """

    routes: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)
    raise_error: Exception | None = None
    sign_answers: bool = True

    def _handle(self, verb: str, url: str, **kwargs: Any) -> FakeResponse:
        if self.raise_error is not None:
            raise self.raise_error
        parsed = urllib.parse.urlsplit(url)
        path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
        body = kwargs.get("json")
        self._check_authorization(verb, path, body, kwargs["headers"]["Authorization"])
        self.calls.append(
            {"verb": verb, "path": path, "json": body, "headers": dict(kwargs["headers"])}
        )
        status, answer = self.routes.get((verb, parsed.path), (404, {"code": "NOT_FOUND"}))
        if isinstance(answer, bytes):
            return FakeResponse(status, "", {"Content-Type": "application/octet-stream"}, answer)
        text = "" if answer is None else json.dumps(answer)
        headers = {"Content-Type": "application/json"}
        if self.sign_answers and 200 <= status < 300:
            headers.update(wechat_signed(text.encode(), datetime.now().astimezone()))
        return FakeResponse(status, text, headers, text.encode())

    @staticmethod
    def _check_authorization(verb: str, path: str, body: Any, authorization: str) -> None:
        scheme, _, params = authorization.partition(" ")
        assert scheme == "WECHATPAY2-SHA256-RSA2048"
        fields = dict(part.split("=", 1)[0:2] for part in params.split(","))
        fields = {k: v.strip('"') for k, v in fields.items()}
        assert fields["mchid"] == MCHID and fields["serial_no"] == MERCHANT_SERIAL
        payload = json.dumps(body) if body else ""
        message = f"{verb}\n{path}\n{fields['timestamp']}\n{fields['nonce_str']}\n{payload}\n"
        assert verify(rsa_key("wechat-merchant"), message.encode(), fields["signature"])
        assert abs(int(fields["timestamp"]) - time.time()) < 60

    def get(self, url: str, **kwargs: Any) -> FakeResponse:
        return self._handle("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> FakeResponse:
        return self._handle("POST", url, **kwargs)


def alipay_app_key_pem() -> str:
    return private_pem(rsa_key("alipay-app"), fmt="pkcs1")


# --- Alipay -------------------------------------------------------------------------------


def alipay_config(**overrides: str) -> Any:
    from shared.adapters.payments.alipay import AlipayConfig

    fields = {
        "app_id": ALIPAY_APP_ID,
        "app_private_key": private_pem(rsa_key("alipay-app"), fmt="pkcs1"),
        "alipay_public_key": public_pem(rsa_key("alipay-platform")),
        "seller_id": ALIPAY_SELLER_ID,
    }
    fields.update(overrides)
    return AlipayConfig(**fields)


def alipay_sign_string(fields: dict[str, str]) -> str:
    return "&".join(f"{k}={v}" for k, v in sorted(fields.items()))


def alipay_notification_fields(**overrides: str) -> dict[str, str]:
    fields = {
        "notify_time": "2026-12-02 14:00:08",
        "notify_type": "trade_status_sync",
        "notify_id": "ac05099524730693a8b330c5ecf72da9786",
        "app_id": ALIPAY_APP_ID,
        "charset": "utf-8",
        "version": "1.0",
        "trade_no": "2026120222001400000000000001",
        "out_trade_no": "po-000000000001",
        "buyer_id": "2088102122524333",
        "seller_id": ALIPAY_SELLER_ID,
        "trade_status": "TRADE_SUCCESS",
        "total_amount": "4.00",
        "receipt_amount": "4.00",
        "buyer_pay_amount": "4.00",
        "subject": "充电预付",
        "gmt_create": "2026-12-02 14:00:00",
        "gmt_payment": "2026-12-02 14:00:05",
    }
    fields.update(overrides)
    return fields


def alipay_notification(
    fields: dict[str, str],
    *,
    key: rsa.RSAPrivateKey | None = None,
    sign_type: str = "RSA2",
) -> bytes:
    """The form body Alipay POSTs: the fields, ``sign_type`` and ``sign`` (RSA2 over the rest)."""
    signature = sign(key or rsa_key("alipay-platform"), alipay_sign_string(fields).encode())
    return urllib.parse.urlencode({**fields, "sign_type": sign_type, "sign": signature}).encode()


@dataclass
class FakeAlipayGateway:
    """Stands in for ``urlopen`` inside ``alipay``: checks the app's request signature,
    records the call, answers ``routes[method]`` signed with the Alipay key."""

    routes: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)
    raise_error: Exception | None = None
    sign_answers: bool = True

    def __call__(self, url: str, timeout: float = 0) -> Any:
        if self.raise_error is not None:
            raise self.raise_error
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        signature = query.pop("sign")
        assert verify(rsa_key("alipay-app"), alipay_sign_string(query).encode(), signature)
        assert query["sign_type"] == "RSA2" and query["app_id"] == ALIPAY_APP_ID
        method = query["method"]
        self.calls.append({**query, "biz_content": json.loads(query["biz_content"])})
        inner = json.dumps(
            self.routes.get(method, {"code": "40004", "msg": "Business Failed"}),
            separators=(",", ":"),
            ensure_ascii=False,
        )
        answer_sign = sign(rsa_key("alipay-platform"), inner.encode()) if self.sign_answers else ""
        key = method.replace(".", "_") + "_response"
        raw = f'{{"{key}":{inner},"sign":"{answer_sign}"}}'
        return _Readable(raw.encode())


@dataclass
class _Readable:
    data: bytes

    def read(self) -> bytes:
        return self.data


@pytest.fixture
def http(monkeypatch: pytest.MonkeyPatch) -> FakeWeChatHttp:
    """WeChat Pay's HTTP (the SDK's ``requests``) answered by a ``FakeWeChatHttp``."""
    fake = FakeWeChatHttp()
    monkeypatch.setattr(wechatpayv3.core, "requests", fake)
    return fake


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> FakeAlipayGateway:
    """Alipay's gateway (the SDK's ``urlopen``) answered by a ``FakeAlipayGateway``."""
    fake = FakeAlipayGateway()
    monkeypatch.setattr(alipay, "urlopen", fake)
    return fake
