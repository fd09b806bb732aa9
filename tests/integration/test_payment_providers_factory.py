"""``provider_for``: keys from Secrets Manager (moto), built once per container, lazily."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from infra.template import load_template
from shared.adapters import payments
from shared.adapters.payments import provider_for, reset_providers
from shared.adapters.payments.alipay import AlipayProvider
from shared.adapters.payments.sandbox import SandboxPaymentProvider
from shared.adapters.payments.wechat import WeChatPayProvider
from shared.domain.errors import InvalidInput, UpstreamFailure
from shared.domain.payments import PaymentMethod
from tests.support.aws import REGION, fake_credentials
from tests.unit.test_payment_providers_support import alipay_config, wechat_config


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    fake_credentials()
    reset_providers()
    with mock_aws():
        client = boto3.client("secretsmanager", region_name=REGION)
        wechat = wechat_config()
        ali = alipay_config()
        wechat_arn = client.create_secret(
            Name="test/payments/wechatpay",
            SecretString=json.dumps({k: getattr(wechat, k) for k in wechat.__dataclass_fields__}),
        )["ARN"]
        alipay_arn = client.create_secret(
            Name="test/payments/alipay",
            SecretString=json.dumps({k: getattr(ali, k) for k in ali.__dataclass_fields__}),
        )["ARN"]
        monkeypatch.setenv("WECHATPAY_SECRET_ID", wechat_arn)
        monkeypatch.setenv("ALIPAY_SECRET_ID", alipay_arn)
        monkeypatch.setenv("PAYMENT_NOTIFY_BASE_URL", "https://pay.example.com/")
        monkeypatch.setenv("SANDBOX_PAY_URL", "http://127.0.0.1:8090")
        yield client
    reset_providers()


def test_providers_built_once_from_secrets_when_asked(secrets) -> None:
    wechat = provider_for(PaymentMethod.WECHAT)
    ali = provider_for(PaymentMethod.ALIPAY)
    sandbox = provider_for(PaymentMethod.SANDBOX)
    assert isinstance(wechat, WeChatPayProvider)
    assert isinstance(ali, AlipayProvider)
    assert isinstance(sandbox, SandboxPaymentProvider)
    assert wechat._notify_url == "https://pay.example.com/payments/notify/wechat"
    assert ali._notify_url == "https://pay.example.com/payments/notify/alipay"
    # the secret is read once: deleting it changes nothing for this container
    secrets.delete_secret(SecretId="test/payments/wechatpay", ForceDeleteWithoutRecovery=True)
    assert provider_for(PaymentMethod.WECHAT) is wechat
    # and no SDK was imported to build them
    assert wechat._client is None and ali._client is None


def test_upstream_failure_when_secret_missing_or_incomplete(secrets, monkeypatch) -> None:
    monkeypatch.setenv("WECHATPAY_SECRET_ID", "test/payments/nothing")
    with pytest.raises(UpstreamFailure):
        provider_for(PaymentMethod.WECHAT)
    # the template's placeholder (empty fields) is refused, naming fields and no values
    arn = secrets.create_secret(
        Name="test/payments/placeholder",
        SecretString=load_template()["Resources"]["WeChatPaySecret"]["Properties"]["SecretString"],
    )["ARN"]
    monkeypatch.setenv("WECHATPAY_SECRET_ID", arn)
    with pytest.raises(UpstreamFailure) as exc:
        provider_for(PaymentMethod.WECHAT)
    assert "platform_public_key" in exc.value.fields["missing"]


def test_configuration_errors_when_unset_or_wallet(secrets, monkeypatch) -> None:
    monkeypatch.delenv("SANDBOX_PAY_URL")
    with pytest.raises(UpstreamFailure) as exc:
        provider_for(PaymentMethod.SANDBOX)
    assert exc.value.fields["setting"] == "SANDBOX_PAY_URL"
    with pytest.raises(InvalidInput):
        provider_for(PaymentMethod.WALLET)


def test_secret_cache_cleared_when_reset(secrets) -> None:
    provider_for(PaymentMethod.ALIPAY)
    assert payments._secrets
    reset_providers()
    assert not payments._secrets and not payments._providers
