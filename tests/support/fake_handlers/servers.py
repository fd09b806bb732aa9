"""Run aiohttp apps of the local stack on a background event loop, on free ports.

The tests drive them with ordinary blocking clients (websockets' sync client, boto3,
requests) from the test thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")


class BackgroundLoop:
    """An event loop in a daemon thread; ``call`` runs a coroutine on it and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def call(self, factory: Callable[[], Awaitable[T]], timeout_s: float = 30.0) -> T:
        async def run() -> T:
            return await factory()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout_s)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


@contextmanager
def serving(app: web.Application) -> Iterator[tuple[BackgroundLoop, int]]:
    """Serve ``app`` on 127.0.0.1 at a free port; yields the loop and the port."""
    background = BackgroundLoop()
    runner = web.AppRunner(app, access_log=None)

    async def start() -> int:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server: Any = site._server  # the asyncio server, to learn the port bound
        return int(server.sockets[0].getsockname()[1])

    port = background.call(start)
    try:
        yield background, port
    finally:
        background.call(runner.cleanup)
        background.stop()
