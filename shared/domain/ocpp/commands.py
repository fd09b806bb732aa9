"""The commands operator staff send to a pile, and their OCPP request per version.

Each command is a frozen dataclass in our own terms (``gun_no``, ``id_tag``, times as
aware datetimes, snake_case enums); ``to_ocpp(version, request_id)`` checks what the
version allows and builds the CALL's action and camelCase payload. Guns map to OCPP ids
in one place: 1.6 ``connectorId`` = gun number (0 = the pile), 2.0.1 ``evseId`` = gun
number with ``connectorId`` 1 (one connector per EVSE, as StatusNotification reads it).

| command | 1.6 | 2.0.1 |
| --- | --- | --- |
| RemoteStart | RemoteStartTransaction | RequestStartTransaction |
| RemoteStop | RemoteStopTransaction | RequestStopTransaction |
| Reset | Reset (Soft/Hard) | Reset (OnIdle/Immediate) |
| UnlockConnector | UnlockConnector | UnlockConnector |
| ChangeAvailability | ChangeAvailability | ChangeAvailability |
| GetConfiguration | GetConfiguration | GetVariables |
| ChangeConfiguration | ChangeConfiguration | SetVariables |
| SetChargingProfile | SetChargingProfile | SetChargingProfile |
| ClearChargingProfile | ClearChargingProfile | ClearChargingProfile |
| GetCompositeSchedule | GetCompositeSchedule | GetCompositeSchedule |
| ReserveNow | ReserveNow | ReserveNow |
| CancelReservation | CancelReservation | CancelReservation |
| UpdateFirmware | UpdateFirmware | UpdateFirmware |
| GetDiagnostics | GetDiagnostics | - (use GetLog) |
| GetLog | - (use GetDiagnostics) | GetLog |
| SendLocalList | SendLocalList | SendLocalList |
| GetLocalListVersion | GetLocalListVersion | GetLocalListVersion |
| ClearCache | ClearCache | ClearCache |
| DataTransfer | DataTransfer | DataTransfer |
| TriggerMessage | TriggerMessage | TriggerMessage |
| GetBaseReport | - | GetBaseReport |

A command the pile's version lacks raises ``CommandNotSupported`` (HTTP 409); a value the
version cannot carry (a 21-character idTag on 1.6, a non-numeric 1.6 transaction id)
raises ``InvalidInput`` naming the field. The payload is then checked against the
official schema by ``send_call``, so nothing invalid ever reaches a pile.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from itertools import pairwise
from typing import Any, ClassVar

from shared.domain.clock import to_wire
from shared.domain.errors import Conflict, InvalidInput
from shared.domain.ocpp.versions import OcppVersion

V16 = OcppVersion.V16
V201 = OcppVersion.V201

MAX_GUN_NO = 20
_ID_TAG_LENGTH = {V16: 20, V201: 36}
_CONFIG_VALUE_LENGTH = {V16: 500, V201: 1000}
_NAME_LENGTH = 50  # 1.6 configuration key, 2.0.1 component and variable names
_INT32_MAX = 2**31 - 1
# 2.0.1 idToken type of the tokens we send: remote starts and reservations are made by
# the CSMS ("Central"); local-list entries are the operator's RFID cards (ISO 14443).
_CENTRAL = "Central"
_CARD = "ISO14443"


class CommandNotSupported(Conflict):
    """The pile's OCPP version has no such command (HTTP 409)."""

    code = "command_not_supported"


@dataclass(frozen=True, slots=True)
class OcppRequest:
    """A CALL ready to send: the action of the pile's version and its payload."""

    action: str
    payload: dict[str, Any]


class PileCommand(ABC):
    """A command in our terms; subclasses are frozen dataclasses."""

    NAME: ClassVar[str]  # the operator API's name of the command
    ACTIONS: ClassVar[Mapping[OcppVersion, str]]
    HINT: ClassVar[str] = ""  # what to use instead on a version without the command

    def to_ocpp(self, version: OcppVersion, request_id: int) -> OcppRequest:
        """The CALL for ``version``; ``request_id`` fills the integer ids OCPP wants.

        Raises:
            CommandNotSupported: the version has no such command.
            InvalidInput: a value the version cannot carry.
        """
        action = self.ACTIONS.get(version)
        if action is None:
            hint = f"; {self.HINT}" if self.HINT else ""
            raise CommandNotSupported(
                f"{self.NAME} is not an OCPP {version.removeprefix('ocpp')} command{hint}",
                kind="command",
                id=self.NAME,
            )
        return OcppRequest(action, self.payload(version, request_id))

    @abstractmethod
    def payload(self, version: OcppVersion, request_id: int) -> dict[str, Any]:
        """The CALL payload for a version the command exists in."""


def _both(v16: str, v201: str | None = None) -> dict[OcppVersion, str]:
    return {V16: v16, V201: v201 or v16}


def _id_tag(version: OcppVersion, value: str, field: str) -> str:
    limit = _ID_TAG_LENGTH[version]
    if not 1 <= len(value) <= limit:
        raise InvalidInput(
            f"{field} must be 1..{limit} characters for OCPP {version.removeprefix('ocpp')}",
            field=field,
        )
    return value


def _id_token(value: str, token_type: str) -> dict[str, Any]:
    return {"idToken": value, "type": token_type}


def _gun(gun_no: int, field: str = "gun_no", *, allow_pile: bool = False) -> int:
    low = 0 if allow_pile else 1
    if not low <= gun_no <= MAX_GUN_NO:
        raise InvalidInput(f"{field} must be within {low}..{MAX_GUN_NO}", field=field)
    return gun_no


def _optional(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _wire_time(at: datetime | None) -> str | None:
    return None if at is None else to_wire(at)


# --- charging profiles (smart charging, both versions) -------------------------------------


class ProfilePurpose(StrEnum):
    CHARGING_STATION_MAX = "charging_station_max"
    TX_DEFAULT = "tx_default"
    TX = "tx"

    def wire(self, version: OcppVersion) -> str:
        if self is ProfilePurpose.CHARGING_STATION_MAX:
            return "ChargePointMaxProfile" if version is V16 else "ChargingStationMaxProfile"
        return "TxDefaultProfile" if self is ProfilePurpose.TX_DEFAULT else "TxProfile"


class ProfileKind(StrEnum):
    ABSOLUTE = "absolute"
    RECURRING = "recurring"
    RELATIVE = "relative"


class Recurrency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"


class RateUnit(StrEnum):
    W = "W"
    A = "A"


@dataclass(frozen=True, slots=True)
class SchedulePeriod:
    start_s: int  # seconds from the start of the schedule
    limit: int  # in the schedule's rate unit (W or A)
    phases: int | None = None


@dataclass(frozen=True, slots=True)
class ChargingSchedule:
    rate_unit: RateUnit
    periods: tuple[SchedulePeriod, ...]
    duration_s: int | None = None
    start_at: datetime | None = None
    min_rate: int | None = None

    def check(self) -> None:
        """K01: the first period starts at 0 and periods follow in time.

        Raises: InvalidInput.
        """
        if not self.periods or self.periods[0].start_s != 0:
            raise InvalidInput(
                "the first schedule period must start at 0 s", field="schedule.periods"
            )
        starts = [period.start_s for period in self.periods]
        if any(later <= earlier for earlier, later in pairwise(starts)):
            raise InvalidInput(
                "schedule periods must be in increasing start_s order", field="schedule.periods"
            )

    def wire(self, version: OcppVersion, schedule_id: int) -> dict[str, Any]:
        periods = [
            _optional(startPeriod=period.start_s, limit=period.limit, numberPhases=period.phases)
            for period in self.periods
        ]
        schedule = _optional(
            duration=self.duration_s,
            startSchedule=_wire_time(self.start_at),
            chargingRateUnit=self.rate_unit.value,
            chargingSchedulePeriod=periods,
            minChargingRate=self.min_rate,
        )
        if version is V201:
            schedule["id"] = schedule_id
        return schedule


@dataclass(frozen=True, slots=True)
class ChargingProfile:
    profile_id: int
    stack_level: int
    purpose: ProfilePurpose
    kind: ProfileKind
    schedule: ChargingSchedule
    recurrency: Recurrency | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    ocpp_transaction_id: str | None = None

    def wire(self, version: OcppVersion) -> dict[str, Any]:
        """The 1.6 ``csChargingProfiles`` / 2.0.1 ``chargingProfile`` object.

        Raises: InvalidInput.
        """
        self.schedule.check()
        if (self.kind is ProfileKind.RECURRING) != (self.recurrency is not None):
            raise InvalidInput(
                "recurrency is required for a recurring profile and only for one",
                field="profile.recurrency",
            )
        if self.ocpp_transaction_id is not None and self.purpose is not ProfilePurpose.TX:
            raise InvalidInput(
                "only a tx profile names a transaction", field="profile.ocpp_transaction_id"
            )
        transaction = (
            None
            if self.ocpp_transaction_id is None
            else _transaction_id(version, self.ocpp_transaction_id, "profile.ocpp_transaction_id")
        )
        schedule = self.schedule.wire(version, self.profile_id)
        return _optional(
            **{"chargingProfileId" if version is V16 else "id": self.profile_id},
            transactionId=transaction,
            stackLevel=self.stack_level,
            chargingProfilePurpose=self.purpose.wire(version),
            chargingProfileKind=self.kind.value.capitalize(),
            recurrencyKind=None if self.recurrency is None else self.recurrency.value.capitalize(),
            validFrom=_wire_time(self.valid_from),
            validTo=_wire_time(self.valid_to),
            chargingSchedule=schedule if version is V16 else [schedule],
        )


def _transaction_id(version: OcppVersion, value: str, field: str) -> int | str:
    """1.6 transaction ids are integers; 2.0.1 ids are strings of up to 36 characters."""
    if version is V16:
        if not value.lstrip("-").isdigit() or not -_INT32_MAX - 1 <= int(value) <= _INT32_MAX:
            raise InvalidInput(f"{field} of an OCPP 1.6 pile is an integer", field=field)
        return int(value)
    if not 1 <= len(value) <= 36:
        raise InvalidInput(f"{field} must be 1..36 characters", field=field)
    return value


def _profile_target(gun_no: int, purpose: ProfilePurpose) -> int:
    """1.6 §3.13.2 / 2.0.1 K01.FR.03/16: a station-max profile goes to connector/EVSE 0; a
    tx profile to a gun."""
    _gun(gun_no, allow_pile=True)
    if purpose is ProfilePurpose.CHARGING_STATION_MAX and gun_no != 0:
        raise InvalidInput("a charging_station_max profile applies to gun_no 0", field="gun_no")
    if purpose is ProfilePurpose.TX and gun_no == 0:
        raise InvalidInput("a tx profile applies to a gun (1..20)", field="gun_no")
    return gun_no


# --- the commands --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RemoteStart(PileCommand):
    NAME: ClassVar[str] = "remote-start"
    ACTIONS: ClassVar[Mapping[OcppVersion, str]] = _both(
        "RemoteStartTransaction", "RequestStartTransaction"
    )

    gun_no: int
    id_tag: str
    charging_profile: ChargingProfile | None = None

    def payload(self, version: OcppVersion, request_id: int) -> dict[str, Any]:
        gun_no = _gun(self.gun_no)
        id_tag = _id_tag(version, self.id_tag, "id_tag")
        profile = None
        if self.charging_profile is not None:
            # 1.6 §5.16 / 2.0.1 F01.FR.08: the profile of a remote start is a TxProfile.
            if self.charging_profile.purpose is not ProfilePurpose.TX:
                raise InvalidInput(
                    "the profile of a remote start must have purpose tx",
                    field="charging_profile.purpose",
                )
            if self.charging_profile.ocpp_transaction_id is not None:
                raise InvalidInput(
                    "a remote start has no transaction id yet",
                    field="charging_profile.ocpp_transaction_id",
                )
            profile = self.charging_profile.wire(version)
        if version is V16:
            return _optional(connectorId=gun_no, idTag=id_tag, chargingProfile=profile)
        return _optional(
            evseId=gun_no,
            remoteStartId=request_id,
            idToken=_id_token(id_tag, _CENTRAL),
            chargingProfile=profile,
        )


@dataclass(frozen=True, slots=True)
class RemoteStop(PileCommand):
    NAME: ClassVar[str] = "remote-stop"
    ACTIONS: ClassVar[Mapping[OcppVersion, str]] = _both(
        "RemoteStopTransaction", "RequestStopTransaction"
    )

    ocpp_transaction_id: str

    def payload(self, version: OcppVersion, request_id: int) -> dict[str, Any]:
        return {
            "transactionId": _transaction_id(
                version, self.ocpp_transaction_id, "ocpp_transaction_id"
            )
        }


class ResetKind(StrEnum):
    SOFT = "soft"
    HARD = "hard"


@dataclass(frozen=True, slots=True)
class Reset(PileCommand):
    """1.6 Soft/Hard; 2.0.1 OnIdle (waits for running transactions, like a soft reset) /
    Immediate (stops them, like a hard one)."""

    NAME: ClassVar[str] = "reset"
    ACTIONS: ClassVar[Mapping[OcppVersion, str]] = _both("Reset")

    kind: ResetKind

    def payload(self, version: OcppVersion, request_id: int) -> dict[str, Any]:
        if version is V16:
            return {"type": self.kind.value.capitalize()}
        return {"type": "OnIdle" if self.kind is ResetKind.SOFT else "Immediate"}


@dataclass(frozen=True, slots=True)
class UnlockConnector(PileCommand):
    NAME: ClassVar[str] = "unlock"
    ACTIONS: ClassVar[Mapping[OcppVersion, str]] = _both("UnlockConnector")

    gun_no: int

    def payload(self, version: OcppVersion, request_id: int) -> dict[str, Any]:
        gun_no = _gun(self.gun_no)
        if version is V16:
            return {"connectorId": gun_no}
        return {"evseId": gun_no, "connectorId": 1}


@dataclass(frozen=True, slots=True)
class ChangeAvailability(PileCommand):
    """A gun, or the whole pile when ``gun_no`` is None."""

    NAME: ClassVar[str] = "availability"
    ACTIONS: ClassVar[Mapping[OcppVersion, str]] = _both("ChangeAvailability")

    is_operative: bool
    gun_no: int | None = None

    def payload(self, version: OcppVersion, request_id: int) -> dict[str, Any]:
        status = "Operative" if self.is_operative else "Inoperative"
        if version is V16:
            connector = 0 if self.gun_no is None else _gun(self.gun_no)
            return {"connectorId": connector, "type": status}
        if self.gun_no is None:
            return {"operationalStatus": status}
        return {"operationalStatus": status, "evse": {"id": _gun(self.gun_no)}}


def _component_variable(key: str, field: str) -> dict[str, Any]:
    """A 2.0.1 key written ``Component/Variable`` (e.g. ``OCPPCommCtrlr/HeartbeatInterval``)."""
    component, separator, variable = key.partition("/")
    if (
        not separator
        or not 1 <= len(component) <= _NAME_LENGTH
        or not 1 <= len(variable) <= _NAME_LENGTH
        or "/" in variable
    ):
        raise InvalidInput(
            f"an OCPP 2.0.1 key is Component/Variable, each 1..{_NAME_LENGTH} characters",
            field=field,
        )
    return {"component": {"name": component}, "variable": {"name": variable}}


def _config_key(key: str, field: str) -> str:
    if not 1 <= len(key) <= _NAME_LENGTH:
        raise InvalidInput(f"a configuration key is 1..{_NAME_LENGTH} characters", field=field)
    return key


@dataclass(frozen=True, slots=True)
class GetConfiguration(PileCommand):
    """1.6: the named keys, or every key when none is named; 2.0.1: named variables only
    (a whole inventory is GetBaseReport)."""

    NAME: ClassVar[str] = "get-configuration"
    ACTIONS: ClassVar[Mapping[OcppVersion, str]] = _both("GetConfiguration", "GetVariables")

    keys: tuple[str, ...] = ()

    def payload(self, version: OcppVersion, request_id: int) -> dict[str, Any]:
        if version is V16:
            keys = [_config_key(key, "key") for key in self.keys]
            return {"key": keys} if keys else {}
        if not self.keys:
            raise InvalidInput(
                "name at least one Component/Variable key; request a base report for all",
                field="key",
            )
        return {"getVariableData": [_component_variable(key, "key") for key in self.keys]}


@dataclass(frozen=True, slots=True)
class ChangeConfiguration(PileCommand):
    NAME: ClassVar[str] = "change-configuration"
    ACTIONS: ClassVar[Mapping[OcppVersion, str]] = _both("ChangeConfiguration", "SetVariables")

    key: str
    value: str

    def payload(self, version: OcppVersion, request_id: int) -> dict[str, Any]:
        limit = _CONFIG_VALUE_LENGTH[version]
        if len(self.value) > limit:
            raise InvalidInput(f"value must be at most {limit} characters", field="value")
        if version is V16:
            return {"key": _config_key(self.key, "key"), "value": self.value}
        if not self.value:
            raise InvalidInput("value must not be empty", field="value")
        item = _component_variable(self.key, "key")
        return {"setVariableData": [{**item, "attributeValue": self.value}]}


@dataclass(frozen=True, slots=True)
class SetChargingProfile(PileCommand):
    NAME: ClassVar[str] = "set-charging-profile"
    ACTIONS: ClassVar[Mapping[OcppVersion, str]] = _both("SetChargingProfile")

    gun_no: int  # 0 = the whole pile
    profile: ChargingProfile

    def payload(self, version: OcppVersion, request_id: int) -> dict[str, Any]:
        target = _profile_target(self.gun_no, self.profile.purpose)
        if version is V16:
            return {"connectorId": target, "csChargingProfiles": self.profile.wire(version)}
        return {"evseId": target, "chargingProfile": self.profile.wire(version)}


@dataclass(frozen=True, slots=True)
class ClearChargingProfile(PileCommand):
    """Clear by id, or every profile matching the criteria given (none given: all)."""

    NAME: ClassVar[str] = "clear-charging-profile"
    ACTIONS: ClassVar[Mapping[OcppVersion, str]] = _both("ClearChargingProfile")

    profile_id: int | None = None
    gun_no: int | None = None
    purpose: ProfilePurpose | None = None
    stack_level: int | None = None

    def payload(self, version: OcppVersion, request_id: int) -> dict[str, Any]:
        gun_no = None if self.gun_no is None else _gun(self.gun_no, allow_pile=True)
        purpose = None if self.purpose is None else self.purpose.wire(version)
        if version is V16:
            return _optional(
                id=self.profile_id,
                connectorId=gun_no,
                chargingProfilePurpose=purpose,
                stackLevel=self.stack_level,
            )
        criteria = _optional(
            evseId=gun_no, chargingProfilePurpose=purpose, stackLevel=self.stack_level
        )
        return _optional(
            chargingProfileId=self.profile_id, chargingProfileCriteria=criteria or None
        )


@dataclass(frozen=True, slots=True)
class GetCompositeSchedule(PileCommand):
    NAME: ClassVar[str] = "composite-schedule"
    ACTIONS: ClassVar[Mapping[OcppVersion, str]] = _both("GetCompositeSchedule")

    gun_no: int  # 0 = the pile's total
    duration_s: int
    rate_unit: RateUnit | None = None

    def payload(self, version: OcppVersion, request_id: int) -> dict[str, Any]:
        gun_no = _gun(self.gun_no, allow_pile=True)
        unit = None if self.rate_unit is None else self.rate_unit.value
        key = "connectorId" if version is V16 else "evseId"
        return _optional(**{key: gun_no}, duration=self.duration_s, chargingRateUnit=unit)


@dataclass(frozen=True, slots=True)
class ReserveNow(PileCommand):
    """A gun (or, with ``gun_no`` None, any gun) held for ``id_tag`` until ``expires_at``;
    the reservation id is the call's request id."""

    NAME: ClassVar[str] = "reserve"
    ACTIONS: ClassVar[Mapping[OcppVersion, str]] = _both("ReserveNow")

    id_tag: str
    expires_at: datetime
    gun_no: int | None = None
    parent_id_tag: str | None = None

    def payload(self, version: OcppVersion, request_id: int) -> dict[str, Any]:
        id_tag = _id_tag(version, self.id_tag, "id_tag")
        parent = (
            None
            if self.parent_id_tag is None
            else _id_tag(version, self.parent_id_tag, "parent_id_tag")
        )
        gun_no = None if self.gun_no is None else _gun(self.gun_no)
        if version is V16:
            return _optional(
                connectorId=0 if gun_no is None else gun_no,
                expiryDate=to_wire(self.expires_at),
                idTag=id_tag,
                parentIdTag=parent,
                reservationId=request_id,
            )
        return _optional(
            id=request_id,
            expiryDateTime=to_wire(self.expires_at),
            idToken=_id_token(id_tag, _CENTRAL),
            evseId=gun_no,
            groupIdToken=None if parent is None else _id_token(parent, _CENTRAL),
        )


@dataclass(frozen=True, slots=True)
class CancelReservation(PileCommand):
    NAME: ClassVar[str] = "cancel-reservation"
    ACTIONS: ClassVar[Mapping[OcppVersion, str]] = _both("CancelReservation")

    reservation_id: int

    def payload(self, version: OcppVersion, request_id: int) -> dict[str, Any]:
        return {"reservationId": self.reservation_id}


@dataclass(frozen=True, slots=True)
class UpdateFirmware(PileCommand):
    NAME: ClassVar[str] = "firmware"
    ACTIONS: ClassVar[Mapping[OcppVersion, str]] = _both("UpdateFirmware")

    location: str
    retrieve_at: datetime
    retries: int | None = None
    retry_interval_s: int | None = None
    install_at: datetime | None = None  # 2.0.1 only

    def payload(self, version: OcppVersion, request_id: int) -> dict[str, Any]:
        if version is V16:
            if self.install_at is not None:
                raise InvalidInput("install_at needs an OCPP 2.0.1 pile", field="install_at")
            return _optional(
                location=self.location,
                retrieveDate=to_wire(self.retrieve_at),
                retries=self.retries,
                retryInterval=self.retry_interval_s,
            )
        firmware = _optional(
            location=self.location,
            retrieveDateTime=to_wire(self.retrieve_at),
            installDateTime=_wire_time(self.install_at),
        )
        return _optional(
            requestId=request_id,
            firmware=firmware,
            retries=self.retries,
            retryInterval=self.retry_interval_s,
        )


@dataclass(frozen=True, slots=True)
class GetDiagnostics(PileCommand):
    NAME: ClassVar[str] = "diagnostics"
    ACTIONS: ClassVar[Mapping[OcppVersion, str]] = {V16: "GetDiagnostics"}
    HINT: ClassVar[str] = "request logs instead"

    location: str
    retries: int | None = None
    retry_interval_s: int | None = None
    start_at: datetime | None = None
    stop_at: datetime | None = None

    def payload(self, version: OcppVersion, request_id: int) -> dict[str, Any]:
        return _optional(
            location=self.location,
            retries=self.retries,
            retryInterval=self.retry_interval_s,
            startTime=_wire_time(self.start_at),
            stopTime=_wire_time(self.stop_at),
        )


class LogType(StrEnum):
    DIAGNOSTICS = "diagnostics"
    SECURITY = "security"


@dataclass(frozen=True, slots=True)
class GetLog(PileCommand):
    NAME: ClassVar[str] = "logs"
    ACTIONS: ClassVar[Mapping[OcppVersion, str]] = {V201: "GetLog"}
    HINT: ClassVar[str] = "request diagnostics instead"

    location: str
    log_type: LogType = LogType.DIAGNOSTICS
    oldest_at: datetime | None = None
    latest_at: datetime | None = None
    retries: int | None = None
    retry_interval_s: int | None = None

    def payload(self, version: OcppVersion, request_id: int) -> dict[str, Any]:
        log = _optional(
            remoteLocation=self.location,
            oldestTimestamp=_wire_time(self.oldest_at),
            latestTimestamp=_wire_time(self.latest_at),
        )
        return _optional(
            logType="DiagnosticsLog" if self.log_type is LogType.DIAGNOSTICS else "SecurityLog",
            requestId=request_id,
            log=log,
            retries=self.retries,
            retryInterval=self.retry_interval_s,
        )


class LocalAuthStatus(StrEnum):
    ACCEPTED = "accepted"
    BLOCKED = "blocked"
    EXPIRED = "expired"
    INVALID = "invalid"
    CONCURRENT_TX = "concurrent_tx"

    @property
    def wire(self) -> str:
        return "ConcurrentTx" if self is LocalAuthStatus.CONCURRENT_TX else self.value.capitalize()


@dataclass(frozen=True, slots=True)
class LocalListEntry:
    """A card on the pile's local list; without a status it is removed (differential)."""

    id_tag: str
    status: LocalAuthStatus | None = None
    expires_at: datetime | None = None
    parent_id_tag: str | None = None


@dataclass(frozen=True, slots=True)
class SendLocalList(PileCommand):
    NAME: ClassVar[str] = "local-list"
    ACTIONS: ClassVar[Mapping[OcppVersion, str]] = _both("SendLocalList")

    list_version: int
    is_full: bool
    entries: tuple[LocalListEntry, ...] = ()

    def payload(self, version: OcppVersion, request_id: int) -> dict[str, Any]:
        entries = [self._entry(version, index, entry) for index, entry in enumerate(self.entries)]
        update = "Full" if self.is_full else "Differential"
        if version is V16:
            return _optional(
                listVersion=self.list_version,
                updateType=update,
                localAuthorizationList=entries or None,
            )
        return _optional(
            versionNumber=self.list_version,
            updateType=update,
            localAuthorizationList=entries or None,
        )

    def _entry(self, version: OcppVersion, index: int, entry: LocalListEntry) -> dict[str, Any]:
        where = f"entries.{index}"
        id_tag = _id_tag(version, entry.id_tag, f"{where}.id_tag")
        if entry.status is None:
            # 1.6 §5.15 / 2.0.1 D01.FR.04: a full list gives every entry its info; an entry
            # without it is a removal, which only a differential update can express.
            if self.is_full:
                raise InvalidInput(
                    "every entry of a full list needs a status", field=f"{where}.status"
                )
            if entry.expires_at is not None or entry.parent_id_tag is not None:
                raise InvalidInput(
                    "an entry without status removes the card and takes nothing else",
                    field=f"{where}.status",
                )
            if version is V16:
                return {"idTag": id_tag}
            return {"idToken": _id_token(id_tag, _CARD)}
        parent = (
            None
            if entry.parent_id_tag is None
            else _id_tag(version, entry.parent_id_tag, f"{where}.parent_id_tag")
        )
        if version is V16:
            info = _optional(
                status=entry.status.wire,
                expiryDate=_wire_time(entry.expires_at),
                parentIdTag=parent,
            )
            return {"idTag": id_tag, "idTagInfo": info}
        info = _optional(
            status=entry.status.wire,
            cacheExpiryDateTime=_wire_time(entry.expires_at),
            groupIdToken=None if parent is None else _id_token(parent, _CARD),
        )
        return {"idToken": _id_token(id_tag, _CARD), "idTokenInfo": info}


@dataclass(frozen=True, slots=True)
class GetLocalListVersion(PileCommand):
    NAME: ClassVar[str] = "local-list-version"
    ACTIONS: ClassVar[Mapping[OcppVersion, str]] = _both("GetLocalListVersion")

    def payload(self, version: OcppVersion, request_id: int) -> dict[str, Any]:
        return {}


@dataclass(frozen=True, slots=True)
class ClearCache(PileCommand):
    NAME: ClassVar[str] = "clear-cache"
    ACTIONS: ClassVar[Mapping[OcppVersion, str]] = _both("ClearCache")

    def payload(self, version: OcppVersion, request_id: int) -> dict[str, Any]:
        return {}


@dataclass(frozen=True, slots=True)
class DataTransfer(PileCommand):
    NAME: ClassVar[str] = "data-transfer"
    ACTIONS: ClassVar[Mapping[OcppVersion, str]] = _both("DataTransfer")

    vendor_id: str
    message_id: str | None = None
    data: str | None = None

    def payload(self, version: OcppVersion, request_id: int) -> dict[str, Any]:
        return _optional(vendorId=self.vendor_id, messageId=self.message_id, data=self.data)


TRIGGERS: dict[OcppVersion, frozenset[str]] = {
    V16: frozenset(
        {
            "BootNotification",
            "DiagnosticsStatusNotification",
            "FirmwareStatusNotification",
            "Heartbeat",
            "MeterValues",
            "StatusNotification",
        }
    ),
    V201: frozenset(
        {
            "BootNotification",
            "LogStatusNotification",
            "FirmwareStatusNotification",
            "Heartbeat",
            "MeterValues",
            "SignChargingStationCertificate",
            "SignV2GCertificate",
            "StatusNotification",
            "TransactionEvent",
            "SignCombinedCertificate",
            "PublishFirmwareStatusNotification",
        }
    ),
}


@dataclass(frozen=True, slots=True)
class TriggerMessage(PileCommand):
    NAME: ClassVar[str] = "trigger"
    ACTIONS: ClassVar[Mapping[OcppVersion, str]] = _both("TriggerMessage")

    message: str
    gun_no: int | None = None

    def payload(self, version: OcppVersion, request_id: int) -> dict[str, Any]:
        if self.message not in TRIGGERS[version]:
            allowed = ", ".join(sorted(TRIGGERS[version]))
            raise CommandNotSupported(
                f"OCPP {version.removeprefix('ocpp')} cannot trigger {self.message}; "
                f"it can trigger {allowed}",
                kind="trigger",
                id=self.message,
            )
        gun_no = None if self.gun_no is None else _gun(self.gun_no)
        if version is V16:
            return _optional(requestedMessage=self.message, connectorId=gun_no)
        if gun_no is None:
            return {"requestedMessage": self.message}
        evse: dict[str, Any] = {"id": gun_no}
        if self.message == "StatusNotification":
            # F06.FR.12: a triggered StatusNotification names the connector.
            evse["connectorId"] = 1
        return {"requestedMessage": self.message, "evse": evse}


class ReportBase(StrEnum):
    CONFIGURATION_INVENTORY = "configuration_inventory"
    FULL_INVENTORY = "full_inventory"
    SUMMARY_INVENTORY = "summary_inventory"


@dataclass(frozen=True, slots=True)
class GetBaseReport(PileCommand):
    """The pile answers Accepted, then sends the report in NotifyReport messages that carry
    this call's request id (stored as pile events)."""

    NAME: ClassVar[str] = "base-report"
    ACTIONS: ClassVar[Mapping[OcppVersion, str]] = {V201: "GetBaseReport"}
    HINT: ClassVar[str] = "read the configuration instead"

    report: ReportBase

    def payload(self, version: OcppVersion, request_id: int) -> dict[str, Any]:
        base = "".join(part.capitalize() for part in self.report.value.split("_"))
        return {"requestId": request_id, "reportBase": base}


COMMANDS: tuple[type[PileCommand], ...] = (
    RemoteStart,
    RemoteStop,
    Reset,
    UnlockConnector,
    ChangeAvailability,
    GetConfiguration,
    ChangeConfiguration,
    SetChargingProfile,
    ClearChargingProfile,
    GetCompositeSchedule,
    ReserveNow,
    CancelReservation,
    UpdateFirmware,
    GetDiagnostics,
    GetLog,
    SendLocalList,
    GetLocalListVersion,
    ClearCache,
    DataTransfer,
    TriggerMessage,
    GetBaseReport,
)
