"""Paid-charge markers that also keep the Modbus gateway's ``paid_ports`` map, so the
bridge learns from the gateway item it reads anyway (1 GetItem per message) which ports a
paid order charges on, and looks up nothing for the others (was 1 GetItem per charging
port per reading).

An e-bike charge's port is put on its gateway's map before the charge is linked (a
failure then leaves a harmless stale entry, never a paid port the bridge ignores) and
taken off once the charge has ended. Both cost 1 GetItem (the pile's gateway) + 1
UpdateItem, once per charge.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.adapters.dynamodb.connections import s, text_of, upstream
from shared.adapters.dynamodb.gateways import DynamoGateways
from shared.adapters.dynamodb.paid_charging import DynamoPaidCharges
from shared.domain.paid_charging import PaidCharge, PaidChargeState, SessionEnd


class PaidChargesOnGateways(DynamoPaidCharges):
    """``DynamoPaidCharges`` whose ``link`` and ``record_end`` keep ``paid_ports``."""

    def __init__(self, table_name: str, base_data_table: str, client: Any) -> None:
        super().__init__(table_name, base_data_table, client)
        self._pile_table = base_data_table
        self._dynamodb = client
        self._gateways = DynamoGateways(base_data_table, client)

    def link(self, order_no: str, session_id: str, now: datetime) -> tuple[bool, PaidCharge | None]:
        before = self.get(order_no)
        gateway_id = None
        if before is not None and before.is_ebike and before.state is PaidChargeState.STARTING:
            gateway_id = self._gateway_of(before.pile_id)
            if gateway_id is not None:
                self._gateways.set_paid_port(gateway_id, before.pile_id, before.gun_no, order_no)
        linked, current = super().link(order_no, session_id, now)
        if (
            gateway_id is not None
            and before is not None
            and (current is None or current.state is not PaidChargeState.CHARGING)
        ):
            self._gateways.clear_paid_port(gateway_id, before.pile_id, before.gun_no, order_no)
        return linked, current

    def record_end(self, order_no: str, end: SessionEnd) -> tuple[bool, PaidCharge | None]:
        recorded, current = super().record_end(order_no, end)
        if (
            current is not None
            and current.is_ebike
            and current.state is not PaidChargeState.CHARGING
        ):
            gateway_id = self._gateway_of(current.pile_id)
            if gateway_id is not None:
                self._gateways.clear_paid_port(
                    gateway_id, current.pile_id, current.gun_no, order_no
                )
        return recorded, current

    def _gateway_of(self, pile_id: str) -> str | None:
        try:
            item = self._dynamodb.get_item(
                TableName=self._pile_table,
                Key={"pk": s(f"PILE#{pile_id}"), "sk": s("PILE")},
                ProjectionExpression="gateway_id",
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise upstream("GetItem") from exc
        return text_of(item, "gateway_id") if item else None
