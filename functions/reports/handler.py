"""Reports: the daily reconciliation of the ledger with the payment providers
(``{"job": "daily_reconciliation"}`` from the schedule, optionally ``"day": "YYYY-MM-DD"``
to run one again); statistics over HTTP and the stream records are declared now and
built by a later issue."""

from __future__ import annotations

from typing import Any

from functions.reports import wiring
from shared.domain.errors import ChargingError, InvalidInput
from shared.observability import logger
from shared.unavailable import http_unavailable

DAILY_RECONCILIATION = "daily_reconciliation"


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "requestContext" in event:
        return http_unavailable("reports", issue=None)
    if "job" in event:
        return _job(event)
    logger.info("report records deferred", extra={"records": len(event.get("Records", []))})
    return {"batchItemFailures": []}


def _job(event: dict[str, Any]) -> dict[str, Any]:
    from shared.services import reconciliation

    job = str(event.get("job") or "")[:64]
    try:
        if job != DAILY_RECONCILIATION:
            raise InvalidInput(f"unknown reports job {job!r}", field="job")
        day = event.get("day")
        result = reconciliation.run_daily_reconciliation(
            wiring.reconciliation_ports(),
            None if day is None else reconciliation.parse_day(str(day)),
        )
    except ChargingError as error:
        logger.warning("reports job refused", extra={"job": job, "reason": error.code})
        return {"job": job, "error": error.message}
    (logger.warning if result["unbalanced"] else logger.info)("reports job done", extra=result)
    return result
