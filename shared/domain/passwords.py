"""Pile passwords (OCPP security profiles 1 and 2): salted PBKDF2-HMAC-SHA256, checked in
constant time. Stored as ``pbkdf2_sha256$<iterations>$<salt b64>$<hash b64>``; the password
itself is never stored, returned or logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

# Pile passwords are 16-40 characters chosen by the operator or generated, so they carry far
# more entropy than a person's password; 50,000 rounds keep a connect under ~30 ms of CPU
# while a thousand piles reconnect after API Gateway's 2-hour cut.
ITERATIONS = 50_000
MIN_LENGTH = 16
MAX_LENGTH = 40
_SCHEME = "pbkdf2_sha256"


def is_acceptable_password(password: str) -> bool:
    """OCPP 1.6 security whitepaper / 2.0.1: 16 to 40 printable ASCII characters."""
    return MIN_LENGTH <= len(password) <= MAX_LENGTH and all(
        32 < ord(char) < 127 for char in password
    )


def hash_password(password: str, salt: bytes, iterations: int = ITERATIONS) -> str:
    """Encode a password with its salt for storage; the caller supplies 16 random bytes."""
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    salt_text = base64.b64encode(salt).decode()
    digest_text = base64.b64encode(digest).decode()
    return f"{_SCHEME}${iterations}${salt_text}${digest_text}"


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches the stored encoding; compares in constant time."""
    try:
        scheme, iterations_text, salt_text, digest_text = encoded.split("$")
        iterations = int(iterations_text)
        salt = base64.b64decode(salt_text, validate=True)
        expected = base64.b64decode(digest_text, validate=True)
    except ValueError:
        return False
    if scheme != _SCHEME or not 0 < iterations <= 10_000_000:
        return False
    actual = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return hmac.compare_digest(actual, expected)
