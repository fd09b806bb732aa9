"""Every pile-command endpoint refuses bad input, strangers and other operators' piles
with a 4xx, posts nothing to any pile and changes no table (scans before and after)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.integration.operator_api_support import Answer, call, claims
from tests.integration.test_operator_api_commands_support import Fleet, seeded_fleet


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    with seeded_fleet() as seeded:
        yield seeded


@dataclass(frozen=True)
class Endpoint:
    """A command endpoint and a request it accepts for A's 1.6 pile."""

    name: str
    method: str
    path: str
    body: dict[str, Any] | None = None
    query: dict[str, str] | None = None


PROFILE = {
    "profile_id": 3,
    "stack_level": 0,
    "purpose": "tx_default",
    "kind": "absolute",
    "schedule": {"rate_unit": "A", "periods": [{"start_s": 0, "limit": 16}]},
}
ENDPOINTS = [
    Endpoint("remote-start", "POST", "remote-start", {"gun_no": 1, "id_tag": "CARD-a"}),
    Endpoint("remote-stop", "POST", "remote-stop", {"ocpp_transaction_id": "12"}),
    Endpoint("reset", "POST", "reset", {"type": "soft"}),
    Endpoint("unlock", "POST", "unlock", {"gun_no": 1}),
    Endpoint("availability", "POST", "availability", {"operative": True}),
    Endpoint("get-configuration", "GET", "configuration", query={"keys": "HeartbeatInterval"}),
    Endpoint("set-configuration", "PUT", "configuration", {"key": "K", "value": "v"}),
    Endpoint("set-profile", "PUT", "charging-profiles", {"gun_no": 1, "profile": PROFILE}),
    Endpoint("clear-profiles", "DELETE", "charging-profiles", query={"profile_id": "3"}),
    Endpoint("composite-schedule", "POST", "composite-schedule", {"gun_no": 1, "duration_s": 60}),
    Endpoint(
        "reserve",
        "POST",
        "reservations",
        {"id_tag": "CARD-a", "expires_at": "2026-11-01T03:00:00Z"},
    ),
    Endpoint("cancel-reservation", "DELETE", "reservations/9"),
    Endpoint(
        "firmware",
        "POST",
        "firmware",
        {"location": "https://fw.example.com/a.bin", "retrieve_at": "2026-11-01T03:00:00Z"},
    ),
    Endpoint("diagnostics", "POST", "diagnostics", {"location": "https://logs.example.com/"}),
    Endpoint("local-list", "POST", "local-list", {"version": 1, "update": "full"}),
    Endpoint("local-list-version", "GET", "local-list/version"),
    Endpoint("clear-cache", "DELETE", "cache"),
    Endpoint("data-transfer", "POST", "data-transfer", {"vendor_id": "com.acme"}),
    Endpoint("trigger", "POST", "trigger", {"message": "Heartbeat"}),
    Endpoint("list-commands", "GET", "commands"),
    Endpoint("get-command", "GET", "commands/261101020000000-00000000000000000001"),
    Endpoint("events", "GET", "events"),
    Endpoint("maintenance", "GET", "maintenance"),
]
ENDPOINT_IDS = [endpoint.name for endpoint in ENDPOINTS]


def send(
    fleet: Fleet,
    endpoint: Endpoint,
    *,
    pile: str | None = None,
    who: dict[str, Any] | None = None,
    **overrides: Any,
) -> Answer:
    kwargs: dict[str, Any] = {"body": endpoint.body, "query": endpoint.query, **overrides}
    path = f"/operator/piles/{pile or fleet.pile16}/{endpoint.path}"
    return call(endpoint.method, path, who if who is not None else fleet.a.admin, **kwargs)


def refused(fleet: Fleet, answer_of: Any, status: int) -> Answer:
    """Run the request; it must answer ``status`` and leave tables and piles untouched."""
    before = fleet.side.snapshot()
    posted = len(fleet.sender.sent)
    answer: Answer = answer_of()
    assert answer.status == status, answer.body
    assert set(answer.body) == {"error"} and answer.error["message"]
    assert fleet.side.snapshot() == before
    assert len(fleet.sender.sent) == posted
    return answer


# -- tenancy and who may ask


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
@pytest.mark.parametrize("role", ["admin", "maintenance"])
def test_another_operators_pile_is_404_for_every_endpoint(
    fleet: Fleet, endpoint: Endpoint, role: str
) -> None:
    stranger = fleet.b.admin if role == "admin" else fleet.b.maintenance

    answer = refused(fleet, lambda: send(fleet, endpoint, who=stranger), 404)

    assert fleet.pile16 in answer.error["message"] or answer.error["code"] == "not_found"


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
def test_unknown_or_malformed_pile_is_404_for_every_endpoint(
    fleet: Fleet, endpoint: Endpoint
) -> None:
    refused(fleet, lambda: send(fleet, endpoint, pile="CP-nobody"), 404)
    refused(fleet, lambda: send(fleet, endpoint, pile="bad%20id!"), 404)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
def test_no_token_or_no_staff_role_is_refused_for_every_endpoint(
    fleet: Fleet, endpoint: Endpoint
) -> None:
    path = f"/operator/piles/{fleet.pile16}/{endpoint.path}"
    refused(fleet, lambda: call(endpoint.method, path, None, body=endpoint.body), 401)
    driver = claims("someone", "drivers", fleet.a.operator_id)
    refused(fleet, lambda: call(endpoint.method, path, driver, body=endpoint.body), 403)


# -- bad bodies and queries

BODY_ENDPOINTS = [endpoint for endpoint in ENDPOINTS if endpoint.body is not None]


@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS, ids=[e.name for e in BODY_ENDPOINTS])
def test_body_that_is_not_json_is_400(fleet: Fleet, endpoint: Endpoint) -> None:
    refused(fleet, lambda: send(fleet, endpoint, body=None, raw_body="{not json"), 400)
    refused(fleet, lambda: send(fleet, endpoint, body=None, raw_body=""), 400)


@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS, ids=[e.name for e in BODY_ENDPOINTS])
def test_unknown_field_is_422(fleet: Fleet, endpoint: Endpoint) -> None:
    body = {**(endpoint.body or {}), "connectorId": 1}

    answer = refused(fleet, lambda: send(fleet, endpoint, body=body), 422)

    assert answer.error["details"]["errors"][0]["path"] == "connectorId"


# endpoint name -> (bad body, the field named in the answer)
BAD_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("remote-start", {"gun_no": "1", "id_tag": "CARD-a"}, "gun_no"),
    ("remote-start", {"gun_no": 21, "id_tag": "CARD-a"}, "gun_no"),
    ("remote-start", {"gun_no": 1, "id_tag": "CARD-tag-of-21-chars!"}, "id_tag"),
    ("remote-start", {"gun_no": 1, "id_tag": "has space"}, "id_tag"),
    ("remote-start", {"gun_no": 1}, "id_tag"),
    (
        "remote-start",
        {"gun_no": 1, "id_tag": "CARD-a", "charging_profile": PROFILE},
        "charging_profile.purpose",
    ),
    ("remote-stop", {}, "body"),
    ("remote-stop", {"session_id": "se-1", "ocpp_transaction_id": "12"}, "body"),
    ("remote-stop", {"ocpp_transaction_id": "not-a-number"}, "ocpp_transaction_id"),
    ("reset", {"type": "Soft"}, "type"),
    ("reset", {}, "type"),
    ("unlock", {"gun_no": 0}, "gun_no"),
    ("unlock", {"gun_no": True}, "gun_no"),
    ("availability", {"operative": "yes"}, "operative"),
    ("availability", {"gun_no": 1}, "operative"),
    ("set-configuration", {"key": "K", "value": "v" * 501}, "value"),
    ("set-configuration", {"key": "", "value": "v"}, "key"),
    ("set-profile", {"gun_no": 0, "profile": PROFILE | {"purpose": "tx"}}, "gun_no"),
    (
        "set-profile",
        {"gun_no": 2, "profile": PROFILE | {"purpose": "charging_station_max"}},
        "gun_no",
    ),
    (
        "set-profile",
        {"gun_no": 1, "profile": PROFILE | {"kind": "recurring"}},
        "profile.recurrency",
    ),
    (
        "set-profile",
        {
            "gun_no": 1,
            "profile": PROFILE
            | {"schedule": {"rate_unit": "A", "periods": [{"start_s": 5, "limit": 1}]}},
        },
        "schedule.periods",
    ),
    (
        "set-profile",
        {"gun_no": 1, "profile": PROFILE | {"schedule": {"rate_unit": "kW", "periods": []}}},
        "profile.schedule.rate_unit",
    ),
    ("composite-schedule", {"gun_no": 1, "duration_s": 0}, "duration_s"),
    ("reserve", {"id_tag": "CARD-a", "expires_at": "2026-11-01T03:00:00"}, "expires_at"),
    ("reserve", {"id_tag": "CARD-a", "expires_at": "tomorrow"}, "expires_at"),
    (
        "firmware",
        {"location": "file:///etc/passwd", "retrieve_at": "2026-11-01T03:00:00Z"},
        "location",
    ),
    (
        "firmware",
        {
            "location": "https://fw.example.com/a.bin",
            "retrieve_at": "2026-11-01T03:00:00Z",
            "install_at": "2026-11-01T04:00:00Z",
        },
        "install_at",
    ),
    ("diagnostics", {"location": "https://logs.example.com/", "retries": -1}, "retries"),
    ("local-list", {"version": 0, "update": "full"}, "version"),
    (
        "local-list",
        {"version": 1, "update": "full", "entries": [{"id_tag": "C"}]},
        "entries.0.status",
    ),
    ("local-list", {"version": 1, "update": "all"}, "update"),
    ("data-transfer", {"vendor_id": ""}, "vendor_id"),
    ("data-transfer", {"vendor_id": "v", "message_id": "m" * 51}, "message_id"),
    ("trigger", {"message": "Reset"}, "message"),
    ("trigger", {"message": "StatusNotification", "gun_no": 30}, "gun_no"),
]


@pytest.mark.parametrize(
    ("name", "body", "field"),
    BAD_BODIES,
    ids=[f"{name}-{index}" for index, (name, _, _) in enumerate(BAD_BODIES)],
)
def test_body_breaking_a_rule_is_422_naming_the_field(
    fleet: Fleet, name: str, body: dict[str, Any], field: str
) -> None:
    endpoint = next(endpoint for endpoint in ENDPOINTS if endpoint.name == name)

    answer = refused(fleet, lambda: send(fleet, endpoint, body=body), 422)

    details = answer.error["details"]
    named = {error["path"] for error in details.get("errors", [])} | {details.get("field")}
    assert field in named, answer.error


@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("get-configuration", {"keys": "a,,b"}),
        ("get-configuration", {"key": "HeartbeatInterval"}),
        ("get-configuration", {"keys": "K" * 51}),
        ("clear-profiles", {"profile_id": "x"}),
        ("clear-profiles", {"gun_no": "21"}),
        ("clear-profiles", {"purpose": "max"}),
        ("list-commands", {"limit": "0"}),
        ("list-commands", {"next_token": "bm90LWEtdG9rZW4"}),
        ("events", {"next_token": "!!!"}),
    ],
)
def test_bad_query_is_422(fleet: Fleet, name: str, query: dict[str, str]) -> None:
    endpoint = next(endpoint for endpoint in ENDPOINTS if endpoint.name == name)

    refused(fleet, lambda: send(fleet, endpoint, query=query), 422)


@pytest.mark.parametrize("reservation_id", ["0", "abc", "-4", "12345678901"])
def test_malformed_reservation_id_is_404(fleet: Fleet, reservation_id: str) -> None:
    refused(
        fleet,
        lambda: call(
            "DELETE",
            f"/operator/piles/{fleet.pile16}/reservations/{reservation_id}",
            fleet.a.admin,
        ),
        404,
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [("PATCH", "reset"), ("GET", "reset"), ("POST", "configuration"), ("PUT", "cache")],
)
def test_wrong_method_is_405(fleet: Fleet, method: str, path: str) -> None:
    answer = refused(
        fleet,
        lambda: call(method, f"/operator/piles/{fleet.pile16}/{path}", fleet.a.admin, body={}),
        405,
    )

    assert answer.headers["Allow"]


def test_201_rules_are_checked_against_the_201_pile(fleet: Fleet) -> None:
    configuration = next(e for e in ENDPOINTS if e.name == "get-configuration")
    set_configuration = next(e for e in ENDPOINTS if e.name == "set-configuration")

    refused(fleet, lambda: send(fleet, configuration, pile=fleet.pile201), 422)
    refused(
        fleet,
        lambda: send(fleet, configuration, pile=fleet.pile201, query=None),
        422,
    )
    refused(fleet, lambda: send(fleet, set_configuration, pile=fleet.pile201), 422)
