"""SessionsTable: paid-charge markers, their start keys and the sessions' links (layout in
docs/data-model.md, Paid charging); gun statuses and tariff versions are read from
BaseDataTable.

- marker of an order: ``PAIDCHARGE#{order_no}`` / ``PAIDCHARGE``, in GSI2
  ``PAID_STARTING`` / ``{check_at}#{order_no}`` while starting (TTL 90 days);
- start key: ``PILE#{pile_id}`` / ``PAIDSTART#T#{id_tag}`` or ``PAIDSTART#R#{remoteStartId}``
  (TTL 2 days);
- a session's link: ``SESSION#{session_id}`` / ``PAIDCHARGE``.

Every state change of a marker is one UpdateItem conditional on the state it leaves, so
a retried or concurrent change happens once; the callback token is an unconditional SET
returning the whole item, so whoever writes second (the end, or the token) sees the other.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from shared.adapters.dynamodb.connections import (
    conditional_update,
    is_condition_failure,
    n,
    number_of,
    s,
    text_of,
    upstream,
)
from shared.adapters.dynamodb.sessions import samples_from_list
from shared.domain.clock import from_wire, to_wire
from shared.domain.errors import TariffMissing
from shared.domain.ocpp.versions import OcppVersion
from shared.domain.paid_charging import (
    MODBUS,
    PaidCharge,
    PaidChargeState,
    PaidLink,
    SessionEnd,
)
from shared.domain.sessions import MeterSample

if TYPE_CHECKING:
    from shared.domain.modbus_readings import SiteLoad
    from shared.domain.pricing import ChargeTarget
    from shared.domain.tariffs import Tariff
    from shared.services.paid_charging import SiteLimits

PAID_STARTING = "PAID_STARTING"
MARKER_RETENTION = timedelta(days=90)
START_KEY_RETENTION = timedelta(days=2)
_TARIFF_CACHE = 64
_BATCH_ATTEMPTS = 3


def marker_key(order_no: str) -> dict[str, dict[str, str]]:
    return {"pk": s(f"PAIDCHARGE#{order_no}"), "sk": s("PAIDCHARGE")}


def link_key(session_id: str) -> dict[str, dict[str, str]]:
    return {"pk": s(f"SESSION#{session_id}"), "sk": s("PAIDCHARGE")}


def start_key(pile_id: str, key: str) -> dict[str, dict[str, str]]:
    return {"pk": s(f"PILE#{pile_id}"), "sk": s(f"PAIDSTART#{key}")}


class DynamoPaidCharges:
    """``shared.services.paid_charging.PaidChargeStore`` on the low-level client."""

    def __init__(self, table_name: str, base_data_table: str, client: Any | None = None) -> None:
        self._table = table_name
        self._base_table = base_data_table
        self._client = client if client is not None else boto3.client("dynamodb")
        # Tariff versions never change: one read per version and container.
        self._tariff = functools.lru_cache(maxsize=_TARIFF_CACHE)(self._read_tariff)

    # -- markers

    def get(self, order_no: str) -> PaidCharge | None:
        item = self._call(
            "get_item", TableName=self._table, Key=marker_key(order_no), ConsistentRead=True
        ).get("Item")
        return charge_from(item) if item else None

    def create(self, charge: PaidCharge) -> bool:
        return self._put_new(charge_item(charge))

    def put_start_keys(self, charge: PaidCharge) -> None:
        expires = int((charge.created_at + START_KEY_RETENTION).timestamp())
        for key in charge.keys:
            item = {
                **start_key(charge.pile_id, key),
                "kind": s("paid_start"),
                "order_no": s(charge.order_no),
                "created_at": s(to_wire(charge.created_at)),
                "expires_at": n(expires),
            }
            self._call("put_item", TableName=self._table, Item=item)

    def find_start(self, pile_id: str, key: str) -> str | None:
        item = self._call(
            "get_item",
            TableName=self._table,
            Key=start_key(pile_id, key),
            ProjectionExpression="order_no",
        ).get("Item")
        return text_of(item, "order_no") if item else None

    def link(self, order_no: str, session_id: str, now: datetime) -> tuple[bool, PaidCharge | None]:
        linked, charge = self._transition(
            order_no,
            "SET #st = :charging, session_id = :sid, linked_at = :now REMOVE gsi2pk, gsi2sk",
            "#st = :starting",
            {
                ":charging": s(PaidChargeState.CHARGING.value),
                ":starting": s(PaidChargeState.STARTING.value),
                ":sid": s(session_id),
                ":now": s(to_wire(now)),
            },
        )
        if not linked and charge is not None and charge.session_id == session_id:
            return (True, charge)  # a retried start of the session it is linked to
        return (linked, charge)

    def store_token(self, order_no: str, task_token: str, now: datetime) -> PaidCharge | None:
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=marker_key(order_no),
                UpdateExpression="SET task_token = :t, token_stored_at = :now",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":t": s(task_token), ":now": s(to_wire(now))},
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return None
            raise upstream("UpdateItem") from exc
        except BotoCoreError as exc:
            raise upstream("UpdateItem") from exc
        return charge_from(response["Attributes"])

    def record_end(self, order_no: str, end: SessionEnd) -> tuple[bool, PaidCharge | None]:
        values: dict[str, Any] = {
            ":ended": s(PaidChargeState.ENDED.value),
            ":charging": s(PaidChargeState.CHARGING.value),
            ":sid": s(end.session_id),
            ":wh": n(end.energy_wh),
            ":at": s(to_wire(end.ended_at)),
        }
        sets = "SET #st = :ended, end_session_id = :sid, end_energy_wh = :wh, ended_at = :at"
        if end.stop_reason is not None:
            sets += ", end_stop_reason = :why"
            values[":why"] = s(end.stop_reason)
        return self._transition(order_no, sets, "#st = :charging", values)

    def record_failure(
        self, order_no: str, reason: str, now: datetime
    ) -> tuple[bool, PaidCharge | None]:
        return self._transition(
            order_no,
            "SET #st = :never, failure = :why, failed_at = :now REMOVE gsi2pk, gsi2sk",
            "#st = :starting",
            {
                ":never": s(PaidChargeState.NEVER_STARTED.value),
                ":starting": s(PaidChargeState.STARTING.value),
                ":why": s(reason),
                ":now": s(to_wire(now)),
            },
        )

    def starts_due(self, now: datetime, limit: int) -> list[PaidCharge]:
        response = self._call(
            "query",
            TableName=self._table,
            IndexName="GSI2",
            KeyConditionExpression="gsi2pk = :p AND gsi2sk <= :due",
            ExpressionAttributeValues={":p": s(PAID_STARTING), ":due": s(f"{to_wire(now)}#~")},
            Limit=limit,
        )
        return [charge_from(item) for item in response.get("Items", [])]

    def postpone(self, order_no: str, check_at: datetime) -> None:
        self._transition(
            order_no,
            "SET check_at = :at, gsi2sk = :due",
            "#st = :starting",
            {
                ":at": s(to_wire(check_at)),
                ":due": s(f"{to_wire(check_at)}#{order_no}"),
                ":starting": s(PaidChargeState.STARTING.value),
            },
            returns=False,
        )

    # -- the session's link

    def put_link(self, link: PaidLink) -> None:
        self._put_new(link_item(link))

    def get_link(self, session_id: str, *, consistent: bool = False) -> PaidLink | None:
        item = self._call(
            "get_item", TableName=self._table, Key=link_key(session_id), ConsistentRead=consistent
        ).get("Item")
        return link_from(item) if item else None

    def request_stop(self, session_id: str, reason: str, call_id: str, now: datetime) -> bool:
        return conditional_update(
            self._client,
            TableName=self._table,
            Key=link_key(session_id),
            UpdateExpression="SET stop_reason = :why, stop_call_id = :c, stop_requested_at = :now",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(stop_requested_at)",
            ExpressionAttributeValues={
                ":why": s(reason),
                ":c": s(call_id),
                ":now": s(to_wire(now)),
            },
        )

    def logged_samples(self, session_id: str) -> list[MeterSample]:
        samples: list[MeterSample] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :p AND begins_with(sk, :m)",
            "ExpressionAttributeValues": {":p": s(f"SESSION#{session_id}"), ":m": s("METER#")},
            "ProjectionExpression": "samples",
        }
        while True:
            response = self._call("query", **request)
            for item in response.get("Items", []):
                samples.extend(samples_from_list(item))
            last = response.get("LastEvaluatedKey")
            if not last:
                return samples
            request["ExclusiveStartKey"] = last

    # -- BaseDataTable

    def gun_status(self, pile_id: str, gun_no: int) -> tuple[bool, str | None]:
        item = self._call(
            "get_item",
            TableName=self._base_table,
            Key={"pk": s(f"PILE#{pile_id}"), "sk": s(f"GUN#{gun_no:03d}")},
            ProjectionExpression="pk, #st",
            ExpressionAttributeNames={"#st": "status"},
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            return (False, None)
        return (True, text_of(item, "status"))

    def tariff(self, tariff_id: str, version: int) -> Tariff:
        tariff: Tariff = self._tariff(tariff_id, version)
        return tariff

    def _read_tariff(self, tariff_id: str, version: int) -> Tariff:
        from shared.adapters.dynamodb.base_data_items import decode_item, tariff_from

        raw = self._call(
            "get_item",
            TableName=self._base_table,
            Key={"pk": s(f"TARIFF#{tariff_id}"), "sk": s(f"VERSION#{version:06d}")},
        ).get("Item")
        if raw is None:
            raise TariffMissing(
                f"tariff {tariff_id} version {version} not found",
                tariff_id=tariff_id,
                version=version,
            )
        return tariff_from(decode_item(raw))

    # -- load bands at switch-on

    def site_load(self, station_id: str) -> SiteLoad | None:
        from shared.adapters.dynamodb.gateways import DynamoSiteLoads

        return DynamoSiteLoads(self._table, self._client).get(station_id)

    def site_limits(self, station_id: str, pile_id: str) -> SiteLimits:
        from shared.services.paid_charging import SiteLimits

        station_key = {"pk": s(f"STATION#{station_id}"), "sk": s("STATION")}
        pile_key = {"pk": s(f"PILE#{pile_id}"), "sk": s("PILE")}
        request: dict[str, Any] = {
            self._base_table: {
                "Keys": [station_key, pile_key],
                "ProjectionExpression": "pk, transformer_capacity_kva, rated_power_w",
                "ConsistentRead": True,
            }
        }
        items: list[dict[str, Any]] = []
        for _ in range(_BATCH_ATTEMPTS):
            response = self._call("batch_get_item", RequestItems=request)
            items.extend(response.get("Responses", {}).get(self._base_table, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise upstream("BatchGetItem")
        by_pk = {text_of(item, "pk"): item for item in items}
        station = by_pk.get(f"STATION#{station_id}")
        pile = by_pk.get(f"PILE#{pile_id}")
        return SiteLimits(
            capacity_kva=None
            if station is None
            else number_of(station, "transformer_capacity_kva"),
            rated_power_w=None if pile is None else number_of(pile, "rated_power_w"),
        )

    # -- plumbing

    def _transition(
        self,
        order_no: str,
        expression: str,
        condition: str,
        values: dict[str, Any],
        *,
        returns: bool = True,
    ) -> tuple[bool, PaidCharge | None]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": marker_key(order_no),
            "UpdateExpression": expression,
            "ConditionExpression": f"attribute_exists(pk) AND ({condition})",
            "ExpressionAttributeNames": {"#st": "state"},
            "ExpressionAttributeValues": values,
        }
        if returns:
            request["ReturnValues"] = "ALL_NEW"
            request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        try:
            response = self._client.update_item(**request)
        except ClientError as exc:
            if is_condition_failure(exc):
                old = exc.response.get("Item")
                return (False, charge_from(old) if old else None)
            raise upstream("UpdateItem") from exc
        except BotoCoreError as exc:
            raise upstream("UpdateItem") from exc
        attributes = response.get("Attributes")
        return (True, charge_from(attributes) if attributes else None)

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
            raise upstream("".join(part.title() for part in operation.split("_"))) from exc
        return response


# --- item codecs ---------------------------------------------------------------------------


def _target_fields(target: ChargeTarget) -> dict[str, Any]:
    fields: dict[str, Any] = {"target_mode": s(target.mode.value)}
    if target.value is not None:
        fields["target_value"] = n(target.value)
    return fields


def _target_from(item: dict[str, Any]) -> ChargeTarget:
    from shared.domain.pricing import ChargeMode, ChargeTarget

    mode = text_of(item, "target_mode") or ""
    return ChargeTarget(ChargeMode(mode), number_of(item, "target_value"))


def charge_item(charge: PaidCharge) -> dict[str, Any]:
    item: dict[str, Any] = {
        **marker_key(charge.order_no),
        "kind": s("paid_charge"),
        "order_no": s(charge.order_no),
        "operator_id": s(charge.operator_id),
        "station_id": s(charge.station_id),
        "pile_id": s(charge.pile_id),
        "gun_no": n(charge.gun_no),
        "id_tag": s(charge.id_tag),
        **_target_fields(charge.target),
        "prepaid_cap_fen": n(charge.prepaid_cap_fen),
        "tariff_id": s(charge.tariff_id),
        "tariff_version": n(charge.tariff_version),
        "protocol": s(str(charge.protocol)),
        "call_id": s(charge.call_id),
        "created_at": s(to_wire(charge.created_at)),
        "check_at": s(to_wire(charge.check_at)),
        "state": s(charge.state.value),
        "expires_at": n(int((charge.created_at + MARKER_RETENTION).timestamp())),
    }
    if charge.remote_start_id is not None:
        item["remote_start_id"] = n(charge.remote_start_id)
    if charge.load_band is not None:
        item["load_band"] = s(charge.load_band)
    if charge.power_limit_w is not None:
        item["power_limit_w"] = n(charge.power_limit_w)
    if charge.failure is not None:  # refused at switch-on: stored never_started
        item["failure"] = s(charge.failure)
    if charge.failed_at is not None:
        item["failed_at"] = s(to_wire(charge.failed_at))
    if charge.is_starting:
        item["gsi2pk"] = s(PAID_STARTING)
        item["gsi2sk"] = s(f"{to_wire(charge.check_at)}#{charge.order_no}")
    return item


def charge_from(item: dict[str, Any]) -> PaidCharge:
    def at(name: str) -> datetime | None:
        text = text_of(item, name)
        return from_wire(text) if text else None

    def required(name: str) -> str:
        text = text_of(item, name)
        if text is None:
            raise ValueError(f"paid charge item without {name}")
        return text

    def required_number(name: str) -> int:
        number = number_of(item, name)
        if number is None:
            raise ValueError(f"paid charge item without {name}")
        return number

    end = None
    end_session = text_of(item, "end_session_id")
    ended_at = at("ended_at")
    if end_session is not None and ended_at is not None:
        end = SessionEnd(
            session_id=end_session,
            energy_wh=number_of(item, "end_energy_wh") or 0,
            stop_reason=text_of(item, "end_stop_reason"),
            ended_at=ended_at,
        )
    return PaidCharge(
        order_no=required("order_no"),
        operator_id=required("operator_id"),
        station_id=required("station_id"),
        pile_id=required("pile_id"),
        gun_no=required_number("gun_no"),
        id_tag=required("id_tag"),
        target=_target_from(item),
        prepaid_cap_fen=required_number("prepaid_cap_fen"),
        tariff_id=required("tariff_id"),
        tariff_version=required_number("tariff_version"),
        protocol=_protocol(required("protocol")),
        call_id=required("call_id"),
        created_at=from_wire(required("created_at")),
        check_at=from_wire(required("check_at")),
        state=PaidChargeState(required("state")),
        remote_start_id=number_of(item, "remote_start_id"),
        session_id=text_of(item, "session_id"),
        linked_at=at("linked_at"),
        task_token=text_of(item, "task_token"),
        end=end,
        failure=text_of(item, "failure"),
        failed_at=at("failed_at"),
        load_band=text_of(item, "load_band"),
        power_limit_w=number_of(item, "power_limit_w"),
    )


def _protocol(text: str) -> OcppVersion | str:
    return MODBUS if text == MODBUS else OcppVersion(text)


def link_item(link: PaidLink) -> dict[str, Any]:
    item: dict[str, Any] = {
        **link_key(link.session_id),
        "kind": s("paid_link"),
        "session_id": s(link.session_id),
        "order_no": s(link.order_no),
        **_target_fields(link.target),
        "prepaid_cap_fen": n(link.prepaid_cap_fen),
        "tariff_id": s(link.tariff_id),
        "tariff_version": n(link.tariff_version),
    }
    return item


def link_from(item: dict[str, Any]) -> PaidLink:
    requested = text_of(item, "stop_requested_at")
    return PaidLink(
        session_id=text_of(item, "session_id") or "",
        order_no=text_of(item, "order_no") or "",
        target=_target_from(item),
        prepaid_cap_fen=number_of(item, "prepaid_cap_fen") or 0,
        tariff_id=text_of(item, "tariff_id") or "",
        tariff_version=number_of(item, "tariff_version") or 0,
        stop_reason=text_of(item, "stop_reason"),
        stop_call_id=text_of(item, "stop_call_id"),
        stop_requested_at=from_wire(requested) if requested else None,
    )
