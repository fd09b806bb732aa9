"""Payment provider adapters and the ``provider_for`` factory.

Each provider is built once per container (its keys read once from Secrets Manager) and
its SDK imported only when it is first used: ``wechatpayv3`` and ``alipay`` cost about
0.4 and 0.6 of ``import boto3`` (DESIGN.md), and most invocations need neither.

Environment (set by template.yaml): ``WECHATPAY_SECRET_ID``, ``ALIPAY_SECRET_ID``,
``PAYMENT_NOTIFY_BASE_URL`` (the public base the providers call back:
``{base}/payments/notify/{method}``), and locally ``SANDBOX_PAY_URL``.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from shared.domain.errors import InvalidInput, UpstreamFailure
from shared.domain.payments import PaymentMethod, PaymentProvider, share_cap_bp

_providers: dict[PaymentMethod, PaymentProvider] = {}
_secrets: dict[str, dict[str, str]] = {}
_lock = threading.Lock()


def secret_share_cap(secret: Mapping[str, Any]) -> int:
    """The provider's maximum share ratio from its secret's optional ``max_share_bp``.

    Raises: UpstreamFailure (a misconfigured secret) unless 1..10000 or absent.
    """
    try:
        return share_cap_bp(secret.get("max_share_bp"))
    except InvalidInput as exc:
        raise UpstreamFailure("payment secret max_share_bp must be 1..10000", missing=[]) from exc


def provider_for(method: PaymentMethod) -> PaymentProvider:
    """The provider for ``method``, built on first use and kept for the container's life.

    Raises: InvalidInput (the wallet is not a provider: it pays with ledger holds),
    UpstreamFailure (its secret or URL is missing or unreadable).
    """
    with _lock:
        provider = _providers.get(method)
        if provider is None:
            provider = _build(method, os.environ, read_secret)
            _providers[method] = provider
        return provider


def reset_providers() -> None:
    """Forget built providers and cached secrets (tests; a rotated key in a warm container)."""
    with _lock:
        _providers.clear()
        _secrets.clear()


def _build(
    method: PaymentMethod,
    environ: Mapping[str, str],
    secret: Callable[[str], dict[str, str]],
) -> PaymentProvider:
    notify_base = environ.get("PAYMENT_NOTIFY_BASE_URL", "").rstrip("/")
    if method is PaymentMethod.SANDBOX:
        from .sandbox import SandboxPaymentProvider

        return SandboxPaymentProvider(_required(environ, "SANDBOX_PAY_URL"))
    if method is PaymentMethod.WECHAT:
        from .wechat import WeChatPayConfig, WeChatPayProvider

        config = WeChatPayConfig.from_secret(secret(_required(environ, "WECHATPAY_SECRET_ID")))
        return WeChatPayProvider(config, notify_url=f"{notify_base}/payments/notify/wechat")
    if method is PaymentMethod.ALIPAY:
        from .alipay import AlipayConfig, AlipayProvider

        alipay_config = AlipayConfig.from_secret(secret(_required(environ, "ALIPAY_SECRET_ID")))
        return AlipayProvider(alipay_config, notify_url=f"{notify_base}/payments/notify/alipay")
    raise InvalidInput("the wallet pays with ledger holds, not through a provider", method=method)


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "")
    if not value:
        raise UpstreamFailure("payment provider not configured", setting=name)
    return value


def read_secret(secret_id: str) -> dict[str, str]:
    """A provider's JSON secret from Secrets Manager, read once per container; never logged.

    Raises: UpstreamFailure.
    """
    cached = _secrets.get(secret_id)
    if cached is not None:
        return cached
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer: Any = boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)
        values = json.loads(answer["SecretString"])
    except (BotoCoreError, ClientError, KeyError, ValueError) as exc:
        raise UpstreamFailure("payment secret unreadable", operation="GetSecretValue") from exc
    if not isinstance(values, dict):
        raise UpstreamFailure("payment secret is not a JSON object", operation="GetSecretValue")
    secret = {str(k): str(v) for k, v in values.items()}
    _secrets[secret_id] = secret
    return secret
