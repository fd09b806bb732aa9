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
    from shared.adapters.dynamodb.base_data import DynamoBaseDataRepository
    from shared.services.base_data import HealthProbe
    from shared.services.base_data_cards import Wallets
    from shared.services.staff import StaffDirectory

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


def reset() -> None:
    """Forget every built client (tests start each case against fresh embedded AWS)."""
    for built in (base_data, staff_directory, wallets, health_probe):
        built.cache_clear()
