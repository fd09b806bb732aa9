"""The local MQTT broker: Debian's mosquitto, started with a generated config.

IoT Core's broker role locally (MQTT 3.1.1 and 5). Listens on 127.0.0.1 only, anonymous
clients allowed (there is no device certificate locally), no persistence (IoT Core keeps
no session state across our restarts either). Its log goes to
``<state dir>/mosquitto.log``. ``make run`` installs the package (apt) on a fresh machine.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import getpass
import logging
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("local.mqtt")

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    """A pre-exec hook making the broker exit when the thread that started it goes away.

    A stack killed hard (SIGKILL, a crashed test run) must not leave mosquitto holding the
    port. libc is loaded here, in the parent, so the hook only makes one system call.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

    def hook() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return hook


class BrokerFailed(RuntimeError):
    """mosquitto did not start, or stopped accepting connections."""


class MosquittoBroker:
    """One mosquitto process owned by the local stack."""

    def __init__(
        self,
        host: str,
        port: int,
        state_dir: Path,
        executable: str = "/usr/sbin/mosquitto",
    ) -> None:
        self.host = host
        self.port = port
        self._state_dir = state_dir
        self._executable = executable
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def config_path(self) -> Path:
        return self._state_dir / "mosquitto.conf"

    @property
    def log_path(self) -> Path:
        return self._state_dir / "mosquitto.log"

    def config_text(self) -> str:
        return "\n".join(
            [
                "# Written by infra/local/mqtt_broker.py at every local stack start.",
                f"listener {self.port} {self.host}",
                # Keep our user: a privilege drop would also clear the parent-death signal.
                f"user {getpass.getuser()}",
                "allow_anonymous true",
                "persistence false",
                "log_dest stdout",
                "log_type error",
                "log_type warning",
                "log_type notice",
                "connection_messages false",
                "max_queued_messages 10000",
                "",
            ]
        )

    def start(self, timeout_s: float = 10.0) -> None:
        """Start mosquitto and wait until it accepts TCP connections.

        Call it from the thread that lives as long as the stack (the main thread): the
        broker is tied to that thread's life.

        Raises:
            BrokerFailed: the executable is missing, it exited, or it never listened.
        """
        if not Path(self._executable).exists():
            raise BrokerFailed(
                f"{self._executable} not found: install Debian's mosquitto "
                "(make run does: apt-get install mosquitto)"
            )
        if not self._port_is_free():
            raise BrokerFailed(f"{self.host}:{self.port} is in use (another broker or stack?)")
        self._state_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config_text(), encoding="utf-8")
        with self.log_path.open("ab") as log_file:
            self._process = subprocess.Popen(  # noqa: S603 - fixed executable and our own config
                [self._executable, "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the stack, which stops mosquitto itself
                preexec_fn=_die_with_parent(),  # noqa: PLW1509 - one prctl call, libc preloaded
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerFailed(
                    f"mosquitto exited with {self._process.returncode}: {self._log_tail()}"
                )
            if self._accepts():
                log.info("mosquitto listening on %s:%d", self.host, self.port)
                return
            time.sleep(0.05)
        self.stop()
        raise BrokerFailed(f"mosquitto did not listen on {self.host}:{self.port} in time")

    def stop(self, timeout_s: float = 5.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout_s)
        log.info("mosquitto stopped")

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _port_is_free(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((self.host, self.port))
            except OSError:
                return False
        return True

    def _accepts(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        return " | ".join(lines[-5:])
