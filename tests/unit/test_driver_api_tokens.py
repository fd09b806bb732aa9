"""The driver token (pure): issued for two hours, refused when forged, altered or expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.driver_tokens import issue_token, verify_token
from shared.domain.drivers import LoginApp
from shared.domain.errors import InvalidInput, Unauthenticated

KEY = b"s" * 32
NOW = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
USER = "dr-00000000000000000001"


def test_a_token_names_its_driver_and_app_until_it_expires() -> None:
    token, expires_at = issue_token(KEY, USER, LoginApp.ALIPAY, NOW)

    verified = verify_token(KEY, token, NOW + timedelta(hours=1))

    assert (verified.user_id, verified.app) == (USER, LoginApp.ALIPAY)
    assert expires_at == NOW + timedelta(hours=2) == verified.expires_at


def test_a_token_is_refused_when_expired() -> None:
    token, _ = issue_token(KEY, USER, LoginApp.WECHAT, NOW)
    with pytest.raises(Unauthenticated):
        verify_token(KEY, token, NOW + timedelta(hours=2, minutes=1))


def test_a_token_is_refused_when_signed_with_another_key() -> None:
    token, _ = issue_token(b"o" * 32, USER, LoginApp.WECHAT, NOW)
    with pytest.raises(Unauthenticated):
        verify_token(KEY, token, NOW)


def test_a_short_key_is_refused_when_issuing() -> None:
    with pytest.raises(InvalidInput):
        issue_token(b"short", USER, LoginApp.WECHAT, NOW)


@given(position=st.integers(min_value=0), replacement=st.sampled_from("AQgw-_x"))
def test_any_changed_character_makes_the_token_invalid(position: int, replacement: str) -> None:
    token, _ = issue_token(KEY, USER, LoginApp.WECHAT, NOW)
    index = position % len(token)
    if token[index] in (replacement, "."):
        return
    altered = token[:index] + replacement + token[index + 1 :]
    try:
        verified = verify_token(KEY, altered, NOW)
    except Unauthenticated:
        return
    # base64url padding bits: a few last-character swaps decode to the same bytes
    assert verified.user_id == USER
