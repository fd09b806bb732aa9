"""Fixtures and frame builders for the transaction tests through the router's lambda_handler.

``transaction_side`` is ``pile_side`` (moto tables, both WebSocket functions, a DynamoDB
call counter) whose router ports carry the session store. The router's wiring gains
``sessions`` in its ports (see the report of issue 4); until it does, this fixture adds it
to the ports the wiring builds, the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer

from shared.domain.clock import to_wire
from shared.domain.ocpp.versions import OcppVersion
from shared.domain.sessions import session_id_for
from tests.integration.test_ocpp_router_support import (
    OPERATOR,
    STATION,
    CallCounter,
    PileSide,
    pile_side,
)

__all__ = ["pile_side"]

TARIFF = "tf-00000000000000000001"
T0 = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)


def ts(minutes: float) -> str:
    return to_wire(T0 + timedelta(minutes=minutes))


class TransactionSide:
    """Sends transaction frames as a pile and reads SessionsTable back."""

    def __init__(self, side: PileSide) -> None:
        self.side = side
        self.counter: CallCounter = side.counter
        self.client = side.client
        self._deserializer = TypeDeserializer()
        self._message = 0

    # -- seeding

    def put_station_tariff(self, version: int = 4) -> None:
        table = self.side.tables["BASE_DATA_TABLE"]
        self.client.put_item(
            TableName=table,
            Item={
                "pk": {"S": f"STATION#{STATION}"},
                "sk": {"S": "STATION"},
                "station_id": {"S": STATION},
                "operator_id": {"S": OPERATOR},
                "tariff_id": {"S": TARIFF},
            },
        )
        self.client.put_item(
            TableName=table,
            Item={
                "pk": {"S": f"TARIFF#{TARIFF}"},
                "sk": {"S": "TARIFF"},
                "tariff_id": {"S": TARIFF},
                "operator_id": {"S": OPERATOR},
                "version": {"N": str(version)},
            },
        )

    # -- frames

    def call(self, connection_id: str, action: str, payload: dict[str, Any]) -> Any:
        self._message += 1
        answer = self.side.send(connection_id, [2, f"m{self._message}", action, payload])
        assert answer[1] == f"m{self._message}"
        return answer

    def result(self, connection_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        answer = self.call(connection_id, action, payload)
        assert answer[0] == 3, answer
        result: dict[str, Any] = answer[2]
        return result

    def writes_of(self, connection_id: str, action: str, payload: dict[str, Any]) -> int:
        self.counter.reset()
        self.result(connection_id, action, payload)
        return self.counter.writes

    # -- reading back

    def items(self, pk: str) -> list[dict[str, Any]]:
        response = self.client.query(
            TableName=self.side.tables["SESSIONS_TABLE"],
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": pk}},
            ConsistentRead=True,
        )
        return [self._plain(item) for item in response["Items"]]

    def session(self, pile_id: str, version: str, transaction_id: Any) -> dict[str, Any]:
        session_id = session_id_for(pile_id, OcppVersion(version), str(transaction_id))
        item = self.side.item("SESSIONS_TABLE", {"pk": f"SESSION#{session_id}", "sk": "SESSION"})
        assert item is not None, f"no session for {transaction_id}"
        return item

    def sessions_of(self, pile_id: str) -> list[dict[str, Any]]:
        response = self.client.query(
            TableName=self.side.tables["SESSIONS_TABLE"],
            IndexName="GSI1",
            KeyConditionExpression="gsi1pk = :p",
            ExpressionAttributeValues={":p": {"S": f"PILE#{pile_id}"}},
        )
        return [self._plain(item) for item in response["Items"]]

    def _plain(self, item: dict[str, Any]) -> dict[str, Any]:
        return {name: self._deserializer.deserialize(value) for name, value in item.items()}


@pytest.fixture
def transaction_side(pile_side: PileSide) -> TransactionSide:
    return TransactionSide(pile_side)


# -- payload builders


def energy_value(version: str, wh: int) -> dict[str, Any]:
    if version == "ocpp1.6":
        return {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
    return {"value": wh / 1000, "unitOfMeasure": {"unit": "kWh"}}


def meter_value(version: str, minute: float, wh: int, power_w: int = 7000) -> dict[str, Any]:
    power: dict[str, Any] = {"value": str(power_w), "measurand": "Power.Active.Import"}
    if version != "ocpp1.6":
        power = {"value": power_w, "measurand": "Power.Active.Import"}
    return {"timestamp": ts(minute), "sampledValue": [energy_value(version, wh), power]}


def start_16(gun: int, tag: str, meter: int, minute: float) -> dict[str, Any]:
    return {"connectorId": gun, "idTag": tag, "meterStart": meter, "timestamp": ts(minute)}


def meter_16(gun: int, tx: int | None, readings: list[tuple[float, int]]) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "connectorId": gun,
        "meterValue": [meter_value("ocpp1.6", minute, wh) for minute, wh in readings],
    }
    if tx is not None:
        payload["transactionId"] = tx
    return payload


def stop_16(
    tx: int,
    meter: int,
    minute: float,
    tag: str | None = None,
    data: list[tuple[float, int]] | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {"transactionId": tx, "meterStop": meter, "timestamp": ts(minute)}
    if tag is not None:
        payload["idTag"] = tag
    if data:
        payload["transactionData"] = [meter_value("ocpp1.6", m, wh) for m, wh in data]
    return payload


def event_201(
    kind: str,
    seq: int,
    tx: str,
    minute: float,
    *,
    wh: int | None = None,
    gun: int = 1,
    token: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    info: dict[str, Any] = {"transactionId": tx}
    if reason is not None:
        info["stoppedReason"] = reason
    payload: dict[str, Any] = {
        "eventType": kind,
        "timestamp": ts(minute),
        "triggerReason": {"Started": "Authorized", "Ended": "StopAuthorized"}.get(
            kind, "MeterValuePeriodic"
        ),
        "seqNo": seq,
        "transactionInfo": info,
        "evse": {"id": gun, "connectorId": 1},
    }
    if wh is not None:
        payload["meterValue"] = [meter_value("ocpp2.0.1", minute, wh)]
    if token is not None:
        payload["idToken"] = {"idToken": token, "type": "ISO14443"}
    return payload
