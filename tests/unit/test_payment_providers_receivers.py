"""Receiver onboarding at the providers (``PaymentProvider.add_receiver``): WeChat Pay's
``/v3/profitsharing/receivers/add`` and Alipay's ``alipay.trade.royalty.relation.bind``,
against stubbed provider HTTP with real RSA keys (requests signed by the merchant/app key,
answers signed by the platform key, the receiver's name encrypted for the platform)."""

from __future__ import annotations

import base64
import urllib.error
from datetime import UTC, datetime

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from shared.adapters.payments.alipay import AlipayProvider, relation_request_no
from shared.adapters.payments.wechat import WeChatPayProvider
from shared.domain.errors import InvalidInput, UpstreamFailure
from shared.domain.payments import PartnerReceiver
from tests.unit.test_payment_providers_support import (
    APPID,
    PLATFORM_KEY_ID,
    alipay_config,
    gateway,
    http,
    rsa_key,
    wechat_config,
)

__all__ = ["gateway", "http"]  # fixtures

NOW = datetime(2026, 12, 2, 6, 0, 10, tzinfo=UTC)
ADD = ("POST", "/v3/profitsharing/receivers/add")
BIND = "alipay.trade.royalty.relation.bind"


@pytest.fixture
def wechat() -> WeChatPayProvider:
    return WeChatPayProvider(wechat_config(), notify_url="https://x/n", clock=lambda: NOW)


@pytest.fixture
def alipay_provider() -> AlipayProvider:
    return AlipayProvider(alipay_config(), notify_url="https://x/n", clock=lambda: NOW)


def _decrypt_for_platform(ciphertext: str) -> str:
    """What WeChat Pay does with the name: RSA-OAEP (SHA-1) with the platform private key."""
    plain = rsa_key("wechat-platform").decrypt(
        base64.b64decode(ciphertext),
        padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None),
    )
    return plain.decode("utf-8")


def test_wechat_merchant_receiver_added_as_partner_with_the_name_encrypted(http, wechat) -> None:
    http.routes[ADD] = (
        200,
        {"type": "MERCHANT_ID", "account": "1900000110", "relation_type": "PARTNER"},
    )
    wechat.add_receiver(PartnerReceiver("1900000110", "MERCHANT_ID", "滨江物业有限公司"))
    [call] = http.calls
    body = call["json"]
    encrypted = body.pop("name")
    assert body == {
        "type": "MERCHANT_ID",
        "account": "1900000110",
        "relation_type": "PARTNER",
        "appid": APPID,
    }
    assert encrypted != "滨江物业有限公司"
    assert _decrypt_for_platform(encrypted) == "滨江物业有限公司"
    # Public key mode: the encrypting key is named by its id, never a certificate serial.
    assert call["headers"]["Wechatpay-Serial"] == PLATFORM_KEY_ID


def test_wechat_openid_receiver_typed_from_its_form_and_sent_without_a_name(http, wechat) -> None:
    http.routes[ADD] = (200, {"type": "PERSONAL_OPENID", "account": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"})
    wechat.add_receiver(PartnerReceiver("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"))
    wechat.add_receiver(PartnerReceiver("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"))  # idempotent there
    assert [c["json"] for c in http.calls] == [
        {
            "type": "PERSONAL_OPENID",
            "account": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
            "relation_type": "PARTNER",
            "appid": APPID,
        }
    ] * 2


def test_wechat_merchant_receiver_without_a_name_refused_before_any_call(http, wechat) -> None:
    with pytest.raises(InvalidInput):
        wechat.add_receiver(PartnerReceiver("1900000110", "MERCHANT_ID"))
    assert http.calls == []


def test_wechat_add_upstream_failure_when_refused_unsigned_or_unreachable(http, wechat) -> None:
    receiver = PartnerReceiver("1900000110", "MERCHANT_ID", "Riverside Property Co.")
    http.routes[ADD] = (400, {"code": "PARAM_ERROR", "message": "name mismatch"})
    with pytest.raises(UpstreamFailure) as exc:
        wechat.add_receiver(receiver)
    assert exc.value.fields["code"] == "PARAM_ERROR"
    assert exc.value.fields["operation"] == "profitsharing_add_receiver"
    assert "name mismatch" not in str(exc.value)  # never the provider's body
    http.routes[ADD] = (200, {"type": "MERCHANT_ID", "account": "1900000110"})
    http.sign_answers = False
    with pytest.raises(UpstreamFailure):
        wechat.add_receiver(receiver)
    http.raise_error = requests.ConnectionError("down")
    with pytest.raises(UpstreamFailure):
        wechat.add_receiver(receiver)


def test_wechat_add_upstream_failure_when_it_answers_another_account(http, wechat) -> None:
    http.routes[ADD] = (200, {"type": "MERCHANT_ID", "account": "1900000999"})
    with pytest.raises(UpstreamFailure):
        wechat.add_receiver(PartnerReceiver("1900000110", "MERCHANT_ID", "Riverside"))


def test_alipay_royalty_relation_bound_with_a_stable_request_no(gateway, alipay_provider) -> None:
    gateway.routes[BIND] = {"code": "10000", "msg": "Success", "result_code": "SUCCESS"}
    receiver = PartnerReceiver("2088000000000002", name="Riverside Property Co.")
    alipay_provider.add_receiver(receiver)
    alipay_provider.bind_royalty_relation(receiver)  # a retry: the same request again
    first, second = gateway.calls
    assert first["method"] == BIND
    assert first["biz_content"] == {
        "receiver_list": [
            {
                "type": "userId",
                "account": "2088000000000002",
                "memo": "site partner",
                "name": "Riverside Property Co.",
            }
        ],
        "out_request_no": relation_request_no(receiver),
    }
    assert second["biz_content"] == first["biz_content"]
    number = relation_request_no(receiver)
    assert number.startswith("RB") and len(number) == 42 and number.isalnum()


def test_alipay_logon_id_bound_as_login_name_and_a_new_name_is_a_new_request(
    gateway, alipay_provider
) -> None:
    gateway.routes[BIND] = {"code": "10000", "msg": "Success"}
    alipay_provider.add_receiver(PartnerReceiver("partner@example.com"))
    [call] = gateway.calls
    assert call["biz_content"]["receiver_list"] == [
        {"type": "loginName", "account": "partner@example.com", "memo": "site partner"}
    ]
    old = relation_request_no(PartnerReceiver("partner@example.com"))
    new = relation_request_no(PartnerReceiver("partner@example.com", name="Partner Ltd"))
    assert old != new


def test_alipay_bind_upstream_failure_when_refused_or_unreachable(gateway, alipay_provider) -> None:
    receiver = PartnerReceiver("2088000000000002")
    gateway.routes[BIND] = {"code": "40004", "msg": "Business Failed", "sub_code": "ACCOUNT_ERR"}
    with pytest.raises(UpstreamFailure) as exc:
        alipay_provider.add_receiver(receiver)
    assert exc.value.fields["sub_code"] == "ACCOUNT_ERR"
    gateway.raise_error = urllib.error.URLError("down")
    with pytest.raises(UpstreamFailure):
        alipay_provider.add_receiver(receiver)


@pytest.mark.parametrize(
    ("account", "kind", "name"),
    [
        ("", None, None),
        ("1900000110", "STAFF", "x"),
        ("1900000110", "MERCHANT_ID", " "),
        ("1900000110", "MERCHANT_ID", "n" * 101),
    ],
)
def test_partner_receiver_refuses_malformed_fields(account, kind, name) -> None:
    with pytest.raises(InvalidInput):
        PartnerReceiver(account, kind, name)


def test_partner_receiver_keeps_the_name_out_of_its_repr() -> None:
    receiver = PartnerReceiver("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "PERSONAL_OPENID", "张三")
    assert "张三" not in repr(receiver)
    assert PartnerReceiver("1900000110", "MERCHANT_ID").is_complete is False
    assert receiver.is_complete is True
