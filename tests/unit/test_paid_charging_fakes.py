"""In-memory fakes for paid charging: the marker store (conditional transitions like the
DynamoDB adapter), a workflow resumer that records what it resumed, and a ``PaidPile``
harness driving the router's transaction handlers and CALLRESULTs over fakes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.adapters.ocpp_schemas import OcppSchemas
from shared.domain.clock import to_wire
from shared.domain.errors import TariffMissing
from shared.domain.modbus_readings import SiteLoad
from shared.domain.ocpp.authorization import CardRecord
from shared.domain.ocpp.dispatch import CallContext
from shared.domain.ocpp.versions import OcppVersion
from shared.domain.paid_charging import (
    PaidCharge,
    PaidChargeRequest,
    PaidChargeState,
    PaidLink,
    SessionEnd,
)
from shared.domain.presence import Connection, expiry_epoch
from shared.domain.pricing import ChargeMode, ChargeTarget
from shared.domain.sessions import MeterSample
from shared.domain.tariffs import PeriodKind, Tariff, TariffPeriod
from shared.services import paid_charging
from shared.services.ocpp import transactions
from shared.services.ocpp.ports import OcppPorts, PileRoute
from shared.services.ocpp.router import handle_frame
from shared.services.paid_charging import PaidChargePorts, SiteLimits
from tests.unit.ocpp_command_fakes import FakePendingCalls, FakeSender
from tests.unit.sessions_fakes import FakeSessionStore

T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)  # 10:00 Asia/Shanghai
SCHEMAS = OcppSchemas()
TARIFF_ID = "tf-1"
# 1.50 yuan per kWh all day: 1.00 electricity + 0.50 service.
FLAT = Tariff(
    tariff_id=TARIFF_ID,
    operator_id="op-1",
    name="flat",
    periods=(TariffPeriod(PeriodKind.FLAT, "00:00", "24:00", 100, 50),),
    version=3,
    created_at=T0,
    updated_at=T0,
)


@dataclass
class FakePaidCharges:
    charges: dict[str, PaidCharge] = field(default_factory=dict)
    starts: dict[tuple[str, str], str] = field(default_factory=dict)
    links: dict[str, PaidLink] = field(default_factory=dict)
    guns: dict[tuple[str, int], str | None] = field(default_factory=dict)
    tariffs: dict[tuple[str, int], Tariff] = field(default_factory=dict)
    samples: dict[str, list[MeterSample]] = field(default_factory=dict)
    # load bands at switch-on: station -> meter reading, station -> kVA, pile -> W
    loads: dict[str, SiteLoad] = field(default_factory=dict)
    capacities_kva: dict[str, int] = field(default_factory=dict)
    rated_powers_w: dict[str, int] = field(default_factory=dict)
    writes: int = 0
    log_reads: int = 0
    limit_reads: int = 0

    def get(self, order_no: str) -> PaidCharge | None:
        return self.charges.get(order_no)

    def create(self, charge: PaidCharge) -> bool:
        self.writes += 1
        if charge.order_no in self.charges:
            return False
        self.charges[charge.order_no] = charge
        return True

    def put_start_keys(self, charge: PaidCharge) -> None:
        for key in charge.keys:
            self.writes += 1
            self.starts[(charge.pile_id, key)] = charge.order_no

    def find_start(self, pile_id: str, key: str) -> str | None:
        return self.starts.get((pile_id, key))

    def _move(
        self, order_no: str, expected: PaidChargeState, **changes: Any
    ) -> tuple[bool, PaidCharge | None]:
        self.writes += 1
        charge = self.charges.get(order_no)
        if charge is None or charge.state is not expected:
            return (False, charge)
        moved = replace(charge, **changes)
        self.charges[order_no] = moved
        return (True, moved)

    def link(self, order_no: str, session_id: str, now: datetime) -> tuple[bool, PaidCharge | None]:
        linked, charge = self._move(
            order_no,
            PaidChargeState.STARTING,
            state=PaidChargeState.CHARGING,
            session_id=session_id,
            linked_at=now,
        )
        if not linked and charge is not None and charge.session_id == session_id:
            return (True, charge)
        return (linked, charge)

    def put_link(self, link: PaidLink) -> None:
        self.writes += 1
        self.links.setdefault(link.session_id, link)

    def get_link(self, session_id: str, *, consistent: bool = False) -> PaidLink | None:
        return self.links.get(session_id)

    def request_stop(self, session_id: str, reason: str, call_id: str, now: datetime) -> bool:
        self.writes += 1
        link = self.links.get(session_id)
        if link is None or link.is_stop_requested:
            return False
        self.links[session_id] = replace(
            link, stop_reason=reason, stop_call_id=call_id, stop_requested_at=now
        )
        return True

    def store_token(self, order_no: str, task_token: str, now: datetime) -> PaidCharge | None:
        self.writes += 1
        charge = self.charges.get(order_no)
        if charge is None:
            return None
        self.charges[order_no] = replace(charge, task_token=task_token)
        return self.charges[order_no]

    def record_end(self, order_no: str, end: SessionEnd) -> tuple[bool, PaidCharge | None]:
        return self._move(order_no, PaidChargeState.CHARGING, state=PaidChargeState.ENDED, end=end)

    def record_failure(
        self, order_no: str, reason: str, now: datetime
    ) -> tuple[bool, PaidCharge | None]:
        return self._move(
            order_no,
            PaidChargeState.STARTING,
            state=PaidChargeState.NEVER_STARTED,
            failure=reason,
            failed_at=now,
        )

    def starts_due(self, now: datetime, limit: int) -> list[PaidCharge]:
        due = [c for c in self.charges.values() if c.is_starting and c.check_at <= now]
        return sorted(due, key=lambda c: (c.check_at, c.order_no))[:limit]

    def postpone(self, order_no: str, check_at: datetime) -> None:
        self._move(order_no, PaidChargeState.STARTING, check_at=check_at)

    def gun_status(self, pile_id: str, gun_no: int) -> tuple[bool, str | None]:
        if (pile_id, gun_no) not in self.guns:
            return (False, None)
        return (True, self.guns[(pile_id, gun_no)])

    def tariff(self, tariff_id: str, version: int) -> Tariff:
        tariff = self.tariffs.get((tariff_id, version))
        if tariff is None:
            raise TariffMissing("no such tariff version", tariff_id=tariff_id)
        return tariff

    def logged_samples(self, session_id: str) -> list[MeterSample]:
        self.log_reads += 1
        return list(self.samples.get(session_id, []))

    def site_load(self, station_id: str) -> SiteLoad | None:
        return self.loads.get(station_id)

    def site_limits(self, station_id: str, pile_id: str) -> SiteLimits:
        self.limit_reads += 1
        return SiteLimits(self.capacities_kva.get(station_id), self.rated_powers_w.get(pile_id))


@dataclass
class FakeResumer:
    succeeded: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)

    def succeed(self, task_token: str, output: dict[str, Any]) -> bool:
        if task_token in self.gone:
            return False
        self.succeeded.append((task_token, output))
        self.gone.add(task_token)
        return True

    def fail(self, task_token: str, error: str, cause: str) -> bool:
        if task_token in self.gone:
            return False
        self.failed.append((task_token, error, cause))
        self.gone.add(task_token)
        return True


@dataclass
class FakePiles:
    routes: dict[str, PileRoute] = field(default_factory=dict)
    cards: dict[str, CardRecord] = field(default_factory=dict)

    def get_route(self, pile_id: str) -> PileRoute | None:
        return self.routes.get(pile_id)

    def find_card(self, card_no: str) -> CardRecord | None:
        return self.cards.get(card_no)


class _LogMirror(FakeSessionStore):
    """The session store whose log the paid store reads back (as the table does)."""

    paid: FakePaidCharges | None = None

    def append_log(self, session_id: str, entry: Any) -> None:
        super().append_log(session_id, entry)
        if self.paid is not None:
            self.paid.samples.setdefault(session_id, []).extend(entry.samples)


@dataclass
class FakeConnections:
    connection: Connection

    def get(self, connection_id: str, *, consistent: bool = False) -> Connection | None:
        return self.connection if connection_id == self.connection.connection_id else None


def a_request(**overrides: Any) -> PaidChargeRequest:
    values: dict[str, Any] = {
        "order_no": "PO-1",
        "operator_id": "op-1",
        "station_id": "st-1",
        "pile_id": "CP-1",
        "gun_no": 1,
        "id_tag": "PAY-PO-1",
        "target": ChargeTarget(ChargeMode.FULL),
        "prepaid_cap_fen": 400,
        "tariff_id": TARIFF_ID,
        "tariff_version": 3,
    }
    values.update(overrides)
    return PaidChargeRequest(**values)


class PaidPile:
    """One OCPP pile (``CP-1``, guns 1-2, Available) online on ``c1``, with a clock tests
    move, driven through the router's handlers."""

    def __init__(self, version: OcppVersion = OcppVersion.V16) -> None:
        self.version = version
        self.now = T0
        self.paid = FakePaidCharges()
        self.paid.tariffs[(TARIFF_ID, 3)] = FLAT
        self.paid.guns.update({("CP-1", 1): "Available", ("CP-1", 2): "Available"})
        self.sessions = _LogMirror()
        self.sessions.paid = self.paid
        self.piles = FakePiles({"CP-1": PileRoute("CP-1", "op-1", version.value, "c1", True)})
        self.calls = FakePendingCalls()
        self.sender = FakeSender()
        self.resumer = FakeResumer()
        self._ids = 0
        self._messages = 0

    def clock(self) -> datetime:
        return self.now

    def new_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}-{self._ids:020x}"

    @property
    def ports(self) -> PaidChargePorts:
        return PaidChargePorts(
            paid_charges=self.paid,
            sessions=self.sessions,
            piles=self.piles,  # type: ignore[arg-type]
            pending_calls=self.calls,
            schemas=SCHEMAS,
            sender=self.sender,
            workflow=self.resumer,
            clock=self.clock,
            new_id=self.new_id,
        )

    @property
    def connection(self) -> Connection:
        return Connection(
            connection_id="c1",
            pile_id="CP-1",
            version=self.version,
            operator_id="op-1",
            station_id="st-1",
            registration_status="Accepted",
            connected_at=T0,
            last_seen_at=T0,
            source_ip=None,
            expires_at=expiry_epoch(T0),
        )

    @property
    def ocpp(self) -> OcppPorts:
        return OcppPorts(
            connections=FakeConnections(self.connection),  # type: ignore[arg-type]
            piles=self.piles,  # type: ignore[arg-type]
            faults=None,  # type: ignore[arg-type]
            pending_calls=self.calls,
            schemas=SCHEMAS,
            clock=self.clock,
            sender=self.sender,
            pile_events=None,  # type: ignore[arg-type]
            sessions=self.sessions,
            paid_charges=self.paid,
            workflow=self.resumer,
        )

    # -- the workflow side

    def begin(self, **overrides: Any) -> str:
        return paid_charging.begin_paid_charge(self.ports, a_request(**overrides), self.now)

    def sent(self) -> list[list[Any]]:
        return [json.loads(text) for _, text in self.sender.sent]

    # -- the pile side

    def context(self, action: str) -> CallContext:
        self._messages += 1
        return CallContext(self.connection, f"m{self._messages}", action, self.now)

    def answer(self, call_id: str, payload: dict[str, Any]) -> None:
        handle_frame(json.dumps([3, call_id, payload]), "c1", self.ocpp)

    def call_error(self, call_id: str) -> None:
        handle_frame(json.dumps([4, call_id, "InternalError", "boom", {}]), "c1", self.ocpp)

    def start_16(self, id_tag: str, meter_wh: int = 10_000, gun: int = 1) -> dict[str, Any]:
        payload = {
            "connectorId": gun,
            "idTag": id_tag,
            "meterStart": meter_wh,
            "timestamp": to_wire(self.now),
        }
        return transactions.start_transaction(self.context("StartTransaction"), payload, self.ocpp)

    def meter_16(self, transaction_id: int, wh: int, gun: int = 1) -> dict[str, Any]:
        payload = {
            "connectorId": gun,
            "transactionId": transaction_id,
            "meterValue": [
                {
                    "timestamp": to_wire(self.now),
                    "sampledValue": [
                        {"value": str(wh), "measurand": "Energy.Active.Import.Register"}
                    ],
                }
            ],
        }
        return transactions.meter_values_call(self.context("MeterValues"), payload, self.ocpp)

    def stop_16(self, transaction_id: int, wh: int, reason: str = "Remote") -> dict[str, Any]:
        payload = {
            "transactionId": transaction_id,
            "meterStop": wh,
            "timestamp": to_wire(self.now),
            "reason": reason,
        }
        return transactions.stop_transaction(self.context("StopTransaction"), payload, self.ocpp)

    def event_201(
        self,
        kind: str,
        seq: int,
        wh: int,
        *,
        tx: str = "tx-1",
        remote_start_id: int | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        info: dict[str, Any] = {"transactionId": tx}
        if remote_start_id is not None:
            info["remoteStartId"] = remote_start_id
        if kind == "Ended":
            info["stoppedReason"] = "Remote"
        payload: dict[str, Any] = {
            "eventType": kind,
            "timestamp": to_wire(self.now),
            "triggerReason": {"Started": "RemoteStart", "Ended": "RemoteStop"}.get(
                kind, "MeterValuePeriodic"
            ),
            "seqNo": seq,
            "transactionInfo": info,
            "evse": {"id": 1, "connectorId": 1},
            "meterValue": [
                {
                    "timestamp": to_wire(self.now),
                    "sampledValue": [{"value": wh / 1000, "unitOfMeasure": {"unit": "kWh"}}],
                }
            ],
        }
        if token is not None:
            payload["idToken"] = {"idToken": token, "type": "Central"}
        return transactions.transaction_event(self.context("TransactionEvent"), payload, self.ocpp)

    def later(self, **delta: float) -> None:
        self.now += timedelta(**delta)
