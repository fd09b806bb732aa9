"""What every driver route does the same way: who is calling, path ids, bodies."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from functions.driver_api import wiring
from shared.domain.driver_tokens import DriverToken
from shared.domain.errors import NotFound
from shared.http_api import DocumentedRouter
from shared.observability import logger
from shared.services.driver_login import authenticate, bearer_token


def driver(router: DocumentedRouter) -> DriverToken:
    """The signed-in driver of the current request. Raises: Unauthenticated."""
    event = router.current_event
    headers = {str(k): str(v) for k, v in (event.headers or {}).items()}
    bearer_token(headers)  # no token: refused before the signing key is read
    verified = authenticate(wiring.signing_key(), headers, wiring.clock())
    logger.append_keys(user_id=verified.user_id)
    return verified


def path_id(value: str, pattern: str, kind: str) -> str:
    """A path id of the right shape; any other shape names nothing (404, no table read)."""
    if re.fullmatch(pattern.removeprefix("^").removesuffix("$"), value) is None:
        raise NotFound(f"no {kind} has this id", kind=kind)
    return value


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")
