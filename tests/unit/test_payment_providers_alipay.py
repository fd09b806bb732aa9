# ruff: noqa: RUF001  (Alipay's bill really uses full-width colons and parentheses)
"""Alipay adapter against a stubbed gateway with real RSA keys."""

from __future__ import annotations

import io
import urllib.error
import zipfile
from datetime import UTC, date, datetime, timedelta

import pytest

from shared.adapters.payments.alipay import AlipayConfig, AlipayProvider
from shared.domain.errors import Conflict, UpstreamFailure
from shared.domain.payments import (
    PaymentMethod,
    PrepayRequest,
    RefundRequest,
    ShareReceiver,
    ShareRequest,
)
from tests.unit.test_payment_providers_support import (
    ALIPAY_APP_ID,
    alipay_config,
    alipay_notification,
    alipay_notification_fields,
    gateway,
)

__all__ = ["gateway"]  # fixtures

NOW = datetime(2026, 12, 2, 6, 0, 10, tzinfo=UTC)
NOTIFY = "https://pay.example.com/payments/notify/alipay"


@pytest.fixture
def provider() -> AlipayProvider:
    return AlipayProvider(alipay_config(), notify_url=NOTIFY, clock=lambda: NOW)


def _prepay(payer_id: str = "2088102122524333") -> PrepayRequest:
    return PrepayRequest(
        order_no="po-000000000001",
        amount_fen=405,
        description="充电预付",
        payer_id=payer_id,
        expires_at=NOW + timedelta(minutes=15),
    )


def test_trade_create_body_in_yuan_when_prepay(gateway, provider) -> None:
    gateway.routes["alipay.trade.create"] = {
        "code": "10000",
        "msg": "Success",
        "out_trade_no": "po-000000000001",
        "trade_no": "2026120222001400000000000001",
    }
    ticket = provider.create_prepay(_prepay())
    assert ticket.method is PaymentMethod.ALIPAY
    assert ticket.client_params == {"tradeNO": "2026120222001400000000000001"}
    [call] = gateway.calls
    assert call["notify_url"] == NOTIFY
    assert call["timestamp"] == "2026-12-02 14:00:10"  # Beijing time, whatever the host's zone
    assert call["biz_content"] == {
        "subject": "充电预付",
        "out_trade_no": "po-000000000001",
        "total_amount": "4.05",
        "buyer_id": "2088102122524333",
        "product_code": "JSAPI_PAY",
        "op_app_id": ALIPAY_APP_ID,
        "time_expire": "2026-12-02 14:15:10",
    }


def test_open_id_buyer_when_payer_is_not_a_user_id(gateway, provider) -> None:
    gateway.routes["alipay.trade.create"] = {"code": "10000", "trade_no": "t1"}
    provider.create_prepay(_prepay("074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"))
    biz = gateway.calls[0]["biz_content"]
    assert "buyer_id" not in biz
    assert biz["buyer_open_id"] == "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"


def test_upstream_failure_when_business_error_unsigned_or_unreachable(gateway, provider) -> None:
    with pytest.raises(UpstreamFailure) as exc:
        provider.create_prepay(_prepay())  # no route: 40004 Business Failed
    assert exc.value.fields["code"] == "40004"
    gateway.routes["alipay.trade.create"] = {"code": "10000", "trade_no": "t1"}
    gateway.sign_answers = False
    with pytest.raises(UpstreamFailure):
        provider.create_prepay(_prepay())
    gateway.raise_error = urllib.error.URLError("down")
    with pytest.raises(UpstreamFailure):
        provider.create_prepay(_prepay())


def test_refund_body_with_stable_request_no_when_repeated(gateway, provider) -> None:
    gateway.routes["alipay.trade.refund"] = {
        "code": "10000",
        "msg": "Success",
        "fund_change": "Y",
        "refund_fee": "1.00",
    }
    request = RefundRequest("po-000000000001", "po-000000000001-r", 100, 400, "unused prepay")
    assert provider.refund(request) == provider.refund(request)
    assert provider.refund(request).status == "success"
    assert [c["biz_content"] for c in gateway.calls[:2]] == [
        {
            "refund_amount": "1.00",
            "out_trade_no": "po-000000000001",
            "out_request_no": "po-000000000001-r",
            "refund_reason": "unused prepay",
        }
    ] * 2


def test_order_settle_royalty_in_yuan_when_shared(gateway, provider) -> None:
    gateway.routes["alipay.trade.order.settle"] = {"code": "10000", "trade_no": "t1"}
    result = provider.share_profit(
        ShareRequest(
            "po-000000000001",
            "po-000000000001-s",
            "2026120222001400000000000001",
            (ShareReceiver("2088000000000002", 150, "site partner"),),
            unfreeze_rest=True,
        )
    )
    assert result.status == "success"
    assert gateway.calls[0]["biz_content"] == {
        "out_request_no": "po-000000000001-s",
        "trade_no": "2026120222001400000000000001",
        "royalty_parameters": [
            {
                "royalty_type": "transfer",
                "trans_in_type": "userId",
                "trans_in": "2088000000000002",
                "amount": "1.50",
                "desc": "site partner",
            }
        ],
        "extend_params": {"royalty_finish": "true"},
    }


def test_share_without_receivers_calls_nothing_when_alipay(gateway, provider) -> None:
    result = provider.share_profit(ShareRequest("po-000000000001", "u1", "t1", (), True))
    assert result.status == "success"
    assert gateway.calls == []


def test_close_tolerates_missing_trade_and_conflicts_when_paid(gateway, provider) -> None:
    gateway.routes["alipay.trade.close"] = {"code": "10000", "out_trade_no": "po-000000000001"}
    provider.close_order("po-000000000001")
    assert gateway.calls[0]["biz_content"] == {"out_trade_no": "po-000000000001"}
    gateway.routes["alipay.trade.close"] = {"code": "40004", "sub_code": "ACQ.TRADE_NOT_EXIST"}
    provider.close_order("po-000000000001")
    gateway.routes["alipay.trade.close"] = {"code": "40004", "sub_code": "ACQ.TRADE_STATUS_ERROR"}
    with pytest.raises(Conflict):
        provider.close_order("po-000000000001")


def _bill_zip() -> bytes:
    detail = (
        "#支付宝业务明细查询\n#账号：[20880000000000010156]\n"
        "#起始日期：[2026年12月02日 00:00:00]   终止日期：[2026年12月03日 00:00:00]\n"
        "#-----------------------------------------业务明细列表----------------------------------------\n"
        "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,"
        "对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,"
        "商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,"
        "退款批次号/请求号,服务费（元）,分润（元）,备注\n"
        "2026120222001400000000000001\t,po-000000000001\t,交易,充电预付,2026-12-02 14:00:00,"
        "2026-12-02 14:00:05,,,,,buyer,4.00,4.00,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,,-0.02,0.00,\n"
        "2026120222001400000000000001\t,po-000000000001\t,退款,充电预付,2026-12-02 14:00:00,"
        "2026-12-02 15:10:00,,,,,buyer,-1.00,-1.00,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,"
        "po-000000000001-r\t,0.01,0.00,\n"
        "#-----------------------------------------业务明细列表结束------------------------------------\n"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("20880000000000010156_20261202_业务明细.csv", detail.encode("gb18030"))
        bundle.writestr("20880000000000010156_20261202_业务明细(汇总).csv", "#x".encode("gb18030"))
    return buffer.getvalue()


def test_records_from_bill_zip_when_downloaded(gateway) -> None:
    gateway.routes["alipay.data.dataservice.bill.downloadurl.query"] = {
        "code": "10000",
        "bill_download_url": "https://dwbillcenter.alipay.com/downloadBillFile.resource?x=1",
    }
    archive = _bill_zip()
    provider = AlipayProvider(
        alipay_config(), notify_url=NOTIFY, clock=lambda: NOW, download=lambda url: archive
    )
    records = provider.records(date(2026, 12, 2))
    assert gateway.calls[0]["biz_content"] == {"bill_type": "trade", "bill_date": "2026-12-02"}
    assert [(r.kind, r.order_no, r.reference, r.amount_fen, r.at) for r in records] == [
        (
            "payment",
            "po-000000000001",
            "2026120222001400000000000001",
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
    broken = AlipayProvider(
        alipay_config(), notify_url=NOTIFY, clock=lambda: NOW, download=lambda url: b"nozip"
    )
    with pytest.raises(UpstreamFailure):
        broken.records(date(2026, 12, 2))


def test_valid_notification_verifies_every_time_when_repeated(provider) -> None:
    body = alipay_notification(alipay_notification_fields())
    notices = {provider.verify_notification({}, body, NOW) for _ in range(15)}
    assert len(notices) == 1
    [notice] = notices
    assert notice.method is PaymentMethod.ALIPAY
    assert (notice.order_no, notice.provider_txn_id, notice.amount_fen) == (
        "po-000000000001",
        "2026120222001400000000000001",
        400,
    )
    assert notice.paid_at == datetime(2026, 12, 2, 6, 0, 5, tzinfo=UTC)
    assert provider.notification_ack() == (
        200,
        {"Content-Type": "text/plain; charset=utf-8"},
        "success",
    )


def test_trade_finished_is_paid_too(provider) -> None:
    body = alipay_notification(alipay_notification_fields(trade_status="TRADE_FINISHED"))
    assert provider.verify_notification({}, body, NOW).amount_fen == 400


def test_config_refused_when_secret_incomplete() -> None:
    with pytest.raises(UpstreamFailure) as exc:
        AlipayConfig.from_secret({"app_id": "1", "app_private_key": "SECRETVALUE"})
    assert exc.value.fields["missing"] == ["alipay_public_key", "seller_id"]
    assert "SECRETVALUE" not in str(exc.value) + repr(exc.value.fields)
    assert "PRIVATE" not in repr(alipay_config())


def test_bare_base64_keys_accepted_when_console_format() -> None:
    config = alipay_config()
    bare = AlipayConfig(
        app_id=config.app_id,
        app_private_key="".join(config.app_private_key.strip().splitlines()[1:-1]),
        alipay_public_key="".join(config.alipay_public_key.strip().splitlines()[1:-1]),
        seller_id=config.seller_id,
    )
    provider = AlipayProvider(bare, notify_url=NOTIFY, clock=lambda: NOW)
    body = alipay_notification(alipay_notification_fields())
    assert provider.verify_notification({}, body, NOW).amount_fen == 400
