"""Clients and repositories of ws_connect, built once per container from env vars."""

from __future__ import annotations

import functools
import os

import boto3

from shared.adapters.dynamodb.connections import DynamoConnections
from shared.adapters.dynamodb.piles import DynamoPiles
from shared.domain.clock import Clock, system_clock

clock: Clock = system_clock


@functools.cache
def piles() -> DynamoPiles:
    return DynamoPiles(os.environ["BASE_DATA_TABLE"], _dynamodb())


@functools.cache
def connections() -> DynamoConnections:
    return DynamoConnections(os.environ["CONNECTIONS_TABLE"], _dynamodb())


@functools.cache
def _dynamodb() -> object:
    return boto3.client("dynamodb")


def reset() -> None:
    """Forget built clients (tests start a fresh embedded AWS per test)."""
    for built in (piles, connections, _dynamodb):
        built.cache_clear()
