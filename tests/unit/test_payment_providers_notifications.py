"""800 spoiled notifications across WeChat Pay and Alipay are refused (401/400) and the
verify stays pure; the checks an adapter cannot make (order, amount) are made by
``ensure_notice_matches`` against the order the workflow opened."""

from __future__ import annotations

import json
import random
import urllib.parse
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.adapters.payments.alipay import AlipayProvider
from shared.adapters.payments.wechat import WeChatPayProvider
from shared.domain.clock import LOCAL_TZ
from shared.domain.payments import (
    NotificationRejected,
    PaidNotice,
    ensure_notice_matches,
    fen_to_yuan,
)
from tests.unit.test_payment_providers_support import (
    PLATFORM_KEY_ID,
    alipay_config,
    alipay_notification,
    alipay_notification_fields,
    rsa_key,
    wechat_config,
    wechat_envelope,
    wechat_signed,
    wechat_transaction,
)

NOW = datetime(2026, 12, 2, 6, 0, 10, tzinfo=UTC)
ORDER_NO, AMOUNT_FEN = "po-000000000001", 400
VARIANTS_PER_PROVIDER = 400

Variant = tuple[str, dict[str, str], bytes, int, str]  # name, headers, body, status, reason


def _flip_byte(rng: random.Random, body: bytes) -> bytes:
    index = rng.randrange(len(body))
    replacement = rng.choice([c for c in b"0123456789abcdefXYZ" if c != body[index]])
    return body[:index] + bytes([replacement]) + body[index + 1 :]


def _wechat_variant(rng: random.Random) -> Variant:
    body = json.dumps(wechat_envelope(wechat_transaction())).encode()
    headers = wechat_signed(body, NOW)
    kind = rng.choice(
        [
            "tampered",
            "wrong_key",
            "stale",
            "future",
            "probe",
            "unknown_serial",
            "missing_header",
            "signature_type",
            "mchid",
            "appid",
            "not_paid_state",
            "not_paid_event",
            "wrong_apiv3_key",
            "amount",
            "order",
            "garbage_signature",
        ]
    )
    if kind == "tampered":
        return kind, headers, _flip_byte(rng, body), 401, "bad_signature"
    if kind == "wrong_key":
        return kind, wechat_signed(body, NOW, key=rsa_key("attacker")), body, 401, "bad_signature"
    if kind in ("stale", "future"):
        skew = timedelta(seconds=rng.randint(301, 86_400))
        at = NOW - skew if kind == "stale" else NOW + skew
        return kind, wechat_signed(body, at), body, 401, "stale"
    if kind == "probe":
        probe = {
            **headers,
            "Wechatpay-Signature": "WECHATPAY/SIGNTEST/" + headers["Wechatpay-Signature"],
        }
        return kind, probe, body, 401, "probe_signature"
    if kind == "unknown_serial":
        other = wechat_signed(body, NOW, serial=PLATFORM_KEY_ID + "0")
        return kind, other, body, 401, "unknown_serial"
    if kind == "missing_header":
        name = rng.choice(["Timestamp", "Nonce", "Serial", "Signature"])
        return (
            kind,
            {k: v for k, v in headers.items() if k != f"Wechatpay-{name}"},
            body,
            401,
            "missing_headers",
        )
    if kind == "signature_type":
        return (
            kind,
            {**headers, "Wechatpay-Signature-Type": "WECHATPAY2-SM2-WITH-SM3"},
            body,
            401,
            "unsupported_signature_type",
        )
    if kind == "garbage_signature":
        return kind, {**headers, "Wechatpay-Signature": "not base64!"}, body, 401, "bad_signature"
    # authentic (correctly signed) but not ours: refused with 400
    if kind == "mchid":
        body = json.dumps(wechat_envelope(wechat_transaction(mchid="1900000999"))).encode()
        reason = "merchant_mismatch"
    elif kind == "appid":
        body = json.dumps(wechat_envelope(wechat_transaction(appid="wx0000000000000000"))).encode()
        reason = "app_mismatch"
    elif kind == "not_paid_state":
        state = rng.choice(["NOTPAY", "CLOSED", "REFUND", "PAYERROR", "USERPAYING"])
        body = json.dumps(wechat_envelope(wechat_transaction(trade_state=state))).encode()
        reason = "not_paid"
    elif kind == "not_paid_event":
        body = json.dumps(
            wechat_envelope(wechat_transaction(), event_type="REFUND.SUCCESS")
        ).encode()
        reason = "not_paid"
    elif kind == "wrong_apiv3_key":
        body = json.dumps(wechat_envelope(wechat_transaction(), apiv3_key="f" * 32)).encode()
        reason = "undecryptable"
    elif kind == "amount":
        total = rng.choice([1, 399, 401, 40_000])
        amount = {"total": total, "payer_total": total, "currency": "CNY", "payer_currency": "CNY"}
        body = json.dumps(wechat_envelope(wechat_transaction(amount=amount))).encode()
        reason = "amount_mismatch"
    else:
        body = json.dumps(
            wechat_envelope(wechat_transaction(out_trade_no="po-000000000666"))
        ).encode()
        reason = "order_mismatch"
    return kind, wechat_signed(body, NOW), body, 400, reason


def _alipay_variant(rng: random.Random) -> Variant:
    fields = alipay_notification_fields()
    body = alipay_notification(fields)
    kind = rng.choice(
        [
            "tampered_field",
            "tampered_bytes",
            "wrong_key",
            "stale",
            "future",
            "missing_sign",
            "sign_type",
            "app_id",
            "seller_id",
            "not_paid",
            "amount",
            "order",
            "duplicate_field",
            "bad_amount",
        ]
    )
    if kind == "tampered_field":
        name = rng.choice(["total_amount", "out_trade_no", "seller_id", "trade_status", "app_id"])
        form = dict(urllib.parse.parse_qsl(body.decode()))
        form[name] = form[name] + "0"
        return kind, {}, urllib.parse.urlencode(form).encode(), 401, "bad_signature"
    if kind == "tampered_bytes":
        # change the amount's digits in the encoded body, signature untouched
        spoiled = body.replace(
            b"total_amount=4.00", b"total_amount=" + rng.choice([b"9.00", b"4.01", b"0.01"])
        )
        return kind, {}, spoiled, 401, "bad_signature"
    if kind == "wrong_key":
        return kind, {}, alipay_notification(fields, key=rsa_key("attacker")), 401, "bad_signature"
    if kind in ("stale", "future"):
        skew = timedelta(seconds=rng.randint(301, 86_400))
        at = (NOW - skew) if kind == "stale" else (NOW + skew)
        local = at.astimezone(LOCAL_TZ)
        spoiled_fields = {**fields, "notify_time": local.strftime("%Y-%m-%d %H:%M:%S")}
        return kind, {}, alipay_notification(spoiled_fields), 401, "stale"
    if kind == "missing_sign":
        form = dict(urllib.parse.parse_qsl(body.decode()))
        del form["sign"]
        return kind, {}, urllib.parse.urlencode(form).encode(), 401, "missing_signature"
    if kind == "sign_type":
        return (
            kind,
            {},
            alipay_notification(fields, sign_type="RSA"),
            401,
            "unsupported_signature_type",
        )
    if kind == "duplicate_field":
        return kind, {}, body + b"&total_amount=0.01", 400, "malformed_body"
    # authentic but not ours
    if kind == "app_id":
        return (
            kind,
            {},
            alipay_notification({**fields, "app_id": "2021000000000999"}),
            400,
            "app_mismatch",
        )
    if kind == "seller_id":
        return (
            kind,
            {},
            alipay_notification({**fields, "seller_id": "2088000000000999"}),
            400,
            "seller_mismatch",
        )
    if kind == "not_paid":
        status = rng.choice(["WAIT_BUYER_PAY", "TRADE_CLOSED"])
        return kind, {}, alipay_notification({**fields, "trade_status": status}), 400, "not_paid"
    if kind == "bad_amount":
        amount = rng.choice(["4.001", "-4.00", "4,00", "", "1e2"])
        return (
            kind,
            {},
            alipay_notification({**fields, "total_amount": amount}),
            400,
            "malformed_body",
        )
    if kind == "amount":
        amount = rng.choice(["0.01", "3.99", "4.01", "400.00"])
        return (
            kind,
            {},
            alipay_notification({**fields, "total_amount": amount}),
            400,
            "amount_mismatch",
        )
    spoiled = alipay_notification({**fields, "out_trade_no": "po-000000000666"})
    return kind, {}, spoiled, 400, "order_mismatch"


@pytest.fixture(scope="module")
def wechat() -> WeChatPayProvider:
    return WeChatPayProvider(wechat_config(), notify_url="https://x/payments/notify/wechat")


@pytest.fixture(scope="module")
def alipay_provider() -> AlipayProvider:
    return AlipayProvider(alipay_config(), notify_url="https://x/payments/notify/alipay")


def _take(provider: Any, headers: dict[str, str], body: bytes) -> PaidNotice:
    """What the notify endpoint does: verify, then check against the order it opened."""
    notice: PaidNotice = provider.verify_notification(headers, body, NOW)
    ensure_notice_matches(notice, order_no=ORDER_NO, amount_fen=AMOUNT_FEN)
    return notice


@pytest.mark.parametrize(
    ("name", "build"), [("wechat", _wechat_variant), ("alipay", _alipay_variant)]
)
def test_spoiled_notifications_refused_when_400_variants_each(
    request: pytest.FixtureRequest, name: str, build: Callable[[random.Random], Variant]
) -> None:
    provider = request.getfixturevalue("wechat" if name == "wechat" else "alipay_provider")
    rng = random.Random(f"notifications-{name}")
    good_body = (
        json.dumps(wechat_envelope(wechat_transaction())).encode()
        if name == "wechat"
        else alipay_notification(alipay_notification_fields())
    )
    good_headers = wechat_signed(good_body, NOW) if name == "wechat" else {}
    good = _take(provider, good_headers, good_body)

    seen: Counter[str] = Counter()
    for _ in range(VARIANTS_PER_PROVIDER):
        kind, headers, body, status, reason = build(rng)
        with pytest.raises(NotificationRejected) as exc:
            _take(provider, headers, body)
        assert (kind, exc.value.status, exc.value.reason) == (kind, status, reason)
        seen[kind] += 1
    # every kind was drawn, and the provider still takes the good one exactly as before
    assert len(seen) >= 12
    assert _take(provider, good_headers, good_body) == good


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    order_no=st.from_regex(r"[0-9A-Za-z_-]{6,32}", fullmatch=True),
    amount_fen=st.integers(min_value=1, max_value=10_000_000),
    skew_s=st.integers(min_value=-300, max_value=300),
)
def test_correctly_signed_notifications_accepted_when_any_order_amount_and_skew(
    wechat: WeChatPayProvider,
    alipay_provider: AlipayProvider,
    order_no: str,
    amount_fen: int,
    skew_s: int,
) -> None:
    amount = {"total": amount_fen, "payer_total": amount_fen, "currency": "CNY"}
    body = json.dumps(
        wechat_envelope(wechat_transaction(out_trade_no=order_no, amount=amount))
    ).encode()
    sent_at = NOW + timedelta(seconds=skew_s)
    notice = wechat.verify_notification(wechat_signed(body, sent_at), body, NOW)
    assert (notice.order_no, notice.amount_fen) == (order_no, amount_fen)

    fields = alipay_notification_fields(
        out_trade_no=order_no,
        total_amount=fen_to_yuan(amount_fen),
        notify_time=sent_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S"),
    )
    notice = alipay_provider.verify_notification({}, alipay_notification(fields), NOW)
    assert (notice.order_no, notice.amount_fen) == (order_no, amount_fen)
