"""Write (or check) the committed OpenAPI documents generated from the API's routes and models.

python -m infra.openapi          # rewrite docs/openapi/operator.json and driver.json
python -m infra.openapi --check  # exit 1 when the committed file is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OPERATOR_DOCUMENT = ROOT / "docs" / "openapi" / "operator.json"
DRIVER_DOCUMENT = ROOT / "docs" / "openapi" / "driver.json"


def _operator() -> dict[str, Any]:
    from functions.operator_api.openapi import operator_openapi

    return operator_openapi()


def _driver() -> dict[str, Any]:
    from functions.driver_api.openapi import driver_openapi

    return driver_openapi()


DOCUMENTS: dict[Path, Callable[[], dict[str, Any]]] = {
    OPERATOR_DOCUMENT: _operator,
    DRIVER_DOCUMENT: _driver,
}


def render(document: dict[str, Any]) -> str:
    """The committed form: sorted keys, two-space indent, one trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def stale_documents() -> list[Path]:
    """Committed documents that differ from what the code generates now."""
    return [
        path
        for path, build in DOCUMENTS.items()
        if not path.exists() or path.read_text(encoding="utf-8") != render(build())
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when a document is stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_documents()
        for path in stale:
            sys.stderr.write(f"stale: {path.relative_to(ROOT)} (run python -m infra.openapi)\n")
        return 1 if stale else 0
    for path, build in DOCUMENTS.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(build()), encoding="utf-8")
        sys.stdout.write(f"wrote {path.relative_to(ROOT)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
