"""Bad input to every operator-API endpoint gets a 4xx with a clear message and changes
nothing: invalid JSON, oversized bodies, extra fields, wrong types, missing fields, unknown
and malformed ids, bad query strings, broken domain rules. Every case compares a scan of
the tables before and after."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest

from tests.integration.operator_api_support import (
    PLATFORM_ADMIN,
    Answer,
    Tenant,
    World,
    call,
    discount_body,
    http_event,
    invoke,
    pile_body,
    seeded_world,
    snapshot,
    station_body,
    tou_periods,
)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with seeded_world() as seeded:
        yield seeded


@dataclass(frozen=True)
class BodyCase:
    """A write endpoint, a body it would accept, and how to break it."""

    name: str
    method: str
    path: Callable[[Tenant], str]
    body: Callable[[Tenant], dict[str, Any]]
    wrong: tuple[str, Any]  # field -> value of the wrong JSON type
    required: str | None  # a field whose absence is refused (None: PATCH, any field may go)
    who: str = "admin"  # "admin" (A's operator admin), "root" (platform admin), "none"


CASES = [
    BodyCase(
        "login",
        "POST",
        lambda a: "/operator/auth/login",
        lambda a: {"username": "u", "password": "p"},
        ("username", 5),
        "password",
        "none",
    ),
    BodyCase(
        "refresh",
        "POST",
        lambda a: "/operator/auth/refresh",
        lambda a: {"refresh_token": "token"},
        ("refresh_token", ["x"]),
        "refresh_token",
        "none",
    ),
    BodyCase(
        "create operator",
        "POST",
        lambda a: "/operator/operators",
        lambda a: {"name": "New"},
        ("name", 1),
        "name",
        "root",
    ),
    BodyCase(
        "patch operator",
        "PATCH",
        lambda a: f"/operator/operators/{a.operator_id}",
        lambda a: {"name": "New"},
        ("name", True),
        None,
    ),
    BodyCase(
        "create staff",
        "POST",
        lambda a: f"/operator/operators/{a.operator_id}/staff",
        lambda a: {"username": "new-user", "password": "Password-12345", "role": "maintenance"},
        ("role", 1),
        "username",
    ),
    BodyCase(
        "create station",
        "POST",
        lambda a: "/operator/stations",
        lambda a: station_body(),
        ("transformer_capacity_kva", "630"),
        "lat",
    ),
    BodyCase(
        "patch station",
        "PATCH",
        lambda a: f"/operator/stations/{a.station_id}",
        lambda a: {"name": "New"},
        ("partner_share_bp", 50.5),
        None,
    ),
    BodyCase(
        "create pile",
        "POST",
        lambda a: "/operator/piles",
        lambda a: pile_body("CP-new", a.station_id),
        ("gun_count", "2"),
        "station_id",
    ),
    BodyCase(
        "patch pile",
        "PATCH",
        lambda a: f"/operator/piles/{a.pile_id}",
        lambda a: {"is_enabled": False},
        ("is_enabled", "false"),
        None,
    ),
    BodyCase(
        "set pile password",
        "PUT",
        lambda a: f"/operator/piles/{a.pile_id}/password",
        lambda a: {"password": "another-password-1"},
        ("password", 1234567890123456),
        "password",
    ),
    BodyCase(
        "patch gun",
        "PATCH",
        lambda a: f"/operator/piles/{a.pile_id}/guns/1",
        lambda a: {"name": "Left"},
        ("is_enabled", 0),
        None,
    ),
    BodyCase(
        "create tariff",
        "POST",
        lambda a: "/operator/tariffs",
        lambda a: {"name": "T", "periods": tou_periods()},
        ("periods", "all day"),
        "periods",
    ),
    BodyCase(
        "patch tariff",
        "PATCH",
        lambda a: f"/operator/tariffs/{a.tariff_id}",
        lambda a: {"name": "New"},
        ("min_start_balance_fen", "100"),
        None,
    ),
    BodyCase(
        "create discount",
        "POST",
        lambda a: "/operator/discounts",
        lambda a: discount_body([]),
        ("percent_bp", "2000"),
        "starts_at",
    ),
    BodyCase(
        "patch discount",
        "PATCH",
        lambda a: f"/operator/discounts/{a.discount_id}",
        lambda a: {"name": "New"},
        ("station_ids", "st-" + "0" * 20),
        None,
    ),
    BodyCase(
        "issue card",
        "POST",
        lambda a: "/operator/cards",
        lambda a: {"card_no": "NEW-1", "holder_name": "X", "phone": "13800000000"},
        ("phone", 13800000000),
        "card_no",
    ),
    BodyCase(
        "top up card",
        "POST",
        lambda a: f"/operator/cards/{a.card_no}/top-ups",
        lambda a: {"amount_fen": 100, "request_id": "bad-input-0001"},
        ("amount_fen", "100"),
        "request_id",
    ),
    BodyCase(
        "unbind card",
        "POST",
        lambda a: f"/operator/cards/{a.card_no}/unbind",
        lambda a: {"refund_balance": True},
        ("refund_balance", "yes"),
        None,
    ),
]
IDS = [case.name for case in CASES]


def _who(world: World, case: BodyCase) -> dict[str, Any] | None:
    return {"admin": world.a.admin, "root": PLATFORM_ADMIN, "none": None}[case.who]


def _send(world: World, case: BodyCase, **kwargs: Any) -> Answer:
    return call(case.method, case.path(world.a), _who(world, case), **kwargs)


def _refused_unchanged(send: Callable[[], Answer]) -> Answer:
    before = snapshot()
    answer = send()
    assert snapshot() == before, "a refused request changed the tables"
    assert 400 <= answer.status < 500, answer.body
    assert answer.error["message"], answer.body
    return answer


def _paths(answer: Answer) -> list[str]:
    return [problem["path"] for problem in answer.error["details"]["errors"]]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_invalid_json_answers_400_when_sent(world, case):
    answer = _refused_unchanged(lambda: _send(world, case, raw_body='{"name": "x",'))
    assert answer.status == 400 and answer.error["code"] == "malformed_request"
    assert "not valid JSON" in answer.error["message"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_broken_base64_answers_400_when_the_body_is_marked_encoded(world, case):
    event = http_event(case.method, case.path(world.a), who=_who(world, case))
    event.update(body="%%% not base64 %%%", isBase64Encoded=True)
    answer = _refused_unchanged(lambda: invoke(event))
    assert answer.status == 400 and "base64" in answer.error["message"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_oversized_body_answers_413_when_over_64_kb(world, case):
    body = {**case.body(world.a), "padding": "x" * (65 * 1024)}
    answer = _refused_unchanged(lambda: _send(world, case, body=body))
    assert answer.status == 413 and answer.error["code"] == "payload_too_large"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_extra_field_answers_422_naming_it_when_sent(world, case):
    body = {**case.body(world.a), "is_admin": True}
    answer = _refused_unchanged(lambda: _send(world, case, body=body))
    assert answer.status == 422 and answer.error["code"] == "validation_failed"
    assert "is_admin" in _paths(answer)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_wrong_type_answers_422_naming_the_field_when_sent(world, case):
    field, value = case.wrong
    body = {**case.body(world.a), field: value}
    answer = _refused_unchanged(lambda: _send(world, case, body=body))
    assert answer.status == 422
    assert any(path.split(".")[0] == field for path in _paths(answer)), answer.body


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_missing_field_answers_422_when_left_out(world, case):
    body = case.body(world.a)
    if case.required is None:
        body = {}
    else:
        del body[case.required]
    answer = _refused_unchanged(lambda: _send(world, case, body=body))
    if case.name == "unbind card":
        assert answer.status == 409  # an empty object is a valid unbind; the card holds money
        return
    assert answer.status == 422
    if case.required is not None:
        assert case.required in _paths(answer)
    else:
        assert "no field" in answer.error["message"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_json_that_is_not_an_object_answers_422_when_sent(world, case):
    answer = _refused_unchanged(lambda: _send(world, case, raw_body="[1, 2]"))
    assert answer.status == 422 and _paths(answer) == ["body"]


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.name != "unbind card"], ids=lambda c: c.name
)
def test_missing_body_answers_400_when_one_is_required(world, case):
    answer = _refused_unchanged(lambda: _send(world, case))
    assert answer.status == 400 and "JSON object" in answer.error["message"]


# --- ids, queries, routes ---------------------------------------------------------------------

UNKNOWN = {
    "operator_id": "op-" + "e" * 20,
    "station_id": "st-" + "e" * 20,
    "pile_id": "NO-SUCH-PILE",
    "tariff_id": "tf-" + "e" * 20,
    "discount_id": "dc-" + "e" * 20,
    "card_no": "NO-SUCH-CARD",
}
MALFORMED = {
    "operator_id": "op-XYZ",
    "station_id": "not-a-station",
    "pile_id": "bad%20pile!",
    "tariff_id": "tf-123",
    "discount_id": "DC-" + "e" * 20,
    "card_no": "x" * 21,
}


def _id_routes(ids: dict[str, str], a: Tenant) -> list[tuple[str, str, Any]]:
    op, st, pile = ids["operator_id"], ids["station_id"], ids["pile_id"]
    tf, dc, card = ids["tariff_id"], ids["discount_id"], ids["card_no"]
    return [
        ("GET", f"/operator/operators/{op}", None),
        ("PATCH", f"/operator/operators/{op}", {"name": "X"}),
        ("GET", f"/operator/operators/{op}/staff", None),
        (
            "POST",
            f"/operator/operators/{op}/staff",
            {"username": "some-one", "password": "Password-12345", "role": "maintenance"},
        ),
        ("GET", f"/operator/stations/{st}", None),
        ("PATCH", f"/operator/stations/{st}", {"name": "X"}),
        ("DELETE", f"/operator/stations/{st}", None),
        ("GET", f"/operator/piles/{pile}", None),
        ("PATCH", f"/operator/piles/{pile}", {"is_enabled": False}),
        ("DELETE", f"/operator/piles/{pile}", None),
        ("PUT", f"/operator/piles/{pile}/password", {"password": "another-password-1"}),
        ("GET", f"/operator/piles/{pile}/guns", None),
        ("PATCH", f"/operator/piles/{pile}/guns/1", {"name": "X"}),
        ("GET", f"/operator/tariffs/{tf}", None),
        ("PATCH", f"/operator/tariffs/{tf}", {"name": "X"}),
        ("DELETE", f"/operator/tariffs/{tf}", None),
        ("GET", f"/operator/discounts/{dc}", None),
        ("PATCH", f"/operator/discounts/{dc}", {"name": "X"}),
        ("DELETE", f"/operator/discounts/{dc}", None),
        ("GET", f"/operator/cards/{card}", None),
        (
            "POST",
            f"/operator/cards/{card}/top-ups",
            {"amount_fen": 1, "request_id": "unknown-0001"},
        ),
        ("POST", f"/operator/cards/{card}/freeze", None),
        ("POST", f"/operator/cards/{card}/unfreeze", None),
        ("POST", f"/operator/cards/{card}/unbind", None),
    ]


ID_ROUTE_COUNT = 24


@pytest.mark.parametrize("kind", ["unknown", "malformed"])
@pytest.mark.parametrize("index", range(ID_ROUTE_COUNT))
def test_ids_that_name_nothing_answer_404_when_used(world, kind, index):
    ids = UNKNOWN if kind == "unknown" else MALFORMED
    method, path, body = _id_routes(ids, world.a)[index]
    who = PLATFORM_ADMIN if "/operator/operators/" in path else world.a.admin
    answer = _refused_unchanged(lambda: call(method, path, who, body=body))
    assert answer.status == 404, (method, path, answer.body)
    assert answer.error["code"] == "not_found"


def test_ids_named_in_bodies_and_queries_answer_404_when_they_name_nothing(world):
    a = world.a
    unknown_station, unknown_tariff = UNKNOWN["station_id"], UNKNOWN["tariff_id"]
    requests = [
        ("POST", "/operator/stations", station_body(tariff_id=unknown_tariff), None),
        ("PATCH", f"/operator/stations/{a.station_id}", {"tariff_id": unknown_tariff}, None),
        ("POST", "/operator/piles", pile_body("CP-ref", unknown_station), None),
        ("POST", "/operator/discounts", discount_body([unknown_station]), None),
        ("GET", "/operator/piles", None, {"station_id": unknown_station}),
    ]
    for method, path, body, query in requests:
        answer = _refused_unchanged(partial(call, method, path, a.admin, body=body, query=query))
        assert answer.status == 404, (method, path, answer.body)
    malformed = _refused_unchanged(
        lambda: call("GET", "/operator/piles", a.admin, query={"station_id": "nope"})
    )
    assert malformed.status == 422 and "station_id" in _paths(malformed)


@pytest.mark.parametrize("gun_no", ["0", "21", "abc", "01", "-1"])
def test_gun_numbers_out_of_range_answer_404_when_patched(world, gun_no):
    path = f"/operator/piles/{world.a.pile_id}/guns/{gun_no}"
    answer = _refused_unchanged(lambda: call("PATCH", path, world.a.admin, body={"name": "X"}))
    assert answer.status == 404


LISTS = [
    "/operator/operators",
    f"/operator/operators/{'{op}'}/staff",
    "/operator/stations",
    "/operator/piles",
    "/operator/tariffs",
    "/operator/discounts",
    "/operator/cards",
]


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "abc"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"color": "red"}, "color"),
        ({"next_token": "not-a-token"}, "next_token"),
        ({"next_token": "W10"}, "next_token"),
    ],
)
def test_bad_query_strings_answer_422_when_listing(world, path, query, field):
    path = path.replace("{op}", world.a.operator_id)
    answer = _refused_unchanged(lambda: call("GET", path, world.a.admin, query=query))
    assert answer.status == 422, answer.body
    if field == "next_token":
        assert answer.error["details"]["field"] == "next_token"
    else:
        assert field in _paths(answer)


def test_platform_admin_must_name_an_operator_when_listing_its_data(world):
    for path in (
        "/operator/stations",
        "/operator/piles",
        "/operator/tariffs",
        "/operator/discounts",
        "/operator/cards",
    ):
        answer = _refused_unchanged(partial(call, "GET", path))
        assert answer.status == 422 and answer.error["details"]["field"] == "operator_id"


def test_tariff_version_that_is_no_number_answers_422_when_asked(world):
    path = f"/operator/tariffs/{world.a.tariff_id}"
    bad = _refused_unchanged(lambda: call("GET", path, world.a.admin, query={"version": "x"}))
    assert bad.status == 422
    missing = _refused_unchanged(lambda: call("GET", path, world.a.admin, query={"version": "9"}))
    assert missing.status == 404


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/operator/stations", "GET, POST"),
        ("POST", "/operator/piles/CP-a", "DELETE, GET, PATCH"),
        ("DELETE", "/operator/cards/CARD-a/top-ups", "POST"),
        ("GET", "/operator/auth/login", "POST"),
        ("POST", "/health", "GET"),
    ],
)
def test_wrong_method_answers_405_with_allow_when_the_path_exists(world, method, path, allowed):
    answer = _refused_unchanged(lambda: call(method, path, world.a.admin, body={}))
    assert answer.status == 405 and answer.headers["Allow"] == allowed


@pytest.mark.parametrize("path", ["/operator/nothing", "/operator/stations/x/y/z", "/"])
def test_unknown_route_answers_404_when_called(world, path):
    answer = _refused_unchanged(lambda: call("GET", path, world.a.admin))
    assert answer.status == 404 and answer.error["code"] == "not_found"


# --- domain rules ------------------------------------------------------------------------------


def _gap_periods() -> list[dict[str, Any]]:
    return tou_periods()[:-1]


def _overlapping_periods() -> list[dict[str, Any]]:
    periods = tou_periods()
    periods[1] = {**periods[1], "end": "11:00"}
    return periods


RULES: list[tuple[str, str, Callable[[Tenant], str], Callable[[Tenant], Any], str]] = [
    (
        "tariff gap",
        "POST",
        lambda a: "/operator/tariffs",
        lambda a: {"name": "T", "periods": _gap_periods()},
        "uncovered",
    ),
    (
        "tariff overlap",
        "POST",
        lambda a: "/operator/tariffs",
        lambda a: {"name": "T", "periods": _overlapping_periods()},
        "overlap",
    ),
    (
        "tariff patch gap",
        "PATCH",
        lambda a: f"/operator/tariffs/{a.tariff_id}",
        lambda a: {"periods": _gap_periods()},
        "uncovered",
    ),
    (
        "tariff bad clock",
        "POST",
        lambda a: "/operator/tariffs",
        lambda a: {"name": "T", "periods": [{**tou_periods()[0], "start": "25:00"}]},
        "periods.0.start",
    ),
    (
        "tariff bands fall",
        "POST",
        lambda a: "/operator/tariffs",
        lambda a: {
            "name": "T",
            "periods": tou_periods(),
            "ebike_power_bands": [
                {"max_power_w": 800, "fen_per_hour": 100},
                {"max_power_w": 300, "fen_per_hour": 50},
            ],
        },
        "rising",
    ),
    (
        "discount ends first",
        "POST",
        lambda a: "/operator/discounts",
        lambda a: discount_body([], ends_at="2026-10-01T00:00:00+08:00"),
        "after starts_at",
    ),
    (
        "discount naive time",
        "POST",
        lambda a: "/operator/discounts",
        lambda a: discount_body([], starts_at="2026-11-01T00:00:00"),
        "starts_at",
    ),
    (
        "discount kind amount",
        "POST",
        lambda a: "/operator/discounts",
        lambda a: discount_body([], kind="fixed_off_fen"),
        "amount_fen",
    ),
    (
        "discount unknown station",
        "POST",
        lambda a: "/operator/discounts",
        lambda a: discount_body(["st-" + "e" * 20]),
        "not found",
    ),
    (
        "car pile 9 guns",
        "POST",
        lambda a: "/operator/piles",
        lambda a: pile_body("CP-9", a.station_id, gun_count=9),
        "1..8",
    ),
    (
        "modbus car",
        "POST",
        lambda a: "/operator/piles",
        lambda a: pile_body(
            "CP-m",
            a.station_id,
            protocol="modbus",
            password=None,
            gateway_id="GW",
            modbus_address=1,
        ),
        "only e-bike",
    ),
    (
        "modbus without gateway",
        "POST",
        lambda a: "/operator/piles",
        lambda a: pile_body(
            "EB-x", a.station_id, kind="ebike", protocol="modbus", password=None, modbus_address=1
        ),
        "gateway_id",
    ),
    (
        "ocpp without password",
        "POST",
        lambda a: "/operator/piles",
        lambda a: pile_body("CP-np", a.station_id, password=None),
        "password",
    ),
    (
        "short pile password",
        "POST",
        lambda a: "/operator/piles",
        lambda a: pile_body("CP-sp", a.station_id, password="fifteen-chars-x"),
        "password",
    ),
    (
        "pile password with space",
        "PUT",
        lambda a: f"/operator/piles/{a.pile_id}/password",
        lambda a: {"password": "has a space in it!"},
        "password",
    ),
    (
        "bad pile id",
        "POST",
        lambda a: "/operator/piles",
        lambda a: pile_body("CP/slash", a.station_id),
        "pile_id",
    ),
    ("station lat", "POST", lambda a: "/operator/stations", lambda a: station_body(lat=91), "lat"),
    (
        "station share",
        "PATCH",
        lambda a: f"/operator/stations/{a.station_id}",
        lambda a: {"partner_share_bp": 10_001},
        "partner_share_bp",
    ),
    (
        "station null name",
        "PATCH",
        lambda a: f"/operator/stations/{a.station_id}",
        lambda a: {"name": None},
        "cannot be null",
    ),
    (
        "station blank name",
        "POST",
        lambda a: "/operator/stations",
        lambda a: station_body(name="   "),
        "name",
    ),
    (
        "top up zero",
        "POST",
        lambda a: f"/operator/cards/{a.card_no}/top-ups",
        lambda a: {"amount_fen": 0, "request_id": "zero-0001"},
        "amount_fen",
    ),
    (
        "top up too much",
        "POST",
        lambda a: f"/operator/cards/{a.card_no}/top-ups",
        lambda a: {"amount_fen": 5_000_001, "request_id": "much-0001"},
        "amount_fen",
    ),
    (
        "top up short request id",
        "POST",
        lambda a: f"/operator/cards/{a.card_no}/top-ups",
        lambda a: {"amount_fen": 1, "request_id": "short"},
        "request_id",
    ),
    (
        "card number too long",
        "POST",
        lambda a: "/operator/cards",
        lambda a: {"card_no": "C" * 21, "holder_name": "X", "phone": "13800000000"},
        "card_no",
    ),
    (
        "card phone",
        "POST",
        lambda a: "/operator/cards",
        lambda a: {"card_no": "C-1", "holder_name": "X", "phone": "call me"},
        "phone",
    ),
    (
        "card taken",
        "POST",
        lambda a: "/operator/cards",
        lambda a: {"card_no": a.card_no, "holder_name": "X", "phone": "13800000000"},
        "issued",
    ),
    (
        "staff role",
        "POST",
        lambda a: f"/operator/operators/{a.operator_id}/staff",
        lambda a: {"username": "boss", "password": "Password-12345", "role": "platform-admin"},
        "role",
    ),
    (
        "staff username",
        "POST",
        lambda a: f"/operator/operators/{a.operator_id}/staff",
        lambda a: {"username": "a b", "password": "Password-12345", "role": "maintenance"},
        "username",
    ),
    (
        "staff taken",
        "POST",
        lambda a: f"/operator/operators/{a.operator_id}/staff",
        lambda a: {"username": "tech-a", "password": "Password-12345", "role": "maintenance"},
        "taken",
    ),
    (
        "staff weak password",
        "POST",
        lambda a: f"/operator/operators/{a.operator_id}/staff",
        lambda a: {"username": "weak-one", "password": "short", "role": "maintenance"},
        "password",
    ),
    (
        "long name",
        "PATCH",
        lambda a: f"/operator/operators/{a.operator_id}",
        lambda a: {"name": "n" * 101},
        "name",
    ),
]


@pytest.mark.parametrize(
    ("name", "method", "path", "body", "hint"), RULES, ids=[rule[0] for rule in RULES]
)
def test_broken_rules_answer_4xx_with_a_clear_message_when_sent(
    world, name, method, path, body, hint
):
    answer = _refused_unchanged(
        lambda: call(method, path(world.a), world.a.admin, body=body(world.a))
    )
    text = json.dumps(answer.error)
    assert hint in text, (name, answer.body)
    assert answer.status in (404, 409, 422), answer.body
