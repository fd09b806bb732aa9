"""Driver sign-in: the app's one-time code -> openid -> our account -> our own token.

The mini-program gets a one-time code from its app (WeChat ``wx.login``, Alipay
``my.getAuthCode``); the identity exchange (``code2session`` / ``alipay.system.oauth.token``,
or the sandbox locally) turns it into the app's openid; the first sign-in with an openid
creates the driver's account. The answer is the platform's own two-hour token
(``shared.domain.driver_tokens``); the app's session key never leaves the exchange.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from shared.domain.clock import Clock
from shared.domain.driver_tokens import DriverToken, issue_token, verify_token
from shared.domain.drivers import Driver, LoginApp, require_openid, require_phone
from shared.domain.errors import InvalidInput, NotFound, Unauthenticated, UpstreamFailure
from shared.domain.ids import NewId
from shared.observability import logger

MAX_CODE_LENGTH = 256
MAX_CREATE_ATTEMPTS = 3


class IdentityExchange(Protocol):
    def openid(self, app: LoginApp, code: str) -> str:
        """The app's openid for a one-time login code.

        Raises: Unauthenticated (the app refused the code), UpstreamFailure.
        """


class DriverStore(Protocol):
    def get(self, user_id: str) -> Driver | None:
        """Raises: UpstreamFailure."""

    def find_login(self, app: LoginApp, openid: str) -> str | None:
        """The user id an app's openid signs in as, or None. Raises: UpstreamFailure."""

    def create(self, driver: Driver, app: LoginApp, openid: str) -> bool:
        """Store a new driver and its login at once; False when the login exists already.

        Raises: UpstreamFailure.
        """

    def save_profile(self, driver: Driver) -> None:
        """Replace the driver's own fields (phone, nickname, consumption). Raises: NotFound."""


@dataclass(frozen=True, slots=True)
class LoginPorts:
    drivers: DriverStore
    identities: IdentityExchange
    signing_key: Callable[[], bytes]
    clock: Clock
    new_id: NewId


@dataclass(frozen=True, slots=True)
class SignIn:
    token: str
    expires_at: datetime
    driver: Driver
    is_new: bool


def sign_in(ports: LoginPorts, app: str, code: str) -> SignIn:
    """Exchange an app's login code for our token, creating the account on first sign-in.

    DynamoDB: 1 GetItem (login) + 1 GetItem (driver), or 1 TransactWriteItems for a new one.

    Raises:
        InvalidInput: an unknown app or an empty/oversized code (nothing is called).
        Unauthenticated: the app refused the code.
        UpstreamFailure: the app or the table did not answer.
    """
    if not isinstance(app, str) or app not in set(LoginApp):
        raise InvalidInput("app must be wechat or alipay", field="app")
    login_app = LoginApp(app)
    if not isinstance(code, str) or not 0 < len(code) <= MAX_CODE_LENGTH:
        raise InvalidInput(f"code must be 1..{MAX_CODE_LENGTH} characters", field="code")
    openid = require_openid(ports.identities.openid(login_app, code))
    now = ports.clock()
    is_new = False
    driver: Driver | None = None
    for _ in range(MAX_CREATE_ATTEMPTS):
        user_id = ports.drivers.find_login(login_app, openid)
        if user_id is not None:
            driver = ports.drivers.get(user_id)
            if driver is None:
                raise UpstreamFailure("a login names a driver that is not stored")
            break
        fresh = Driver(
            user_id=ports.new_id("dr"), created_at=now, openids={login_app.value: openid}
        )
        if ports.drivers.create(fresh, login_app, openid):
            driver, is_new = fresh, True
            logger.info("driver created", extra={"user_id": fresh.user_id, "app": app})
            break
    if driver is None:
        raise UpstreamFailure("the driver account could not be created; try again")
    token, expires_at = issue_token(ports.signing_key(), driver.user_id, login_app, now)
    return SignIn(token=token, expires_at=expires_at, driver=driver, is_new=is_new)


def bearer_token(headers: Mapping[str, str]) -> str:
    """The token of an ``Authorization: Bearer`` header (any header-name case).

    Raises:
        Unauthenticated: no such header, or another scheme.
    """
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    if value is None:
        raise Unauthenticated("sign in first: the request carries no token")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send the sign-in token as Authorization: Bearer <token>")
    return token.strip()


def authenticate(signing_key: bytes, headers: Mapping[str, str], now: datetime) -> DriverToken:
    """The signed-in driver of a request. Raises: Unauthenticated."""
    return verify_token(signing_key, bearer_token(headers), now)


def get_profile(drivers: DriverStore, user_id: str) -> Driver:
    """The driver's own account. Raises: NotFound (the account is gone), UpstreamFailure."""
    driver = drivers.get(user_id)
    if driver is None:
        raise NotFound("driver not found", kind="driver")
    return driver


_UNSET = object()


def update_profile(
    drivers: DriverStore,
    user_id: str,
    *,
    phone: object = _UNSET,
    nickname: object = _UNSET,
    consumption_wh_per_km: object = _UNSET,
) -> Driver:
    """Change what the driver told us (None clears a field).

    Raises: InvalidInput (nothing is saved), NotFound, UpstreamFailure.
    """
    driver = get_profile(drivers, user_id)
    changes: dict[str, object] = {}
    if phone is not _UNSET:
        changes["phone"] = None if phone is None else require_phone(phone)
    if nickname is not _UNSET:
        changes["nickname"] = nickname
    if consumption_wh_per_km is not _UNSET:
        changes["consumption_wh_per_km"] = consumption_wh_per_km
    updated = replace(driver, **changes)  # type: ignore[arg-type]
    if updated != driver:
        drivers.save_profile(updated)
    return updated
