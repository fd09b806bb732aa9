"""The action catalogue of each version: who may send what.

A CALL from a pile is classified before anything else: an action of the pile-to-CSMS
list is ours to handle (or, until its handler exists, answered NotImplemented); an action
of the CSMS-to-pile list is one we recognise but never accept from a pile (NotSupported,
"recognized but not supported by the receiver"); any other name is unknown
(NotImplemented, "not known by receiver"). 1.6 includes the actions of the OCA security
white paper for 1.6-J, whose schemas the ``ocpp`` package ships with the core ones.
"""

from __future__ import annotations

from enum import Enum

from shared.domain.ocpp.versions import OcppVersion

FROM_PILE: dict[OcppVersion, frozenset[str]] = {
    OcppVersion.V16: frozenset(
        {
            "Authorize",
            "BootNotification",
            "DataTransfer",
            "DiagnosticsStatusNotification",
            "FirmwareStatusNotification",
            "Heartbeat",
            "MeterValues",
            "StartTransaction",
            "StatusNotification",
            "StopTransaction",
            # Security white paper for 1.6-J.
            "LogStatusNotification",
            "SecurityEventNotification",
            "SignCertificate",
            "SignedFirmwareStatusNotification",
        }
    ),
    OcppVersion.V201: frozenset(
        {
            "Authorize",
            "BootNotification",
            "ClearedChargingLimit",
            "DataTransfer",
            "FirmwareStatusNotification",
            "Get15118EVCertificate",
            "GetCertificateStatus",
            "Heartbeat",
            "LogStatusNotification",
            "MeterValues",
            "NotifyChargingLimit",
            "NotifyCustomerInformation",
            "NotifyDisplayMessages",
            "NotifyEVChargingNeeds",
            "NotifyEVChargingSchedule",
            "NotifyEvent",
            "NotifyMonitoringReport",
            "NotifyReport",
            "PublishFirmwareStatusNotification",
            "ReportChargingProfiles",
            "ReservationStatusUpdate",
            "SecurityEventNotification",
            "SignCertificate",
            "StatusNotification",
            "TransactionEvent",
        }
    ),
}

TO_PILE: dict[OcppVersion, frozenset[str]] = {
    OcppVersion.V16: frozenset(
        {
            "CancelReservation",
            "ChangeAvailability",
            "ChangeConfiguration",
            "ClearCache",
            "ClearChargingProfile",
            "DataTransfer",
            "GetCompositeSchedule",
            "GetConfiguration",
            "GetDiagnostics",
            "GetLocalListVersion",
            "RemoteStartTransaction",
            "RemoteStopTransaction",
            "ReserveNow",
            "Reset",
            "SendLocalList",
            "SetChargingProfile",
            "TriggerMessage",
            "UnlockConnector",
            "UpdateFirmware",
            # Security white paper for 1.6-J.
            "CertificateSigned",
            "DeleteCertificate",
            "ExtendedTriggerMessage",
            "GetInstalledCertificateIds",
            "GetLog",
            "InstallCertificate",
            "SignedUpdateFirmware",
        }
    ),
    OcppVersion.V201: frozenset(
        {
            "CancelReservation",
            "CertificateSigned",
            "ChangeAvailability",
            "ClearCache",
            "ClearChargingProfile",
            "ClearDisplayMessage",
            "ClearVariableMonitoring",
            "CostUpdated",
            "CustomerInformation",
            "DataTransfer",
            "DeleteCertificate",
            "GetBaseReport",
            "GetChargingProfiles",
            "GetCompositeSchedule",
            "GetDisplayMessages",
            "GetInstalledCertificateIds",
            "GetLocalListVersion",
            "GetLog",
            "GetMonitoringReport",
            "GetReport",
            "GetTransactionStatus",
            "GetVariables",
            "InstallCertificate",
            "PublishFirmware",
            "RequestStartTransaction",
            "RequestStopTransaction",
            "ReserveNow",
            "Reset",
            "SendLocalList",
            "SetChargingProfile",
            "SetDisplayMessage",
            "SetMonitoringBase",
            "SetMonitoringLevel",
            "SetNetworkProfile",
            "SetVariableMonitoring",
            "SetVariables",
            "TriggerMessage",
            "UnlockConnector",
            "UnpublishFirmware",
            "UpdateFirmware",
        }
    ),
}


class Direction(Enum):
    """Which way a message of an action travels; schemas are kept per direction."""

    REQUEST = "request"  # the CALL payload
    RESPONSE = "response"  # the CALLRESULT payload


class ActionClass(Enum):
    FROM_PILE = "from_pile"
    TO_PILE_ONLY = "to_pile_only"
    UNKNOWN = "unknown"


def classify_action(version: OcppVersion, action: str) -> ActionClass:
    """Whether a pile may send ``action`` as a CALL in ``version``."""
    if action in FROM_PILE[version]:
        return ActionClass.FROM_PILE
    if action in TO_PILE[version]:
        return ActionClass.TO_PILE_ONLY
    return ActionClass.UNKNOWN
