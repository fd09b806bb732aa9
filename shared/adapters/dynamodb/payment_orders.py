"""Payment orders on the LedgerTable: ``ORDER#{order_no}`` / ``ORDER`` (docs/data-model.md).

One item per order, written whole by a PutItem conditional on the ``revision`` it was read
at (``attribute_not_exists(pk)`` for a new order), so a workflow step and a payment
notification racing on one order never both win: the loser re-reads and decides again.
GSI1 ``OPERATOR#{op}#ORDERS`` / ``{created_at}#{order_no}`` lists an operator's orders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from shared.adapters.dynamodb.base_data import DynamoBaseDataRepository
from shared.adapters.dynamodb.base_data_items import decode_item, encode_item
from shared.adapters.dynamodb.connections import conditional_put
from shared.domain.clock import from_wire, to_wire
from shared.domain.errors import InvalidInput, NotFound, UpstreamFailure
from shared.domain.payment_orders import BillLine, OrderState, PaymentOrder, SettleBasis
from shared.domain.payments import PaymentMethod
from shared.domain.piles import Pile
from shared.domain.stations import Station
from shared.domain.tariffs import PeriodKind, Tariff
from shared.domain.tenancy import Principal, Role

MAX_LIST = 100
_ORDER_SK = "ORDER"


def order_key(order_no: str) -> dict[str, Any]:
    return {"pk": {"S": f"ORDER#{order_no}"}, "sk": {"S": _ORDER_SK}}


def order_item(order: PaymentOrder) -> dict[str, Any]:
    """The stored item of an order (plain values; ``encode_item`` makes it DynamoDB JSON)."""
    item: dict[str, Any] = {
        "pk": f"ORDER#{order.order_no}",
        "sk": _ORDER_SK,
        "gsi1pk": f"OPERATOR#{order.operator_id}#ORDERS",
        "gsi1sk": f"{to_wire(order.created_at)}#{order.order_no}",
        "kind": "payment_order",
    }
    for name in PaymentOrder.__slots__:
        value = getattr(order, name)
        if name == "bill_lines":
            value = [bill_line_item(line) for line in order.bill_lines] or None
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, dict):
            value = dict(value) if value else None
        item[name] = value
    return item


def bill_line_item(line: BillLine) -> dict[str, Any]:
    """A bill line as a map on the order item (``band_max_power_w`` only by time)."""
    item: dict[str, Any] = {
        "period_kind": line.period_kind.value,
        "starts_at": to_wire(line.starts_at),
        "ends_at": to_wire(line.ends_at),
        "energy_wh": line.energy_wh,
        "electricity_fen": line.electricity_fen,
        "service_fen": line.service_fen,
        "runs": line.runs,
    }
    if line.band_max_power_w is not None:
        item["band_max_power_w"] = line.band_max_power_w
    return item


def bill_line_from(item: Mapping[str, Any]) -> BillLine:
    band = item.get("band_max_power_w")
    return BillLine(
        period_kind=PeriodKind(str(item["period_kind"])),
        starts_at=from_wire(str(item["starts_at"])),
        ends_at=from_wire(str(item["ends_at"])),
        energy_wh=_int(item["energy_wh"]),
        electricity_fen=_int(item["electricity_fen"]),
        service_fen=_int(item["service_fen"]),
        band_max_power_w=None if band is None else _int(band),
        runs=_int(item.get("runs", 1)),
    )


def _time(value: Any) -> Any:
    return None if value is None else from_wire(str(value))


def _int(value: Any) -> int:
    return int(value)


def order_from(item: Mapping[str, Any]) -> PaymentOrder:
    """Rebuild an order from its decoded item."""

    def opt_str(name: str) -> str | None:
        value = item.get(name)
        return None if value is None else str(value)

    target_value = item.get("target_value")
    basis = item.get("settle_basis")
    return PaymentOrder(
        order_no=str(item["order_no"]),
        operator_id=str(item["operator_id"]),
        station_id=str(item["station_id"]),
        pile_id=str(item["pile_id"]),
        gun_no=_int(item["gun_no"]),
        user_id=str(item["user_id"]),
        payer_id=str(item["payer_id"]),
        id_tag=str(item["id_tag"]),
        method=PaymentMethod(str(item["method"])),
        prepaid_fen=_int(item["prepaid_fen"]),
        target_mode=str(item["target_mode"]),
        target_value=None if target_value is None else _int(target_value),
        tariff_id=str(item["tariff_id"]),
        tariff_version=_int(item["tariff_version"]),
        partner_share_bp=_int(item["partner_share_bp"]),
        state=OrderState(str(item["state"])),
        created_at=from_wire(str(item["created_at"])),
        updated_at=from_wire(str(item["updated_at"])),
        expires_at=from_wire(str(item["expires_at"])),
        revision=_int(item.get("revision", 0)),
        execution_arn=opt_str("execution_arn"),
        client_params={str(k): str(v) for k, v in (item.get("client_params") or {}).items()},
        pay_token=opt_str("pay_token"),
        provider_txn_id=opt_str("provider_txn_id"),
        paid_fen=_int(item.get("paid_fen", 0)),
        paid_at=_time(item.get("paid_at")),
        call_id=opt_str("call_id"),
        session_id=opt_str("session_id"),
        energy_wh=_int(item.get("energy_wh", 0)),
        cost_fen=_int(item.get("cost_fen", 0)),
        consumed_fen=_int(item.get("consumed_fen", 0)),
        refund_fen=_int(item.get("refund_fen", 0)),
        settle_basis=None if basis is None else SettleBasis(str(basis)),
        settled_at=_time(item.get("settled_at")),
        refunded_fen=_int(item.get("refunded_fen", 0)),
        refund_status=opt_str("refund_status"),
        partner_fen=_int(item.get("partner_fen", 0)),
        platform_fen=_int(item.get("platform_fen", 0)),
        share_status=opt_str("share_status"),
        partner_account=opt_str("partner_account"),
        partner_shared_fen=_int(item.get("partner_shared_fen", 0)),
        partner_account_kind=opt_str("partner_account_kind"),
        partner_account_name=opt_str("partner_account_name"),
        late_txn_id=opt_str("late_txn_id"),
        late_fen=_int(item.get("late_fen", 0)),
        late_refund_status=opt_str("late_refund_status"),
        failure=opt_str("failure"),
        failure_detail=opt_str("failure_detail"),
        steps=tuple(str(step) for step in item.get("steps") or ()),
        # Orders settled before bills were kept have no ``bill_lines``: an empty bill.
        bill_lines=tuple(bill_line_from(line) for line in item.get("bill_lines") or ()),
        discount_fen=_int(item.get("discount_fen", 0)),
    )


class DynamoPaymentOrders:
    """``shared.services.payment_workflow.PaymentOrderStore`` on the LedgerTable."""

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self._table = table_name
        self._client = client if client is not None else boto3.client("dynamodb")

    def _put(self, order: PaymentOrder, condition: str, values: dict[str, Any] | None) -> bool:
        return conditional_put(
            self._client,
            self._table,
            encode_item(order_item(order)),
            condition,
            values,
            refused="the order",
        )

    def create(self, order: PaymentOrder) -> bool:
        """Store a new order; False if its number exists. Raises: UpstreamFailure."""
        return self._put(order, "attribute_not_exists(pk)", None)

    def save(self, order: PaymentOrder) -> PaymentOrder | None:
        """Store ``order`` if nobody saved it since it was read (at ``order.revision``).

        Returns the order as saved (revision + 1), or None when another writer won.
        Raises: UpstreamFailure.
        """
        saved = _with_revision(order, order.revision + 1)
        condition = "revision = :expected"
        values = {":expected": {"N": str(order.revision)}}
        return saved if self._put(saved, condition, values) else None

    def get(self, order_no: str) -> PaymentOrder | None:
        """The order now (strongly consistent), or None. Raises: UpstreamFailure."""
        try:
            response = self._client.get_item(
                TableName=self._table, Key=order_key(order_no), ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamFailure("the ledger table did not answer", operation="GetItem") from exc
        raw = response.get("Item")
        return order_from(decode_item(raw)) if raw else None

    def list_for_operator(self, operator_id: str, *, limit: int = 50) -> list[PaymentOrder]:
        """An operator's orders, newest first. Raises: InvalidInput, UpstreamFailure."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
            raise InvalidInput(f"limit must be 1..{MAX_LIST}", field="limit")
        try:
            response = self._client.query(
                TableName=self._table,
                IndexName="GSI1",
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"OPERATOR#{operator_id}#ORDERS"}},
                ScanIndexForward=False,
                Limit=limit,
            )
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamFailure("the ledger table did not answer", operation="Query") from exc
        return [order_from(decode_item(raw)) for raw in response.get("Items", [])]


def _with_revision(order: PaymentOrder, revision: int) -> PaymentOrder:
    return replace(order, revision=revision)


class DynamoPaymentBaseData:
    """What the workflow reads of base data (station, pile, tariff and its versions), on the
    base-data repository as the platform itself: the order already names its operator and
    the service checks that every object read is that operator's."""

    _PRINCIPAL = Principal(username="payment-workflow", role=Role.PLATFORM_ADMIN, operator_id=None)

    def __init__(self, repository: DynamoBaseDataRepository) -> None:
        self._repo = repository

    def station(self, station_id: str) -> Station | None:
        try:
            return self._repo.get_station(self._PRINCIPAL, station_id)
        except NotFound:
            return None

    def pile(self, pile_id: str) -> Pile | None:
        try:
            return self._repo.get_pile(self._PRINCIPAL, pile_id)
        except NotFound:
            return None

    def tariff(self, tariff_id: str) -> Tariff | None:
        try:
            return self._repo.get_tariff(self._PRINCIPAL, tariff_id)
        except NotFound:
            return None

    def tariff_version(self, tariff_id: str, version: int) -> Tariff | None:
        try:
            return self._repo.get_tariff_version(self._PRINCIPAL, tariff_id, version)
        except NotFound:
            return None
