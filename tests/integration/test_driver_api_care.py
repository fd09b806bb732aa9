"""Cards, complaints and reservations on moto through the handler: a card binds to one
driver with the card's phone; a complaint is a driver fault with a photo URL; a reserved gun
refuses others until cancelled or expired; another driver's objects answer 404."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from functions.driver_api import wiring
from tests.integration.test_driver_api_support import (
    DriverWorld,
    dcall,
    set_gun_status,
    shared_world,
    sign_in,
    snapshot,
    world,
)

__all__ = ["shared_world", "world"]

BUCKET = "test-uploads"


class FakeSender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def post(self, connection_id: str, text: str) -> None:
        self.sent.append((connection_id, json.loads(text)))


@pytest.fixture(scope="module")
def bucket(shared_world: DriverWorld) -> str:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    return BUCKET


@pytest.fixture
def care(world: DriverWorld, bucket: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSender]:
    sender = FakeSender()
    monkeypatch.setenv("UPLOADS_BUCKET", bucket)
    monkeypatch.setenv("WS_MANAGEMENT_ENDPOINT", "https://ws.example.com/prod")
    wiring.reset()
    monkeypatch.setattr(wiring, "_websocket_sender", functools.cache(lambda: sender))
    yield sender
    wiring.reset()


def signed_in_with_phone(name: str, phone: str | None) -> str:
    token = sign_in(name)
    if phone is not None:
        assert dcall("PATCH", "/driver/me", token, body={"phone": phone}).status == 200
    return token


# --- cards ---------------------------------------------------------------------------------


def test_a_card_binds_to_the_driver_with_its_phone_and_shows_its_balance(
    world: DriverWorld, care: FakeSender
) -> None:
    token = signed_in_with_phone("card-owner", "13800000000")

    bound = dcall("POST", "/driver/cards", token, body={"card_no": world.a.card_no})
    again = dcall("POST", "/driver/cards", token, body={"card_no": world.a.card_no})
    listed = dcall("GET", "/driver/cards", token)
    other = signed_in_with_phone("card-other", "13800000000")
    taken = dcall("POST", "/driver/cards", other, body={"card_no": world.a.card_no})
    stolen = dcall("DELETE", f"/driver/cards/{world.a.card_no}", other)
    unbound = dcall("DELETE", f"/driver/cards/{world.a.card_no}", token)

    assert bound.status == 201, bound.body
    assert bound.body["balance_fen"] == 10_000
    assert (bound.body["card_no"], bound.body["status"]) == (world.a.card_no, "active")
    assert again.status == 201
    assert [c["card_no"] for c in listed.body["items"]] == [world.a.card_no]
    assert taken.status == 409
    assert stolen.status == 404
    assert unbound.status == 204
    assert dcall("GET", "/driver/cards", token).body["items"] == []
    assert dcall("POST", "/driver/cards", other, body={"card_no": world.a.card_no}).status == 201
    assert dcall("DELETE", f"/driver/cards/{world.a.card_no}", other).status == 204


@pytest.mark.parametrize(
    ("phone", "card", "status"),
    [
        (None, "CARD-a", 403),
        ("13900000000", "CARD-a", 403),
        ("13800000000", "CARD-none", 404),
        ("13800000000", "bad card!", 422),
    ],
)
def test_a_card_is_refused_and_nothing_changes_when_it_is_not_the_drivers(
    world: DriverWorld, care: FakeSender, phone: str | None, card: str, status: int
) -> None:
    token = signed_in_with_phone(f"card-refused-{phone}", phone)
    before = snapshot()

    answer = dcall("POST", "/driver/cards", token, body={"card_no": card})

    assert answer.status == status, answer.body
    assert snapshot() == before


# --- complaints ------------------------------------------------------------------------------


def test_a_complaint_becomes_a_driver_fault_with_a_photo_upload_url(
    world: DriverWorld, care: FakeSender, bucket: str
) -> None:
    token = sign_in("complainer")
    body = {
        "request_id": "complaint-0001",
        "pile_id": world.b.pile_id,
        "gun_no": 2,
        "category": "cannot_start",
        "text": "枪头插不进去 / the plug does not fit",
        "photo_content_type": "image/jpeg",
    }

    made = dcall("POST", "/driver/complaints", token, body=body)
    again = dcall("POST", "/driver/complaints", token, body=body)

    assert made.status == 201, made.body
    complaint_id = made.body["complaint_id"]
    assert again.body["complaint_id"] == complaint_id
    assert (made.body["status"], made.body["has_photo"]) == ("open", True)
    uploaded = requests.put(
        made.body["upload_url"], data=b"\xff\xd8jpeg", headers={"Content-Type": "image/jpeg"}
    )
    assert uploaded.status_code == 200
    stored = boto3.client("s3").get_object(
        Bucket=bucket, Key=f"complaints/{complaint_id}/photo.jpg"
    )
    assert stored["Body"].read() == b"\xff\xd8jpeg"
    fault = boto3.client("dynamodb").get_item(
        TableName=os.environ["FAULTS_TABLE"],
        Key={"pk": {"S": f"FAULT#{complaint_id}"}, "sk": {"S": "FAULT"}},
    )["Item"]
    assert fault["source"]["S"] == "driver"
    assert fault["operator_id"]["S"] == world.b.operator_id
    assert fault["gsi2pk"]["S"] == f"PILE#{world.b.pile_id}"
    assert dcall("GET", f"/driver/complaints/{complaint_id}", token).body["text"] == body["text"]
    assert [c["complaint_id"] for c in dcall("GET", "/driver/complaints", token).body["items"]] == [
        complaint_id
    ]
    other = sign_in("complaint-reader")
    assert dcall("GET", f"/driver/complaints/{complaint_id}", other).status == 404
    assert dcall("GET", "/driver/complaints", other).body["items"] == []


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"pile_id": "CP-nobody"}, 404),
        ({"gun_no": 5}, 404),
        ({"category": "rude"}, 422),
        ({"text": ""}, 422),
        ({"photo_content_type": "image/gif"}, 422),
        ({"request_id": "no"}, 422),
    ],
)
def test_a_bad_complaint_is_refused_and_stores_nothing(
    world: DriverWorld, care: FakeSender, overrides: dict[str, Any], status: int
) -> None:
    token = sign_in("bad-complaint")
    body = {
        "request_id": "complaint-bad-1",
        "pile_id": world.a.pile_id,
        "category": "other",
        "text": "x",
    }
    body.update(overrides)
    before = snapshot()

    answer = dcall("POST", "/driver/complaints", token, body=body)

    assert answer.status == status, answer.body
    assert snapshot() == before


# --- reservations ----------------------------------------------------------------------------


def reserve(world: DriverWorld, token: str, request_id: str, **overrides: Any) -> Any:
    body = {"request_id": request_id, "pile_id": world.a.pile_id, "gun_no": 1, "minutes": 15}
    body.update(overrides)
    return dcall("POST", "/driver/reservations", token, body=body)


def scan_gun_1(world: DriverWorld, token: str) -> dict[str, Any]:
    answer = dcall(
        "POST", "/driver/scan", token, body={"code": f"https://h.example/q/{world.a.pile_id}/1"}
    )
    body: dict[str, Any] = answer.body
    return body


def test_a_reserved_gun_refuses_others_until_the_reservation_is_cancelled(
    world: DriverWorld, care: FakeSender
) -> None:
    owner, other = sign_in("reserver"), sign_in("reserve-other")

    made = reserve(world, owner, "reserve-0001")
    repeated = reserve(world, owner, "reserve-0001")

    assert made.status == 201, made.body
    assert repeated.body["reservation_id"] == made.body["reservation_id"]
    assert made.body["status"] == "active"
    assert made.body["expires_at"] == "2026-11-01T02:15:00.000Z"
    [(connection_id, frame)] = care.sent
    assert connection_id == f"conn-{world.a.pile_id}"
    assert frame[2] == "ReserveNow"
    assert (frame[3]["connectorId"], frame[3]["expiryDate"]) == (1, "2026-11-01T02:15:00.000Z")
    assert frame[3]["idTag"].startswith("D")
    assert scan_gun_1(world, other)["refusal"] == "the gun is reserved by someone else"
    assert scan_gun_1(world, owner)["can_start"] is True
    assert reserve(world, other, "reserve-0002").status == 409
    assert (
        dcall("DELETE", f"/driver/reservations/{made.body['reservation_id']}", other).status == 404
    )

    cancelled = dcall("DELETE", f"/driver/reservations/{made.body['reservation_id']}", owner)

    assert cancelled.status == 200, cancelled.body
    assert cancelled.body["status"] == "cancelled"
    assert care.sent[-1][1][2] == "CancelReservation"
    assert care.sent[-1][1][3] == {"reservationId": frame[3]["reservationId"]}
    assert scan_gun_1(world, other)["can_start"] is True
    again = dcall("DELETE", f"/driver/reservations/{made.body['reservation_id']}", owner)
    assert again.status == 409
    listed = dcall("GET", "/driver/reservations", owner).body["items"]
    assert [(r["reservation_id"], r["status"]) for r in listed] == [
        (made.body["reservation_id"], "cancelled")
    ]


def test_a_reservation_expires_by_itself(world: DriverWorld, care: FakeSender) -> None:
    owner, other = sign_in("expirer"), sign_in("expire-other")
    made = reserve(world, owner, "reserve-expiry-1", minutes=5)
    assert made.status == 201, made.body

    world.clock.advance(minutes=5)

    assert scan_gun_1(world, other)["can_start"] is True
    assert dcall("GET", "/driver/reservations", owner).body["items"][0]["status"] == "expired"
    taken = reserve(world, other, "reserve-expiry-2")
    assert taken.status == 201, taken.body
    assert (
        dcall("DELETE", f"/driver/reservations/{taken.body['reservation_id']}", other).status == 200
    )


@pytest.mark.parametrize(
    ("overrides", "gun_status", "status"),
    [
        ({}, "Charging", 409),
        ({"gun_no": 2}, None, 409),  # gun 2 is charging in the world
        ({"pile_id": "CP-nobody"}, None, 404),
        ({"minutes": 60}, None, 422),
        ({"minutes": 4}, None, 422),
    ],
)
def test_a_reservation_is_refused_and_stores_nothing_when_the_gun_is_not_free(
    world: DriverWorld,
    care: FakeSender,
    overrides: dict[str, Any],
    gun_status: str | None,
    status: int,
) -> None:
    token = sign_in("reserve-refused")
    if gun_status is not None:
        set_gun_status(world.a.pile_id, 1, gun_status)
    before = snapshot()

    answer = reserve(world, token, "reserve-refused-1", **overrides)

    assert answer.status == status, answer.body
    assert snapshot() == before
    assert care.sent == []


def test_care_routes_need_a_token(world: DriverWorld, care: FakeSender) -> None:
    calls = [
        ("GET", "/driver/cards"),
        ("POST", "/driver/cards"),
        ("DELETE", "/driver/cards/CARD-a"),
        ("GET", "/driver/complaints"),
        ("POST", "/driver/complaints"),
        ("GET", "/driver/complaints/cp-00000000000000000000"),
        ("GET", "/driver/reservations"),
        ("POST", "/driver/reservations"),
        ("DELETE", "/driver/reservations/rv-00000000000000000000"),
    ]
    before = snapshot()
    for method, path in calls:
        assert dcall(method, path, None, body={}).status == 401, (method, path)
    assert snapshot() == before
    assert dcall("GET", "/driver/complaints/nope", sign_in("x-care")).status == 404
