"""Builds the driver API's clients and repositories once per cold start, from env vars.

Each is built on first use, so importing the handler stays cheap and a request pays only
for what it touches. Tests replace these functions (or call ``reset``) to pass fakes.
"""

from __future__ import annotations

import os
import secrets
from functools import cache
from typing import TYPE_CHECKING, Any

from shared.domain.clock import system_clock
from shared.domain.ids import new_id

if TYPE_CHECKING:
    from shared.adapters.dynamodb.drivers import (
        DynamoDrivers,
        DynamoGunReservations,
        DynamoStationIndex,
    )
    from shared.adapters.dynamodb.ledger import DynamoLedgerRepository
    from shared.adapters.dynamodb.payment_orders import DynamoPaymentBaseData
    from shared.services.driver_discovery import DiscoveryPorts
    from shared.services.driver_login import IdentityExchange

clock = system_clock
make_id = new_id


def random_hex(length: int) -> str:
    """``length`` random lowercase hex digits (order numbers, charge id tags)."""
    return secrets.token_hex((length + 1) // 2)[:length]


@cache
def _dynamodb_client() -> Any:
    import boto3

    return boto3.client("dynamodb")


@cache
def _secrets_client() -> Any:
    import boto3

    return boto3.client("secretsmanager")


@cache
def signing_key_source() -> Any:
    from shared.adapters.driver_login import SecretSigningKey

    return SecretSigningKey(_secrets_client(), os.environ["DRIVER_AUTH_SECRET_ID"])


def signing_key() -> bytes:
    """The token signing key (read from Secrets Manager once per container)."""
    key: bytes = signing_key_source()()
    return key


@cache
def identities() -> IdentityExchange:
    """The sandbox exchange where the stack runs a sandbox (``SANDBOX_PAY_URL`` set: the local
    stack), else none: real WeChat/Alipay sign-in needs the apps' credentials (not built)."""
    from shared.adapters.driver_login import NoIdentityExchange, SandboxIdentityExchange

    if os.environ.get("SANDBOX_PAY_URL") or os.environ.get("DRIVER_LOGIN_SANDBOX") == "1":
        return SandboxIdentityExchange()
    return NoIdentityExchange()


@cache
def drivers() -> DynamoDrivers:
    from shared.adapters.dynamodb.drivers import DynamoDrivers

    return DynamoDrivers(os.environ["BASE_DATA_TABLE"], _dynamodb_client())


@cache
def station_index() -> DynamoStationIndex:
    from shared.adapters.dynamodb.drivers import DynamoStationIndex

    return DynamoStationIndex(os.environ["BASE_DATA_TABLE"], _dynamodb_client())


@cache
def base_data() -> DynamoPaymentBaseData:
    """Stations, piles and tariffs read as the platform (drivers see every operator's sites)."""
    from shared.adapters.dynamodb.base_data import DynamoBaseDataRepository
    from shared.adapters.dynamodb.payment_orders import DynamoPaymentBaseData

    return DynamoPaymentBaseData(
        DynamoBaseDataRepository(os.environ["BASE_DATA_TABLE"], _dynamodb_client())
    )


@cache
def ledger() -> DynamoLedgerRepository:
    from shared.adapters.dynamodb.ledger import DynamoLedgerRepository

    return DynamoLedgerRepository(os.environ["LEDGER_TABLE"], _dynamodb_client())


@cache
def reservations() -> DynamoGunReservations:
    from shared.adapters.dynamodb.drivers import DynamoGunReservations

    return DynamoGunReservations(os.environ["BASE_DATA_TABLE"], _dynamodb_client())


def qr_base_url() -> str:
    """The origin printed in gun QR codes (any origin scans: the path names the gun)."""
    return os.environ.get("QR_BASE_URL") or "https://charging.example.com"


@cache
def discovery() -> DiscoveryPorts:
    from shared.services.driver_discovery import DiscoveryPorts

    return DiscoveryPorts(
        index=station_index(),
        tariffs=base_data(),
        wallets=ledger(),
        reservations=reservations(),
        qr_base_url=qr_base_url(),
    )


BUILT = [
    ledger,
    reservations,
    discovery,
    _dynamodb_client,
    _secrets_client,
    signing_key_source,
    identities,
    drivers,
    station_index,
    base_data,
]


def reset() -> None:
    """Forget every built client (tests start each case against fresh embedded AWS)."""
    for built in BUILT:
        built.cache_clear()
