"""Pile messages outside transactions (both versions): firmware, diagnostics and log
progress, monitoring and security events, reports, vendor data. See
``shared/domain/ocpp/notifications.py`` for what each one answers and keeps."""

from __future__ import annotations

from typing import Any

from shared.domain.ocpp.dispatch import CallContext
from shared.domain.ocpp.notifications import (
    data_transfer_response,
    maintenance_status_of,
    pile_event_from,
)
from shared.observability import logger
from shared.services.ocpp.ports import OcppPorts


def pile_notification(
    ctx: CallContext, payload: dict[str, Any], ports: OcppPorts
) -> dict[str, Any]:
    """Keep the message as a pile event; a firmware / diagnostics / log status also becomes
    the pile's latest status of its kind. Answers ``{}`` (every one of these responses is
    empty in both versions).

    DynamoDB: 1 PutItem (event), plus 1 UpdateItem (latest status) for
    FirmwareStatusNotification, DiagnosticsStatusNotification, LogStatusNotification.

    Raises: UpstreamFailure.
    """
    event = pile_event_from(
        ctx.action,
        payload,
        pile_id=ctx.pile_id,
        operator_id=ctx.operator_id,
        message_id=ctx.message_id,
        received_at=ctx.received_at,
    )
    ports.pile_events.record(event)
    status = maintenance_status_of(event)
    if status is not None:
        ports.pile_events.set_maintenance_status(ctx.pile_id, status)
    return {}


def data_transfer(ctx: CallContext, payload: dict[str, Any], ports: OcppPorts) -> dict[str, Any]:
    """Answer UnknownVendorId: no vendor extension is implemented. No DynamoDB call; the
    vendor and message ids go to a DEBUG line (the router's INFO line names the action)."""
    del ports
    logger.debug(
        "vendor data transfer",
        extra={
            "pile_id": ctx.pile_id,
            "vendor_id": payload.get("vendorId"),
            "vendor_message_id": payload.get("messageId"),
        },
    )
    return data_transfer_response(ctx.version)
