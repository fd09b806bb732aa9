"""Bounded reads of a session's meter log (SessionsTable ``SESSION#{id}`` / ``METER#{at}#{key}``,
written by ``DynamoSessions.append_log``) for the driver's live view: the log entries next to
one instant, never the whole log.

A log entry is keyed by its first sample's time (``to_wire``: fixed width, so text order is
time order), so the entries around an instant ``b`` are the newest keyed at or before it
(their samples are the readings just before ``b``; an entry holding several samples may also
hold the first readings after it) and the oldest keyed after it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.adapters.dynamodb.connections import s, upstream
from shared.adapters.dynamodb.sessions import samples_from_list
from shared.domain.clock import to_wire
from shared.domain.sessions import MeterSample

# Entries read on each side of an instant: two before (a message may carry one sample of
# another measurand only), one after.
ENTRIES_BEFORE = 2
ENTRIES_AFTER = 1


class DynamoSessionLogWindow:
    """``LogWindow`` (shared/services/driver_charging.py) on SessionsTable."""

    def __init__(self, table_name: str, client: Any) -> None:
        self._table = table_name
        self._client = client

    def samples_around(
        self, session_id: str, at: datetime
    ) -> tuple[list[MeterSample], list[MeterSample]]:
        """The samples of the ``ENTRIES_BEFORE`` log entries keyed at or before ``at``, and of
        the ``ENTRIES_AFTER`` keyed after it.

        DynamoDB: 2 Queries (Limit 2 and 1, projection ``samples``), eventually consistent.

        Raises: UpstreamFailure.
        """
        pk = s(f"SESSION#{session_id}")
        stamp = to_wire(at)
        before = self._query(pk, "METER#", f"METER#{stamp}#~", forward=False, limit=ENTRIES_BEFORE)
        after = self._query(pk, f"METER#{stamp}#~", "METER#~", forward=True, limit=ENTRIES_AFTER)
        return (
            [sample for item in before for sample in samples_from_list(item)],
            [sample for item in after for sample in samples_from_list(item)],
        )

    def _query(
        self, pk: dict[str, str], low: str, high: str, *, forward: bool, limit: int
    ) -> list[dict[str, Any]]:
        try:
            response = self._client.query(
                TableName=self._table,
                KeyConditionExpression="pk = :p AND sk BETWEEN :low AND :high",
                ExpressionAttributeValues={":p": pk, ":low": s(low), ":high": s(high)},
                ProjectionExpression="samples",
                ScanIndexForward=forward,
                Limit=limit,
            )
        except (ClientError, BotoCoreError) as exc:
            raise upstream("Query") from exc
        items: list[dict[str, Any]] = response.get("Items", [])
        return items


__all__ = ["DynamoSessionLogWindow"]
