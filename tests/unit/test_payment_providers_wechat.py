"""WeChat Pay v3 adapter against stubbed provider HTTP with real RSA keys."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, date, datetime, timedelta

import pytest
import requests

from shared.adapters.payments.wechat import WeChatPayConfig, WeChatPayProvider, parse_trade_bill
from shared.domain.errors import Conflict, UpstreamFailure
from shared.domain.payments import (
    PaymentMethod,
    PrepayRequest,
    RefundRequest,
    ShareReceiver,
    ShareRequest,
)
from tests.unit.test_payment_providers_support import (
    APPID,
    http,
    rsa_key,
    verify,
    wechat_config,
    wechat_envelope,
    wechat_signed,
    wechat_transaction,
)

__all__ = ["http"]  # fixtures

NOW = datetime(2026, 12, 2, 6, 0, 10, tzinfo=UTC)
NOTIFY = "https://pay.example.com/payments/notify/wechat"


@pytest.fixture
def provider() -> WeChatPayProvider:
    return WeChatPayProvider(wechat_config(), notify_url=NOTIFY, clock=lambda: NOW)


def _prepay() -> PrepayRequest:
    return PrepayRequest(
        order_no="po-000000000001",
        amount_fen=400,
        description="充电预付",
        payer_id="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        expires_at=NOW + timedelta(minutes=15),
    )


def test_prepay_body_and_signed_client_params_when_jsapi(http, provider) -> None:
    http.routes[("POST", "/v3/pay/transactions/jsapi")] = (200, {"prepay_id": "wx0212345"})
    ticket = provider.create_prepay(_prepay())

    [call] = http.calls
    assert call["json"] == {
        "notify_url": NOTIFY,
        "description": "充电预付",
        "out_trade_no": "po-000000000001",
        "amount": {"total": 400, "currency": "CNY"},
        "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
        "time_expire": "2026-12-02T14:15:10+08:00",
        "settle_info": {"profit_sharing": True},
        "appid": APPID,
        "mchid": "1900000109",
    }
    params = ticket.client_params
    assert ticket.method is PaymentMethod.WECHAT
    assert set(params) == {"timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert params["package"] == "prepay_id=wx0212345"
    assert params["signType"] == "RSA"
    assert params["timeStamp"] == str(int(NOW.timestamp()))
    message = f"{APPID}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    assert verify(rsa_key("wechat-merchant"), message.encode(), params["paySign"])


def test_upstream_failure_when_provider_refuses_or_transport_fails(http, provider) -> None:
    http.routes[("POST", "/v3/pay/transactions/jsapi")] = (
        400,
        {"code": "PARAM_ERROR", "message": "bad"},
    )
    with pytest.raises(UpstreamFailure) as exc:
        provider.create_prepay(_prepay())
    assert exc.value.fields["code"] == "PARAM_ERROR"
    http.raise_error = requests.ConnectionError("down")
    with pytest.raises(UpstreamFailure):
        provider.create_prepay(_prepay())


def test_upstream_failure_when_answer_not_signed_by_platform(http, provider) -> None:
    http.routes[("POST", "/v3/pay/transactions/jsapi")] = (200, {"prepay_id": "wx0212345"})
    http.sign_answers = False
    with pytest.raises(UpstreamFailure):
        provider.create_prepay(_prepay())


def test_refund_body_and_stable_number_when_repeated(http, provider) -> None:
    http.routes[("POST", "/v3/refund/domestic/refunds")] = (
        200,
        {
            "refund_id": "50000000382019052709732678859",
            "out_refund_no": "po-000000000001-r",
            "status": "PROCESSING",
            "amount": {"refund": 100, "total": 400, "currency": "CNY"},
        },
    )
    request = RefundRequest("po-000000000001", "po-000000000001-r", 100, 400, "unused prepay")
    first = provider.refund(request)
    second = provider.refund(request)
    assert first == second
    assert (first.status, first.refund_fen) == ("processing", 100)
    assert [c["json"] for c in http.calls] == [
        {
            "out_refund_no": "po-000000000001-r",
            "amount": {"refund": 100, "total": 400, "currency": "CNY"},
            "out_trade_no": "po-000000000001",
            "reason": "unused prepay",
        }
    ] * 2


@pytest.mark.parametrize("status", ["ABNORMAL", "CLOSED"])
def test_refund_upstream_failure_when_not_accepted(http, provider, status) -> None:
    http.routes[("POST", "/v3/refund/domestic/refunds")] = (200, {"status": status})
    with pytest.raises(UpstreamFailure):
        provider.refund(RefundRequest("po-000000000001", "r1", 100, 400, ""))


def test_profit_sharing_order_with_unfreeze_when_receivers(http, provider) -> None:
    http.routes[("POST", "/v3/profitsharing/orders")] = (200, {"state": "PROCESSING"})
    result = provider.share_profit(
        ShareRequest(
            "po-000000000001",
            "po-000000000001-s",
            "4200000000202612020000000001",
            (
                ShareReceiver("1900000110", 150, "site partner"),
                ShareReceiver("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", 1, "test openid"),
            ),
            unfreeze_rest=True,
        )
    )
    assert result.status == "processing"
    assert http.calls[0]["json"] == {
        "transaction_id": "4200000000202612020000000001",
        "out_order_no": "po-000000000001-s",
        "unfreeze_unsplit": True,
        "receivers": [
            {
                "type": "MERCHANT_ID",
                "account": "1900000110",
                "amount": 150,
                "description": "site partner",
            },
            {
                "type": "PERSONAL_OPENID",
                "account": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
                "amount": 1,
                "description": "test openid",
            },
        ],
        "appid": APPID,
    }


def test_unfreeze_only_when_no_receivers(http, provider) -> None:
    http.routes[("POST", "/v3/profitsharing/orders/unfreeze")] = (200, {"state": "FINISHED"})
    result = provider.share_profit(
        ShareRequest("po-000000000001", "u1", "4200000000202612020000000001", (), True)
    )
    assert result.status == "success"
    assert http.calls[0]["json"] == {
        "transaction_id": "4200000000202612020000000001",
        "out_order_no": "u1",
        "description": "unfreeze the rest",
    }


def test_close_order_body_and_conflict_when_paid(http, provider) -> None:
    http.routes[("POST", "/v3/pay/transactions/out-trade-no/po-000000000001/close")] = (204, None)
    provider.close_order("po-000000000001")
    assert http.calls[0]["json"] == {"mchid": "1900000109"}
    http.routes[("POST", "/v3/pay/transactions/out-trade-no/po-000000000001/close")] = (
        400,
        {"code": "ORDER_PAID", "message": "paid"},
    )
    with pytest.raises(Conflict):
        provider.close_order("po-000000000001")


BILL = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,"
    "付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,"
    "退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\n"
    "`2026-12-02 14:00:05,`wx8888888888888888,`1900000109,`0,`,`4200000000202612020000000001,"
    "`po-000000000001,`oUpF8u,`JSAPI,`SUCCESS,`OTHERS,`CNY,`4.00,`0.00,`0,`0,`0.00,`0.00,`,`,"
    "`充电预付,`,`0.02,`0.60%,`4.00,`0.00,`\n"
    "`2026-12-02 15:10:00,`wx8888888888888888,`1900000109,`0,`,`4200000000202612020000000001,"
    "`po-000000000001,`oUpF8u,`JSAPI,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`5000000038,"
    "`po-000000000001-r,`1.00,`0.00,`ORIGINAL,`SUCCESS,`充电预付,`,`-0.01,`0.60%,`0.00,`1.00,`\n"
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n"
    "`2,`4.00,`1.00,`0.00,`0.01,`4.00,`1.00\n"
)


def test_records_from_trade_bill_when_hash_matches(http, provider) -> None:
    packed = gzip.compress(BILL.encode("utf-8"))
    url = "https://api.mch.weixin.qq.com/v3/billdownload/file?token=abc"
    http.routes[("GET", "/v3/bill/tradebill")] = (
        200,
        {
            "hash_type": "SHA1",
            "hash_value": hashlib.sha1(packed).hexdigest(),
            "download_url": url,
        },
    )
    http.routes[("GET", "/v3/billdownload/file")] = (200, packed)
    records = provider.records(date(2026, 12, 2))
    assert (
        http.calls[0]["path"]
        == "/v3/bill/tradebill?bill_date=2026-12-02&bill_type=ALL&tar_type=GZIP"
    )
    assert [(r.kind, r.order_no, r.reference, r.amount_fen, r.at) for r in records] == [
        (
            "payment",
            "po-000000000001",
            "4200000000202612020000000001",
            400,
            datetime(2026, 12, 2, 6, 0, 5, tzinfo=UTC),
        ),
        (
            "refund",
            "po-000000000001",
            "po-000000000001-r",
            100,
            datetime(2026, 12, 2, 7, 10, tzinfo=UTC),
        ),
    ]
    http.routes[("GET", "/v3/billdownload/file")] = (200, packed + b"x")
    with pytest.raises(UpstreamFailure):
        provider.records(date(2026, 12, 2))


def test_trade_bill_row_malformed_is_upstream_failure() -> None:
    with pytest.raises(UpstreamFailure):
        parse_trade_bill(BILL.replace("`4.00,`0.00,`\n", "`4.x,`0.00,`\n", 1))


def test_valid_notification_verifies_every_time_when_repeated(provider) -> None:
    body = json.dumps(wechat_envelope(wechat_transaction())).encode()
    headers = wechat_signed(body, NOW)
    notices = {provider.verify_notification(headers, body, NOW) for _ in range(15)}
    assert len(notices) == 1
    [notice] = notices
    assert notice.method is PaymentMethod.WECHAT
    assert notice.order_no == "po-000000000001"
    assert notice.provider_txn_id == "4200000000202612020000000001"
    assert notice.amount_fen == 400
    assert notice.paid_at == datetime(2026, 12, 2, 6, 0, 5, tzinfo=UTC)
    lowered = {k.lower(): v for k, v in headers.items()}
    assert provider.verify_notification(lowered, body, NOW) == notice
    assert provider.notification_ack() == (204, {}, "")


def test_notification_needs_no_sdk_import_when_verifying(provider) -> None:
    body = json.dumps(wechat_envelope(wechat_transaction())).encode()
    provider.verify_notification(wechat_signed(body, NOW), body, NOW)
    assert provider._client is None


def test_config_refused_when_secret_incomplete() -> None:
    with pytest.raises(UpstreamFailure) as exc:
        WeChatPayConfig.from_secret({"mchid": "1", "appid": "", "apiv3_key": "SECRETVALUE"})
    assert "platform_public_key" in exc.value.fields["missing"]
    assert "SECRETVALUE" not in repr(exc.value.fields) + str(exc.value)
    assert "PRIVATE" not in repr(wechat_config())


def test_share_cap_is_30_percent_unless_the_secret_raises_it() -> None:
    config = wechat_config()
    fields = {name: str(getattr(config, name)) for name in config.__dataclass_fields__}
    del fields["max_share_bp"]
    assert WeChatPayConfig.from_secret(fields).max_share_bp == 3_000
    raised = WeChatPayConfig.from_secret({**fields, "max_share_bp": "5000"})
    assert raised.max_share_bp == 5_000
    assert WeChatPayProvider(raised, notify_url="https://x.example/n").max_share_bp == 5_000


@pytest.mark.parametrize("value", ["0", "10001", "half"])
def test_config_refused_when_the_share_cap_is_not_1_to_10000(value: str) -> None:
    config = wechat_config()
    fields = {name: str(getattr(config, name)) for name in config.__dataclass_fields__}
    with pytest.raises(UpstreamFailure) as exc:
        WeChatPayConfig.from_secret({**fields, "max_share_bp": value})
    assert "max_share_bp" in str(exc.value)
