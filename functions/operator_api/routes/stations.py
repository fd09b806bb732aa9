"""Stations (charging sites)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from functions.operator_api import wiring
from functions.operator_api.models import (
    STATION_ID,
    OwnedPageQuery,
    StationCreate,
    StationPage,
    StationPatch,
    StationView,
)
from functions.operator_api.routes.common import caller, dump, page_body, page_request, path_id
from shared.http_api import DocumentedRouter, created, no_content, parse_body, parse_query
from shared.services import base_data

router = DocumentedRouter("stations")
ONE = "/operator/stations/<station_id>"
IDS = {"station_id": STATION_ID}


@router.operation(
    "POST",
    "/operator/stations",
    "Open a station",
    status=201,
    body=StationCreate,
    response=StationView,
    errors=(404,),
)
def create_station() -> tuple[dict[str, Any], int]:
    body = parse_body(router.current_event, StationCreate)
    station = base_data.create_station(
        wiring.base_data(),
        caller(router),
        body.operator_id,
        body.fields(),
        clock=wiring.clock,
        new_id=wiring.make_id,
    )
    return created(dump(StationView.of(station)))


@router.operation(
    "GET",
    "/operator/stations",
    "Stations of an operator",
    query=OwnedPageQuery,
    response=StationPage,
    errors=(404,),
)
def list_stations() -> dict[str, Any]:
    query = parse_query(router.current_event, OwnedPageQuery)
    page = base_data.list_stations(
        wiring.base_data(), caller(router), query.operator_id, page_request(query)
    )
    return page_body(page, StationView.of)


@router.operation("GET", ONE, "One station", response=StationView, path_patterns=IDS, errors=(404,))
def get_station(station_id: str) -> dict[str, Any]:
    station_id = path_id(station_id, STATION_ID, "station")
    return dump(
        StationView.of(base_data.get_station(wiring.base_data(), caller(router), station_id))
    )


@router.operation(
    "PATCH",
    ONE,
    "Change a station (tariff_id null detaches its tariff)",
    body=StationPatch,
    response=StationView,
    path_patterns=IDS,
    errors=(404, 409),
)
def update_station(station_id: str) -> dict[str, Any]:
    station_id = path_id(station_id, STATION_ID, "station")
    body = parse_body(router.current_event, StationPatch)
    station = base_data.update_station(
        wiring.base_data(), caller(router), station_id, body.changes(), clock=wiring.clock
    )
    return dump(StationView.of(station))


@router.operation(
    "DELETE",
    ONE,
    "Close a station without piles",
    status=204,
    path_patterns=IDS,
    errors=(404, 409),
)
def delete_station(station_id: str) -> Response[Any]:
    station_id = path_id(station_id, STATION_ID, "station")
    base_data.delete_station(wiring.base_data(), caller(router), station_id)
    return no_content()
