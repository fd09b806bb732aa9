"""Clients and repositories of ws_connect, built once per container from env vars.

The adapters (and boto3's client) are imported inside the builders, on the first connect,
so importing the handler stays cheap (docs/cold-start.md).
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING

from shared.domain.clock import Clock, system_clock

if TYPE_CHECKING:
    from shared.adapters.dynamodb.connections import DynamoConnections
    from shared.adapters.dynamodb.piles import DynamoPiles

clock: Clock = system_clock


@functools.cache
def piles() -> DynamoPiles:
    from shared.adapters.dynamodb.piles import DynamoPiles

    return DynamoPiles(os.environ["BASE_DATA_TABLE"], _dynamodb())


@functools.cache
def connections() -> DynamoConnections:
    from shared.adapters.dynamodb.connections import DynamoConnections

    return DynamoConnections(os.environ["CONNECTIONS_TABLE"], _dynamodb())


@functools.cache
def _dynamodb() -> object:
    import boto3

    return boto3.client("dynamodb")


def reset() -> None:
    """Forget built clients (tests start a fresh embedded AWS per test)."""
    for built in (piles, connections, _dynamodb):
        built.cache_clear()
