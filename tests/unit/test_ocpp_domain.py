"""Pure OCPP rules: boot, authorization, status reports and faults, the handshake."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.ocpp.authorization import (
    Authorization,
    CardRecord,
    authorize_card,
    authorize_response,
    id_token_of,
)
from shared.domain.ocpp.availability import (
    fault_from,
    parse_pile_timestamp,
    status_report_from,
)
from shared.domain.ocpp.handshake import (
    UNMATCHABLE_PASSWORD_HASH,
    offered_subprotocols,
    parse_basic_auth,
    supported_offers,
)
from shared.domain.ocpp.provisioning import (
    HEARTBEAT_INTERVAL_S,
    RegistrationStatus,
    boot_info_from,
    decide_registration,
)
from shared.domain.ocpp.rpc_errors import OcppFault, RpcFault
from shared.domain.ocpp.versions import OcppVersion, version_of
from shared.domain.passwords import verify_password

NOW = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
V16, V201 = OcppVersion.V16, OcppVersion.V201


def test_heartbeat_interval_stays_under_api_gateways_idle_cut() -> None:
    assert 60 <= HEARTBEAT_INTERVAL_S < 600


def test_registration_is_accepted_only_when_registered_and_enabled() -> None:
    assert decide_registration(is_registered=True, is_enabled=True, now=NOW).status is (
        RegistrationStatus.ACCEPTED
    )
    for registered, enabled in ((True, False), (False, False)):
        decision = decide_registration(is_registered=registered, is_enabled=enabled, now=NOW)
        assert decision.status is RegistrationStatus.REJECTED
        assert decision.interval_s > HEARTBEAT_INTERVAL_S


def test_boot_info_falls_back_to_the_charge_box_serial_in_16() -> None:
    info = boot_info_from(
        V16,
        {"chargePointVendor": "A", "chargePointModel": "B", "chargeBoxSerialNumber": "BOX-1"},
        NOW,
    )
    assert (info.serial, info.iccid, info.booted_at) == ("BOX-1", None, NOW)


def test_boot_info_reads_the_modem_in_201() -> None:
    payload = {
        "reason": "PowerUp",
        "chargingStation": {"vendorName": "A", "model": "B", "modem": {"imsi": "4600"}},
    }
    info = boot_info_from(V201, payload, NOW)
    assert (info.vendor, info.model, info.imsi, info.iccid) == ("A", "B", "4600", None)


@pytest.mark.parametrize(
    ("card", "expected"),
    [
        (None, Authorization.UNKNOWN),
        (CardRecord("C", "op-b", "active"), Authorization.UNKNOWN),
        (CardRecord("C", "op-a", "active"), Authorization.ACCEPTED),
        (CardRecord("C", "op-a", "frozen"), Authorization.BLOCKED),
        (CardRecord("C", "op-a", "unbound"), Authorization.INVALID),
        (CardRecord("C", "op-a", "lost-in-space"), Authorization.INVALID),
    ],
)
def test_card_authorization_follows_status_and_operator(
    card: CardRecord | None, expected: Authorization
) -> None:
    assert authorize_card(card, "op-a") is expected


def test_unknown_card_is_invalid_in_16_and_unknown_in_201() -> None:
    assert authorize_response(V16, Authorization.UNKNOWN) == {"idTagInfo": {"status": "Invalid"}}
    assert authorize_response(V201, Authorization.UNKNOWN) == {"idTokenInfo": {"status": "Unknown"}}
    assert id_token_of(V201, {"idToken": {"idToken": "T", "type": "ISO14443"}}) == "T"


def test_status_report_maps_connectors_and_evses_to_gun_numbers() -> None:
    report16 = status_report_from(
        V16, {"connectorId": 0, "status": "Unavailable", "errorCode": "NoError"}, NOW
    )
    report201 = status_report_from(
        V201,
        {
            "timestamp": "2026-11-01T01:00:00Z",
            "connectorStatus": "Occupied",
            "evseId": 3,
            "connectorId": 1,
        },
        NOW,
    )
    assert (report16.gun_no, report16.is_pile_level, report16.reported_at) == (0, True, NOW)
    assert (report201.gun_no, report201.reported_at) == (3, NOW - timedelta(hours=1))
    assert not report16.is_fault
    assert not report201.is_fault


def test_pile_clock_far_ahead_is_replaced_by_receipt_time() -> None:
    assert parse_pile_timestamp("2027-01-01T00:00:00Z", NOW) == NOW
    assert parse_pile_timestamp("2026-11-01T02:04:00+00:00", NOW) == NOW + timedelta(minutes=4)
    assert parse_pile_timestamp("2026-11-01T10:00:00+08:00", NOW) == NOW


def test_impossible_timestamp_is_a_property_constraint_violation() -> None:
    with pytest.raises(OcppFault) as raised:
        parse_pile_timestamp("2026-02-30T00:00:00Z", NOW)
    assert raised.value.fault is RpcFault.PROPERTY_CONSTRAINT_VIOLATION


def test_fault_id_is_the_same_for_a_retransmitted_report() -> None:
    payload = {
        "connectorId": 1,
        "status": "Faulted",
        "errorCode": "GroundFailure",
        "timestamp": "2026-11-01T01:00:00Z",
    }
    first = status_report_from(V16, payload, NOW)
    again = status_report_from(V16, payload, NOW + timedelta(seconds=30))
    other = status_report_from(V16, {**payload, "connectorId": 2}, NOW)

    def fault_id(report: object) -> str:
        return fault_from(report, pile_id="P", operator_id="op", station_id=None).fault_id  # type: ignore[arg-type]

    assert first.is_fault
    assert fault_id(first) == fault_id(again) != fault_id(other)
    assert fault_id(first).startswith("ft-")


def test_basic_auth_is_parsed_only_when_well_formed() -> None:
    token = base64.b64encode(b"CP-1:pass:with:colons").decode()
    credentials = parse_basic_auth(f"basic {token}")
    assert credentials is not None
    assert (credentials.username, credentials.password) == ("CP-1", "pass:with:colons")
    assert "pass" not in repr(credentials)
    for header in (
        None,
        "",
        "Basic",
        "Basic ###",
        "Digest abc",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b":only-password").decode(),
        "Basic " + "A" * 600,
    ):
        assert parse_basic_auth(header) is None


def test_offered_subprotocols_keep_only_what_we_speak() -> None:
    offered = offered_subprotocols(" ocpp2.0.1 ,ocpp1.6,, ocpp2.1")
    assert offered == ["ocpp2.0.1", "ocpp1.6", "ocpp2.1"]
    assert supported_offers(offered) == [V16, V201]
    assert supported_offers(offered_subprotocols("OCPP1.6")) == []
    assert version_of("modbus") is None


@settings(max_examples=20, deadline=None)  # each example is a full PBKDF2 run
@given(st.text(min_size=1, max_size=40))
def test_no_password_matches_the_unmatchable_hash(password: str) -> None:
    assert not verify_password(password, UNMATCHABLE_PASSWORD_HASH)
