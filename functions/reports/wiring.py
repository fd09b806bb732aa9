"""Clients and ports of the reports function, built once per container from env vars.

Payment providers are those the deployment configures: WeChat Pay and Alipay by their
Secrets Manager ids, the local sandbox by its URL; a method without its setting is
reported as unavailable instead of failing the whole reconciliation.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from datetime import date, datetime

from shared.domain.clock import Clock, system_clock
from shared.services.reconciliation import ProviderRecordLike, ReconciliationPorts, RecordSource

clock: Clock = system_clock

# The setting each provider needs before it can be built.
PROVIDER_SETTINGS = {
    "wechat": "WECHATPAY_SECRET_ID",
    "alipay": "ALIPAY_SECRET_ID",
    "sandbox": "SANDBOX_PAY_URL",
}


class _LazyProvider:
    """A provider built on its first ``records`` call (its SDK and secret only if used)."""

    def __init__(self, method: str) -> None:
        self._method = method

    def records(self, day: date) -> Sequence[ProviderRecordLike]:
        from shared.adapters.payments import provider_for
        from shared.domain.errors import ChargingError, FeatureUnavailable, UpstreamFailure
        from shared.domain.payments import PaymentMethod

        try:
            provider = provider_for(PaymentMethod(self._method))
        except FeatureUnavailable:
            raise
        except ChargingError as error:
            # The template ships empty credentials: a secret with fields left blank (or no
            # setting) means the operator has not signed up with this provider.
            if error.fields.get("missing") or error.fields.get("setting"):
                raise FeatureUnavailable(
                    "payment provider not configured", method=self._method
                ) from error
            raise UpstreamFailure(
                "payment provider unavailable", method=self._method, code=error.code
            ) from error
        return provider.records(day)


def providers(environ: Mapping[str, str] | None = None) -> dict[str, RecordSource | None]:
    """The record source of each provider method, None where it is not configured."""
    env = os.environ if environ is None else environ
    return {
        method: _LazyProvider(method) if env.get(setting) else None
        for method, setting in PROVIDER_SETTINGS.items()
    }


def _now() -> datetime:
    # Looked up per call, so tests can replace ``clock`` after the ports were built.
    return clock()


@functools.cache
def reconciliation_ports() -> ReconciliationPorts:
    import boto3

    from shared.adapters.dynamodb.money_reports import (
        DynamoClearingEntries,
        DynamoOperatorDirectory,
        DynamoOrderOwners,
        DynamoReconciliationReports,
    )

    dynamodb = boto3.client("dynamodb")
    ledger = os.environ["LEDGER_TABLE"]
    return ReconciliationPorts(
        operators=DynamoOperatorDirectory(os.environ["BASE_DATA_TABLE"], dynamodb),
        clearing=DynamoClearingEntries(ledger, dynamodb),
        order_owners=DynamoOrderOwners(ledger, dynamodb),
        providers=providers(),
        store=DynamoReconciliationReports(os.environ["STATS_TABLE"], dynamodb),
        clock=_now,
    )


def reset() -> None:
    """Forget built clients (tests start a fresh embedded AWS per test)."""
    reconciliation_ports.cache_clear()
