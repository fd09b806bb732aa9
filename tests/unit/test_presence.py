"""Presence rules: connection expiry and what counts as an accepted connection."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from shared.domain.ocpp.versions import OcppVersion
from shared.domain.presence import Connection, expiry_epoch

CONNECTED = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
CONNECTION = Connection(
    connection_id="c1",
    pile_id="CP-1",
    version=OcppVersion.V16,
    operator_id="op-1",
    station_id=None,
    registration_status="Accepted",
    connected_at=CONNECTED,
    last_seen_at=CONNECTED,
    source_ip=None,
    expires_at=expiry_epoch(CONNECTED),
)


def test_connection_expires_an_hour_after_api_gateways_two_hour_cut() -> None:
    assert expiry_epoch(CONNECTED) == int(CONNECTED.timestamp()) + 3 * 3600


def test_only_an_accepted_registration_counts_as_accepted() -> None:
    assert CONNECTION.is_accepted
    assert not replace(CONNECTION, registration_status=None).is_accepted
    assert not replace(CONNECTION, registration_status="Pending").is_accepted
