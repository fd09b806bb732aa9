"""End-to-end fixtures: the real local stack (``python -m infra.local run``) in a subprocess.

Each stack gets free ports and its own state directory, so a plain stack and a demo stack
(and a developer's own ``make run``) can run side by side. The fixtures wait for the
``local stack ready`` line, and at the end stop the stack with a signal and assert that
it exits 0.
"""

from __future__ import annotations

import collections
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "local stack ready"
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0  # a loaded 2-core machine: runners drain, mosquitto stops, moto stops


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free right now on 127.0.0.1."""
    probes = []
    try:
        for _ in range(count):
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            probes.append(probe)
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


@dataclass
class RunningStack:
    """A local stack subprocess and where it answers."""

    process: subprocess.Popen[str]
    state_dir: Path
    aws_port: int
    http_port: int
    ws_port: int
    mqtt_port: int
    sandbox_pay_port: int
    output: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=2000))
    ready: threading.Event = field(default_factory=threading.Event)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def ws_url(self) -> str:
        """Piles open ``{ws_url}/ocpp/{pileId}``."""
        return f"ws://127.0.0.1:{self.ws_port}"

    @property
    def mqtt_host(self) -> str:
        return "127.0.0.1"

    @property
    def aws_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.aws_port}"

    @property
    def sandbox_pay_url(self) -> str:
        """The sandbox payment provider: a driver's "pay" is a confirm call here."""
        return f"http://127.0.0.1:{self.sandbox_pay_port}"

    @property
    def management_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ws_port}/local"

    def log_tail(self, lines: int = 60) -> str:
        return "".join(list(self.output)[-lines:])

    def stop(self, signum: int = signal.SIGINT, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """Send ``signum`` and wait for the exit code (killed after ``timeout_s``)."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
                raise
        return int(self.process.returncode)


def start_stack(
    state_dir: Path, *, demo: bool = False, env: dict[str, str] | None = None
) -> RunningStack:
    """Start ``python -m infra.local run`` on free ports; return once it is ready.

    Raises:
        RuntimeError: the stack exited or was not ready within two minutes.
    """
    aws_port, http_port, ws_port, mqtt_port, sandbox_pay_port = free_ports(5)
    child_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_ENDPOINT_URL", "MOTO_", "LOCAL_"))
    }
    child_env.update(
        {
            "LOCAL_AWS_PORT": str(aws_port),
            "LOCAL_HTTP_PORT": str(http_port),
            "LOCAL_WS_PORT": str(ws_port),
            "LOCAL_MQTT_PORT": str(mqtt_port),
            "LOCAL_SANDBOX_PAY_PORT": str(sandbox_pay_port),
            "LOCAL_STACK_DIR": str(state_dir),
            "PYTHONUNBUFFERED": "1",
        }
    )
    child_env.update(env or {})
    command = [sys.executable, "-m", "infra.local", "run", *(["--demo"] if demo else [])]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=child_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    stack = RunningStack(
        process, state_dir, aws_port, http_port, ws_port, mqtt_port, sandbox_pay_port
    )

    def read_output() -> None:
        assert process.stdout is not None
        for line in process.stdout:  # drained to the end, so the pipe never fills
            stack.output.append(line)
            if line.strip() == READY_LINE:
                stack.ready.set()

    threading.Thread(target=read_output, name="stack-output", daemon=True).start()
    waited = 0.0
    while not stack.ready.wait(0.5):
        waited += 0.5
        if process.poll() is not None or waited >= START_TIMEOUT_S:
            stack.stop(signal.SIGKILL)
            raise RuntimeError(
                f"the local stack did not become ready (exit {process.returncode}):\n"
                + stack.log_tail()
            )
    return stack


def _stack_fixture(tmp_path_factory: pytest.TempPathFactory, demo: bool) -> Iterator[RunningStack]:
    stack = start_stack(tmp_path_factory.mktemp("demo-stack" if demo else "stack"), demo=demo)
    try:
        yield stack
    finally:
        code = stack.stop(signal.SIGTERM)
        assert code == 0, f"the local stack exited with {code}:\n{stack.log_tail()}"


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The local stack, up for the whole session (stopped with SIGTERM, must exit 0)."""
    yield from _stack_fixture(tmp_path_factory, demo=False)


@pytest.fixture(scope="session")
def demo_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The local stack with ``--demo``, on its own ports."""
    yield from _stack_fixture(tmp_path_factory, demo=True)
