"""One-off: index the driver wallets opened before LedgerTable's GSI3 (the per-driver
wallet list, ``GET /driver/wallets``) existed.

Wallets opened since carry the index from their first write; older ones are listed only
once this has run against the deployed table (idempotent: run it again after a partial
run, or to check: it then reports 0 indexed):

    AWS_PROFILE=... python -m infra.backfill_wallet_index --table <LedgerTable name>
"""

from __future__ import annotations

import argparse
import sys

import boto3

from shared.adapters.dynamodb.ledger import backfill_driver_wallet_index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--table", required=True, help="the deployed LedgerTable's name")
    parser.add_argument("--region", default=None, help="AWS region (default: the session's)")
    args = parser.parse_args(argv)
    client = boto3.client("dynamodb", region_name=args.region)
    result = backfill_driver_wallet_index(client, args.table)
    sys.stdout.write(
        f"driver wallets without the index: {result.scanned}, indexed now: {result.indexed}\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
