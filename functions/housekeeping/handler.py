"""Scheduled housekeeping: ``{"job": "minute"}`` every minute (CSMS-call timeouts and
deliveries, stale sessions, unstarted paid charges, Modbus piles of silent gateways). The result
names the parts that ran and failed; it is logged as one line."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.housekeeping import wiring
from shared.domain.errors import ChargingError
from shared.observability import logger
from shared.services.housekeeping import run_job


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    job = str(event.get("job") or "")
    try:
        result = run_job(job, wiring.ports())
    except ChargingError as error:
        logger.warning("housekeeping job refused", extra={"job": job[:64], "reason": error.code})
        return {"job": job[:64], "ran": [], "failed": [], "error": error.message}
    (logger.error if result["failed"] else logger.info)("housekeeping job done", extra=result)
    return result
