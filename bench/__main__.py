"""`make bench`: the project's own measurements (never asserted as timings in tests).

Prints each figure and writes them all to ``bench/results/latest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from bench import import_cost


def main() -> None:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # keep the figures readable
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters per module")
    parser.add_argument(
        "--only",
        choices=["imports", "calls", "fuzz", "ledger", "payments", "modbus"],
        default=None,
    )
    args = parser.parse_args()
    results: dict[str, Any] = {}
    if args.only in (None, "imports"):
        results["import_cost"] = import_cost.report(args.runs)
    if args.only in (None, "calls"):
        from bench import scenarios

        results["aws_calls"] = scenarios.report()
    if args.only in (None, "fuzz"):
        from bench import ocpp_fuzz

        results["ocpp_fuzz"] = ocpp_fuzz.run(frames=40_000)
    if args.only in (None, "ledger"):
        from bench import ledger_concurrency

        results["ledger_concurrency"] = ledger_concurrency.run(debits=8000, threads=16)
    if args.only in (None, "payments"):
        from bench import payment_calls, payment_chaos

        results["payment_calls"] = payment_calls.run()
        results["payment_chaos"] = payment_chaos.run(runs=400)
    if args.only in (None, "modbus"):
        from bench import modbus_cost

        results["modbus_cost"] = modbus_cost.run()
    out = Path(__file__).parent / "results" / "latest.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    print(f"\nresults written to {out}")


if __name__ == "__main__":
    main()
