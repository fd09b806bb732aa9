"""Cold start, guarded without timing: importing a handler in a fresh interpreter leaves the
heavy modules it does not need at import unloaded (DESIGN.md target: no handler above 1.5x
``import boto3``; ``python -m bench --only imports`` measures it, docs/cold-start.md has the
figures). A new module-level import of boto3, an adapter, a payment SDK, the OCPP library
or the operator API's route modules fails here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Loaded by none of the handlers at import: payment SDKs, the OCPP and Modbus libraries.
NEVER = ("ocpp", "alipay", "wechatpayv3", "pymodbus")
# The clients and adapters the lazy wiring builds on first use.
ADAPTERS = ("boto3", "shared.adapters.dynamodb", "shared.adapters.pile_commands")

NOT_AT_IMPORT = {
    "functions.operator_api.handler": (
        *NEVER,
        *ADAPTERS,
        "functions.operator_api.routes",
        "functions.operator_api.models",
        "functions.operator_api.openapi",
        "shared.services",
        "shared.adapters",
    ),
    "functions.driver_api.handler": (*NEVER, *ADAPTERS, "shared.adapters.payments"),
    "functions.payments.handler": (
        *NEVER,
        *ADAPTERS,
        "shared.adapters.payments",
        "shared.adapters.stepfunctions",
        "shared.adapters.ocpp_schemas",
        "fastjsonschema",
        "pydantic",
    ),
    "functions.housekeeping.handler": (
        *NEVER,
        *ADAPTERS,
        "shared.adapters.ebike_charging",
        "shared.adapters.ocpp_schemas",
        "fastjsonschema",
        "pydantic",
    ),
    "functions.reports.handler": (*NEVER, *ADAPTERS, "pydantic"),
    "functions.faults.handler": (*NEVER, *ADAPTERS, "pydantic"),
    "functions.ocpp_router.handler": (
        *NEVER,
        *ADAPTERS,
        "shared.adapters",
        "fastjsonschema",
        "pydantic",
    ),
    "functions.ws_connect.handler": (*NEVER, *ADAPTERS, "shared.adapters", "pydantic"),
    # The bridge imports pymodbus when a frame first needs it (functions/modbus_bridge/rtu.py).
    "functions.modbus_bridge.handler": ("ocpp", "alipay", "wechatpayv3", "pymodbus"),
}

_PROBE = (
    "import importlib, json, sys; importlib.import_module({module!r}); "
    "print(json.dumps(sorted(sys.modules)))"
)


def _modules_after_import(module: str) -> list[str]:
    env = {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "WS_MANAGEMENT_ENDPOINT": "http://127.0.0.1:9/local",
    }
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.format(module=module)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    loaded: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


@pytest.mark.parametrize("handler", sorted(NOT_AT_IMPORT))
def test_importing_the_handler_leaves_heavy_modules_unloaded(handler: str) -> None:
    loaded = _modules_after_import(handler)
    assert handler in loaded
    heavy = sorted(
        name for name in loaded for package in NOT_AT_IMPORT[handler] if _under(name, package)
    )
    assert heavy == []


def test_every_handler_is_guarded() -> None:
    handlers = {
        f"functions.{path.parent.name}.handler"
        for path in (ROOT / "functions").glob("*/handler.py")
    }
    assert handlers == set(NOT_AT_IMPORT)
