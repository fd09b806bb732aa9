"""Every operator-API endpoint through ``lambda_handler`` on moto: what each one answers and
writes when used as intended."""

from __future__ import annotations

import json
from typing import Any

import boto3

from shared.domain.passwords import verify_password
from tests.integration import operator_api_support as support
from tests.integration.operator_api_support import (
    EVENTS,
    PILE_PASSWORD,
    PLATFORM_ADMIN,
    call,
    claims,
    discount_body,
    invoke,
    pile_body,
    snapshot,
    station_body,
    tou_periods,
)

api = support.api
tenants = support.tenants


def _base_item(aws, pk: str, sk: str) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    raw = (
        boto3.client("dynamodb")
        .get_item(TableName=aws["BASE_DATA_TABLE"], Key={"pk": {"S": pk}, "sk": {"S": sk}})
        .get("Item")
    )
    assert raw is not None
    return {key: TypeDeserializer().deserialize(value) for key, value in raw.items()}


# --- system and auth --------------------------------------------------------------------------


def test_health_answers_ok_without_a_token_when_the_table_answers(api):
    answer = call("GET", "/health", who=None)
    assert (answer.status, answer.body) == (200, {"status": "ok"})


def test_health_answers_503_when_the_table_does_not_answer(api, aws):
    boto3.client("dynamodb").delete_table(TableName=aws["BASE_DATA_TABLE"])
    answer = call("GET", "/health", who=None)
    assert answer.status == 503 and answer.error["code"] == "unavailable"


def test_openapi_document_is_served_without_a_token_when_asked(api):
    answer = call("GET", "/openapi/operator.json", who=None)
    assert answer.status == 200
    assert answer.body["openapi"].startswith("3.")
    assert "/operator/piles/{pile_id}/guns/{gun_no}" in answer.body["paths"]


def test_login_returns_tokens_when_the_password_is_right(api):
    api.users["alice"] = {
        "password": "Right-Password-1",
        "role": "operator-admin",
        "operator_id": "x",
    }
    answer = call(
        "POST",
        "/operator/auth/login",
        who=None,
        body={"username": "alice", "password": "Right-Password-1"},
    )
    assert answer.status == 200
    assert set(answer.body) == {"id_token", "access_token", "refresh_token", "expires_in"}
    refreshed = call(
        "POST",
        "/operator/auth/refresh",
        who=None,
        body={"refresh_token": answer.body["refresh_token"]},
    )
    assert refreshed.status == 200 and refreshed.body["refresh_token"] is None


def test_login_answers_401_alike_when_the_user_is_unknown_or_the_password_wrong(api):
    api.users["alice"] = {
        "password": "Right-Password-1",
        "role": "operator-admin",
        "operator_id": "x",
    }
    wrong = call(
        "POST", "/operator/auth/login", who=None, body={"username": "alice", "password": "x"}
    )
    unknown = call(
        "POST", "/operator/auth/login", who=None, body={"username": "bob", "password": "x"}
    )
    assert wrong.status == unknown.status == 401
    assert wrong.body == unknown.body


def test_me_names_the_caller_when_signed_in(api):
    answer = call("GET", "/operator/me", claims("tech", "maintenance", "op-" + "1" * 20))
    assert answer.body == {
        "username": "tech",
        "role": "maintenance",
        "operator_id": "op-" + "1" * 20,
    }
    listed = call("GET", "/operator/me", {**PLATFORM_ADMIN, "cognito:groups": ["platform-admin"]})
    assert listed.body["role"] == "platform-admin" and listed.body["operator_id"] is None


def test_requests_without_claims_or_role_are_refused_when_routes_need_a_token(api):
    assert call("GET", "/operator/me", who=None).status == 401
    assert call("GET", "/operator/me", {**PLATFORM_ADMIN, "token_use": "access"}).status == 401
    assert call("GET", "/operator/me", claims("x", "drivers")).status == 403
    assert call("GET", "/operator/me", claims("x", "operator-admin")).status == 403


def test_sample_events_run_through_the_handler_when_replayed(api):
    login = json.loads((EVENTS / "login.json").read_text())
    api.users["demo-admin"] = {
        "password": "demo-admin-pass",
        "role": "operator-admin",
        "operator_id": "x",
    }
    assert invoke(login).status == 200
    created = invoke(json.loads((EVENTS / "create_operator.json").read_text()))
    assert created.status == 201 and created.body["name"] == "Demo Charging Co."
    missing = invoke(json.loads((EVENTS / "get_pile.json").read_text()))
    assert missing.status == 404


# --- operators and staff ------------------------------------------------------------------------


def test_operators_are_created_listed_changed_and_deleted_when_a_platform_admin_asks(api):
    made = call("POST", "/operator/operators", body={"name": "Op", "contact_phone": "13800000000"})
    assert made.status == 201
    operator_id = made.body["operator_id"]
    assert made.body["created_at"] == "2026-11-01T02:00:00.000Z"
    listed = call("GET", "/operator/operators", query={"limit": "10"})
    assert [op["operator_id"] for op in listed.body["items"]] == [operator_id]
    assert listed.body["next_token"] is None
    changed = call(
        "PATCH", f"/operator/operators/{operator_id}", body={"name": "Op 2", "contact_phone": None}
    )
    assert changed.status == 200 and changed.body["name"] == "Op 2"
    assert changed.body["contact_phone"] is None
    assert call("GET", f"/operator/operators/{operator_id}").body["name"] == "Op 2"
    assert call("DELETE", f"/operator/operators/{operator_id}").status == 204
    assert call("GET", f"/operator/operators/{operator_id}").status == 404


def test_operator_list_pages_with_next_token_when_there_are_more(api):
    ids = {
        call("POST", "/operator/operators", body={"name": f"Op {n}"}).body["operator_id"]
        for n in range(3)
    }
    first = call("GET", "/operator/operators", query={"limit": "2"})
    assert len(first.body["items"]) == 2 and first.body["next_token"]
    second = call(
        "GET", "/operator/operators", query={"limit": "2", "next_token": first.body["next_token"]}
    )
    seen = {op["operator_id"] for op in first.body["items"] + second.body["items"]}
    assert seen == ids


def test_operator_with_base_data_is_not_deleted_when_asked(tenants):
    a, _ = tenants
    before = snapshot()
    answer = call("DELETE", f"/operator/operators/{a.operator_id}")
    assert answer.status == 409
    assert snapshot() == before


def test_staff_logins_are_created_and_listed_when_an_admin_asks(tenants, api):
    a, _ = tenants
    made = call(
        "POST",
        f"/operator/operators/{a.operator_id}/staff",
        a.admin,
        body={"username": "deputy", "password": "Deputy-Password-1", "role": "operator-admin"},
    )
    assert made.status == 201 and made.body["created_by"] == "admin-a"
    assert api.users["deputy"]["operator_id"] == a.operator_id
    listed = call("GET", f"/operator/operators/{a.operator_id}/staff", a.maintenance)
    assert sorted(m["username"] for m in listed.body["items"]) == ["deputy", "tech-a"]
    taken = call(
        "POST",
        f"/operator/operators/{a.operator_id}/staff",
        a.admin,
        body={"username": "deputy", "password": "Deputy-Password-1", "role": "maintenance"},
    )
    assert taken.status == 409


# --- stations -----------------------------------------------------------------------------------


def test_station_is_stored_with_its_geohash_and_tariff_when_created(tenants, aws):
    a, _ = tenants
    station = call("GET", f"/operator/stations/{a.station_id}", a.maintenance)
    assert station.status == 200
    assert station.body["geohash"] == "wtw3s" and station.body["tariff_id"] == a.tariff_id
    item = _base_item(aws, f"STATION#{a.station_id}", "STATION")
    assert item["gsi1pk"] == f"OPERATOR#{a.operator_id}#STATIONS"
    assert item["gsi2pk"] == "GEO#wtw3s" and item["gsi2sk"] == f"STATION#{a.station_id}"
    assert item["pile_count"] == 1


def test_station_patch_moves_its_geohash_and_detaches_the_tariff_when_asked(tenants, aws):
    a, _ = tenants
    answer = call(
        "PATCH",
        f"/operator/stations/{a.station_id}",
        a.admin,
        body={"lat": 39.9087, "lng": 116.3975, "tariff_id": None, "partner_share_bp": 6000},
    )
    assert answer.status == 200
    assert answer.body["geohash"] == "wx4g0" and answer.body["tariff_id"] is None
    assert _base_item(aws, f"STATION#{a.station_id}", "STATION")["gsi2pk"] == "GEO#wx4g0"
    assert _base_item(aws, f"TARIFF#{a.tariff_id}", "TARIFF")["station_count"] == 0


def test_stations_are_listed_for_the_callers_operator_when_asked(tenants):
    a, _ = tenants
    extra = call("POST", "/operator/stations", a.admin, body=station_body(name="Second"))
    listed = call("GET", "/operator/stations", a.maintenance)
    assert {s["station_id"] for s in listed.body["items"]} == {
        a.station_id,
        extra.body["station_id"],
    }
    by_admin = call("GET", "/operator/stations", query={"operator_id": a.operator_id})
    assert len(by_admin.body["items"]) == 2


def test_station_with_piles_is_not_deleted_until_its_piles_are(tenants):
    a, _ = tenants
    refused = call("DELETE", f"/operator/stations/{a.station_id}", a.admin)
    assert refused.status == 409 and refused.error["details"]["pile_count"] == 1
    assert call("DELETE", f"/operator/piles/{a.pile_id}", a.admin).status == 204
    assert call("DELETE", f"/operator/stations/{a.station_id}", a.admin).status == 204
    assert call("GET", f"/operator/stations/{a.station_id}", a.admin).status == 404


# --- piles and guns -----------------------------------------------------------------------------


def test_pile_and_guns_are_written_together_with_a_hashed_password_when_created(tenants, aws):
    a, _ = tenants
    made = call(
        "POST",
        "/operator/piles",
        a.admin,
        body=pile_body(
            "EB-a-1",
            a.station_id,
            kind="ebike",
            protocol="modbus",
            gun_count=10,
            password=None,
            gateway_id="GW-a",
            modbus_address=5,
        ),
    )
    assert made.status == 201
    assert [g["name"] for g in made.body["guns"]][-1] == "Port 10"
    assert "password" not in made.body and made.body["has_password"] is False
    pile = _base_item(aws, f"PILE#{a.pile_id}", "PILE")
    assert verify_password(PILE_PASSWORD, pile["password_hash"])
    assert PILE_PASSWORD not in json.dumps(pile, default=str)
    assert pile["gsi1sk"] == f"STATION#{a.station_id}#PILE#{a.pile_id}"
    assert _base_item(aws, f"PILE#{a.pile_id}", "GUN#002")["is_enabled"] is True


def test_pile_id_taken_anywhere_answers_409_when_registered_again(tenants):
    a, b = tenants
    before = snapshot()
    answer = call("POST", "/operator/piles", b.admin, body=pile_body(a.pile_id, b.station_id))
    assert answer.status == 409
    assert snapshot() == before


def test_pile_views_show_presence_and_gun_status_written_by_the_connection_code(tenants, aws):
    a, _ = tenants
    client = boto3.client("dynamodb")
    client.update_item(
        TableName=aws["BASE_DATA_TABLE"],
        Key={"pk": {"S": f"PILE#{a.pile_id}"}, "sk": {"S": "PILE"}},
        UpdateExpression="SET is_online = :t, connection_id = :c, connected_at = :at, "
        "last_seen_at = :at, boot = :boot",
        ExpressionAttributeValues={
            ":t": {"BOOL": True},
            ":c": {"S": "conn-1"},
            ":at": {"S": "2026-11-01T01:00:00.000Z"},
            ":boot": {
                "M": {"vendor": {"S": "Acme"}, "model": {"S": "AC7"}, "iccid": {"S": "8986"}}
            },
        },
    )
    client.update_item(
        TableName=aws["BASE_DATA_TABLE"],
        Key={"pk": {"S": f"PILE#{a.pile_id}"}, "sk": {"S": "GUN#001"}},
        UpdateExpression="SET #s = :s, status_at = :at, error_code = :e",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":s": {"S": "Faulted"},
            ":at": {"S": "2026-11-01T01:30:00.000Z"},
            ":e": {"S": "GroundFailure"},
        },
    )
    pile = call("GET", f"/operator/piles/{a.pile_id}", a.maintenance).body
    assert pile["is_online"] is True and pile["connected_at"] == "2026-11-01T01:00:00.000Z"
    assert pile["boot"] == {
        "vendor": "Acme",
        "model": "AC7",
        "firmware": None,
        "iccid": "8986",
        "imsi": None,
    }
    guns = call("GET", f"/operator/piles/{a.pile_id}/guns", a.maintenance).body["items"]
    assert (guns[0]["status"], guns[0]["error_code"]) == ("Faulted", "GroundFailure")

    assert (
        call("PATCH", f"/operator/piles/{a.pile_id}", a.admin, body={"is_enabled": False}).status
        == 200
    )
    assert (
        call("PATCH", f"/operator/piles/{a.pile_id}/guns/1", a.admin, body={"name": "Left"}).status
        == 200
    )
    pile_item = _base_item(aws, f"PILE#{a.pile_id}", "PILE")
    gun_item = _base_item(aws, f"PILE#{a.pile_id}", "GUN#001")
    assert pile_item["connection_id"] == "conn-1" and pile_item["boot"]["vendor"] == "Acme"
    assert pile_item["is_enabled"] is False
    assert (gun_item["status"], gun_item["error_code"], gun_item["name"]) == (
        "Faulted",
        "GroundFailure",
        "Left",
    )


def test_piles_are_listed_by_station_when_asked(tenants):
    a, _ = tenants
    second = call("POST", "/operator/stations", a.admin, body=station_body(name="Second")).body
    call("POST", "/operator/piles", a.admin, body=pile_body("CP-a-2", second["station_id"]))
    by_station = call(
        "GET", "/operator/piles", a.maintenance, query={"station_id": second["station_id"]}
    )
    assert [p["pile_id"] for p in by_station.body["items"]] == ["CP-a-2"]
    everything = call("GET", "/operator/piles", a.maintenance)
    assert {p["pile_id"] for p in everything.body["items"]} == {a.pile_id, "CP-a-2"}


def test_pile_password_is_replaced_when_put(tenants, aws):
    a, _ = tenants
    answer = call(
        "PUT",
        f"/operator/piles/{a.pile_id}/password",
        a.admin,
        body={"password": "a-brand-new-pass-42"},
    )
    assert answer.status == 200
    stored = _base_item(aws, f"PILE#{a.pile_id}", "PILE")["password_hash"]
    assert verify_password("a-brand-new-pass-42", stored) and not verify_password(
        PILE_PASSWORD, stored
    )


def test_pile_and_its_guns_are_removed_together_when_deleted(tenants, aws):
    a, _ = tenants
    assert call("DELETE", f"/operator/piles/{a.pile_id}", a.admin).status == 204
    items = boto3.client("dynamodb").query(
        TableName=aws["BASE_DATA_TABLE"],
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": f"PILE#{a.pile_id}"}},
    )["Items"]
    assert items == []
    assert _base_item(aws, f"STATION#{a.station_id}", "STATION")["pile_count"] == 0


# --- tariffs and discounts ----------------------------------------------------------------------


def test_tariff_change_writes_a_new_version_and_keeps_the_old_when_patched(tenants, aws):
    a, _ = tenants
    periods = tou_periods()
    periods[2]["electricity_fen_per_kwh"] = 110
    answer = call("PATCH", f"/operator/tariffs/{a.tariff_id}", a.admin, body={"periods": periods})
    assert answer.status == 200 and answer.body["version"] == 2
    old = call("GET", f"/operator/tariffs/{a.tariff_id}", a.maintenance, query={"version": "1"})
    assert old.body["version"] == 1 and old.body["periods"][2]["electricity_fen_per_kwh"] == 95
    assert _base_item(aws, f"TARIFF#{a.tariff_id}", "VERSION#000002")["version"] == 2
    listed = call("GET", "/operator/tariffs", a.maintenance)
    assert [t["version"] for t in listed.body["items"]] == [2]


def test_tariff_used_by_a_station_is_not_deleted_when_asked(tenants):
    a, _ = tenants
    assert call("DELETE", f"/operator/tariffs/{a.tariff_id}", a.admin).status == 409
    call("PATCH", f"/operator/stations/{a.station_id}", a.admin, body={"tariff_id": None})
    assert call("DELETE", f"/operator/tariffs/{a.tariff_id}", a.admin).status == 204
    assert call("GET", f"/operator/tariffs/{a.tariff_id}", a.admin).status == 404
    assert (
        call("GET", f"/operator/tariffs/{a.tariff_id}", a.admin, query={"version": "1"}).status
        == 200
    )


def test_discounts_are_created_changed_listed_and_deleted_when_asked(tenants):
    a, _ = tenants
    made = call(
        "POST",
        "/operator/discounts",
        a.admin,
        body=discount_body([], kind="fixed_off_fen", percent_bp=None, amount_fen=500),
    )
    assert made.status == 201 and made.body["starts_at"] == "2026-10-31T16:00:00.000Z"
    discount_id = made.body["discount_id"]
    changed = call(
        "PATCH",
        f"/operator/discounts/{discount_id}",
        a.admin,
        body={"kind": "percent_off_service", "percent_bp": 1500, "amount_fen": None},
    )
    assert changed.status == 200 and changed.body["percent_bp"] == 1500
    listed = call("GET", "/operator/discounts", a.maintenance)
    assert {d["discount_id"] for d in listed.body["items"]} == {a.discount_id, discount_id}
    assert call("GET", f"/operator/discounts/{discount_id}", a.maintenance).status == 200
    assert call("DELETE", f"/operator/discounts/{discount_id}", a.admin).status == 204


# --- cards ----------------------------------------------------------------------------------


def test_card_reads_with_its_wallet_balance_when_topped_up(tenants):
    a, _ = tenants
    card = call("GET", f"/operator/cards/{a.card_no}", a.maintenance)
    assert card.status == 200
    assert (card.body["status"], card.body["balance_fen"]) == ("active", 10_000)
    listed = call("GET", "/operator/cards", a.maintenance)
    assert [c["card_no"] for c in listed.body["items"]] == [a.card_no]


def test_top_up_credits_once_when_the_request_id_repeats(tenants):
    a, _ = tenants
    body = {"amount_fen": 2_500, "request_id": "counter-2026-0001"}
    first = call("POST", f"/operator/cards/{a.card_no}/top-ups", a.admin, body=body)
    again = call("POST", f"/operator/cards/{a.card_no}/top-ups", a.admin, body=body)
    assert first.status == again.status == 201
    assert first.body == again.body and first.body["balance_fen"] == 12_500
    assert call("GET", f"/operator/cards/{a.card_no}", a.admin).body["balance_fen"] == 12_500
    other_amount = call(
        "POST", f"/operator/cards/{a.card_no}/top-ups", a.admin, body={**body, "amount_fen": 1}
    )
    assert other_amount.status == 409


def test_card_is_frozen_unfrozen_and_unbound_with_a_refund_when_asked(tenants):
    a, _ = tenants
    frozen = call("POST", f"/operator/cards/{a.card_no}/freeze", a.admin)
    assert frozen.status == 200 and frozen.body["status"] == "frozen"
    assert call("POST", f"/operator/cards/{a.card_no}/unfreeze", a.admin).body["status"] == "active"
    refused = call("POST", f"/operator/cards/{a.card_no}/unbind", a.admin)
    assert refused.status == 409 and refused.error["details"]["balance_fen"] == 10_000
    unbound = call(
        "POST", f"/operator/cards/{a.card_no}/unbind", a.admin, body={"refund_balance": True}
    )
    assert unbound.status == 200
    assert (unbound.body["status"], unbound.body["balance_fen"]) == ("unbound", 0)
    assert call("POST", f"/operator/cards/{a.card_no}/freeze", a.admin).status == 409


def test_maintenance_staff_get_403_when_writing_base_data(tenants):
    a, _ = tenants
    before = snapshot()
    writes = [
        ("POST", "/operator/stations", station_body()),
        ("PATCH", f"/operator/stations/{a.station_id}", {"name": "X"}),
        ("DELETE", f"/operator/stations/{a.station_id}", None),
        ("POST", "/operator/piles", pile_body("CP-new", a.station_id)),
        ("PATCH", f"/operator/piles/{a.pile_id}", {"is_enabled": False}),
        ("PUT", f"/operator/piles/{a.pile_id}/password", {"password": "another-password-1"}),
        ("PATCH", f"/operator/piles/{a.pile_id}/guns/1", {"name": "X"}),
        ("DELETE", f"/operator/piles/{a.pile_id}", None),
        ("POST", "/operator/tariffs", {"name": "T", "periods": tou_periods()}),
        ("PATCH", f"/operator/tariffs/{a.tariff_id}", {"name": "X"}),
        ("DELETE", f"/operator/tariffs/{a.tariff_id}", None),
        ("POST", "/operator/discounts", discount_body([])),
        ("PATCH", f"/operator/discounts/{a.discount_id}", {"name": "X"}),
        ("DELETE", f"/operator/discounts/{a.discount_id}", None),
        (
            "POST",
            "/operator/cards",
            {"card_no": "NEW-1", "holder_name": "X", "phone": "13800000000"},
        ),
        (
            "POST",
            f"/operator/cards/{a.card_no}/top-ups",
            {"amount_fen": 1, "request_id": "maint-0001"},
        ),
        ("POST", f"/operator/cards/{a.card_no}/freeze", None),
        ("POST", f"/operator/cards/{a.card_no}/unfreeze", None),
        ("POST", f"/operator/cards/{a.card_no}/unbind", {"refund_balance": True}),
        ("PATCH", f"/operator/operators/{a.operator_id}", {"name": "X"}),
        (
            "POST",
            f"/operator/operators/{a.operator_id}/staff",
            {"username": "x-user", "password": "Password-12345", "role": "maintenance"},
        ),
        ("POST", "/operator/operators", {"name": "X"}),
        ("DELETE", f"/operator/operators/{a.operator_id}", None),
    ]
    for method, path, body in writes:
        answer = call(method, path, a.maintenance, body=body)
        assert answer.status == 403, (method, path, answer.body)
        assert answer.error["code"] == "forbidden"
    assert snapshot() == before
