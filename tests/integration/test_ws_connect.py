"""ws_connect through its lambda_handler: who may open a WebSocket, and presence."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain import passwords
from tests.integration.test_ocpp_router_support import (
    PASSWORD,
    PileSide,
    basic,
    pile_side,
)

__all__ = ["pile_side"]


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
def test_connect_echoes_the_registered_subprotocol_when_credentials_are_right(
    pile_side: PileSide, version: str, clock: Any
) -> None:
    pile_side.put_pile("CP-1", protocol=version)

    response = pile_side.connect("CP-1", connection_id="conn-1")

    assert response == {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": version}}
    connection = pile_side.connection("conn-1")
    assert connection is not None
    assert connection["pile_id"] == "CP-1"
    assert connection["protocol"] == version
    assert connection["connected_at"] == "2026-11-01T02:00:00.000Z"
    assert connection["source_ip"] == "203.0.113.7"
    assert int(connection["expires_at"]) == int(clock.now.timestamp()) + 3 * 3600
    pile = pile_side.pile("CP-1")
    assert pile["connection_id"] == "conn-1"
    assert pile["is_online"] is True
    assert pile["connected_at"] == pile["last_seen_at"] == "2026-11-01T02:00:00.000Z"


def test_connect_reads_the_pile_id_from_path_parameters_when_no_query_string(
    pile_side: PileSide,
) -> None:
    pile_side.put_pile("CP-1")

    response = pile_side.connect("CP-1", use_path=True)

    assert response["statusCode"] == 200


def test_connect_accepts_header_names_in_any_case(pile_side: PileSide) -> None:
    from functions.ws_connect.handler import lambda_handler
    from tests.integration.test_ocpp_router_support import connect_event, lambda_context

    pile_side.put_pile("CP-1", protocol="ocpp2.0.1")
    event = connect_event("CP-1", authorization=None, offered=None)
    event["headers"]["authorization"] = basic("CP-1", PASSWORD)
    event["headers"]["SEC-WEBSOCKET-PROTOCOL"] = "ocpp2.0.1"
    event["multiValueHeaders"] = None

    response = lambda_handler(event, lambda_context())

    assert response["headers"] == {"Sec-WebSocket-Protocol": "ocpp2.0.1"}


def test_connect_costs_one_read_and_two_writes_when_accepted(pile_side: PileSide) -> None:
    pile_side.put_pile("CP-1")
    pile_side.counter.reset()

    pile_side.connect("CP-1")

    assert dict(pile_side.counter.calls) == {"GetItem": 1, "PutItem": 1, "UpdateItem": 1}


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"offered": None}, 400),
        ({"offered": "ocpp2.1, ocpp1.5"}, 400),
        ({"offered": "ocpp2.0.1"}, 400),  # registered for ocpp1.6
        ({"authorization": None}, 401),
        ({"authorization": "Bearer abc"}, 401),
        ({"authorization": "Basic !!!not-base64"}, 401),
        ({"authorization": basic("CP-1", "wrong-password-wrong")}, 401),
        ({"authorization": basic("CP-2", PASSWORD)}, 401),  # another pile's identity
    ],
    ids=[
        "no-subprotocol",
        "unsupported-subprotocols",
        "not-the-registered-protocol",
        "no-credentials",
        "not-basic",
        "malformed-basic",
        "wrong-password",
        "other-user",
    ],
)
def test_connect_refuses_when_handshake_is_wrong(
    pile_side: PileSide, kwargs: dict[str, Any], status: int
) -> None:
    pile_side.put_pile("CP-1")
    pile_side.put_pile("CP-2")
    before = pile_side.snapshot()

    response = pile_side.connect("CP-1", connection_id="conn-9", **kwargs)

    assert response["statusCode"] == status
    assert response["body"]
    assert "headers" not in response
    assert pile_side.snapshot() == before


def test_connect_answers_404_when_pile_is_unknown(pile_side: PileSide) -> None:
    before = pile_side.snapshot()

    response = pile_side.connect("CP-404")

    assert response["statusCode"] == 404
    assert pile_side.snapshot() == before


def test_connect_answers_403_when_pile_is_disabled(pile_side: PileSide) -> None:
    pile_side.put_pile("CP-1", is_enabled=False)
    before = pile_side.snapshot()

    response = pile_side.connect("CP-1")

    assert response["statusCode"] == 403
    assert pile_side.snapshot() == before


def test_connect_answers_401_when_a_disabled_pile_gives_a_wrong_password(
    pile_side: PileSide,
) -> None:
    pile_side.put_pile("CP-1", is_enabled=False)

    response = pile_side.connect("CP-1", authorization=basic("CP-1", "not-the-password-x"))

    assert response["statusCode"] == 401


def test_connect_answers_403_when_a_modbus_pile_dials_the_websocket(pile_side: PileSide) -> None:
    pile_side.put_pile("EB-1", protocol="modbus", password=None)
    before = pile_side.snapshot()

    response = pile_side.connect("EB-1")

    assert response["statusCode"] == 403
    assert pile_side.snapshot() == before


def test_connect_answers_404_when_pile_id_is_missing_or_malformed(pile_side: PileSide) -> None:
    assert pile_side.connect(None)["statusCode"] == 404
    assert pile_side.connect("bad/../id")["statusCode"] == 404


@pytest.mark.parametrize("pile_id", ["CP-1", "CP-404"])
def test_connect_hashes_once_whether_or_not_the_pile_exists(
    pile_side: PileSide, monkeypatch: pytest.MonkeyPatch, pile_id: str
) -> None:
    pile_side.put_pile("CP-1")
    seen: list[str] = []
    real = passwords.verify_password

    def spy(password: str, encoded: str) -> bool:
        seen.append(encoded.split("$")[1])
        return real(password, encoded)

    monkeypatch.setattr("shared.services.pile_connections.verify_password", spy)

    pile_side.connect(pile_id, authorization=basic(pile_id, "some-password-1234"))

    assert len(seen) == 1
    assert seen == ["50000"]


def test_connect_never_logs_the_password_or_its_hash(
    pile_side: PileSide, caplog: pytest.LogCaptureFixture
) -> None:
    pile_side.put_pile("CP-1")
    stored_hash = pile_side.pile("CP-1")["password_hash"]

    pile_side.connect("CP-1")
    pile_side.connect("CP-1", authorization=basic("CP-1", "wrong-password-wrong"))

    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert "pile connected" in logged
    assert PASSWORD not in logged
    assert "wrong-password-wrong" not in logged
    assert stored_hash not in logged
    assert basic("CP-1", PASSWORD).split()[1] not in logged


def test_disconnect_marks_the_pile_offline_when_the_connection_is_current(
    pile_side: PileSide, clock: Any
) -> None:
    pile_side.put_pile("CP-1")
    pile_side.connect("CP-1", connection_id="conn-1")
    clock.advance(minutes=95)
    pile_side.counter.reset()

    response = pile_side.disconnect("conn-1")

    assert response == {"statusCode": 200}
    assert dict(pile_side.counter.calls) == {"GetItem": 1, "UpdateItem": 1}
    pile = pile_side.pile("CP-1")
    assert pile["is_online"] is False
    assert "connection_id" not in pile
    assert pile["last_seen_at"] == "2026-11-01T03:35:00.000Z"
    # Left to its TTL (connected + 3 h) rather than deleted: a read is cheaper than a delete.
    connection = pile_side.connection("conn-1")
    assert connection is not None
    assert int(connection["expires_at"]) == int(clock.now.timestamp()) - 95 * 60 + 3 * 3600


def test_disconnect_leaves_the_pile_online_when_it_has_reconnected(
    pile_side: PileSide, clock: Any
) -> None:
    pile_side.put_pile("CP-1")
    pile_side.connect("CP-1", connection_id="conn-old")
    clock.advance(hours=2)
    pile_side.connect("CP-1", connection_id="conn-new")

    response = pile_side.disconnect("conn-old")

    assert response == {"statusCode": 200}
    assert pile_side.connection("conn-new") is not None
    pile = pile_side.pile("CP-1")
    assert pile["is_online"] is True
    assert pile["connection_id"] == "conn-new"
    assert pile["last_seen_at"] == "2026-11-01T04:00:00.000Z"  # the reconnect, not the close


def test_disconnect_changes_nothing_when_the_connection_is_unknown(pile_side: PileSide) -> None:
    pile_side.put_pile("CP-1")
    pile_side.connect("CP-1", connection_id="conn-1")
    before = pile_side.snapshot()

    response = pile_side.disconnect("conn-unknown")

    assert response == {"statusCode": 200}
    assert pile_side.snapshot() == before
