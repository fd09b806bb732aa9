"""Sign-in with the mini-program app's code, and the driver's own profile."""

from __future__ import annotations

from typing import Any

from functions.driver_api import wiring
from functions.driver_api.models import LoginBody, LoginView, ProfilePatch, ProfileView
from functions.driver_api.routes.common import driver, dump
from shared.domain.drivers import Driver
from shared.http_api import DocumentedRouter, parse_body
from shared.services import driver_login

router = DocumentedRouter("auth")


def _profile(found: Driver) -> ProfileView:
    return ProfileView(
        user_id=found.user_id,
        created_at=found.created_at,
        apps=sorted(found.openids),
        phone=found.phone,
        nickname=found.nickname,
        consumption_wh_per_km=found.consumption_wh_per_km,
    )


@router.operation(
    "POST",
    "/driver/auth/login",
    "Sign in with the app's one-time code; the first sign-in creates the account",
    body=LoginBody,
    response=LoginView,
    is_public=True,
    errors=(401, 501),
)
def login() -> dict[str, Any]:
    body = parse_body(router.current_event, LoginBody)
    ports = driver_login.LoginPorts(
        drivers=wiring.drivers(),
        identities=wiring.identities(),
        signing_key=wiring.signing_key,
        clock=wiring.clock,
        new_id=wiring.make_id,
    )
    signed = driver_login.sign_in(ports, body.app, body.code)
    return dump(
        LoginView(
            token=signed.token,
            expires_at=signed.expires_at,
            user_id=signed.driver.user_id,
            is_new=signed.is_new,
        )
    )


@router.operation(
    "GET", "/driver/me", "The signed-in driver's account", response=ProfileView, errors=(404,)
)
def me() -> dict[str, Any]:
    who = driver(router)
    return dump(_profile(driver_login.get_profile(wiring.drivers(), who.user_id)))


@router.operation(
    "PATCH",
    "/driver/me",
    "Change phone, nickname or the vehicle's consumption (null clears)",
    body=ProfilePatch,
    response=ProfileView,
    errors=(404,),
)
def update_me() -> dict[str, Any]:
    who = driver(router)
    body = parse_body(router.current_event, ProfilePatch)
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    updated = driver_login.update_profile(wiring.drivers(), who.user_id, **changes)
    return dump(_profile(updated))
