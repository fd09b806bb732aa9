"""Builds the operator API's clients and repositories once per cold start, from env vars.

Each is built on first use, not at import: a request for base data never pays for the
Cognito client, a sign-in never pays for the ledger, and importing the handler stays cheap.
Tests replace these functions (or call ``cache_clear``) to pass fakes.
"""

from __future__ import annotations

import os
import secrets
from functools import cache
from typing import TYPE_CHECKING

from shared.domain.clock import system_clock
from shared.domain.ids import new_id

if TYPE_CHECKING:
    from shared.adapters.apigw_ws import WebSocketConnections
    from shared.adapters.dynamodb.base_data import DynamoBaseDataRepository
    from shared.adapters.dynamodb.gateways import DynamoGateways, DynamoSiteLoads
    from shared.adapters.dynamodb.pile_events import DynamoPileEvents
    from shared.adapters.dynamodb.port_readings import DynamoPortReadings
    from shared.services.base_data import HealthProbe
    from shared.services.base_data_cards import Wallets
    from shared.services.driver_accounts import DriverAccountStore
    from shared.services.modbus_commands import ModbusCommandPorts
    from shared.services.money_reports import RowDirectory, TransactionIndex
    from shared.services.ocpp.commands import CommandPorts, SessionLookup
    from shared.services.reconciliation import ReconciliationStore
    from shared.services.staff import StaffDirectory
    from shared.services.wallets import LedgerRepository

clock = system_clock
make_id = new_id
random_bytes = secrets.token_bytes


@cache
def base_data() -> DynamoBaseDataRepository:
    from shared.adapters.dynamodb.base_data import DynamoBaseDataRepository

    return DynamoBaseDataRepository(os.environ["BASE_DATA_TABLE"])


@cache
def staff_directory() -> StaffDirectory:
    from shared.adapters.cognito import CognitoStaffDirectory

    return CognitoStaffDirectory(os.environ["USER_POOL_ID"], os.environ["USER_POOL_CLIENT_ID"])


@cache
def wallets() -> Wallets:
    from shared.adapters.dynamodb.ledger import DynamoLedgerRepository
    from shared.services.base_data_wallets import LedgerWallets

    return LedgerWallets(DynamoLedgerRepository(os.environ["LEDGER_TABLE"]), clock)


@cache
def health_probe() -> HealthProbe:
    from shared.services.base_data import HealthProbe

    return HealthProbe(base_data(), clock)


@cache
def _dynamodb_client() -> object:
    import boto3

    return boto3.client("dynamodb")


@cache
def site_loads() -> DynamoSiteLoads:
    """Stations' live load items (SessionsTable), written by the Modbus bridge."""
    from shared.adapters.dynamodb.gateways import DynamoSiteLoads

    return DynamoSiteLoads(os.environ["SESSIONS_TABLE"], _dynamodb_client())


@cache
def port_readings() -> DynamoPortReadings:
    """E-bike port readings (SessionsTable ``PORTREAD#``), written by the Modbus bridge."""
    from shared.adapters.dynamodb.port_readings import DynamoPortReadings

    return DynamoPortReadings(os.environ["SESSIONS_TABLE"], _dynamodb_client())


@cache
def gateways() -> DynamoGateways:
    """Gateway items (BaseDataTable) and their frame counters (StatsTable)."""
    from shared.adapters.dynamodb.gateways import DynamoGateways

    return DynamoGateways(
        os.environ["BASE_DATA_TABLE"], _dynamodb_client(), stats_table=os.environ["STATS_TABLE"]
    )


@cache
def websocket_sender() -> WebSocketConnections:
    """The ``@connections`` API: CSMS-initiated calls to piles."""
    from shared.adapters.pile_commands import websocket_sender as sender_at

    return sender_at(os.environ["WS_MANAGEMENT_ENDPOINT"])


@cache
def command_ports() -> CommandPorts:
    """Remote commands to piles: pile routes, calls, schemas, the sender."""
    from shared.adapters.pile_commands import pile_command_ports

    return pile_command_ports(
        base_data_table=os.environ["BASE_DATA_TABLE"],
        sessions_table=os.environ["SESSIONS_TABLE"],
        dynamodb=_dynamodb_client(),
        sender=websocket_sender(),
        clock=clock,
        new_id=make_id,
    )


@cache
def port_command_ports() -> ModbusCommandPorts:
    """Port commands to e-bike piles: published to the gateway's down topic (iot-data)."""
    import boto3

    from shared.adapters.port_commands import port_command_ports as ports_on
    from shared.adapters.port_commands import setup_from

    return ports_on(
        **setup_from(
            os.environ,
            dynamodb=_dynamodb_client(),
            iot_data=boto3.client("iot-data"),
            clock=clock,
            new_id=make_id,
        )
    )


@cache
def pile_events() -> DynamoPileEvents:
    from shared.adapters.dynamodb.pile_events import DynamoPileEvents

    return DynamoPileEvents(os.environ["SESSIONS_TABLE"], _dynamodb_client())


@cache
def session_lookup() -> SessionLookup:
    """Charging sessions, read by a remote stop named by session id."""
    from shared.adapters.dynamodb.sessions import DynamoSessions

    return DynamoSessions(
        os.environ["SESSIONS_TABLE"], os.environ["BASE_DATA_TABLE"], _dynamodb_client()
    )


@cache
def ledger() -> LedgerRepository:
    """The ledger (driver-account actions post their transfers here)."""
    from shared.adapters.dynamodb.ledger import DynamoLedgerRepository

    return DynamoLedgerRepository(os.environ["LEDGER_TABLE"], _dynamodb_client())


@cache
def driver_accounts() -> DriverAccountStore:
    from shared.adapters.dynamodb.money_reports import DynamoDriverAccounts

    return DynamoDriverAccounts(os.environ["LEDGER_TABLE"], _dynamodb_client())


@cache
def transaction_index() -> TransactionIndex:
    from shared.adapters.dynamodb.money_reports import DynamoTransactionIndex

    return DynamoTransactionIndex(os.environ["LEDGER_TABLE"], _dynamodb_client())


@cache
def row_directory() -> RowDirectory:
    """Card holders and pile names for transaction-list rows."""
    from shared.adapters.dynamodb.money_reports import DynamoRowDirectory

    return DynamoRowDirectory(os.environ["BASE_DATA_TABLE"], _dynamodb_client())


@cache
def reconciliation_reports() -> ReconciliationStore:
    from shared.adapters.dynamodb.money_reports import DynamoReconciliationReports

    return DynamoReconciliationReports(os.environ["STATS_TABLE"], _dynamodb_client())


MONEY_BUILDERS = (
    ledger,
    driver_accounts,
    transaction_index,
    row_directory,
    reconciliation_reports,
)


def reset() -> None:
    """Forget every built client (tests start each case against fresh embedded AWS)."""
    for built in (base_data, staff_directory, wallets, health_probe):
        built.cache_clear()
    for command_built in (
        _dynamodb_client,
        websocket_sender,
        command_ports,
        port_command_ports,
        pile_events,
        session_lookup,
        site_loads,
        port_readings,
        gateways,
    ):
        command_built.cache_clear()
    for money_built in MONEY_BUILDERS:
        money_built.cache_clear()
