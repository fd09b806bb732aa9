"""Remote commands to a pile (OCPP 1.6 and 2.0.1), their outcome, and the pile's events.

Every command route answers 202 with the call id: the pile answers later, on its own
connection, and ``GET .../commands/{call_id}`` shows the outcome. A command the pile's
OCPP version lacks answers 409; another operator's pile 404. Operator admins and
maintenance staff may send them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from functions.operator_api import wiring
from functions.operator_api.models import PILE_ID, PageQuery
from functions.operator_api.routes.command_models import (
    CALL_ID,
    RESERVATION_ID,
    AvailabilityBody,
    BaseReportBody,
    ChargingProfileClearQuery,
    ChargingProfilePut,
    CommandAccepted,
    CommandPage,
    CommandView,
    CompositeScheduleBody,
    ConfigurationBody,
    ConfigurationQuery,
    DataTransferBody,
    DiagnosticsBody,
    FirmwareBody,
    LocalListBody,
    LogsBody,
    MaintenanceStatusView,
    MaintenanceView,
    PileEventPage,
    PileEventView,
    RemoteStartBody,
    RemoteStopBody,
    ReservationBody,
    ResetBody,
    TriggerBody,
    UnlockBody,
)
from functions.operator_api.routes.common import caller, dump, path_id
from shared.domain.ocpp import commands as cmd
from shared.domain.ocpp.remote_calls import PendingCall
from shared.http_api import DocumentedRouter, parse_body, parse_query
from shared.services.ocpp import commands

router = DocumentedRouter("pile commands")
ONE = "/operator/piles/<pile_id>"
IDS = {"pile_id": PILE_ID}
COMMAND_ERRORS = (404, 409)


def _accepted(call: PendingCall) -> tuple[dict[str, Any], int]:
    return dump(CommandAccepted.of(call)), 202


def _send(pile_id: str, command: cmd.PileCommand) -> tuple[dict[str, Any], int]:
    pile_id = path_id(pile_id, PILE_ID, "pile")
    call = commands.issue_command(caller(router), pile_id, command, wiring.command_ports())
    return _accepted(call)


def _command_route(
    method: str, path: str, summary: str, body: type[BaseModel] | None = None, **extra: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register and document a command route: 202 with the call id."""
    return router.operation(
        method,
        f"{ONE}/{path}",
        summary,
        status=202,
        body=body,
        response=CommandAccepted,
        path_patterns={**IDS, **extra.pop("path_patterns", {})},
        errors=COMMAND_ERRORS,
        **extra,
    )


@_command_route(
    "POST",
    "remote-start",
    "Start charging on a gun for an id tag (1.6 RemoteStartTransaction, 2.0.1 "
    "RequestStartTransaction)",
    RemoteStartBody,
)
def remote_start(pile_id: str) -> tuple[dict[str, Any], int]:
    return _send(pile_id, parse_body(router.current_event, RemoteStartBody).command())


@_command_route(
    "POST",
    "remote-stop",
    "Stop a transaction, named by our session id or the pile's transaction id (1.6 "
    "RemoteStopTransaction, 2.0.1 RequestStopTransaction)",
    RemoteStopBody,
)
def remote_stop(pile_id: str) -> tuple[dict[str, Any], int]:
    pile_id = path_id(pile_id, PILE_ID, "pile")
    body = parse_body(router.current_event, RemoteStopBody)
    if body.ocpp_transaction_id is not None:
        return _send(pile_id, cmd.RemoteStop(body.ocpp_transaction_id))
    call = commands.stop_session(
        caller(router),
        pile_id,
        body.session_id or "",
        sessions=wiring.session_lookup(),
        ports=wiring.command_ports(),
    )
    return _accepted(call)


@_command_route("POST", "reset", "Reset the pile (soft or hard)", ResetBody)
def reset(pile_id: str) -> tuple[dict[str, Any], int]:
    return _send(pile_id, parse_body(router.current_event, ResetBody).command())


@_command_route("POST", "unlock", "Unlock a gun's connector (UnlockConnector)", UnlockBody)
def unlock(pile_id: str) -> tuple[dict[str, Any], int]:
    return _send(pile_id, parse_body(router.current_event, UnlockBody).command())


@_command_route(
    "POST",
    "availability",
    "Make a gun, or the whole pile, operative or inoperative (ChangeAvailability)",
    AvailabilityBody,
)
def availability(pile_id: str) -> tuple[dict[str, Any], int]:
    return _send(pile_id, parse_body(router.current_event, AvailabilityBody).command())


@_command_route(
    "GET",
    "configuration",
    "Read configuration keys (1.6 GetConfiguration, 2.0.1 GetVariables); the values "
    "arrive in the command's response",
    query=ConfigurationQuery,
)
def get_configuration(pile_id: str) -> tuple[dict[str, Any], int]:
    return _send(pile_id, parse_query(router.current_event, ConfigurationQuery).command())


@_command_route(
    "PUT",
    "configuration",
    "Set one configuration key (1.6 ChangeConfiguration, 2.0.1 SetVariables)",
    ConfigurationBody,
)
def set_configuration(pile_id: str) -> tuple[dict[str, Any], int]:
    return _send(pile_id, parse_body(router.current_event, ConfigurationBody).command())


@_command_route(
    "PUT",
    "charging-profiles",
    "Install a charging profile (power/current limit) on a gun or the pile (SetChargingProfile)",
    ChargingProfilePut,
)
def set_charging_profile(pile_id: str) -> tuple[dict[str, Any], int]:
    return _send(pile_id, parse_body(router.current_event, ChargingProfilePut).command())


@_command_route(
    "DELETE",
    "charging-profiles",
    "Clear charging profiles by id or by criteria; none given clears all (ClearChargingProfile)",
    query=ChargingProfileClearQuery,
)
def clear_charging_profiles(pile_id: str) -> tuple[dict[str, Any], int]:
    return _send(pile_id, parse_query(router.current_event, ChargingProfileClearQuery).command())


@_command_route(
    "POST",
    "composite-schedule",
    "Ask for the schedule the pile will follow on a gun (GetCompositeSchedule)",
    CompositeScheduleBody,
)
def composite_schedule(pile_id: str) -> tuple[dict[str, Any], int]:
    return _send(pile_id, parse_body(router.current_event, CompositeScheduleBody).command())


@_command_route(
    "POST",
    "reservations",
    "Reserve a gun (or any gun) for an id tag until a time (ReserveNow); the reservation "
    "id is in the request sent",
    ReservationBody,
)
def reserve(pile_id: str) -> tuple[dict[str, Any], int]:
    return _send(pile_id, parse_body(router.current_event, ReservationBody).command())


@_command_route(
    "DELETE",
    "reservations/<reservation_id>",
    "Cancel a reservation (CancelReservation)",
    path_patterns={"reservation_id": RESERVATION_ID},
)
def cancel_reservation(pile_id: str, reservation_id: str) -> tuple[dict[str, Any], int]:
    number = int(path_id(reservation_id, RESERVATION_ID, "reservation"))
    return _send(pile_id, cmd.CancelReservation(number))


@_command_route(
    "POST", "firmware", "Have the pile download and install firmware (UpdateFirmware)", FirmwareBody
)
def firmware(pile_id: str) -> tuple[dict[str, Any], int]:
    return _send(pile_id, parse_body(router.current_event, FirmwareBody).command())


@_command_route(
    "POST",
    "diagnostics",
    "Have an OCPP 1.6 pile upload diagnostics (GetDiagnostics); 2.0.1 piles: logs",
    DiagnosticsBody,
)
def diagnostics(pile_id: str) -> tuple[dict[str, Any], int]:
    return _send(pile_id, parse_body(router.current_event, DiagnosticsBody).command())


@_command_route(
    "POST",
    "logs",
    "Have an OCPP 2.0.1 pile upload a log (GetLog); 1.6 piles: diagnostics",
    LogsBody,
)
def logs(pile_id: str) -> tuple[dict[str, Any], int]:
    return _send(pile_id, parse_body(router.current_event, LogsBody).command())


@_command_route(
    "POST",
    "local-list",
    "Replace or update the pile's local list of cards (SendLocalList)",
    LocalListBody,
)
def local_list(pile_id: str) -> tuple[dict[str, Any], int]:
    return _send(pile_id, parse_body(router.current_event, LocalListBody).command())


@_command_route(
    "GET", "local-list/version", "Ask for the pile's local list version (GetLocalListVersion)"
)
def local_list_version(pile_id: str) -> tuple[dict[str, Any], int]:
    return _send(pile_id, cmd.GetLocalListVersion())


@_command_route("DELETE", "cache", "Clear the pile's authorization cache (ClearCache)")
def clear_cache(pile_id: str) -> tuple[dict[str, Any], int]:
    return _send(pile_id, cmd.ClearCache())


@_command_route(
    "POST",
    "data-transfer",
    "Send vendor-specific data (DataTransfer)",
    DataTransferBody,
)
def data_transfer(pile_id: str) -> tuple[dict[str, Any], int]:
    return _send(pile_id, parse_body(router.current_event, DataTransferBody).command())


@_command_route(
    "POST",
    "trigger",
    "Have the pile send a message now (TriggerMessage)",
    TriggerBody,
)
def trigger(pile_id: str) -> tuple[dict[str, Any], int]:
    return _send(pile_id, parse_body(router.current_event, TriggerBody).command())


@_command_route(
    "POST",
    "base-report",
    "Have an OCPP 2.0.1 pile report its device model (GetBaseReport); the report arrives "
    "as notify_report events",
    BaseReportBody,
)
def base_report(pile_id: str) -> tuple[dict[str, Any], int]:
    return _send(pile_id, parse_body(router.current_event, BaseReportBody).command())


# --- reading back --------------------------------------------------------------------------


@router.operation(
    "GET",
    f"{ONE}/commands",
    "The pile's commands, newest first (kept 7 days)",
    query=PageQuery,
    response=CommandPage,
    path_patterns=IDS,
    errors=COMMAND_ERRORS,
)
def list_commands(pile_id: str) -> dict[str, Any]:
    pile_id = path_id(pile_id, PILE_ID, "pile")
    query = parse_query(router.current_event, PageQuery)
    calls, token = commands.list_commands(
        caller(router), pile_id, query.limit, query.next_token, wiring.command_ports()
    )
    return dump(CommandPage(items=[CommandView.of(call) for call in calls], next_token=token))


@router.operation(
    "GET",
    f"{ONE}/commands/<call_id>",
    "One command: its state and the pile's answer",
    response=CommandView,
    path_patterns={**IDS, "call_id": CALL_ID},
    errors=COMMAND_ERRORS,
)
def get_command(pile_id: str, call_id: str) -> dict[str, Any]:
    pile_id = path_id(pile_id, PILE_ID, "pile")
    call_id = path_id(call_id, CALL_ID, "command")
    call = commands.get_command(caller(router), pile_id, call_id, wiring.command_ports())
    return dump(CommandView.of(call))


@router.operation(
    "GET",
    f"{ONE}/events",
    "The pile's events: firmware, diagnostics and log progress, monitoring and security "
    "events, reports (kept 30 days), newest first",
    query=PageQuery,
    response=PileEventPage,
    path_patterns=IDS,
    errors=COMMAND_ERRORS,
)
def list_events(pile_id: str) -> dict[str, Any]:
    pile_id = path_id(pile_id, PILE_ID, "pile")
    query = parse_query(router.current_event, PageQuery)
    ports = wiring.command_ports()
    events, token = commands.list_pile_events(
        caller(router),
        pile_id,
        query.limit,
        query.next_token,
        piles=ports.piles,
        events=wiring.pile_events(),
    )
    return dump(PileEventPage(items=[PileEventView.of(e) for e in events], next_token=token))


@router.operation(
    "GET",
    f"{ONE}/maintenance",
    "The pile's latest firmware, diagnostics and log upload status",
    response=MaintenanceView,
    path_patterns=IDS,
    errors=COMMAND_ERRORS,
)
def maintenance(pile_id: str) -> dict[str, Any]:
    pile_id = path_id(pile_id, PILE_ID, "pile")
    statuses = commands.pile_maintenance(
        caller(router), pile_id, piles=wiring.command_ports().piles, events=wiring.pile_events()
    )
    return dump(MaintenanceView(items=[MaintenanceStatusView.of(s) for s in statuses]))
