"""Harness of the paid-session acceptance (issue 5) on the local stack.

:class:`PaidSite` is an operator with a flat tariff (1.00 yuan per kWh: 60 fen electricity
+ 40 fen service, so 10 Wh cost 1 fen) and a station whose site partner takes
``PARTNER_SHARE_BP``, made through the operator HTTP API. :class:`Payments` reaches the
stack's embedded AWS the way the functions do: it starts a paid session exactly as the
driver API will (``shared.services.payment_workflow.start_paid_session`` with the deployed
state machine as the starter, the template's tables as the order store, ledger and base
data), waits for the Step Functions execution, reads the order, the ledger and the sandbox
provider's books. :class:`Charger` drives a real OCPP pile (``conformance_support.Pile``)
through a remote start, meter values, the platform's remote stop and the stop message, in
1.6 or 2.0.1.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import boto3
import requests
from boto3.dynamodb.conditions import Key
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from shared.adapters.dynamodb.base_data import DynamoBaseDataRepository
from shared.adapters.dynamodb.ledger import DynamoLedgerRepository
from shared.adapters.dynamodb.payment_orders import DynamoPaymentBaseData, DynamoPaymentOrders
from shared.adapters.stepfunctions import StepFunctionsResumer, StepFunctionsStarter
from shared.domain.clock import local_day, system_clock
from shared.domain.ledger import (
    clearing_account_id,
    driver_wallet_id,
    partner_account_id,
    platform_account_id,
    revenue_account_id,
)
from shared.domain.payment_orders import OrderState, PaymentOrder, money_problems, new_order_no
from shared.domain.payments import PaymentMethod, PaymentProvider
from shared.services.payment_workflow import (
    ChargeFacts,
    PaidSessionRequest,
    PaymentPorts,
    start_paid_session,
)
from shared.services.wallets import open_wallet
from tests.e2e.conformance_support import (
    PILE_PASSWORD,
    V16,
    OperatorApi,
    Pile,
    unique,
    wire_now,
)
from tests.e2e.conftest import RunningStack

T = TypeVar("T")
TIMEOUT_S = 30.0
PARTNER_SHARE_BP = 3333  # the partner's part is rounded down: 300 -> 99, 400 -> 133
FLAT_PERIOD = {
    "kind": "flat",
    "start": "00:00",
    "end": "24:00",
    "electricity_fen_per_kwh": 60,
    "service_fen_per_kwh": 40,
}
BOOT16 = call16.BootNotification(charge_point_vendor="Acceptance", charge_point_model="AC-22kW")
BOOT201 = call201.BootNotification(
    charging_station={"model": "AC-22kW", "vendor_name": "Acceptance"}, reason="PowerUp"
)


def poll(what: str, read: Callable[[], T], ready: Callable[[T], bool], timeout_s: float) -> T:
    """``read()`` until ``ready(value)``; the value, or a failure naming ``what`` and the last
    value seen."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if ready(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout_s} s; last: {value!r}")
        time.sleep(0.2)


def recent_days() -> tuple[str, str]:
    """Yesterday and today, Asia/Shanghai days (``YYYY-MM-DD``)."""
    today = local_day(datetime.now(UTC))
    return (today - timedelta(days=1)).isoformat(), today.isoformat()


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, dict):
        return {name: _plain(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


# -- the operator's side: a site with a tariff and a partner ----------------------------------


@dataclass
class PaidSite:
    """An operator with one station (flat tariff, partner share) and its piles."""

    api: OperatorApi
    operator_id: str
    station_id: str
    tariff_id: str

    @classmethod
    def create(
        cls, api: OperatorApi, name: str, periods: list[dict[str, Any]] | None = None
    ) -> PaidSite:
        """A new operator, its tariff (``periods``, default flat 1 yuan/kWh) and station."""
        operator = api.ok("POST", "/operator/operators", {"name": unique(name)})
        operator_id = operator["operator_id"]
        tariff = api.ok(
            "POST",
            "/operator/tariffs",
            {
                "operator_id": operator_id,
                "name": "Acceptance tariff",
                "periods": periods or [FLAT_PERIOD],
            },
        )
        station = api.ok(
            "POST",
            "/operator/stations",
            {
                "operator_id": operator_id,
                "name": f"{name} station",
                "address": "5 Acceptance Road",
                "lat": 31.23,
                "lng": 121.47,
                "transformer_capacity_kva": 630,
                "partner_share_bp": PARTNER_SHARE_BP,
                "partner_name": "Property company",
                "tariff_id": tariff["tariff_id"],
            },
        )
        return cls(api, operator_id, station["station_id"], tariff["tariff_id"])

    def new_pile(self, protocol: str) -> str:
        pile_id = unique("PAY16" if protocol == V16 else "PAY201")
        self.api.ok(
            "POST",
            "/operator/piles",
            {
                "pile_id": pile_id,
                "station_id": self.station_id,
                "serial": f"SN-{pile_id}",
                "kind": "car",
                "protocol": protocol,
                "model": "AC-22kW",
                "rated_power_w": 22_000,
                "gun_count": 2,
                "password": PILE_PASSWORD,
                "is_enabled": True,
            },
        )
        return pile_id

    def top_up_driver(self, user_id: str, amount_fen: int) -> dict[str, Any]:
        """The operator credits the driver's wallet at this operator
        (``POST /operator/drivers/{id}/top-ups?operator_id=``)."""
        wallet: dict[str, Any] = self.api.ok(
            "POST",
            # The platform admin names the operator: a driver has one wallet per operator.
            f"/operator/drivers/{user_id}/top-ups?operator_id={self.operator_id}",
            {
                "amount_fen": amount_fen,
                "request_id": unique("topup"),
                "reason": "acceptance: wallet payment",
            },
        )
        return wallet

    def driver_wallet(self, user_id: str) -> dict[str, Any]:
        """The driver's wallet at this operator (``GET /operator/drivers/{id}/wallet``)."""
        wallet: dict[str, Any] = self.api.ok(
            "GET", f"/operator/drivers/{user_id}/wallet?operator_id={self.operator_id}"
        )
        return wallet

    def transactions(self) -> list[dict[str, Any]]:
        """The operator's transaction list of yesterday and today (Asia/Shanghai: a session
        may cross local midnight), all pages."""
        yesterday, today = recent_days()
        rows: list[dict[str, Any]] = []
        token = ""
        while True:
            page = self.api.ok(
                "GET",
                f"/operator/transactions?operator_id={self.operator_id}"
                f"&from={yesterday}&to={today}&limit=100{token}",
            )
            rows += page["items"]
            if not page.get("next_token"):
                return rows
            token = f"&next_token={page['next_token']}"


# -- embedded AWS, the way the functions reach it ---------------------------------------------


class _NotOnStart:
    """Ports ``start_paid_session`` never touches (the tasks run in the stack's functions)."""

    def __call__(self, method: PaymentMethod) -> PaymentProvider:
        raise AssertionError("starting a paid session calls no payment provider")

    def begin(self, order: PaymentOrder, now: datetime) -> str:
        raise AssertionError("starting a paid session sends nothing to a pile")

    def await_end(self, order_no: str, task_token: str, now: datetime) -> None:
        raise AssertionError("starting a paid session waits for nothing")

    def outcome(self, order_no: str) -> ChargeFacts:
        raise AssertionError("starting a paid session reads no charge")

    def stop(self, pile_id: str, session_id: str, now: datetime) -> None:
        raise AssertionError("starting a paid session stops nothing")


@dataclass
class Payments:
    """The stack's payment side: start sessions, follow executions, read the books."""

    stack: RunningStack
    tables: dict[str, str] = field(init=False)
    sfn: Any = field(init=False)
    dynamodb: Any = field(init=False)
    machine_arn: str = field(init=False)
    ports: PaymentPorts = field(init=False)

    def __post_init__(self) -> None:
        self.tables = json.loads((self.stack.state_dir / "stack.json").read_text())["tables"]
        session = boto3.Session(
            region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local"
        )
        endpoint = self.stack.aws_endpoint
        self.sfn = session.client("stepfunctions", endpoint_url=endpoint)
        self.dynamodb = session.client("dynamodb", endpoint_url=endpoint)
        self._resource = session.resource("dynamodb", endpoint_url=endpoint)
        self._lambda = session.client("lambda", endpoint_url=endpoint)
        machines = self.sfn.list_state_machines()["stateMachines"]
        (machine,) = [m for m in machines if "PaymentStateMachine" in m["name"]]
        self.machine_arn = machine["stateMachineArn"]
        ledger_table = self.tables["LEDGER_TABLE"]
        unused = _NotOnStart()
        self.ports = PaymentPorts(
            orders=DynamoPaymentOrders(ledger_table, self.dynamodb),
            ledger=DynamoLedgerRepository(ledger_table, self.dynamodb),
            providers=unused,
            charging=unused,
            base_data=DynamoPaymentBaseData(
                DynamoBaseDataRepository(self.tables["BASE_DATA_TABLE"], self.dynamodb)
            ),
            resumer=StepFunctionsResumer(self.sfn),
            clock=system_clock,
            starter=StepFunctionsStarter(self.sfn, self.machine_arn),
        )

    # -- starting ----------------------------------------------------------------------------

    def open_wallet(self, site: PaidSite, user_id: str) -> None:
        """The driver's wallet, opened as the driver's sign-up does."""
        open_wallet(
            self.ports.ledger,
            account_id=driver_wallet_id(site.operator_id, user_id),
            operator_id=site.operator_id,
            owner=user_id,
            clock=system_clock,
        )

    def start(
        self,
        site: PaidSite,
        pile_id: str,
        *,
        user_id: str,
        method: PaymentMethod,
        prepaid_fen: int,
        target_mode: str,
        target_value: int | None,
        gun_no: int = 1,
        order_no: str | None = None,
    ) -> PaymentOrder:
        """What the driver API does when a driver pays for a charge (``order_no`` minted
        once per driver request; a retried request repeats it)."""
        order_no = order_no or new_order_no(datetime.now(UTC), secrets.token_hex(6))
        return start_paid_session(
            self.ports,
            PaidSessionRequest(
                order_no=order_no,
                operator_id=site.operator_id,
                station_id=site.station_id,
                pile_id=pile_id,
                gun_no=gun_no,
                user_id=user_id,
                payer_id=f"openid-{user_id}",
                id_tag=f"P{order_no[-12:]}".upper(),
                method=method.value,
                prepaid_fen=prepaid_fen,
                target_mode=target_mode,
                target_value=target_value,
            ),
        )

    def start_paid_by_sandbox(
        self,
        site: PaidSite,
        pile_id: str,
        *,
        prepaid_fen: int,
        target_fen: int,
        user_id: str | None = None,
    ) -> PaymentOrder:
        """A driver's order (``user_id``, or a new driver) for ``target_fen`` worth of
        charge, prepaid ``prepaid_fen`` and paid in the sandbox (``start`` then ``pay``)."""
        order = self.start(
            site,
            pile_id,
            user_id=user_id or unique("driver"),
            method=PaymentMethod.SANDBOX,
            prepaid_fen=prepaid_fen,
            target_mode="amount",
            target_value=target_fen,
        )
        self.pay(order.order_no)
        return order

    # -- following ---------------------------------------------------------------------------

    def execution_arn(self, order_no: str) -> str:
        return self.machine_arn.replace(":stateMachine:", ":execution:") + f":{order_no}"

    def executions_named(self, order_no: str) -> list[str]:
        """The ARNs of the machine's executions named ``order_no``."""
        arns: list[str] = []
        token: dict[str, str] = {}
        while True:
            page = self.sfn.list_executions(
                stateMachineArn=self.machine_arn, maxResults=100, **token
            )
            arns += [e["executionArn"] for e in page["executions"] if e["name"] == order_no]
            if not page.get("nextToken"):
                return arns
            token = {"nextToken": page["nextToken"]}

    def execution(self, order_no: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.sfn.describe_execution(
            executionArn=self.execution_arn(order_no)
        )
        return answer

    def finished(self, order_no: str, timeout_s: float = 60.0) -> dict[str, Any]:
        """The execution once it is no longer running."""
        return poll(
            f"the end of execution {order_no}",
            lambda: self.execution(order_no),
            lambda execution: execution["status"] != "RUNNING",
            timeout_s,
        )

    def states_entered(self, order_no: str) -> list[str]:
        """The state names the execution entered, in order."""
        names: list[str] = []
        token: dict[str, str] = {}
        while True:
            page = self.sfn.get_execution_history(
                executionArn=self.execution_arn(order_no), maxResults=200, **token
            )
            names += [
                event["stateEnteredEventDetails"]["name"]
                for event in page["events"]
                if "stateEnteredEventDetails" in event
            ]
            if not page.get("nextToken"):
                return names
            token = {"nextToken": page["nextToken"]}

    def errors(self, order_no: str) -> list[str]:
        """The error names of the execution's failed tasks and of its own failure."""
        page = self.sfn.get_execution_history(
            executionArn=self.execution_arn(order_no), maxResults=1000
        )
        names: list[str] = []
        for event in page["events"]:
            for key, details in event.items():
                if key.endswith("FailedEventDetails") and "error" in details:
                    names.append(str(details["error"]))
        return names

    def session_end(self, order_no: str) -> dict[str, Any]:
        """What the pile side resumed ``WaitForSessionEnd`` with (a succeeded execution's
        ``$.results.wait_for_session_end``)."""
        output = json.loads(self.execution(order_no)["output"])
        end: dict[str, Any] = output["results"]["wait_for_session_end"]
        return end

    def order(self, order_no: str) -> PaymentOrder:
        order = self.ports.orders.get(order_no)
        assert order is not None, f"no order {order_no}"
        return order

    # -- the ledger --------------------------------------------------------------------------

    @property
    def _ledger(self) -> Any:
        return self._resource.Table(self.tables["LEDGER_TABLE"])

    def accounts(self, operator_id: str) -> dict[str, dict[str, Any]]:
        """The operator's ledger accounts by id (GSI1), with their entries."""
        answer = self._ledger.query(
            IndexName="GSI1",
            KeyConditionExpression=Key("gsi1pk").eq(f"OPERATOR#{operator_id}#ACCOUNTS"),
        )
        accounts: dict[str, dict[str, Any]] = {}
        for item in _plain(answer["Items"]):
            account_id = item["account_id"]
            account = _plain(
                self._ledger.get_item(
                    Key={"pk": f"ACCOUNT#{account_id}", "sk": "ACCOUNT"}, ConsistentRead=True
                )["Item"]
            )
            entries = self._ledger.query(
                KeyConditionExpression=Key("pk").eq(f"ACCOUNT#{account_id}")
                & Key("sk").begins_with("ENTRY#"),
                ConsistentRead=True,
            )["Items"]
            account["entries"] = _plain(entries)
            accounts[account_id] = account
        return accounts

    def transfer(self, transfer_id: str) -> dict[str, Any] | None:
        item = self._ledger.get_item(
            Key={"pk": f"TRANSFER#{transfer_id}", "sk": "TRANSFER"}, ConsistentRead=True
        ).get("Item")
        return None if item is None else _plain(item)

    def balances(self, operator_id: str) -> dict[str, int]:
        """Each account's balance, after checking the books balance: every balance equals
        the sum of its entries, the balances sum to zero, no wallet holds money any more."""
        accounts = self.accounts(operator_id)
        for account_id, account in accounts.items():
            entries_fen = sum(entry["amount_fen"] for entry in account["entries"])
            assert account["balance_fen"] == entries_fen, (account_id, account)
            assert account.get("held_fen", 0) == 0, (account_id, account)
        assert sum(a["balance_fen"] for a in accounts.values()) == 0, accounts
        return {account_id: a["balance_fen"] for account_id, a in accounts.items()}

    def check_whole_ledger(self) -> int:
        """Scan the whole LedgerTable (a test-only read) and check the books of every
        operator at once: each account's balance is the sum of its entries, all balances
        sum to zero, no wallet still holds money, every payment order has ended with
        prepaid = consumed + refunded and consumed = partner + platform. The number of
        orders checked."""
        items: list[dict[str, Any]] = []
        scan: dict[str, Any] = {"ConsistentRead": True}
        while True:
            page = self._ledger.scan(**scan)
            items += _plain(page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        accounts = {i["pk"]: i for i in items if i["sk"] == "ACCOUNT"}
        entries: dict[str, int] = {}
        for item in items:
            if str(item["sk"]).startswith("ENTRY#"):
                entries[item["pk"]] = entries.get(item["pk"], 0) + item["amount_fen"]
        for pk, account in accounts.items():
            assert account["balance_fen"] == entries.get(pk, 0), account
            assert account.get("held_fen", 0) == 0, account
        assert set(entries) <= set(accounts)
        assert sum(a["balance_fen"] for a in accounts.values()) == 0
        order_nos = [
            str(i["pk"]).removeprefix("ORDER#") for i in items if i["pk"].startswith("ORDER#")
        ]
        for order_no in order_nos:
            order = self.order(order_no)
            assert order.state.is_terminal, order
            assert money_problems(order) == [], (order, money_problems(order))
            assert order.prepaid_fen == order.consumed_fen + order.refunded_fen or (
                order.state is OrderState.CLOSED
            ), order
            assert order.consumed_fen == order.partner_fen + order.platform_fen, order
        return len(order_nos)

    # -- the daily reconciliation job ------------------------------------------------------

    def reconcile(self, day: str) -> dict[str, Any]:
        """Run the reports function's reconciliation job for ``day`` (as its schedule does,
        one day again); the job's answer."""
        functions = self._lambda.list_functions()["Functions"]
        (reports,) = [f for f in functions if "ReportsFunction" in f["FunctionName"]]
        answer = self._lambda.invoke(
            FunctionName=reports["FunctionName"],
            Payload=json.dumps({"job": "daily_reconciliation", "day": day}).encode(),
        )
        assert "FunctionError" not in answer, answer
        result: dict[str, Any] = json.loads(answer["Payload"].read())
        return result

    # -- the sandbox provider ----------------------------------------------------------------

    def sandbox(self, method: str, path: str) -> requests.Response:
        return requests.request(method, f"{self.stack.sandbox_pay_url}{path}", timeout=TIMEOUT_S)

    def sandbox_order(self, order_no: str) -> dict[str, Any]:
        answer = self.sandbox("GET", f"/sandbox/orders/{order_no}")
        assert answer.status_code == 200, answer.text
        order: dict[str, Any] = answer.json()
        return order

    def pay(self, order_no: str) -> dict[str, Any]:
        """The driver pays: once the workflow opened the provider order, confirm it."""
        poll(
            f"sandbox order {order_no}",
            lambda: self.sandbox("GET", f"/sandbox/orders/{order_no}").status_code,
            lambda status: status == 200,
            TIMEOUT_S,
        )
        answer = self.sandbox("POST", f"/sandbox/orders/{order_no}/confirm")
        assert answer.status_code == 200, answer.text
        confirmed: dict[str, Any] = answer.json()
        return confirmed

    def forged_notification(self, order_no: str, *, amount_fen: int) -> requests.Response:
        """A "paid" notification for the order in the sandbox's format, signed by a key
        that is not the sandbox's, POSTed to the platform's notify endpoint."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        serial = self.sandbox("GET", "/sandbox/public-key").json()["serial"]
        body = json.dumps(
            {
                "id": f"ntf-{secrets.token_hex(8)}",
                "event_type": "TRANSACTION.SUCCESS",
                "merchant_id": "sandbox-merchant",
                "order_no": order_no,
                "txn_id": f"sbx-forged-{secrets.token_hex(4)}",
                "amount_fen": amount_fen,
                "paid_at": wire_now(),
            },
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        signature = key.sign(
            f"{timestamp}\n{nonce}\n".encode() + body + b"\n", padding.PKCS1v15(), hashes.SHA256()
        )
        headers = {
            "Content-Type": "application/json",
            "Sandboxpay-Timestamp": timestamp,
            "Sandboxpay-Nonce": nonce,
            "Sandboxpay-Serial": serial,
            "Sandboxpay-Signature": base64.b64encode(signature).decode("ascii"),
            "Sandboxpay-Signature-Type": "SANDBOX-SHA256-RSA2048",
        }
        return requests.post(
            f"{self.stack.http_url}/payments/notify/sandbox",
            data=body,
            headers=headers,
            timeout=TIMEOUT_S,
        )

    def sandbox_records(self, order_no: str) -> list[dict[str, Any]]:
        """The sandbox's payment and refund records of the order (yesterday and today,
        Asia/Shanghai)."""
        records: list[dict[str, Any]] = []
        for day in recent_days():
            answer = self.sandbox("GET", f"/sandbox/records?day={day}")
            assert answer.status_code == 200, answer.text
            records += [record for record in answer.json() if record["order_no"] == order_no]
        return records


def operator_accounts(operator_id: str, station_id: str) -> dict[str, str]:
    """The ledger account ids a paid session moves money between."""
    return {
        "sandbox": clearing_account_id(operator_id, "sandbox"),
        "revenue": revenue_account_id(operator_id),
        "partner": partner_account_id(operator_id, station_id),
        "platform": platform_account_id(operator_id),
    }


# -- the pile's side --------------------------------------------------------------------------


class Charger:
    """A booted real OCPP pile that charges remote-started sessions on its guns (1.6
    connector / 2.0.1 EVSE ``gun_no``, connector 1)."""

    def __init__(self, stack: RunningStack, pile_id: str, protocol: str) -> None:
        self.stack = stack
        self.protocol = protocol
        self.transaction_ids: dict[int, Any] = {}
        self.registers_wh: dict[int, int] = {}
        self._seq_nos: dict[int, int] = {}
        self.last_stop: Any = None
        self._last_event: Any = None
        self.pile = self._connect(pile_id)

    def _connect(self, pile_id: str) -> Pile:
        pile = Pile(self.stack, pile_id, self.protocol)
        try:
            if self.protocol == V16:
                assert pile.call(BOOT16).status == "Accepted"
            else:
                assert pile.call(BOOT201).status == "Accepted"
            for gun_no in (1, 2):
                charging = gun_no in self.transaction_ids
                pile.call(self._status(gun_no, "Charging" if charging else "Available"))
        except BaseException:
            pile.close()
            raise
        return pile

    def reconnect(self) -> None:
        """Drop the WebSocket and come back on a new one (API Gateway closes connections
        routinely); running transactions go on."""
        pile_id = self.pile.pile_id
        self.pile.close()
        self.pile = self._connect(pile_id)

    def close(self) -> None:
        self.pile.close()

    def __enter__(self) -> Charger:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _status(self, gun_no: int, status: str) -> Any:
        if self.protocol == V16:
            return call16.StatusNotification(
                connector_id=gun_no, error_code="NoError", status=status, timestamp=wire_now()
            )
        status = {"Charging": "Occupied", "Preparing": "Occupied", "Finishing": "Occupied"}.get(
            status, status
        )
        return call201.StatusNotification(
            timestamp=wire_now(), connector_status=status, evse_id=gun_no, connector_id=1
        )

    # -- a remote start ----------------------------------------------------------------------

    def expect_remote_start(self, timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
        action = "RemoteStartTransaction" if self.protocol == V16 else "RequestStartTransaction"
        return self.pile.expect(action, timeout_s)

    def refuse_remote_start(self) -> None:
        """From now on the pile answers a remote start with Rejected."""
        if self.protocol == V16:
            from ocpp.v16 import call_result

            self.pile.replies["RemoteStartTransaction"] = call_result.RemoteStartTransaction(
                status="Rejected"
            )
        else:
            from ocpp.v201 import call_result as call_result201

            self.pile.replies["RequestStartTransaction"] = call_result201.RequestStartTransaction(
                status="Rejected"
            )

    def start(self, request: dict[str, Any], meter_start_wh: int, at: str | None = None) -> str:
        """Start the remote-started transaction on the gun it names (stamped ``at`` by the
        pile's clock, default now); the card check's status."""
        if self.protocol == V16:
            gun_no = int(request["connector_id"])
            self.registers_wh[gun_no] = meter_start_wh
            self.pile.call(self._status(gun_no, "Preparing"))
            started = self.pile.call(
                call16.StartTransaction(
                    connector_id=gun_no,
                    id_tag=request["id_tag"],
                    meter_start=meter_start_wh,
                    timestamp=at or wire_now(),
                )
            )
            self.transaction_ids[gun_no] = started.transaction_id
            self.pile.call(self._status(gun_no, "Charging"))
            return str(started.id_tag_info["status"])
        gun_no = int(request["evse_id"])
        self.registers_wh[gun_no] = meter_start_wh
        self.transaction_ids[gun_no] = unique("tx")
        self._seq_nos[gun_no] = 0
        self.pile.call(self._status(gun_no, "Occupied"))
        started = self._event(
            gun_no,
            "Started",
            "RemoteStart",
            charging_state="Charging",
            remote_start_id=request["remote_start_id"],
            id_token=request["id_token"],
            context="Transaction.Begin",
            at=at,
        )
        return str(started.id_token_info["status"])

    def meter(self, register_wh: int, gun_no: int = 1, at: str | None = None) -> None:
        """A periodic register reading of the gun's transaction (stamped ``at``)."""
        self.registers_wh[gun_no] = register_wh
        if self.protocol == V16:
            self.pile.call(
                call16.MeterValues(
                    connector_id=gun_no,
                    transaction_id=self.transaction_ids[gun_no],
                    meter_value=[
                        {
                            "timestamp": at or wire_now(),
                            "sampled_value": [
                                {
                                    "value": str(register_wh),
                                    "measurand": "Energy.Active.Import.Register",
                                    "unit": "Wh",
                                    "context": "Sample.Periodic",
                                }
                            ],
                        }
                    ],
                )
            )
        else:
            self._event(gun_no, "Updated", "MeterValuePeriodic", context="Sample.Periodic", at=at)

    def assert_not_stopped(self, settle_s: float = 0.5) -> None:
        """No call from the platform arrived (waiting ``settle_s`` for one in flight)."""
        inbox = self.pile.charge_point.received
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline:
            assert inbox.empty(), f"the platform sent {inbox.queue[0]} too early"
            time.sleep(0.05)

    def expect_remote_stop(self, gun_no: int = 1, timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
        """The platform's stop, which must name the gun's transaction."""
        action = "RemoteStopTransaction" if self.protocol == V16 else "RequestStopTransaction"
        request = self.pile.expect(action, timeout_s)
        assert request["transaction_id"] == self.transaction_ids[gun_no], request
        return request

    def stop(
        self, meter_stop_wh: int, reason: str = "Remote", gun_no: int = 1, at: str | None = None
    ) -> None:
        """The pile ends the gun's transaction at ``meter_stop_wh`` (stamped ``at``)."""
        self.registers_wh[gun_no] = meter_stop_wh
        if self.protocol == V16:
            self.last_stop = call16.StopTransaction(
                meter_stop=meter_stop_wh,
                timestamp=at or wire_now(),
                transaction_id=self.transaction_ids.pop(gun_no),
                reason=reason,
            )
            self.pile.call(self.last_stop)
            self.pile.call(self._status(gun_no, "Finishing"))
        else:
            self._event(
                gun_no,
                "Ended",
                "RemoteStop" if reason == "Remote" else "StopAuthorized",
                charging_state="Idle",
                stopped_reason=reason,
                context="Transaction.End",
                at=at,
            )
            self.last_stop = self._last_event
            del self.transaction_ids[gun_no]
        self.pile.call(self._status(gun_no, "Available"))

    def repeat_stop(self) -> Any:
        """Send the last stop message again (a retransmission: the pile missed the answer);
        the platform's answer."""
        return self.pile.call(self.last_stop)

    def _event(
        self,
        gun_no: int,
        event_type: str,
        trigger_reason: str,
        *,
        context: str,
        charging_state: str | None = None,
        stopped_reason: str | None = None,
        remote_start_id: int | None = None,
        id_token: dict[str, str] | None = None,
        at: str | None = None,
    ) -> Any:
        at = at or wire_now()
        info: dict[str, Any] = {"transaction_id": self.transaction_ids[gun_no]}
        for name, value in (
            ("charging_state", charging_state),
            ("stopped_reason", stopped_reason),
            ("remote_start_id", remote_start_id),
        ):
            if value is not None:
                info[name] = value
        payload = call201.TransactionEvent(
            event_type=event_type,
            timestamp=at,
            trigger_reason=trigger_reason,
            seq_no=self._seq_nos[gun_no],
            transaction_info=info,
            evse={"id": gun_no, "connector_id": 1},
            id_token=id_token,
            meter_value=[
                {
                    "timestamp": at,
                    "sampled_value": [
                        {
                            "value": self.registers_wh[gun_no],
                            "measurand": "Energy.Active.Import.Register",
                            "unit_of_measure": {"unit": "Wh"},
                            "context": context,
                        }
                    ],
                }
            ],
        )
        self._seq_nos[gun_no] += 1
        self._last_event = payload
        return self.pile.call(payload)
