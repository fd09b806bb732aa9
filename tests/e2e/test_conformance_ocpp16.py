"""OCPP 1.6J conformance, end to end: the OCA compliance test cases for a Central System.

Each ``test_TC_...`` is one case of the OCA Compliancy Test Tool document (the cases SteVe
runs in its certification tests), played by a real ``ocpp.v16.ChargePoint`` over a real
WebSocket against the local stack; the checklist with every case's status is
``docs/conformance.md``. The ``test_...`` without a case id check what every case relies
on: the door's refusals, the error codes of the 1.6 RPC framework, and reconnects.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import ocpp
import pytest
from jsonschema import Draft4Validator
from ocpp.exceptions import (
    NotImplementedError as OcppNotImplemented,
)
from ocpp.exceptions import (
    NotSupportedError,
    SecurityError,
)
from ocpp.v16 import call
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as sync_connect
from websockets.typing import Subprotocol

from infra.local import demo
from tests.e2e.conformance_support import (
    V16,
    V201,
    OperatorApi,
    Pile,
    Tenant,
    dial_raw,
    exchange,
    faults_of,
    refusal_status,
    wire_now,
)
from tests.e2e.conftest import RunningStack
from tests.e2e.test_demo import wait_for_demo

pytestmark = pytest.mark.e2e

BOOT = call.BootNotification(
    charge_point_vendor="Conformance",
    charge_point_model="CT-22kW",
    charge_point_serial_number="CP-SN-0001",
    firmware_version="1.6.9",
    iccid="89860000000000000001",
    imsi="460000000000001",
)


@pytest.fixture(scope="module")
def api(local_stack: RunningStack) -> OperatorApi:
    return OperatorApi(local_stack)


@pytest.fixture(scope="module")
def tenant(api: OperatorApi) -> Tenant:
    return Tenant.create(api, "Conformance 1.6")


@pytest.fixture
def pile(local_stack: RunningStack, tenant: Tenant) -> Iterator[Pile]:
    """A registered 1.6 pile with two guns, connected and booted (Accepted)."""
    with Pile(local_stack, tenant.new_pile(V16), V16) as booted:
        assert booted.call(BOOT).status == "Accepted"
        yield booted


def _status(connector_id: int, status: str, error_code: str = "NoError", **extra: Any) -> Any:
    return call.StatusNotification(
        connector_id=connector_id,
        error_code=error_code,
        status=status,
        timestamp=wire_now(),
        **extra,
    )


def _parse(wire: str) -> datetime:
    return datetime.fromisoformat(wire.replace("Z", "+00:00"))


# -- Core: booting and status ------------------------------------------------------------------


def test_TC_001_cold_boot_charge_point(local_stack: RunningStack, tenant: Tenant) -> None:
    pile_id = tenant.new_pile(V16)
    with Pile(local_stack, pile_id, V16) as pile:
        boot = pile.call(BOOT)
        statuses = [pile.call(_status(connector, "Available")) for connector in (0, 1, 2)]
        heartbeat = pile.call(call.Heartbeat())

    assert boot.status == "Accepted"
    assert 0 < boot.interval < 600  # under API Gateway's 10-minute idle close
    assert abs(_parse(boot.current_time) - datetime.now(UTC)) < timedelta(minutes=1)
    assert all(dataclasses.asdict(answer) == {} for answer in statuses)
    assert abs(_parse(heartbeat.current_time) - datetime.now(UTC)) < timedelta(minutes=1)
    stored = tenant.pile(pile_id)
    assert stored["boot"]["vendor"] == "Conformance"
    assert stored["boot"]["model"] == "CT-22kW"
    assert stored["boot"]["firmware"] == "1.6.9"
    assert stored["boot"]["iccid"] == "89860000000000000001"
    assert stored["boot"]["imsi"] == "460000000000001"
    assert [tenant.gun(pile_id, gun_no)["status"] for gun_no in (1, 2)] == [
        "Available",
        "Available",
    ]


def test_TC_001_boot_rejected_while_disabled_then_accepted(
    local_stack: RunningStack, tenant: Tenant
) -> None:
    pile_id = tenant.new_pile(V16)
    with Pile(local_stack, pile_id, V16) as pile:
        tenant.set_enabled(pile_id, False)
        rejected = pile.call(BOOT)
        with pytest.raises(SecurityError):
            pile.call(call.Heartbeat())  # a pile not Accepted may only boot
        tenant.set_enabled(pile_id, True)
        accepted = pile.call(BOOT)
        heartbeat = pile.call(call.Heartbeat())

    assert rejected.status == "Rejected"
    assert rejected.interval > 0
    assert accepted.status == "Accepted"
    assert heartbeat.current_time


def test_TC_004_2_regular_charging_session_identification_first_connection_timeout(
    pile: Pile, tenant: Tenant
) -> None:
    card = tenant.new_card()

    authorized = pile.call(call.Authorize(id_tag=card))
    pile.call(_status(1, "Preparing"))
    assert tenant.gun(pile.pile_id, 1)["status"] == "Preparing"
    pile.call(_status(1, "Available"))  # the driver never plugged in: ConnectionTimeOut

    assert authorized.id_tag_info["status"] == "Accepted"
    assert tenant.gun(pile.pile_id, 1)["status"] == "Available"


def test_TC_023_1_start_charging_session_authorize_invalid(
    pile: Pile, api: OperatorApi, tenant: Tenant
) -> None:
    other_operators_card = Tenant.create(api, "Other operator").new_card()
    released_card = tenant.new_card("unbound")

    unknown = pile.call(call.Authorize(id_tag="NO-SUCH-CARD-01"))
    foreign = pile.call(call.Authorize(id_tag=other_operators_card))
    released = pile.call(call.Authorize(id_tag=released_card))

    assert unknown.id_tag_info["status"] == "Invalid"
    assert foreign.id_tag_info["status"] == "Invalid"  # another tenant's card is unknown here
    assert released.id_tag_info["status"] == "Invalid"


def test_TC_023_3_start_charging_session_authorize_blocked(pile: Pile, tenant: Tenant) -> None:
    blocked = pile.call(call.Authorize(id_tag=tenant.new_card("frozen")))

    assert blocked.id_tag_info["status"] == "Blocked"


def test_TC_024_start_charging_session_lock_failure(
    local_stack: RunningStack, pile: Pile, tenant: Tenant
) -> None:
    card = tenant.new_card()

    assert pile.call(call.Authorize(id_tag=card)).id_tag_info["status"] == "Accepted"
    pile.call(_status(1, "Preparing"))
    faulted = pile.call(_status(1, "Faulted", "ConnectorLockFailure", vendor_error_code="LOCK-7"))

    assert dataclasses.asdict(faulted) == {}
    gun = tenant.gun(pile.pile_id, 1)
    assert (gun["status"], gun["error_code"]) == ("Faulted", "ConnectorLockFailure")
    (fault,) = faults_of(local_stack, pile.pile_id)
    assert (fault["gun_no"], fault["error_code"], fault["vendor_error_code"]) == (
        1,
        "ConnectorLockFailure",
        "LOCK-7",
    )
    assert fault["status"] == "open"


# -- Core: data transfer -----------------------------------------------------------------------


def test_TC_064_data_transfer_to_a_central_system(pile: Pile) -> None:
    answer = pile.call(
        call.DataTransfer(vendor_id="com.example.vendor", message_id="Telemetry", data="42")
    )

    assert answer.status in ("Rejected", "UnknownMessageId", "UnknownVendorId")


# -- Security profile 1: HTTP Basic authentication, sub-protocol negotiation ---------------------


def test_TC_085_basic_authentication_valid_credentials(
    local_stack: RunningStack, tenant: Tenant
) -> None:
    pile_id = tenant.new_pile(V16)

    wrong = refusal_status(
        local_stack, pile_id, password="not-the-password-000", subprotocols=[V16]
    )
    with Pile(local_stack, pile_id, V16) as pile:
        boot = pile.call(BOOT)
        pile.call(_status(1, "Available"))
        pile.call(_status(2, "Available"))

    assert wrong == 401
    assert boot.status == "Accepted"


def test_TC_088_websocket_subprotocol_negotiation(
    local_stack: RunningStack, tenant: Tenant
) -> None:
    pile_id = tenant.new_pile(V16)

    unsupported = refusal_status(local_stack, pile_id, subprotocols=["ocpp0.1"])
    not_registered = refusal_status(local_stack, pile_id, subprotocols=[V201])
    missing = refusal_status(local_stack, pile_id, subprotocols=None)
    with Pile(local_stack, pile_id, V16, subprotocols=["ocpp0.1", V16]) as pile:
        chosen = pile.subprotocol
        boot = pile.call(BOOT)

    assert (unsupported, not_registered, missing) == (400, 400, 400)
    assert chosen == V16
    assert boot.status == "Accepted"


def test_connect_refused_404_when_the_pile_is_unknown(local_stack: RunningStack) -> None:
    assert refusal_status(local_stack, "CT16-nobody-here", subprotocols=[V16]) == 404


def test_connect_refused_403_when_the_pile_is_disabled(
    local_stack: RunningStack, tenant: Tenant
) -> None:
    pile_id = tenant.new_pile(V16, is_enabled=False)

    assert refusal_status(local_stack, pile_id, subprotocols=[V16]) == 403


def test_connect_refused_401_when_the_credentials_are_not_the_piles(
    local_stack: RunningStack, tenant: Tenant
) -> None:
    pile_id = tenant.new_pile(V16)
    other_pile_id = tenant.new_pile(V16)

    no_header = refusal_status(local_stack, pile_id, subprotocols=[V16], authorization={})
    other_user = refusal_status(
        local_stack,
        pile_id,
        subprotocols=[V16],
        authorization=Pile.authorization(other_pile_id),
    )

    assert (no_header, other_user) == (401, 401)


# -- the RPC framework: every CALL answered with a 1.6 code ------------------------------------


@dataclasses.dataclass
class FlyToTheMoon:
    """An action no OCPP version has."""

    altitude_m: int


def test_unknown_action_answered_not_implemented_and_csms_action_not_supported(
    pile: Pile,
) -> None:
    with pytest.raises(OcppNotImplemented):
        pile.call(FlyToTheMoon(altitude_m=384_400_000), skip_schema_validation=True)
    with pytest.raises(NotSupportedError):
        pile.call(call.Reset(type="Hard"))  # an action the Central System sends, not a pile

    assert pile.call(call.Heartbeat()).current_time  # the connection stays up


def test_call_before_an_accepted_boot_refused_with_security_error(
    local_stack: RunningStack, tenant: Tenant
) -> None:
    card = tenant.new_card()
    with Pile(local_stack, tenant.new_pile(V16), V16) as pile:
        with pytest.raises(SecurityError):
            pile.call(call.Authorize(id_tag=card))
        with pytest.raises(SecurityError):
            pile.call(_status(1, "Available"))
        assert pile.call(BOOT).status == "Accepted"
        assert pile.call(call.Authorize(id_tag=card)).id_tag_info["status"] == "Accepted"


MALFORMED_16: list[tuple[str, str | list[Any], str, str | None]] = [
    ("not JSON", "{this is not json", "FormationViolation", "-1"),
    ("not an array", '{"a": 1}', "FormationViolation", "-1"),
    ("empty array", "[]", "FormationViolation", "-1"),
    ("CALL of 3 elements", [2, "m-1", "Heartbeat"], "FormationViolation", "m-1"),
    ("message type 5", [5, "m-2", "Heartbeat", {}], "GenericError", "m-2"),
    ("payload not an object", [2, "m-3", "Heartbeat", []], "FormationViolation", "m-3"),
    (
        "wrong type",
        [
            2,
            "m-4",
            "StatusNotification",
            {"connectorId": "one", "errorCode": "NoError", "status": "Available"},
        ],
        "TypeConstraintViolation",
        "m-4",
    ),
    ("required missing", [2, "m-5", "Authorize", {}], "OccurenceConstraintViolation", "m-5"),
    (
        "additional property",
        [2, "m-6", "Heartbeat", {"surprise": True}],
        "FormationViolation",
        "m-6",
    ),
    (
        "enum violated",
        [
            2,
            "m-7",
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Exploded"},
        ],
        "PropertyConstraintViolation",
        "m-7",
    ),
    (
        "idTag too long",
        [2, "m-8", "Authorize", {"idTag": "X" * 21}],
        "PropertyConstraintViolation",
        "m-8",
    ),
    ("unknown action", [2, "m-9", "FlyToTheMoon", {}], "NotImplemented", "m-9"),
]


def test_malformed_frames_answered_with_the_1_6_error_codes(
    local_stack: RunningStack, pile: Pile
) -> None:
    with dial_raw(local_stack, pile.pile_id, V16) as ws:
        answers = {name: exchange(ws, frame) for name, frame, _, _ in MALFORMED_16}
        heartbeat = exchange(ws, [2, "m-10", "Heartbeat", {}])

    for name, _, code, message_id in MALFORMED_16:
        assert answers[name][:3] == [4, message_id, code], name
        assert isinstance(answers[name][3], str) and isinstance(answers[name][4], dict), name
    assert heartbeat[:2] == [3, "m-10"]


# -- reconnects ---------------------------------------------------------------------------------


def test_reconnect_keeps_the_registration_and_the_gun_status(
    local_stack: RunningStack, tenant: Tenant
) -> None:
    pile_id = tenant.new_pile(V16)
    with Pile(local_stack, pile_id, V16) as first:
        assert first.call(BOOT).status == "Accepted"
        first.call(_status(1, "Preparing"))
    tenant.api.wait_for(f"/operator/piles/{pile_id}", lambda body: not body["is_online"])

    with Pile(local_stack, pile_id, V16) as second:
        heartbeat = second.call(call.Heartbeat())  # no new boot: the Accepted status outlives
        online = tenant.pile(pile_id)["is_online"]

    assert heartbeat.current_time
    assert online is True
    assert tenant.gun(pile_id, 1)["status"] == "Preparing"
    assert tenant.pile(pile_id)["boot"]["firmware"] == "1.6.9"


def test_old_connection_closing_leaves_the_reconnected_pile_online(
    local_stack: RunningStack, tenant: Tenant
) -> None:
    pile_id = tenant.new_pile(V16)
    old = Pile(local_stack, pile_id, V16)
    assert old.call(BOOT).status == "Accepted"
    with Pile(local_stack, pile_id, V16) as new:
        old.close()  # API Gateway's $disconnect of the replaced socket arrives late
        heartbeat = new.call(call.Heartbeat())
        online = tenant.pile(pile_id)["is_online"]

    assert heartbeat.current_time
    assert online is True


# -- an independent OCPP-J client in strict schema mode against the demo's DEMO-16-FREE --------

DEMO_16_FREE = "DEMO-16-FREE"
SCHEMAS_16 = Path(ocpp.__file__).parent / "v16" / "schemas"
RPC_ERROR_CODES_16 = {
    "NotImplemented",
    "NotSupported",
    "InternalError",
    "ProtocolError",
    "SecurityError",
    "FormationViolation",
    "PropertyConstraintViolation",
    "OccurenceConstraintViolation",
    "TypeConstraintViolation",
    "GenericError",
}


class StrictOcppJClient:
    """A hand-written OCPP-J 1.6 client (no OCPP library): one CALL at a time, and every
    answer checked strictly against the official response schema of its action."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.violations: list[str] = []

    def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        message_id = uuid.uuid4().hex
        self.ws.send(json.dumps([2, message_id, action, payload]))
        frame = json.loads(self.ws.recv(timeout=30))
        assert isinstance(frame, list) and frame[:2] == [3, message_id], frame
        assert len(frame) == 3, frame
        schema = json.loads((SCHEMAS_16 / f"{action}Response.json").read_text())
        validator = Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
        self.violations += [
            f"{action}: {error.message}" for error in validator.iter_errors(frame[2])
        ]
        answer: dict[str, Any] = frame[2]
        return answer

    def call_error(self, action: str, payload: dict[str, Any]) -> str:
        message_id = uuid.uuid4().hex
        self.ws.send(json.dumps([2, message_id, action, payload]))
        frame = json.loads(self.ws.recv(timeout=30))
        assert len(frame) == 5 and frame[:2] == [4, message_id], frame
        code, description, details = frame[2:]
        assert code in RPC_ERROR_CODES_16, frame  # only the codes 1.6 defines
        assert isinstance(description, str) and isinstance(details, dict), frame
        return str(code)


def test_independent_ocpp_j_client_in_strict_schema_mode_on_demo_16_free(
    demo_stack: RunningStack,
) -> None:
    wait_for_demo(demo_stack)
    checker = Draft4Validator.FORMAT_CHECKER
    assert not checker.conforms("2026-02-30T10:00:00Z", "date-time")  # formats really checked
    headers = Pile.authorization(DEMO_16_FREE, demo.FREE_PILE_PASSWORD)
    with sync_connect(
        f"{demo_stack.ws_url}/ocpp/{DEMO_16_FREE}",
        subprotocols=[Subprotocol(V16)],
        additional_headers=headers,
        open_timeout=30,
        ping_interval=None,
    ) as ws:
        client = StrictOcppJClient(ws)
        boot = client.call(
            "BootNotification",
            {
                "chargePointVendor": "IndependentVendor",
                "chargePointModel": "Strict-J",
                "chargePointSerialNumber": "IND-0001",
                "firmwareVersion": "0.9.1",
            },
        )
        heartbeat = client.call("Heartbeat", {})
        statuses = [
            client.call(
                "StatusNotification",
                {
                    "connectorId": connector,
                    "errorCode": "NoError",
                    "status": "Available",
                    "timestamp": wire_now(),
                },
            )
            for connector in (0, 1, 2)
        ]
        card = client.call("Authorize", {"idTag": demo.CARD_NO})
        unknown = client.call("Authorize", {"idTag": "NOT-A-DEMO-CARD"})
        refused = client.call_error("Authorize", {"idTag": 42})

    assert client.violations == []
    assert boot["status"] == "Accepted"
    assert heartbeat["currentTime"]
    assert statuses == [{}, {}, {}]
    assert card["idTagInfo"]["status"] == "Accepted"
    assert unknown["idTagInfo"]["status"] == "Invalid"
    assert refused == "TypeConstraintViolation"
