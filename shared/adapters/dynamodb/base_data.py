"""The base-data table: operators, staff, stations, piles and guns, tariffs, discounts, cards.

Keys and indexes follow docs/data-model.md. Tenancy is enforced here, whatever the caller:

- a GetItem whose item belongs to an operator the principal cannot see answers NotFound;
- every UpdateItem/DeleteItem (alone or in a transaction) carries
  ``operator_id = :op`` in its ConditionExpression, ``:op`` being the staff member's own
  operator (or, for a platform admin, the operator the item was read with);
- list queries read only the GSI1 partition of the principal's operator.

Updates name the fields base data owns (``SET``/``REMOVE`` per field), so attributes other
writers keep on the same items (pile presence and boot, gun status) are never clobbered.
Counters kept for integrity: ``pile_count`` on a station (no delete while piles remain)
and ``station_count`` on a tariff (no delete while stations use it), both moved in the
same transaction as the items they count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from shared.adapters.dynamodb.base_data_items import (
    Item,
    card_fields,
    card_from,
    card_item,
    decode_item,
    decode_page_token,
    discount_fields,
    discount_from,
    discount_item,
    encode_item,
    encode_page_token,
    gun_fields,
    gun_from,
    gun_item,
    gun_sk,
    item_key,
    not_found,
    operator_fields,
    operator_from,
    operator_item,
    pile_fields,
    pile_from,
    pile_item,
    staff_from,
    staff_item,
    station_fields,
    station_from,
    station_item,
    tariff_fields,
    tariff_from,
    tariff_item,
    tariff_version_item,
    to_attr,
    top_up_from,
    top_up_item,
    update_expression,
)
from shared.domain.base_data import Operator, Page, PageRequest, StaffMember, resolve_operator
from shared.domain.cards import Card
from shared.domain.discounts import Discount
from shared.domain.errors import Conflict, InvalidInput, UpstreamFailure
from shared.domain.piles import Gun, Pile
from shared.domain.stations import Station
from shared.domain.tariffs import Tariff
from shared.domain.tenancy import Principal
from shared.services.base_data_cards import TopUp

T = TypeVar("T")

_HEALTH_KEY = {"pk": {"S": "HEALTH#probe"}, "sk": {"S": "HEALTH"}}
_BATCH_GET_LIMIT = 100
_BATCH_GET_ROUNDS = 5
_OWNED_BY = "attribute_exists(pk) AND operator_id = :op"


class _ConditionFailed(Exception):
    """A conditional write or transaction was refused; ``reasons`` per transaction item."""

    def __init__(self, reasons: Sequence[str] = ()) -> None:
        super().__init__("condition failed")
        self.reasons = list(reasons)


# --- the repository ------------------------------------------------------------------------


class DynamoBaseDataRepository:
    """``BaseDataRepository`` (and the card top-up log) on the BaseDataTable."""

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self._table = table_name
        self._client = client if client is not None else boto3.client("dynamodb")

    # -- plumbing --

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = getattr(self._client, operation)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ConditionalCheckFailedException":
                raise _ConditionFailed() from exc
            if code == "TransactionCanceledException":
                reasons = [
                    str(reason.get("Code", "None"))
                    for reason in exc.response.get("CancellationReasons", [])
                ]
                if "ConditionalCheckFailed" in reasons:
                    raise _ConditionFailed(reasons) from exc
            raise UpstreamFailure(
                "the base-data table refused the request", operation=operation, code=code
            ) from exc
        except BotoCoreError as exc:
            raise UpstreamFailure(
                "the base-data table did not answer", operation=operation
            ) from exc
        return response

    def _get(self, pk: str, sk: str) -> Item | None:
        response = self._call(
            "get_item", TableName=self._table, Key=item_key(pk, sk), ConsistentRead=True
        )
        raw = response.get("Item")
        return decode_item(raw) if raw else None

    def _get_visible(
        self, principal: Principal, pk: str, sk: str, kind: str, object_id: object
    ) -> Item:
        item = self._get(pk, sk)
        if item is None or not principal.can_see(str(item.get("operator_id"))):
            raise not_found(kind, object_id)
        return item

    @staticmethod
    def _tenant(principal: Principal, operator_id: str) -> str:
        """The operator a write is conditioned on: staff never write outside their own."""
        if principal.is_platform_admin:
            return operator_id
        return resolve_operator(principal, None)

    @staticmethod
    def _require_visible(principal: Principal, operator_id: str) -> None:
        if not principal.can_see(operator_id):
            raise not_found("operator", operator_id)

    def _put_new(self, item: Item) -> None:
        self._call(
            "put_item",
            TableName=self._table,
            Item=encode_item(item),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def _update_op(
        self,
        principal: Principal,
        pk: str,
        sk: str,
        operator_id: str,
        fields: Mapping[str, Any],
        *,
        extra_condition: str = "",
        extra_names: Mapping[str, str] | None = None,
        extra_values: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """An Update of owned fields, conditional on the item being the principal's operator's."""
        expression, names, values = update_expression(fields)
        names.update(extra_names or {})
        values[":op"] = {"S": self._tenant(principal, operator_id)}
        values.update({name: to_attr(value) for name, value in (extra_values or {}).items()})
        condition = _OWNED_BY + (f" AND ({extra_condition})" if extra_condition else "")
        return {
            "Update": {
                "TableName": self._table,
                "Key": item_key(pk, sk),
                "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _update_owned(
        self,
        principal: Principal,
        pk: str,
        sk: str,
        operator_id: str,
        fields: Mapping[str, Any],
        *,
        extra_condition: str = "",
        extra_names: Mapping[str, str] | None = None,
        extra_values: Mapping[str, Any] | None = None,
    ) -> None:
        operation = self._update_op(
            principal,
            pk,
            sk,
            operator_id,
            fields,
            extra_condition=extra_condition,
            extra_names=extra_names,
            extra_values=extra_values,
        )
        self._call("update_item", **operation["Update"])

    def _count_op(
        self, principal: Principal, pk: str, operator_id: str, *, attribute: str, delta: int
    ) -> dict[str, Any]:
        """Move a counter on an item the principal's operator owns (the item must exist)."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": item_key(pk, pk.split("#", 1)[0]),  # STATION#x/STATION, TARIFF#x/TARIFF
                "UpdateExpression": "ADD #count :delta",
                "ConditionExpression": _OWNED_BY,
                "ExpressionAttributeNames": {"#count": attribute},
                "ExpressionAttributeValues": {
                    ":delta": {"N": str(delta)},
                    ":op": {"S": self._tenant(principal, operator_id)},
                },
            }
        }

    def _put_op(self, item: Item) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._table,
                "Item": encode_item(item),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def _delete_op(
        self, principal: Principal, pk: str, sk: str, operator_id: str, unless_counted: str = ""
    ) -> dict[str, Any]:
        """A Delete conditional on the principal's operator (and a zero ``unless_counted``)."""
        condition = _OWNED_BY
        values: dict[str, Any] = {":op": {"S": self._tenant(principal, operator_id)}}
        if unless_counted:
            condition += (
                f" AND (attribute_not_exists({unless_counted}) OR {unless_counted} = :zero)"
            )
            values[":zero"] = {"N": "0"}
        return {
            "Delete": {
                "TableName": self._table,
                "Key": item_key(pk, sk),
                "ConditionExpression": condition,
                "ExpressionAttributeValues": values,
            }
        }

    def _transact(self, operations: Sequence[dict[str, Any]]) -> None:
        self._call("transact_write_items", TransactItems=list(operations))

    def _delete_owned(
        self, principal: Principal, pk: str, sk: str, operator_id: str, unless_counted: str = ""
    ) -> None:
        operation = self._delete_op(principal, pk, sk, operator_id, unless_counted)["Delete"]
        self._call("delete_item", **operation)

    def _query(
        self,
        *,
        partition: tuple[str, str],
        page: PageRequest,
        token_fields: Sequence[str],
        index: str | None = None,
        sort_prefix: tuple[str, str] | None = None,
        consistent: bool = False,
    ) -> tuple[list[Item], str | None]:
        names = {"#p": partition[0]}
        values: dict[str, Any] = {":p": {"S": partition[1]}}
        condition = "#p = :p"
        if sort_prefix is not None:
            names["#s"] = sort_prefix[0]
            values[":s"] = {"S": sort_prefix[1]}
            condition += " AND begins_with(#s, :s)"
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "Limit": page.limit,
        }
        if index is not None:
            request["IndexName"] = index
        else:
            request["ConsistentRead"] = consistent
        if page.next_token is not None:
            start = decode_page_token(page.next_token, token_fields)
            start[partition[0]] = {"S": partition[1]}
            if sort_prefix is not None and not start[sort_prefix[0]]["S"].startswith(
                sort_prefix[1]
            ):
                raise InvalidInput("next_token is not a token from this list", field="next_token")
            request["ExclusiveStartKey"] = start
        response = self._call("query", **request)
        items = [decode_item(raw) for raw in response.get("Items", [])]
        return items, encode_page_token(response.get("LastEvaluatedKey"), token_fields)

    def _list_owned(
        self,
        principal: Principal,
        operator_id: str | None,
        collection: str,
        page: PageRequest,
        *,
        from_item: Callable[[Item], T],
        sort_prefix: str | None = None,
    ) -> Page[T]:
        owner = resolve_operator(principal, operator_id)
        items, token = self._query(
            partition=("gsi1pk", f"OPERATOR#{owner}#{collection}"),
            page=page,
            token_fields=("gsi1sk", "pk", "sk"),
            index="GSI1",
            sort_prefix=("gsi1sk", sort_prefix) if sort_prefix else None,
        )
        return Page(items=[from_item(item) for item in items], next_token=token)

    def _has_any(
        self,
        partition: tuple[str, str],
        index: str | None,
        sort_prefix: tuple[str, str] | None = None,
    ) -> bool:
        items, _ = self._query(
            partition=partition,
            page=PageRequest(limit=1),
            token_fields=(),
            index=index,
            sort_prefix=sort_prefix,
        )
        return bool(items)

    # -- health --

    def ping(self) -> None:
        """One GetItem of a key that never exists. Raises: UpstreamFailure."""
        self._call("get_item", TableName=self._table, Key=_HEALTH_KEY, ProjectionExpression="pk")

    # -- operators and staff --

    def create_operator(self, principal: Principal, operator: Operator) -> None:
        principal.require_role()
        try:
            self._put_new(operator_item(operator))
        except _ConditionFailed as exc:
            raise Conflict("operator exists", operator_id=operator.operator_id) from exc

    def get_operator(self, principal: Principal, operator_id: str) -> Operator:
        return operator_from(
            self._get_visible(
                principal, f"OPERATOR#{operator_id}", "OPERATOR", "operator", operator_id
            )
        )

    def list_operators(self, principal: Principal, page: PageRequest) -> Page[Operator]:
        if not principal.is_platform_admin:
            own = resolve_operator(principal, None)
            return Page(items=[self.get_operator(principal, own)])
        items, token = self._query(
            partition=("gsi1pk", "OPERATORS"),
            page=page,
            token_fields=("gsi1sk", "pk", "sk"),
            index="GSI1",
        )
        return Page(items=[operator_from(item) for item in items], next_token=token)

    def update_operator(self, principal: Principal, operator: Operator) -> None:
        fields = operator_fields(operator)
        del fields["created_at"]
        try:
            self._update_owned(
                principal,
                f"OPERATOR#{operator.operator_id}",
                "OPERATOR",
                operator.operator_id,
                fields,
            )
        except _ConditionFailed as exc:
            raise not_found("operator", operator.operator_id) from exc

    def delete_operator(self, principal: Principal, operator_id: str) -> None:
        operator = self.get_operator(principal, operator_id)
        for collection in ("STATIONS", "PILES", "TARIFFS", "DISCOUNTS", "CARDS"):
            if self._has_any(("gsi1pk", f"OPERATOR#{operator_id}#{collection}"), "GSI1"):
                raise Conflict(f"operator still has {collection.lower()}", operator_id=operator_id)
        if self._has_any(("pk", f"OPERATOR#{operator_id}"), None, ("sk", "STAFF#")):
            raise Conflict("operator still has staff", operator_id=operator_id)
        try:
            self._delete_owned(
                principal, f"OPERATOR#{operator_id}", "OPERATOR", operator.operator_id
            )
        except _ConditionFailed as exc:
            raise not_found("operator", operator_id) from exc

    def create_staff(self, principal: Principal, member: StaffMember) -> None:
        self._require_visible(principal, member.operator_id)
        try:
            self._put_new(staff_item(member))
        except _ConditionFailed as exc:
            raise Conflict("username is taken", username=member.username) from exc

    def list_staff(
        self, principal: Principal, operator_id: str, page: PageRequest
    ) -> Page[StaffMember]:
        owner = resolve_operator(principal, operator_id)
        items, token = self._query(
            partition=("pk", f"OPERATOR#{owner}"),
            page=page,
            token_fields=("sk",),
            sort_prefix=("sk", "STAFF#"),
        )
        return Page(items=[staff_from(item) for item in items], next_token=token)

    # -- stations --

    def create_station(self, principal: Principal, station: Station) -> None:
        self._require_visible(principal, station.operator_id)
        operations = [self._put_op(station_item(station))]
        if station.tariff_id is not None:
            operations.append(
                self._count_op(
                    principal,
                    f"TARIFF#{station.tariff_id}",
                    station.operator_id,
                    attribute="station_count",
                    delta=1,
                )
            )
        try:
            self._transact(operations)
        except _ConditionFailed as exc:
            if exc.reasons and exc.reasons[0] == "ConditionalCheckFailed":
                raise Conflict("station exists", station_id=station.station_id) from exc
            raise not_found("tariff", station.tariff_id) from exc

    def get_station(self, principal: Principal, station_id: str) -> Station:
        return station_from(
            self._get_visible(principal, f"STATION#{station_id}", "STATION", "station", station_id)
        )

    def get_stations(self, principal: Principal, station_ids: Sequence[str]) -> list[Station]:
        """The stations among ``station_ids`` that exist and the principal may see."""
        found: list[Station] = []
        wanted = list(dict.fromkeys(station_ids))
        for start in range(0, len(wanted), _BATCH_GET_LIMIT):
            keys = [
                item_key(f"STATION#{sid}", "STATION")
                for sid in wanted[start : start + _BATCH_GET_LIMIT]
            ]
            request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
            for _ in range(_BATCH_GET_ROUNDS):
                response = self._call("batch_get_item", RequestItems=request)
                for raw in response.get("Responses", {}).get(self._table, []):
                    item = decode_item(raw)
                    if principal.can_see(str(item.get("operator_id"))):
                        found.append(station_from(item))
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
            if request:
                raise UpstreamFailure("the base-data table kept keys unprocessed")
        return found

    def list_stations(
        self, principal: Principal, operator_id: str | None, page: PageRequest
    ) -> Page[Station]:
        return self._list_owned(principal, operator_id, "STATIONS", page, from_item=station_from)

    def update_station(self, principal: Principal, station: Station, previous: Station) -> None:
        pk = f"STATION#{station.station_id}"
        fields = station_fields(station)
        if previous.tariff_id is None:
            tariff_condition = "attribute_not_exists(tariff_id)"
            tariff_values: dict[str, Any] = {}
        else:
            tariff_condition = "tariff_id = :old_tariff"
            tariff_values = {":old_tariff": previous.tariff_id}
        try:
            if station.tariff_id == previous.tariff_id:
                self._update_owned(principal, pk, "STATION", station.operator_id, fields)
                return
            operations = [
                self._update_op(
                    principal,
                    pk,
                    "STATION",
                    station.operator_id,
                    fields,
                    extra_condition=tariff_condition,
                    extra_values=tariff_values,
                )
            ]
            if previous.tariff_id is not None:
                operations.append(
                    self._count_op(
                        principal,
                        f"TARIFF#{previous.tariff_id}",
                        station.operator_id,
                        attribute="station_count",
                        delta=-1,
                    )
                )
            if station.tariff_id is not None:
                operations.append(
                    self._count_op(
                        principal,
                        f"TARIFF#{station.tariff_id}",
                        station.operator_id,
                        attribute="station_count",
                        delta=1,
                    )
                )
            self._transact(operations)
        except _ConditionFailed as exc:
            if not exc.reasons or exc.reasons[0] == "ConditionalCheckFailed":
                self.get_station(principal, station.station_id)
                raise Conflict(
                    "station changed meanwhile; read it again", station_id=station.station_id
                ) from exc
            raise not_found("tariff", station.tariff_id) from exc

    def delete_station(self, principal: Principal, station: Station) -> None:
        operations = [
            self._delete_op(
                principal,
                f"STATION#{station.station_id}",
                "STATION",
                station.operator_id,
                "pile_count",
            )
        ]
        if station.tariff_id is not None:
            operations.append(
                self._count_op(
                    principal,
                    f"TARIFF#{station.tariff_id}",
                    station.operator_id,
                    attribute="station_count",
                    delta=-1,
                )
            )
        try:
            self._transact(operations)
        except _ConditionFailed as exc:
            current = self._get(f"STATION#{station.station_id}", "STATION")
            if current is None or not principal.can_see(str(current.get("operator_id"))):
                raise not_found("station", station.station_id) from exc
            if int(current.get("pile_count", 0)) > 0:
                raise Conflict(
                    "the station still has piles; delete them first",
                    station_id=station.station_id,
                    pile_count=int(current["pile_count"]),
                ) from exc
            raise Conflict(
                "station changed meanwhile; read it again", station_id=station.station_id
            ) from exc

    # -- piles and guns --

    def create_pile(self, principal: Principal, pile: Pile, guns: Sequence[Gun]) -> None:
        self._require_visible(principal, pile.operator_id)
        operations = [self._put_op(pile_item(pile))]
        operations += [self._put_op(gun_item(gun)) for gun in guns]
        operations.append(
            self._count_op(
                principal,
                f"STATION#{pile.station_id}",
                pile.operator_id,
                attribute="pile_count",
                delta=1,
            )
        )
        try:
            self._transact(operations)
        except _ConditionFailed as exc:
            if exc.reasons and exc.reasons[-1] == "ConditionalCheckFailed":
                raise not_found("station", pile.station_id) from exc
            raise Conflict("pile_id is registered already", pile_id=pile.pile_id) from exc

    def get_pile(self, principal: Principal, pile_id: str) -> Pile:
        return pile_from(self._get_visible(principal, f"PILE#{pile_id}", "PILE", "pile", pile_id))

    def list_piles(
        self,
        principal: Principal,
        operator_id: str | None,
        station_id: str | None,
        page: PageRequest,
    ) -> Page[Pile]:
        prefix = f"STATION#{station_id}#" if station_id is not None else None
        return self._list_owned(
            principal, operator_id, "PILES", page, from_item=pile_from, sort_prefix=prefix
        )

    def update_pile(self, principal: Principal, pile: Pile) -> None:
        try:
            self._update_owned(
                principal, f"PILE#{pile.pile_id}", "PILE", pile.operator_id, pile_fields(pile)
            )
        except _ConditionFailed as exc:
            raise not_found("pile", pile.pile_id) from exc

    def delete_pile(self, principal: Principal, pile: Pile) -> None:
        guns = self.list_guns(principal, pile)
        pk = f"PILE#{pile.pile_id}"
        operations = [self._delete_op(principal, pk, "PILE", pile.operator_id)]
        operations += [
            self._delete_op(principal, pk, gun_sk(gun.gun_no), pile.operator_id) for gun in guns
        ]
        operations.append(
            self._count_op(
                principal,
                f"STATION#{pile.station_id}",
                pile.operator_id,
                attribute="pile_count",
                delta=-1,
            )
        )
        try:
            self._transact(operations)
        except _ConditionFailed as exc:
            self.get_pile(principal, pile.pile_id)
            raise Conflict("pile changed meanwhile; read it again", pile_id=pile.pile_id) from exc

    def list_guns(self, principal: Principal, pile: Pile) -> list[Gun]:
        self._require_visible(principal, pile.operator_id)
        items, _ = self._query(
            partition=("pk", f"PILE#{pile.pile_id}"),
            page=PageRequest(limit=100),
            token_fields=("sk",),
            sort_prefix=("sk", "GUN#"),
            consistent=True,
        )
        return [gun_from(item) for item in items if principal.can_see(str(item.get("operator_id")))]

    def get_gun(self, principal: Principal, pile: Pile, gun_no: int) -> Gun:
        return gun_from(
            self._get_visible(
                principal,
                f"PILE#{pile.pile_id}",
                gun_sk(gun_no),
                "gun",
                f"{pile.pile_id}/{gun_no}",
            )
        )

    def update_gun(self, principal: Principal, gun: Gun) -> None:
        try:
            self._update_owned(
                principal,
                f"PILE#{gun.pile_id}",
                gun_sk(gun.gun_no),
                gun.operator_id,
                gun_fields(gun),
            )
        except _ConditionFailed as exc:
            raise not_found("gun", f"{gun.pile_id}/{gun.gun_no}") from exc

    # -- tariffs --

    def create_tariff(self, principal: Principal, tariff: Tariff) -> None:
        self._require_visible(principal, tariff.operator_id)
        try:
            self._transact(
                [self._put_op(tariff_item(tariff)), self._put_op(tariff_version_item(tariff))]
            )
        except _ConditionFailed as exc:
            raise Conflict("tariff exists", tariff_id=tariff.tariff_id) from exc

    def get_tariff(self, principal: Principal, tariff_id: str) -> Tariff:
        return tariff_from(
            self._get_visible(principal, f"TARIFF#{tariff_id}", "TARIFF", "tariff", tariff_id)
        )

    def get_tariff_version(self, principal: Principal, tariff_id: str, version: int) -> Tariff:
        return tariff_from(
            self._get_visible(
                principal,
                f"TARIFF#{tariff_id}",
                f"VERSION#{version:06d}",
                "tariff version",
                f"{tariff_id}/{version}",
            )
        )

    def list_tariffs(
        self, principal: Principal, operator_id: str | None, page: PageRequest
    ) -> Page[Tariff]:
        return self._list_owned(principal, operator_id, "TARIFFS", page, from_item=tariff_from)

    def save_tariff_version(self, principal: Principal, tariff: Tariff) -> None:
        fields = tariff_fields(tariff)
        try:
            self._transact(
                [
                    self._put_op(tariff_version_item(tariff)),
                    self._update_op(
                        principal,
                        f"TARIFF#{tariff.tariff_id}",
                        "TARIFF",
                        tariff.operator_id,
                        fields,
                        extra_condition="version = :previous",
                        extra_values={":previous": tariff.version - 1},
                    ),
                ]
            )
        except _ConditionFailed as exc:
            self.get_tariff(principal, tariff.tariff_id)
            raise Conflict(
                "the tariff changed meanwhile; read it again", tariff_id=tariff.tariff_id
            ) from exc

    def delete_tariff(self, principal: Principal, tariff: Tariff) -> None:
        try:
            self._delete_owned(
                principal,
                f"TARIFF#{tariff.tariff_id}",
                "TARIFF",
                tariff.operator_id,
                "station_count",
            )
        except _ConditionFailed as exc:
            current = self._get(f"TARIFF#{tariff.tariff_id}", "TARIFF")
            if current is None or not principal.can_see(str(current.get("operator_id"))):
                raise not_found("tariff", tariff.tariff_id) from exc
            raise Conflict(
                "stations still use this tariff",
                tariff_id=tariff.tariff_id,
                station_count=int(current.get("station_count", 0)),
            ) from exc

    # -- discounts --

    def create_discount(self, principal: Principal, discount: Discount) -> None:
        self._require_visible(principal, discount.operator_id)
        try:
            self._put_new(discount_item(discount))
        except _ConditionFailed as exc:
            raise Conflict("discount exists", discount_id=discount.discount_id) from exc

    def get_discount(self, principal: Principal, discount_id: str) -> Discount:
        return discount_from(
            self._get_visible(
                principal, f"DISCOUNT#{discount_id}", "DISCOUNT", "discount", discount_id
            )
        )

    def list_discounts(
        self, principal: Principal, operator_id: str | None, page: PageRequest
    ) -> Page[Discount]:
        return self._list_owned(principal, operator_id, "DISCOUNTS", page, from_item=discount_from)

    def update_discount(self, principal: Principal, discount: Discount) -> None:
        try:
            self._update_owned(
                principal,
                f"DISCOUNT#{discount.discount_id}",
                "DISCOUNT",
                discount.operator_id,
                discount_fields(discount),
            )
        except _ConditionFailed as exc:
            raise not_found("discount", discount.discount_id) from exc

    def delete_discount(self, principal: Principal, discount: Discount) -> None:
        try:
            self._delete_owned(
                principal, f"DISCOUNT#{discount.discount_id}", "DISCOUNT", discount.operator_id
            )
        except _ConditionFailed as exc:
            raise not_found("discount", discount.discount_id) from exc

    # -- cards --

    def create_card(self, principal: Principal, card: Card) -> None:
        self._require_visible(principal, card.operator_id)
        try:
            self._put_new(card_item(card))
        except _ConditionFailed as exc:
            raise Conflict("card_no is issued already", card_no=card.card_no) from exc

    def get_card(self, principal: Principal, card_no: str) -> Card:
        return card_from(self._get_visible(principal, f"CARD#{card_no}", "CARD", "card", card_no))

    def list_cards(
        self, principal: Principal, operator_id: str | None, page: PageRequest
    ) -> Page[Card]:
        return self._list_owned(principal, operator_id, "CARDS", page, from_item=card_from)

    def update_card(self, principal: Principal, card: Card, previous: Card) -> None:
        try:
            self._update_owned(
                principal,
                f"CARD#{card.card_no}",
                "CARD",
                card.operator_id,
                card_fields(card),
                extra_condition="#status_now = :previous_status",
                extra_names={"#status_now": "status"},
                extra_values={":previous_status": str(previous.status)},
            )
        except _ConditionFailed as exc:
            self.get_card(principal, card.card_no)
            raise Conflict(
                "the card changed meanwhile; read it again", card_no=card.card_no
            ) from exc

    def delete_card(self, principal: Principal, card: Card) -> None:
        try:
            self._delete_owned(principal, f"CARD#{card.card_no}", "CARD", card.operator_id)
        except _ConditionFailed as exc:
            raise not_found("card", card.card_no) from exc

    def get_top_up(self, principal: Principal, card: Card, request_id: str) -> TopUp | None:
        item = self._get(f"CARD#{card.card_no}", f"TOPUP#{request_id}")
        if item is None:
            return None
        if not principal.can_see(str(item.get("operator_id"))):
            raise not_found("card", card.card_no)
        return top_up_from(item)

    def record_top_up(self, principal: Principal, top_up: TopUp) -> TopUp:
        self._require_visible(principal, top_up.operator_id)
        try:
            self._put_new(top_up_item(top_up))
        except _ConditionFailed as exc:
            item = self._get(f"CARD#{top_up.card_no}", f"TOPUP#{top_up.request_id}")
            if item is None or not principal.can_see(str(item.get("operator_id"))):
                raise not_found("card", top_up.card_no) from exc
            return top_up_from(item)
        return top_up
