"""Request and response models of the pile-command routes (pydantic; the OpenAPI schemas
come from here), and their conversion to the domain's commands.

Bodies are strict and refuse unknown fields, like every operator-API body. Values that
depend on the pile's OCPP version (an idTag of 21..36 characters is fine for 2.0.1 and
not for 1.6, a 2.0.1 configuration key is ``Component/Variable``) are checked by the
domain once the pile's version is known, with the same 422 shape.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from functions.operator_api.models import Body, Query, View, WireTime
from shared.domain.ocpp import commands as cmd
from shared.domain.ocpp.notifications import MaintenanceStatus, PileEvent
from shared.domain.ocpp.remote_calls import PendingCall

CALL_ID = r"^[A-Za-z0-9._:-]{1,36}$"
RESERVATION_ID = r"^[1-9][0-9]{0,9}$"
INT32 = 2**31 - 1

GunNo = Annotated[int, Field(ge=1, le=cmd.MAX_GUN_NO, description="Gun/port number")]
PileGunNo = Annotated[
    int, Field(ge=0, le=cmd.MAX_GUN_NO, description="Gun number; 0 = the whole pile")
]
# 1.6 idTag: at most 20 characters; 2.0.1 idToken: at most 36 (checked per version).
IdTag = Annotated[str, StringConstraints(min_length=1, max_length=36, pattern=r"^[\x21-\x7e]+$")]
TransactionId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=36, pattern=r"^[\x21-\x7e]+$"),
    Field(description="The pile's transaction id (an integer for OCPP 1.6 piles)"),
]
Location = Annotated[
    str,
    StringConstraints(max_length=512, pattern=r"^(https?|ftps?|sftp)://\S+$"),
    Field(description="URL the pile uploads to or downloads from"),
]
Retries = Annotated[int, Field(ge=0, le=20)]
RetryIntervalS = Annotated[int, Field(ge=1, le=86_400)]
TriggerName = Literal[
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "LogStatusNotification",
    "MeterValues",
    "PublishFirmwareStatusNotification",
    "SignChargingStationCertificate",
    "SignCombinedCertificate",
    "SignV2GCertificate",
    "StatusNotification",
    "TransactionEvent",
]


# --- bodies --------------------------------------------------------------------------------


class ResetBody(Body):
    type: Literal["soft", "hard"] = Field(
        description="soft: 1.6 Soft / 2.0.1 OnIdle; hard: 1.6 Hard / 2.0.1 Immediate"
    )

    def command(self) -> cmd.Reset:
        return cmd.Reset(cmd.ResetKind(self.type))


class UnlockBody(Body):
    gun_no: GunNo

    def command(self) -> cmd.UnlockConnector:
        return cmd.UnlockConnector(self.gun_no)


class AvailabilityBody(Body):
    operative: bool
    gun_no: GunNo | None = Field(None, description="Omit for the whole pile")

    def command(self) -> cmd.ChangeAvailability:
        return cmd.ChangeAvailability(is_operative=self.operative, gun_no=self.gun_no)


class SchedulePeriodBody(Body):
    start_s: int = Field(ge=0, le=31 * 86_400, description="Seconds from the schedule start")
    limit: int = Field(ge=0, le=10_000_000, description="In the schedule's rate_unit (W or A)")
    phases: int | None = Field(None, ge=1, le=3)


class ScheduleBody(Body):
    rate_unit: Literal["W", "A"]
    periods: list[SchedulePeriodBody] = Field(min_length=1, max_length=48)
    duration_s: int | None = Field(None, ge=1, le=31 * 86_400)
    start_at: AwareDatetime | None = None
    min_rate: int | None = Field(None, ge=0, le=10_000_000)

    def schedule(self) -> cmd.ChargingSchedule:
        return cmd.ChargingSchedule(
            rate_unit=cmd.RateUnit(self.rate_unit),
            periods=tuple(
                cmd.SchedulePeriod(period.start_s, period.limit, period.phases)
                for period in self.periods
            ),
            duration_s=self.duration_s,
            start_at=self.start_at,
            min_rate=self.min_rate,
        )


class ChargingProfileBody(Body):
    profile_id: int = Field(ge=1, le=INT32)
    stack_level: int = Field(ge=0, le=100)
    purpose: Literal["charging_station_max", "tx_default", "tx"]
    kind: Literal["absolute", "recurring", "relative"]
    recurrency: Literal["daily", "weekly"] | None = None
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = None
    ocpp_transaction_id: TransactionId | None = Field(None, description="tx profiles only")
    schedule: ScheduleBody

    def profile(self) -> cmd.ChargingProfile:
        return cmd.ChargingProfile(
            profile_id=self.profile_id,
            stack_level=self.stack_level,
            purpose=cmd.ProfilePurpose(self.purpose),
            kind=cmd.ProfileKind(self.kind),
            schedule=self.schedule.schedule(),
            recurrency=None if self.recurrency is None else cmd.Recurrency(self.recurrency),
            valid_from=self.valid_from,
            valid_to=self.valid_to,
            ocpp_transaction_id=self.ocpp_transaction_id,
        )


class RemoteStartBody(Body):
    gun_no: GunNo
    id_tag: IdTag
    charging_profile: ChargingProfileBody | None = Field(None, description="purpose tx")

    def command(self) -> cmd.RemoteStart:
        return cmd.RemoteStart(
            gun_no=self.gun_no,
            id_tag=self.id_tag,
            charging_profile=None
            if self.charging_profile is None
            else self.charging_profile.profile(),
        )


class RemoteStopBody(Body):
    session_id: str | None = Field(
        None, pattern=r"^[A-Za-z0-9._-]{1,64}$", description="Our session id"
    )
    ocpp_transaction_id: TransactionId | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> RemoteStopBody:
        if (self.session_id is None) == (self.ocpp_transaction_id is None):
            raise ValueError("give exactly one of session_id and ocpp_transaction_id")
        return self


class ConfigurationQuery(Query):
    keys: str | None = Field(
        None,
        max_length=2100,
        pattern=r"^[^,]+(,[^,]+){0,39}$",
        description="Comma-separated keys (1.6 key names; 2.0.1 Component/Variable); "
        "omit for every key of a 1.6 pile",
    )

    def command(self) -> cmd.GetConfiguration:
        keys = () if self.keys is None else tuple(key.strip() for key in self.keys.split(","))
        return cmd.GetConfiguration(keys)


class ConfigurationBody(Body):
    key: str = Field(min_length=1, max_length=101, description="1.6 key; 2.0.1 Component/Variable")
    value: str = Field(max_length=1000, description="At most 500 characters for 1.6")

    def command(self) -> cmd.ChangeConfiguration:
        return cmd.ChangeConfiguration(self.key, self.value)


class ChargingProfilePut(Body):
    gun_no: PileGunNo
    profile: ChargingProfileBody

    def command(self) -> cmd.SetChargingProfile:
        return cmd.SetChargingProfile(self.gun_no, self.profile.profile())


class ChargingProfileClearQuery(Query):
    profile_id: int | None = Field(None, ge=1, le=INT32)
    gun_no: int | None = Field(None, ge=0, le=cmd.MAX_GUN_NO)
    purpose: Literal["charging_station_max", "tx_default", "tx"] | None = None
    stack_level: int | None = Field(None, ge=0, le=100)

    def command(self) -> cmd.ClearChargingProfile:
        return cmd.ClearChargingProfile(
            profile_id=self.profile_id,
            gun_no=self.gun_no,
            purpose=None if self.purpose is None else cmd.ProfilePurpose(self.purpose),
            stack_level=self.stack_level,
        )


class CompositeScheduleBody(Body):
    gun_no: PileGunNo
    duration_s: int = Field(ge=1, le=31 * 86_400)
    rate_unit: Literal["W", "A"] | None = None

    def command(self) -> cmd.GetCompositeSchedule:
        unit = None if self.rate_unit is None else cmd.RateUnit(self.rate_unit)
        return cmd.GetCompositeSchedule(self.gun_no, self.duration_s, unit)


class ReservationBody(Body):
    id_tag: IdTag
    expires_at: AwareDatetime
    gun_no: GunNo | None = Field(None, description="Omit for any gun of the pile")
    parent_id_tag: IdTag | None = None

    def command(self) -> cmd.ReserveNow:
        return cmd.ReserveNow(
            id_tag=self.id_tag,
            expires_at=self.expires_at,
            gun_no=self.gun_no,
            parent_id_tag=self.parent_id_tag,
        )


class FirmwareBody(Body):
    location: Location
    retrieve_at: AwareDatetime
    retries: Retries | None = None
    retry_interval_s: RetryIntervalS | None = None
    install_at: AwareDatetime | None = Field(None, description="OCPP 2.0.1 piles only")

    def command(self) -> cmd.UpdateFirmware:
        return cmd.UpdateFirmware(
            location=self.location,
            retrieve_at=self.retrieve_at,
            retries=self.retries,
            retry_interval_s=self.retry_interval_s,
            install_at=self.install_at,
        )


class DiagnosticsBody(Body):
    location: Location
    retries: Retries | None = None
    retry_interval_s: RetryIntervalS | None = None
    start_at: AwareDatetime | None = None
    stop_at: AwareDatetime | None = None

    def command(self) -> cmd.GetDiagnostics:
        return cmd.GetDiagnostics(
            location=self.location,
            retries=self.retries,
            retry_interval_s=self.retry_interval_s,
            start_at=self.start_at,
            stop_at=self.stop_at,
        )


class LogsBody(Body):
    location: Location
    log_type: Literal["diagnostics", "security"] = "diagnostics"
    oldest_at: AwareDatetime | None = None
    latest_at: AwareDatetime | None = None
    retries: Retries | None = None
    retry_interval_s: RetryIntervalS | None = None

    def command(self) -> cmd.GetLog:
        return cmd.GetLog(
            location=self.location,
            log_type=cmd.LogType(self.log_type),
            oldest_at=self.oldest_at,
            latest_at=self.latest_at,
            retries=self.retries,
            retry_interval_s=self.retry_interval_s,
        )


class LocalListEntryBody(Body):
    id_tag: IdTag
    status: Literal["accepted", "blocked", "expired", "invalid", "concurrent_tx"] | None = Field(
        None, description="Omit to remove the card (differential updates only)"
    )
    expires_at: AwareDatetime | None = None
    parent_id_tag: IdTag | None = None


class LocalListBody(Body):
    version: int = Field(ge=1, le=INT32, description="The list version the pile will report")
    update: Literal["full", "differential"]
    entries: list[LocalListEntryBody] = Field(default_factory=list, max_length=500)

    def command(self) -> cmd.SendLocalList:
        return cmd.SendLocalList(
            list_version=self.version,
            is_full=self.update == "full",
            entries=tuple(
                cmd.LocalListEntry(
                    id_tag=entry.id_tag,
                    status=None if entry.status is None else cmd.LocalAuthStatus(entry.status),
                    expires_at=entry.expires_at,
                    parent_id_tag=entry.parent_id_tag,
                )
                for entry in self.entries
            ),
        )


class DataTransferBody(Body):
    vendor_id: str = Field(min_length=1, max_length=255)
    message_id: str | None = Field(None, min_length=1, max_length=50)
    data: str | None = Field(None, max_length=16_000)

    def command(self) -> cmd.DataTransfer:
        return cmd.DataTransfer(self.vendor_id, self.message_id, self.data)


class TriggerBody(Body):
    message: TriggerName = Field(description="An OCPP message the pile's version can trigger")
    gun_no: GunNo | None = None

    def command(self) -> cmd.TriggerMessage:
        return cmd.TriggerMessage(self.message, self.gun_no)


class BaseReportBody(Body):
    report: Literal["configuration_inventory", "full_inventory", "summary_inventory"]

    def command(self) -> cmd.GetBaseReport:
        return cmd.GetBaseReport(cmd.ReportBase(self.report))


# --- answers -------------------------------------------------------------------------------


class CommandAccepted(View):
    call_id: str = Field(description="The OCPP message id; read the outcome by it")
    status: Literal["pending", "undelivered"] = Field(
        description="pending: sent, waiting for the pile; undelivered: the pile is offline, "
        "the command goes out when it is back (within 10 minutes) or ends timed_out"
    )
    action: str
    request: dict[str, Any] = Field(description="The OCPP payload sent")

    @classmethod
    def of(cls, call: PendingCall) -> CommandAccepted:
        status: Literal["pending", "undelivered"] = (
            "undelivered" if call.status == "undelivered" else "pending"
        )
        return cls(
            call_id=call.unique_id,
            status=status,
            action=call.action,
            request=json.loads(call.request_json),
        )


class CommandView(View):
    call_id: str
    pile_id: str
    action: str
    protocol: str
    status: Literal[
        "pending", "answered", "rejected", "invalid_response", "undelivered", "timed_out"
    ]
    request: dict[str, Any]
    response: dict[str, Any] | None = Field(description="The pile's CALLRESULT payload")
    error_code: str | None = Field(description="CALLERROR code, or how the answer was invalid")
    error_description: str | None
    requested_by: str | None
    created_at: WireTime
    timeout_at: WireTime = Field(description="Answer deadline; delivery deadline if undelivered")
    answered_at: WireTime | None
    timed_out_at: WireTime | None

    @classmethod
    def of(cls, call: PendingCall) -> CommandView:
        return cls(
            call_id=call.unique_id,
            pile_id=call.pile_id,
            action=call.action,
            protocol=call.version.value,
            status=call.status.value,
            request=json.loads(call.request_json),
            response=None if call.response_json is None else json.loads(call.response_json),
            error_code=call.error_code,
            error_description=call.error_description,
            requested_by=call.requested_by,
            created_at=call.created_at,
            timeout_at=call.timeout_at,
            answered_at=call.answered_at,
            timed_out_at=call.timed_out_at,
        )


class CommandPage(View):
    items: list[CommandView]
    next_token: str | None


class PileEventView(View):
    kind: Literal[
        "firmware_status",
        "diagnostics_status",
        "log_status",
        "notify_event",
        "security_event",
        "notify_report",
    ]
    message_id: str
    received_at: WireTime
    reported_at: WireTime | None = Field(description="The pile's own clock, when it gave one")
    summary: str
    request_id: int | None = Field(description="The request it reports on (2.0.1 requestId)")
    detail: dict[str, Any] = Field(
        description="The message payload as the pile sent it, with the schema's defaults"
    )

    @classmethod
    def of(cls, event: PileEvent) -> PileEventView:
        return cls(
            kind=event.kind.value,
            message_id=event.message_id,
            received_at=event.received_at,
            reported_at=event.reported_at,
            summary=event.summary,
            request_id=event.request_id,
            detail=json.loads(event.detail_json),
        )


class PileEventPage(View):
    items: list[PileEventView]
    next_token: str | None


class MaintenanceStatusView(View):
    kind: Literal["firmware", "diagnostics", "log"]
    status: str
    received_at: WireTime
    request_id: int | None

    @classmethod
    def of(cls, status: MaintenanceStatus) -> MaintenanceStatusView:
        return cls(
            kind=status.kind.value,
            status=status.status,
            received_at=status.received_at,
            request_id=status.request_id,
        )


class MaintenanceView(View):
    items: list[MaintenanceStatusView]
