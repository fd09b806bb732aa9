"""The driver API's own session tokens: HS256 JWTs signed with the DriverAuthSecret key.

A mini-program signs in with its app's one-time code and gets a token that lives two hours;
every other driver route needs it as ``Authorization: Bearer <token>``. The token names the
user (``sub``) and the app signed in from (``app``), nothing else (no openid, no phone).
Checks: the algorithm is HS256 only (``alg: none`` and RSA/HMAC confusion are refused), the
signature (PyJWT compares with ``hmac.compare_digest``), ``iss``, ``aud``, ``exp`` and
``iat`` (no leeway beyond ``LEEWAY``), and that ``sub`` is a user id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain.drivers import LoginApp, require_user_id
from shared.domain.errors import InvalidInput, Unauthenticated

ISSUER = "charging-cloud/driver-api"
AUDIENCE = "driver-mini-program"
ALGORITHM = "HS256"
TOKEN_TTL = timedelta(hours=2)
LEEWAY = timedelta(seconds=30)
MIN_KEY_BYTES = 32
MAX_TOKEN_LENGTH = 2048


@dataclass(frozen=True, slots=True)
class DriverToken:
    """A verified token: who, from which app, until when."""

    user_id: str
    app: LoginApp
    expires_at: datetime


def _require_key(key: bytes) -> bytes:
    if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
        raise InvalidInput(f"the signing key must be at least {MIN_KEY_BYTES} bytes", field="key")
    return key


def issue_token(key: bytes, user_id: str, app: LoginApp, now: datetime) -> tuple[str, datetime]:
    """A signed token for ``user_id`` and when it expires (``now`` + 2 h).

    Raises:
        InvalidInput: a short key, a bad user id or a naive ``now``.
    """
    if now.tzinfo is None:
        raise InvalidInput("now must be aware", field="now")
    expires_at = now + TOKEN_TTL
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": require_user_id(user_id),
        "app": LoginApp(app).value,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
    }
    import jwt  # cryptography behind it: paid for by requests that carry a token only

    token = jwt.encode(claims, _require_key(key), algorithm=ALGORITHM)
    return token, expires_at.replace(microsecond=0)


def verify_token(key: bytes, token: str, now: datetime) -> DriverToken:
    """The driver a token names, if we signed it and it is still valid at ``now``.

    Raises:
        Unauthenticated: forged, altered, expired, not yet valid, for another audience or
            issuer, or not a token at all (one message for all: nothing to probe).
    """
    import jwt

    refused = Unauthenticated("the sign-in token is not valid: sign in again")
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH:
        raise refused
    try:
        claims = jwt.decode(
            token,
            _require_key(key),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            # Expiry and issue time are checked against the injected clock below, not the
            # system's.
            options={
                "require": ["exp", "iat", "iss", "aud", "sub"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
        if int(claims["iat"]) > now.timestamp() + LEEWAY.total_seconds():
            raise refused
        if int(claims["exp"]) <= now.timestamp() - LEEWAY.total_seconds():
            raise refused
        user_id = require_user_id(claims["sub"])
        app = LoginApp(str(claims["app"]))
    except (jwt.PyJWTError, InvalidInput, ValueError, TypeError, KeyError) as exc:
        raise refused from exc
    return DriverToken(
        user_id=user_id,
        app=app,
        expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=now.tzinfo),
    )
