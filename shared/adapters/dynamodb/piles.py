"""What the pile side (ws_connect, ocpp_router) reads and writes in BaseDataTable, and
the fault events it records in FaultsTable.

The pile and gun items belong to the base-data repository; this module writes only
presence (``connection_id``, ``connected_at``, ``is_online``, ``last_seen_at``: stamped
at ``$connect``, boot and ``$disconnect``, never per frame), the
``boot`` map and ``registration_status`` on the pile item, and ``status``, ``status_at``,
``error_code``, ``vendor_error_code``, ``status_reported_at`` on gun items. Every write
is conditional on the item existing, so a pile deleted meanwhile is never recreated.
Modbus piles (no WebSocket) get the same two presence fields from their gateway:
``mark_bus_online`` when the gateway speaks after a silence (or the pile joins its bus),
``mark_bus_offline`` when housekeeping finds the gateway silent.
These are system paths without a ``Principal``: the pile id comes from an authenticated
connection, and cards are matched to the pile's operator in the domain.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.adapters.dynamodb.connections import (
    bool_of,
    conditional_update,
    is_condition_failure,
    n,
    s,
    text_of,
    upstream,
)
from shared.domain.clock import to_wire
from shared.domain.ocpp.authorization import CardRecord
from shared.domain.ocpp.availability import FaultEvent, StatusReport
from shared.domain.ocpp.handshake import PileAccess
from shared.domain.ocpp.provisioning import BootInfo, RegistrationStatus
from shared.services.ocpp.ports import BootWrite, PileRoute, StatusWrite

_TRUE = {"BOOL": True}
_FALSE = {"BOOL": False}


def pile_key(pile_id: str) -> dict[str, dict[str, str]]:
    return {"pk": s(f"PILE#{pile_id}"), "sk": s("PILE")}


def gun_key(pile_id: str, gun_no: int) -> dict[str, dict[str, str]]:
    return {"pk": s(f"PILE#{pile_id}"), "sk": s(f"GUN#{gun_no:03d}")}


def _optional(value: str | None) -> dict[str, Any]:
    return {"NULL": True} if value is None else s(value)


def boot_map(boot: BootInfo) -> dict[str, Any]:
    return {
        "M": {
            "vendor": s(boot.vendor),
            "model": s(boot.model),
            "serial": _optional(boot.serial),
            "firmware": _optional(boot.firmware),
            "iccid": _optional(boot.iccid),
            "imsi": _optional(boot.imsi),
            "booted_at": s(to_wire(boot.booted_at)),
        }
    }


class DynamoPiles:
    """The pile side of BaseDataTable (pile and gun items, card lookup for Authorize)."""

    def __init__(self, table_name: str, client: Any) -> None:
        self._table = table_name
        self._client = client

    def get_access(self, pile_id: str) -> PileAccess | None:
        item = self._get(
            pile_key(pile_id),
            [
                "pile_id",
                "operator_id",
                "station_id",
                "protocol",
                "password_hash",
                "is_enabled",
                "registration_status",
            ],
        )
        if item is None:
            return None
        return PileAccess(
            pile_id=text_of(item, "pile_id") or pile_id,
            operator_id=text_of(item, "operator_id") or "",
            station_id=text_of(item, "station_id"),
            protocol=text_of(item, "protocol") or "",
            password_hash=text_of(item, "password_hash"),
            is_enabled=bool_of(item, "is_enabled"),
            registration_status=text_of(item, "registration_status"),
        )

    def get_route(self, pile_id: str) -> PileRoute | None:
        item = self._get(
            pile_key(pile_id), ["pile_id", "operator_id", "protocol", "connection_id", "is_online"]
        )
        if item is None:
            return None
        return PileRoute(
            pile_id=pile_id,
            operator_id=text_of(item, "operator_id") or "",
            protocol=text_of(item, "protocol") or "",
            connection_id=text_of(item, "connection_id"),
            is_online=bool_of(item, "is_online"),
        )

    def find_card(self, card_no: str) -> CardRecord | None:
        item = self._get(
            {"pk": s(f"CARD#{card_no}"), "sk": s("CARD")}, ["card_no", "operator_id", "status"]
        )
        if item is None:
            return None
        return CardRecord(
            card_no=text_of(item, "card_no") or card_no,
            operator_id=text_of(item, "operator_id") or "",
            status=text_of(item, "status") or "",
        )

    def mark_connected(self, pile_id: str, connection_id: str, connected_at: datetime) -> bool:
        return self._update(
            pile_key(pile_id),
            "SET connection_id = :c, connected_at = :t, is_online = :on, last_seen_at = :t",
            "attribute_exists(pk)",
            {":c": s(connection_id), ":t": s(to_wire(connected_at)), ":on": _TRUE},
        )

    def mark_disconnected(self, pile_id: str, connection_id: str, now: datetime) -> bool:
        # The close is when the pile was last known to be there: no frame stamps presence
        # (that would cost writes on an idle pile), the connection itself is the evidence.
        return self._update(
            pile_key(pile_id),
            "SET is_online = :off, last_seen_at = :t REMOVE connection_id",
            "connection_id = :c",
            {":c": s(connection_id), ":off": _FALSE, ":t": s(to_wire(now))},
        )

    def mark_bus_online(self, pile_id: str, at: datetime) -> bool:
        """A Modbus pile's gateway speaks: ``is_online``, ``last_seen_at`` = ``at``; False
        when the pile does not exist. Raises: UpstreamFailure."""
        return self._update(
            pile_key(pile_id),
            "SET is_online = :on, last_seen_at = :t",
            "attribute_exists(pk)",
            {":on": _TRUE, ":t": s(to_wire(at))},
        )

    def mark_bus_offline(self, pile_id: str, last_seen_at: datetime) -> bool:
        """A Modbus pile's gateway went silent after ``last_seen_at``: offline, last seen
        then. Not when the pile was stamped online later (its gateway spoke again
        meanwhile), nor for a pile on a WebSocket (``connection_id``): False then.

        Raises: UpstreamFailure."""
        return self._update(
            pile_key(pile_id),
            "SET is_online = :off, last_seen_at = :t",
            "attribute_exists(pk) AND attribute_not_exists(connection_id) AND "
            "(attribute_not_exists(last_seen_at) OR last_seen_at <= :t)",
            {":off": _FALSE, ":t": s(to_wire(last_seen_at))},
        )

    def record_boot(
        self,
        pile_id: str,
        connection_id: str,
        boot: BootInfo,
        status: RegistrationStatus,
        *,
        only_if_enabled: bool,
    ) -> BootWrite:
        del connection_id  # a boot counts whichever connection carried it
        condition = "attribute_exists(pk)"
        values: dict[str, Any] = {
            ":boot": boot_map(boot),
            ":status": s(status.value),
            ":t": s(to_wire(boot.booted_at)),
        }
        if only_if_enabled:
            condition += " AND is_enabled = :on"
            values[":on"] = _TRUE
        try:
            self._client.update_item(
                TableName=self._table,
                Key=pile_key(pile_id),
                UpdateExpression="SET boot = :boot, registration_status = :status, "
                "last_seen_at = :t",
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return (
                    BootWrite.PILE_DISABLED if exc.response.get("Item") else BootWrite.PILE_MISSING
                )
            raise upstream("UpdateItem") from exc
        except BotoCoreError as exc:
            raise upstream("UpdateItem") from exc
        return BootWrite.WRITTEN

    def set_gun_status(self, pile_id: str, report: StatusReport) -> StatusWrite:
        values: dict[str, Any] = {
            ":status": s(report.status),
            ":at": s(to_wire(report.received_at)),
            ":reported": s(to_wire(report.reported_at)),
        }
        sets = ["#status = :status", "status_at = :at", "status_reported_at = :reported"]
        removes = []
        for name, value in (
            ("error_code", report.error_code),
            ("vendor_error_code", report.vendor_error_code),
        ):
            if value is None:
                removes.append(name)
            else:
                sets.append(f"{name} = :{name}")
                values[f":{name}"] = s(value)
        expression = "SET " + ", ".join(sets)
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        try:
            self._client.update_item(
                TableName=self._table,
                Key=gun_key(pile_id, report.gun_no),
                UpdateExpression=expression,
                # Times are all written by to_wire (same width, Z), so text order is time order.
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists("
                "status_reported_at) OR status_reported_at <= :reported)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return StatusWrite.STALE if exc.response.get("Item") else StatusWrite.NO_SUCH_GUN
            raise upstream("UpdateItem") from exc
        except BotoCoreError as exc:
            raise upstream("UpdateItem") from exc
        return StatusWrite.APPLIED

    def _get(self, key: dict[str, Any], attributes: list[str]) -> dict[str, Any] | None:
        names = {f"#a{index}": name for index, name in enumerate(attributes)}
        try:
            response = self._client.get_item(
                TableName=self._table,
                Key=key,
                ProjectionExpression=", ".join(names),
                ExpressionAttributeNames=names,
            )
        except (ClientError, BotoCoreError) as exc:
            raise upstream("GetItem") from exc
        item: dict[str, Any] | None = response.get("Item")
        return item

    def _update(
        self, key: dict[str, Any], expression: str, condition: str, values: dict[str, Any]
    ) -> bool:
        return conditional_update(
            self._client,
            TableName=self._table,
            Key=key,
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
        )


class DynamoPileFaults:
    """Fault events reported by piles, in FaultsTable, for the faults capability."""

    def __init__(self, table_name: str, client: Any) -> None:
        self._table = table_name
        self._client = client

    def record(self, fault: FaultEvent) -> bool:
        created_at = to_wire(fault.created_at)
        item: dict[str, Any] = {
            "pk": s(f"FAULT#{fault.fault_id}"),
            "sk": s("FAULT"),
            "fault_id": s(fault.fault_id),
            "source": s("pile"),
            "status": s("open"),
            "operator_id": s(fault.operator_id),
            "pile_id": s(fault.pile_id),
            "gun_no": n(fault.gun_no),
            "error_code": s(fault.error_code),
            "reported_at": s(to_wire(fault.reported_at)),
            "created_at": s(created_at),
            "gsi1pk": s(f"OPERATOR#{fault.operator_id}#open"),
            "gsi1sk": s(created_at),
            "gsi2pk": s(f"PILE#{fault.pile_id}"),
            "gsi2sk": s(created_at),
        }
        for name, value in (
            ("station_id", fault.station_id),
            ("vendor_error_code", fault.vendor_error_code),
            ("info", fault.info),
        ):
            if value:
                item[name] = s(value)
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
