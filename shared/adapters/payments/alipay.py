"""Alipay (open platform, mini-program) through ``python-alipay-sdk``.

- Prepay: ``alipay.trade.create`` (``product_code=JSAPI_PAY``) with the buyer's
  ``buyer_id`` (``2088...``) or ``buyer_open_id``; ``total_amount`` is a yuan string
  with two decimals, converted from fen here only (``fen_to_yuan``). The mini-program
  gets ``tradeNO`` for ``my.tradePay``.
- Notifications (``application/x-www-form-urlencoded``): RSA2 verified with the Alipay
  public key through the SDK's ``verify`` (every parameter but ``sign`` and
  ``sign_type``, sorted), ``notify_time`` inside the freshness window (Beijing time),
  then ``app_id``, ``seller_id``, ``trade_status`` (TRADE_SUCCESS / TRADE_FINISHED) and
  the amount. The reply Alipay expects is exactly ``success``.
- Refunds: ``alipay.trade.refund`` with a stable ``out_request_no`` (a repeat refunds
  once). Royalty relation: ``alipay.trade.royalty.relation.bind`` (no SDK method: the
  SDK's generic ``server_api``), numbered by the receiver so a repeat binds once. Royalty:
  ``alipay.trade.order.settle`` (``royalty_finish`` when the rest is
  given back). Close: ``alipay.trade.close``. Records: the day's trade bill
  (``alipay.data.dataservice.bill.downloadurl.query``, a zip of GBK CSV).

The SDK stamps requests with the machine's naive local time; Lambda runs in UTC while
Alipay reads Beijing time, so ``build_body`` is overridden to stamp Asia/Shanghai time
from our clock. The SDK is imported on first use.
"""

from __future__ import annotations

import binascii
import csv
import hashlib
import io
import re
import threading
import urllib.parse
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from shared.adapters.payments import secret_share_cap
from shared.domain.clock import LOCAL_TZ, Clock, system_clock
from shared.domain.errors import Conflict, InvalidInput, UpstreamFailure
from shared.domain.payments import (
    DEFAULT_MAX_SHARE_BP,
    FRESHNESS_WINDOW_S,
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
    fen_to_yuan,
    is_fresh,
    yuan_to_fen,
)

GATEWAY = "https://openapi.alipay.com/gateway.do"
SUCCESS_CODE = "10000"
PAID_STATES = frozenset({"TRADE_SUCCESS", "TRADE_FINISHED"})
_ALIPAY_USER_ID = re.compile(r"^2088[0-9]{12}$")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_NOTIFICATION_BYTES = 16 * 1024
BILL_TIMEOUT_S = 15
# The bill's column names use full-width parentheses.
_AMOUNT_COLUMN = "订单金额\uff08元\uff09"


@dataclass(frozen=True)
class AlipayConfig:
    """The app's Alipay credentials (secret JSON fields of the same names)."""

    app_id: str
    app_private_key: str
    alipay_public_key: str
    seller_id: str
    # The app's maximum royalty ratio at Alipay (optional secret field).
    max_share_bp: int = DEFAULT_MAX_SHARE_BP

    def __repr__(self) -> str:
        return f"AlipayConfig(app_id={self.app_id!r}, seller_id={self.seller_id!r}, keys=***)"

    @classmethod
    def from_secret(cls, secret: Mapping[str, str]) -> AlipayConfig:
        """Raises: UpstreamFailure naming the missing fields (never their values)."""
        names = ["app_id", "app_private_key", "alipay_public_key", "seller_id"]
        missing = [name for name in names if not str(secret.get(name, "")).strip()]
        if missing:
            raise UpstreamFailure("Alipay secret incomplete", missing=missing)
        return cls(
            **{name: str(secret[name]) for name in names},
            max_share_bp=secret_share_cap(secret),
        )


def _pem(text: str, kind: str) -> str:
    """Alipay's console shows bare base64 keys; the SDK wants PEM."""
    body = text.strip()
    if body.startswith("-----BEGIN"):
        return body
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----"


class AlipayProvider:
    """``PaymentProvider`` on Alipay; ``notify_url`` is our ``/payments/notify/alipay``."""

    method = PaymentMethod.ALIPAY

    def __init__(
        self,
        config: AlipayConfig,
        *,
        notify_url: str,
        clock: Clock = system_clock,
        gateway: str = GATEWAY,
        download: Callable[[str], bytes] | None = None,
    ) -> None:
        self._config = config
        self._notify_url = notify_url
        self._clock = clock
        self._gateway = gateway
        self._download = download or _download
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def max_share_bp(self) -> int:
        return self._config.max_share_bp

    # --- outgoing --------------------------------------------------------------------------

    def create_prepay(self, req: PrepayRequest) -> PrepayTicket:
        client = self._sdk()
        buyer = "buyer_id" if _ALIPAY_USER_ID.match(req.payer_id) else "buyer_open_id"
        extra = {
            buyer: req.payer_id,
            "product_code": "JSAPI_PAY",
            "op_app_id": self._config.app_id,
            "time_expire": req.expires_at.astimezone(LOCAL_TZ).strftime(_TIME_FORMAT),
        }
        answer = self._call(
            "alipay.trade.create",
            lambda: client.api_alipay_trade_create(
                subject=req.description,
                out_trade_no=req.order_no,
                total_amount=fen_to_yuan(req.amount_fen),
                notify_url=self._notify_url,
                **extra,
            ),
        )
        trade_no = answer.get("trade_no")
        if not isinstance(trade_no, str) or not trade_no:
            raise UpstreamFailure("Alipay answered no trade_no", provider="alipay")
        return PrepayTicket(self.method, req.order_no, {"tradeNO": trade_no})

    def refund(self, req: RefundRequest) -> RefundResult:
        client = self._sdk()
        self._call(
            "alipay.trade.refund",
            lambda: client.api_alipay_trade_refund(
                refund_amount=fen_to_yuan(req.refund_fen),
                out_trade_no=req.order_no,
                out_request_no=req.out_refund_no,
                refund_reason=req.reason,
            ),
        )
        # code 10000 means done; fund_change "N" on a repeat means it was done before.
        return RefundResult(req.out_refund_no, "success", req.refund_fen)

    def add_receiver(self, receiver: PartnerReceiver) -> None:
        """The ``PaymentProvider`` port's name for ``bind_royalty_relation``."""
        self.bind_royalty_relation(receiver)

    def bind_royalty_relation(self, receiver: PartnerReceiver) -> None:
        """Bind the receiver into the app's royalty relation set
        (``alipay.trade.royalty.relation.bind``); a royalty to an unbound account is
        refused. ``out_request_no`` is derived from the receiver, so a repeat (a retry,
        another container) is the same request. Raises: UpstreamFailure."""
        entry: dict[str, str] = {
            "type": _account_type(receiver.account),
            "account": receiver.account,
            "memo": "site partner",
        }
        if receiver.name is not None:
            entry["name"] = receiver.name
        client = self._sdk()
        self._call(
            "alipay.trade.royalty.relation.bind",
            lambda: client.server_api(
                "alipay.trade.royalty.relation.bind",
                {"receiver_list": [entry], "out_request_no": relation_request_no(receiver)},
            ),
        )

    def share_profit(self, req: ShareRequest) -> ShareResult:
        if not req.receivers:
            # Alipay trades are not frozen (no royalty_freeze at create): nothing to release.
            return ShareResult(req.out_share_no, "success")
        client = self._sdk()
        royalty = [
            {
                "royalty_type": "transfer",
                "trans_in_type": _account_type(r.account),
                "trans_in": r.account,
                "amount": fen_to_yuan(r.amount_fen),
                "desc": r.description,
            }
            for r in req.receivers
        ]
        extend = {"royalty_finish": "true"} if req.unfreeze_rest else {}
        self._call(
            "alipay.trade.order.settle",
            lambda: client.api_alipay_trade_order_settle(
                out_request_no=req.out_share_no,
                trade_no=req.provider_txn_id,
                royalty_parameters=royalty,
                **({"extend_params": extend} if extend else {}),
            ),
        )
        return ShareResult(req.out_share_no, "success")

    def close_order(self, order_no: str) -> None:
        check_order_no(order_no)
        client = self._sdk()
        self._call(
            "alipay.trade.close",
            lambda: client.api_alipay_trade_close(out_trade_no=order_no),
            tolerated=frozenset({"ACQ.TRADE_NOT_EXIST"}),
        )

    def records(self, day: date) -> list[ProviderRecord]:
        client = self._sdk()
        answer = self._call(
            "alipay.data.dataservice.bill.downloadurl.query",
            lambda: client.server_api(
                "alipay.data.dataservice.bill.downloadurl.query",
                {"bill_type": "trade", "bill_date": day.isoformat()},
            ),
        )
        url = answer.get("bill_download_url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise UpstreamFailure("Alipay bill answer malformed", provider="alipay")
        try:
            archive = self._download(url)
        except (OSError, ValueError) as exc:
            raise UpstreamFailure("Alipay bill download failed", provider="alipay") from exc
        return parse_trade_bill_zip(archive)

    # --- incoming --------------------------------------------------------------------------

    def verify_notification(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> PaidNotice:
        del headers  # Alipay signs the form fields, not the request
        fields = _form_fields(body)
        signature = fields.pop("sign", "")
        sign_type = fields.pop("sign_type", "")
        if not signature:
            raise NotificationRejected(401, "missing_signature")
        if sign_type != "RSA2":
            raise NotificationRejected(401, "unsupported_signature_type")
        if not self._signature_ok(fields, signature):
            raise NotificationRejected(401, "bad_signature")
        try:
            sent_at = _beijing(fields.get("notify_time", ""))
        except ValueError as exc:
            raise NotificationRejected(401, "bad_timestamp") from exc
        if not is_fresh(sent_at, now, FRESHNESS_WINDOW_S):
            raise NotificationRejected(401, "stale")
        if fields.get("app_id") != self._config.app_id:
            raise NotificationRejected(400, "app_mismatch")
        if fields.get("seller_id") != self._config.seller_id:
            raise NotificationRejected(400, "seller_mismatch")
        if fields.get("trade_status") not in PAID_STATES:
            raise NotificationRejected(400, "not_paid")
        return _paid_notice(fields)

    def notification_ack(self) -> tuple[int, dict[str, str], str]:
        return 200, {"Content-Type": "text/plain; charset=utf-8"}, "success"

    # --- plumbing --------------------------------------------------------------------------

    def _signature_ok(self, fields: dict[str, str], signature: str) -> bool:
        client = self._sdk()
        try:
            return bool(client.verify(dict(fields), signature))
        except (binascii.Error, ValueError, TypeError):
            return False

    def _sdk(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = build_client(self._config, self._clock, self._gateway)
            return self._client

    def _call(
        self,
        operation: str,
        call: Callable[[], Any],
        *,
        tolerated: frozenset[str] = frozenset(),
    ) -> dict[str, Any]:
        try:
            answer = call()
        except Exception as exc:  # SDK seam: AliPayException, validation, URLError alike
            raise UpstreamFailure(
                "Alipay call failed", provider="alipay", operation=operation
            ) from exc
        if not isinstance(answer, dict):
            raise UpstreamFailure("Alipay answer malformed", provider="alipay", operation=operation)
        code, sub_code = str(answer.get("code", "")), str(answer.get("sub_code", ""))
        if code == SUCCESS_CODE or sub_code in tolerated:
            return answer
        if operation == "alipay.trade.close" and sub_code == "ACQ.TRADE_STATUS_ERROR":
            raise Conflict("order already paid", provider="alipay", code=sub_code)
        raise UpstreamFailure(
            "Alipay refused the call",
            provider="alipay",
            operation=operation,
            code=code,
            sub_code=sub_code,
        )


def build_client(config: AlipayConfig, clock: Clock, gateway: str) -> Any:
    from alipay import AliPay

    class ShanghaiTimeAliPay(AliPay):  # type: ignore[misc]
        def build_body(self, *args: Any, **kwargs: Any) -> Any:
            data = super().build_body(*args, **kwargs)
            data["timestamp"] = clock().astimezone(LOCAL_TZ).strftime(_TIME_FORMAT)
            return data

    try:
        client = ShanghaiTimeAliPay(
            appid=config.app_id,
            app_notify_url=None,
            app_private_key_string=_pem(config.app_private_key, "RSA PRIVATE KEY"),
            alipay_public_key_string=_pem(config.alipay_public_key, "PUBLIC KEY"),
            sign_type="RSA2",
        )
    except Exception as exc:  # the SDK raises ValueError/IndexError on unusable keys
        raise UpstreamFailure("Alipay keys unusable", provider="alipay") from exc
    if gateway != GATEWAY:
        client._gateway = gateway  # a stub provider in tests
    return client


def relation_request_no(receiver: PartnerReceiver) -> str:
    """The bind's ``out_request_no``: ``RB`` + 40 hex of the receiver (account and name),
    stable across retries and containers, new when the receiver's name changes."""
    digest = hashlib.sha256(f"{receiver.account}\n{receiver.name or ''}".encode()).hexdigest()
    return f"RB{digest[:40]}"


def _account_type(account: str) -> str:
    if _ALIPAY_USER_ID.match(account):
        return "userId"
    if "@" in account or account.isdigit():
        return "loginName"
    return "openId"


def _form_fields(body: bytes) -> dict[str, str]:
    if len(body) > MAX_NOTIFICATION_BYTES:
        raise NotificationRejected(400, "malformed_body")
    try:
        pairs = urllib.parse.parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=True
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise NotificationRejected(400, "malformed_body") from exc
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise NotificationRejected(400, "malformed_body")
    return fields


def _beijing(text: str) -> datetime:
    return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=LOCAL_TZ).astimezone(UTC)


def _paid_notice(fields: Mapping[str, str]) -> PaidNotice:
    order_no = fields.get("out_trade_no", "")
    trade_no = fields.get("trade_no", "")
    try:
        check_order_no(order_no)
        amount_fen = yuan_to_fen(fields.get("total_amount", ""))
        paid_at = _beijing(fields.get("gmt_payment", ""))
    except (InvalidInput, ValueError) as exc:
        raise NotificationRejected(400, "malformed_body") from exc
    if not trade_no or amount_fen <= 0:
        raise NotificationRejected(400, "malformed_body")
    return PaidNotice(
        method=PaymentMethod.ALIPAY,
        order_no=order_no,
        provider_txn_id=trade_no,
        amount_fen=amount_fen,
        paid_at=paid_at,
    )


def _download(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=BILL_TIMEOUT_S) as answer:  # noqa: S310
        return bytes(answer.read())


def parse_trade_bill_zip(archive: bytes) -> list[ProviderRecord]:
    """Payments and refunds from Alipay's trade bill zip (the ``业务明细`` CSV, GBK).

    Comment lines start with ``#``; the header row names the columns; refunds are rows of
    business type ``退款`` (amounts negative in the bill, positive here). Raises:
    UpstreamFailure on an unreadable archive or row.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
            names = [n for n in bundle.namelist() if n.endswith(".csv") and "汇总" not in n]
            texts = [bundle.read(name).decode("gb18030") for name in names]
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError) as exc:
        raise UpstreamFailure("Alipay bill unreadable", provider="alipay") from exc
    records: list[ProviderRecord] = []
    for text in texts:
        rows = [row for row in csv.reader(io.StringIO(text)) if row and not row[0].startswith("#")]
        if not rows:
            continue
        header = [cell.strip() for cell in rows[0]]
        for row in rows[1:]:
            line = dict(zip(header, (cell.strip() for cell in row), strict=False))
            try:
                kind = line["业务类型"]
                amount_fen = yuan_to_fen(line[_AMOUNT_COLUMN].lstrip("-"))
                at = _beijing(line["完成时间"])
                if kind == "交易":
                    records.append(
                        ProviderRecord(
                            line["商户订单号"], "payment", line["支付宝交易号"], amount_fen, at
                        )
                    )
                elif kind == "退款":
                    records.append(
                        ProviderRecord(
                            line["商户订单号"], "refund", line["退款批次号/请求号"], amount_fen, at
                        )
                    )
            except (KeyError, ValueError) as exc:
                raise UpstreamFailure("Alipay bill row malformed", provider="alipay") from exc
    return records
