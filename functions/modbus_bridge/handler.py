"""IoT topic rules on ``gw/+/up`` (JSON) and ``gw/+/raw`` (transparent DTUs) -> one gateway
message: record the gateway, check CRCs, decode the RTU frames with the devices' register
maps, poll transparent DTUs one read at a time. Bad input is logged and counted, never
raised."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.modbus_bridge import wiring
from shared.observability import logger, metrics
from shared.services.gateways import handle_gateway_message

_METRICS = {
    "good": "ModbusFramesGood",
    "bad_crc": "ModbusFramesBadCrc",
    "not_rtu": "ModbusFramesNotRtu",
    "undecodable": "ModbusFramesUndecodable",
    "unknown_device": "ModbusFramesUnknownDevice",
    "wrong_function": "ModbusFramesWrongFunction",
    "exception": "ModbusFramesException",
    "unmatched": "ModbusFramesUnmatched",
    "write_answer": "ModbusWriteAnswers",
    "read_timeout": "ModbusReadTimeouts",
}


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    outcome = handle_gateway_message(
        event, ports=wiring.uplink(), clock=wiring.clock, transparent=wiring.transparent()
    )
    verdicts = outcome.uplink.verdicts if outcome.uplink else {}
    if outcome.raw is not None:
        verdicts = outcome.raw.verdicts
    counts = {metric: int(verdicts.get(verdict, 0)) for verdict, metric in _METRICS.items()}
    counts["GatewayMessagesInvalid"] = 1 if outcome.kind == "invalid" else 0
    if outcome.kind == "invalid":
        logger.warning(
            "invalid gateway message",
            extra={"gateway_id": outcome.gateway_id, "fields": outcome.invalid_fields},
        )
    else:
        logger.info(
            "gateway message",
            extra={
                "gateway_id": outcome.gateway_id,
                "kind": outcome.kind,
                "is_replay": outcome.is_replay,
                **{name: value for name, value in counts.items() if value},
            },
        )
    for name, value in counts.items():
        if value:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    if any(counts.values()):
        metrics.flush_metrics()
    return {"kind": outcome.kind, "gateway_id": outcome.gateway_id, **counts}
