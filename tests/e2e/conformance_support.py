"""Harness of the OCPP conformance suite: real ``ocpp`` ChargePoints on the local stack.

A :class:`Tenant` is an operator with one station, made through the operator HTTP API as
the platform admin; it registers piles and issues cards there. A :class:`Pile` is a real
``ocpp.v16.ChargePoint`` / ``ocpp.v201.ChargePoint`` on a real WebSocket (HTTP Basic
auth, negotiated sub-protocol), driven from the synchronous test through an event loop
of its own in a background thread: ``pile.call(...)`` sends a CALL and returns the
CALLRESULT (or raises the CALLERROR as ``ocpp.exceptions.OCPPError``), while the
ChargePoint's ``@on`` handlers answer every CSMS-initiated CALL with ``pile.replies`` and
record it for ``pile.expect(action)``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import boto3
import requests
import websockets
from boto3.dynamodb.conditions import Key
from ocpp import v16, v201
from ocpp.routing import on
from ocpp.v16 import call_result as result16
from ocpp.v201 import call_result as result201
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as sync_connect
from websockets.typing import Subprotocol

from tests.e2e.conftest import RunningStack

PLATFORM_ADMIN = ("platform-admin", "platform-admin-pass")
PILE_PASSWORD = "conformance-pile-pass-01"
V16 = "ocpp1.6"
V201 = "ocpp2.0.1"
TIMEOUT_S = 20.0

T = TypeVar("T")
Reply = Any  # a call_result dataclass, or a callable of the request's keyword arguments


def wire_at(epoch_s: float) -> str:
    """The OCPP timestamp of a moment (UTC, milliseconds, ``Z``)."""
    moment = datetime.fromtimestamp(epoch_s, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def wire_now(offset_s: float = 0.0) -> str:
    """An OCPP timestamp ``offset_s`` seconds from now."""
    return wire_at(time.time() + offset_s)


def unique(prefix: str) -> str:
    """A fresh id: piles and cards of one test never meet another test's."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# -- the operator API ------------------------------------------------------------------------


class OperatorApi:
    """The operator HTTP API as the platform admin (one sign-in per session)."""

    def __init__(self, stack: RunningStack) -> None:
        self.base_url = stack.http_url
        self.session = requests.Session()
        signed_in = self.session.post(
            f"{self.base_url}/operator/auth/login",
            json={"username": PLATFORM_ADMIN[0], "password": PLATFORM_ADMIN[1]},
            timeout=TIMEOUT_S,
        )
        assert signed_in.status_code == 200, signed_in.text
        self.session.headers["Authorization"] = f"Bearer {signed_in.json()['id_token']}"

    def request(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.session.request(method, f"{self.base_url}{path}", json=body, timeout=TIMEOUT_S)

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        """The JSON of a 2xx answer (any other status fails the test, with the body)."""
        response = self.request(method, path, body)
        assert 200 <= response.status_code < 300, (
            f"{method} {path}: {response.status_code} {response.text}"
        )
        return response.json() if response.content else None

    def wait_for(
        self, path: str, ready: Callable[[Any], bool], timeout_s: float = TIMEOUT_S
    ) -> Any:
        """GET ``path`` until ``ready(body)``; the last body, or a failure naming it."""
        deadline = time.monotonic() + timeout_s
        while True:
            body = self.ok("GET", path)
            if ready(body):
                return body
            if time.monotonic() > deadline:
                raise AssertionError(f"GET {path} never became ready: {body}")
            time.sleep(0.1)


@dataclass
class Tenant:
    """An operator with one station; registers piles and issues cards for the tests."""

    api: OperatorApi
    operator_id: str
    station_id: str

    @classmethod
    def create(cls, api: OperatorApi, name: str) -> Tenant:
        operator = api.ok("POST", "/operator/operators", {"name": unique(name)})
        station = api.ok(
            "POST",
            "/operator/stations",
            {
                "operator_id": operator["operator_id"],
                "name": f"{name} station",
                "address": "8 Conformance Road",
                "lat": 31.23,
                "lng": 121.47,
                "transformer_capacity_kva": 630,
                "partner_share_bp": 1000,
            },
        )
        return cls(api, operator["operator_id"], station["station_id"])

    def new_pile(self, protocol: str, *, gun_count: int = 2, is_enabled: bool = True) -> str:
        pile_id = unique("CT16" if protocol == V16 else "CT201")
        self.api.ok(
            "POST",
            "/operator/piles",
            {
                "pile_id": pile_id,
                "station_id": self.station_id,
                "serial": f"SN-{pile_id}",
                "kind": "car",
                "protocol": protocol,
                "model": "CT-22kW",
                "rated_power_w": 22_000,
                "gun_count": gun_count,
                "password": PILE_PASSWORD,
                "is_enabled": is_enabled,
            },
        )
        return pile_id

    def set_enabled(self, pile_id: str, is_enabled: bool) -> None:
        self.api.ok("PATCH", f"/operator/piles/{pile_id}", {"is_enabled": is_enabled})

    def pile(self, pile_id: str) -> Any:
        return self.api.ok("GET", f"/operator/piles/{pile_id}")

    def gun(self, pile_id: str, gun_no: int) -> Any:
        guns = self.api.ok("GET", f"/operator/piles/{pile_id}/guns")["items"]
        (gun,) = [gun for gun in guns if gun["gun_no"] == gun_no]
        return gun

    def command(self, pile_id: str, method: str, path: str, body: Any = None) -> str:
        """Issue a command through the operator API (``202``); its call id."""
        response = self.api.request(method, f"/operator/piles/{pile_id}/{path}", body)
        assert response.status_code == 202, (
            f"{method} {path}: {response.status_code} {response.text}"
        )
        accepted = response.json()
        assert accepted["status"] == "pending", accepted
        return str(accepted["call_id"])

    def outcome(self, pile_id: str, call_id: str) -> Any:
        """The command once the pile has answered it (or it was refused or timed out)."""
        return self.api.wait_for(
            f"/operator/piles/{pile_id}/commands/{call_id}",
            lambda command: command["status"] not in ("pending", "undelivered"),
        )

    def sessions(self, pile_id: str) -> list[dict[str, Any]]:
        """Every charging session of the pile, as the operator API shows them."""
        found: list[dict[str, Any]] = []
        token = ""
        while True:
            page = self.api.ok(
                "GET",
                f"/operator/sessions?operator_id={self.operator_id}&pile_id={pile_id}&limit=100{token}",
            )
            found += page["items"]
            if not page.get("next_token"):
                return found
            token = f"&next_token={page['next_token']}"

    def session_of(self, pile_id: str, transaction_id: int | str) -> dict[str, Any]:
        """The session of the pile's transaction ``transaction_id``."""
        (session,) = [
            item
            for item in self.sessions(pile_id)
            if item["ocpp_transaction_id"] == str(transaction_id)
        ]
        return session

    def new_card(self, status: str = "active") -> str:
        """A card of this operator in ``status``: active, frozen or unbound."""
        card_no = unique("CTC").upper()
        self.api.ok(
            "POST",
            "/operator/cards",
            {
                "operator_id": self.operator_id,
                "card_no": card_no,
                "holder_name": "Conformance Driver",
                "phone": "13800138000",
            },
        )
        if status == "frozen":
            self.api.ok("POST", f"/operator/cards/{card_no}/freeze")
        elif status == "unbound":
            self.api.ok("POST", f"/operator/cards/{card_no}/unbind", {})
        return card_no


# -- piles -----------------------------------------------------------------------------------

_CSMS_ACTIONS_16 = (
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "Reset",
    "UnlockConnector",
    "ChangeAvailability",
    "ChangeConfiguration",
    "GetConfiguration",
    "TriggerMessage",
    "SetChargingProfile",
    "ClearChargingProfile",
    "GetCompositeSchedule",
    "ReserveNow",
    "CancelReservation",
    "UpdateFirmware",
    "GetDiagnostics",
    "SendLocalList",
    "GetLocalListVersion",
    "ClearCache",
    "DataTransfer",
)
_CSMS_ACTIONS_201 = (
    "RequestStartTransaction",
    "RequestStopTransaction",
    "Reset",
    "UnlockConnector",
    "ChangeAvailability",
    "SetVariables",
    "GetVariables",
    "GetBaseReport",
    "TriggerMessage",
    "SetChargingProfile",
    "ClearChargingProfile",
    "GetCompositeSchedule",
    "ReserveNow",
    "CancelReservation",
    "UpdateFirmware",
    "GetLog",
    "SendLocalList",
    "GetLocalListVersion",
    "ClearCache",
    "DataTransfer",
)


def _default_reply_16(action: str) -> Reply:
    special: dict[str, Reply] = {
        "UnlockConnector": result16.UnlockConnector(status="Unlocked"),
        "GetConfiguration": result16.GetConfiguration(configuration_key=[], unknown_key=[]),
        "UpdateFirmware": result16.UpdateFirmware(),
        "GetDiagnostics": result16.GetDiagnostics(file_name="diagnostics.log"),
        "GetLocalListVersion": result16.GetLocalListVersion(list_version=0),
    }
    return special.get(action) or getattr(result16, action)(status="Accepted")


def _set_variables_accepted(request: dict[str, Any]) -> Any:
    return result201.SetVariables(
        set_variable_result=[
            {
                "attribute_status": "Accepted",
                "component": item["component"],
                "variable": item["variable"],
            }
            for item in request["set_variable_data"]
        ]
    )


def _get_variables_accepted(request: dict[str, Any]) -> Any:
    return result201.GetVariables(
        get_variable_result=[
            {
                "attribute_status": "Accepted",
                "attribute_value": "0",
                "component": item["component"],
                "variable": item["variable"],
            }
            for item in request["get_variable_data"]
        ]
    )


def _default_reply_201(action: str) -> Reply:
    special: dict[str, Reply] = {
        "UnlockConnector": result201.UnlockConnector(status="Unlocked"),
        "SetVariables": _set_variables_accepted,
        "GetVariables": _get_variables_accepted,
        "GetLocalListVersion": result201.GetLocalListVersion(version_number=0),
    }
    return special.get(action) or getattr(result201, action)(status="Accepted")


def _snake(action: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower()


def _answering(action: str) -> Any:
    def answer(self: Any, **request: Any) -> Any:
        return self.answer(action, request)

    answer.__name__ = f"on_{_snake(action)}"
    return on(action)(answer)


class _Answering:
    """Mixin of the ChargePoint classes: records each CSMS CALL, answers from ``replies``."""

    replies: dict[str, Reply]
    received: queue.Queue[tuple[str, dict[str, Any]]]

    def answer(self, action: str, request: dict[str, Any]) -> Any:
        self.received.put((action, request))
        reply = self.replies[action]
        return reply(request) if callable(reply) else reply


ChargePoint16: type[Any] = type(
    "ChargePoint16",
    (_Answering, v16.ChargePoint),
    {f"on_{_snake(action)}": _answering(action) for action in _CSMS_ACTIONS_16},
)
ChargePoint201: type[Any] = type(
    "ChargePoint201",
    (_Answering, v201.ChargePoint),
    {f"on_{_snake(action)}": _answering(action) for action in _CSMS_ACTIONS_201},
)


def basic_auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class Pile:
    """A real OCPP ChargePoint connected to the stack's door, used synchronously."""

    def __init__(self, stack: RunningStack, pile_id: str, protocol: str, **dial: Any) -> None:
        self.pile_id = pile_id
        self.protocol = protocol
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"pile-{pile_id}", daemon=True
        )
        self._thread.start()
        try:
            self._connection = self._run(self._open(stack, **dial))
        except BaseException:
            self._stop_loop()
            raise
        charge_point_class = ChargePoint16 if protocol == V16 else ChargePoint201
        self.charge_point = charge_point_class(
            pile_id, self._connection, response_timeout=TIMEOUT_S
        )
        self.charge_point.received = queue.Queue()
        self.charge_point.replies = {
            action: (_default_reply_16 if protocol == V16 else _default_reply_201)(action)
            for action in (_CSMS_ACTIONS_16 if protocol == V16 else _CSMS_ACTIONS_201)
        }
        self._serving = asyncio.run_coroutine_threadsafe(self.charge_point.start(), self._loop)

    async def _open(
        self,
        stack: RunningStack,
        password: str = PILE_PASSWORD,
        subprotocols: list[str] | None = None,
    ) -> Any:
        offered = [Subprotocol(name) for name in (subprotocols or [self.protocol])]
        return await websockets.connect(
            f"{stack.ws_url}/ocpp/{self.pile_id}",
            subprotocols=offered,
            additional_headers=basic_auth(self.pile_id, password),
            open_timeout=TIMEOUT_S,
            ping_interval=None,
        )

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout_s: float = TIMEOUT_S) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout_s + 5)

    @staticmethod
    def authorization(pile_id: str, password: str = PILE_PASSWORD) -> dict[str, str]:
        """The Basic ``Authorization`` header of ``pile_id``."""
        return basic_auth(pile_id, password)

    @property
    def subprotocol(self) -> str | None:
        return self._connection.subprotocol  # type: ignore[no-any-return]

    @property
    def replies(self) -> dict[str, Reply]:
        """What the pile answers to each CSMS action (a result, or a callable of the request)."""
        return self.charge_point.replies  # type: ignore[no-any-return]

    def call(self, payload: Any, *, skip_schema_validation: bool = False) -> Any:
        """Send a CALL; the CALLRESULT as the package's result dataclass.

        Raises:
            ocpp.exceptions.OCPPError: the platform answered with a CALLERROR.
        """
        return self._run(
            self.charge_point.call(
                payload, suppress=False, skip_schema_validation=skip_schema_validation
            )
        )

    def expect(self, action: str, timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
        """The next CSMS-initiated CALL (it must be ``action``): its snake_case payload."""
        inbox: queue.Queue[tuple[str, dict[str, Any]]] = self.charge_point.received
        try:
            received, request = inbox.get(timeout=timeout_s)
        except queue.Empty:
            raise AssertionError(f"{self.pile_id} received no {action}") from None
        assert received == action, f"expected {action}, the platform sent {received}"
        return request

    def is_open(self) -> bool:
        return not self._serving.done()

    def close(self) -> None:
        if self._loop.is_running():
            with contextlib.suppress(TimeoutError):
                self._run(self._connection.close(), timeout_s=5)
            self._serving.cancel()
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._loop.is_running():
            self._loop.close()

    def __enter__(self) -> Pile:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


# -- reading the tables (test-only checks of what has no API yet) -----------------------------


def _table(stack: RunningStack, env_name: str) -> Any:
    tables = json.loads((stack.state_dir / "stack.json").read_text())["tables"]
    dynamodb = boto3.resource(
        "dynamodb",
        endpoint_url=stack.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    return dynamodb.Table(tables[env_name])


def _plain(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {name: int(value) if isinstance(value, Decimal) else value for name, value in item.items()}
        for item in items
    ]


def faults_of(stack: RunningStack, pile_id: str) -> list[dict[str, Any]]:
    """The pile's fault items (FaultsTable GSI2 ``PILE#{pile_id}``), oldest first."""
    answer = _table(stack, "FAULTS_TABLE").query(
        IndexName="GSI2", KeyConditionExpression=Key("gsi2pk").eq(f"PILE#{pile_id}")
    )
    return _plain(answer["Items"])


def pile_events_of(stack: RunningStack, pile_id: str) -> list[dict[str, Any]]:
    """The pile's event items (SessionsTable ``PILE#{pile_id}`` / ``EVENT#...``), oldest first."""
    answer = _table(stack, "SESSIONS_TABLE").query(
        KeyConditionExpression=Key("pk").eq(f"PILE#{pile_id}") & Key("sk").begins_with("EVENT#"),
        ConsistentRead=True,
    )
    return _plain(answer["Items"])


# -- raw frames ------------------------------------------------------------------------------


def dial_raw(
    stack: RunningStack,
    pile_id: str,
    protocol: str,
    password: str = PILE_PASSWORD,
) -> ClientConnection:
    """A bare WebSocket to the door (for frames no OCPP library would send)."""
    return sync_connect(
        f"{stack.ws_url}/ocpp/{pile_id}",
        subprotocols=[Subprotocol(protocol)],
        additional_headers=basic_auth(pile_id, password),
        open_timeout=TIMEOUT_S,
        ping_interval=None,
    )


def exchange(ws: ClientConnection, frame: str | list[Any]) -> Any:
    """Send one text frame; the parsed answer frame."""
    ws.send(frame if isinstance(frame, str) else json.dumps(frame))
    return json.loads(ws.recv(timeout=TIMEOUT_S))


def refusal_status(
    stack: RunningStack,
    pile_id: str,
    *,
    password: str = PILE_PASSWORD,
    subprotocols: list[str] | None,
    authorization: dict[str, str] | None = None,
) -> int:
    """The HTTP status of a refused opening handshake (fails if the door opens)."""
    try:
        ws = sync_connect(
            f"{stack.ws_url}/ocpp/{pile_id}",
            subprotocols=[Subprotocol(name) for name in subprotocols] if subprotocols else None,
            additional_headers=(
                basic_auth(pile_id, password) if authorization is None else authorization
            ),
            open_timeout=TIMEOUT_S,
            ping_interval=None,
        )
    except InvalidStatus as refused:
        return int(refused.response.status_code)
    ws.close()
    raise AssertionError(f"{pile_id} was let in")
