"""Gateway records in BaseDataTable (``GATEWAY#{gateway_id}`` / ``GATEWAY``): when each
4G gateway was last heard from, the highest message ``seq`` seen, its SIM's ICCID.

The item is created by the first message (an upsert): gateways announce themselves
before an operator assigns their piles.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.adapters.dynamodb.connections import is_condition_failure, n, s, upstream
from shared.domain.clock import to_wire
from shared.domain.gateways import GatewaySeen


def gateway_key(gateway_id: str) -> dict[str, dict[str, str]]:
    return {"pk": s(f"GATEWAY#{gateway_id}"), "sk": s("GATEWAY")}


class DynamoGateways:
    """One UpdateItem per message; a replayed (older) ``seq`` costs one more."""

    def __init__(self, table_name: str, client: Any) -> None:
        self._table = table_name
        self._client = client

    def record(self, seen: GatewaySeen) -> bool:
        """Stamp the gateway; False when ``seq`` was not above the stored one (a replay).

        Raises: UpstreamFailure.
        """
        sets = ["gateway_id = :id", "last_seen_at = :at"]
        values: dict[str, Any] = {":id": s(seen.gateway_id), ":at": s(to_wire(seen.seen_at))}
        if seen.iccid is not None:
            sets.append("iccid = :iccid")
            values[":iccid"] = s(seen.iccid)
        if seen.seq is None:
            self._update(seen.gateway_id, sets, values, condition=None)
            return True
        # The gateway resumes from where it was cut off: a late batch must not move
        # last_seq backwards, but still shows the gateway is alive.
        try:
            self._update(
                seen.gateway_id,
                [*sets, "last_seq = :seq"],
                {**values, ":seq": n(seen.seq)},
                condition="attribute_not_exists(last_seq) OR last_seq < :seq",
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise upstream("UpdateItem") from exc
            self._update(seen.gateway_id, sets, values, condition=None)
            return False
        return True

    def _update(
        self, gateway_id: str, sets: list[str], values: dict[str, Any], condition: str | None
    ) -> None:
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": gateway_key(gateway_id),
            "UpdateExpression": "SET " + ", ".join(sets),
            "ExpressionAttributeValues": values,
        }
        if condition is not None:
            request["ConditionExpression"] = condition
        try:
            self._client.update_item(**request)
        except ClientError as exc:
            if condition is not None and is_condition_failure(exc):
                raise
            raise upstream("UpdateItem") from exc
        except BotoCoreError as exc:
            raise upstream("UpdateItem") from exc
