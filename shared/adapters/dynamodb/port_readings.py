"""E-bike port readings in SessionsTable: one item per pile and uplink message.

``PORTREAD#{pile_id}`` / ``{first cycle's gateway timestamp}#{digest of the cycles' seqs}``
(``to_wire``: fixed width, so text order is time order; the digest keeps two different
batches starting at the same cycle apart, and makes a repeated batch write the same item)
holds ``gateway_id``, the counter's ``modulus`` and ``max_power_w``, and ``cycles``: one
string per poll cycle, ``"{at}#{seq}"`` then ``";{port_no}:{sample}"`` per port, where a
sample is ``state|energy_raw|power_w|voltage_dv|current_ma|temperature_dc|stop_reason|
faults`` or ``=`` when it is the same as in the item's previous cycle (idle ports cost a few
bytes). A one-cycle item of ten ports is ~0.4 KB, a ten-cycle batch with three ports
charging ~1.5 KB. Cycles spanning more than ``ITEM_SPAN`` go to further items.

Energy is stored raw and folded when read (``fold_samples``), deduplicated by (gateway,
seq), so late, shuffled and repeated cycles give the same energy as an uninterrupted run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
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


ITEM_SPAN = timedelta(hours=1)
_SAME = "="


def _item_sk(first: datetime, seqs: Sequence[int | None]) -> str:
    digest = hashlib.sha1(",".join(str(seq) for seq in seqs).encode(), usedforsecurity=False)
    return f"{to_wire(first)}#{digest.hexdigest()[:10]}"


def encode_cycle(
    at: datetime, samples: Mapping[int, PortSample], previous: Mapping[int, str]
) -> tuple[str, dict[int, str]]:
    """The cycle's text and its full per-port encodings (for the next cycle's ``=``)."""
    seq = next((sample.seq for sample in samples.values()), None)
    parts = [f"{to_wire(at)}#{'' if seq is None else seq}"]
    full: dict[int, str] = {}
    for port_no, sample in sorted(samples.items()):
        text = encode_sample(sample)
        full[port_no] = text
        parts.append(f"{port_no}:{_SAME if previous.get(port_no) == text else text}")
    return ";".join(parts), full


class DynamoPortReadings:
    """``PortReadingStore`` on SessionsTable."""

    def __init__(self, table_name: str, client: Any) -> None:
        self._table = table_name
        self._client = client

    def store(
        self,
        pile_id: str,
        cycles: Sequence[tuple[datetime, Mapping[int, PortSample]]],
        *,
        modulus: int | None = None,
        max_power_w: int | None = None,
    ) -> None:
        """1 PutItem per ``ITEM_SPAN`` the cycles cover. Raises: UpstreamFailure."""
        ordered = sorted(cycles, key=lambda cycle: cycle[0])
        groups: list[list[tuple[datetime, Mapping[int, PortSample]]]] = []
        for cycle in ordered:
            if not groups or cycle[0] - groups[-1][0][0] > ITEM_SPAN:
                groups.append([])
            groups[-1].append(cycle)
        for group in groups:
            self._put(pile_id, group, modulus, max_power_w)

    def _put(
        self,
        pile_id: str,
        group: Sequence[tuple[datetime, Mapping[int, PortSample]]],
        modulus: int | None,
        max_power_w: int | None,
    ) -> None:
        texts: list[str] = []
        previous: dict[int, str] = {}
        seqs: list[int | None] = []
        gateway_id = ""
        for at, samples in group:
            text, previous = encode_cycle(at, samples, previous)
            texts.append(text)
            first = next(iter(samples.values()), None)
            seqs.append(first.seq if first else None)
            gateway_id = first.gateway_id if first else gateway_id
        item: dict[str, Any] = {
            "pk": s(readings_pk(pile_id)),
            "sk": s(_item_sk(group[0][0], seqs)),
            "gateway_id": s(gateway_id),
            "cycles": {"L": [s(text) for text in texts]},
        }
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
                ":since": s(to_wire(since - ITEM_SPAN)),
                ":until": s(to_wire(until) + "#~"),
            },
        }
        while True:
            try:
                page = self._client.query(**request)
            except (ClientError, BotoCoreError) as exc:
                raise upstream("Query") from exc
            for item in page.get("Items", []):
                modulus = number_of(item, "modulus") or modulus
                max_power_w = number_of(item, "max_power_w") or max_power_w
                gateway_id = text_of(item, "gateway_id") or ""
                for sample in _port_samples(item, port_no, gateway_id):
                    if since <= sample.at <= until:
                        samples.append(sample)
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return fold_samples(samples, modulus=modulus, max_power_w=max_power_w)

    def latest_port_readings(self, pile_id: str, *, items: int = 3) -> dict[int, PortReading]:
        """Each port's newest reading from ONE Query of the pile's newest ``items`` items
        (newest first, ``Limit``), never a scan; the energy counter folded over the cycles
        those items hold. Ports without a reading are absent. Raises: UpstreamFailure."""
        try:
            page = self._client.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": s(readings_pk(pile_id))},
                ScanIndexForward=False,
                Limit=items,
            )
        except (ClientError, BotoCoreError) as exc:
            raise upstream("Query") from exc
        by_port: dict[int, list[PortSample]] = {}
        modulus: int | None = None
        max_power_w: int | None = None
        for item in page.get("Items", []):
            modulus = modulus or number_of(item, "modulus")
            max_power_w = max_power_w or number_of(item, "max_power_w")
            gateway_id = text_of(item, "gateway_id") or ""
            for port_no in _port_numbers(item):
                by_port.setdefault(port_no, []).extend(_port_samples(item, port_no, gateway_id))
        latest: dict[int, PortReading] = {}
        for port_no, samples in by_port.items():
            folded = fold_samples(samples, modulus=modulus, max_power_w=max_power_w)
            if folded:
                latest[port_no] = folded[-1]
        return latest


def _port_numbers(item: dict[str, Any]) -> set[int]:
    """The port numbers an item's cycles mention."""
    numbers: set[int] = set()
    for value in item.get("cycles", {}).get("L", []):
        for part in value.get("S", "").split(";")[1:]:
            head, _, _ = part.partition(":")
            if head.isdigit():
                numbers.add(int(head))
    return numbers


def _port_samples(item: dict[str, Any], port_no: int, gateway_id: str) -> list[PortSample]:
    """One port's samples in an item, ``=`` resolved against the item's previous cycle."""
    found: list[PortSample] = []
    last_text: str | None = None
    wanted = f"{port_no}:"
    for value in item.get("cycles", {}).get("L", []):
        text = value.get("S", "")
        head, *ports = text.split(";")
        stamp, _, seq_text = head.partition("#")
        try:
            at = from_wire(stamp)
        except ValueError:
            continue
        seq = int(seq_text) if seq_text.isdigit() else None
        for part in ports:
            if not part.startswith(wanted):
                continue
            body = part[len(wanted) :]
            body = last_text if body == _SAME else body
            if body is None:
                break
            last_text = body
            sample = decode_sample(body, at, gateway_id, seq)
            if sample is not None:
                found.append(sample)
            break
    return found
