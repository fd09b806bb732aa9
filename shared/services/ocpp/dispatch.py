"""The dispatch table: ``(version, action)`` -> the use case that answers the CALL.

An action of a version's pile-to-CSMS list without an entry here is answered
NotImplemented; issue 4 adds StartTransaction, MeterValues, TransactionEvent, ... as
entries, with no change to the router.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.domain.ocpp.dispatch import ActionKey, CallContext
from shared.domain.ocpp.versions import OcppVersion
from shared.services.ocpp import authorization, availability, provisioning
from shared.services.ocpp.ports import OcppPorts

ActionHandler = Callable[[CallContext, dict[str, Any], OcppPorts], dict[str, Any]]

BOOT_NOTIFICATION = "BootNotification"

HANDLERS: dict[ActionKey, ActionHandler] = {
    (OcppVersion.V16, BOOT_NOTIFICATION): provisioning.boot_notification,
    (OcppVersion.V16, "Heartbeat"): provisioning.heartbeat,
    (OcppVersion.V16, "StatusNotification"): availability.status_notification,
    (OcppVersion.V16, "Authorize"): authorization.authorize,
    (OcppVersion.V201, BOOT_NOTIFICATION): provisioning.boot_notification,
    (OcppVersion.V201, "Heartbeat"): provisioning.heartbeat,
    (OcppVersion.V201, "StatusNotification"): availability.status_notification,
    (OcppVersion.V201, "Authorize"): authorization.authorize,
}


def handler_for(version: OcppVersion, action: str) -> ActionHandler | None:
    return HANDLERS.get((version, action))
