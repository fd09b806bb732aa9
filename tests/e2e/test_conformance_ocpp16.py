"""OCPP 1.6J conformance, end to end: the OCA compliance test cases for a Central System.

Each ``test_TC_...`` is one case of the OCA Compliancy Test Tool document (the cases SteVe
runs in its certification tests), played by a real ``ocpp.v16.ChargePoint`` over a real
WebSocket against the local stack; the checklist with every case's status is
``docs/conformance.md``. The ``test_...`` without a case id check what every case relies
on: the door's refusals, the error codes of the 1.6 RPC framework, and reconnects.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import ocpp
import pytest
from jsonschema import Draft4Validator
from ocpp.exceptions import (
    NotImplementedError as OcppNotImplemented,
)
from ocpp.exceptions import (
    NotSupportedError,
    SecurityError,
)
from ocpp.v16 import call
from ocpp.v16 import call_result as result16
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as sync_connect
from websockets.typing import Subprotocol

from infra.local import demo
from tests.e2e.conformance_support import (
    V16,
    V201,
    OperatorApi,
    Pile,
    Tenant,
    dial_raw,
    exchange,
    faults_of,
    refusal_status,
    wire_now,
)
from tests.e2e.conftest import RunningStack
from tests.e2e.test_demo import wait_for_demo

pytestmark = pytest.mark.e2e

BOOT = call.BootNotification(
    charge_point_vendor="Conformance",
    charge_point_model="CT-22kW",
    charge_point_serial_number="CP-SN-0001",
    firmware_version="1.6.9",
    iccid="89860000000000000001",
    imsi="460000000000001",
)


@pytest.fixture(scope="module")
def api(local_stack: RunningStack) -> OperatorApi:
    return OperatorApi(local_stack)


@pytest.fixture(scope="module")
def tenant(api: OperatorApi) -> Tenant:
    return Tenant.create(api, "Conformance 1.6")


@pytest.fixture
def pile(local_stack: RunningStack, tenant: Tenant) -> Iterator[Pile]:
    """A registered 1.6 pile with two guns, connected and booted (Accepted)."""
    with Pile(local_stack, tenant.new_pile(V16), V16) as booted:
        assert booted.call(BOOT).status == "Accepted"
        yield booted


def _status(
    connector_id: int,
    status: str,
    error_code: str = "NoError",
    timestamp: str | None = None,
    **extra: Any,
) -> Any:
    return call.StatusNotification(
        connector_id=connector_id,
        error_code=error_code,
        status=status,
        timestamp=timestamp or wire_now(),
        **extra,
    )


def _parse(wire: str) -> datetime:
    return datetime.fromisoformat(wire.replace("Z", "+00:00"))


# -- Core: booting and status ------------------------------------------------------------------


def test_TC_001_cold_boot_charge_point(local_stack: RunningStack, tenant: Tenant) -> None:
    pile_id = tenant.new_pile(V16)
    with Pile(local_stack, pile_id, V16) as pile:
        boot = pile.call(BOOT)
        statuses = [pile.call(_status(connector, "Available")) for connector in (0, 1, 2)]
        heartbeat = pile.call(call.Heartbeat())

    assert boot.status == "Accepted"
    assert 0 < boot.interval < 600  # under API Gateway's 10-minute idle close
    assert abs(_parse(boot.current_time) - datetime.now(UTC)) < timedelta(minutes=1)
    assert all(dataclasses.asdict(answer) == {} for answer in statuses)
    assert abs(_parse(heartbeat.current_time) - datetime.now(UTC)) < timedelta(minutes=1)
    stored = tenant.pile(pile_id)
    assert stored["boot"]["vendor"] == "Conformance"
    assert stored["boot"]["model"] == "CT-22kW"
    assert stored["boot"]["firmware"] == "1.6.9"
    assert stored["boot"]["iccid"] == "89860000000000000001"
    assert stored["boot"]["imsi"] == "460000000000001"
    assert [tenant.gun(pile_id, gun_no)["status"] for gun_no in (1, 2)] == [
        "Available",
        "Available",
    ]


def test_TC_001_boot_rejected_while_disabled_then_accepted(
    local_stack: RunningStack, tenant: Tenant
) -> None:
    pile_id = tenant.new_pile(V16)
    with Pile(local_stack, pile_id, V16) as pile:
        tenant.set_enabled(pile_id, False)
        rejected = pile.call(BOOT)
        with pytest.raises(SecurityError):
            pile.call(call.Heartbeat())  # a pile not Accepted may only boot
        tenant.set_enabled(pile_id, True)
        accepted = pile.call(BOOT)
        heartbeat = pile.call(call.Heartbeat())

    assert rejected.status == "Rejected"
    assert rejected.interval > 0
    assert accepted.status == "Accepted"
    assert heartbeat.current_time


def test_TC_004_2_regular_charging_session_identification_first_connection_timeout(
    pile: Pile, tenant: Tenant
) -> None:
    card = tenant.new_card()

    authorized = pile.call(call.Authorize(id_tag=card))
    pile.call(_status(1, "Preparing"))
    assert tenant.gun(pile.pile_id, 1)["status"] == "Preparing"
    pile.call(_status(1, "Available"))  # the driver never plugged in: ConnectionTimeOut

    assert authorized.id_tag_info["status"] == "Accepted"
    assert tenant.gun(pile.pile_id, 1)["status"] == "Available"


def test_TC_023_1_start_charging_session_authorize_invalid(
    pile: Pile, api: OperatorApi, tenant: Tenant
) -> None:
    other_operators_card = Tenant.create(api, "Other operator").new_card()
    released_card = tenant.new_card("unbound")

    unknown = pile.call(call.Authorize(id_tag="NO-SUCH-CARD-01"))
    foreign = pile.call(call.Authorize(id_tag=other_operators_card))
    released = pile.call(call.Authorize(id_tag=released_card))

    assert unknown.id_tag_info["status"] == "Invalid"
    assert foreign.id_tag_info["status"] == "Invalid"  # another tenant's card is unknown here
    assert released.id_tag_info["status"] == "Invalid"


def test_TC_023_3_start_charging_session_authorize_blocked(pile: Pile, tenant: Tenant) -> None:
    blocked = pile.call(call.Authorize(id_tag=tenant.new_card("frozen")))

    assert blocked.id_tag_info["status"] == "Blocked"


def test_TC_024_start_charging_session_lock_failure(
    local_stack: RunningStack, pile: Pile, tenant: Tenant
) -> None:
    card = tenant.new_card()

    assert pile.call(call.Authorize(id_tag=card)).id_tag_info["status"] == "Accepted"
    pile.call(_status(1, "Preparing"))
    faulted = pile.call(_status(1, "Faulted", "ConnectorLockFailure", vendor_error_code="LOCK-7"))

    assert dataclasses.asdict(faulted) == {}
    gun = tenant.gun(pile.pile_id, 1)
    assert (gun["status"], gun["error_code"]) == ("Faulted", "ConnectorLockFailure")
    (fault,) = faults_of(local_stack, pile.pile_id)
    assert (fault["gun_no"], fault["error_code"], fault["vendor_error_code"]) == (
        1,
        "ConnectorLockFailure",
        "LOCK-7",
    )
    assert fault["status"] == "open"


# -- Core: data transfer -----------------------------------------------------------------------


def test_TC_064_data_transfer_to_a_central_system(pile: Pile) -> None:
    answer = pile.call(
        call.DataTransfer(vendor_id="com.example.vendor", message_id="Telemetry", data="42")
    )

    assert answer.status in ("Rejected", "UnknownMessageId", "UnknownVendorId")


# -- Core: charging sessions ---------------------------------------------------------------------


def _start(connector_id: int, id_tag: str, meter_start: int, offset_s: float = 0.0) -> Any:
    return call.StartTransaction(
        connector_id=connector_id,
        id_tag=id_tag,
        meter_start=meter_start,
        timestamp=wire_now(offset_s),
    )


def _stop(
    transaction_id: int,
    meter_stop: int,
    *,
    id_tag: str | None = None,
    reason: str | None = None,
    offset_s: float = 0.0,
) -> Any:
    return call.StopTransaction(
        transaction_id=transaction_id,
        meter_stop=meter_stop,
        timestamp=wire_now(offset_s),
        id_tag=id_tag,
        reason=reason,
    )


def _meter(connector_id: int, transaction_id: int, wh: int, offset_s: float = 0.0) -> Any:
    return call.MeterValues(
        connector_id=connector_id,
        transaction_id=transaction_id,
        meter_value=[
            {
                "timestamp": wire_now(offset_s),
                "sampled_value": [
                    {
                        "value": str(wh),
                        "measurand": "Energy.Active.Import.Register",
                        "unit": "Wh",
                        "context": "Sample.Periodic",
                    },
                    {"value": "7200", "measurand": "Power.Active.Import", "unit": "W"},
                ],
            }
        ],
    )


def _charging(pile: Pile, card: str, meter_start: int = 1_000) -> int:
    """Reusable state Charging on gun 1: Preparing, Authorize, StartTransaction, Charging."""
    pile.call(_status(1, "Preparing"))
    assert pile.call(call.Authorize(id_tag=card)).id_tag_info["status"] == "Accepted"
    started = pile.call(_start(1, card, meter_start))
    assert started.id_tag_info["status"] == "Accepted"
    assert started.transaction_id > 0
    pile.call(_status(1, "Charging"))
    return int(started.transaction_id)


def test_TC_003_regular_charging_session_plugin_first(
    local_stack: RunningStack, pile: Pile, tenant: Tenant
) -> None:
    card = tenant.new_card()

    pile.call(_status(1, "Preparing"))
    authorized = pile.call(call.Authorize(id_tag=card))
    started = pile.call(_start(1, card, 2_000))
    pile.call(_status(1, "Charging"))

    assert authorized.id_tag_info["status"] == "Accepted"
    assert started.id_tag_info["status"] == "Accepted"
    assert started.transaction_id > 0
    assert tenant.gun(pile.pile_id, 1)["status"] == "Charging"
    session = tenant.session_of(pile.pile_id, started.transaction_id)
    assert (session["status"], session["gun_no"], session["id_tag"]) == ("active", 1, card)


def test_TC_004_1_regular_charging_session_identification_first(
    local_stack: RunningStack, pile: Pile, tenant: Tenant
) -> None:
    card = tenant.new_card()

    authorized = pile.call(call.Authorize(id_tag=card))
    started = pile.call(_start(1, card, 0))
    pile.call(_status(1, "Charging"))

    assert authorized.id_tag_info["status"] == "Accepted"
    assert started.id_tag_info["status"] == "Accepted"
    assert started.transaction_id > 0
    assert tenant.session_of(pile.pile_id, started.transaction_id)["status"] == "active"


def test_TC_005_1_ev_side_disconnected_stop_transaction_and_unlock(
    local_stack: RunningStack, pile: Pile, tenant: Tenant
) -> None:
    card = tenant.new_card()
    transaction_id = _charging(pile, card, meter_start=5_000)

    pile.call(_meter(1, transaction_id, 5_400))
    pile.call(_status(1, "SuspendedEV"))
    stopped = pile.call(_stop(transaction_id, 5_750, id_tag=card, reason="EVDisconnected"))
    pile.call(_status(1, "Finishing"))
    pile.call(_status(1, "Available"))

    assert stopped.id_tag_info["status"] == "Accepted"
    session = tenant.session_of(pile.pile_id, transaction_id)
    assert (session["status"], session["energy_wh"]) == ("completed", 750)
    assert session["stop_reason"] == "EVDisconnected"
    assert tenant.gun(pile.pile_id, 1)["status"] == "Available"


def test_TC_007_regular_start_charging_session_cached_id(
    local_stack: RunningStack, pile: Pile, tenant: Tenant
) -> None:
    card = tenant.new_card()

    pile.call(_status(1, "Preparing"))
    started = pile.call(_start(1, card, 0))  # no Authorize: the pile knew the card
    pile.call(_status(1, "Charging"))

    assert started.id_tag_info["status"] == "Accepted"
    assert started.transaction_id > 0


def test_TC_032_1_power_failure_boot_stop_transactions(
    local_stack: RunningStack, tenant: Tenant
) -> None:
    card = tenant.new_card()
    pile_id = tenant.new_pile(V16)
    with Pile(local_stack, pile_id, V16) as before_power_loss:
        assert before_power_loss.call(BOOT).status == "Accepted"
        transaction_id = _charging(before_power_loss, card, meter_start=10_000)
        before_power_loss.call(_meter(1, transaction_id, 10_300))

    with Pile(local_stack, pile_id, V16) as after_power_loss:
        boot = after_power_loss.call(BOOT)
        after_power_loss.call(_status(0, "Available"))
        after_power_loss.call(_status(1, "Finishing"))
        after_power_loss.call(_status(2, "Available"))
        stopped = after_power_loss.call(
            _stop(transaction_id, 10_300, id_tag=card, reason="PowerLoss")
        )

    assert boot.status == "Accepted"
    assert stopped.id_tag_info["status"] == "Accepted"
    session = tenant.session_of(pile_id, transaction_id)
    assert (session["status"], session["energy_wh"], session["stop_reason"]) == (
        "completed",
        300,
        "PowerLoss",
    )


def test_TC_037_1_offline_start_transaction_valid_id_tag(
    local_stack: RunningStack, pile: Pile, tenant: Tenant
) -> None:
    card = tenant.new_card()
    four_hours_ago = -4 * 3600

    started = pile.call(_start(1, card, 0, offset_s=four_hours_ago))
    pile.call(_status(1, "Charging", timestamp=wire_now(four_hours_ago)))

    assert started.id_tag_info["status"] == "Accepted"
    assert started.transaction_id > 0
    session = tenant.session_of(pile.pile_id, started.transaction_id)
    assert _parse(session["started_at"]) < datetime.now(UTC) - timedelta(hours=3)


def test_TC_037_3_offline_start_transaction_invalid_id_tag(
    local_stack: RunningStack, pile: Pile, tenant: Tenant
) -> None:
    unknown_tag = "NOT-A-CARD-0037"
    four_hours_ago = -4 * 3600

    started = pile.call(_start(1, unknown_tag, 100, offset_s=four_hours_ago))
    pile.call(_status(1, "Charging", timestamp=wire_now(four_hours_ago)))
    stopped = pile.call(
        _stop(started.transaction_id, 180, id_tag=unknown_tag, reason="DeAuthorized")
    )
    pile.call(_status(1, "Finishing"))

    assert started.id_tag_info["status"] == "Invalid"
    assert started.transaction_id > 0  # the pile still gets an id to stop the session with
    assert stopped.id_tag_info["status"] == "Invalid"
    session = tenant.session_of(pile.pile_id, started.transaction_id)
    assert (session["status"], session["energy_wh"]) == ("completed", 80)


def test_TC_039_offline_transaction(local_stack: RunningStack, pile: Pile, tenant: Tenant) -> None:
    card = tenant.new_card()

    started = pile.call(_start(1, card, 20_000, offset_s=-4 * 3600))
    stopped = pile.call(
        _stop(started.transaction_id, 27_500, id_tag=card, reason="Local", offset_s=-3 * 3600)
    )

    assert started.id_tag_info["status"] == "Accepted"
    assert stopped.id_tag_info["status"] == "Accepted"
    session = tenant.session_of(pile.pile_id, started.transaction_id)
    assert (session["status"], session["energy_wh"]) == ("completed", 7_500)


# -- Core and the other profiles: commands from the operator API -------------------------------


def _answered(tenant: Tenant, pile: Pile, call_id: str) -> dict[str, Any]:
    """The pile's answer to a command, as the operator API shows it."""
    command = tenant.outcome(pile.pile_id, call_id)
    assert command["status"] == "answered", command
    response: dict[str, Any] = command["response"]
    return response


def test_TC_013_hard_reset(local_stack: RunningStack, pile: Pile, tenant: Tenant) -> None:
    call_id = tenant.command(pile.pile_id, "POST", "reset", {"type": "hard"})
    request = pile.expect("Reset")
    answer = _answered(tenant, pile, call_id)
    pile.close()  # the pile reboots: a new connection and a new boot
    with Pile(local_stack, pile.pile_id, V16) as rebooted:
        boot = rebooted.call(BOOT)
        statuses = [rebooted.call(_status(connector, "Available")) for connector in (0, 1, 2)]

    assert request == {"type": "Hard"}
    assert answer == {"status": "Accepted"}
    assert boot.status == "Accepted"
    assert all(dataclasses.asdict(status) == {} for status in statuses)


def test_TC_014_soft_reset(pile: Pile, tenant: Tenant) -> None:
    call_id = tenant.command(pile.pile_id, "POST", "reset", {"type": "soft"})
    request = pile.expect("Reset")
    answer = _answered(tenant, pile, call_id)
    boot = pile.call(BOOT)  # a soft reset may keep the socket
    pile.call(_status(1, "Available"))

    assert request == {"type": "Soft"}
    assert answer == {"status": "Accepted"}
    assert boot.status == "Accepted"


@pytest.mark.parametrize(
    ("case", "reply"),
    [
        ("TC_017_1 not fixed cable", "Unlocked"),
        ("TC_017_2 fixed cable", "NotSupported"),
        ("TC_030 unlock failure", "UnlockFailed"),
    ],
)
def test_TC_017_1_TC_017_2_TC_030_unlock_connector_no_charging_session(
    pile: Pile, tenant: Tenant, case: str, reply: str
) -> None:
    pile.replies["UnlockConnector"] = result16.UnlockConnector(status=reply)

    call_id = tenant.command(pile.pile_id, "POST", "unlock", {"gun_no": 1})
    request = pile.expect("UnlockConnector")

    assert request == {"connector_id": 1}, case
    assert _answered(tenant, pile, call_id) == {"status": reply}, case


def test_TC_031_unlock_connector_unknown_connector(pile: Pile, tenant: Tenant) -> None:
    pile.replies["UnlockConnector"] = result16.UnlockConnector(status="NotSupported")

    call_id = tenant.command(pile.pile_id, "POST", "unlock", {"gun_no": 9})  # 2 guns only
    request = pile.expect("UnlockConnector")

    assert request == {"connector_id": 9}
    assert _answered(tenant, pile, call_id) == {"status": "NotSupported"}


CONFIGURATION = [
    {"key": "HeartbeatInterval", "readonly": False, "value": "540"},
    {"key": "MeterValueSampleInterval", "readonly": False, "value": "60"},
    {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
    {
        "key": "SupportedFeatureProfiles",
        "readonly": True,
        "value": "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,"
        "RemoteTrigger",
    },
]


def test_TC_019_1_retrieve_all_configuration_keys(pile: Pile, tenant: Tenant) -> None:
    pile.replies["GetConfiguration"] = result16.GetConfiguration(configuration_key=CONFIGURATION)

    call_id = tenant.command(pile.pile_id, "GET", "configuration")
    request = pile.expect("GetConfiguration")
    answer = _answered(tenant, pile, call_id)

    assert not request.get("key")
    assert answer["configurationKey"] == CONFIGURATION


def test_TC_019_2_retrieve_specific_configuration_key(pile: Pile, tenant: Tenant) -> None:
    pile.replies["GetConfiguration"] = lambda request: result16.GetConfiguration(
        configuration_key=[item for item in CONFIGURATION if item["key"] in request["key"]],
        unknown_key=[key for key in request["key"] if key not in {"SupportedFeatureProfiles"}],
    )

    call_id = tenant.command(pile.pile_id, "GET", "configuration?keys=SupportedFeatureProfiles")
    request = pile.expect("GetConfiguration")
    answer = _answered(tenant, pile, call_id)

    assert request == {"key": ["SupportedFeatureProfiles"]}
    assert [item["key"] for item in answer["configurationKey"]] == ["SupportedFeatureProfiles"]


@pytest.mark.parametrize(
    ("case", "key", "value", "reply"),
    [
        ("TC_021 change configuration", "MeterValueSampleInterval", "60", "Accepted"),
        ("TC_040_1 key not supported", "UnknownConfigKey_CT", "123", "NotSupported"),
        ("TC_040_2 invalid value", "MeterValueSampleInterval", "INVALID_VALUE", "Rejected"),
    ],
)
def test_TC_021_TC_040_1_TC_040_2_change_configuration(
    pile: Pile, tenant: Tenant, case: str, key: str, value: str, reply: str
) -> None:
    pile.replies["ChangeConfiguration"] = result16.ChangeConfiguration(status=reply)

    call_id = tenant.command(pile.pile_id, "PUT", "configuration", {"key": key, "value": value})
    request = pile.expect("ChangeConfiguration")

    assert request == {"key": key, "value": value}, case
    assert _answered(tenant, pile, call_id) == {"status": reply}, case


def test_TC_026_remote_start_charging_session_rejected(pile: Pile, tenant: Tenant) -> None:
    card = tenant.new_card()
    pile.replies["RemoteStartTransaction"] = result16.RemoteStartTransaction(status="Rejected")

    call_id = tenant.command(pile.pile_id, "POST", "remote-start", {"gun_no": 1, "id_tag": card})
    request = pile.expect("RemoteStartTransaction")

    assert request["connector_id"] == 1 and request["id_tag"] == card
    assert _answered(tenant, pile, call_id) == {"status": "Rejected"}


def test_TC_011_2_remote_start_charging_session_time_out(pile: Pile, tenant: Tenant) -> None:
    card = tenant.new_card()

    call_id = tenant.command(pile.pile_id, "POST", "remote-start", {"gun_no": 1, "id_tag": card})
    pile.expect("RemoteStartTransaction")
    answer = _answered(tenant, pile, call_id)
    authorized = pile.call(call.Authorize(id_tag=card))
    pile.call(_status(1, "Preparing"))
    pile.call(_status(1, "Available"))  # the cable never came: ConnectionTimeOut

    assert answer == {"status": "Accepted"}
    assert authorized.id_tag_info["status"] == "Accepted"
    assert tenant.gun(pile.pile_id, 1)["status"] == "Available"


def test_TC_061_clear_authorization_data_in_authorization_cache(pile: Pile, tenant: Tenant) -> None:
    call_id = tenant.command(pile.pile_id, "DELETE", "cache")
    request = pile.expect("ClearCache")

    assert request == {}
    assert _answered(tenant, pile, call_id) == {"status": "Accepted"}


@pytest.mark.parametrize(("case", "version"), [("TC_042_1 not supported", -1), ("TC_042_2", 0)])
def test_TC_042_1_TC_042_2_get_local_list_version(
    pile: Pile, tenant: Tenant, case: str, version: int
) -> None:
    pile.replies["GetLocalListVersion"] = result16.GetLocalListVersion(list_version=version)

    call_id = tenant.command(pile.pile_id, "GET", "local-list/version")
    pile.expect("GetLocalListVersion")

    assert _answered(tenant, pile, call_id) == {"listVersion": version}, case


@pytest.mark.parametrize(
    ("case", "reply"),
    [("TC_043_1", "NotSupported"), ("TC_043_3", "Failed"), ("TC_043_4", "Accepted")],
)
def test_TC_043_1_TC_043_3_TC_043_4_send_local_authorization_list_full(
    pile: Pile, tenant: Tenant, case: str, reply: str
) -> None:
    card = tenant.new_card()
    pile.replies["SendLocalList"] = result16.SendLocalList(status=reply)

    call_id = tenant.command(
        pile.pile_id,
        "POST",
        "local-list",
        {"version": 1, "update": "full", "entries": [{"id_tag": card, "status": "accepted"}]},
    )
    request = pile.expect("SendLocalList")

    assert request["list_version"] == 1 and request["update_type"] == "Full", case
    assert request["local_authorization_list"] == [
        {"id_tag": card, "id_tag_info": {"status": "Accepted"}}
    ], case
    assert _answered(tenant, pile, call_id) == {"status": reply}, case


def test_TC_043_5_send_local_authorization_list_differential(pile: Pile, tenant: Tenant) -> None:
    pile.replies["GetLocalListVersion"] = result16.GetLocalListVersion(list_version=1)
    new_card = tenant.new_card()

    version_call = tenant.command(pile.pile_id, "GET", "local-list/version")
    pile.expect("GetLocalListVersion")
    current = _answered(tenant, pile, version_call)["listVersion"]
    call_id = tenant.command(
        pile.pile_id,
        "POST",
        "local-list",
        {
            "version": current + 1,
            "update": "differential",
            "entries": [{"id_tag": new_card, "status": "accepted"}],
        },
    )
    request = pile.expect("SendLocalList")

    assert (request["list_version"], request["update_type"]) == (2, "Differential")
    assert _answered(tenant, pile, call_id) == {"status": "Accepted"}


def _firmware_update(pile: Pile, tenant: Tenant) -> dict[str, Any]:
    call_id = tenant.command(
        pile.pile_id,
        "POST",
        "firmware",
        {
            "location": "https://firmware.example.com/ct-22kw-2.1.bin",
            "retrieve_at": wire_now(60),
            "retries": 1,
            "retry_interval_s": 60,
        },
    )
    request = pile.expect("UpdateFirmware")
    assert _answered(tenant, pile, call_id) == {}
    return request


def _maintenance(tenant: Tenant, pile_id: str, kind: str) -> Any:
    items = tenant.api.ok("GET", f"/operator/piles/{pile_id}/maintenance")["items"]
    (status,) = [item for item in items if item["kind"] == kind]
    return status


def test_TC_044_1_firmware_update_download_and_install(pile: Pile, tenant: Tenant) -> None:
    request = _firmware_update(pile, tenant)
    for status in ("Downloading", "Downloaded"):
        pile.call(call.FirmwareStatusNotification(status=status))
    for connector in (1, 2):
        pile.call(_status(connector, "Unavailable"))
    pile.call(call.FirmwareStatusNotification(status="Installing"))
    boot = pile.call(BOOT)
    for connector in (1, 2):
        pile.call(_status(connector, "Available"))
    installed = pile.call(call.FirmwareStatusNotification(status="Installed"))

    assert request["location"] == "https://firmware.example.com/ct-22kw-2.1.bin"
    assert (request["retries"], request["retry_interval"]) == (1, 60)
    assert boot.status == "Accepted"
    assert dataclasses.asdict(installed) == {}
    assert _maintenance(tenant, pile.pile_id, "firmware")["status"] == "Installed"


@pytest.mark.parametrize(
    ("case", "statuses"),
    [
        ("TC_044_2 download failed", ["Downloading", "DownloadFailed"]),
        (
            "TC_044_3 installation failed",
            ["Downloading", "Downloaded", "Installing", "InstallationFailed"],
        ),
    ],
)
def test_TC_044_2_TC_044_3_firmware_update_failures(
    pile: Pile, tenant: Tenant, case: str, statuses: list[str]
) -> None:
    _firmware_update(pile, tenant)
    for status in statuses:
        pile.call(call.FirmwareStatusNotification(status=status))

    assert _maintenance(tenant, pile.pile_id, "firmware")["status"] == statuses[-1], case


@pytest.mark.parametrize(
    ("case", "final"), [("TC_045_1", "Uploaded"), ("TC_045_2 upload failed", "UploadFailed")]
)
def test_TC_045_1_TC_045_2_get_diagnostics(
    pile: Pile, tenant: Tenant, case: str, final: str
) -> None:
    call_id = tenant.command(
        pile.pile_id,
        "POST",
        "diagnostics",
        {
            "location": "ftp://logs.example.com/uploads/",
            "retries": 1,
            "retry_interval_s": 60,
            "start_at": wire_now(-7200),
            "stop_at": wire_now(-3600),
        },
    )
    request = pile.expect("GetDiagnostics")
    answer = _answered(tenant, pile, call_id)
    pile.call(call.DiagnosticsStatusNotification(status="Uploading"))
    pile.call(call.DiagnosticsStatusNotification(status=final))

    assert request["location"] == "ftp://logs.example.com/uploads/", case
    assert answer == {"fileName": "diagnostics.log"}, case
    assert _maintenance(tenant, pile.pile_id, "diagnostics")["status"] == final, case


def _reserve(pile: Pile, tenant: Tenant, card: str, gun_no: int | None = 1) -> tuple[str, Any]:
    body: dict[str, Any] = {"id_tag": card, "expires_at": wire_now(300)}
    if gun_no is not None:
        body["gun_no"] = gun_no
    call_id = tenant.command(pile.pile_id, "POST", "reservations", body)
    return call_id, pile.expect("ReserveNow")


def test_TC_047_reservation_of_a_connector_expire(pile: Pile, tenant: Tenant) -> None:
    card = tenant.new_card()

    call_id, request = _reserve(pile, tenant, card)
    answer = _answered(tenant, pile, call_id)
    pile.call(_status(1, "Reserved"))
    assert tenant.gun(pile.pile_id, 1)["status"] == "Reserved"
    pile.call(_status(1, "Available"))  # the reservation expired at the pile

    assert (request["connector_id"], request["id_tag"]) == (1, card)
    assert request["reservation_id"] > 0
    assert answer == {"status": "Accepted"}
    assert tenant.gun(pile.pile_id, 1)["status"] == "Available"


@pytest.mark.parametrize(
    ("case", "reply"),
    [
        ("TC_048_1 faulted", "Faulted"),
        ("TC_048_2 occupied", "Occupied"),
        ("TC_048_4 rejected", "Rejected"),
    ],
)
def test_TC_048_1_TC_048_2_TC_048_4_reservation_of_a_connector_refused(
    pile: Pile, tenant: Tenant, case: str, reply: str
) -> None:
    card = tenant.new_card()
    pile.replies["ReserveNow"] = result16.ReserveNow(status=reply)
    if reply == "Occupied":
        pile.call(_status(1, "Preparing"))

    call_id, _ = _reserve(pile, tenant, card)

    assert _answered(tenant, pile, call_id) == {"status": reply}, case


def test_TC_048_3_reservation_of_a_connector_unavailable(pile: Pile, tenant: Tenant) -> None:
    card = tenant.new_card()
    pile.replies["ReserveNow"] = result16.ReserveNow(status="Unavailable")

    availability = tenant.command(
        pile.pile_id, "POST", "availability", {"operative": False, "gun_no": 1}
    )
    change = pile.expect("ChangeAvailability")
    changed = _answered(tenant, pile, availability)
    pile.call(_status(1, "Unavailable"))
    call_id, _ = _reserve(pile, tenant, card)

    assert change == {"connector_id": 1, "type": "Inoperative"}
    assert changed == {"status": "Accepted"}
    assert tenant.gun(pile.pile_id, 1)["status"] == "Unavailable"
    assert _answered(tenant, pile, call_id) == {"status": "Unavailable"}


def test_TC_049_reservation_of_a_charge_point(pile: Pile, tenant: Tenant) -> None:
    card = tenant.new_card()

    call_id, request = _reserve(pile, tenant, card, gun_no=None)
    answer = _answered(tenant, pile, call_id)
    pile.call(_status(1, "Reserved"))

    assert request["connector_id"] == 0  # any connector of the charge point
    assert answer == {"status": "Accepted"}


@pytest.mark.parametrize(("case", "reply"), [("TC_051", "Accepted"), ("TC_052", "Rejected")])
def test_TC_051_TC_052_cancel_reservation(
    pile: Pile, tenant: Tenant, case: str, reply: str
) -> None:
    card = tenant.new_card()
    pile.replies["CancelReservation"] = result16.CancelReservation(status=reply)
    reserve_id, reservation = _reserve(pile, tenant, card)
    assert _answered(tenant, pile, reserve_id) == {"status": "Accepted"}
    pile.call(_status(1, "Reserved"))

    call_id = tenant.command(
        pile.pile_id, "DELETE", f"reservations/{reservation['reservation_id']}"
    )
    request = pile.expect("CancelReservation")
    answer = _answered(tenant, pile, call_id)
    if reply == "Accepted":
        pile.call(_status(1, "Available"))

    assert request == {"reservation_id": reservation["reservation_id"]}, case
    assert answer == {"status": reply}, case


def test_TC_055_trigger_message_rejected(pile: Pile, tenant: Tenant) -> None:
    pile.replies["TriggerMessage"] = result16.TriggerMessage(status="Rejected")

    call_id = tenant.command(
        pile.pile_id, "POST", "trigger", {"message": "MeterValues", "gun_no": 1}
    )
    request = pile.expect("TriggerMessage")

    assert request == {"requested_message": "MeterValues", "connector_id": 1}
    assert _answered(tenant, pile, call_id) == {"status": "Rejected"}


def _profile(purpose: str, profile_id: int, limit_w: int) -> dict[str, Any]:
    return {
        "profile_id": profile_id,
        "stack_level": 0,
        "purpose": purpose,
        "kind": "absolute",
        "valid_from": wire_now(60),
        "valid_to": wire_now(7200),
        "schedule": {
            "rate_unit": "W",
            "duration_s": 3600,
            "start_at": wire_now(120),
            "periods": [{"start_s": 0, "limit": limit_w, "phases": 3}],
        },
    }


def test_TC_056_central_smart_charging_tx_default_profile(pile: Pile, tenant: Tenant) -> None:
    call_id = tenant.command(
        pile.pile_id,
        "PUT",
        "charging-profiles",
        {"gun_no": 1, "profile": _profile("tx_default", 56, 6_000)},
    )
    request = pile.expect("SetChargingProfile")

    profile = request["cs_charging_profiles"]
    assert request["connector_id"] == 1
    assert (profile["charging_profile_id"], profile["charging_profile_purpose"]) == (
        56,
        "TxDefaultProfile",
    )
    assert profile["charging_schedule"]["charging_rate_unit"] == "W"
    assert profile["charging_schedule"]["charging_schedule_period"][0]["limit"] == 6000
    assert _answered(tenant, pile, call_id) == {"status": "Accepted"}


def test_TC_066_get_composite_schedule(pile: Pile, tenant: Tenant) -> None:
    pile.replies["GetCompositeSchedule"] = result16.GetCompositeSchedule(
        status="Accepted",
        connector_id=1,
        schedule_start=wire_now(),
        charging_schedule={
            "charging_rate_unit": "W",
            "duration": 300,
            "charging_schedule_period": [{"start_period": 0, "limit": 6000.0}],
        },
    )

    call_id = tenant.command(
        pile.pile_id,
        "POST",
        "composite-schedule",
        {"gun_no": 1, "duration_s": 300, "rate_unit": "W"},
    )
    request = pile.expect("GetCompositeSchedule")
    answer = _answered(tenant, pile, call_id)

    assert request == {"connector_id": 1, "duration": 300, "charging_rate_unit": "W"}
    assert answer["status"] == "Accepted"
    assert answer["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 6000.0


def test_TC_067_clear_charging_profile(pile: Pile, tenant: Tenant) -> None:
    installed = []
    for gun_no, purpose, profile_id in ((0, "charging_station_max", 671), (1, "tx_default", 672)):
        call_id = tenant.command(
            pile.pile_id,
            "PUT",
            "charging-profiles",
            {"gun_no": gun_no, "profile": _profile(purpose, profile_id, 7_000)},
        )
        pile.expect("SetChargingProfile")
        installed.append(_answered(tenant, pile, call_id))

    by_id = tenant.command(pile.pile_id, "DELETE", "charging-profiles?profile_id=671")
    by_id_request = pile.expect("ClearChargingProfile")
    by_id_answer = _answered(tenant, pile, by_id)
    by_criteria = tenant.command(
        pile.pile_id,
        "DELETE",
        "charging-profiles?gun_no=1&purpose=tx_default&stack_level=0",
    )
    by_criteria_request = pile.expect("ClearChargingProfile")
    by_criteria_answer = _answered(tenant, pile, by_criteria)
    everything = tenant.command(pile.pile_id, "DELETE", "charging-profiles")
    everything_request = pile.expect("ClearChargingProfile")
    everything_answer = _answered(tenant, pile, everything)

    assert installed == [{"status": "Accepted"}, {"status": "Accepted"}]
    assert by_id_request == {"id": 671}
    assert by_criteria_request == {
        "connector_id": 1,
        "charging_profile_purpose": "TxDefaultProfile",
        "stack_level": 0,
    }
    assert everything_request == {}
    assert by_id_answer == by_criteria_answer == everything_answer == {"status": "Accepted"}


def test_command_to_an_offline_pile_delivered_when_it_boots(
    local_stack: RunningStack, tenant: Tenant
) -> None:
    pile_id = tenant.new_pile(V16)
    with Pile(local_stack, pile_id, V16) as first:
        assert first.call(BOOT).status == "Accepted"
    tenant.api.wait_for(f"/operator/piles/{pile_id}", lambda body: not body["is_online"])

    sent = tenant.api.request(
        "POST", f"/operator/piles/{pile_id}/unlock", {"gun_no": 2}
    )  # nobody to deliver it to
    with Pile(local_stack, pile_id, V16) as back:
        boot = back.call(BOOT)
        request = back.expect("UnlockConnector")
        command = tenant.outcome(pile_id, sent.json()["call_id"])

    assert sent.status_code == 202 and sent.json()["status"] == "undelivered"
    assert boot.status == "Accepted"
    assert request == {"connector_id": 2}
    assert (command["status"], command["response"]) == ("answered", {"status": "Unlocked"})


def test_TC_010_remote_start_charging_session_cable_plugged_in_first(
    local_stack: RunningStack, pile: Pile, tenant: Tenant
) -> None:
    card = tenant.new_card()
    pile.call(_status(1, "Preparing"))

    call_id = tenant.command(pile.pile_id, "POST", "remote-start", {"gun_no": 1, "id_tag": card})
    request = pile.expect("RemoteStartTransaction")
    answer = _answered(tenant, pile, call_id)
    authorized = pile.call(call.Authorize(id_tag=card))
    started = pile.call(_start(1, card, 0))
    pile.call(_status(1, "Charging"))

    assert (request["connector_id"], request["id_tag"]) == (1, card)
    assert answer == {"status": "Accepted"}
    assert authorized.id_tag_info["status"] == "Accepted"
    assert started.id_tag_info["status"] == "Accepted" and started.transaction_id > 0
    assert tenant.session_of(pile.pile_id, started.transaction_id)["status"] == "active"


def test_TC_011_1_remote_start_charging_session_remote_start_first(
    local_stack: RunningStack, pile: Pile, tenant: Tenant
) -> None:
    card = tenant.new_card()

    call_id = tenant.command(pile.pile_id, "POST", "remote-start", {"gun_no": 1, "id_tag": card})
    pile.expect("RemoteStartTransaction")
    answer = _answered(tenant, pile, call_id)
    authorized = pile.call(call.Authorize(id_tag=card))
    pile.call(_status(1, "Preparing"))
    started = pile.call(_start(1, card, 0))
    pile.call(_status(1, "Charging"))

    assert answer == {"status": "Accepted"}
    assert authorized.id_tag_info["status"] == "Accepted"
    assert started.id_tag_info["status"] == "Accepted" and started.transaction_id > 0


def test_TC_012_remote_stop_charging_session(
    local_stack: RunningStack, pile: Pile, tenant: Tenant
) -> None:
    card = tenant.new_card()
    transaction_id = _charging(pile, card, meter_start=3_000)
    session = tenant.session_of(pile.pile_id, transaction_id)

    call_id = tenant.command(
        pile.pile_id, "POST", "remote-stop", {"session_id": session["session_id"]}
    )
    request = pile.expect("RemoteStopTransaction")
    answer = _answered(tenant, pile, call_id)
    stopped = pile.call(_stop(transaction_id, 3_900, id_tag=card, reason="Remote"))
    pile.call(_status(1, "Finishing"))
    pile.call(_status(1, "Available"))

    assert request == {"transaction_id": transaction_id}
    assert answer == {"status": "Accepted"}
    assert stopped.id_tag_info["status"] == "Accepted"
    stored = tenant.session_of(pile.pile_id, transaction_id)
    assert (stored["status"], stored["energy_wh"], stored["stop_reason"]) == (
        "completed",
        900,
        "Remote",
    )


def test_TC_018_1_unlock_connector_with_charging_session(
    local_stack: RunningStack, pile: Pile, tenant: Tenant
) -> None:
    card = tenant.new_card()
    transaction_id = _charging(pile, card)

    call_id = tenant.command(pile.pile_id, "POST", "unlock", {"gun_no": 1})
    pile.expect("UnlockConnector")
    answer = _answered(tenant, pile, call_id)
    pile.call(_status(1, "Finishing"))
    stopped = pile.call(_stop(transaction_id, 1_250, id_tag=card, reason="UnlockCommand"))
    pile.call(_status(1, "Available"))

    assert answer == {"status": "Unlocked"}
    assert stopped.id_tag_info["status"] == "Accepted"
    stored = tenant.session_of(pile.pile_id, transaction_id)
    assert (stored["status"], stored["stop_reason"]) == ("completed", "UnlockCommand")


def test_TC_028_remote_stop_transaction_rejected(
    local_stack: RunningStack, pile: Pile, tenant: Tenant
) -> None:
    transaction_id = _charging(pile, tenant.new_card())
    pile.replies["RemoteStopTransaction"] = result16.RemoteStopTransaction(status="Rejected")

    call_id = tenant.command(
        pile.pile_id, "POST", "remote-stop", {"ocpp_transaction_id": str(transaction_id + 1000)}
    )  # a transaction the pile does not have
    request = pile.expect("RemoteStopTransaction")

    assert request == {"transaction_id": transaction_id + 1000}
    assert _answered(tenant, pile, call_id) == {"status": "Rejected"}
    assert tenant.session_of(pile.pile_id, transaction_id)["status"] == "active"


def test_TC_046_reservation_of_a_connector_transaction(
    local_stack: RunningStack, pile: Pile, tenant: Tenant
) -> None:
    card = tenant.new_card()

    call_id, reservation = _reserve(pile, tenant, card)
    answer = _answered(tenant, pile, call_id)
    pile.call(_status(1, "Reserved"))
    started = pile.call(
        call.StartTransaction(
            connector_id=1,
            id_tag=card,
            meter_start=0,
            timestamp=wire_now(),
            reservation_id=reservation["reservation_id"],
        )
    )
    pile.call(_status(1, "Charging"))

    assert answer == {"status": "Accepted"}
    assert started.id_tag_info["status"] == "Accepted" and started.transaction_id > 0
    assert tenant.session_of(pile.pile_id, started.transaction_id)["id_tag"] == card


def test_TC_054_trigger_message(local_stack: RunningStack, pile: Pile, tenant: Tenant) -> None:
    triggered = []
    for body, message in (
        (
            {"message": "MeterValues", "gun_no": 1},
            call.MeterValues(
                connector_id=1,
                meter_value=[
                    {
                        "timestamp": wire_now(),
                        "sampled_value": [
                            {
                                "value": "1500",
                                "measurand": "Energy.Active.Import.Register",
                                "unit": "Wh",
                                "context": "Trigger",
                            }
                        ],
                    }
                ],
            ),
        ),
        ({"message": "Heartbeat"}, call.Heartbeat()),
        ({"message": "StatusNotification", "gun_no": 1}, _status(1, "Available")),
        (
            {"message": "DiagnosticsStatusNotification"},
            call.DiagnosticsStatusNotification(status="Idle"),
        ),
        ({"message": "FirmwareStatusNotification"}, call.FirmwareStatusNotification(status="Idle")),
    ):
        call_id = tenant.command(pile.pile_id, "POST", "trigger", body)
        request = pile.expect("TriggerMessage")
        assert _answered(tenant, pile, call_id) == {"status": "Accepted"}
        triggered.append((request["requested_message"], pile.call(message)))

    assert [name for name, _ in triggered] == [
        "MeterValues",
        "Heartbeat",
        "StatusNotification",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
    ]
    assert triggered[1][1].current_time


def test_TC_057_central_smart_charging_tx_profile(
    local_stack: RunningStack, pile: Pile, tenant: Tenant
) -> None:
    transaction_id = _charging(pile, tenant.new_card())
    profile = {**_profile("tx", 57, 6_000), "ocpp_transaction_id": str(transaction_id)}

    call_id = tenant.command(
        pile.pile_id, "PUT", "charging-profiles", {"gun_no": 1, "profile": profile}
    )
    request = pile.expect("SetChargingProfile")

    sent = request["cs_charging_profiles"]
    assert (sent["charging_profile_purpose"], sent["transaction_id"]) == (
        "TxProfile",
        transaction_id,
    )
    assert _answered(tenant, pile, call_id) == {"status": "Accepted"}


def test_TC_059_remote_start_transaction_with_charging_profile(
    local_stack: RunningStack, pile: Pile, tenant: Tenant
) -> None:
    card = tenant.new_card()
    profile = _profile("tx", 59, 6_000)
    profile.pop("valid_from")
    profile.pop("valid_to")

    call_id = tenant.command(
        pile.pile_id,
        "POST",
        "remote-start",
        {"gun_no": 1, "id_tag": card, "charging_profile": profile},
    )
    request = pile.expect("RemoteStartTransaction")
    answer = _answered(tenant, pile, call_id)
    authorized = pile.call(call.Authorize(id_tag=card))
    pile.call(_status(1, "Preparing"))
    started = pile.call(_start(1, card, 0))
    pile.call(_status(1, "Charging"))

    assert request["charging_profile"]["charging_profile_purpose"] == "TxProfile"
    assert request["charging_profile"]["charging_profile_id"] == 59
    assert answer == {"status": "Accepted"}
    assert authorized.id_tag_info["status"] == "Accepted"
    assert started.id_tag_info["status"] == "Accepted"


# -- Security profile 1: HTTP Basic authentication, sub-protocol negotiation ---------------------


def test_TC_085_basic_authentication_valid_credentials(
    local_stack: RunningStack, tenant: Tenant
) -> None:
    pile_id = tenant.new_pile(V16)

    wrong = refusal_status(
        local_stack, pile_id, password="not-the-password-000", subprotocols=[V16]
    )
    with Pile(local_stack, pile_id, V16) as pile:
        boot = pile.call(BOOT)
        pile.call(_status(1, "Available"))
        pile.call(_status(2, "Available"))

    assert wrong == 401
    assert boot.status == "Accepted"


def test_TC_088_websocket_subprotocol_negotiation(
    local_stack: RunningStack, tenant: Tenant
) -> None:
    pile_id = tenant.new_pile(V16)

    unsupported = refusal_status(local_stack, pile_id, subprotocols=["ocpp0.1"])
    not_registered = refusal_status(local_stack, pile_id, subprotocols=[V201])
    missing = refusal_status(local_stack, pile_id, subprotocols=None)
    with Pile(local_stack, pile_id, V16, subprotocols=["ocpp0.1", V16]) as pile:
        chosen = pile.subprotocol
        boot = pile.call(BOOT)

    assert (unsupported, not_registered, missing) == (400, 400, 400)
    assert chosen == V16
    assert boot.status == "Accepted"


def test_connect_refused_404_when_the_pile_is_unknown(local_stack: RunningStack) -> None:
    assert refusal_status(local_stack, "CT16-nobody-here", subprotocols=[V16]) == 404


def test_connect_refused_403_when_the_pile_is_disabled(
    local_stack: RunningStack, tenant: Tenant
) -> None:
    pile_id = tenant.new_pile(V16, is_enabled=False)

    assert refusal_status(local_stack, pile_id, subprotocols=[V16]) == 403


def test_connect_refused_401_when_the_credentials_are_not_the_piles(
    local_stack: RunningStack, tenant: Tenant
) -> None:
    pile_id = tenant.new_pile(V16)
    other_pile_id = tenant.new_pile(V16)

    no_header = refusal_status(local_stack, pile_id, subprotocols=[V16], authorization={})
    other_user = refusal_status(
        local_stack,
        pile_id,
        subprotocols=[V16],
        authorization=Pile.authorization(other_pile_id),
    )

    assert (no_header, other_user) == (401, 401)


# -- the RPC framework: every CALL answered with a 1.6 code ------------------------------------


@dataclasses.dataclass
class FlyToTheMoon:
    """An action no OCPP version has."""

    altitude_m: int


def test_unknown_action_answered_not_implemented_and_csms_action_not_supported(
    pile: Pile,
) -> None:
    with pytest.raises(OcppNotImplemented):
        pile.call(FlyToTheMoon(altitude_m=384_400_000), skip_schema_validation=True)
    with pytest.raises(NotSupportedError):
        pile.call(call.Reset(type="Hard"))  # an action the Central System sends, not a pile

    assert pile.call(call.Heartbeat()).current_time  # the connection stays up


def test_call_before_an_accepted_boot_refused_with_security_error(
    local_stack: RunningStack, tenant: Tenant
) -> None:
    card = tenant.new_card()
    with Pile(local_stack, tenant.new_pile(V16), V16) as pile:
        with pytest.raises(SecurityError):
            pile.call(call.Authorize(id_tag=card))
        with pytest.raises(SecurityError):
            pile.call(_status(1, "Available"))
        assert pile.call(BOOT).status == "Accepted"
        assert pile.call(call.Authorize(id_tag=card)).id_tag_info["status"] == "Accepted"


MALFORMED_16: list[tuple[str, str | list[Any], str, str | None]] = [
    ("not JSON", "{this is not json", "FormationViolation", "-1"),
    ("not an array", '{"a": 1}', "FormationViolation", "-1"),
    ("empty array", "[]", "FormationViolation", "-1"),
    ("CALL of 3 elements", [2, "m-1", "Heartbeat"], "FormationViolation", "m-1"),
    ("message type 5", [5, "m-2", "Heartbeat", {}], "GenericError", "m-2"),
    ("payload not an object", [2, "m-3", "Heartbeat", []], "FormationViolation", "m-3"),
    (
        "wrong type",
        [
            2,
            "m-4",
            "StatusNotification",
            {"connectorId": "one", "errorCode": "NoError", "status": "Available"},
        ],
        "TypeConstraintViolation",
        "m-4",
    ),
    ("required missing", [2, "m-5", "Authorize", {}], "OccurenceConstraintViolation", "m-5"),
    (
        "additional property",
        [2, "m-6", "Heartbeat", {"surprise": True}],
        "FormationViolation",
        "m-6",
    ),
    (
        "enum violated",
        [
            2,
            "m-7",
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Exploded"},
        ],
        "PropertyConstraintViolation",
        "m-7",
    ),
    (
        "idTag too long",
        [2, "m-8", "Authorize", {"idTag": "X" * 21}],
        "PropertyConstraintViolation",
        "m-8",
    ),
    ("unknown action", [2, "m-9", "FlyToTheMoon", {}], "NotImplemented", "m-9"),
]


def test_malformed_frames_answered_with_the_1_6_error_codes(
    local_stack: RunningStack, pile: Pile
) -> None:
    with dial_raw(local_stack, pile.pile_id, V16) as ws:
        answers = {name: exchange(ws, frame) for name, frame, _, _ in MALFORMED_16}
        heartbeat = exchange(ws, [2, "m-10", "Heartbeat", {}])

    for name, _, code, message_id in MALFORMED_16:
        assert answers[name][:3] == [4, message_id, code], name
        assert isinstance(answers[name][3], str) and isinstance(answers[name][4], dict), name
    assert heartbeat[:2] == [3, "m-10"]


# -- reconnects ---------------------------------------------------------------------------------


def test_reconnect_keeps_the_registration_and_the_gun_status(
    local_stack: RunningStack, tenant: Tenant
) -> None:
    pile_id = tenant.new_pile(V16)
    with Pile(local_stack, pile_id, V16) as first:
        assert first.call(BOOT).status == "Accepted"
        first.call(_status(1, "Preparing"))
    tenant.api.wait_for(f"/operator/piles/{pile_id}", lambda body: not body["is_online"])

    with Pile(local_stack, pile_id, V16) as second:
        heartbeat = second.call(call.Heartbeat())  # no new boot: the Accepted status outlives
        online = tenant.pile(pile_id)["is_online"]

    assert heartbeat.current_time
    assert online is True
    assert tenant.gun(pile_id, 1)["status"] == "Preparing"
    assert tenant.pile(pile_id)["boot"]["firmware"] == "1.6.9"


def test_old_connection_closing_leaves_the_reconnected_pile_online(
    local_stack: RunningStack, tenant: Tenant
) -> None:
    pile_id = tenant.new_pile(V16)
    old = Pile(local_stack, pile_id, V16)
    assert old.call(BOOT).status == "Accepted"
    with Pile(local_stack, pile_id, V16) as new:
        old.close()  # API Gateway's $disconnect of the replaced socket arrives late
        heartbeat = new.call(call.Heartbeat())
        online = tenant.pile(pile_id)["is_online"]

    assert heartbeat.current_time
    assert online is True


# -- an independent OCPP-J client in strict schema mode against the demo's DEMO-16-FREE --------

DEMO_16_FREE = "DEMO-16-FREE"
SCHEMAS_16 = Path(ocpp.__file__).parent / "v16" / "schemas"
RPC_ERROR_CODES_16 = {
    "NotImplemented",
    "NotSupported",
    "InternalError",
    "ProtocolError",
    "SecurityError",
    "FormationViolation",
    "PropertyConstraintViolation",
    "OccurenceConstraintViolation",
    "TypeConstraintViolation",
    "GenericError",
}


class StrictOcppJClient:
    """A hand-written OCPP-J 1.6 client (no OCPP library): one CALL at a time, and every
    answer checked strictly against the official response schema of its action."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.violations: list[str] = []

    def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        message_id = uuid.uuid4().hex
        self.ws.send(json.dumps([2, message_id, action, payload]))
        frame = json.loads(self.ws.recv(timeout=30))
        assert isinstance(frame, list) and frame[:2] == [3, message_id], frame
        assert len(frame) == 3, frame
        schema = json.loads((SCHEMAS_16 / f"{action}Response.json").read_text())
        validator = Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
        self.violations += [
            f"{action}: {error.message}" for error in validator.iter_errors(frame[2])
        ]
        answer: dict[str, Any] = frame[2]
        return answer

    def call_error(self, action: str, payload: dict[str, Any]) -> str:
        message_id = uuid.uuid4().hex
        self.ws.send(json.dumps([2, message_id, action, payload]))
        frame = json.loads(self.ws.recv(timeout=30))
        assert len(frame) == 5 and frame[:2] == [4, message_id], frame
        code, description, details = frame[2:]
        assert code in RPC_ERROR_CODES_16, frame  # only the codes 1.6 defines
        assert isinstance(description, str) and isinstance(details, dict), frame
        return str(code)


def test_independent_ocpp_j_client_in_strict_schema_mode_on_demo_16_free(
    demo_stack: RunningStack,
) -> None:
    wait_for_demo(demo_stack)
    checker = Draft4Validator.FORMAT_CHECKER
    assert not checker.conforms("2026-02-30T10:00:00Z", "date-time")  # formats really checked
    headers = Pile.authorization(DEMO_16_FREE, demo.FREE_PILE_PASSWORD)
    with sync_connect(
        f"{demo_stack.ws_url}/ocpp/{DEMO_16_FREE}",
        subprotocols=[Subprotocol(V16)],
        additional_headers=headers,
        open_timeout=30,
        ping_interval=None,
    ) as ws:
        client = StrictOcppJClient(ws)
        boot = client.call(
            "BootNotification",
            {
                "chargePointVendor": "IndependentVendor",
                "chargePointModel": "Strict-J",
                "chargePointSerialNumber": "IND-0001",
                "firmwareVersion": "0.9.1",
            },
        )
        heartbeat = client.call("Heartbeat", {})
        statuses = [
            client.call(
                "StatusNotification",
                {
                    "connectorId": connector,
                    "errorCode": "NoError",
                    "status": "Available",
                    "timestamp": wire_now(),
                },
            )
            for connector in (0, 1, 2)
        ]
        card = client.call("Authorize", {"idTag": demo.CARD_NO})
        unknown = client.call("Authorize", {"idTag": "NOT-A-DEMO-CARD"})
        refused = client.call_error("Authorize", {"idTag": 42})

    assert client.violations == []
    assert boot["status"] == "Accepted"
    assert heartbeat["currentTime"]
    assert statuses == [{}, {}, {}]
    assert card["idTagInfo"]["status"] == "Accepted"
    assert unknown["idTagInfo"]["status"] == "Invalid"
    assert refused == "TypeConstraintViolation"
