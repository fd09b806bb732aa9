"""Query and response models of the charging-session routes (the OpenAPI schemas come from
here). Energy is Wh, power W, voltage V, current A, state of charge %, temperature degC;
times are RFC 3339 UTC with ``Z``; ``started_at``/``stopped_at`` are the pile's clock and
``*_received_at`` ours."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from functions.operator_api.models import (
    PAGING_HELP,
    OperatorId,
    PageQuery,
    PileId,
    View,
    WireTime,
)
from shared.domain.sessions import MeterSample, Session, SessionFigures

SESSION_ID = r"^se-[0-9a-f]{20}$"
SessionStatusName = Literal["active", "completed", "incomplete"]


class SessionQuery(PageQuery):
    operator_id: OperatorId | None = Field(
        None, description="Required for a platform admin; staff may omit it or give their own"
    )
    pile_id: PileId | None = Field(None, description="Sessions of this pile, newest first")
    status: SessionStatusName | None = Field(
        None, description="Only this status; without pile_id it defaults to active"
    )


class MeterValuesQuery(PageQuery):
    limit: int = Field(100, ge=1, le=100, description="Pile messages (each 1+ samples) per page")


class MeterSampleView(View):
    sampled_at: WireTime = Field(description="The pile's clock")
    energy_wh: int | None = Field(description="Energy.Active.Import.Register")
    power_w: int | None
    voltage_v: float | None
    current_a: float | None
    soc_percent: float | None
    temperature_c: float | None

    @classmethod
    def of(cls, sample: MeterSample) -> MeterSampleView:
        return cls(
            sampled_at=sample.sampled_at,
            energy_wh=sample.energy_wh,
            power_w=sample.power_w,
            voltage_v=sample.voltage_v,
            current_a=sample.current_a,
            soc_percent=sample.soc_percent,
            temperature_c=sample.temperature_c,
        )


class SessionView(View):
    session_id: str
    status: SessionStatusName
    protocol: str
    operator_id: str
    station_id: str | None
    pile_id: str
    gun_no: int | None = Field(description="None while a stop without connector is unmatched")
    ocpp_transaction_id: str = Field(description="The pile's transaction id")
    id_tag: str | None = Field(description="The card (idTag / idToken) that started it")
    tariff_id: str | None
    tariff_version: int | None
    started_at: WireTime | None = Field(description="None when the start was never received")
    start_received_at: WireTime | None
    meter_start_wh: int | None
    stopped_at: WireTime | None
    stop_received_at: WireTime | None
    meter_stop_wh: int | None
    stop_reason: str | None
    energy_wh: int = Field(description="From the meter register, resets included")
    closed_stale_at: WireTime | None = Field(
        description="When housekeeping gave up waiting for the stop"
    )
    created_at: WireTime

    @classmethod
    def of(cls, session: Session, energy_wh: int | None = None) -> SessionView:
        return cls(
            session_id=session.session_id,
            status=session.status.value,
            protocol=session.protocol.value,
            operator_id=session.operator_id,
            station_id=session.station_id,
            pile_id=session.pile_id,
            gun_no=session.gun_no,
            ocpp_transaction_id=session.ocpp_transaction_id,
            id_tag=session.id_tag,
            tariff_id=session.tariff_id,
            tariff_version=session.tariff_version,
            started_at=session.started_at,
            start_received_at=session.start_received_at,
            meter_start_wh=session.meter_start_wh,
            stopped_at=session.stopped_at,
            stop_received_at=session.stop_received_at,
            meter_stop_wh=session.meter_stop_wh,
            stop_reason=session.stop_reason,
            energy_wh=session.energy_wh if energy_wh is None else energy_wh,
            closed_stale_at=session.closed_stale_at,
            created_at=session.created_at,
        )


class SessionDetailView(SessionView):
    latest: MeterSampleView | None = Field(
        description="The newest sample (live power, voltage, current, SoC)"
    )

    @classmethod
    def of_figures(cls, figures: SessionFigures) -> SessionDetailView:
        base = SessionView.of(figures.session, figures.energy_wh).model_dump()
        latest = MeterSampleView.of(figures.latest) if figures.latest is not None else None
        return cls(**base, latest=latest)


class SessionPage(View):
    items: list[SessionView]
    next_token: str | None = Field(description=PAGING_HELP)


class MeterSamplePage(View):
    items: list[MeterSampleView] = Field(description="In the pile's time order")
    next_token: str | None = Field(description=PAGING_HELP)
