"""Pure payment types and helpers: yuan strings, freshness, order checks, request validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.errors import InvalidInput
from shared.domain.payments import (
    MAX_AMOUNT_FEN,
    NotificationRejected,
    PaidNotice,
    PaymentMethod,
    PrepayRequest,
    RefundRequest,
    ShareReceiver,
    ShareRequest,
    ensure_notice_matches,
    fen_to_yuan,
    is_fresh,
    yuan_to_fen,
)

NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)


@given(st.integers(min_value=0, max_value=MAX_AMOUNT_FEN * 10))
def test_yuan_string_round_trips_when_any_fen_amount(amount_fen: int) -> None:
    text = fen_to_yuan(amount_fen)
    assert text.count(".") == 1 and len(text.split(".")[1]) == 2
    assert yuan_to_fen(text) == amount_fen


def test_yuan_strings_when_examples() -> None:
    assert fen_to_yuan(400) == "4.00"
    assert fen_to_yuan(5) == "0.05"
    assert fen_to_yuan(0) == "0.00"
    assert yuan_to_fen("4.5") == 450
    assert yuan_to_fen("4") == 400
    assert yuan_to_fen("0.01") == 1


@pytest.mark.parametrize(
    "text", ["", "-1.00", "1.001", "1e2", " 1.00", "1.00 ", "01.00", "1,00", "+1", ".5", "1."]
)
def test_yuan_to_fen_refuses_when_not_an_amount(text: str) -> None:
    with pytest.raises(ValueError):
        yuan_to_fen(text)


@pytest.mark.parametrize("bad", [-1, True, 1.5, "4"])
def test_fen_to_yuan_refuses_when_not_fen(bad: object) -> None:
    with pytest.raises(InvalidInput):
        fen_to_yuan(bad)  # type: ignore[arg-type]


def test_is_fresh_when_inside_or_outside_window_either_way() -> None:
    assert is_fresh(NOW - timedelta(seconds=300), NOW)
    assert is_fresh(NOW + timedelta(seconds=300), NOW)
    assert not is_fresh(NOW - timedelta(seconds=301), NOW)
    assert not is_fresh(NOW + timedelta(seconds=301), NOW)


def test_ensure_notice_matches_refuses_when_order_or_amount_differs() -> None:
    notice = PaidNotice(PaymentMethod.SANDBOX, "po-000001", "txn-1", 400, NOW)
    ensure_notice_matches(notice, order_no="po-000001", amount_fen=400)
    with pytest.raises(NotificationRejected) as exc:
        ensure_notice_matches(notice, order_no="po-000001", amount_fen=401)
    assert (exc.value.status, exc.value.reason) == (400, "amount_mismatch")
    with pytest.raises(NotificationRejected) as exc:
        ensure_notice_matches(notice, order_no="po-000002", amount_fen=400)
    assert exc.value.reason == "order_mismatch"


@pytest.mark.parametrize(
    "overrides",
    [
        {"order_no": "short"},
        {"order_no": "has space 123"},
        {"order_no": "x" * 33},
        {"amount_fen": 0},
        {"amount_fen": MAX_AMOUNT_FEN + 1},
        {"amount_fen": 4.0},
        {"amount_fen": True},
        {"description": ""},
        {"payer_id": " "},
        {"expires_at": datetime(2026, 12, 2, 6, 0)},
    ],
)
def test_prepay_request_refused_when_invalid(overrides: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "order_no": "po-000001",
        "amount_fen": 400,
        "description": "charging",
        "payer_id": "openid-1",
        "expires_at": NOW,
    }
    fields.update(overrides)
    with pytest.raises(InvalidInput):
        PrepayRequest(**fields)  # type: ignore[arg-type]


def test_refund_request_refused_when_more_than_paid_or_bad_number() -> None:
    RefundRequest("po-000001", "po-000001-r1", 100, 400, "unused")
    with pytest.raises(InvalidInput):
        RefundRequest("po-000001", "po-000001-r1", 401, 400, "unused")
    with pytest.raises(InvalidInput):
        RefundRequest("po-000001", "r 1", 100, 400, "unused")


def test_share_request_refused_when_nothing_to_do() -> None:
    ShareRequest("po-000001", "s1", "txn", (), unfreeze_rest=True)
    ShareRequest("po-000001", "s1", "txn", (ShareReceiver("1900000109", 150, "partner"),), False)
    with pytest.raises(InvalidInput):
        ShareRequest("po-000001", "s1", "txn", (), unfreeze_rest=False)
    with pytest.raises(InvalidInput):
        ShareReceiver("1900000109", 0, "partner")


def test_notification_rejected_refuses_when_status_not_400_or_401() -> None:
    with pytest.raises(ValueError):
        NotificationRejected(500, "x")


def test_share_request_refused_when_receivers_not_share_receivers() -> None:
    with pytest.raises(InvalidInput):
        ShareRequest("po-000001", "s1", "txn", ({"account": "x"},), True)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        ShareRequest("po-000001", "s1", "txn", [], True)  # type: ignore[arg-type]
