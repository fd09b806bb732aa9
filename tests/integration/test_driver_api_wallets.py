"""GET /driver/wallets on moto through the handler: every wallet of the driver (one per
operator, from the ledger's per-driver index) with the operator's name and amounts; another
driver's wallets are never listed, no token is 401, and nothing changes."""

from __future__ import annotations

from functions.driver_api import wiring
from shared.domain.ledger import driver_wallet_id
from shared.services import wallets
from tests.integration.test_driver_api_support import (
    DriverWorld,
    dcall,
    shared_world,
    sign_in,
    snapshot,
    world,
)

__all__ = ["shared_world", "world"]


def fund(world: DriverWorld, operator_id: str, user_id: str, amount_fen: int) -> None:
    account_id = driver_wallet_id(operator_id, user_id)
    wallets.open_wallet(
        wiring.ledger(),
        account_id=account_id,
        operator_id=operator_id,
        owner=user_id,
        clock=world.clock,
    )
    wallets.top_up_wallet(
        wiring.ledger(),
        account_id=account_id,
        operator_id=operator_id,
        amount_fen=amount_fen,
        method="cash",
        reference=f"test-{operator_id}-{user_id}",
        actor="test",
        clock=world.clock,
    )


def test_the_driver_lists_every_wallet_of_theirs_and_only_theirs(world: DriverWorld) -> None:
    token = sign_in("many-wallets")
    other = sign_in("other-wallets")
    user_id = dcall("GET", "/driver/me", token).body["user_id"]
    other_id = dcall("GET", "/driver/me", other).body["user_id"]
    empty = dcall("GET", "/driver/wallets", token)
    fund(world, world.a.operator_id, user_id, 1_000)
    fund(world, world.b.operator_id, user_id, 250)
    fund(world, world.a.operator_id, other_id, 777)
    before = snapshot()

    mine = dcall("GET", "/driver/wallets", token)
    theirs = dcall("GET", "/driver/wallets", other)
    anonymous = dcall("GET", "/driver/wallets")

    assert empty.status == 200 and empty.body == {"items": []}
    assert mine.status == 200, mine.body
    by_operator = {w["operator_id"]: w for w in mine.body["items"]}
    assert set(by_operator) == {world.a.operator_id, world.b.operator_id}
    assert by_operator[world.a.operator_id]["balance_fen"] == 1_000
    assert by_operator[world.b.operator_id]["available_fen"] == 250
    assert all(w["operator_name"] for w in mine.body["items"])
    assert [(w["operator_id"], w["balance_fen"]) for w in theirs.body["items"]] == [
        (world.a.operator_id, 777)
    ]
    assert anonymous.status == 401
    assert snapshot() == before
