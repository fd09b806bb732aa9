"""Piles and their guns/ports."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from functions.operator_api import wiring
from functions.operator_api.models import (
    PILE_ID,
    GunList,
    GunPatch,
    GunView,
    PileCreate,
    PileCreatedView,
    PilePage,
    PilePasswordBody,
    PilePatch,
    PileQuery,
    PileView,
)
from functions.operator_api.routes.common import (
    caller,
    dump,
    gun_number,
    page_body,
    page_request,
    path_id,
)
from shared.domain.modbus_maps import shipped_maps
from shared.http_api import DocumentedRouter, created, no_content, parse_body, parse_query
from shared.services import base_data_piles as piles
from shared.services import gateway_devices

router = DocumentedRouter("piles")
ONE = "/operator/piles/<pile_id>"
IDS = {"pile_id": PILE_ID}


@router.operation(
    "POST",
    "/operator/piles",
    "Register a pile with its guns/ports (one transaction); a modbus pile joins its gateway's bus",
    status=201,
    body=PileCreate,
    response=PileCreatedView,
    errors=(404, 409),
)
def create_pile() -> tuple[dict[str, Any], int]:
    body = parse_body(router.current_event, PileCreate)
    pile, guns = gateway_devices.create_pile(
        wiring.base_data(),
        wiring.gateways(),
        caller(router),
        body.model_dump(),
        clock=wiring.clock,
        random_bytes=wiring.random_bytes,
        maps=shipped_maps(),
    )
    view = PileCreatedView(**PileView.of(pile).model_dump(), guns=[GunView.of(gun) for gun in guns])
    return created(dump(view))


@router.operation(
    "GET",
    "/operator/piles",
    "Piles of an operator, or of one station",
    query=PileQuery,
    response=PilePage,
    errors=(404,),
)
def list_piles() -> dict[str, Any]:
    query = parse_query(router.current_event, PileQuery)
    page = piles.list_piles(
        wiring.base_data(),
        caller(router),
        query.operator_id,
        query.station_id,
        page_request(query),
    )
    return page_body(page, PileView.of)


@router.operation(
    "GET",
    ONE,
    "One pile with its presence",
    response=PileView,
    path_patterns=IDS,
    errors=(404,),
)
def get_pile(pile_id: str) -> dict[str, Any]:
    pile_id = path_id(pile_id, PILE_ID, "pile")
    return dump(PileView.of(piles.get_pile(wiring.base_data(), caller(router), pile_id)))


@router.operation(
    "PATCH",
    ONE,
    "Change a pile's description or enabled flag (a modbus pile's bus entry follows)",
    body=PilePatch,
    response=PileView,
    path_patterns=IDS,
    errors=(404, 409),
)
def update_pile(pile_id: str) -> dict[str, Any]:
    pile_id = path_id(pile_id, PILE_ID, "pile")
    body = parse_body(router.current_event, PilePatch)
    pile = gateway_devices.update_pile(
        wiring.base_data(),
        wiring.gateways(),
        caller(router),
        pile_id,
        body.changes(),
        clock=wiring.clock,
        maps=shipped_maps(),
    )
    return dump(PileView.of(pile))


@router.operation(
    "DELETE",
    ONE,
    "Remove a pile and its guns",
    status=204,
    path_patterns=IDS,
    errors=(404, 409),
)
def delete_pile(pile_id: str) -> Response[Any]:
    pile_id = path_id(pile_id, PILE_ID, "pile")
    gateway_devices.delete_pile(wiring.base_data(), wiring.gateways(), caller(router), pile_id)
    return no_content()


@router.operation(
    "PUT",
    f"{ONE}/password",
    "Set an OCPP pile's password (16..40 printable ASCII)",
    body=PilePasswordBody,
    response=PileView,
    path_patterns=IDS,
    errors=(404,),
)
def set_password(pile_id: str) -> dict[str, Any]:
    pile_id = path_id(pile_id, PILE_ID, "pile")
    body = parse_body(router.current_event, PilePasswordBody)
    pile = piles.set_pile_password(
        wiring.base_data(),
        caller(router),
        pile_id,
        body.password,
        clock=wiring.clock,
        random_bytes=wiring.random_bytes,
    )
    return dump(PileView.of(pile))


@router.operation(
    "GET",
    f"{ONE}/guns",
    "Guns/ports of a pile with their status",
    response=GunList,
    path_patterns=IDS,
    errors=(404,),
)
def list_guns(pile_id: str) -> dict[str, Any]:
    pile_id = path_id(pile_id, PILE_ID, "pile")
    guns = piles.list_guns(wiring.base_data(), caller(router), pile_id)
    return dump(GunList(items=[GunView.of(gun) for gun in guns]))


@router.operation(
    "PATCH",
    f"{ONE}/guns/<gun_no>",
    "Rename or enable/disable a gun/port",
    body=GunPatch,
    response=GunView,
    path_patterns={**IDS, "gun_no": r"^[1-9][0-9]?$"},
    errors=(404,),
)
def update_gun(pile_id: str, gun_no: str) -> dict[str, Any]:
    pile_id = path_id(pile_id, PILE_ID, "pile")
    number = gun_number(gun_no)
    body = parse_body(router.current_event, GunPatch)
    gun = piles.update_gun(
        wiring.base_data(), caller(router), pile_id, number, body.changes(), clock=wiring.clock
    )
    return dump(GunView.of(gun))
