"""Functional block B: BootNotification and Heartbeat (both versions)."""

from __future__ import annotations

from typing import Any

from shared.domain.errors import UpstreamFailure
from shared.domain.ocpp.dispatch import CallContext
from shared.domain.ocpp.provisioning import (
    RegistrationStatus,
    boot_info_from,
    boot_response,
    decide_registration,
    heartbeat_response,
)
from shared.observability import logger
from shared.services.ocpp import remote_calls
from shared.services.ocpp.ports import BootWrite, OcppPorts


def boot_notification(
    ctx: CallContext, payload: dict[str, Any], ports: OcppPorts
) -> dict[str, Any]:
    """Register the boot: Accepted for an enabled pile, Rejected otherwise. An Accepted
    pile also gets the CSMS calls that waited for it while it was offline.

    DynamoDB: 1 conditional UpdateItem of the pile item (boot map, status, last seen),
    plus 1 UpdateItem of the connection item when its registration status changes; a pile
    disabled since it connected costs one more UpdateItem to store the Rejected boot. An
    Accepted boot adds 1 Query (the pile's calls of the last 10 minutes), and per waiting
    call 1 UpdateItem and 1 PostToConnection.

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
    if decision.status is RegistrationStatus.ACCEPTED:
        _deliver_waiting_calls(ctx, ports)
    return boot_response(ctx.version, decision)


def _deliver_waiting_calls(ctx: CallContext, ports: OcppPorts) -> None:
    # The CALLs go out just ahead of this boot's answer, on the connection the pile is
    # now registered on; a failure here must not cost the pile its boot answer (the next
    # minute's housekeeping retries).
    try:
        remote_calls.deliver_queued(
            ctx.pile_id,
            ctx.connection.connection_id,
            pending_calls=ports.pending_calls,
            sender=ports.sender,
            clock=ports.clock,
        )
    except UpstreamFailure:
        logger.warning("waiting calls not delivered at boot", extra={"pile_id": ctx.pile_id})


def heartbeat(ctx: CallContext, payload: dict[str, Any], ports: OcppPorts) -> dict[str, Any]:
    """Answer with the central time. No DynamoDB call here: the router's read of the
    connection item is the only one. Presence comes from the connection: ``last_seen_at``
    is stamped at connect, at boot and at disconnect, never per heartbeat."""
    del payload, ports
    return heartbeat_response(ctx.version, ctx.received_at)
