"""WeChat Pay v3 style notification signatures, checked by hand (also used by the sandbox).

The provider signs ``timestamp\\nnonce\\nbody\\n`` with RSA-SHA256 (PKCS#1 v1.5) and sends
``{prefix}Timestamp``, ``-Nonce``, ``-Serial`` (which key), ``-Signature`` (base64) and
``-Signature-Type``. We check, in order: every header present, the signature type, no
probe signature (WeChat Pay sends ``WECHATPAY/SIGNTEST/...`` to see whether merchants
really verify), the key serial, the freshness window, then the signature over the exact
body bytes. The SDK's own ``callback()`` answers only None on failure and does not check
the time, so this is done here with ``cryptography``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shared.domain.payments import FRESHNESS_WINDOW_S, NotificationRejected, is_fresh

PROBE_PREFIX = "WECHATPAY/SIGNTEST/"
MAX_TIMESTAMP_DIGITS = 12


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names are case-insensitive (API Gateway lowercases them)."""
    return {str(name).lower(): str(value) for name, value in headers.items()}


def load_public_key(pem: str) -> Any:
    """An RSA public key from PEM, or from the bare base64 body WeChat's console shows."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    text = pem.strip()
    if not text.startswith("-----BEGIN"):
        text = f"-----BEGIN PUBLIC KEY-----\n{text}\n-----END PUBLIC KEY-----"
    return load_pem_public_key(text.encode("ascii"))


def verify_signed_headers(
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    *,
    prefix: str,
    signature_type: str,
    public_keys: Mapping[str, Any],
    window_s: int = FRESHNESS_WINDOW_S,
) -> None:
    """Authenticate one notification; ``public_keys`` maps serial -> public key.

    Raises: NotificationRejected(401) with reason ``missing_headers``,
    ``unsupported_signature_type``, ``probe_signature``, ``unknown_serial``,
    ``bad_timestamp``, ``stale`` or ``bad_signature``.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    lowered = lower_headers(headers)
    start = prefix.lower()
    timestamp = lowered.get(f"{start}timestamp", "")
    nonce = lowered.get(f"{start}nonce", "")
    serial = lowered.get(f"{start}serial", "")
    signature = lowered.get(f"{start}signature", "")
    kind = lowered.get(f"{start}signature-type", signature_type)
    if not (timestamp and nonce and serial and signature):
        raise NotificationRejected(401, "missing_headers")
    if kind != signature_type:
        raise NotificationRejected(401, "unsupported_signature_type")
    if signature.startswith(PROBE_PREFIX):
        raise NotificationRejected(401, "probe_signature")
    public_key = public_keys.get(serial)
    if public_key is None:
        raise NotificationRejected(401, "unknown_serial")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > MAX_TIMESTAMP_DIGITS:
        raise NotificationRejected(401, "bad_timestamp")
    if not is_fresh(datetime.fromtimestamp(int(timestamp), UTC), now, window_s):
        raise NotificationRejected(401, "stale")
    try:
        raw_signature = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NotificationRejected(401, "bad_signature") from exc
    message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
    try:
        public_key.verify(raw_signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise NotificationRejected(401, "bad_signature") from exc
