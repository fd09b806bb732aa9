"""Clients, stores and the RTU decoder of the Modbus bridge, built once per container."""

from __future__ import annotations

import functools
import os

import boto3

from functions.modbus_bridge.rtu import PymodbusRtuDecoder
from shared.adapters.dynamodb.gateways import DynamoGateways, DynamoSiteLoads
from shared.adapters.dynamodb.piles import DynamoPileFaults, DynamoPiles
from shared.adapters.dynamodb.port_readings import DynamoPortReadings
from shared.domain.clock import Clock, system_clock
from shared.domain.modbus_maps import shipped_maps
from shared.services.modbus_uplink import NoPortEvents, PortEvents, UplinkPorts

clock: Clock = system_clock
# The e-bike session side replaces this with its PortEvents (default: nothing listens).
port_events: PortEvents = NoPortEvents()


@functools.cache
def _dynamodb() -> object:
    return boto3.client("dynamodb")


@functools.cache
def gateways() -> DynamoGateways:
    return DynamoGateways(
        os.environ["BASE_DATA_TABLE"], _dynamodb(), stats_table=os.environ.get("STATS_TABLE")
    )


@functools.cache
def decoder() -> PymodbusRtuDecoder:
    return PymodbusRtuDecoder()


@functools.cache
def uplink() -> UplinkPorts:
    client = _dynamodb()
    sessions = os.environ["SESSIONS_TABLE"]
    return UplinkPorts(
        gateways=gateways(),
        decoder=decoder(),
        readings=DynamoPortReadings(sessions, client),
        statuses=DynamoPiles(os.environ["BASE_DATA_TABLE"], client),
        faults=DynamoPileFaults(os.environ["FAULTS_TABLE"], client),
        site_loads=DynamoSiteLoads(sessions, client),
        maps=shipped_maps(),
        events=port_events,
    )


def reset() -> None:
    """Forget built clients (tests start a fresh embedded AWS per test)."""
    for cached in (_dynamodb, gateways, decoder, uplink):
        cached.cache_clear()
