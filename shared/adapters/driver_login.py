"""Driver sign-in adapters: the identity exchange of the local stack, and the token signing
key from Secrets Manager.

The sandbox exchange stands in for WeChat ``code2session`` and Alipay
``alipay.system.oauth.token`` where no app exists (the local stack, tests): the code
``sandbox:<name>`` always signs in as the same openid ``sandbox-<name>``, in either app.
"""

from __future__ import annotations

import json
import re
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.domain.drivers import LoginApp
from shared.domain.errors import FeatureUnavailable, Unauthenticated, UpstreamFailure

_SANDBOX_CODE = re.compile(r"sandbox:([A-Za-z0-9_\-]{1,64})")


class SandboxIdentityExchange:
    """``IdentityExchange`` for the local stack: ``sandbox:<name>`` -> ``sandbox-<name>``."""

    def openid(self, app: LoginApp, code: str) -> str:
        match = _SANDBOX_CODE.fullmatch(code)
        if match is None:
            raise Unauthenticated("the app refused the login code", app=app.value)
        return f"sandbox-{match.group(1)}"


class NoIdentityExchange:
    """``IdentityExchange`` of a deployment with no mini-program app configured."""

    def openid(self, app: LoginApp, code: str) -> str:
        raise FeatureUnavailable(
            "sign-in with the mini-program apps is not configured here", app=app.value
        )


class SecretSigningKey:
    """The token signing key (field ``signing_key`` of the DriverAuthSecret), read once."""

    def __init__(self, client: Any, secret_id: str) -> None:
        self._client = client
        self._secret_id = secret_id
        self._key: bytes | None = None

    def __call__(self) -> bytes:
        if self._key is None:
            try:
                answer = self._client.get_secret_value(SecretId=self._secret_id)
            except (ClientError, BotoCoreError) as exc:
                raise UpstreamFailure(
                    "the token signing key could not be read", operation="GetSecretValue"
                ) from exc
            try:
                key = str(json.loads(answer["SecretString"])["signing_key"])
            except (KeyError, TypeError, ValueError) as exc:
                raise UpstreamFailure("the token signing secret has no signing_key") from exc
            if len(key.encode()) < 32:
                raise UpstreamFailure("the token signing key is shorter than 32 bytes")
            self._key = key.encode()
        return self._key
