"""Stations (charging sites): where piles stand, who shares the revenue, which tariff applies.

The site partner (property company) gets ``partner_share_bp`` of what drivers consumed. When
the station names the partner's receiver account at a provider (``partner_wechat_receiver``,
``partner_alipay_account``), the payment workflow routes that part to it at the provider
(WeChat Pay profit-sharing order, Alipay royalty); without one the operator keeps the money
and the ledger records what the partner is owed (docs/payment-workflow.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shared.domain import geohash
from shared.domain.base_data import require_range, require_text
from shared.domain.errors import InvalidInput

# Basis points of consumed revenue paid to the site partner (property company): 5000 = 50:50.
FULL_SHARE_BP = 10_000
MAX_TRANSFORMER_KVA = 100_000

# WeChat Pay merchant ids (mchid / sub_mchid) are digits; an openid is the app's user id
# (letters, digits, ``_`` and ``-``, never digits alone), so the two can never be confused:
# the WeChat adapter tells them apart the same way.
_WECHAT_MERCHANT_ID = re.compile(r"^[0-9]{8,32}$")
_WECHAT_OPENID = re.compile(r"^(?![0-9]+$)[A-Za-z0-9_-]{6,64}$")
# Alipay: a user id (``2088`` + 12 digits) or a logon id (an e-mail or a mainland mobile).
_ALIPAY_USER_ID = re.compile(r"^2088[0-9]{12}$")
_ALIPAY_LOGON_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_ALIPAY_LOGON_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
MAX_ALIPAY_ACCOUNT = 100


class WechatReceiverType(StrEnum):
    """WeChat Pay profit-sharing receiver types (``/v3/profitsharing/receivers/add``)."""

    MERCHANT_ID = "MERCHANT_ID"
    PERSONAL_OPENID = "PERSONAL_OPENID"


@dataclass(frozen=True, slots=True)
class WechatReceiver:
    """The partner's WeChat Pay profit-sharing receiver; ``name`` (the merchant's full name or
    the person's real name) is what the receiver was added under at WeChat Pay, kept for
    the operator: the share order itself names the account only."""

    type: WechatReceiverType
    account: str
    name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.type, WechatReceiverType):
            raise InvalidInput(
                "partner_wechat_receiver.type must be MERCHANT_ID or PERSONAL_OPENID",
                field="partner_wechat_receiver.type",
            )
        pattern = (
            _WECHAT_MERCHANT_ID if self.type is WechatReceiverType.MERCHANT_ID else _WECHAT_OPENID
        )
        if not isinstance(self.account, str) or not pattern.match(self.account):
            rule = (
                "8..32 digits"
                if self.type is WechatReceiverType.MERCHANT_ID
                else "6..64 of A-Z, a-z, 0-9, _ and -, not only digits"
            )
            raise InvalidInput(
                f"partner_wechat_receiver.account of a {self.type.value} must be {rule}",
                field="partner_wechat_receiver.account",
            )
        if self.name is not None:
            require_text(self.name, "partner_wechat_receiver.name", max_length=100)


def check_alipay_account(account: str) -> None:
    """Raises: InvalidInput unless an Alipay user id (2088 + 12 digits) or logon id."""
    if (
        not isinstance(account, str)
        or len(account) > MAX_ALIPAY_ACCOUNT
        or not (
            _ALIPAY_USER_ID.match(account)
            or _ALIPAY_LOGON_EMAIL.match(account)
            or _ALIPAY_LOGON_MOBILE.match(account)
        )
    ):
        raise InvalidInput(
            "partner_alipay_account must be an Alipay user id (2088 + 12 digits) "
            "or logon id (e-mail or mobile number)",
            field="partner_alipay_account",
        )


@dataclass(frozen=True, slots=True)
class Station:
    """A charging site of one operator."""

    station_id: str
    operator_id: str
    name: str
    address: str
    lat: float
    lng: float
    transformer_capacity_kva: int
    partner_share_bp: int
    created_at: datetime
    updated_at: datetime
    tariff_id: str | None = None
    partner_name: str | None = None
    partner_wechat_receiver: WechatReceiver | None = None
    partner_alipay_account: str | None = None

    def __post_init__(self) -> None:
        require_text(self.name, "name", max_length=100)
        require_text(self.address, "address", max_length=200)
        require_range(self.lat, "lat", -90.0, 90.0)
        require_range(self.lng, "lng", -180.0, 180.0)
        require_range(
            self.transformer_capacity_kva, "transformer_capacity_kva", 1, MAX_TRANSFORMER_KVA
        )
        require_range(self.partner_share_bp, "partner_share_bp", 0, FULL_SHARE_BP)
        if self.partner_name is not None:
            require_text(self.partner_name, "partner_name", max_length=100)
        if self.partner_wechat_receiver is not None and not isinstance(
            self.partner_wechat_receiver, WechatReceiver
        ):
            raise InvalidInput(
                "partner_wechat_receiver must be a receiver", field="partner_wechat_receiver"
            )
        if self.partner_alipay_account is not None:
            check_alipay_account(self.partner_alipay_account)

    def partner_receiver_account(self, method: str) -> str | None:
        """The partner's receiver account at the provider of ``method`` (a payment method
        value), or None: WeChat Pay and the local sandbox (which mimics it) use the WeChat
        receiver, Alipay the Alipay account, the wallet none (no provider holds the money)."""
        # ``PaymentMethod`` values, by value: the station module stays free of the payments one.
        if method in ("wechat", "sandbox"):
            receiver = self.partner_wechat_receiver
            return None if receiver is None else receiver.account
        if method == "alipay":
            return self.partner_alipay_account
        return None

    @property
    def geohash5(self) -> str:
        """The station's 5-character geohash cell (GSI2 partition for nearby searches)."""
        return geohash.encode(self.lat, self.lng, geohash.STATION_PRECISION)
