"""Driver sign-in adapters: WeChat ``code2session``, the identity exchange of the local
stack, the exchange per app, and the token signing key (and app credentials) from Secrets
Manager.

The sandbox exchange stands in for WeChat ``code2session`` and Alipay
``alipay.system.oauth.token`` where no app exists (the local stack, tests): the code
``sandbox:<name>`` always signs in as the same openid ``sandbox-<name>``, in either app.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
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


WECHAT_CODE2SESSION_URL = "https://api.weixin.qq.com/sns/jscode2session"
# code2session errcodes that mean "this code is no good" (not "WeChat is unwell"):
# 40029 invalid code, 40163 code already used, 40226 high-risk user blocked.
_WECHAT_REFUSED = frozenset({40029, 40163, 40226})


class WeChatCode2Session:
    """``IdentityExchange`` for the WeChat mini-program: ``GET jscode2session`` with the
    app's id and secret; the answer's ``openid`` (the session key is dropped here)."""

    def __init__(
        self,
        appid: str,
        app_secret: str,
        *,
        url: str | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self._appid = appid
        self._secret = app_secret
        self._url = url
        self._timeout_s = timeout_s

    def openid(self, app: LoginApp, code: str) -> str:
        if app is not LoginApp.WECHAT:
            raise FeatureUnavailable("this exchange signs in WeChat users only", app=app.value)
        query = urllib.parse.urlencode(
            {
                "appid": self._appid,
                "secret": self._secret,
                "js_code": code,
                "grant_type": "authorization_code",
            }
        )
        try:
            with urllib.request.urlopen(  # noqa: S310 - a fixed https URL (a stub in tests)
                f"{self._url or WECHAT_CODE2SESSION_URL}?{query}", timeout=self._timeout_s
            ) as answer:
                body = json.loads(answer.read().decode("utf-8"))
        except (urllib.error.URLError, TimeoutError, ValueError, OSError) as exc:
            raise UpstreamFailure("WeChat code2session did not answer", app="wechat") from exc
        if not isinstance(body, dict):
            raise UpstreamFailure("WeChat code2session answered no object", app="wechat")
        errcode = body.get("errcode") or 0
        if errcode in _WECHAT_REFUSED:
            raise Unauthenticated("the app refused the login code", app="wechat")
        openid = body.get("openid")
        if errcode != 0 or not isinstance(openid, str) or not openid:
            raise UpstreamFailure("WeChat code2session failed", app="wechat", errcode=errcode)
        return openid


ALIPAY_OAUTH = "alipay.system.oauth.token"


class AlipayOAuthToken:
    """``IdentityExchange`` for the Alipay mini-program: ``alipay.system.oauth.token`` with
    the auth code (RSA2-signed by the app key, the answer verified with Alipay's key, both
    through ``python-alipay-sdk`` as the payments adapter builds it); the answer's
    ``open_id`` (or the older ``user_id``). The access token is dropped here."""

    def __init__(self, config: Any, *, gateway: str | None = None, clock: Any = None) -> None:
        self._config = config  # shared.adapters.payments.alipay.AlipayConfig
        self._gateway = gateway
        self._clock = clock
        self._client: Any = None

    def _sdk(self) -> Any:
        if self._client is None:
            from shared.adapters.payments.alipay import GATEWAY, build_client
            from shared.domain.clock import system_clock

            self._client = build_client(
                self._config, self._clock or system_clock, self._gateway or GATEWAY
            )
        return self._client

    def openid(self, app: LoginApp, code: str) -> str:
        if app is not LoginApp.ALIPAY:
            raise FeatureUnavailable("this exchange signs in Alipay users only", app=app.value)
        from alipay.exceptions import AliPayException

        try:
            answer = self._sdk().server_api(
                ALIPAY_OAUTH, grant_type="authorization_code", code=code
            )
        except AliPayException as exc:
            # 40002 "Invalid Arguments" is how Alipay refuses an invalid or used auth code.
            # (the SDK keeps the code in a name-mangled attribute only)
            if str(getattr(exc, "_AliPayException__code", "")) == "40002":
                raise Unauthenticated("the app refused the login code", app="alipay") from exc
            raise UpstreamFailure("Alipay oauth.token failed", app="alipay") from exc
        except Exception as exc:  # SDK seam: signature check, URLError, JSON alike
            raise UpstreamFailure("Alipay oauth.token did not answer", app="alipay") from exc
        found = answer.get("open_id") or answer.get("user_id") if isinstance(answer, dict) else None
        if not isinstance(found, str) or not found:
            raise UpstreamFailure("Alipay oauth.token named no user", app="alipay")
        return found


class ExchangeByApp:
    """``IdentityExchange`` choosing the exchange of the app (a missing one answers 501)."""

    def __init__(self, exchanges: Mapping[LoginApp, Any]) -> None:
        self._exchanges = dict(exchanges)

    def openid(self, app: LoginApp, code: str) -> str:
        exchange = self._exchanges.get(app)
        if exchange is None:
            return NoIdentityExchange().openid(app, code)
        found: str = exchange.openid(app, code)
        return found


class NoIdentityExchange:
    """``IdentityExchange`` of a deployment with no mini-program app configured."""

    def openid(self, app: LoginApp, code: str) -> str:
        raise FeatureUnavailable(
            "sign-in with the mini-program apps is not configured here", app=app.value
        )


class SecretSigningKey:
    """The DriverAuthSecret, read once: ``signing_key`` signs the tokens; the optional
    ``wechat_appid`` / ``wechat_app_secret`` are the mini-program's credentials."""

    def __init__(self, client: Any, secret_id: str) -> None:
        self._client = client
        self._secret_id = secret_id
        self._fields: dict[str, Any] | None = None

    def fields(self) -> dict[str, Any]:
        """The secret's JSON fields. Raises: UpstreamFailure."""
        if self._fields is None:
            try:
                answer = self._client.get_secret_value(SecretId=self._secret_id)
            except (ClientError, BotoCoreError) as exc:
                raise UpstreamFailure(
                    "the driver sign-in secret could not be read", operation="GetSecretValue"
                ) from exc
            try:
                fields = json.loads(answer["SecretString"])
            except (KeyError, TypeError, ValueError) as exc:
                raise UpstreamFailure("the driver sign-in secret is not JSON") from exc
            if not isinstance(fields, dict):
                raise UpstreamFailure("the driver sign-in secret is not a JSON object")
            self._fields = fields
        return self._fields

    def __call__(self) -> bytes:
        key = str(self.fields().get("signing_key") or "")
        if len(key.encode()) < 32:
            raise UpstreamFailure("the token signing key is missing or shorter than 32 bytes")
        return key.encode()

    def wechat(self) -> WeChatCode2Session | None:
        """The WeChat exchange, when the secret names the app's id and secret."""
        fields = self.fields()
        appid, secret = fields.get("wechat_appid"), fields.get("wechat_app_secret")
        if not isinstance(appid, str) or not appid or not isinstance(secret, str) or not secret:
            return None
        return WeChatCode2Session(appid, secret)
