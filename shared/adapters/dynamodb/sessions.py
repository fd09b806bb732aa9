"""SessionsTable: charging sessions, their meter log, the pile-side items that find them,
and the open-session markers housekeeping sweeps (layout in docs/data-model.md).

| item | pk | sk |
| --- | --- | --- |
| session | ``SESSION#{session_id}`` | ``SESSION`` (GSI1 pile, GSI3 operator + status) |
| open marker | ``SESSION#{session_id}`` | ``OPEN`` (GSI1 ``OPEN_SESSIONS`` / check time) |
| log entry (one message's samples) | ``SESSION#{session_id}`` | ``METER#{at}#{key}`` |
| 1.6 timeline / start identity | ``PILE#{pile_id}`` | ``TXN#{anchor}#...`` |
| 1.6 reading without a transaction id | ``PILE#{pile_id}`` | ``GUNMETER#{at}#{gun}#{digest}`` |
| meter values of no transaction | ``PILE#{pile_id}`` | ``METER#{gun}#{at}#{digest}`` (TTL) |
| 1.6 transaction id counter | ``COUNTER#ocpp16-transaction-id`` | ``COUNTER`` |

Session items are replaced whole (PutItem) under an optimistic ``revision`` condition: the
service recomputes energy and status from everything stored and writes the result once.
No TransactWriteItems: creation is a few conditional puts in a crash-safe order (see
``create``), which costs half the write units of a transaction.
Samples kept on the session item itself (``extra_samples``) are a string set of compact
JSON, so a reading folded in twice is stored once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from shared.adapters.dynamodb.base_data_items import decode_page_token, encode_page_token
from shared.adapters.dynamodb.connections import (
    is_condition_failure,
    n,
    number_of,
    s,
    text_of,
    upstream,
)
from shared.domain.base_data import Page, PageRequest
from shared.domain.clock import from_wire, local_day, to_wire
from shared.domain.ocpp.versions import OcppVersion
from shared.domain.sessions import (
    STALE_AFTER,
    LogEntry,
    MeterSample,
    Session,
    SessionFilter,
    SessionLog,
    SessionStatus,
    StartIdentity,
    TariffRef,
    TimelineEntry,
)
from shared.services.sessions import GunReading, SamplePage

OPEN_SESSIONS = "OPEN_SESSIONS"
COUNTER_KEY = {"pk": s("COUNTER#ocpp16-transaction-id"), "sk": s("COUNTER")}
PILE_METER_TTL = timedelta(days=90)
# A log entry is keyed by its first sample: look this far before a range for its samples.
ENTRY_SPAN = timedelta(hours=48)
_BATCH_GET_LIMIT = 100
_MAX_BATCH_ROUNDS = 8
_TOKEN_FIELDS = ("gsi_sk", "pk", "sk")
_SAMPLE_FIELDS = (
    ("energy_wh", int),
    ("power_w", int),
    ("voltage_v", float),
    ("current_a", float),
    ("soc_percent", float),
    ("temperature_c", float),
)


def session_key(session_id: str) -> dict[str, dict[str, str]]:
    return {"pk": s(f"SESSION#{session_id}"), "sk": s("SESSION")}


def marker_key(session_id: str) -> dict[str, dict[str, str]]:
    return {"pk": s(f"SESSION#{session_id}"), "sk": s("OPEN")}


class DynamoSessions:
    """The session store (``shared.services.sessions.SessionStore``) on the low-level client."""

    def __init__(self, table_name: str, base_data_table: str, client: Any | None = None) -> None:
        self._table = table_name
        self._base_table = base_data_table
        self._client = client if client is not None else boto3.client("dynamodb")

    # -- sessions

    def get(self, session_id: str, *, consistent: bool = False) -> Session | None:
        response = self._call(
            "get_item",
            TableName=self._table,
            Key=session_key(session_id),
            ConsistentRead=consistent,
        )
        item = response.get("Item")
        return session_from(item) if item else None

    def get_many(self, session_ids: Sequence[str]) -> list[Session]:
        found: list[Session] = []
        unique = list(dict.fromkeys(session_ids))
        for start in range(0, len(unique), _BATCH_GET_LIMIT):
            keys = [session_key(sid) for sid in unique[start : start + _BATCH_GET_LIMIT]]
            request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
            for _ in range(_MAX_BATCH_ROUNDS):
                response = self._call("batch_get_item", RequestItems=request)
                found.extend(
                    session_from(item) for item in response["Responses"].get(self._table, [])
                )
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
            else:
                raise upstream("BatchGetItem")
        return found

    def create(
        self, session: Session, *, start: StartIdentity | None = None, is_orphan: bool = False
    ) -> bool:
        # In this order, so that a crash between the puts leaves nothing a retry or
        # housekeeping cannot finish: the start identity (a retry finds it and rebuilds the
        # session), the open marker (housekeeping drops it when no session follows), the
        # session. Separate conditional puts cost half a transaction's write units.
        timeline_sk = start_sk(start) if start else orphan_sk(session) if is_orphan else None
        if timeline_sk is not None and not self._put_new(timeline_item(session, timeline_sk)):
            return False
        if session.is_open:
            self._call("put_item", TableName=self._table, Item=marker_item(session))
        return self._put_new(session_item(session))

    def save(self, session: Session, *, expected_revision: int, close_marker: bool) -> bool:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=session_item(session),
                ConditionExpression="revision = :r",
                ExpressionAttributeValues={":r": n(expected_revision)},
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise upstream("PutItem") from exc
        except BotoCoreError as exc:
            raise upstream("PutItem") from exc
        if close_marker:
            # A marker left by a failure here is dropped by housekeeping (closed session).
            self.drop_marker(session.session_id)
        return True

    # -- the log beside a session

    def log(self, session_id: str) -> SessionLog:
        samples: set[MeterSample] = set()
        seq_nos: set[int] = set()
        for item in self._query_all(
            KeyConditionExpression="pk = :p AND begins_with(sk, :m)",
            ExpressionAttributeValues={":p": s(f"SESSION#{session_id}"), ":m": s("METER#")},
            ConsistentRead=True,
        ):
            samples.update(samples_from_list(item))
            seq_no = number_of(item, "seq_no")
            if seq_no is not None:
                seq_nos.add(seq_no)
        return SessionLog(samples=frozenset(samples), seq_nos=frozenset(seq_nos))

    def append_log(self, session_id: str, entry: LogEntry) -> None:
        item: dict[str, Any] = {
            "pk": s(f"SESSION#{session_id}"),
            "sk": s(f"METER#{to_wire(entry.at)}#{entry.key}"),
            "kind": s("meter"),
            "source": s(entry.source),
            "received_at": s(to_wire(entry.received_at)),
            "samples": samples_list(entry.samples),
        }
        if entry.seq_no is not None:
            item["seq_no"] = n(entry.seq_no)
        for name, value in (
            ("event_type", entry.event_type),
            ("trigger_reason", entry.trigger_reason),
            ("charging_state", entry.charging_state),
        ):
            if value is not None:
                item[name] = s(value)
        self._call("put_item", TableName=self._table, Item=item)

    def newest_samples(self, session_id: str, limit: int) -> list[MeterSample]:
        response = self._call(
            "query",
            TableName=self._table,
            KeyConditionExpression="pk = :p AND begins_with(sk, :m)",
            ExpressionAttributeValues={":p": s(f"SESSION#{session_id}"), ":m": s("METER#")},
            ScanIndexForward=False,
            Limit=limit,
        )
        samples = [
            sample for item in response.get("Items", []) for sample in samples_from_list(item)
        ]
        return sorted(samples, key=lambda sample: sample.sampled_at, reverse=True)

    def newest_activity(self, session_id: str) -> datetime | None:
        response = self._call(
            "query",
            TableName=self._table,
            KeyConditionExpression="pk = :p AND begins_with(sk, :m)",
            ExpressionAttributeValues={":p": s(f"SESSION#{session_id}"), ":m": s("METER#")},
            ProjectionExpression="received_at",
            ScanIndexForward=False,
            Limit=1,
        )
        items = response.get("Items", [])
        received = text_of(items[0], "received_at") if items else None
        return from_wire(received) if received else None

    def sample_page(self, session_id: str, page: PageRequest) -> SamplePage:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :p AND begins_with(sk, :m)",
            "ExpressionAttributeValues": {":p": s(f"SESSION#{session_id}"), ":m": s("METER#")},
            "Limit": page.limit,
        }
        after: datetime | None = None
        if page.next_token is not None:
            start = decode_page_token(page.next_token, ("sk",))
            after = _meter_time(start["sk"]["S"])
            start["pk"] = s(f"SESSION#{session_id}")
            request["ExclusiveStartKey"] = start
        response = self._call("query", **request)
        items = response.get("Items", [])
        last = response.get("LastEvaluatedKey")
        samples = [sample for item in items for sample in samples_from_list(item)]
        until = _meter_time(last["sk"]["S"]) if last else None
        return SamplePage(
            samples=sorted(samples, key=lambda sample: sample.sampled_at),
            next_token=encode_page_token(last, ("sk",)),
            after=after,
            until=until,
        )

    # -- the pile side

    def allocate_transaction_id(self) -> int:
        response = self._call(
            "update_item",
            TableName=self._table,
            Key=COUNTER_KEY,
            UpdateExpression="ADD #v :one",
            ExpressionAttributeNames={"#v": "value"},
            ExpressionAttributeValues={":one": n(1)},
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["value"]["N"])

    def remember_start(self, session: Session, start: StartIdentity) -> None:
        self._put_new(timeline_item(session, start_sk(start), anchor_at=session.effective_start))

    def find_start(self, pile_id: str, start: StartIdentity) -> tuple[str, str] | None:
        response = self._call(
            "get_item",
            TableName=self._table,
            Key={"pk": s(f"PILE#{pile_id}"), "sk": s(start_sk(start))},
            ConsistentRead=True,
        )
        item = response.get("Item")
        session_id = text_of(item, "session_id") if item else None
        transaction_id = text_of(item, "ocpp_transaction_id") if item else None
        return (session_id, transaction_id) if session_id and transaction_id else None

    def pile_timeline(self, pile_id: str, since: datetime, until: datetime) -> list[TimelineEntry]:
        entries = []
        for item in self._query_all(
            KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
            ExpressionAttributeValues={
                ":p": s(f"PILE#{pile_id}"),
                ":a": s(f"TXN#{to_wire(since)}"),
                ":b": s(f"TXN#{to_wire(until)}~"),
            },
            ProjectionExpression="session_id, gun_no, anchor_at",
            ConsistentRead=True,
        ):
            session_id, anchor = text_of(item, "session_id"), text_of(item, "anchor_at")
            if session_id and anchor:
                entries.append(
                    TimelineEntry(session_id, number_of(item, "gun_no"), from_wire(anchor))
                )
        return entries

    def put_gun_readings(
        self, pile_id: str, gun_no: int, samples: Sequence[MeterSample], received_at: datetime
    ) -> None:
        at = min(sample.sampled_at for sample in samples)
        item = {
            "pk": s(f"PILE#{pile_id}"),
            "sk": s(f"GUNMETER#{to_wire(at)}#{gun_no:03d}#{_digest(samples)}"),
            "kind": s("gun_meter"),
            "gun_no": n(gun_no),
            "received_at": s(to_wire(received_at)),
            "samples": samples_list(samples),
        }
        self._call("put_item", TableName=self._table, Item=item)

    def gun_readings(self, pile_id: str, since: datetime, until: datetime) -> list[GunReading]:
        readings: list[GunReading] = []
        for item in self._query_all(
            KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
            ExpressionAttributeValues={
                ":p": s(f"PILE#{pile_id}"),
                ":a": s(f"GUNMETER#{to_wire(since - ENTRY_SPAN)}"),
                ":b": s(f"GUNMETER#{to_wire(until)}~"),
            },
            ConsistentRead=True,
        ):
            gun_no = number_of(item, "gun_no") or 0
            readings.extend(
                GunReading(gun_no, sample)
                for sample in samples_from_list(item)
                if since <= sample.sampled_at <= until
            )
        return readings

    def put_pile_meter(
        self, pile_id: str, gun_no: int, samples: Sequence[MeterSample], received_at: datetime
    ) -> None:
        at = min(sample.sampled_at for sample in samples)
        item = {
            "pk": s(f"PILE#{pile_id}"),
            "sk": s(f"METER#{gun_no:03d}#{to_wire(at)}#{_digest(samples)}"),
            "kind": s("pile_meter"),
            "gun_no": n(gun_no),
            "received_at": s(to_wire(received_at)),
            "samples": samples_list(samples),
            "expires_at": n(int((received_at + PILE_METER_TTL).timestamp())),
        }
        self._call("put_item", TableName=self._table, Item=item)

    def station_tariff(self, station_id: str) -> TariffRef | None:
        station = self._call(
            "get_item",
            TableName=self._base_table,
            Key={"pk": s(f"STATION#{station_id}"), "sk": s("STATION")},
            ProjectionExpression="tariff_id",
        ).get("Item")
        tariff_id = text_of(station, "tariff_id") if station else None
        if not tariff_id:
            return None
        tariff = self._call(
            "get_item",
            TableName=self._base_table,
            Key={"pk": s(f"TARIFF#{tariff_id}"), "sk": s("TARIFF")},
            ProjectionExpression="version",
        ).get("Item")
        version = number_of(tariff, "version") if tariff else None
        return TariffRef(tariff_id, version) if version is not None else None

    # -- housekeeping

    def open_sessions_due(self, now: datetime, limit: int) -> list[str]:
        response = self._call(
            "query",
            TableName=self._table,
            IndexName="GSI1",
            KeyConditionExpression="gsi1pk = :p AND gsi1sk <= :due",
            ExpressionAttributeValues={":p": s(OPEN_SESSIONS), ":due": s(f"{to_wire(now)}#~")},
            Limit=limit,
        )
        return [text_of(item, "session_id") or "" for item in response.get("Items", [])]

    def postpone_check(self, session_id: str, check_at: datetime) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=marker_key(session_id),
                UpdateExpression="SET gsi1sk = :due",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":due": s(f"{to_wire(check_at)}#{session_id}")},
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return
            raise upstream("UpdateItem") from exc
        except BotoCoreError as exc:
            raise upstream("UpdateItem") from exc

    def drop_marker(self, session_id: str) -> None:
        self._call("delete_item", TableName=self._table, Key=marker_key(session_id))

    # -- the operator API

    def list_sessions(self, selection: SessionFilter, page: PageRequest) -> Page[Session]:
        values: dict[str, Any] = {":op": s(selection.operator_id)}
        names: dict[str, str] = {}
        filters = []
        if selection.pile_id is not None:
            index, pk_name, sk_name = "GSI1", "gsi1pk", "gsi1sk"
            values[":p"] = s(f"PILE#{selection.pile_id}")
            filters.append("operator_id = :op")
            if selection.status is not None:
                names["#st"] = "status"
                values[":st"] = s(selection.status.value)
                filters.append("#st = :st")
        else:
            status = selection.status or SessionStatus.ACTIVE
            index, pk_name, sk_name = "GSI3", "gsi3pk", "gsi3sk"
            values[":p"] = s(f"OPERATOR#{selection.operator_id}#{status.value}")
            filters.append("operator_id = :op")
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": f"{pk_name} = :p",
            "FilterExpression": " AND ".join(filters),
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "Limit": page.limit,
        }
        if names:
            request["ExpressionAttributeNames"] = names
        if page.next_token is not None:
            start = decode_page_token(page.next_token, _TOKEN_FIELDS)
            start[sk_name] = start.pop("gsi_sk")
            start[pk_name] = values[":p"]
            request["ExclusiveStartKey"] = start
        response = self._call("query", **request)
        last = response.get("LastEvaluatedKey")
        token = None
        if last:
            token = encode_page_token(
                {"gsi_sk": last[sk_name], "pk": last["pk"], "sk": last["sk"]}, _TOKEN_FIELDS
            )
        return Page(
            items=[session_from(item) for item in response.get("Items", [])], next_token=token
        )

    # -- plumbing

    def _query_all(self, **request: Any) -> Iterator[dict[str, Any]]:
        request = {"TableName": self._table, **request}
        while True:
            response = self._call("query", **request)
            yield from response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            request["ExclusiveStartKey"] = last

    def _put_new(self, item: dict[str, Any]) -> bool:
        try:
            self._client.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise upstream("PutItem") from exc
        except BotoCoreError as exc:
            raise upstream("PutItem") from exc
        return True

    def _call(self, operation: str, **request: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = getattr(self._client, operation)(**request)
        except (ClientError, BotoCoreError) as exc:
            raise upstream(_operation_name(operation)) from exc
        return response


def _operation_name(operation: str) -> str:
    return "".join(part.title() for part in operation.split("_"))


def _digest(samples: Sequence[MeterSample]) -> str:
    canonical = json.dumps(sorted(sample_json(sample) for sample in samples))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _meter_time(sk: str) -> datetime:
    # METER#{at}#{key}: ``at`` is to_wire() output, 24 characters.
    return from_wire(sk[len("METER#") : len("METER#") + 24])


# --- item codecs ---------------------------------------------------------------------------


def sample_map(sample: MeterSample) -> dict[str, Any]:
    fields: dict[str, Any] = {"sampled_at": s(to_wire(sample.sampled_at))}
    for name, _ in _SAMPLE_FIELDS:
        value = getattr(sample, name)
        if value is not None:
            fields[name] = {"N": repr(value)}
    return {"M": fields}


def samples_list(samples: Sequence[MeterSample]) -> dict[str, Any]:
    return {"L": [sample_map(sample) for sample in samples]}


def sample_from_map(fields: Mapping[str, Any]) -> MeterSample:
    values: dict[str, Any] = {}
    for name, kind in _SAMPLE_FIELDS:
        raw = fields.get(name)
        if raw is not None and "N" in raw:
            values[name] = kind(raw["N"])
    return MeterSample(sampled_at=from_wire(fields["sampled_at"]["S"]), **values)


def samples_from_list(item: Mapping[str, Any]) -> list[MeterSample]:
    raw = item.get("samples", {}).get("L", [])
    return [sample_from_map(entry["M"]) for entry in raw]


def sample_json(sample: MeterSample) -> str:
    """The compact form kept in a session's ``extra_samples`` string set."""
    fields: dict[str, Any] = {"at": to_wire(sample.sampled_at)}
    for name, _ in _SAMPLE_FIELDS:
        value = getattr(sample, name)
        if value is not None:
            fields[name] = value
    return json.dumps(fields, sort_keys=True, separators=(",", ":"))


def sample_from_json(text: str) -> MeterSample:
    fields = json.loads(text)
    values: dict[str, Any] = {
        name: kind(fields[name]) for name, kind in _SAMPLE_FIELDS if name in fields
    }
    return MeterSample(sampled_at=from_wire(fields["at"]), **values)


def _anchor_sk(session: Session) -> str:
    return f"{to_wire(session.anchor_at)}#{session.session_id}"


def session_item(session: Session) -> dict[str, Any]:
    item: dict[str, Any] = {
        **session_key(session.session_id),
        "kind": s("session"),
        "session_id": s(session.session_id),
        "protocol": s(session.protocol.value),
        "operator_id": s(session.operator_id),
        "pile_id": s(session.pile_id),
        "ocpp_transaction_id": s(session.ocpp_transaction_id),
        "anchor_at": s(to_wire(session.anchor_at)),
        "started_on": s(local_day(session.effective_start).isoformat()),
        "created_at": s(to_wire(session.created_at)),
        "last_message_at": s(to_wire(session.last_message_at)),
        "status": s(session.status.value),
        "energy_wh": n(session.energy_wh),
        "reaches_back": {"BOOL": session.reaches_back},
        "revision": n(session.revision),
        "gsi1pk": s(f"PILE#{session.pile_id}"),
        "gsi1sk": s(_anchor_sk(session)),
        "gsi3pk": s(f"OPERATOR#{session.operator_id}#{session.status.value}"),
        "gsi3sk": s(_anchor_sk(session)),
    }
    texts = {
        "station_id": session.station_id,
        "id_tag": session.id_tag,
        "tariff_id": session.tariff_id,
        "stop_reason": session.stop_reason,
        "stop_id_tag": session.stop_id_tag,
    }
    for name, text in texts.items():
        if text is not None:
            item[name] = s(text)
    times = {
        "started_at": session.started_at,
        "start_received_at": session.start_received_at,
        "stopped_at": session.stopped_at,
        "stop_received_at": session.stop_received_at,
        "closed_stale_at": session.closed_stale_at,
        "evidence_from": session.evidence_from,
    }
    for name, at in times.items():
        if at is not None:
            item[name] = s(to_wire(at))
    numbers = {
        "gun_no": session.gun_no,
        "tariff_version": session.tariff_version,
        "meter_start_wh": session.meter_start_wh,
        "meter_stop_wh": session.meter_stop_wh,
        "started_seq_no": session.started_seq_no,
        "ended_seq_no": session.ended_seq_no,
        "remote_start_id": session.remote_start_id,
    }
    for name, number in numbers.items():
        if number is not None:
            item[name] = n(number)
    if session.seq_nos:
        item["seq_nos"] = {"NS": [str(seq_no) for seq_no in sorted(session.seq_nos)]}
    if session.extra_samples:
        item["extra_samples"] = {"SS": sorted(sample_json(x) for x in session.extra_samples)}
    return item


def session_from(item: Mapping[str, Any]) -> Session:
    def text(name: str) -> str | None:
        return text_of(dict(item), name)

    def at(name: str) -> datetime | None:
        value = text(name)
        return from_wire(value) if value else None

    def number(name: str) -> int | None:
        return number_of(dict(item), name)

    def required_at(name: str) -> datetime:
        value = at(name)
        if value is None:
            raise ValueError(f"session item without {name}")
        return value

    return Session(
        session_id=text("session_id") or "",
        protocol=OcppVersion(text("protocol") or OcppVersion.V16.value),
        operator_id=text("operator_id") or "",
        pile_id=text("pile_id") or "",
        ocpp_transaction_id=text("ocpp_transaction_id") or "",
        anchor_at=required_at("anchor_at"),
        created_at=required_at("created_at"),
        last_message_at=required_at("last_message_at"),
        status=SessionStatus(text("status") or SessionStatus.ACTIVE.value),
        station_id=text("station_id"),
        gun_no=number("gun_no"),
        id_tag=text("id_tag"),
        tariff_id=text("tariff_id"),
        tariff_version=number("tariff_version"),
        started_at=at("started_at"),
        start_received_at=at("start_received_at"),
        meter_start_wh=number("meter_start_wh"),
        stopped_at=at("stopped_at"),
        stop_received_at=at("stop_received_at"),
        meter_stop_wh=number("meter_stop_wh"),
        stop_reason=text("stop_reason"),
        stop_id_tag=text("stop_id_tag"),
        started_seq_no=number("started_seq_no"),
        ended_seq_no=number("ended_seq_no"),
        seq_nos=frozenset(int(v) for v in item.get("seq_nos", {}).get("NS", [])),
        extra_samples=frozenset(
            sample_from_json(v) for v in item.get("extra_samples", {}).get("SS", [])
        ),
        energy_wh=number("energy_wh") or 0,
        remote_start_id=number("remote_start_id"),
        closed_stale_at=at("closed_stale_at"),
        reaches_back=item.get("reaches_back", {}).get("BOOL", True) is True,
        evidence_from=at("evidence_from"),
        revision=number("revision") or 0,
    )


def marker_item(session: Session) -> dict[str, Any]:
    check_at = session.last_message_at + STALE_AFTER
    return {
        **marker_key(session.session_id),
        "kind": s("open_session"),
        "session_id": s(session.session_id),
        "pile_id": s(session.pile_id),
        "operator_id": s(session.operator_id),
        "gsi1pk": s(OPEN_SESSIONS),
        "gsi1sk": s(f"{to_wire(check_at)}#{session.session_id}"),
    }


def start_sk(start: StartIdentity) -> str:
    """``TXN#{started_at}#S#{gun}#{meterStart}#{idTag}``: the start's business identity,
    in time order among the pile's sessions."""
    return "#".join(
        (
            "TXN",
            to_wire(start.started_at),
            "S",
            f"{start.gun_no:03d}",
            str(start.meter_start_wh),
            start.id_tag,
        )
    )


def orphan_sk(session: Session) -> str:
    """``TXN#{anchor}#O#{session_id}``: a session whose start was not seen."""
    return "#".join(("TXN", to_wire(session.anchor_at), "O", session.session_id))


def timeline_item(
    session: Session, timeline_sk: str, *, anchor_at: datetime | None = None
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": s(f"PILE#{session.pile_id}"),
        "sk": s(timeline_sk),
        "kind": s("session_timeline"),
        "session_id": s(session.session_id),
        "ocpp_transaction_id": s(session.ocpp_transaction_id),
        "anchor_at": s(to_wire(anchor_at or session.anchor_at)),
    }
    if session.gun_no is not None:
        item["gun_no"] = n(session.gun_no)
    return item
