"""The driver API's items (docs/data-model.md, "Drivers"), on BaseDataTable unless noted.

- driver: ``DRIVER#{user_id}`` / ``PROFILE``;
- login of an app's openid: ``LOGIN#{app}#{openid}`` / ``LOGIN`` -> ``user_id`` (written in
  one transaction with a new driver, conditional on neither existing);
- the driver's paid charges: ``DRIVER#{user_id}`` / ``ORDER#{created_at}#{order_no}``;
- stations near a point: Query GSI2 ``GEO#{geohash5}`` per cell (the station index);
- a station's piles: Query GSI1 ``OPERATOR#{op}#PILES`` begins_with ``STATION#{sid}#``;
  their guns: Query ``PILE#{id}`` (pile and guns at once).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from shared.adapters.dynamodb.base_data_items import (
    card_from,
    decode_item,
    encode_item,
    gun_from,
    item_key,
    pile_from,
    station_from,
)
from shared.domain.cards import Card
from shared.domain.clock import from_wire, to_wire
from shared.domain.driver_care import Complaint, Reservation
from shared.domain.drivers import Driver, LoginApp
from shared.domain.errors import NotFound, UpstreamFailure
from shared.domain.payment_orders import PaymentOrder
from shared.domain.piles import Gun, Pile
from shared.domain.stations import Station

Item = dict[str, Any]
MAX_STATIONS_PER_CELL = 200


def _driver_key(user_id: str) -> dict[str, Any]:
    return item_key(f"DRIVER#{user_id}", "PROFILE")


def _login_key(app: LoginApp, openid: str) -> dict[str, Any]:
    return item_key(f"LOGIN#{app.value}#{openid}", "LOGIN")


def driver_item(driver: Driver) -> Item:
    return {
        "pk": f"DRIVER#{driver.user_id}",
        "sk": "PROFILE",
        "kind": "driver",
        "user_id": driver.user_id,
        "created_at": to_wire(driver.created_at),
        "openids": dict(driver.openids) or None,
        "phone": driver.phone,
        "nickname": driver.nickname,
        "consumption_wh_per_km": driver.consumption_wh_per_km,
    }


def driver_from(item: Mapping[str, Any]) -> Driver:
    consumption = item.get("consumption_wh_per_km")
    return Driver(
        user_id=str(item["user_id"]),
        created_at=from_wire(str(item["created_at"])),
        openids={str(k): str(v) for k, v in (item.get("openids") or {}).items()},
        phone=None if item.get("phone") is None else str(item["phone"]),
        nickname=None if item.get("nickname") is None else str(item["nickname"]),
        consumption_wh_per_km=None if consumption is None else int(consumption),
    )


class DynamoTable:
    """One table and the wrapping every call needs (SDK errors -> UpstreamFailure)."""

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self._table = table_name
        self._client = client if client is not None else boto3.client("dynamodb")

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = getattr(self._client, operation)(**kwargs)
        except ClientError as exc:
            raise UpstreamFailure("the table refused the request", operation=operation) from exc
        except BotoCoreError as exc:
            raise UpstreamFailure("the table did not answer", operation=operation) from exc
        return answer

    def _try(self, operation: str, **kwargs: Any) -> bool:
        """A conditional write: False when its condition failed."""
        try:
            getattr(self._client, operation)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("ConditionalCheckFailedException", "TransactionCanceledException"):
                reasons = exc.response.get("CancellationReasons") or []
                if code == "ConditionalCheckFailedException" or any(
                    reason.get("Code") == "ConditionalCheckFailed" for reason in reasons
                ):
                    return False
            raise UpstreamFailure("the table refused the write", operation=operation) from exc
        except BotoCoreError as exc:
            raise UpstreamFailure("the table did not answer", operation=operation) from exc
        return True

    def _get(self, key: dict[str, Any], *, consistent: bool = False) -> Item | None:
        raw = self._call("get_item", TableName=self._table, Key=key, ConsistentRead=consistent).get(
            "Item"
        )
        return decode_item(raw) if raw else None

    def _query_all(self, limit: int, **kwargs: Any) -> list[Item]:
        """Every item of a query, up to ``limit`` items."""
        items: list[Item] = []
        start: dict[str, Any] | None = None
        while len(items) < limit:
            request = dict(kwargs, TableName=self._table, Limit=limit - len(items))
            if start is not None:
                request["ExclusiveStartKey"] = start
            answer = self._call("query", **request)
            items.extend(decode_item(raw) for raw in answer.get("Items", []))
            start = answer.get("LastEvaluatedKey")
            if start is None:
                break
        return items

    def _batch_get(self, keys: Sequence[dict[str, Any]]) -> list[Item]:
        found: list[Item] = []
        for first in range(0, len(keys), 100):
            pending: dict[str, Any] = {self._table: {"Keys": list(keys[first : first + 100])}}
            for _ in range(8):
                answer = self._call("batch_get_item", RequestItems=pending)
                found.extend(
                    decode_item(raw) for raw in answer.get("Responses", {}).get(self._table, [])
                )
                pending = answer.get("UnprocessedKeys") or {}
                if not pending:
                    break
            if pending:
                raise UpstreamFailure("the table left keys unread", operation="BatchGetItem")
        return found


class DynamoDrivers(DynamoTable):
    """``shared.services.driver_login.DriverStore`` on BaseDataTable."""

    def get(self, user_id: str) -> Driver | None:
        item = self._get(_driver_key(user_id), consistent=True)
        return driver_from(item) if item else None

    def find_login(self, app: LoginApp, openid: str) -> str | None:
        item = self._get(_login_key(app, openid), consistent=True)
        return None if item is None else str(item["user_id"])

    def create(self, driver: Driver, app: LoginApp, openid: str) -> bool:
        login = {
            **{"pk": f"LOGIN#{app.value}#{openid}", "sk": "LOGIN"},
            "kind": "driver_login",
            "user_id": driver.user_id,
            "created_at": to_wire(driver.created_at),
        }
        absent = "attribute_not_exists(pk)"
        return self._try(
            "transact_write_items",
            TransactItems=[
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": encode_item(driver_item(driver)),
                        "ConditionExpression": absent,
                    }
                },
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": encode_item(login),
                        "ConditionExpression": absent,
                    }
                },
            ],
        )

    def save_profile(self, driver: Driver) -> None:
        if not self._try(
            "put_item",
            TableName=self._table,
            Item=encode_item(driver_item(driver)),
            ConditionExpression="attribute_exists(pk)",
        ):
            raise NotFound("driver not found", kind="driver")


class DynamoStationIndex(DynamoTable):
    """Stations by geohash cell, their piles and guns (read-only, across operators: drivers
    see every operator's public sites)."""

    def stations_in_cells(self, cells: Sequence[str]) -> list[Station]:
        stations: list[Station] = []
        for cell in cells:
            items = self._query_all(
                MAX_STATIONS_PER_CELL,
                IndexName="GSI2",
                KeyConditionExpression="gsi2pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"GEO#{cell}"}},
            )
            stations.extend(station_from(item) for item in items if item.get("kind") == "station")
        return stations

    def station(self, station_id: str) -> Station | None:
        item = self._get(item_key(f"STATION#{station_id}", "STATION"))
        return station_from(item) if item else None

    def piles_of(self, station: Station, limit: int = 200) -> list[Pile]:
        items = self._query_all(
            limit,
            IndexName="GSI1",
            KeyConditionExpression="gsi1pk = :pk AND begins_with(gsi1sk, :sid)",
            ExpressionAttributeValues={
                ":pk": {"S": f"OPERATOR#{station.operator_id}#PILES"},
                ":sid": {"S": f"STATION#{station.station_id}#"},
            },
        )
        return [pile_from(item) for item in items if item.get("kind") == "pile"]

    def guns_of(self, piles: Sequence[Pile]) -> list[Gun]:
        """Every gun of ``piles``, by BatchGetItem (pile items name their gun count)."""
        keys = [
            item_key(f"PILE#{pile.pile_id}", f"GUN#{gun_no:03d}")
            for pile in piles
            for gun_no in pile.gun_numbers()
        ]
        return [gun_from(item) for item in self._batch_get(keys)]

    def pile_with_guns(self, pile_id: str) -> tuple[Pile | None, list[Gun]]:
        items = self._query_all(
            64,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"PILE#{pile_id}"}},
            ConsistentRead=True,
        )
        pile = next((pile_from(i) for i in items if i.get("sk") == "PILE"), None)
        guns = [gun_from(i) for i in items if str(i.get("sk", "")).startswith("GUN#")]
        return pile, guns


class DynamoGunReservations(DynamoTable):
    """The live reservation of a gun: ``PILE#{pile_id}`` / ``RESERVATION#{gun_no:03d}``
    (``user_id``, ``reservation_id``, ``expires_at``), replaced only once expired."""

    def holder_of(self, pile_id: str, gun_no: int, now: datetime) -> str | None:
        item = self._get(item_key(f"PILE#{pile_id}", f"RESERVATION#{gun_no:03d}"), consistent=True)
        if item is None or from_wire(str(item["expires_at"])) <= now:
            return None
        return str(item["user_id"])


@dataclass(frozen=True, slots=True)
class ChargeLink:
    """A driver's paid charge: the order number, and the rating given afterwards."""

    user_id: str
    order_no: str
    created_at: datetime
    rating: int | None = None
    comment: str | None = None


def _link_from(item: Mapping[str, Any]) -> ChargeLink:
    rating = item.get("rating")
    return ChargeLink(
        user_id=str(item["user_id"]),
        order_no=str(item["order_no"]),
        created_at=from_wire(str(item["created_at"])),
        rating=None if rating is None else int(rating),
        comment=None if item.get("comment") is None else str(item["comment"]),
    )


class DynamoDriverCharges(DynamoTable):
    """A driver's paid charges on BaseDataTable: ``DRIVER#{user_id}`` / ``ORDER#{order_no}``
    (order numbers sort by time) and the request that made each, ``DRIVER#{user_id}`` /
    ``REQUEST#{request_id}`` (a retried request names the same order). The orders themselves
    are on LedgerTable (``ORDER#{order_no}`` / ``ORDER``), read by BatchGetItem."""

    def __init__(self, table_name: str, ledger_table: str, client: Any | None = None) -> None:
        super().__init__(table_name, client)
        self._ledger = DynamoTable(ledger_table, self._client)

    def claim(self, user_id: str, request_id: str, order_no: str, now: datetime) -> str:
        """The order number of this request: ``order_no`` if the request is new (stored with
        the driver's link in one transaction), else the one stored first."""
        at = to_wire(now)
        request = {
            "pk": f"DRIVER#{user_id}",
            "sk": f"REQUEST#{request_id}",
            "kind": "driver_charge_request",
            "order_no": order_no,
            "created_at": at,
        }
        link = {
            "pk": f"DRIVER#{user_id}",
            "sk": f"ORDER#{order_no}",
            "kind": "driver_charge",
            "user_id": user_id,
            "order_no": order_no,
            "created_at": at,
        }
        absent = "attribute_not_exists(pk)"
        if self._try(
            "transact_write_items",
            TransactItems=[
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": encode_item(r),
                        "ConditionExpression": absent,
                    }
                }
                for r in (request, link)
            ],
        ):
            return order_no
        stored = self._get(item_key(f"DRIVER#{user_id}", f"REQUEST#{request_id}"), consistent=True)
        if stored is None:
            raise UpstreamFailure("the charge request could not be stored; try again")
        return str(stored["order_no"])

    def get_link(self, user_id: str, order_no: str) -> ChargeLink | None:
        item = self._get(item_key(f"DRIVER#{user_id}", f"ORDER#{order_no}"), consistent=True)
        return _link_from(item) if item else None

    def list_links(
        self, user_id: str, *, limit: int, before: str | None
    ) -> tuple[list[ChargeLink], str | None]:
        """The driver's charges newest first; ``before`` is the last order number seen."""
        values: dict[str, Any] = {":pk": {"S": f"DRIVER#{user_id}"}, ":sk": {"S": "ORDER#"}}
        condition = "pk = :pk AND begins_with(sk, :sk)"
        if before is not None:
            condition = "pk = :pk AND sk BETWEEN :sk AND :before"
            values[":before"] = {"S": f"ORDER#{before}"}
        answer = self._call(
            "query",
            TableName=self._table,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ScanIndexForward=False,
            Limit=limit + 2,
            ConsistentRead=True,
        )
        links = [_link_from(decode_item(raw)) for raw in answer.get("Items", [])]
        links = [link for link in links if before is None or link.order_no < before]
        page = links[:limit]
        more = len(links) > limit or (len(page) == limit and "LastEvaluatedKey" in answer)
        return page, (page[-1].order_no if page and more else None)

    def orders(self, order_nos: Sequence[str]) -> dict[str, PaymentOrder]:
        """The stored orders by number; missing ones are left out."""
        from shared.adapters.dynamodb.payment_orders import order_from

        keys = [item_key(f"ORDER#{no}", "ORDER") for no in order_nos]
        found = (order_from(item) for item in self._ledger._batch_get(keys))
        return {order.order_no: order for order in found}

    def rate(
        self, user_id: str, order_no: str, stars: int, comment: str | None, now: datetime
    ) -> bool:
        """Rate once: False when the charge was rated already."""
        names = {"#r": "rating"}
        values: dict[str, Any] = {":r": {"N": str(stars)}, ":t": {"S": to_wire(now)}}
        expression = "SET #r = :r, rated_at = :t"
        if comment is not None:
            expression += ", #c = :c"
            names["#c"] = "comment"
            values[":c"] = {"S": comment}
        return self._try(
            "update_item",
            TableName=self._table,
            Key=item_key(f"DRIVER#{user_id}", f"ORDER#{order_no}"),
            UpdateExpression=expression,
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(#r)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )


class DynamoDriverCards(DynamoTable):
    """Card bindings on BaseDataTable: ``CARD#{card_no}`` / ``BINDING`` (one driver per card)
    and ``DRIVER#{user_id}`` / ``CARD#{card_no}``, written and removed together."""

    def card(self, card_no: str) -> Card | None:
        item = self._get(item_key(f"CARD#{card_no}", "CARD"))
        return card_from(item) if item else None

    def binding_of(self, card_no: str) -> str | None:
        item = self._get(item_key(f"CARD#{card_no}", "BINDING"), consistent=True)
        return None if item is None else str(item["user_id"])

    def bind(self, user_id: str, card_no: str, now: datetime) -> bool:
        at = to_wire(now)
        binding = {
            "pk": f"CARD#{card_no}",
            "sk": "BINDING",
            "kind": "card_binding",
            "user_id": user_id,
            "bound_at": at,
        }
        link = {
            "pk": f"DRIVER#{user_id}",
            "sk": f"CARD#{card_no}",
            "kind": "driver_card",
            "card_no": card_no,
            "bound_at": at,
        }
        return self._try(
            "transact_write_items",
            TransactItems=[
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": encode_item(item),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
                for item in (binding, link)
            ],
        )

    def unbind(self, user_id: str, card_no: str) -> bool:
        return self._try(
            "transact_write_items",
            TransactItems=[
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": item_key(f"CARD#{card_no}", "BINDING"),
                        "ConditionExpression": "user_id = :u",
                        "ExpressionAttributeValues": {":u": {"S": user_id}},
                    }
                },
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": item_key(f"DRIVER#{user_id}", f"CARD#{card_no}"),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ],
        )

    def bound_cards(self, user_id: str) -> list[tuple[str, datetime]]:
        items = self._query_all(
            50,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :sk)",
            ExpressionAttributeValues={
                ":pk": {"S": f"DRIVER#{user_id}"},
                ":sk": {"S": "CARD#"},
            },
            ConsistentRead=True,
        )
        return [(str(i["card_no"]), from_wire(str(i["bound_at"]))) for i in items]


def complaint_item(complaint: Complaint) -> Item:
    created = to_wire(complaint.created_at)
    return {
        "pk": f"FAULT#{complaint.complaint_id}",
        "sk": "FAULT",
        "fault_id": complaint.complaint_id,
        "source": "driver",
        "status": complaint.status,
        "operator_id": complaint.operator_id,
        "station_id": complaint.station_id,
        "pile_id": complaint.pile_id,
        "gun_no": complaint.gun_no,
        "error_code": f"Driver:{complaint.category}",
        "category": complaint.category,
        "info": complaint.text,
        "user_id": complaint.user_id,
        "photo_key": complaint.photo_key,
        "reported_at": created,
        "created_at": created,
        "updated_at": to_wire(complaint.updated_at),
        "gsi1pk": f"OPERATOR#{complaint.operator_id}#{complaint.status}",
        "gsi1sk": created,
        "gsi2pk": f"PILE#{complaint.pile_id}",
        "gsi2sk": created,
    }


def complaint_from(item: Mapping[str, Any]) -> Complaint:
    gun_no = item.get("gun_no")
    return Complaint(
        complaint_id=str(item["fault_id"]),
        user_id=str(item["user_id"]),
        operator_id=str(item["operator_id"]),
        station_id=str(item["station_id"]),
        pile_id=str(item["pile_id"]),
        gun_no=None if gun_no is None else int(gun_no),
        category=str(item["category"]),
        text=str(item["info"]),
        photo_key=None if item.get("photo_key") is None else str(item["photo_key"]),
        status=str(item["status"]),
        created_at=from_wire(str(item["created_at"])),
        updated_at=from_wire(str(item.get("updated_at") or item["created_at"])),
    )


class DynamoComplaints(DynamoTable):
    """Complaints as driver faults in FaultsTable (``FAULT#{id}`` / ``FAULT``, source
    ``driver``), linked to the driver on BaseDataTable (``DRIVER#{user_id}`` /
    ``COMPLAINT#{created_at}#{id}``)."""

    def __init__(self, faults_table: str, base_table: str, client: Any | None = None) -> None:
        super().__init__(faults_table, client)
        self._base = DynamoTable(base_table, self._client)

    def create(self, complaint: Complaint) -> bool:
        link = {
            "pk": f"DRIVER#{complaint.user_id}",
            "sk": f"COMPLAINT#{to_wire(complaint.created_at)}#{complaint.complaint_id}",
            "kind": "driver_complaint",
            "complaint_id": complaint.complaint_id,
        }
        absent = "attribute_not_exists(pk)"
        return self._try(
            "transact_write_items",
            TransactItems=[
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": encode_item(complaint_item(complaint)),
                        "ConditionExpression": absent,
                    }
                },
                {
                    "Put": {
                        "TableName": self._base._table,
                        "Item": encode_item(link),
                        "ConditionExpression": absent,
                    }
                },
            ],
        )

    def get(self, complaint_id: str) -> Complaint | None:
        item = self._get(item_key(f"FAULT#{complaint_id}", "FAULT"), consistent=True)
        if item is None or item.get("source") != "driver":
            return None
        return complaint_from(item)

    def of_driver(self, user_id: str, limit: int) -> list[Complaint]:
        links = self._base._query_all(
            limit,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :sk)",
            ExpressionAttributeValues={
                ":pk": {"S": f"DRIVER#{user_id}"},
                ":sk": {"S": "COMPLAINT#"},
            },
            ScanIndexForward=False,
        )
        keys = [item_key(f"FAULT#{link['complaint_id']}", "FAULT") for link in links]
        found = {str(i["fault_id"]): complaint_from(i) for i in self._batch_get(keys)}
        ordered = [found[str(link["complaint_id"])] for link in links]
        return [c for c in ordered if c.user_id == user_id]


def reservation_item(reservation: Reservation) -> Item:
    return {
        "pk": f"DRIVER#{reservation.user_id}",
        "sk": f"RESERVATION#{reservation.reservation_id}",
        "kind": "driver_reservation",
        "reservation_id": reservation.reservation_id,
        "user_id": reservation.user_id,
        "operator_id": reservation.operator_id,
        "pile_id": reservation.pile_id,
        "gun_no": reservation.gun_no,
        "created_at": to_wire(reservation.created_at),
        "expires_at": to_wire(reservation.expires_at),
        "call_id": reservation.call_id,
        "cancelled_at": None
        if reservation.cancelled_at is None
        else to_wire(reservation.cancelled_at),
    }


def reservation_from(item: Mapping[str, Any]) -> Reservation:
    cancelled = item.get("cancelled_at")
    return Reservation(
        reservation_id=str(item["reservation_id"]),
        user_id=str(item["user_id"]),
        operator_id=str(item["operator_id"]),
        pile_id=str(item["pile_id"]),
        gun_no=int(item["gun_no"]),
        created_at=from_wire(str(item["created_at"])),
        expires_at=from_wire(str(item["expires_at"])),
        call_id=None if item.get("call_id") is None else str(item["call_id"]),
        cancelled_at=None if cancelled is None else from_wire(str(cancelled)),
    )


class DynamoDriverReservations(DynamoGunReservations):
    """Reservations: the gun's hold ``PILE#{pile_id}`` / ``RESERVATION#{gun_no:03d}`` (taken
    only when absent or expired) and the driver's record ``DRIVER#{user_id}`` /
    ``RESERVATION#{reservation_id}``, written together."""

    def hold(self, reservation: Reservation, now: datetime) -> bool:
        gun_hold = {
            "pk": f"PILE#{reservation.pile_id}",
            "sk": f"RESERVATION#{reservation.gun_no:03d}",
            "kind": "gun_reservation",
            "reservation_id": reservation.reservation_id,
            "user_id": reservation.user_id,
            "expires_at": to_wire(reservation.expires_at),
        }
        return self._try(
            "transact_write_items",
            TransactItems=[
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": encode_item(gun_hold),
                        "ConditionExpression": "attribute_not_exists(pk) OR expires_at <= :now",
                        "ExpressionAttributeValues": {":now": {"S": to_wire(now)}},
                    }
                },
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": encode_item(reservation_item(reservation)),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ],
        )

    def get(self, user_id: str, reservation_id: str) -> Reservation | None:
        item = self._get(
            item_key(f"DRIVER#{user_id}", f"RESERVATION#{reservation_id}"), consistent=True
        )
        return reservation_from(item) if item else None

    def save(self, reservation: Reservation) -> None:
        self._call(
            "put_item",
            TableName=self._table,
            Item=encode_item(reservation_item(reservation)),
        )

    def release(self, reservation: Reservation) -> None:
        self._try(
            "delete_item",
            TableName=self._table,
            Key=item_key(f"PILE#{reservation.pile_id}", f"RESERVATION#{reservation.gun_no:03d}"),
            ConditionExpression="reservation_id = :r",
            ExpressionAttributeValues={":r": {"S": reservation.reservation_id}},
        )

    def of_driver(self, user_id: str, limit: int) -> list[Reservation]:
        items = self._query_all(
            limit,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :sk)",
            ExpressionAttributeValues={
                ":pk": {"S": f"DRIVER#{user_id}"},
                ":sk": {"S": "RESERVATION#"},
            },
            ConsistentRead=True,
        )
        found = [reservation_from(item) for item in items]
        return sorted(found, key=lambda r: r.created_at, reverse=True)
