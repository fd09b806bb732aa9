"""OCPP 2.0.1 conformance, end to end: the OCA test tool's CSMS cases (Core profile blocks).

Each ``test_TC_X_nn_...`` is one case of OCPP 2.0.1 Part 6 with the CSMS as the system
under test, played by a real ``ocpp.v201.ChargePoint`` over a real WebSocket against the
local stack; ``docs/conformance.md`` lists every case and its status. The ``test_...``
without a case id check what the cases rely on: the 2.0.1 RPC framework error codes and
reconnects.
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
from jsonschema import Draft6Validator
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.exceptions import NotSupportedError, SecurityError
from ocpp.v201 import call
from ocpp.v201 import call_result as result201
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
    pile_events_of,
    refusal_status,
    unique,
    wire_now,
)
from tests.e2e.conftest import RunningStack
from tests.e2e.test_demo import wait_for_demo

pytestmark = pytest.mark.e2e

STATION = {
    "vendor_name": "Conformance",
    "model": "CT-DC120",
    "serial_number": "CS-SN-0001",
    "firmware_version": "2.0.1-rc7",
    "modem": {"iccid": "89860000000000000201", "imsi": "460000000000201"},
}
BOOT = call.BootNotification(charging_station=STATION, reason="PowerUp")


@pytest.fixture(scope="module")
def api(local_stack: RunningStack) -> OperatorApi:
    return OperatorApi(local_stack)


@pytest.fixture(scope="module")
def tenant(api: OperatorApi) -> Tenant:
    return Tenant.create(api, "Conformance 2.0.1")


@pytest.fixture
def station(local_stack: RunningStack, tenant: Tenant) -> Iterator[Pile]:
    """A registered 2.0.1 charging station with two EVSEs, connected and booted (Accepted)."""
    with Pile(local_stack, tenant.new_pile(V201), V201) as booted:
        assert booted.call(BOOT).status == "Accepted"
        yield booted


def _status(evse_id: int, status: str, **extra: Any) -> Any:
    return call.StatusNotification(
        timestamp=wire_now(), connector_status=status, evse_id=evse_id, connector_id=1, **extra
    )


def _token(id_token: str, kind: str = "ISO14443") -> dict[str, str]:
    return {"id_token": id_token, "type": kind}


def _parse(wire: str) -> datetime:
    return datetime.fromisoformat(wire.replace("Z", "+00:00"))


# -- A. Security: HTTP Basic authentication (security profile 1) --------------------------------


def test_TC_A_01_basic_authentication_valid_username_password(
    local_stack: RunningStack, tenant: Tenant
) -> None:
    with Pile(local_stack, tenant.new_pile(V201), V201) as station:
        chosen = station.subprotocol
        boot = station.call(BOOT)

    assert chosen == V201
    assert boot.status == "Accepted"


def test_TC_A_02_basic_authentication_username_not_the_charging_station_id(
    local_stack: RunningStack, tenant: Tenant
) -> None:
    station_id = tenant.new_pile(V201)
    other_station_id = tenant.new_pile(V201)

    status = refusal_status(
        local_stack,
        station_id,
        subprotocols=[V201],
        authorization=Pile.authorization(other_station_id),
    )

    assert status == 401


def test_TC_A_03_basic_authentication_invalid_password(
    local_stack: RunningStack, tenant: Tenant
) -> None:
    station_id = tenant.new_pile(V201)

    wrong = refusal_status(
        local_stack, station_id, password="not-the-password-201", subprotocols=[V201]
    )
    missing = refusal_status(local_stack, station_id, subprotocols=[V201], authorization={})

    assert (wrong, missing) == (401, 401)


# -- B. Provisioning ---------------------------------------------------------------------------


def test_TC_B_01_cold_boot_charging_station_accepted(
    local_stack: RunningStack, tenant: Tenant
) -> None:
    station_id = tenant.new_pile(V201)
    with Pile(local_stack, station_id, V201) as station:
        boot = station.call(BOOT)
        statuses = [station.call(_status(evse_id, "Available")) for evse_id in (1, 2)]
        heartbeat = station.call(call.Heartbeat())

    assert boot.status == "Accepted"
    assert 0 < boot.interval < 600  # under API Gateway's 10-minute idle close
    assert abs(_parse(boot.current_time) - datetime.now(UTC)) < timedelta(minutes=1)
    assert all(dataclasses.asdict(answer) == {"custom_data": None} for answer in statuses)
    assert abs(_parse(heartbeat.current_time) - datetime.now(UTC)) < timedelta(minutes=1)
    stored = tenant.pile(station_id)
    assert (stored["boot"]["vendor"], stored["boot"]["model"]) == ("Conformance", "CT-DC120")
    assert stored["boot"]["firmware"] == "2.0.1-rc7"
    assert (stored["boot"]["iccid"], stored["boot"]["imsi"]) == (
        "89860000000000000201",
        "460000000000201",
    )
    assert [tenant.gun(station_id, evse_id)["status"] for evse_id in (1, 2)] == [
        "Available",
        "Available",
    ]


def test_TC_B_30_cold_boot_charging_station_pending_rejected_security_error(
    local_stack: RunningStack, tenant: Tenant
) -> None:
    station_id = tenant.new_pile(V201)
    with Pile(local_stack, station_id, V201) as station:
        with pytest.raises(SecurityError):
            station.call(call.Heartbeat())  # before any boot (B02.FR.09, B03.FR.07)
        tenant.set_enabled(station_id, False)
        rejected = station.call(BOOT)
        with pytest.raises(SecurityError):
            station.call(_status(1, "Available"))
        with pytest.raises(SecurityError):
            station.call(call.Authorize(id_token=_token("ANY-TOKEN")))
        tenant.set_enabled(station_id, True)
        accepted = station.call(BOOT)
        heartbeat = station.call(call.Heartbeat())

    assert rejected.status == "Rejected"
    assert rejected.interval > 0
    assert accepted.status == "Accepted"
    assert heartbeat.current_time
    assert tenant.gun(station_id, 1)["status"] is None  # the refused status changed nothing


def test_TC_B_58_websocket_subprotocol_validation(
    local_stack: RunningStack, tenant: Tenant
) -> None:
    station_id = tenant.new_pile(V201)

    unsupported = refusal_status(local_stack, station_id, subprotocols=["ocpp0.1"])
    other_version = refusal_status(local_stack, station_id, subprotocols=[V16])
    missing = refusal_status(local_stack, station_id, subprotocols=None)
    with Pile(local_stack, station_id, V201, subprotocols=[V16, V201]) as station:
        chosen = station.subprotocol
        boot = station.call(BOOT)

    assert (unsupported, other_version, missing) == (400, 400, 400)
    assert chosen == V201
    assert boot.status == "Accepted"


def test_connect_refused_when_the_station_is_unknown_or_disabled(
    local_stack: RunningStack, tenant: Tenant
) -> None:
    disabled = tenant.new_pile(V201, is_enabled=False)

    assert refusal_status(local_stack, "CT201-nobody-here", subprotocols=[V201]) == 404
    assert refusal_status(local_stack, disabled, subprotocols=[V201]) == 403


# -- C. Authorization --------------------------------------------------------------------------


def test_TC_C_02_local_start_transaction_authorization_invalid_unknown(
    station: Pile, api: OperatorApi, tenant: Tenant
) -> None:
    other_operators_card = Tenant.create(api, "Other operator 2.0.1").new_card()
    released_card = tenant.new_card("unbound")

    unknown = station.call(call.Authorize(id_token=_token("NO-SUCH-TOKEN-1")))
    foreign = station.call(call.Authorize(id_token=_token(other_operators_card)))
    released = station.call(call.Authorize(id_token=_token(released_card)))

    assert unknown.id_token_info["status"] in ("Invalid", "Unknown")
    assert foreign.id_token_info["status"] == unknown.id_token_info["status"]
    assert released.id_token_info["status"] in ("Invalid", "Unknown")


def test_TC_C_06_local_start_transaction_authorization_blocked(
    station: Pile, tenant: Tenant
) -> None:
    blocked = station.call(call.Authorize(id_token=_token(tenant.new_card("frozen"))))

    assert blocked.id_token_info["status"] == "Blocked"


def test_authorize_accepted_when_the_card_is_active(station: Pile, tenant: Tenant) -> None:
    accepted = station.call(call.Authorize(id_token=_token(tenant.new_card())))

    assert accepted.id_token_info["status"] == "Accepted"


# -- G. Availability: status reporting ------------------------------------------------------------


def test_status_notification_faulted_recorded_as_a_fault(
    local_stack: RunningStack, station: Pile, tenant: Tenant
) -> None:
    station.call(_status(2, "Occupied"))
    faulted = station.call(_status(2, "Faulted"))

    assert dataclasses.asdict(faulted) == {"custom_data": None}
    assert tenant.gun(station.pile_id, 2)["status"] == "Faulted"
    (fault,) = faults_of(local_stack, station.pile_id)
    assert (fault["gun_no"], fault["error_code"], fault["status"]) == (2, "Faulted", "open")


def test_TC_G_20_connector_status_notification_lock_failure(
    local_stack: RunningStack, station: Pile
) -> None:
    answer = station.call(
        call.NotifyEvent(
            generated_at=wire_now(),
            seq_no=0,
            event_data=[
                {
                    "event_id": 1,
                    "timestamp": wire_now(),
                    "trigger": "Delta",
                    "actual_value": "true",
                    "event_notification_type": "HardWiredNotification",
                    "component": {"name": "ConnectorPlugRetentionLock", "evse": {"id": 1}},
                    "variable": {"name": "Problem"},
                }
            ],
        )
    )

    assert dataclasses.asdict(answer) == {"custom_data": None}
    (event,) = pile_events_of(local_stack, station.pile_id)
    assert event["kind"] == "notify_event"
    assert "ConnectorPlugRetentionLock" in event["detail_json"]


# -- commands from the operator API (B, C, F, G) ---------------------------------------------------


def _answered(tenant: Tenant, station: Pile, call_id: str) -> dict[str, Any]:
    """The station's answer to a command, as the operator API shows it."""
    command = tenant.outcome(station.pile_id, call_id)
    assert command["status"] == "answered", command
    response: dict[str, Any] = command["response"]
    return response


def _events(tenant: Tenant, station_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = tenant.api.ok("GET", f"/operator/piles/{station_id}/events")[
        "items"
    ]
    return items


def _variable(component: str, variable: str) -> dict[str, Any]:
    return {"component": {"name": component}, "variable": {"name": variable}}


def test_TC_B_06_get_variables_single_value(station: Pile, tenant: Tenant) -> None:
    call_id = tenant.command(
        station.pile_id, "GET", "configuration?keys=OCPPCommCtrlr/HeartbeatInterval"
    )
    request = station.expect("GetVariables")
    answer = _answered(tenant, station, call_id)

    assert request == {"get_variable_data": [_variable("OCPPCommCtrlr", "HeartbeatInterval")]}
    (result,) = answer["getVariableResult"]
    assert (result["attributeStatus"], result["component"]["name"]) == (
        "Accepted",
        "OCPPCommCtrlr",
    )


def test_TC_B_07_get_variables_multiple_values(station: Pile, tenant: Tenant) -> None:
    keys = "OCPPCommCtrlr/HeartbeatInterval,AuthCtrlr/Enabled,TxCtrlr/EVConnectionTimeOut"

    call_id = tenant.command(station.pile_id, "GET", f"configuration?keys={keys}")
    request = station.expect("GetVariables")
    answer = _answered(tenant, station, call_id)

    assert request["get_variable_data"] == [
        _variable("OCPPCommCtrlr", "HeartbeatInterval"),
        _variable("AuthCtrlr", "Enabled"),
        _variable("TxCtrlr", "EVConnectionTimeOut"),
    ]
    assert [result["variable"]["name"] for result in answer["getVariableResult"]] == [
        "HeartbeatInterval",
        "Enabled",
        "EVConnectionTimeOut",
    ]


def test_TC_B_08_get_variables_limit_to_maximum_number_of_values(
    station: Pile, tenant: Tenant
) -> None:
    def over_the_limit(request: dict[str, Any]) -> Any:
        items = request["get_variable_data"]
        return result201.GetVariables(
            get_variable_result=[
                {
                    "attribute_status": "Accepted" if index < len(items) - 1 else "Rejected",
                    "component": item["component"],
                    "variable": item["variable"],
                    **({"attribute_value": "1"} if index < len(items) - 1 else {}),
                }
                for index, item in enumerate(items)
            ]
        )

    station.replies["GetVariables"] = over_the_limit
    keys = ",".join(f"SampledDataCtrlr/Var{index}" for index in range(5))

    call_id = tenant.command(station.pile_id, "GET", f"configuration?keys={keys}")
    station.expect("GetVariables")
    answer = _answered(tenant, station, call_id)

    assert [result["attributeStatus"] for result in answer["getVariableResult"]] == [
        "Accepted",
        "Accepted",
        "Accepted",
        "Accepted",
        "Rejected",
    ]


def test_TC_B_09_set_variables_single_value(station: Pile, tenant: Tenant) -> None:
    call_id = tenant.command(
        station.pile_id,
        "PUT",
        "configuration",
        {"key": "OCPPCommCtrlr/HeartbeatInterval", "value": "540"},
    )
    request = station.expect("SetVariables")
    answer = _answered(tenant, station, call_id)

    assert request == {
        "set_variable_data": [
            {**_variable("OCPPCommCtrlr", "HeartbeatInterval"), "attribute_value": "540"}
        ]
    }
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"


@pytest.mark.parametrize(
    ("case", "report", "base"),
    [
        ("TC_B_12", "configuration_inventory", "ConfigurationInventory"),
        ("TC_B_13", "full_inventory", "FullInventory"),
        ("TC_B_14", "summary_inventory", "SummaryInventory"),
    ],
)
def test_TC_B_12_TC_B_13_TC_B_14_get_base_report(
    station: Pile, tenant: Tenant, case: str, report: str, base: str
) -> None:
    call_id = tenant.command(station.pile_id, "POST", "base-report", {"report": report})
    request = station.expect("GetBaseReport")
    answer = _answered(tenant, station, call_id)
    parts = [
        station.call(
            call.NotifyReport(
                request_id=request["request_id"],
                generated_at=wire_now(),
                seq_no=seq_no,
                tbc=seq_no == 0,
                report_data=[
                    {
                        "component": {"name": component},
                        "variable": {"name": "Enabled"},
                        "variable_attribute": [{"type": "Actual", "value": "true"}],
                    }
                ],
            )
        )
        for seq_no, component in enumerate(("AuthCtrlr", "TxCtrlr"))
    ]

    assert request["report_base"] == base, case
    assert answer == {"status": "Accepted"}, case
    assert all(dataclasses.asdict(part) == {"custom_data": None} for part in parts), case
    reports = [e for e in _events(tenant, station.pile_id) if e["kind"] == "notify_report"]
    assert len(reports) == 2, case
    assert {e["request_id"] for e in reports} == {request["request_id"]}, case


def test_TC_B_20_reset_charging_station_without_ongoing_transaction_on_idle(
    station: Pile, tenant: Tenant
) -> None:
    call_id = tenant.command(station.pile_id, "POST", "reset", {"type": "soft"})
    request = station.expect("Reset")
    answer = _answered(tenant, station, call_id)
    boot = station.call(call.BootNotification(charging_station=STATION, reason="RemoteReset"))

    assert request == {"type": "OnIdle"}
    assert answer == {"status": "Accepted"}
    assert boot.status == "Accepted"


def test_TC_B_31_cold_boot_pending_rejected_trigger_message(
    local_stack: RunningStack, tenant: Tenant
) -> None:
    station_id = tenant.new_pile(V201)
    with Pile(local_stack, station_id, V201) as station:
        tenant.set_enabled(station_id, False)
        assert station.call(BOOT).status == "Rejected"
        tenant.set_enabled(station_id, True)
        call_id = tenant.command(station_id, "POST", "trigger", {"message": "BootNotification"})
        request = station.expect("TriggerMessage")
        answer = _answered(tenant, station, call_id)
        boot = station.call(call.BootNotification(charging_station=STATION, reason="Triggered"))

    assert request == {"requested_message": "BootNotification"}
    assert answer == {"status": "Accepted"}
    assert boot.status == "Accepted"


@pytest.mark.parametrize(("case", "reply"), [("TC_C_37", "Accepted"), ("TC_C_38", "Rejected")])
def test_TC_C_37_TC_C_38_clear_authorization_data_in_authorization_cache(
    station: Pile, tenant: Tenant, case: str, reply: str
) -> None:
    station.replies["ClearCache"] = result201.ClearCache(status=reply)

    call_id = tenant.command(station.pile_id, "DELETE", "cache")
    station.expect("ClearCache")

    assert _answered(tenant, station, call_id) == {"status": reply}, case


def test_TC_F_06_remote_unlock_connector_without_ongoing_transaction(
    station: Pile, tenant: Tenant
) -> None:
    call_id = tenant.command(station.pile_id, "POST", "unlock", {"gun_no": 1})
    request = station.expect("UnlockConnector")

    assert request == {"evse_id": 1, "connector_id": 1}
    assert _answered(tenant, station, call_id) == {"status": "Unlocked"}


def _trigger(station: Pile, tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    call_id = tenant.command(station.pile_id, "POST", "trigger", body)
    request = station.expect("TriggerMessage")
    assert _answered(tenant, station, call_id) == {"status": "Accepted"}
    return request


def test_TC_F_15_trigger_message_log_status_notification_idle(
    station: Pile, tenant: Tenant
) -> None:
    request = _trigger(station, tenant, {"message": "LogStatusNotification"})
    answer = station.call(call.LogStatusNotification(status="Idle"))

    assert request == {"requested_message": "LogStatusNotification"}
    assert dataclasses.asdict(answer) == {"custom_data": None}


def test_TC_F_18_trigger_message_firmware_status_notification_idle(
    station: Pile, tenant: Tenant
) -> None:
    request = _trigger(station, tenant, {"message": "FirmwareStatusNotification"})
    answer = station.call(call.FirmwareStatusNotification(status="Idle"))

    assert request == {"requested_message": "FirmwareStatusNotification"}
    assert dataclasses.asdict(answer) == {"custom_data": None}


def test_TC_F_20_trigger_message_heartbeat(station: Pile, tenant: Tenant) -> None:
    request = _trigger(station, tenant, {"message": "Heartbeat"})
    heartbeat = station.call(call.Heartbeat())

    assert request == {"requested_message": "Heartbeat"}
    assert heartbeat.current_time


@pytest.mark.parametrize(("case", "status"), [("TC_F_23", "Available"), ("TC_F_24", "Occupied")])
def test_TC_F_23_TC_F_24_trigger_message_status_notification_specific_evse(
    station: Pile, tenant: Tenant, case: str, status: str
) -> None:
    request = _trigger(station, tenant, {"message": "StatusNotification", "gun_no": 1})
    station.call(_status(1, status))

    assert request == {
        "requested_message": "StatusNotification",
        "evse": {"id": 1, "connector_id": 1},
    }, case
    assert tenant.gun(station.pile_id, 1)["status"] == status, case


def test_TC_F_27_trigger_message_not_implemented(station: Pile, tenant: Tenant) -> None:
    station.replies["TriggerMessage"] = result201.TriggerMessage(status="NotImplemented")

    call_id = tenant.command(station.pile_id, "POST", "trigger", {"message": "MeterValues"})
    station.expect("TriggerMessage")

    assert _answered(tenant, station, call_id) == {"status": "NotImplemented"}


def _availability_event(evse_id: int | None, state: str) -> Any:
    component: dict[str, Any] = {"name": "Connector" if evse_id else "ChargingStation"}
    if evse_id:
        component["evse"] = {"id": evse_id, "connector_id": 1}
    return call.NotifyEvent(
        generated_at=wire_now(),
        seq_no=0,
        event_data=[
            {
                "event_id": 7,
                "timestamp": wire_now(),
                "trigger": "Delta",
                "actual_value": state,
                "event_notification_type": "HardWiredNotification",
                "component": component,
                "variable": {"name": "AvailabilityState"},
            }
        ],
    )


@pytest.mark.parametrize(
    ("case", "gun_no", "operative"),
    [
        ("TC_G_03 EVSE to inoperative", 1, False),
        ("TC_G_04 EVSE to operative", 1, True),
        ("TC_G_05 station to inoperative", None, False),
        ("TC_G_06 station to operative", None, True),
    ],
)
def test_TC_G_03_TC_G_04_TC_G_05_TC_G_06_change_availability(
    station: Pile, tenant: Tenant, case: str, gun_no: int | None, operative: bool
) -> None:
    body: dict[str, Any] = {"operative": operative}
    if gun_no is not None:
        body["gun_no"] = gun_no
    state = "Available" if operative else "Unavailable"

    call_id = tenant.command(station.pile_id, "POST", "availability", body)
    request = station.expect("ChangeAvailability")
    answer = _answered(tenant, station, call_id)
    for evse_id in [gun_no] if gun_no else [1, 2]:
        station.call(_status(evse_id, state))
        station.call(_availability_event(evse_id, state))

    expected: dict[str, Any] = {"operational_status": "Operative" if operative else "Inoperative"}
    if gun_no is not None:
        expected["evse"] = {"id": gun_no}
    assert request == expected, case
    assert answer == {"status": "Accepted"}, case
    assert tenant.gun(station.pile_id, gun_no or 2)["status"] == state, case


# -- E. Transactions, J. Meter values (and the F, G, B, C cases with a transaction) ----------------


def _register(wh: int, context: str = "Sample.Periodic", signed: bool = False) -> dict[str, Any]:
    value: dict[str, Any] = {
        "value": wh,
        "measurand": "Energy.Active.Import.Register",
        "unit_of_measure": {"unit": "Wh"},
        "context": context,
    }
    if signed:
        value["signed_meter_value"] = {
            "signed_meter_data": "U0lHTkVELU1FVEVSLURBVEE=",
            "signing_method": "ECDSA-secp256r1-SHA256",
            "encoding_method": "OCMF",
            "public_key": "UFVCTElDLUtFWQ==",
        }
    return value


class Transaction:
    """One transaction of a station: TransactionEvents with consecutive seqNos."""

    def __init__(self, station: Pile, evse_id: int = 1, transaction_id: str | None = None) -> None:
        self.station = station
        self.evse_id = evse_id
        self.transaction_id = transaction_id or unique("tx")
        self.seq_no = 0

    def event(
        self,
        event_type: str,
        trigger_reason: str,
        *,
        charging_state: str | None = None,
        stopped_reason: str | None = None,
        remote_start_id: int | None = None,
        id_token: dict[str, str] | None = None,
        wh: int | None = None,
        context: str = "Sample.Periodic",
        signed: bool = False,
        with_evse: bool = True,
        offset_s: float = 0.0,
    ) -> Any:
        info: dict[str, Any] = {"transaction_id": self.transaction_id}
        for name, value in (
            ("charging_state", charging_state),
            ("stopped_reason", stopped_reason),
            ("remote_start_id", remote_start_id),
        ):
            if value is not None:
                info[name] = value
        payload = call.TransactionEvent(
            event_type=event_type,
            timestamp=wire_now(offset_s),
            trigger_reason=trigger_reason,
            seq_no=self.seq_no,
            transaction_info=info,
            evse={"id": self.evse_id, "connector_id": 1} if with_evse else None,
            id_token=id_token,
            meter_value=(
                [
                    {
                        "timestamp": wire_now(offset_s),
                        "sampled_value": [_register(wh, context, signed)],
                    }
                ]
                if wh is not None
                else None
            ),
        )
        self.seq_no += 1
        return self.station.call(payload)

    def started(self, trigger_reason: str, **kwargs: Any) -> Any:
        return self.event("Started", trigger_reason, **kwargs)

    def updated(self, trigger_reason: str, **kwargs: Any) -> Any:
        return self.event("Updated", trigger_reason, **kwargs)

    def ended(self, trigger_reason: str, stopped_reason: str, **kwargs: Any) -> Any:
        return self.event(
            "Ended", trigger_reason, stopped_reason=stopped_reason, charging_state="Idle", **kwargs
        )


def _energy_transfer_started(station: Pile, card: str, wh: int = 1_000) -> Transaction:
    """Reusable state EnergyTransferStarted: authorized, connected, charging on EVSE 1."""
    assert station.call(call.Authorize(id_token=_token(card))).id_token_info["status"] == "Accepted"
    station.call(_status(1, "Occupied"))
    transaction = Transaction(station)
    started = transaction.started(
        "Authorized",
        charging_state="EVConnected",
        id_token=_token(card),
        wh=wh,
        context="Transaction.Begin",
    )
    assert started.id_token_info["status"] == "Accepted"
    transaction.updated("ChargingStateChanged", charging_state="Charging")
    return transaction


def _stored(tenant: Tenant, transaction: Transaction) -> dict[str, Any]:
    return tenant.session_of(transaction.station.pile_id, transaction.transaction_id)


def test_TC_E_01_start_transaction_options_power_path_closed(
    local_stack: RunningStack, station: Pile, tenant: Tenant
) -> None:
    card = tenant.new_card()
    station.call(call.Authorize(id_token=_token(card)))
    station.call(_status(1, "Occupied"))
    transaction = Transaction(station)

    started = transaction.started(
        "ChargingStateChanged", charging_state="Charging", id_token=_token(card), wh=0
    )

    assert started.id_token_info["status"] == "Accepted"
    stored = _stored(tenant, transaction)
    assert (stored["status"], stored["gun_no"], stored["id_tag"]) == ("active", 1, card)


def test_TC_E_02_start_transaction_options_energy_transfer(
    local_stack: RunningStack, station: Pile, tenant: Tenant
) -> None:
    card = tenant.new_card()
    station.call(call.Authorize(id_token=_token(card)))
    station.call(_status(1, "Occupied"))
    transaction = Transaction(station)

    started = transaction.started(
        "ChargingStateChanged",
        charging_state="Charging",
        id_token=_token(card),
        wh=300,
        context="Transaction.Begin",
    )

    assert started.id_token_info["status"] == "Accepted"
    assert _stored(tenant, transaction)["status"] == "active"


def test_TC_E_03_local_start_transaction_cable_plugin_first_success(
    local_stack: RunningStack, station: Pile, tenant: Tenant
) -> None:
    card = tenant.new_card()
    station.call(_status(1, "Occupied"))
    transaction = Transaction(station)

    plugged = transaction.started("CablePluggedIn", charging_state="EVConnected")
    authorized = station.call(call.Authorize(id_token=_token(card)))
    updated = transaction.updated("Authorized", id_token=_token(card))
    charging = transaction.updated("ChargingStateChanged", charging_state="Charging")

    assert dataclasses.asdict(plugged)["id_token_info"] is None
    assert authorized.id_token_info["status"] == "Accepted"
    assert updated.id_token_info["status"] == "Accepted"
    assert charging.id_token_info is None
    assert _stored(tenant, transaction)["status"] == "active"


def test_TC_E_04_local_start_transaction_authorization_first_success(
    local_stack: RunningStack, station: Pile, tenant: Tenant
) -> None:
    transaction = _energy_transfer_started(station, tenant.new_card())

    assert _stored(tenant, transaction)["status"] == "active"
    assert tenant.gun(station.pile_id, 1)["status"] == "Occupied"


@pytest.mark.parametrize(
    ("case", "trigger", "stopped_reason", "with_token"),
    [
        ("TC_E_07 local stop", "StopAuthorized", "Local", True),
        ("TC_E_14 EV disconnected, station side", "EVCommunicationLost", "EVDisconnected", False),
        ("TC_E_15 stop authorized, local", "StopAuthorized", "Local", True),
        ("TC_E_17 deauthorized, EV side", "EVCommunicationLost", "EVDisconnected", False),
        ("TC_E_19 parking bay unoccupied", "EVDeparted", "Local", False),
        ("TC_E_20 EV disconnected, EV side", "EVCommunicationLost", "EVDisconnected", False),
    ],
)
def test_TC_E_07_TC_E_14_TC_E_15_TC_E_17_TC_E_19_TC_E_20_stop_transaction_options(
    local_stack: RunningStack,
    station: Pile,
    tenant: Tenant,
    case: str,
    trigger: str,
    stopped_reason: str,
    with_token: bool,
) -> None:
    card = tenant.new_card()
    transaction = _energy_transfer_started(station, card, wh=40_000)

    transaction.updated("MeterValuePeriodic", charging_state="Charging", wh=41_000)
    ended = transaction.ended(
        trigger,
        stopped_reason,
        id_token=_token(card) if with_token else None,
        wh=42_500,
        context="Transaction.End",
    )
    station.call(_status(1, "Available"))

    if with_token:
        assert ended.id_token_info["status"] == "Accepted", case
    stored = _stored(tenant, transaction)
    assert (stored["status"], stored["energy_wh"], stored["stop_reason"]) == (
        "completed",
        2_500,
        stopped_reason,
    ), case


def test_TC_E_08_stop_transaction_options_energy_transfer_stopped_stop_authorized(
    local_stack: RunningStack, station: Pile, tenant: Tenant
) -> None:
    card = tenant.new_card()
    transaction = _energy_transfer_started(station, card)

    stop = transaction.updated(
        "StopAuthorized", charging_state="EVConnected", id_token=_token(card)
    )
    ended = transaction.ended("EVCommunicationLost", "Local", wh=1_800)

    assert stop.id_token_info["status"] == "Accepted"
    assert ended.id_token_info is None
    assert _stored(tenant, transaction)["status"] == "completed"


def test_TC_E_09_start_transaction_options_ev_connected(
    local_stack: RunningStack, station: Pile, tenant: Tenant
) -> None:
    station.call(_status(1, "Occupied"))
    station.call(_availability_event(1, "Occupied"))
    transaction = Transaction(station)

    started = transaction.started("CablePluggedIn", charging_state="EVConnected")

    assert started.id_token_info is None
    assert _stored(tenant, transaction)["status"] == "active"


def test_TC_E_10_start_transaction_options_authorized_local(station: Pile, tenant: Tenant) -> None:
    card = tenant.new_card()

    authorized = station.call(call.Authorize(id_token=_token(card)))
    started = Transaction(station).started("Authorized", id_token=_token(card))

    assert authorized.id_token_info["status"] == "Accepted"
    assert started.id_token_info["status"] == "Accepted"


def test_TC_E_11_start_transaction_options_data_signed(
    local_stack: RunningStack, station: Pile, tenant: Tenant
) -> None:
    card = tenant.new_card()
    transaction = Transaction(station)

    started = transaction.started(
        "SignedDataReceived",
        charging_state="EVConnected",
        id_token=_token(card),
        wh=12_000,
        context="Transaction.Begin",
        signed=True,
    )

    assert started.id_token_info["status"] == "Accepted"
    assert _stored(tenant, transaction)["status"] == "active"


def test_TC_E_12_start_transaction_options_parking_bay_occupied(
    local_stack: RunningStack, station: Pile, tenant: Tenant
) -> None:
    transaction = Transaction(station)

    started = transaction.started("EVDetected")

    assert started.id_token_info is None
    assert _stored(tenant, transaction)["status"] == "active"


def test_TC_E_16_stop_transaction_options_deauthorized_invalid_id_token(
    local_stack: RunningStack, station: Pile, tenant: Tenant
) -> None:
    transaction = Transaction(station)
    station.call(_status(1, "Occupied"))

    started = transaction.started(
        "Authorized", charging_state="EVConnected", id_token=_token("NOT-A-CARD-E16")
    )
    ended = transaction.ended("Deauthorized", "DeAuthorized")

    assert started.id_token_info["status"] in ("Invalid", "Unknown")
    assert ended.id_token_info is None
    assert _stored(tenant, transaction)["status"] == "completed"


def test_TC_E_21_stop_transaction_options_stop_authorized_remote(
    local_stack: RunningStack, station: Pile, tenant: Tenant
) -> None:
    transaction = _energy_transfer_started(station, tenant.new_card(), wh=5_000)
    session = _stored(tenant, transaction)

    call_id = tenant.command(
        station.pile_id, "POST", "remote-stop", {"session_id": session["session_id"]}
    )
    request = station.expect("RequestStopTransaction")
    answer = _answered(tenant, station, call_id)
    ended = transaction.ended("RemoteStop", "Remote", wh=6_100, context="Transaction.End")

    assert request == {"transaction_id": transaction.transaction_id}
    assert answer == {"status": "Accepted"}
    assert ended.id_token_info is None
    stored = _stored(tenant, transaction)
    assert (stored["status"], stored["stop_reason"], stored["energy_wh"]) == (
        "completed",
        "Remote",
        1_100,
    )


def test_TC_E_22_stop_transaction_options_energy_transfer_stopped_suspended_ev(
    local_stack: RunningStack, station: Pile, tenant: Tenant
) -> None:
    transaction = _energy_transfer_started(station, tenant.new_card(), wh=0)

    suspended = transaction.updated("ChargingStateChanged", charging_state="SuspendedEV", wh=900)
    ended = transaction.ended("StopAuthorized", "StoppedByEV", wh=900)

    assert suspended.id_token_info is None and ended.id_token_info is None
    stored = _stored(tenant, transaction)
    assert (stored["status"], stored["energy_wh"]) == ("completed", 900)


def test_TC_E_26_disconnect_cable_on_ev_side_suspend_transaction(
    local_stack: RunningStack, station: Pile, tenant: Tenant
) -> None:
    transaction = _energy_transfer_started(station, tenant.new_card())

    suspended = transaction.updated("EVCommunicationLost", charging_state="Idle")

    assert suspended.id_token_info is None
    assert _stored(tenant, transaction)["status"] == "active"  # suspended, not ended


def test_TC_E_38_local_start_transaction_ev_not_ready(
    local_stack: RunningStack, station: Pile, tenant: Tenant
) -> None:
    card = tenant.new_card()
    station.call(call.Authorize(id_token=_token(card)))
    station.call(_status(1, "Occupied"))
    transaction = Transaction(station)

    started = transaction.started("Authorized", charging_state="EVConnected", id_token=_token(card))
    waiting = transaction.updated("ChargingStateChanged", charging_state="SuspendedEV")

    assert started.id_token_info["status"] == "Accepted"
    assert waiting.id_token_info is None
    assert _stored(tenant, transaction)["status"] == "active"


def test_TC_E_39_stop_transaction_options_deauthorized_timeout(
    local_stack: RunningStack, station: Pile, tenant: Tenant
) -> None:
    card = tenant.new_card()
    transaction = Transaction(station)

    started = transaction.started("Authorized", id_token=_token(card))
    ended = transaction.ended("EVConnectTimeout", "Timeout")

    assert started.id_token_info["status"] == "Accepted"
    assert ended.id_token_info is None
    stored = _stored(tenant, transaction)
    assert (stored["status"], stored["energy_wh"], stored["stop_reason"]) == (
        "completed",
        0,
        "Timeout",
    )


def test_TC_E_53_reset_sequence_number_csms_accepting_seq_no_0_at_start(
    local_stack: RunningStack, station: Pile, tenant: Tenant
) -> None:
    first = _energy_transfer_started(station, tenant.new_card(), wh=100)
    first.ended("StopAuthorized", "Local", wh=600)
    second = Transaction(station)  # seqNo starts again at 0

    started = second.started("CablePluggedIn", charging_state="EVConnected", wh=600)
    ended = second.ended("EVCommunicationLost", "EVDisconnected", wh=1_600)

    assert started.id_token_info is None and ended.id_token_info is None
    assert (
        _stored(tenant, first)["energy_wh"],
        _stored(tenant, second)["energy_wh"],
    ) == (
        500,
        1_000,
    )
    assert _stored(tenant, second)["status"] == "completed"


def test_TC_C_08_authorization_through_authorization_cache_accepted(
    local_stack: RunningStack, station: Pile, tenant: Tenant
) -> None:
    card = tenant.new_card()
    station.call(_status(1, "Occupied"))
    transaction = Transaction(station)

    started = transaction.started(  # the station knew the card from its cache: no Authorize
        "Authorized", charging_state="EVConnected", id_token=_token(card)
    )

    assert started.id_token_info["status"] == "Accepted"
    assert _stored(tenant, transaction)["id_tag"] == card


def test_TC_C_20_authorization_through_authorization_cache_invalid(
    local_stack: RunningStack, station: Pile, tenant: Tenant
) -> None:
    blocked_card = tenant.new_card("frozen")
    transaction = Transaction(station)

    started = transaction.started(
        "Authorized", charging_state="EVConnected", id_token=_token(blocked_card)
    )
    ended = transaction.ended("Deauthorized", "DeAuthorized")

    assert started.id_token_info["status"] == "Blocked"
    assert ended.id_token_info is None
    assert _stored(tenant, transaction)["status"] == "completed"


def _remote_start(station: Pile, tenant: Tenant, card: str) -> dict[str, Any]:
    call_id = tenant.command(station.pile_id, "POST", "remote-start", {"gun_no": 1, "id_tag": card})
    request = station.expect("RequestStartTransaction")
    assert _answered(tenant, station, call_id)["status"] == "Accepted"
    assert request["id_token"]["id_token"] == card
    assert request["evse_id"] == 1
    return request


def test_TC_F_01_remote_start_transaction_cable_plugin_first(
    local_stack: RunningStack, station: Pile, tenant: Tenant
) -> None:
    card = tenant.new_card()
    station.call(_status(1, "Occupied"))
    transaction = Transaction(station)
    transaction.started("CablePluggedIn", charging_state="EVConnected")

    request = _remote_start(station, tenant, card)
    remote = transaction.updated(
        "RemoteStart", remote_start_id=request["remote_start_id"], id_token=_token(card, "Central")
    )
    charging = transaction.updated("ChargingStateChanged", charging_state="Charging")

    assert remote.id_token_info["status"] == "Accepted"
    assert charging.id_token_info is None
    assert _stored(tenant, transaction)["status"] == "active"


@pytest.mark.parametrize(("case", "authorize_first"), [("TC_F_02", True), ("TC_F_03", False)])
def test_TC_F_02_TC_F_03_remote_start_transaction_remote_start_first(
    local_stack: RunningStack, station: Pile, tenant: Tenant, case: str, authorize_first: bool
) -> None:
    card = tenant.new_card()

    request = _remote_start(station, tenant, card)
    if authorize_first:  # AuthorizeRemoteStart is true
        authorized = station.call(call.Authorize(id_token=_token(card, "Central")))
        assert authorized.id_token_info["status"] == "Accepted", case
    transaction = Transaction(station)
    started = transaction.started(
        "RemoteStart",
        charging_state="Idle",
        remote_start_id=request["remote_start_id"],
        id_token=_token(card, "Central"),
    )
    station.call(_status(1, "Occupied"))
    transaction.updated("CablePluggedIn", charging_state="EVConnected")
    transaction.updated("ChargingStateChanged", charging_state="Charging")

    assert started.id_token_info["status"] == "Accepted", case
    stored = _stored(tenant, transaction)
    assert (stored["status"], stored["id_tag"]) == ("active", card), case


def test_TC_F_04_remote_start_transaction_cable_plugin_timeout(
    local_stack: RunningStack, station: Pile, tenant: Tenant
) -> None:
    card = tenant.new_card()

    request = _remote_start(station, tenant, card)
    transaction = Transaction(station)
    started = transaction.started(
        "RemoteStart", remote_start_id=request["remote_start_id"], id_token=_token(card, "Central")
    )
    timeout = transaction.updated("EVConnectTimeout")

    assert started.id_token_info["status"] == "Accepted"
    assert timeout.id_token_info is None


@pytest.mark.parametrize(("case", "gun_no"), [("TC_F_11 specific EVSE", 1), ("TC_F_12 all", None)])
def test_TC_F_11_TC_F_12_trigger_message_meter_values(
    station: Pile, tenant: Tenant, case: str, gun_no: int | None
) -> None:
    body: dict[str, Any] = {"message": "MeterValues"}
    if gun_no is not None:
        body["gun_no"] = gun_no

    request = _trigger(station, tenant, body)
    answers = [
        station.call(
            call.MeterValues(
                evse_id=evse_id,
                meter_value=[
                    {"timestamp": wire_now(), "sampled_value": [_register(5_000, "Trigger")]}
                ],
            )
        )
        for evse_id in ([gun_no] if gun_no else [0, 1, 2])
    ]

    assert request["requested_message"] == "MeterValues", case
    assert all(dataclasses.asdict(answer) == {"custom_data": None} for answer in answers), case


@pytest.mark.parametrize(("case", "gun_no"), [("TC_F_13 specific EVSE", 1), ("TC_F_14 all", None)])
def test_TC_F_13_TC_F_14_trigger_message_transaction_event(
    local_stack: RunningStack, station: Pile, tenant: Tenant, case: str, gun_no: int | None
) -> None:
    transaction = _energy_transfer_started(station, tenant.new_card(), wh=100)
    body: dict[str, Any] = {"message": "TransactionEvent"}
    if gun_no is not None:
        body["gun_no"] = gun_no

    request = _trigger(station, tenant, body)
    triggered = transaction.updated("Trigger", charging_state="Charging", wh=350)

    assert request["requested_message"] == "TransactionEvent", case
    assert triggered.id_token_info is None, case
    assert _stored(tenant, transaction)["status"] == "active", case


@pytest.mark.parametrize(("case", "gun_no"), [("TC_G_11 EVSE", 1), ("TC_G_14 station", None)])
def test_TC_G_11_TC_G_14_change_availability_with_ongoing_transaction(
    local_stack: RunningStack, station: Pile, tenant: Tenant, case: str, gun_no: int | None
) -> None:
    card = tenant.new_card()
    transaction = _energy_transfer_started(station, card, wh=0)
    station.replies["ChangeAvailability"] = result201.ChangeAvailability(status="Scheduled")
    body: dict[str, Any] = {"operative": False}
    if gun_no is not None:
        body["gun_no"] = gun_no

    call_id = tenant.command(station.pile_id, "POST", "availability", body)
    station.expect("ChangeAvailability")
    answer = _answered(tenant, station, call_id)
    transaction.ended("StopAuthorized", "Local", id_token=_token(card), wh=2_000)
    station.call(_status(1, "Unavailable"))

    assert answer == {"status": "Scheduled"}, case
    assert _stored(tenant, transaction)["energy_wh"] == 2_000, case
    assert tenant.gun(station.pile_id, 1)["status"] == "Unavailable", case


@pytest.mark.parametrize(
    ("case", "kind", "reply", "stopped_reason"),
    [
        ("TC_B_21 OnIdle", "soft", "Scheduled", "Local"),
        ("TC_B_22 Immediate", "hard", "Accepted", "ImmediateReset"),
    ],
)
def test_TC_B_21_TC_B_22_reset_charging_station_with_ongoing_transaction(
    local_stack: RunningStack,
    station: Pile,
    tenant: Tenant,
    case: str,
    kind: str,
    reply: str,
    stopped_reason: str,
) -> None:
    card = tenant.new_card()
    transaction = _energy_transfer_started(station, card, wh=0)
    station.replies["Reset"] = result201.Reset(status=reply)

    call_id = tenant.command(station.pile_id, "POST", "reset", {"type": kind})
    station.expect("Reset")
    answer = _answered(tenant, station, call_id)
    trigger = "StopAuthorized" if kind == "soft" else "ResetCommand"
    transaction.ended(trigger, stopped_reason, wh=1_200)
    boot = station.call(call.BootNotification(charging_station=STATION, reason="RemoteReset"))

    assert answer == {"status": reply}, case
    assert boot.status == "Accepted", case
    stored = _stored(tenant, transaction)
    assert (stored["status"], stored["stop_reason"], stored["energy_wh"]) == (
        "completed",
        stopped_reason,
        1_200,
    ), case


def test_TC_J_01_clock_aligned_meter_values_no_transaction_ongoing(station: Pile) -> None:
    answer = station.call(
        call.MeterValues(
            evse_id=0,
            meter_value=[
                {"timestamp": wire_now(), "sampled_value": [_register(88_000, "Sample.Clock")]}
            ],
        )
    )

    assert dataclasses.asdict(answer) == {"custom_data": None}


@pytest.mark.parametrize(
    ("case", "context", "signed"),
    [
        ("TC_J_02 clock-aligned", "Sample.Clock", False),
        ("TC_J_04 clock-aligned, signed", "Sample.Clock", True),
        ("TC_J_09 sampled, Updated", "Sample.Periodic", False),
    ],
)
def test_TC_J_02_TC_J_04_TC_J_09_meter_values_in_updated_events(
    local_stack: RunningStack,
    station: Pile,
    tenant: Tenant,
    case: str,
    context: str,
    signed: bool,
) -> None:
    card = tenant.new_card()
    transaction = _energy_transfer_started(station, card, wh=1_000)
    trigger = "MeterValueClock" if context == "Sample.Clock" else "MeterValuePeriodic"

    answers = [
        transaction.updated(
            trigger, charging_state="Charging", wh=wh, context=context, signed=signed
        )
        for wh in (1_400, 1_900)
    ]
    transaction.ended(
        "StopAuthorized", "Local", id_token=_token(card), wh=2_000, context="Transaction.End"
    )

    assert all(answer.id_token_info is None for answer in answers), case
    assert _stored(tenant, transaction)["energy_wh"] == 1_000, case


@pytest.mark.parametrize(
    ("case", "signed"), [("TC_J_03 / TC_J_10 Ended", False), ("TC_J_11 signed", True)]
)
def test_TC_J_03_TC_J_10_TC_J_11_meter_values_in_the_ended_event(
    local_stack: RunningStack, station: Pile, tenant: Tenant, case: str, signed: bool
) -> None:
    card = tenant.new_card()
    transaction = _energy_transfer_started(station, card, wh=3_000)

    ended = transaction.ended(
        "StopAuthorized",
        "Local",
        id_token=_token(card),
        wh=4_250,
        context="Transaction.End",
        signed=signed,
    )

    assert ended.id_token_info["status"] == "Accepted", case
    stored = _stored(tenant, transaction)
    assert (stored["status"], stored["energy_wh"]) == ("completed", 1_250), case


@pytest.mark.parametrize(("case", "with_evse"), [("TC_J_07", True), ("TC_J_08", False)])
def test_TC_J_07_TC_J_08_sampled_meter_values_event_type_started(
    local_stack: RunningStack, station: Pile, tenant: Tenant, case: str, with_evse: bool
) -> None:
    card = tenant.new_card()
    transaction = Transaction(station)

    started = transaction.started(
        "Authorized",
        charging_state="EVConnected",
        id_token=_token(card),
        wh=7_000,
        context="Transaction.Begin",
        with_evse=with_evse,
    )
    if not with_evse:  # the EVSE is named once the cable is in
        transaction.updated("CablePluggedIn", charging_state="EVConnected")
    transaction.ended("StopAuthorized", "Local", wh=7_600, context="Transaction.End")

    assert started.id_token_info["status"] == "Accepted", case
    stored = _stored(tenant, transaction)
    assert (stored["energy_wh"], stored["gun_no"]) == (600, 1), case


# -- P. Data transfer ------------------------------------------------------------------------------


def test_TC_P_02_data_transfer_to_the_csms_rejected_or_unknown(station: Pile) -> None:
    answer = station.call(
        call.DataTransfer(vendor_id="com.example.vendor", message_id="Telemetry", data={"v": 1})
    )

    assert answer.status in ("Rejected", "UnknownMessageId", "UnknownVendorId")


def test_TC_P_03_custom_data_receive_custom_data(local_stack: RunningStack, tenant: Tenant) -> None:
    custom = {"vendor_id": "com.example.conformance", "shift": "night", "level": 3}
    with Pile(local_stack, tenant.new_pile(V201), V201) as station:
        boot = station.call(
            call.BootNotification(
                charging_station={**STATION, "custom_data": custom},
                reason="PowerUp",
                custom_data=custom,
            )
        )
        status = station.call(_status(1, "Available", custom_data=custom))
        heartbeat = station.call(call.Heartbeat(custom_data=custom))

    assert boot.status == "Accepted"
    assert dataclasses.asdict(status) == {"custom_data": None}
    assert heartbeat.current_time


# -- the RPC framework: every CALL answered with a 2.0.1 code -----------------------------------


@dataclasses.dataclass
class FlyToTheMoon:
    """An action no OCPP version has."""

    altitude_m: int


def test_unknown_action_answered_not_implemented_and_csms_action_not_supported(
    station: Pile,
) -> None:
    with pytest.raises(OcppNotImplemented):
        station.call(FlyToTheMoon(altitude_m=384_400_000), skip_schema_validation=True)
    with pytest.raises(NotSupportedError):
        station.call(call.RequestStartTransaction(id_token=_token("X"), remote_start_id=1))

    assert station.call(call.Heartbeat()).current_time  # the connection stays up


MALFORMED_201: list[tuple[str, str | list[Any], str, str]] = [
    ("not JSON", "[2, 'single quotes']", "RpcFrameworkError", "-1"),
    ("not an array", '"just a string"', "RpcFrameworkError", "-1"),
    ("empty array", "[]", "RpcFrameworkError", "-1"),
    ("id too long", [2, "x" * 37, "Heartbeat", {}], "RpcFrameworkError", "-1"),
    ("CALL of 5 elements", [2, "m-1", "Heartbeat", {}, {}], "RpcFrameworkError", "m-1"),
    ("message type 5", [5, "m-2", "Heartbeat", {}], "MessageTypeNotSupported", "m-2"),
    ("payload not an object", [2, "m-3", "Heartbeat", "{}"], "FormatViolation", "m-3"),
    (
        "wrong type",
        [
            2,
            "m-4",
            "StatusNotification",
            {
                "timestamp": "2026-11-01T01:00:00Z",
                "connectorStatus": "Available",
                "evseId": "one",
                "connectorId": 1,
            },
        ],
        "TypeConstraintViolation",
        "m-4",
    ),
    ("required missing", [2, "m-5", "Authorize", {}], "OccurrenceConstraintViolation", "m-5"),
    ("additional property", [2, "m-6", "Heartbeat", {"surprise": 1}], "FormatViolation", "m-6"),
    (
        "enum violated",
        [
            2,
            "m-7",
            "BootNotification",
            {"reason": "Bored", "chargingStation": {"vendorName": "A", "model": "B"}},
        ],
        "PropertyConstraintViolation",
        "m-7",
    ),
    (
        "impossible date",
        [
            2,
            "m-8",
            "StatusNotification",
            {
                "timestamp": "2026-02-30T01:00:00Z",
                "connectorStatus": "Available",
                "evseId": 1,
                "connectorId": 1,
            },
        ],
        "PropertyConstraintViolation",
        "m-8",
    ),
    ("unknown action", [2, "m-9", "FlyToTheMoon", {}], "NotImplemented", "m-9"),
]


def test_malformed_frames_answered_with_the_2_0_1_error_codes(
    local_stack: RunningStack, station: Pile, tenant: Tenant
) -> None:
    with dial_raw(local_stack, station.pile_id, V201) as ws:
        answers = {name: exchange(ws, frame) for name, frame, _, _ in MALFORMED_201}
        heartbeat = exchange(ws, [2, "m-10", "Heartbeat", {}])

    for name, _, code, message_id in MALFORMED_201:
        assert answers[name][:3] == [4, message_id, code], name
        assert isinstance(answers[name][3], str) and isinstance(answers[name][4], dict), name
    assert heartbeat[:2] == [3, "m-10"]
    assert tenant.gun(station.pile_id, 1)["status"] is None  # no invalid status was stored


# -- reconnects ---------------------------------------------------------------------------------


def test_reconnect_keeps_the_registration_and_the_connector_status(
    local_stack: RunningStack, tenant: Tenant
) -> None:
    station_id = tenant.new_pile(V201)
    with Pile(local_stack, station_id, V201) as first:
        assert first.call(BOOT).status == "Accepted"
        first.call(_status(1, "Occupied"))
    tenant.api.wait_for(f"/operator/piles/{station_id}", lambda body: not body["is_online"])

    with Pile(local_stack, station_id, V201) as second:
        heartbeat = second.call(call.Heartbeat())  # no new boot after API Gateway's 2 h cut
        online = tenant.pile(station_id)["is_online"]

    assert heartbeat.current_time
    assert online is True
    assert tenant.gun(station_id, 1)["status"] == "Occupied"


# -- an independent OCPP-J client in strict schema mode against the demo's DEMO-201-FREE -------

DEMO_201_FREE = "DEMO-201-FREE"
SCHEMAS_201 = Path(ocpp.__file__).parent / "v201" / "schemas"


def _strict_call(
    ws: ClientConnection, action: str, payload: dict[str, Any], violations: list[str]
) -> dict[str, Any]:
    """One CALL by a hand-written client; the CALLRESULT checked against the official
    2.0.1 response schema (Draft 6, formats checked)."""
    message_id = uuid.uuid4().hex
    ws.send(json.dumps([2, message_id, action, payload]))
    frame = json.loads(ws.recv(timeout=30))
    assert isinstance(frame, list) and len(frame) == 3 and frame[:2] == [3, message_id], frame
    schema = json.loads((SCHEMAS_201 / f"{action}Response.json").read_text())
    validator = Draft6Validator(schema, format_checker=Draft6Validator.FORMAT_CHECKER)
    violations += [f"{action}: {error.message}" for error in validator.iter_errors(frame[2])]
    answer: dict[str, Any] = frame[2]
    return answer


def test_independent_ocpp_j_client_in_strict_schema_mode_on_demo_201_free(
    demo_stack: RunningStack,
) -> None:
    wait_for_demo(demo_stack)
    assert not Draft6Validator.FORMAT_CHECKER.conforms("2026-13-01T00:00:00Z", "date-time")
    violations: list[str] = []
    with sync_connect(
        f"{demo_stack.ws_url}/ocpp/{DEMO_201_FREE}",
        subprotocols=[Subprotocol(V201)],
        additional_headers=Pile.authorization(DEMO_201_FREE, demo.FREE_PILE_PASSWORD),
        open_timeout=30,
        ping_interval=None,
    ) as ws:
        boot = _strict_call(
            ws,
            "BootNotification",
            {"reason": "PowerUp", "chargingStation": {"vendorName": "Independent", "model": "J"}},
            violations,
        )
        heartbeat = _strict_call(ws, "Heartbeat", {}, violations)
        statuses = [
            _strict_call(
                ws,
                "StatusNotification",
                {
                    "timestamp": wire_now(),
                    "connectorStatus": "Available",
                    "evseId": evse_id,
                    "connectorId": 1,
                },
                violations,
            )
            for evse_id in (1, 2)
        ]
        card = _strict_call(
            ws, "Authorize", {"idToken": {"idToken": demo.CARD_NO, "type": "ISO14443"}}, violations
        )
        transfer = _strict_call(ws, "DataTransfer", {"vendorId": "independent.example"}, violations)

    assert violations == []
    assert boot["status"] == "Accepted"
    assert heartbeat["currentTime"]
    assert statuses == [{}, {}]
    assert card["idTokenInfo"]["status"] == "Accepted"
    assert transfer["status"] == "UnknownVendorId"
