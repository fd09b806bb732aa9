"""Sign-in for operator staff and who the caller is."""

from __future__ import annotations

from typing import Any

from functions.operator_api import wiring
from functions.operator_api.models import LoginBody, MeView, RefreshBody, TokensView
from functions.operator_api.routes.common import caller, dump
from shared.http_api import DocumentedRouter, parse_body
from shared.services import staff

router = DocumentedRouter("auth")


@router.operation(
    "POST",
    "/operator/auth/login",
    "Sign in with username and password",
    body=LoginBody,
    response=TokensView,
    is_public=True,
)
def login() -> dict[str, Any]:
    body = parse_body(router.current_event, LoginBody)
    tokens = staff.sign_in(wiring.staff_directory(), body.username, body.password)
    return dump(TokensView.of(tokens))


@router.operation(
    "POST",
    "/operator/auth/refresh",
    "New ID and access tokens from a refresh token",
    body=RefreshBody,
    response=TokensView,
    is_public=True,
)
def refresh() -> dict[str, Any]:
    body = parse_body(router.current_event, RefreshBody)
    return dump(TokensView.of(staff.refresh_tokens(wiring.staff_directory(), body.refresh_token)))


@router.operation("GET", "/operator/me", "The signed-in staff member", response=MeView)
def me() -> dict[str, Any]:
    principal = caller(router)
    return dump(
        MeView(
            username=principal.username,
            role=principal.role.value,
            operator_id=principal.operator_id,
        )
    )
