"""``python -m infra.local run [--demo]``: the local stack in the foreground.

Prints a short banner and then ``local stack ready`` (the last startup line; tests wait
for it). Ctrl-C or SIGTERM stops every part, mosquitto included, and exits 0. Ports and
limits come from ``LOCAL_*`` variables (infra/local/settings.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from infra.local.settings import LocalSettings
from infra.local.stack import LocalStack, StackStartError, banner

log = logging.getLogger("local")

QUIET_LOGGERS = {
    "werkzeug": logging.ERROR,  # moto's per-request lines
    "aiohttp.access": logging.WARNING,
    "aiohttp.websocket": logging.ERROR,
    "aiohttp.server": logging.WARNING,
    "botocore": logging.WARNING,
    "boto3": logging.WARNING,
    "urllib3": logging.WARNING,
    "moto": logging.WARNING,
    "samtranslator": logging.WARNING,
}


def configure_logging(level: str) -> None:
    """One readable line per event on stderr: time, level, part, message."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(name)-14s %(message)s", "%H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name, quiet_level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(quiet_level, logging.getLevelName(level)))


async def serve(settings: LocalSettings, demo: bool) -> int:
    """Run the stack until SIGINT/SIGTERM; 0 after a clean stop, 1 if it could not start."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    stack = LocalStack(settings)
    try:
        starting = asyncio.ensure_future(stack.start())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            log.info("stopping before the stack was up")
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            return 0
        stopping.cancel()
        starting.result()
        print(banner(stack), flush=True)
        if demo:
            stack.start_demo()
        print("local stack ready", flush=True)
        await stop.wait()
        log.info("stopping")
        return 0
    except StackStartError as exc:
        log.error("the local stack could not start: %s", exc)
        return 1
    finally:
        await stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the whole platform locally until Ctrl-C")
    run.add_argument("--demo", action="store_true", help="seed demo data and start simulated piles")
    args = parser.parse_args(argv)
    settings = LocalSettings.from_env()
    configure_logging(settings.log_level)
    return asyncio.run(serve(settings, demo=args.demo))


if __name__ == "__main__":
    sys.exit(main())
