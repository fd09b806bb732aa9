"""WeChat Pay API v3 (direct merchant, mini-program JSAPI) through ``wechatpayv3``.

- Prepay: ``POST /v3/pay/transactions/jsapi`` with ``amount.total`` in fen (WeChat amounts
  already are fen), ``settle_info.profit_sharing = true`` so the money stays frozen until
  the profit share; the mini-program gets ``timeStamp, nonceStr, package, signType,
  paySign`` (RSA-SHA256 over ``appid\\ntimeStamp\\nnonceStr\\npackage\\n``).
- Notifications are verified by hand (``signed_headers.py``): platform public key by
  serial, probe signatures refused, 5-minute window, then the ``resource`` decrypted with
  AES-256-GCM and the API v3 key, and mchid / appid / trade state / currency checked.
- Refunds ``POST /v3/refund/domestic/refunds`` with a stable ``out_refund_no`` (a repeat is
  answered with the same refund); no refund notify URL is sent, so refund results never
  arrive on the payment notify endpoint.
- Receivers ``POST /v3/profitsharing/receivers/add`` (``relation_type=PARTNER``; the name,
  required for a ``MERCHANT_ID``, encrypted by the SDK with the platform public key and
  ``Wechatpay-Serial`` = the public key id); adding one again is accepted (idempotent).
- Profit sharing ``POST /v3/profitsharing/orders`` (``unfreeze_unsplit`` gives the rest back
  to the merchant) or, with no receivers, ``/v3/profitsharing/orders/unfreeze``.
- Records: the day's trade bill (``/v3/bill/tradebill``, gzip CSV, SHA1 checked).

Keys: the merchant's private key signs requests; the platform key ("WeChat Pay public
key" mode, ``platform_public_key`` + ``platform_public_key_id``) verifies responses and
notifications. The SDK is imported on the first outgoing call only.
"""

from __future__ import annotations

import base64
import binascii
import csv
import gzip
import hashlib
import json
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from shared.adapters.payments import secret_share_cap
from shared.domain.clock import LOCAL_TZ, Clock, from_wire, system_clock
from shared.domain.errors import Conflict, InvalidInput, UpstreamFailure
from shared.domain.payments import (
    DEFAULT_MAX_SHARE_BP,
    NotificationRejected,
    PaidNotice,
    PartnerReceiver,
    PaymentMethod,
    PrepayRequest,
    PrepayTicket,
    ProviderRecord,
    RefundRequest,
    RefundResult,
    ShareRequest,
    ShareResult,
    check_order_no,
    yuan_to_fen,
)

from .signed_headers import load_public_key, verify_signed_headers

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
HEADER_PREFIX = "Wechatpay-"
GATEWAY = "https://api.mch.weixin.qq.com"
TIMEOUT_S = (5, 15)
_PAID_ERRORS = frozenset({"ORDER_PAID", "ORDERPAID", "TRADE_STATE_ERROR"})


@dataclass(frozen=True)
class WeChatPayConfig:
    """The merchant's WeChat Pay credentials (secret JSON fields of the same names)."""

    mchid: str
    appid: str
    apiv3_key: str
    private_key: str
    cert_serial_no: str
    platform_public_key: str
    platform_public_key_id: str
    # The merchant's maximum profit-sharing ratio at WeChat Pay (optional secret field).
    max_share_bp: int = DEFAULT_MAX_SHARE_BP

    def __repr__(self) -> str:
        return f"WeChatPayConfig(mchid={self.mchid!r}, appid={self.appid!r}, keys=***)"

    @classmethod
    def from_secret(cls, secret: Mapping[str, str]) -> WeChatPayConfig:
        """Raises: UpstreamFailure naming the missing fields (never their values)."""
        names = [
            "mchid",
            "appid",
            "apiv3_key",
            "private_key",
            "cert_serial_no",
            "platform_public_key",
            "platform_public_key_id",
        ]
        missing = [name for name in names if not str(secret.get(name, "")).strip()]
        if missing:
            raise UpstreamFailure("WeChat Pay secret incomplete", missing=missing)
        if len(secret["apiv3_key"].encode("utf-8")) != 32:
            raise UpstreamFailure("WeChat Pay API v3 key must be 32 bytes", missing=[])
        return cls(
            **{name: str(secret[name]) for name in names},
            max_share_bp=secret_share_cap(secret),
        )


class WeChatPayProvider:
    """``PaymentProvider`` on WeChat Pay v3; ``notify_url`` is our ``/payments/notify/wechat``."""

    method = PaymentMethod.WECHAT

    def __init__(
        self,
        config: WeChatPayConfig,
        *,
        notify_url: str,
        clock: Clock = system_clock,
        gateway: str = GATEWAY,
    ) -> None:
        self._config = config
        self._notify_url = notify_url
        self._clock = clock
        self._gateway = gateway
        self._platform_keys = {
            config.platform_public_key_id: load_public_key(config.platform_public_key)
        }
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def max_share_bp(self) -> int:
        return self._config.max_share_bp

    # --- outgoing --------------------------------------------------------------------------

    def create_prepay(self, req: PrepayRequest) -> PrepayTicket:
        from wechatpayv3 import WeChatPayType

        client = self._sdk()
        answer = self._call(
            "pay",
            lambda: client.pay(
                description=req.description,
                out_trade_no=req.order_no,
                amount={"total": req.amount_fen, "currency": "CNY"},
                payer={"openid": req.payer_id},
                time_expire=req.expires_at.astimezone(LOCAL_TZ).isoformat(timespec="seconds"),
                settle_info={"profit_sharing": True},
                notify_url=self._notify_url,
                pay_type=WeChatPayType.MINIPROG,
            ),
        )
        prepay_id = answer.get("prepay_id")
        if not isinstance(prepay_id, str) or not prepay_id:
            raise UpstreamFailure("WeChat Pay answered no prepay_id", provider="wechat")
        time_stamp = str(int(self._clock().timestamp()))
        nonce_str = secrets.token_hex(16)
        package = f"prepay_id={prepay_id}"
        pay_sign = self._call_local(
            "sign", lambda: client.sign([self._config.appid, time_stamp, nonce_str, package])
        )
        return PrepayTicket(
            method=self.method,
            order_no=req.order_no,
            client_params={
                "timeStamp": time_stamp,
                "nonceStr": nonce_str,
                "package": package,
                "signType": "RSA",
                "paySign": str(pay_sign),
            },
        )

    def refund(self, req: RefundRequest) -> RefundResult:
        client = self._sdk()
        answer = self._call(
            "refund",
            lambda: client.refund(
                out_refund_no=req.out_refund_no,
                amount={"refund": req.refund_fen, "total": req.total_fen, "currency": "CNY"},
                out_trade_no=req.order_no,
                reason=req.reason or None,
            ),
        )
        status = answer.get("status")
        refund_fen = answer.get("amount", {}).get("refund", req.refund_fen)
        if status == "SUCCESS":
            return RefundResult(req.out_refund_no, "success", int(refund_fen))
        if status == "PROCESSING":
            return RefundResult(req.out_refund_no, "processing", int(refund_fen))
        raise UpstreamFailure("WeChat Pay refund failed", provider="wechat", refund_status=status)

    def add_receiver(self, receiver: PartnerReceiver) -> None:
        if not receiver.is_complete:
            raise InvalidInput(
                "a MERCHANT_ID receiver needs the merchant's full name", field="name"
            )
        kind = receiver.kind or _receiver_type(receiver.account)
        client = self._sdk()
        answer = self._call(
            "profitsharing_add_receiver",
            lambda: client.profitsharing_add_receiver(
                account_type=kind,
                account=receiver.account,
                relation_type="PARTNER",
                name=receiver.name,
            ),
        )
        if answer.get("account") not in (None, receiver.account):
            raise UpstreamFailure("WeChat Pay added another receiver", provider="wechat")

    def share_profit(self, req: ShareRequest) -> ShareResult:
        client = self._sdk()
        if req.receivers:
            receivers = [
                {
                    "type": _receiver_type(r.account),
                    "account": r.account,
                    "amount": r.amount_fen,
                    "description": r.description,
                }
                for r in req.receivers
            ]
            answer = self._call(
                "profitsharing_order",
                lambda: client.profitsharing_order(
                    transaction_id=req.provider_txn_id,
                    out_order_no=req.out_share_no,
                    receivers=receivers,
                    unfreeze_unsplit=req.unfreeze_rest,
                ),
            )
        else:
            answer = self._call(
                "profitsharing_unfreeze",
                lambda: client.profitsharing_unfreeze(
                    transaction_id=req.provider_txn_id,
                    out_order_no=req.out_share_no,
                    description="unfreeze the rest",
                ),
            )
        state = answer.get("state")
        if state == "FINISHED":
            return ShareResult(req.out_share_no, "success")
        if state == "PROCESSING":
            return ShareResult(req.out_share_no, "processing")
        raise UpstreamFailure("WeChat Pay profit sharing failed", provider="wechat", state=state)

    def close_order(self, order_no: str) -> None:
        check_order_no(order_no)
        client = self._sdk()
        self._call("close", lambda: client.close(out_trade_no=order_no))

    def records(self, day: date) -> list[ProviderRecord]:
        client = self._sdk()
        bill = self._call(
            "trade_bill", lambda: client.trade_bill(bill_date=day.isoformat(), bill_type="ALL")
        )
        url, hash_value = bill.get("download_url"), bill.get("hash_value")
        if not isinstance(url, str) or not isinstance(hash_value, str):
            raise UpstreamFailure("WeChat Pay bill answer malformed", provider="wechat")
        code, content = self._call_local("download_bill", lambda: client.download_bill(url))
        if code != 200 or not isinstance(content, bytes | str):
            raise UpstreamFailure("WeChat Pay bill download failed", provider="wechat", status=code)
        raw = content.encode("utf-8") if isinstance(content, str) else content
        if hashlib.sha1(raw, usedforsecurity=False).hexdigest().lower() != hash_value.lower():
            raise UpstreamFailure("WeChat Pay bill hash mismatch", provider="wechat")
        try:
            text = gzip.decompress(raw).decode("utf-8-sig")
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise UpstreamFailure("WeChat Pay bill unreadable", provider="wechat") from exc
        return parse_trade_bill(text)

    # --- incoming --------------------------------------------------------------------------

    def verify_notification(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> PaidNotice:
        verify_signed_headers(
            headers,
            body,
            now,
            prefix=HEADER_PREFIX,
            signature_type=SIGNATURE_TYPE,
            public_keys=self._platform_keys,
        )
        envelope = _json_object(body)
        if envelope.get("event_type") != "TRANSACTION.SUCCESS":
            raise NotificationRejected(400, "not_paid")
        resource = envelope.get("resource")
        if envelope.get("resource_type") != "encrypt-resource" or not isinstance(resource, dict):
            raise NotificationRejected(400, "malformed_body")
        transaction = _json_object(self._decrypt(resource))
        if transaction.get("mchid") != self._config.mchid:
            raise NotificationRejected(400, "merchant_mismatch")
        if transaction.get("appid") != self._config.appid:
            raise NotificationRejected(400, "app_mismatch")
        if transaction.get("trade_state") != "SUCCESS":
            raise NotificationRejected(400, "not_paid")
        return _paid_notice(transaction)

    def notification_ack(self) -> tuple[int, dict[str, str], str]:
        # API v3: HTTP 200 or 204 and no body means received.
        return 204, {}, ""

    # --- plumbing --------------------------------------------------------------------------

    def _decrypt(self, resource: Mapping[str, Any]) -> bytes:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise NotificationRejected(400, "unsupported_algorithm")
        nonce, ciphertext = resource.get("nonce"), resource.get("ciphertext")
        associated = resource.get("associated_data") or ""
        if not isinstance(nonce, str) or not isinstance(ciphertext, str):
            raise NotificationRejected(400, "malformed_body")
        if not isinstance(associated, str):
            raise NotificationRejected(400, "malformed_body")
        try:
            return AESGCM(self._config.apiv3_key.encode("utf-8")).decrypt(
                nonce.encode("utf-8"),
                base64.b64decode(ciphertext, validate=True),
                associated.encode("utf-8"),
            )
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise NotificationRejected(400, "undecryptable") from exc

    def _sdk(self) -> Any:
        with self._lock:
            if self._client is None:
                from wechatpayv3 import WeChatPay, WeChatPayType

                try:
                    client = WeChatPay(
                        wechatpay_type=WeChatPayType.MINIPROG,
                        mchid=self._config.mchid,
                        private_key=self._config.private_key,
                        cert_serial_no=self._config.cert_serial_no,
                        appid=self._config.appid,
                        apiv3_key=self._config.apiv3_key,
                        notify_url=None,
                        timeout=TIMEOUT_S,
                        public_key=self._config.platform_public_key,
                        public_key_id=self._config.platform_public_key_id,
                    )
                except Exception as exc:  # the SDK raises bare Exception on a bad key
                    raise UpstreamFailure("WeChat Pay keys unusable", provider="wechat") from exc
                if self._gateway != GATEWAY:
                    client._core._gate_way = self._gateway  # a stub provider in tests
                self._client = client
            return self._client

    @staticmethod
    def _call_local(operation: str, call: Any) -> Any:
        try:
            return call()
        except Exception as exc:  # SDK seam: requests errors and bare Exception alike
            raise UpstreamFailure(
                "WeChat Pay call failed", provider="wechat", operation=operation
            ) from exc

    def _call(self, operation: str, call: Any) -> dict[str, Any]:
        """Run one SDK request; 2xx answers (signature already verified by the SDK) as JSON."""
        code, text = self._call_local(operation, call)
        parsed: Any = {}
        if text:
            try:
                parsed = json.loads(text)
            except (TypeError, ValueError):
                parsed = {}
        body: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
        if 200 <= int(code) < 300:
            return body
        error_code = str(body.get("code", ""))
        if operation == "close" and error_code in _PAID_ERRORS:
            raise Conflict("order already paid", provider="wechat", code=error_code)
        raise UpstreamFailure(
            "WeChat Pay refused the call",
            provider="wechat",
            operation=operation,
            status=int(code),
            code=error_code,
        )


def _receiver_type(account: str) -> str:
    """A merchant id is digits, an openid never is (``stations.WechatReceiver`` agrees)."""
    return "MERCHANT_ID" if account.isdigit() else "PERSONAL_OPENID"


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise NotificationRejected(400, "malformed_body") from exc
    if not isinstance(value, dict):
        raise NotificationRejected(400, "malformed_body")
    return value


def _paid_notice(transaction: Mapping[str, Any]) -> PaidNotice:
    amount = transaction.get("amount")
    order_no = transaction.get("out_trade_no")
    txn_id = transaction.get("transaction_id")
    if not isinstance(amount, dict) or amount.get("currency", "CNY") != "CNY":
        raise NotificationRejected(400, "malformed_body")
    total = amount.get("total")
    if isinstance(total, bool) or not isinstance(total, int) or total <= 0:
        raise NotificationRejected(400, "malformed_body")
    if not isinstance(order_no, str) or not isinstance(txn_id, str) or not txn_id:
        raise NotificationRejected(400, "malformed_body")
    try:
        check_order_no(order_no)
        paid_at = from_wire(str(transaction.get("success_time")))
    except (InvalidInput, ValueError) as exc:
        raise NotificationRejected(400, "malformed_body") from exc
    return PaidNotice(
        method=PaymentMethod.WECHAT,
        order_no=order_no,
        provider_txn_id=txn_id,
        amount_fen=total,
        paid_at=paid_at,
    )


def parse_trade_bill(text: str) -> list[ProviderRecord]:
    """Rows of a WeChat Pay v3 ``ALL`` trade bill: payments (``SUCCESS``) and refunds.

    Every field starts with a backtick; amounts are yuan; times are Beijing time. The
    summary lines after the rows are ignored. Raises: UpstreamFailure on a malformed row.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    header = next(csv.reader([lines[0]]))
    records: list[ProviderRecord] = []
    for line in lines[1:]:
        if not line.startswith("`"):
            break  # the summary block starts
        row = dict(zip(header, (v.lstrip("`") for v in next(csv.reader([line]))), strict=False))
        try:
            at = datetime.fromisoformat(row["交易时间"]).replace(tzinfo=LOCAL_TZ).astimezone(UTC)
            if row["交易状态"] == "SUCCESS":
                records.append(
                    ProviderRecord(
                        order_no=row["商户订单号"],
                        kind="payment",
                        reference=row["微信订单号"],
                        amount_fen=yuan_to_fen(row["订单金额"]),
                        at=at,
                    )
                )
            elif row["交易状态"] == "REFUND":
                records.append(
                    ProviderRecord(
                        order_no=row["商户订单号"],
                        kind="refund",
                        reference=row["商户退款单号"],
                        amount_fen=yuan_to_fen(row["申请退款金额"]),
                        at=at,
                    )
                )
        except (KeyError, ValueError) as exc:
            raise UpstreamFailure("WeChat Pay bill row malformed", provider="wechat") from exc
    return records
