"""Clients and the RTU decoder of the Modbus bridge, built once per container."""

from __future__ import annotations

import functools
import os

import boto3

from functions.modbus_bridge.rtu import PymodbusRtuDecoder
from shared.adapters.dynamodb.gateways import DynamoGateways
from shared.domain.clock import Clock, system_clock

clock: Clock = system_clock


@functools.cache
def gateways() -> DynamoGateways:
    return DynamoGateways(os.environ["BASE_DATA_TABLE"], boto3.client("dynamodb"))


@functools.cache
def decoder() -> PymodbusRtuDecoder:
    return PymodbusRtuDecoder()


def reset() -> None:
    """Forget built clients (tests start a fresh embedded AWS per test)."""
    gateways.cache_clear()
    decoder.cache_clear()
