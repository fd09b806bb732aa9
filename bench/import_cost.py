"""Cold-start import cost of every Lambda handler module, side by side with ``import boto3``.

Each measurement runs in a fresh interpreter (as a Lambda cold start does), alternating
the handler and the boto3 baseline so machine noise hits both alike; the figure is the
ratio of medians. DESIGN.md's target: no handler above 1.5x ``import boto3``.

What a wiring builds on first use is paid by the first answer, not saved: the second table
times the import plus that first use for the handlers whose wiring defers it
(docs/cold-start.md).
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
    return _time_code(_PROBE.format(module=module))


def _time_code(code: str) -> float:
    """Seconds the last line ``code`` prints, run in a fresh interpreter."""
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
        [sys.executable, "-c", code],
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


def _api_request(handler: str, method: str, path: str, body: str) -> str:
    """Import ``handler`` and answer one HTTP API (v2) request that needs no AWS call."""
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "stage": "$default",
            "requestId": "bench",
            "http": {"method": method, "path": path, "sourceIp": "192.0.2.1"},
        },
        "body": body,
        "isBase64Encoded": False,
    }
    return (
        f"from {handler} import lambda_handler; "
        "from types import SimpleNamespace as C; "
        f"answer = lambda_handler({event!r}, C(function_name='bench', memory_limit_in_mb=128, "
        "invoked_function_arn='arn:aws:lambda:us-east-1:0:function:bench', "
        "aws_request_id='bench')); "
        "assert answer['statusCode'] in (400, 401, 422), answer"
    )


# What a cold start pays by its first answer: the import plus what the wiring builds on
# first use (boto3 clients are created, nothing is called).
FIRST_USE = {
    "operator_api: first POST /operator/auth/login (400)": _api_request(
        "functions.operator_api.handler", "POST", "/operator/auth/login", '{"username": 1}'
    ),
    "operator_api: first POST /operator/piles/p1/reset (401)": _api_request(
        "functions.operator_api.handler", "POST", "/operator/piles/p1/reset", "{}"
    ),
    "driver_api: first POST /driver/auth/login (400)": _api_request(
        "functions.driver_api.handler", "POST", "/driver/auth/login", '{"x": 1}'
    ),
    "payments: import + ports() + charging()": (
        "import functions.payments.handler; from functions.payments import wiring; "
        "wiring.ports(); wiring.charging()"
    ),
    "housekeeping: import + ports()": (
        "import functions.housekeeping.handler; from functions.housekeeping import wiring; "
        "wiring.ports()"
    ),
    "ocpp_router: import + ports() + schemas()": (
        "import functions.ocpp_router.handler; from functions.ocpp_router import wiring; "
        "wiring.ports(); wiring.schemas()"
    ),
}
_TIMED = "import time\nstarted = time.perf_counter()\n{code}\nprint(time.perf_counter() - started)"


def measure_first_use(runs: int = 7) -> list[dict[str, object]]:
    """Median seconds of import + first use per ``FIRST_USE`` probe, beside ``import boto3``."""
    for code in FIRST_USE.values():  # warm the bytecode cache, and fail early if one breaks
        _time_code(_TIMED.format(code=code))
    rows: list[dict[str, object]] = []
    for label, code in FIRST_USE.items():
        probe_times: list[float] = []
        boto_times: list[float] = []
        for _ in range(runs):
            boto_times.append(_time_import("boto3"))
            probe_times.append(_time_code(_TIMED.format(code=code)))
        probe_median = statistics.median(probe_times)
        boto_median = statistics.median(boto_times)
        rows.append(
            {
                "first_use": label,
                "ms": round(probe_median * 1000, 1),
                "boto3_ms": round(boto_median * 1000, 1),
                "ratio": round(probe_median / boto_median, 2),
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
    first = measure_first_use(runs)
    print("\n== Import + first use (what the first answer pays; no target, docs/cold-start.md)")
    print(f"{'probe':58} {'ms':>7} {'boto3 ms':>9} {'ratio':>6}")
    for row in first:
        print(
            f"{row['first_use']!s:58} {row['ms']!s:>7} {row['boto3_ms']!s:>9} {row['ratio']!s:>6}"
        )
    return [*rows, *first]
