"""Price strategies (tariffs, versioned) and discounts."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from functions.operator_api import wiring
from functions.operator_api.models import (
    DISCOUNT_ID,
    TARIFF_ID,
    DiscountCreate,
    DiscountPage,
    DiscountPatch,
    DiscountView,
    OwnedPageQuery,
    TariffCreate,
    TariffPage,
    TariffPatch,
    TariffQuery,
    TariffView,
)
from functions.operator_api.routes.common import caller, dump, page_body, page_request, path_id
from shared.http_api import DocumentedRouter, created, no_content, parse_body, parse_query
from shared.services import base_data_pricing as pricing

router = DocumentedRouter("pricing")
TARIFF = "/operator/tariffs/<tariff_id>"
DISCOUNT = "/operator/discounts/<discount_id>"
TARIFF_IDS = {"tariff_id": TARIFF_ID}
DISCOUNT_IDS = {"discount_id": DISCOUNT_ID}


@router.operation(
    "POST",
    "/operator/tariffs",
    "Create a price strategy (version 1)",
    status=201,
    body=TariffCreate,
    response=TariffView,
    errors=(404,),
)
def create_tariff() -> tuple[dict[str, Any], int]:
    body = parse_body(router.current_event, TariffCreate)
    tariff = pricing.create_tariff(
        wiring.base_data(),
        caller(router),
        body.operator_id,
        body.fields(),
        clock=wiring.clock,
        new_id=wiring.make_id,
    )
    return created(dump(TariffView.of(tariff)))


@router.operation(
    "GET",
    "/operator/tariffs",
    "Price strategies of an operator",
    query=OwnedPageQuery,
    response=TariffPage,
    errors=(404,),
)
def list_tariffs() -> dict[str, Any]:
    query = parse_query(router.current_event, OwnedPageQuery)
    page = pricing.list_tariffs(
        wiring.base_data(), caller(router), query.operator_id, page_request(query)
    )
    return page_body(page, TariffView.of)


@router.operation(
    "GET",
    TARIFF,
    "A price strategy now, or at ?version=",
    query=TariffQuery,
    response=TariffView,
    path_patterns=TARIFF_IDS,
    errors=(404,),
)
def get_tariff(tariff_id: str) -> dict[str, Any]:
    tariff_id = path_id(tariff_id, TARIFF_ID, "tariff")
    query = parse_query(router.current_event, TariffQuery)
    tariff = pricing.get_tariff(wiring.base_data(), caller(router), tariff_id, query.version)
    return dump(TariffView.of(tariff))


@router.operation(
    "PATCH",
    TARIFF,
    "Change a price strategy (writes the next version)",
    body=TariffPatch,
    response=TariffView,
    path_patterns=TARIFF_IDS,
    errors=(404, 409),
)
def update_tariff(tariff_id: str) -> dict[str, Any]:
    tariff_id = path_id(tariff_id, TARIFF_ID, "tariff")
    body = parse_body(router.current_event, TariffPatch)
    tariff = pricing.update_tariff(
        wiring.base_data(), caller(router), tariff_id, body.changes(), clock=wiring.clock
    )
    return dump(TariffView.of(tariff))


@router.operation(
    "DELETE",
    TARIFF,
    "Retire a price strategy no station uses (versions stay)",
    status=204,
    path_patterns=TARIFF_IDS,
    errors=(404, 409),
)
def delete_tariff(tariff_id: str) -> Response[Any]:
    tariff_id = path_id(tariff_id, TARIFF_ID, "tariff")
    pricing.delete_tariff(wiring.base_data(), caller(router), tariff_id)
    return no_content()


@router.operation(
    "POST",
    "/operator/discounts",
    "Create a discount",
    status=201,
    body=DiscountCreate,
    response=DiscountView,
    errors=(404,),
)
def create_discount() -> tuple[dict[str, Any], int]:
    body = parse_body(router.current_event, DiscountCreate)
    discount = pricing.create_discount(
        wiring.base_data(),
        caller(router),
        body.operator_id,
        body.fields(),
        clock=wiring.clock,
        new_id=wiring.make_id,
    )
    return created(dump(DiscountView.of(discount)))


@router.operation(
    "GET",
    "/operator/discounts",
    "Discounts of an operator",
    query=OwnedPageQuery,
    response=DiscountPage,
    errors=(404,),
)
def list_discounts() -> dict[str, Any]:
    query = parse_query(router.current_event, OwnedPageQuery)
    page = pricing.list_discounts(
        wiring.base_data(), caller(router), query.operator_id, page_request(query)
    )
    return page_body(page, DiscountView.of)


@router.operation(
    "GET",
    DISCOUNT,
    "One discount",
    response=DiscountView,
    path_patterns=DISCOUNT_IDS,
    errors=(404,),
)
def get_discount(discount_id: str) -> dict[str, Any]:
    discount_id = path_id(discount_id, DISCOUNT_ID, "discount")
    discount = pricing.get_discount(wiring.base_data(), caller(router), discount_id)
    return dump(DiscountView.of(discount))


@router.operation(
    "PATCH",
    DISCOUNT,
    "Change a discount",
    body=DiscountPatch,
    response=DiscountView,
    path_patterns=DISCOUNT_IDS,
    errors=(404,),
)
def update_discount(discount_id: str) -> dict[str, Any]:
    discount_id = path_id(discount_id, DISCOUNT_ID, "discount")
    body = parse_body(router.current_event, DiscountPatch)
    discount = pricing.update_discount(
        wiring.base_data(), caller(router), discount_id, body.changes(), clock=wiring.clock
    )
    return dump(DiscountView.of(discount))


@router.operation(
    "DELETE",
    DISCOUNT,
    "End a discount",
    status=204,
    path_patterns=DISCOUNT_IDS,
    errors=(404,),
)
def delete_discount(discount_id: str) -> Response[Any]:
    discount_id = path_id(discount_id, DISCOUNT_ID, "discount")
    pricing.delete_discount(wiring.base_data(), caller(router), discount_id)
    return no_content()
