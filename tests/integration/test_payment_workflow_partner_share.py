"""A paid session on moto's Step Functions (the real ASL and payments handler) whose station
names a partner receiver: the sandbox provider gets one profit-sharing order with the
partner's part, the order read back from the LedgerTable records it; without a receiver the
funds are only unfrozen. The station is read from the base-data table as stored."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from shared.adapters.dynamodb.base_data import DynamoBaseDataRepository
from shared.domain.payment_orders import OrderState, money_problems
from shared.domain.payments import PaymentMethod, ShareReceiver
from shared.domain.stations import WechatReceiver, WechatReceiverType
from shared.domain.tenancy import Principal, Role
from shared.services.payment_workflow import start_paid_session
from tests.integration.test_payment_workflow_support import payment_world
from tests.unit.test_payment_workflow_fakes import OPERATOR, STATION, a_request

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


@pytest.mark.parametrize(
    ("receiver", "shared_fen"),
    [(WechatReceiver(WechatReceiverType.PERSONAL_OPENID, OPENID), 150), (None, 0)],
)
def test_paid_session_on_moto_shares_the_partner_part_with_the_stations_receiver(
    receiver: WechatReceiver | None, shared_fen: int
) -> None:
    with payment_world() as world:
        repo = DynamoBaseDataRepository(os.environ["BASE_DATA_TABLE"], world.dynamodb)
        root = Principal(username="root", role=Role.PLATFORM_ADMIN, operator_id=None)
        station = repo.get_station(root, STATION)
        repo.update_station(root, replace(station, partner_wechat_receiver=receiver), station)

        order_no = "PO2611020200000201"
        start_paid_session(world.ports, a_request(order_no=order_no))
        execution = world.execution_arn(world.machine_arn, order_no)
        world.wait_for_pay_token(order_no)
        assert world.notify(order_no, "txn-201", 400) == [200]
        world.end_session(order_no, 3000)
        ended = world.wait_for_end(execution)

        assert ended["status"] == "SUCCEEDED"
        order = world.order(order_no)  # read back from the LedgerTable
        assert order.state is OrderState.COMPLETED
        assert order.partner_account == (None if receiver is None else receiver.account)
        assert (order.partner_fen, order.partner_shared_fen) == (150, shared_fen)
        assert money_problems(order) == [] and world.ledger_problems() == []
        shares = world.providers[PaymentMethod.SANDBOX].shares
        share = shares[f"{order_no}-S1"]
        expected = (
            ()
            if receiver is None
            else (
                ShareReceiver(
                    account=receiver.account,
                    amount_fen=150,
                    description=f"site partner share {order_no}",
                ),
            )
        )
        assert share.receivers == expected and share.unfreeze_rest is True
        accounts = world.accounts()
        # The ledger credits the partner's part, and the provider's payout of it (when a
        # receiver got it) leaves only what the operator still owes (docs/payment-workflow.md).
        assert accounts[f"operator:{OPERATOR}:partner:{STATION}"]["balance"] == 150 - shared_fen
