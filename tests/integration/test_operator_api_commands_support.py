"""A fleet for the command tests: operators A and B made through the operator API, their
piles connected and booted through ws_connect and ocpp_router on moto, and one fake
``@connections`` sender shared by the operator API, the router and housekeeping, so a
test sees every frame posted to a pile and can feed the pile's answer back."""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from functions.housekeeping import handler as housekeeping_handler
from functions.housekeeping import wiring as housekeeping_wiring
from functions.ocpp_router import wiring as router_wiring
from functions.operator_api import wiring as api_wiring
from functions.ws_connect import wiring as connect_wiring
from tests.conftest import FixedClock
from tests.integration.operator_api_support import (
    PILE_PASSWORD,
    Answer,
    Tenant,
    call,
    pile_body,
    seed_tenant,
)
from tests.integration.test_ocpp_router_support import (
    CallCounter,
    PileSide,
    basic,
    lambda_context,
)
from tests.support.aws import aws_with_tables
from tests.unit.base_data_fakes import FakeStaffDirectory
from tests.unit.ocpp_command_fakes import FakeSender


@dataclass
class Fleet:
    """Tenant A owns CP-a (1.6, online on ``a16``) and CP-a2 (2.0.1, online on ``a201``);
    tenant B owns CP-b (1.6, online on ``b16``)."""

    a: Tenant
    b: Tenant
    side: PileSide
    sender: FakeSender
    clock: Any

    pile16 = "CP-a"
    pile201 = "CP-a2"

    def command(
        self,
        method: str,
        path: str,
        *,
        pile: str | None = None,
        who: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Answer:
        target = pile or self.pile16
        return call(method, f"/operator/piles/{target}/{path}", who or self.a.admin, **kwargs)

    def posted(self) -> list[tuple[str, list[Any]]]:
        return [(connection_id, json.loads(text)) for connection_id, text in self.sender.sent]

    def answer(self, connection_id: str, frame: list[Any]) -> Any:
        """The pile sends ``frame`` (a CALLRESULT/CALLERROR or a CALL) through the router."""
        return self.side.send(connection_id, frame)

    def bring_online(self, pile_id: str, connection_id: str, version: str) -> None:
        connected = self.side.connect(
            pile_id, connection_id=connection_id, authorization=basic(pile_id, PILE_PASSWORD)
        )
        assert connected["statusCode"] == 200, connected
        assert self.side.boot(connection_id, version)[2]["status"] == "Accepted"

    def housekeeping(self, job: str = "minute") -> dict[str, Any]:
        result: dict[str, Any] = housekeeping_handler.lambda_handler(
            {"job": job, "source": "aws.events"}, lambda_context()
        )
        return result


def _online_fleet(
    a: Tenant, b: Tenant, side: PileSide, clock: Any, patch: pytest.MonkeyPatch
) -> Fleet:
    """Add A's 2.0.1 pile, route every sender to one fake, connect and boot the piles."""
    made = call(
        "POST",
        "/operator/piles",
        a.admin,
        body=pile_body(Fleet.pile201, a.station_id, protocol="ocpp2.0.1", serial="SN-a2"),
    )
    assert made.status == 201, made.body
    sender = FakeSender()
    shared_sender = functools.cache(lambda: sender)  # keeps ``cache_clear`` for ``reset()``
    # One clock and one sender for every function: the API, the router, housekeeping.
    patch.setattr(api_wiring, "clock", clock)
    patch.setattr(api_wiring, "websocket_sender", shared_sender)
    patch.setattr(router_wiring, "websocket", shared_sender)
    patch.setattr(housekeeping_wiring, "clock", clock)
    patch.setattr(housekeeping_wiring, "websocket", shared_sender)
    # Commands use the API's DynamoDB client: rebuild it on the session whose calls count.
    api_wiring._dynamodb_client.cache_clear()
    api_wiring.command_ports.cache_clear()
    housekeeping_wiring.reset()
    fleet = Fleet(a=a, b=b, side=side, sender=sender, clock=clock)
    fleet.bring_online(Fleet.pile16, "a16", "ocpp1.6")
    fleet.bring_online(Fleet.pile201, "a201", "ocpp2.0.1")
    fleet.bring_online(b.pile_id, "b16", "ocpp1.6")
    return fleet


@pytest.fixture
def fleet(
    tenants: tuple[Tenant, Tenant],
    pile_side: PileSide,
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Fleet]:
    """A fresh fleet per test (for tests that change things)."""
    a, b = tenants
    with pytest.MonkeyPatch.context() as patch:
        yield _online_fleet(a, b, pile_side, clock, patch)
        housekeeping_wiring.reset()
    api_wiring.command_ports.cache_clear()


@contextmanager
def seeded_fleet() -> Iterator[Fleet]:
    """One fleet for a module whose every request is refused (each test checks that the
    tables and the sender are unchanged, so the fleet is the same for the next test)."""
    clock = FixedClock()
    ids = itertools.count(1)
    directory = FakeStaffDirectory()
    with aws_with_tables() as tables, pytest.MonkeyPatch.context() as patch:
        patch.setenv(
            "WS_MANAGEMENT_ENDPOINT", "https://abc123.execute-api.us-east-1.amazonaws.com/prod"
        )
        api_wiring.reset()
        connect_wiring.reset()
        router_wiring.reset()
        patch.setattr(api_wiring, "clock", clock)
        patch.setattr(api_wiring, "make_id", lambda prefix: f"{prefix}-{next(ids):020x}")
        patch.setattr(api_wiring, "staff_directory", lambda: directory)
        patch.setattr(connect_wiring, "clock", clock)
        patch.setattr(router_wiring, "clock", clock)
        counter = CallCounter()
        boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register("before-call.dynamodb.*", counter)
        try:
            a, b = seed_tenant("Operator A", "a"), seed_tenant("Operator B", "b")
            yield _online_fleet(a, b, PileSide(tables, counter), clock, patch)
        finally:
            patch.undo()
            for reset in (api_wiring.reset, connect_wiring.reset, router_wiring.reset):
                reset()
            housekeeping_wiring.reset()
