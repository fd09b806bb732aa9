"""E-bike port readings in SessionsTable: one item per pile and poll cycle.

``PORTREAD#{pile_id}`` / ``{gateway timestamp}`` (``to_wire``: fixed width, so text order
is time order) holds ``gateway_id``, ``seq``, the counter's ``modulus`` and
``max_power_w``, and ``ports``: port_no -> ``"state|energy_raw|power_w|voltage_dv|
current_ma|temperature_dc|stop_reason|fault,fault"``. One PutItem per pile per cycle (all
ten ports in ~0.5 KB: 1 WCU); a repeated cycle writes the same item again. Energy is
stored raw and folded when read (``fold_samples``), so late, shuffled and repeated cycles
give the same energy as an uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.adapters.dynamodb.connections import n, number_of, s, text_of, upstream
from shared.domain.clock import from_wire, to_wire
from shared.domain.modbus_readings import PortReading, PortSample, PortState, fold_samples


def readings_pk(pile_id: str) -> str:
    return f"PORTREAD#{pile_id}"


def encode_sample(sample: PortSample) -> str:
    return "|".join(
        (
            sample.state.value,
            str(sample.energy_raw),
            str(sample.power_w),
            str(sample.voltage_dv),
            str(sample.current_ma),
            str(sample.temperature_dc),
            sample.stop_reason or "",
            ",".join(sample.faults),
        )
    )


def decode_sample(text: str, at: datetime, gateway_id: str, seq: int | None) -> PortSample | None:
    parts = text.split("|")
    if len(parts) != 8:
        return None
    try:
        return PortSample(
            at=at,
            gateway_id=gateway_id,
            seq=seq,
            energy_raw=int(parts[1]),
            power_w=int(parts[2]),
            voltage_dv=int(parts[3]),
            current_ma=int(parts[4]),
            temperature_dc=int(parts[5]),
            state=PortState(parts[0]),
            stop_reason=parts[6] or None,
            faults=tuple(name for name in parts[7].split(",") if name),
        )
    except ValueError:
        return None


class DynamoPortReadings:
    """``PortReadingStore`` on SessionsTable."""

    def __init__(self, table_name: str, client: Any) -> None:
        self._table = table_name
        self._client = client

    def store(
        self,
        pile_id: str,
        at: datetime,
        samples: Mapping[int, PortSample],
        *,
        modulus: int | None = None,
        max_power_w: int | None = None,
    ) -> None:
        """One PutItem. Raises: UpstreamFailure."""
        first = next(iter(samples.values()), None)
        item: dict[str, Any] = {
            "pk": s(readings_pk(pile_id)),
            "sk": s(to_wire(at)),
            "ports": {"M": {str(no): s(encode_sample(sample)) for no, sample in samples.items()}},
        }
        if first is not None:
            item["gateway_id"] = s(first.gateway_id)
            if first.seq is not None:
                item["seq"] = n(first.seq)
        if modulus is not None:
            item["modulus"] = n(modulus)
        if max_power_w is not None:
            item["max_power_w"] = n(max_power_w)
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise upstream("PutItem") from exc

    def port_readings(
        self, pile_id: str, port_no: int, since: datetime, until: datetime
    ) -> list[PortReading]:
        """Readings with ``since <= at <= until``, folded. Raises: UpstreamFailure."""
        samples: list[PortSample] = []
        modulus: int | None = None
        max_power_w: int | None = None
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :since AND :until",
            "ExpressionAttributeValues": {
                ":pk": s(readings_pk(pile_id)),
                ":since": s(to_wire(since)),
                ":until": s(to_wire(until)),
            },
        }
        while True:
            try:
                page = self._client.query(**request)
            except (ClientError, BotoCoreError) as exc:
                raise upstream("Query") from exc
            for item in page.get("Items", []):
                text = item.get("ports", {}).get("M", {}).get(str(port_no), {}).get("S")
                if text is None:
                    continue
                modulus = number_of(item, "modulus") or modulus
                max_power_w = number_of(item, "max_power_w") or max_power_w
                sample = decode_sample(
                    text,
                    from_wire(item["sk"]["S"]),
                    text_of(item, "gateway_id") or "",
                    number_of(item, "seq"),
                )
                if sample is not None:
                    samples.append(sample)
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return fold_samples(samples, modulus=modulus, max_power_w=max_power_w)
