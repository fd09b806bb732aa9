"""Simulated charging hardware for the demo and the end-to-end tests: OCPP 1.6J / 2.0.1
car piles over WebSocket and a 4G gateway carrying Modbus RTU frames of a 10-port e-bike
pile and a site meter over MQTT."""

from infra.local.simulators.ebike_gateway import EbikeGatewaySimulator
from infra.local.simulators.fleet import Fleet
from infra.local.simulators.modbus_frames import PortFault, PortState
from infra.local.simulators.ocpp_pile import GunState, OcppPileSimulator

__all__ = [
    "EbikeGatewaySimulator",
    "Fleet",
    "GunState",
    "OcppPileSimulator",
    "PortFault",
    "PortState",
]
