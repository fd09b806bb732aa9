"""API Gateway's HTTP API JWT authorizer, checking tokens against moto's Cognito.

Same checks as the deployed Cognito authorizer: ``Authorization: Bearer <token>`` (the
bare token is accepted too), an RS256 signature by a key of the pool's JWKS
(``{endpoint}/{user_pool_id}/.well-known/jwks.json``, served by moto), issuer
``https://cognito-idp.{region}.amazonaws.com/{user_pool_id}``, audience = the app
client id (``aud`` in ID tokens, ``client_id`` in access tokens), not expired.

Claims reach the integration as API Gateway renders them: every value a string, a list
as ``"[a b]"`` (so ``cognito:groups`` arrives as ``"[platform-admin]"``), numbers as
digits; ``scopes`` is the ``scope`` claim split, or None.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

log = logging.getLogger("local.jwt")

_REFETCH_AFTER_S = 30.0  # an unknown key id refetches the JWKS at most this often


class Unauthorized(Exception):
    """The request carries no valid token; API Gateway answers 401."""


@dataclass(frozen=True, slots=True)
class Authorization:
    """What the authorizer hands to the integration."""

    claims: dict[str, str]
    scopes: list[str] | None


def render_claim(value: Any) -> str:
    """One claim value the way API Gateway's JWT authorizer passes it on."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + " ".join(render_claim(item) for item in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def render_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    return {name: render_claim(value) for name, value in claims.items()}


class JwtAuthorizer:
    """Verifies Cognito tokens for one user pool and app client(s)."""

    def __init__(self, jwks_url: str, issuer: str, audience: Collection[str]) -> None:
        self._jwks_url = jwks_url
        self._issuer = issuer
        self._audience = frozenset(audience)
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    @classmethod
    def for_cognito(
        cls, endpoint_url: str, region: str, user_pool_id: str, client_ids: Collection[str]
    ) -> JwtAuthorizer:
        return cls(
            jwks_url=f"{endpoint_url.rstrip('/')}/{user_pool_id}/.well-known/jwks.json",
            issuer=f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}",
            audience=client_ids,
        )

    def load_keys(self) -> None:
        """Fetch the pool's JWKS (blocking: call it off the event loop)."""
        with urllib.request.urlopen(self._jwks_url, timeout=10) as response:  # noqa: S310 - local http URL we built
            document = json.loads(response.read())
        keys = {}
        for entry in document.get("keys", []):
            keys[entry["kid"]] = jwt.PyJWK(entry).key
        with self._lock:
            self._keys = keys
            self._fetched_at = time.monotonic()

    @property
    def has_keys(self) -> bool:
        return bool(self._keys)

    def authorize(self, authorization_header: str | None) -> Authorization:
        """Verify the token in an ``Authorization`` header.

        Raises:
            Unauthorized: missing, malformed, wrongly signed, foreign or expired token.
        """
        if not authorization_header:
            raise Unauthorized("no token")
        token = authorization_header.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        try:
            header = jwt.get_unverified_header(token)
            key = self._key(str(header.get("kid", "")))
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                issuer=self._issuer,
                options={"verify_aud": False, "require": ["exp", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(str(exc)) from exc
        audience = claims.get("aud", claims.get("client_id"))
        audiences = audience if isinstance(audience, list) else [audience]
        if not self._audience.intersection(str(item) for item in audiences):
            raise Unauthorized("token is for another client")
        scope = claims.get("scope")
        scopes = str(scope).split() if scope else None
        return Authorization(claims=render_claims(claims), scopes=scopes)

    def _key(self, kid: str) -> Any:
        key = self._keys.get(kid)
        if key is None and time.monotonic() - self._fetched_at > _REFETCH_AFTER_S:
            try:
                self.load_keys()
            except OSError as exc:
                log.warning("could not fetch the JWKS: %s", exc)
            key = self._keys.get(kid)
        if key is None:
            raise jwt.InvalidKeyError("unknown key id")
        return key
