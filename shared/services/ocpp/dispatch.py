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
from shared.services.ocpp import (
    authorization,
    availability,
    notifications,
    provisioning,
    transactions,
)
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
    # Transactions and meter values (shared/services/ocpp/transactions.py).
    (OcppVersion.V16, "StartTransaction"): transactions.start_transaction,
    (OcppVersion.V16, "StopTransaction"): transactions.stop_transaction,
    (OcppVersion.V16, "MeterValues"): transactions.meter_values_call,
    (OcppVersion.V201, "TransactionEvent"): transactions.transaction_event,
    (OcppVersion.V201, "MeterValues"): transactions.meter_values_call,
    # Messages outside transactions (shared/services/ocpp/notifications.py).
    (OcppVersion.V16, "DataTransfer"): notifications.data_transfer,
    (OcppVersion.V16, "DiagnosticsStatusNotification"): notifications.pile_notification,
    (OcppVersion.V16, "FirmwareStatusNotification"): notifications.pile_notification,
    (OcppVersion.V201, "DataTransfer"): notifications.data_transfer,
    (OcppVersion.V201, "FirmwareStatusNotification"): notifications.pile_notification,
    (OcppVersion.V201, "LogStatusNotification"): notifications.pile_notification,
    (OcppVersion.V201, "NotifyEvent"): notifications.pile_notification,
    (OcppVersion.V201, "NotifyReport"): notifications.pile_notification,
    (OcppVersion.V201, "SecurityEventNotification"): notifications.pile_notification,
}


def handler_for(version: OcppVersion, action: str) -> ActionHandler | None:
    return HANDLERS.get((version, action))
