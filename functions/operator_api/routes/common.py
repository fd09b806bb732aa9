"""What every operator-API route does the same way: who is calling, path ids, pages."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from functions.operator_api.models import PageQuery
from shared.domain.base_data import Page, PageRequest
from shared.domain.errors import NotFound
from shared.domain.tenancy import Principal
from shared.http_api import DocumentedRouter, principal_of

T = TypeVar("T")


def caller(router: DocumentedRouter) -> Principal:
    """The signed-in staff member of the current request. Raises: Unauthenticated, Forbidden."""
    return principal_of(router.current_event)


def path_id(value: str, pattern: str, kind: str) -> str:
    """A path id of the right shape; any other shape names nothing (404, no table read)."""
    if re.fullmatch(pattern.removeprefix("^").removesuffix("$"), value) is None:
        raise NotFound(f"no {kind} has this id", kind=kind)
    return value


def gun_number(value: str) -> int:
    """A gun/port number from the path (1..20). Raises: NotFound."""
    if re.fullmatch(r"[1-9][0-9]?", value) is None or int(value) > 20:
        raise NotFound("no gun has this number", kind="gun")
    return int(value)


def page_request(query: PageQuery) -> PageRequest:
    return PageRequest(limit=query.limit, next_token=query.next_token)


def page_body(page: Page[T], view: Callable[[T], BaseModel]) -> dict[str, Any]:
    """``{"items": [...], "next_token": ...}`` with each item rendered by ``view``."""
    items: Sequence[T] = page.items
    return {
        "items": [view(item).model_dump(mode="json") for item in items],
        "next_token": page.next_token,
    }


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")
