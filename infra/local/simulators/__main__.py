"""Run one simulated pile or gateway against a running stack, from a terminal.

    python -m infra.local.simulators ocpp DEMO-16-FREE --password demo-pile-password-16 \
        --protocol ocpp1.6 --guns 2
    python -m infra.local.simulators gateway DEMO-GW-1 --iccid 89860000000000000001
    python -m infra.local.simulators gateway DTU-7 --iccid 89860000000000000007 \
        --mode transparent

Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType

from infra.local.simulators.ebike_gateway import EbikeGatewaySimulator
from infra.local.simulators.fleet import Fleet
from infra.local.simulators.ocpp_pile import PROTOCOLS, OcppPileSimulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m infra.local.simulators")
    kinds = parser.add_subparsers(dest="kind", required=True)
    ocpp = kinds.add_parser("ocpp", help="an OCPP car pile")
    ocpp.add_argument("pile_id")
    ocpp.add_argument("--password", required=True)
    ocpp.add_argument("--protocol", choices=PROTOCOLS, default="ocpp1.6")
    ocpp.add_argument("--guns", type=int, default=1)
    ocpp.add_argument("--ws-url", default="ws://127.0.0.1:9000")
    gateway = kinds.add_parser("gateway", help="an e-bike gateway with a 10-port pile")
    gateway.add_argument("gateway_id")
    gateway.add_argument("--iccid", required=True)
    gateway.add_argument("--mqtt-host", default="127.0.0.1")
    gateway.add_argument("--mqtt-port", type=int, default=1883)
    gateway.add_argument("--interval", type=float, default=60.0, help="seconds between polls")
    gateway.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="run the pile's and meter's clock this many times faster (energy, limits)",
    )
    gateway.add_argument(
        "--mode",
        choices=("envelope", "transparent"),
        default="envelope",
        help="envelope: polls its bus itself; transparent: a plain DTU the platform polls",
    )
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if args.kind == "ocpp":
        pile = OcppPileSimulator(
            args.pile_id, args.password, args.ws_url, args.protocol, gun_count=args.guns
        )
        Fleet([pile]).run(stop)
    else:
        simulator = EbikeGatewaySimulator(
            args.gateway_id,
            args.iccid,
            args.mqtt_host,
            args.mqtt_port,
            report_interval_s=args.interval,
            mode=args.mode,
            speed=args.speed,
        )
        Fleet([], [simulator]).run(stop)


if __name__ == "__main__":
    main()
