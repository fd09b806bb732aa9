"""Functional block B: BootNotification and Heartbeat (both versions)."""

from __future__ import annotations

from typing import Any

from shared.domain.ocpp.dispatch import CallContext
from shared.domain.ocpp.provisioning import (
    RegistrationStatus,
    boot_info_from,
    boot_response,
    decide_registration,
    heartbeat_response,
)
from shared.services.ocpp.ports import BootWrite, OcppPorts


def boot_notification(
    ctx: CallContext, payload: dict[str, Any], ports: OcppPorts
) -> dict[str, Any]:
    """Register the boot: Accepted for an enabled pile, Rejected otherwise.

    DynamoDB: 1 conditional UpdateItem of the pile item (boot map, status, last seen),
    plus 1 UpdateItem of the connection item when its registration status changes; a pile
    disabled since it connected costs one more UpdateItem to store the Rejected boot.

    Raises: UpstreamFailure.
    """
    boot = boot_info_from(ctx.version, payload, ctx.received_at)
    connection_id = ctx.connection.connection_id
    write = ports.piles.record_boot(
        ctx.pile_id, connection_id, boot, RegistrationStatus.ACCEPTED, only_if_enabled=True
    )
    decision = decide_registration(
        is_registered=write is not BootWrite.PILE_MISSING,
        is_enabled=write is BootWrite.WRITTEN,
        now=ctx.received_at,
    )
    if write is BootWrite.PILE_DISABLED:
        ports.piles.record_boot(
            ctx.pile_id, connection_id, boot, decision.status, only_if_enabled=False
        )
    if ctx.connection.registration_status != decision.status:
        ports.connections.set_registration(connection_id, decision.status)
    return boot_response(ctx.version, decision)


def heartbeat(ctx: CallContext, payload: dict[str, Any], ports: OcppPorts) -> dict[str, Any]:
    """Answer with the central time. No DynamoDB call here: the router's read of the
    connection item is the only one, and ``last_seen_at`` is refreshed by the router at
    most every 30 minutes."""
    del payload, ports
    return heartbeat_response(ctx.version, ctx.received_at)
