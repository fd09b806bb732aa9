"""Functional block G: StatusNotification of guns and piles, faults from error codes."""

from __future__ import annotations

from typing import Any

from shared.domain.ocpp.availability import fault_from, status_report_from, status_response
from shared.domain.ocpp.dispatch import CallContext
from shared.observability import logger
from shared.services.ocpp.ports import OcppPorts, StatusWrite


def status_notification(
    ctx: CallContext, payload: dict[str, Any], ports: OcppPorts
) -> dict[str, Any]:
    """Store a gun's status (never over a newer one) and record a fault for an error code.

    DynamoDB: 1 conditional UpdateItem of the gun item (none for the pile itself), plus
    1 conditional PutItem in FaultsTable when the report is a fault.

    Raises: OcppFault (impossible timestamp), UpstreamFailure.
    """
    report = status_report_from(ctx.version, payload, ctx.received_at)
    if not (report.is_known_gun_shape or report.is_pile_level):
        logger.warning("status for an impossible connector", extra={"pile_id": ctx.pile_id})
        return status_response(ctx.version)
    if report.is_known_gun_shape:
        write = ports.piles.set_gun_status(ctx.pile_id, report)
        if write is StatusWrite.NO_SUCH_GUN:
            logger.warning(
                "status for a gun the pile does not have",
                extra={"pile_id": ctx.pile_id, "gun_no": report.gun_no},
            )
    if report.is_fault:
        ports.faults.record(
            fault_from(
                report,
                pile_id=ctx.pile_id,
                operator_id=ctx.operator_id,
                station_id=ctx.connection.station_id,
            )
        )
    return status_response(ctx.version)
