"""The WebSocket handshake of a pile: HTTP Basic credentials and sub-protocol choice.

OCPP security profiles 1 and 2 (1.6 security white paper §2, 2.0.1 Part 2 A00): the
Basic user is the pile's identity and the password is checked against the stored salted
hash. The pile offers sub-protocols in ``Sec-WebSocket-Protocol``; the one it is
registered with must be among them and is echoed back (RFC 6455 §4.2.2), otherwise the
pile would drop the connection.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.domain.ocpp.versions import OcppVersion
from shared.domain.passwords import ITERATIONS

# A well-formed encoding that no password matches: an unknown pile still costs one full
# PBKDF2 run, so response time does not tell which pile ids exist.
UNMATCHABLE_PASSWORD_HASH = (
    f"pbkdf2_sha256${ITERATIONS}$"
    f"{base64.b64encode(bytes(16)).decode()}${base64.b64encode(bytes(32)).decode()}"
)
MAX_AUTHORIZATION_LENGTH = 512


@dataclass(frozen=True, slots=True)
class BasicCredentials:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class PileAccess:
    """What ``$connect`` reads from the pile item."""

    pile_id: str
    operator_id: str
    station_id: str | None
    protocol: str  # ocpp1.6 | ocpp2.0.1 | modbus
    password_hash: str | None = field(repr=False)
    is_enabled: bool
    registration_status: str | None


def lower_keys(headers: Mapping[str, Any] | None) -> dict[str, Any]:
    """HTTP header names are case-insensitive; API Gateway passes them in any case."""
    return {str(name).lower(): value for name, value in (headers or {}).items()}


def parse_basic_auth(header: str | None) -> BasicCredentials | None:
    """``Basic base64(user:password)`` -> credentials, or None when absent or malformed."""
    if not header or len(header) > MAX_AUTHORIZATION_LENGTH:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    username, separator, password = decoded.partition(":")
    if not separator or not username or not password:
        return None
    return BasicCredentials(username=username, password=password)


def offered_subprotocols(header: str | None) -> list[str]:
    """The comma-separated tokens of ``Sec-WebSocket-Protocol``, in the pile's order."""
    if not header:
        return []
    return [token.strip() for token in header.split(",") if token.strip()]


def supported_offers(offered: list[str]) -> list[OcppVersion]:
    """The offered tokens we speak (token comparison is exact, RFC 6455 §4.1)."""
    return [version for version in OcppVersion if version.value in offered]
