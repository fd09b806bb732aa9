"""Cold-start import cost of every Lambda handler module, side by side with ``import boto3``.

Each measurement runs in a fresh interpreter (as a Lambda cold start does), alternating
the handler and the boto3 baseline so machine noise hits both alike; the figure is the
ratio of medians. DESIGN.md's target: no handler above 1.5x ``import boto3``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.5

_PROBE = (
    "import time, importlib; t = time.perf_counter(); importlib.import_module({module!r}); "
    "print(time.perf_counter() - t)"
)


def handler_modules() -> list[str]:
    """Every ``functions/<name>/handler.py`` as a module path."""
    return sorted(
        f"functions.{path.parent.name}.handler"
        for path in (ROOT / "functions").glob("*/handler.py")
    )


def _time_import(module: str) -> float:
    env = {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "POWERTOOLS_TRACE_DISABLED": "1",
    }
    # Any non-empty PYTHONDONTWRITEBYTECODE (even "0") stops Python writing bytecode: the
    # warm-up run could not cache it, and every run of a module edited since its last .pyc
    # compiled it again: the figures measured the compiler, not the import.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for var in (
        "BASE_DATA_TABLE",
        "CONNECTIONS_TABLE",
        "SESSIONS_TABLE",
        "LEDGER_TABLE",
        "FAULTS_TABLE",
        "STATS_TABLE",
        "IDEMPOTENCY_TABLE",
        "USER_POOL_ID",
        "USER_POOL_CLIENT_ID",
    ):
        env.setdefault(var, f"bench-{var.lower()}")
    env.setdefault("WS_MANAGEMENT_ENDPOINT", "http://127.0.0.1:9/local")
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.format(module=module)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout.strip().splitlines()[-1])


def measure(runs: int = 7) -> list[dict[str, object]]:
    """Median import seconds per handler and its ratio to ``import boto3``."""
    modules = handler_modules()
    for module in [*modules, "boto3"]:  # warm the bytecode cache once
        _time_import(module)
    rows: list[dict[str, object]] = []
    for module in modules:
        handler_times: list[float] = []
        boto_times: list[float] = []
        for _ in range(runs):
            boto_times.append(_time_import("boto3"))
            handler_times.append(_time_import(module))
        handler_median = statistics.median(handler_times)
        boto_median = statistics.median(boto_times)
        ratio = handler_median / boto_median
        rows.append(
            {
                "module": module,
                "handler_ms": round(handler_median * 1000, 1),
                "boto3_ms": round(boto_median * 1000, 1),
                "ratio": round(ratio, 2),
                "within_target": ratio <= TARGET_RATIO,
            }
        )
    return rows


def report(runs: int = 7) -> list[dict[str, object]]:
    rows = measure(runs)
    print(f"\n== Cold-start import cost (median of {runs} fresh interpreters each)")
    print(f"{'handler module':45} {'import ms':>10} {'boto3 ms':>9} {'ratio':>6}  target<=1.5")
    for row in rows:
        mark = "ok" if row["within_target"] else "OVER"
        print(
            f"{row['module']!s:45} {row['handler_ms']!s:>10} {row['boto3_ms']!s:>9} "
            f"{row['ratio']!s:>6}  {mark}"
        )
    return rows
