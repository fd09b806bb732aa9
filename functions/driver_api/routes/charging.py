"""Paid charges: start (pay by wallet, WeChat Pay, Alipay or the sandbox), follow live, the
trend series, stop, rate, and the history. Another driver's order answers 404."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from functions.driver_api import wiring
from functions.driver_api.models import (
    ORDER_NO,
    BillLineView,
    ChargePage,
    ChargesQuery,
    ChargeView,
    LiveView,
    RatingBody,
    SamplePage,
    SamplesQuery,
    SampleView,
    StartBody,
    StopView,
)
from functions.driver_api.routes.common import driver, dump, path_id
from shared.domain.base_data import PageRequest
from shared.domain.errors import InvalidInput
from shared.domain.sessions import MeterSample
from shared.http_api import DocumentedRouter, created, parse_body, parse_query

if TYPE_CHECKING:
    from shared.domain.payment_orders import BillLine
    from shared.services.driver_charging import DriverCharge

router = DocumentedRouter("charging")
ONE = "/driver/charges/<order_no>"
IDS = {"order_no": ORDER_NO}


def charge_view(charge: DriverCharge) -> ChargeView:
    order = charge.order
    return ChargeView(
        order_no=order.order_no,
        state=order.state.value,
        method=order.method.value,
        station_id=order.station_id,
        pile_id=order.pile_id,
        gun_no=order.gun_no,
        mode=order.target_mode,
        target_value=order.target_value,
        prepaid_fen=order.prepaid_fen,
        paid_fen=order.paid_fen,
        consumed_fen=order.consumed_fen,
        refunded_fen=order.refunded_fen,
        energy_wh=order.energy_wh,
        cost_fen=order.cost_fen,
        refund_status=order.refund_status,
        tariff_id=order.tariff_id,
        tariff_version=order.tariff_version,
        session_id=order.session_id,
        created_at=order.created_at,
        paid_at=order.paid_at,
        settled_at=order.settled_at,
        pay_by=order.expires_at,
        client_params=dict(order.client_params),
        failure=order.failure,
        failure_detail=order.failure_detail,
        rating=charge.rating,
        comment=charge.comment,
        bill_lines=[bill_line_view(line) for line in order.bill_lines],
        discount_fen=order.discount_fen,
    )


def bill_line_view(line: BillLine) -> BillLineView:
    return BillLineView(
        period_kind=line.period_kind.value,
        starts_at=line.starts_at,
        ends_at=line.ends_at,
        energy_wh=line.energy_wh,
        electricity_fen=line.electricity_fen,
        service_fen=line.service_fen,
        amount_fen=line.amount_fen,
        band_max_power_w=line.band_max_power_w,
        runs=line.runs,
    )


def sample_view(sample: MeterSample) -> SampleView:
    return SampleView(
        sampled_at=sample.sampled_at,
        energy_wh=sample.energy_wh,
        power_w=sample.power_w,
        voltage_v=sample.voltage_v,
        current_a=sample.current_a,
        soc_percent=sample.soc_percent,
    )


@router.operation(
    "POST",
    "/driver/charges",
    "Start a paid charge on a gun: the order (poll it for client_params to pay)",
    status=201,
    body=StartBody,
    response=ChargeView,
    errors=(404, 409),
)
def start() -> tuple[dict[str, Any], int]:
    from shared.services import driver_charging
    from shared.services.driver_charging import DriverCharge

    who = driver(router)
    body = parse_body(router.current_event, StartBody)
    order = driver_charging.start_charge(
        wiring.charging(),
        who.user_id,
        who.app,
        driver_charging.StartRequest(
            request_id=body.request_id,
            pile_id=body.pile_id,
            gun_no=body.gun_no,
            mode=body.mode,
            value=body.value,
            prepaid_fen=body.prepaid_fen,
            method=body.method,
        ),
    )
    return created(dump(charge_view(DriverCharge(order=order))))


@router.operation(
    "GET",
    "/driver/charges",
    "The driver's charges, newest first",
    query=ChargesQuery,
    response=ChargePage,
)
def history() -> dict[str, Any]:
    from shared.services import driver_charging

    who = driver(router)
    query = parse_query(router.current_event, ChargesQuery)
    before = query.next_token
    if before is not None and re.fullmatch(ORDER_NO[1:-1], before) is None:
        raise InvalidInput("next_token is not a page of this list", field="next_token")
    found, cursor = driver_charging.list_charges(
        wiring.charging(), who.user_id, limit=query.limit, before=before
    )
    return dump(ChargePage(items=[charge_view(c) for c in found], next_token=cursor))


@router.operation(
    "GET",
    ONE,
    "One charge: state, amounts, energy, pay parameters, rating",
    response=ChargeView,
    path_patterns=IDS,
    errors=(404,),
)
def get_charge(order_no: str) -> dict[str, Any]:
    from shared.services import driver_charging

    who = driver(router)
    order_no = path_id(order_no, ORDER_NO, "charge")
    return dump(charge_view(driver_charging.get_charge(wiring.charging(), who.user_id, order_no)))


@router.operation(
    "GET",
    f"{ONE}/live",
    "The charge as it runs: energy, power, voltage, current, SoC, cost so far, elapsed time",
    response=LiveView,
    path_patterns=IDS,
    errors=(404,),
)
def live(order_no: str) -> dict[str, Any]:
    from shared.services import driver_charging

    who = driver(router)
    order_no = path_id(order_no, ORDER_NO, "charge")
    figures = driver_charging.live_charge(wiring.charging(), who.user_id, order_no, wiring.clock())
    latest = figures.latest
    return dump(
        LiveView(
            order_no=figures.order.order_no,
            state=figures.order.state.value,
            is_charging=figures.is_charging,
            session_id=figures.session_id,
            elapsed_s=figures.elapsed_s,
            energy_wh=figures.energy_wh,
            cost_fen=figures.cost_fen,
            power_w=None if latest is None else latest.power_w,
            voltage_v=None if latest is None else latest.voltage_v,
            current_a=None if latest is None else latest.current_a,
            soc_percent=None if latest is None else latest.soc_percent,
            sampled_at=None if latest is None else latest.sampled_at,
        )
    )


@router.operation(
    "GET",
    f"{ONE}/meter-values",
    "The charge's meter values in time order (the trend chart)",
    query=SamplesQuery,
    response=SamplePage,
    path_patterns=IDS,
    errors=(404,),
)
def meter_values(order_no: str) -> dict[str, Any]:
    from shared.services import driver_charging

    who = driver(router)
    order_no = path_id(order_no, ORDER_NO, "charge")
    query = parse_query(router.current_event, SamplesQuery)
    page = driver_charging.charge_samples(
        wiring.charging(),
        who.user_id,
        order_no,
        PageRequest(limit=query.limit, next_token=query.next_token),
        wiring.clock(),
    )
    return dump(SamplePage(items=[sample_view(s) for s in page.items], next_token=page.next_token))


@router.operation(
    "POST",
    f"{ONE}/stop",
    "Stop the driver's running charge (remote stop to the pile)",
    status=202,
    response=StopView,
    path_patterns=IDS,
    errors=(404, 409),
)
def stop(order_no: str) -> tuple[dict[str, Any], int]:
    from shared.services import driver_charging

    who = driver(router)
    order_no = path_id(order_no, ORDER_NO, "charge")
    status = driver_charging.stop_charge(wiring.charging(), who.user_id, order_no)
    return dump(StopView(order_no=order_no, status=status)), 202


@router.operation(
    "PUT",
    f"{ONE}/rating",
    "Rate a finished charge once (1..5 stars)",
    body=RatingBody,
    response=ChargeView,
    path_patterns=IDS,
    errors=(404, 409),
)
def rate(order_no: str) -> dict[str, Any]:
    from shared.services import driver_charging

    who = driver(router)
    order_no = path_id(order_no, ORDER_NO, "charge")
    body = parse_body(router.current_event, RatingBody)
    rated = driver_charging.rate_charge(
        wiring.charging(),
        who.user_id,
        order_no,
        stars=body.stars,
        comment=body.comment,
        now=wiring.clock(),
    )
    return dump(charge_view(rated))
