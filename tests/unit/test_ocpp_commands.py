"""The command catalogue: every command's OCPP request per version, checked against the
official schema of that version, and the rules each version imposes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.adapters.ocpp_schemas import OcppSchemas
from shared.domain.errors import InvalidInput
from shared.domain.ocpp import commands as cmd
from shared.domain.ocpp.actions import TO_PILE, Direction
from shared.domain.ocpp.remote_calls import call_message_id, message_id_floor, numeric_id
from shared.domain.ocpp.versions import OcppVersion

V16 = OcppVersion.V16
V201 = OcppVersion.V201
SCHEMAS = OcppSchemas()
AT = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
REQUEST_ID = 4242


def a_profile(**overrides: Any) -> cmd.ChargingProfile:
    values: dict[str, Any] = {
        "profile_id": 7,
        "stack_level": 1,
        "purpose": cmd.ProfilePurpose.TX_DEFAULT,
        "kind": cmd.ProfileKind.ABSOLUTE,
        "schedule": cmd.ChargingSchedule(
            rate_unit=cmd.RateUnit.W,
            periods=(cmd.SchedulePeriod(0, 7000), cmd.SchedulePeriod(3600, 3500, 1)),
            duration_s=7200,
            start_at=AT,
            min_rate=1000,
        ),
    }
    values.update(overrides)
    return cmd.ChargingProfile(**values)


# (command, version, expected action, expected payload)
CASES: list[tuple[cmd.PileCommand, OcppVersion, str, dict[str, Any]]] = [
    (
        cmd.RemoteStart(2, "CARD-1"),
        V16,
        "RemoteStartTransaction",
        {"connectorId": 2, "idTag": "CARD-1"},
    ),
    (
        cmd.RemoteStart(2, "CARD-1", a_profile(purpose=cmd.ProfilePurpose.TX)),
        V201,
        "RequestStartTransaction",
        {
            "evseId": 2,
            "remoteStartId": REQUEST_ID,
            "idToken": {"idToken": "CARD-1", "type": "Central"},
            "chargingProfile": {
                "id": 7,
                "stackLevel": 1,
                "chargingProfilePurpose": "TxProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": [
                    {
                        "id": 7,
                        "duration": 7200,
                        "startSchedule": "2026-11-01T02:00:00.000Z",
                        "chargingRateUnit": "W",
                        "chargingSchedulePeriod": [
                            {"startPeriod": 0, "limit": 7000},
                            {"startPeriod": 3600, "limit": 3500, "numberPhases": 1},
                        ],
                        "minChargingRate": 1000,
                    }
                ],
            },
        },
    ),
    (cmd.RemoteStop("1234"), V16, "RemoteStopTransaction", {"transactionId": 1234}),
    (cmd.RemoteStop("tx-abc"), V201, "RequestStopTransaction", {"transactionId": "tx-abc"}),
    (cmd.Reset(cmd.ResetKind.SOFT), V16, "Reset", {"type": "Soft"}),
    (cmd.Reset(cmd.ResetKind.HARD), V16, "Reset", {"type": "Hard"}),
    (cmd.Reset(cmd.ResetKind.SOFT), V201, "Reset", {"type": "OnIdle"}),
    (cmd.Reset(cmd.ResetKind.HARD), V201, "Reset", {"type": "Immediate"}),
    (cmd.UnlockConnector(1), V16, "UnlockConnector", {"connectorId": 1}),
    (cmd.UnlockConnector(3), V201, "UnlockConnector", {"evseId": 3, "connectorId": 1}),
    (
        cmd.ChangeAvailability(is_operative=False),
        V16,
        "ChangeAvailability",
        {"connectorId": 0, "type": "Inoperative"},
    ),
    (
        cmd.ChangeAvailability(is_operative=True, gun_no=2),
        V16,
        "ChangeAvailability",
        {"connectorId": 2, "type": "Operative"},
    ),
    (
        cmd.ChangeAvailability(is_operative=False),
        V201,
        "ChangeAvailability",
        {"operationalStatus": "Inoperative"},
    ),
    (
        cmd.ChangeAvailability(is_operative=True, gun_no=2),
        V201,
        "ChangeAvailability",
        {"operationalStatus": "Operative", "evse": {"id": 2}},
    ),
    (cmd.GetConfiguration(), V16, "GetConfiguration", {}),
    (
        cmd.GetConfiguration(("HeartbeatInterval", "MeterValueSampleInterval")),
        V16,
        "GetConfiguration",
        {"key": ["HeartbeatInterval", "MeterValueSampleInterval"]},
    ),
    (
        cmd.GetConfiguration(("OCPPCommCtrlr/HeartbeatInterval",)),
        V201,
        "GetVariables",
        {
            "getVariableData": [
                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
            ]
        },
    ),
    (
        cmd.ChangeConfiguration("HeartbeatInterval", "300"),
        V16,
        "ChangeConfiguration",
        {"key": "HeartbeatInterval", "value": "300"},
    ),
    (
        cmd.ChangeConfiguration("OCPPCommCtrlr/HeartbeatInterval", "300"),
        V201,
        "SetVariables",
        {
            "setVariableData": [
                {
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                    "attributeValue": "300",
                }
            ]
        },
    ),
    (
        cmd.SetChargingProfile(
            0,
            a_profile(
                purpose=cmd.ProfilePurpose.CHARGING_STATION_MAX,
                kind=cmd.ProfileKind.RECURRING,
                recurrency=cmd.Recurrency.DAILY,
                valid_from=AT,
                valid_to=AT + timedelta(days=30),
            ),
        ),
        V16,
        "SetChargingProfile",
        {
            "connectorId": 0,
            "csChargingProfiles": {
                "chargingProfileId": 7,
                "stackLevel": 1,
                "chargingProfilePurpose": "ChargePointMaxProfile",
                "chargingProfileKind": "Recurring",
                "recurrencyKind": "Daily",
                "validFrom": "2026-11-01T02:00:00.000Z",
                "validTo": "2026-12-01T02:00:00.000Z",
                "chargingSchedule": {
                    "duration": 7200,
                    "startSchedule": "2026-11-01T02:00:00.000Z",
                    "chargingRateUnit": "W",
                    "chargingSchedulePeriod": [
                        {"startPeriod": 0, "limit": 7000},
                        {"startPeriod": 3600, "limit": 3500, "numberPhases": 1},
                    ],
                    "minChargingRate": 1000,
                },
            },
        },
    ),
    (
        cmd.SetChargingProfile(
            1, a_profile(purpose=cmd.ProfilePurpose.TX, ocpp_transaction_id="77")
        ),
        V16,
        "SetChargingProfile",
        {
            "connectorId": 1,
            "csChargingProfiles": {
                "chargingProfileId": 7,
                "transactionId": 77,
                "stackLevel": 1,
                "chargingProfilePurpose": "TxProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": {
                    "duration": 7200,
                    "startSchedule": "2026-11-01T02:00:00.000Z",
                    "chargingRateUnit": "W",
                    "chargingSchedulePeriod": [
                        {"startPeriod": 0, "limit": 7000},
                        {"startPeriod": 3600, "limit": 3500, "numberPhases": 1},
                    ],
                    "minChargingRate": 1000,
                },
            },
        },
    ),
    (
        cmd.SetChargingProfile(0, a_profile(purpose=cmd.ProfilePurpose.CHARGING_STATION_MAX)),
        V201,
        "SetChargingProfile",
        {
            "evseId": 0,
            "chargingProfile": {
                "id": 7,
                "stackLevel": 1,
                "chargingProfilePurpose": "ChargingStationMaxProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": [
                    {
                        "id": 7,
                        "duration": 7200,
                        "startSchedule": "2026-11-01T02:00:00.000Z",
                        "chargingRateUnit": "W",
                        "chargingSchedulePeriod": [
                            {"startPeriod": 0, "limit": 7000},
                            {"startPeriod": 3600, "limit": 3500, "numberPhases": 1},
                        ],
                        "minChargingRate": 1000,
                    }
                ],
            },
        },
    ),
    (cmd.ClearChargingProfile(), V16, "ClearChargingProfile", {}),
    (
        cmd.ClearChargingProfile(gun_no=1, purpose=cmd.ProfilePurpose.TX_DEFAULT, stack_level=2),
        V16,
        "ClearChargingProfile",
        {"connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 2},
    ),
    (
        cmd.ClearChargingProfile(profile_id=7),
        V201,
        "ClearChargingProfile",
        {"chargingProfileId": 7},
    ),
    (
        cmd.ClearChargingProfile(gun_no=0, purpose=cmd.ProfilePurpose.CHARGING_STATION_MAX),
        V201,
        "ClearChargingProfile",
        {
            "chargingProfileCriteria": {
                "evseId": 0,
                "chargingProfilePurpose": "ChargingStationMaxProfile",
            }
        },
    ),
    (
        cmd.GetCompositeSchedule(1, 3600, cmd.RateUnit.A),
        V16,
        "GetCompositeSchedule",
        {"connectorId": 1, "duration": 3600, "chargingRateUnit": "A"},
    ),
    (
        cmd.GetCompositeSchedule(0, 600),
        V201,
        "GetCompositeSchedule",
        {"evseId": 0, "duration": 600},
    ),
    (
        cmd.ReserveNow("CARD-1", AT, gun_no=2, parent_id_tag="GROUP-1"),
        V16,
        "ReserveNow",
        {
            "connectorId": 2,
            "expiryDate": "2026-11-01T02:00:00.000Z",
            "idTag": "CARD-1",
            "parentIdTag": "GROUP-1",
            "reservationId": REQUEST_ID,
        },
    ),
    (
        cmd.ReserveNow("CARD-1", AT),
        V16,
        "ReserveNow",
        {
            "connectorId": 0,
            "expiryDate": "2026-11-01T02:00:00.000Z",
            "idTag": "CARD-1",
            "reservationId": REQUEST_ID,
        },
    ),
    (
        cmd.ReserveNow("CARD-1", AT, gun_no=2, parent_id_tag="GROUP-1"),
        V201,
        "ReserveNow",
        {
            "id": REQUEST_ID,
            "expiryDateTime": "2026-11-01T02:00:00.000Z",
            "idToken": {"idToken": "CARD-1", "type": "Central"},
            "evseId": 2,
            "groupIdToken": {"idToken": "GROUP-1", "type": "Central"},
        },
    ),
    (cmd.CancelReservation(99), V16, "CancelReservation", {"reservationId": 99}),
    (cmd.CancelReservation(99), V201, "CancelReservation", {"reservationId": 99}),
    (
        cmd.UpdateFirmware("https://fw.example.com/v2.bin", AT, retries=3, retry_interval_s=60),
        V16,
        "UpdateFirmware",
        {
            "location": "https://fw.example.com/v2.bin",
            "retrieveDate": "2026-11-01T02:00:00.000Z",
            "retries": 3,
            "retryInterval": 60,
        },
    ),
    (
        cmd.UpdateFirmware("https://fw.example.com/v2.bin", AT, install_at=AT + timedelta(hours=1)),
        V201,
        "UpdateFirmware",
        {
            "requestId": REQUEST_ID,
            "firmware": {
                "location": "https://fw.example.com/v2.bin",
                "retrieveDateTime": "2026-11-01T02:00:00.000Z",
                "installDateTime": "2026-11-01T03:00:00.000Z",
            },
        },
    ),
    (
        cmd.GetDiagnostics("ftp://logs.example.com/up", start_at=AT, stop_at=AT),
        V16,
        "GetDiagnostics",
        {
            "location": "ftp://logs.example.com/up",
            "startTime": "2026-11-01T02:00:00.000Z",
            "stopTime": "2026-11-01T02:00:00.000Z",
        },
    ),
    (
        cmd.GetLog("https://logs.example.com/up", cmd.LogType.SECURITY, oldest_at=AT),
        V201,
        "GetLog",
        {
            "logType": "SecurityLog",
            "requestId": REQUEST_ID,
            "log": {
                "remoteLocation": "https://logs.example.com/up",
                "oldestTimestamp": "2026-11-01T02:00:00.000Z",
            },
        },
    ),
    (
        cmd.SendLocalList(
            3,
            is_full=True,
            entries=(
                cmd.LocalListEntry("CARD-1", cmd.LocalAuthStatus.ACCEPTED, AT, "GROUP-1"),
                cmd.LocalListEntry("CARD-2", cmd.LocalAuthStatus.CONCURRENT_TX),
            ),
        ),
        V16,
        "SendLocalList",
        {
            "listVersion": 3,
            "updateType": "Full",
            "localAuthorizationList": [
                {
                    "idTag": "CARD-1",
                    "idTagInfo": {
                        "status": "Accepted",
                        "expiryDate": "2026-11-01T02:00:00.000Z",
                        "parentIdTag": "GROUP-1",
                    },
                },
                {"idTag": "CARD-2", "idTagInfo": {"status": "ConcurrentTx"}},
            ],
        },
    ),
    (
        cmd.SendLocalList(
            4,
            is_full=False,
            entries=(
                cmd.LocalListEntry("CARD-1", cmd.LocalAuthStatus.BLOCKED),
                cmd.LocalListEntry("CARD-2"),
            ),
        ),
        V201,
        "SendLocalList",
        {
            "versionNumber": 4,
            "updateType": "Differential",
            "localAuthorizationList": [
                {
                    "idToken": {"idToken": "CARD-1", "type": "ISO14443"},
                    "idTokenInfo": {"status": "Blocked"},
                },
                {"idToken": {"idToken": "CARD-2", "type": "ISO14443"}},
            ],
        },
    ),
    (
        cmd.SendLocalList(1, is_full=True),
        V16,
        "SendLocalList",
        {"listVersion": 1, "updateType": "Full"},
    ),
    (cmd.GetLocalListVersion(), V16, "GetLocalListVersion", {}),
    (cmd.GetLocalListVersion(), V201, "GetLocalListVersion", {}),
    (cmd.ClearCache(), V16, "ClearCache", {}),
    (cmd.ClearCache(), V201, "ClearCache", {}),
    (
        cmd.DataTransfer("com.acme", "Ping", "{}"),
        V16,
        "DataTransfer",
        {"vendorId": "com.acme", "messageId": "Ping", "data": "{}"},
    ),
    (cmd.DataTransfer("com.acme"), V201, "DataTransfer", {"vendorId": "com.acme"}),
    (
        cmd.TriggerMessage("StatusNotification", 1),
        V16,
        "TriggerMessage",
        {"requestedMessage": "StatusNotification", "connectorId": 1},
    ),
    (
        cmd.TriggerMessage("DiagnosticsStatusNotification"),
        V16,
        "TriggerMessage",
        {"requestedMessage": "DiagnosticsStatusNotification"},
    ),
    (
        cmd.TriggerMessage("StatusNotification", 2),
        V201,
        "TriggerMessage",
        {"requestedMessage": "StatusNotification", "evse": {"id": 2, "connectorId": 1}},
    ),
    (
        cmd.TriggerMessage("MeterValues", 2),
        V201,
        "TriggerMessage",
        {"requestedMessage": "MeterValues", "evse": {"id": 2}},
    ),
    (
        cmd.TriggerMessage("BootNotification"),
        V201,
        "TriggerMessage",
        {"requestedMessage": "BootNotification"},
    ),
    (
        cmd.GetBaseReport(cmd.ReportBase.FULL_INVENTORY),
        V201,
        "GetBaseReport",
        {"requestId": REQUEST_ID, "reportBase": "FullInventory"},
    ),
]


@pytest.mark.parametrize(
    ("command", "version", "action", "payload"),
    CASES,
    ids=[f"{case[2]}-{case[1].value}-{index}" for index, case in enumerate(CASES)],
)
def test_command_maps_to_a_schema_valid_request_of_the_version(
    command: cmd.PileCommand, version: OcppVersion, action: str, payload: dict[str, Any]
) -> None:
    request = command.to_ocpp(version, REQUEST_ID)

    assert (request.action, request.payload) == (action, payload)
    assert request.action in TO_PILE[version]
    SCHEMAS.validate(version, request.action, Direction.REQUEST, request.payload)


def test_catalogue_covers_every_command_of_the_issue_for_both_versions() -> None:
    v16 = {
        "RemoteStartTransaction", "RemoteStopTransaction", "Reset", "UnlockConnector",
        "ChangeAvailability", "ChangeConfiguration", "GetConfiguration", "TriggerMessage",
        "SetChargingProfile", "ClearChargingProfile", "GetCompositeSchedule", "ReserveNow",
        "CancelReservation", "UpdateFirmware", "GetDiagnostics", "SendLocalList",
        "GetLocalListVersion", "ClearCache", "DataTransfer",
    }  # fmt: skip
    v201 = {
        "RequestStartTransaction", "RequestStopTransaction", "Reset", "UnlockConnector",
        "ChangeAvailability", "SetVariables", "GetVariables", "GetBaseReport", "TriggerMessage",
        "SetChargingProfile", "ClearChargingProfile", "GetCompositeSchedule", "ReserveNow",
        "CancelReservation", "UpdateFirmware", "GetLog", "SendLocalList", "GetLocalListVersion",
        "ClearCache", "DataTransfer",
    }  # fmt: skip

    actions = {
        version: {
            command.ACTIONS[version] for command in cmd.COMMANDS if version in command.ACTIONS
        }
        for version in (V16, V201)
    }
    mapped = {(case[1], case[2]) for case in CASES}

    assert actions == {V16: v16, V201: v201}
    assert mapped == {(V16, a) for a in v16} | {(V201, a) for a in v201}


@pytest.mark.parametrize(
    ("command", "version"),
    [
        (cmd.GetBaseReport(cmd.ReportBase.SUMMARY_INVENTORY), V16),
        (cmd.GetLog("https://logs.example.com/up"), V16),
        (cmd.GetDiagnostics("https://logs.example.com/up"), V201),
        (cmd.TriggerMessage("DiagnosticsStatusNotification"), V201),
        (cmd.TriggerMessage("TransactionEvent"), V16),
        (cmd.TriggerMessage("LogStatusNotification"), V16),
    ],
)
def test_command_the_version_lacks_is_refused_with_a_clear_conflict(
    command: cmd.PileCommand, version: OcppVersion
) -> None:
    with pytest.raises(cmd.CommandNotSupported) as raised:
        command.to_ocpp(version, REQUEST_ID)

    assert version.removeprefix("ocpp") in raised.value.message


@pytest.mark.parametrize(
    ("command", "version", "field"),
    [
        (cmd.RemoteStart(1, "X" * 21), V16, "id_tag"),
        (cmd.RemoteStart(0, "CARD"), V16, "gun_no"),
        (cmd.RemoteStart(21, "CARD"), V201, "gun_no"),
        (cmd.RemoteStart(1, "CARD", a_profile()), V16, "charging_profile.purpose"),
        (
            cmd.RemoteStart(
                1, "CARD", a_profile(purpose=cmd.ProfilePurpose.TX, ocpp_transaction_id="1")
            ),
            V16,
            "charging_profile.ocpp_transaction_id",
        ),
        (cmd.RemoteStop("tx-abc"), V16, "ocpp_transaction_id"),
        (cmd.RemoteStop("99999999999"), V16, "ocpp_transaction_id"),
        (cmd.ReserveNow("CARD", AT, parent_id_tag="P" * 21), V16, "parent_id_tag"),
        (cmd.GetConfiguration(), V201, "key"),
        (cmd.GetConfiguration(("HeartbeatInterval",)), V201, "key"),
        (cmd.GetConfiguration(("A/B/C",)), V201, "key"),
        (cmd.GetConfiguration(("K" * 51,)), V16, "key"),
        (cmd.ChangeConfiguration("HeartbeatInterval", "v" * 501), V16, "value"),
        (cmd.ChangeConfiguration("OCPPCommCtrlr/HeartbeatInterval", ""), V201, "value"),
        (
            cmd.SetChargingProfile(1, a_profile(purpose=cmd.ProfilePurpose.CHARGING_STATION_MAX)),
            V16,
            "gun_no",
        ),
        (cmd.SetChargingProfile(0, a_profile(purpose=cmd.ProfilePurpose.TX)), V201, "gun_no"),
        (
            cmd.SetChargingProfile(1, a_profile(kind=cmd.ProfileKind.RECURRING)),
            V16,
            "profile.recurrency",
        ),
        (
            cmd.SetChargingProfile(1, a_profile(recurrency=cmd.Recurrency.WEEKLY)),
            V16,
            "profile.recurrency",
        ),
        (
            cmd.SetChargingProfile(1, a_profile(ocpp_transaction_id="5")),
            V16,
            "profile.ocpp_transaction_id",
        ),
        (
            cmd.SetChargingProfile(
                1,
                a_profile(
                    schedule=cmd.ChargingSchedule(cmd.RateUnit.A, (cmd.SchedulePeriod(60, 16),))
                ),
            ),
            V16,
            "schedule.periods",
        ),
        (
            cmd.SetChargingProfile(
                1,
                a_profile(
                    schedule=cmd.ChargingSchedule(
                        cmd.RateUnit.A, (cmd.SchedulePeriod(0, 16), cmd.SchedulePeriod(0, 8))
                    )
                ),
            ),
            V201,
            "schedule.periods",
        ),
        (cmd.UpdateFirmware("https://fw.example.com/a", AT, install_at=AT), V16, "install_at"),
        (
            cmd.SendLocalList(1, is_full=True, entries=(cmd.LocalListEntry("C"),)),
            V16,
            "entries.0.status",
        ),
        (
            cmd.SendLocalList(1, is_full=False, entries=(cmd.LocalListEntry("C", expires_at=AT),)),
            V201,
            "entries.0.status",
        ),
        (
            cmd.SendLocalList(
                1,
                is_full=False,
                entries=(cmd.LocalListEntry("C" * 21, cmd.LocalAuthStatus.ACCEPTED),),
            ),
            V16,
            "entries.0.id_tag",
        ),
    ],
)
def test_value_the_version_cannot_carry_is_refused_naming_the_field(
    command: cmd.PileCommand, version: OcppVersion, field: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        command.to_ocpp(version, REQUEST_ID)

    assert raised.value.fields["field"] == field


def test_id_tag_of_36_characters_is_fine_for_201_only() -> None:
    tag = "T" * 36

    request = cmd.RemoteStart(1, tag).to_ocpp(V201, REQUEST_ID)

    SCHEMAS.validate(V201, request.action, Direction.REQUEST, request.payload)
    with pytest.raises(InvalidInput):
        cmd.RemoteStart(1, tag).to_ocpp(V16, REQUEST_ID)


# -- properties

id_tags = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20
)
periods = st.lists(
    st.tuples(st.integers(1, 3600), st.integers(0, 500_000), st.none() | st.integers(1, 3)),
    min_size=0,
    max_size=10,
)


@st.composite
def profiles(draw: st.DrawFn, purpose: cmd.ProfilePurpose) -> cmd.ChargingProfile:
    steps = draw(periods)
    start = 0
    built = [cmd.SchedulePeriod(0, draw(st.integers(0, 500_000)))]
    for gap, limit, phases in steps:
        start += gap
        built.append(cmd.SchedulePeriod(start, limit, phases))
    kind = draw(st.sampled_from(list(cmd.ProfileKind)))
    return cmd.ChargingProfile(
        profile_id=draw(st.integers(1, 2**31 - 1)),
        stack_level=draw(st.integers(0, 100)),
        purpose=purpose,
        kind=kind,
        recurrency=draw(st.sampled_from(list(cmd.Recurrency)))
        if kind is cmd.ProfileKind.RECURRING
        else None,
        schedule=cmd.ChargingSchedule(
            rate_unit=draw(st.sampled_from(list(cmd.RateUnit))),
            periods=tuple(built),
            duration_s=draw(st.none() | st.integers(1, 86_400)),
        ),
    )


@given(
    gun_no=st.integers(1, 20),
    id_tag=id_tags,
    profile=st.none() | profiles(cmd.ProfilePurpose.TX),
    version=st.sampled_from([V16, V201]),
)
def test_any_valid_remote_start_validates_against_the_schema(
    gun_no: int, id_tag: str, profile: cmd.ChargingProfile | None, version: OcppVersion
) -> None:
    request = cmd.RemoteStart(gun_no, id_tag, profile).to_ocpp(version, REQUEST_ID)

    SCHEMAS.validate(version, request.action, Direction.REQUEST, request.payload)


@given(
    purpose=st.sampled_from(list(cmd.ProfilePurpose)),
    gun_no=st.integers(1, 20),
    version=st.sampled_from([V16, V201]),
    data=st.data(),
)
def test_any_valid_charging_profile_validates_against_the_schema(
    purpose: cmd.ProfilePurpose, gun_no: int, version: OcppVersion, data: st.DataObject
) -> None:
    target = 0 if purpose is cmd.ProfilePurpose.CHARGING_STATION_MAX else gun_no
    profile = data.draw(profiles(purpose))

    request = cmd.SetChargingProfile(target, profile).to_ocpp(version, REQUEST_ID)

    SCHEMAS.validate(version, request.action, Direction.REQUEST, request.payload)


@given(
    entries=st.lists(
        st.tuples(id_tags, st.none() | st.sampled_from(list(cmd.LocalAuthStatus))), max_size=20
    ),
    version=st.sampled_from([V16, V201]),
)
def test_any_differential_local_list_validates_against_the_schema(
    entries: list[tuple[str, cmd.LocalAuthStatus | None]], version: OcppVersion
) -> None:
    command = cmd.SendLocalList(
        9, is_full=False, entries=tuple(cmd.LocalListEntry(tag, status) for tag, status in entries)
    )

    request = command.to_ocpp(version, REQUEST_ID)

    SCHEMAS.validate(version, request.action, Direction.REQUEST, request.payload)


@given(st.text(min_size=1, max_size=36))
def test_numeric_id_is_a_positive_int32_stable_for_the_call(unique_id: str) -> None:
    first = numeric_id(unique_id)

    assert 1 <= first <= 2**31 - 1
    assert numeric_id(unique_id) == first


@given(
    st.datetimes(
        min_value=datetime(2001, 1, 1),
        max_value=datetime(2098, 12, 31),
        timezones=st.just(UTC),
    ),
    st.timedeltas(min_value=timedelta(milliseconds=1), max_value=timedelta(days=400)),
)
def test_call_ids_are_36_characters_and_sort_by_creation_time(
    earlier: datetime, gap: timedelta
) -> None:
    def ids(prefix: str) -> str:
        return f"{prefix}-{'f' * 20}"

    first = call_message_id(earlier, ids)
    later = call_message_id(earlier + gap, lambda prefix: f"{prefix}-{'0' * 20}")

    assert len(first) == len(later) == 36
    if message_id_floor(earlier) != message_id_floor(earlier + gap):
        assert first < later
    assert later >= message_id_floor(earlier + gap)
