"""Operators (merchants) and their staff logins."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from functions.operator_api import wiring
from functions.operator_api.models import (
    OPERATOR_ID,
    OperatorCreate,
    OperatorPage,
    OperatorPatch,
    OperatorView,
    PageQuery,
    StaffCreate,
    StaffPage,
    StaffView,
)
from functions.operator_api.routes.common import caller, dump, page_body, page_request, path_id
from shared.domain.tenancy import Role
from shared.http_api import DocumentedRouter, created, no_content, parse_body, parse_query
from shared.services import base_data, staff

router = DocumentedRouter("operators")
ONE = "/operator/operators/<operator_id>"
IDS = {"operator_id": OPERATOR_ID}


@router.operation(
    "POST",
    "/operator/operators",
    "Register an operator (platform admin)",
    status=201,
    body=OperatorCreate,
    response=OperatorView,
)
def create_operator() -> tuple[dict[str, Any], int]:
    body = parse_body(router.current_event, OperatorCreate)
    operator = base_data.create_operator(
        wiring.base_data(),
        caller(router),
        body.model_dump(),
        clock=wiring.clock,
        new_id=wiring.make_id,
    )
    return created(dump(OperatorView.of(operator)))


@router.operation(
    "GET",
    "/operator/operators",
    "Every operator (platform admin) or the caller's own",
    query=PageQuery,
    response=OperatorPage,
)
def list_operators() -> dict[str, Any]:
    query = parse_query(router.current_event, PageQuery)
    page = base_data.list_operators(wiring.base_data(), caller(router), page_request(query))
    return page_body(page, OperatorView.of)


@router.operation(
    "GET", ONE, "One operator", response=OperatorView, path_patterns=IDS, errors=(404,)
)
def get_operator(operator_id: str) -> dict[str, Any]:
    operator_id = path_id(operator_id, OPERATOR_ID, "operator")
    return dump(
        OperatorView.of(base_data.get_operator(wiring.base_data(), caller(router), operator_id))
    )


@router.operation(
    "PATCH",
    ONE,
    "Change an operator's name or contact",
    body=OperatorPatch,
    response=OperatorView,
    path_patterns=IDS,
    errors=(404,),
)
def update_operator(operator_id: str) -> dict[str, Any]:
    operator_id = path_id(operator_id, OPERATOR_ID, "operator")
    body = parse_body(router.current_event, OperatorPatch)
    operator = base_data.update_operator(
        wiring.base_data(), caller(router), operator_id, body.changes(), clock=wiring.clock
    )
    return dump(OperatorView.of(operator))


@router.operation(
    "DELETE",
    ONE,
    "Remove an operator that owns nothing (platform admin)",
    status=204,
    path_patterns=IDS,
    errors=(404, 409),
)
def delete_operator(operator_id: str) -> Response[Any]:
    operator_id = path_id(operator_id, OPERATOR_ID, "operator")
    base_data.delete_operator(wiring.base_data(), caller(router), operator_id)
    return no_content()


@router.operation(
    "POST",
    f"{ONE}/staff",
    "Create a staff login (operator-admin or maintenance)",
    status=201,
    body=StaffCreate,
    response=StaffView,
    path_patterns=IDS,
    errors=(404, 409),
)
def create_staff(operator_id: str) -> tuple[dict[str, Any], int]:
    operator_id = path_id(operator_id, OPERATOR_ID, "operator")
    body = parse_body(router.current_event, StaffCreate)
    member = staff.create_staff(
        wiring.base_data(),
        wiring.staff_directory(),
        caller(router),
        operator_id,
        username=body.username,
        password=body.password,
        role=Role(body.role),
        clock=wiring.clock,
    )
    return created(dump(StaffView.of(member)))


@router.operation(
    "GET",
    f"{ONE}/staff",
    "Staff logins of an operator",
    query=PageQuery,
    response=StaffPage,
    path_patterns=IDS,
    errors=(404,),
)
def list_staff(operator_id: str) -> dict[str, Any]:
    operator_id = path_id(operator_id, OPERATOR_ID, "operator")
    query = parse_query(router.current_event, PageQuery)
    page = staff.list_staff(wiring.base_data(), caller(router), operator_id, page_request(query))
    return page_body(page, StaffView.of)
