"""The payment workflow on moto: the template's tables, the REAL ASL executed by moto's Step
Functions, its tasks invoking the real payments handler in-process, with fault injection.

moto runs each execution in a thread and invokes Lambda through
``LambdaFunction._invoke_lambda``, patched here to call ``functions.payments.handler`` (the
way infra/local/lambda_runtime.py does for the local stack). The ASL is the deployed one
(moto refuses IntervalSeconds 0), but moto's retrier does not sleep here, so retries run at
once; callback timeouts are shortened on a second machine for the timeout tests. Providers and
the pile side are the unit tests' fakes; orders, ledger, base data and Step Functions are
moto. No tests here.
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
from moto import mock_aws
from moto.awslambda.models import LambdaFunction
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

from functions.payments import handler as payments_handler
from functions.payments import wiring as payments_wiring
from shared.adapters.dynamodb.base_data import DynamoBaseDataRepository
from shared.adapters.dynamodb.ledger import DynamoLedgerRepository
from shared.adapters.dynamodb.payment_orders import DynamoPaymentBaseData, DynamoPaymentOrders
from shared.adapters.stepfunctions import StepFunctionsResumer, StepFunctionsStarter
from shared.domain.clock import system_clock
from shared.domain.errors import UpstreamFailure
from shared.domain.payment_orders import PaymentOrder
from shared.domain.payments import PaymentMethod
from shared.domain.piles import Gun
from shared.domain.tenancy import Principal, Role
from shared.services.payment_workflow import PaymentPorts
from tests.support.aws import REGION, create_tables, fake_credentials
from tests.unit.test_payment_workflow_fakes import (
    FLAT_TARIFF,
    GOOD_HEADERS,
    FakeBaseData,
    FakeCharging,
    FakeProvider,
    notice_body,
)

ASL = Path(__file__).resolve().parents[2] / "infra/statemachines/payment_session.asl.json"
FUNCTION = "payments-fn"
ROOT = Principal(username="test", role=Role.PLATFORM_ADMIN, operator_id=None)
CALLBACK_STATES = ("WaitForPaid", "WaitForSessionEnd")


def definition(function_arn: str, *, callback_timeout_s: int | None = None) -> str:
    """The ASL as deployed (optionally with short callback timeouts)."""
    text = ASL.read_text(encoding="utf-8").replace("${PaymentsFunctionArn}", function_arn)
    machine = json.loads(text)
    for name, state in machine["States"].items():
        if callback_timeout_s is not None and name in CALLBACK_STATES:
            state["TimeoutSeconds"] = callback_timeout_s
    return json.dumps(machine)


@dataclass
class Faults:
    """What to do to a step's next invocations: ``error_once`` (UpstreamFailure before any
    work, retried), ``crash_after`` (the step's work done, then UpstreamFailure: the retry
    must change nothing), ``fatal`` (a non-retried error every time: the compensation),
    ``duplicate`` (delivered twice)."""

    plan: dict[str, str] = field(default_factory=dict)
    fired: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, step: str) -> str | None:
        with self.lock:
            kind = self.plan.get(step)
            if kind is None:
                return None
            count = self.fired.get(step, 0)
            if kind in ("error_once", "crash_after", "duplicate") and count >= 1:
                return None
            self.fired[step] = count + 1
            return kind


class _Context:
    function_name = FUNCTION
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:{FUNCTION}"
    aws_request_id = "req-1"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def _error(exc: BaseException) -> tuple[str, bool, str]:
    payload = {"errorType": type(exc).__name__, "errorMessage": str(exc)[:200]}
    return json.dumps(payload), True, ""


class InjectedCrash(Exception):
    """A fatal, non-retried task error."""


class PaymentWorld:
    """Moto with tables, base data, the payments function and the state machines."""

    def __init__(self) -> None:
        self.sfn: Any = boto3.client("stepfunctions", region_name=REGION)
        self.dynamodb: Any = boto3.client("dynamodb", region_name=REGION)
        self.ledger_table = os.environ["LEDGER_TABLE"]
        self.providers = {
            m: FakeProvider(m)
            for m in (PaymentMethod.SANDBOX, PaymentMethod.WECHAT, PaymentMethod.ALIPAY)
        }
        self.charging = FakeCharging()
        self.faults = Faults()
        self.invocations: list[str] = []
        self.orders = DynamoPaymentOrders(self.ledger_table, self.dynamodb)
        self.ledger = DynamoLedgerRepository(self.ledger_table, self.dynamodb, backoff_base_s=0.0)
        self.function_arn = self._create_function()
        self.machine_arn = self._create_machine("payment-session", None)
        self.short_machine_arn = self._create_machine("payment-session-short", 2)
        self._seed_base_data()
        self.ports = PaymentPorts(
            orders=self.orders,
            ledger=self.ledger,
            providers=self.providers.__getitem__,
            charging=self.charging,
            base_data=DynamoPaymentBaseData(
                DynamoBaseDataRepository(os.environ["BASE_DATA_TABLE"], self.dynamodb)
            ),
            resumer=StepFunctionsResumer(self.sfn),
            clock=system_clock,
            starter=StepFunctionsStarter(self.sfn, self.machine_arn),
        )

    def ports_with_machine(self, machine_arn: str) -> PaymentPorts:
        from dataclasses import replace

        return replace(self.ports, starter=StepFunctionsStarter(self.sfn, machine_arn))

    def _create_function(self) -> str:
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(
            RoleName="payments-role",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("placeholder.txt", "code runs from the repository")
        answer = boto3.client("lambda", region_name=REGION).create_function(
            FunctionName=FUNCTION,
            Runtime="python3.11",
            Role=role,
            Handler="functions.payments.handler.lambda_handler",
            Code={"ZipFile": buffer.getvalue()},
            Timeout=30,
        )
        return str(answer["FunctionArn"])

    def _create_machine(self, name: str, callback_timeout_s: int | None) -> str:
        return str(
            self.sfn.create_state_machine(
                name=name,
                definition=definition(self.function_arn, callback_timeout_s=callback_timeout_s),
                roleArn="arn:aws:iam::123456789012:role/payments-role",
            )["stateMachineArn"]
        )

    def _seed_base_data(self) -> None:
        fake = FakeBaseData()
        repo = DynamoBaseDataRepository(os.environ["BASE_DATA_TABLE"], self.dynamodb)
        repo.create_tariff(ROOT, FLAT_TARIFF)
        for station in fake.stations.values():
            repo.create_station(ROOT, station)
        for pile in fake.piles.values():
            guns = [
                Gun(
                    pile_id=pile.pile_id,
                    gun_no=n,
                    operator_id=pile.operator_id,
                    station_id=pile.station_id,
                    name=f"Gun {n}",
                    is_enabled=True,
                    updated_at=pile.created_at,
                )
                for n in range(1, pile.gun_count + 1)
            ]
            repo.create_pile(ROOT, pile, guns)

    # -- the Lambda seam --

    def invoke(self, event_in: Any) -> tuple[str, bool, str]:
        raw = event_in or "{}"
        event = json.loads(raw) if isinstance(raw, str | bytes) else dict(raw)
        step = str(event.get("step"))
        self.invocations.append(step)
        fault = self.faults.take(step)
        if fault == "error_once":
            return _error(UpstreamFailure("injected before the step"))
        if fault == "fatal":
            return _error(InjectedCrash("injected fatal error"))
        try:
            result = payments_handler.lambda_handler(event, _Context())
            if fault == "duplicate":
                result = payments_handler.lambda_handler(event, _Context())
        except Exception as exc:  # Lambda reports any handler crash to its caller
            return _error(exc)
        if fault == "crash_after":
            return _error(UpstreamFailure("injected after the step"))
        return json.dumps(result), False, ""

    # -- driving executions --

    def notify(self, order_no: str, txn: str, amount_fen: int, *, times: int = 1) -> list[int]:
        """POST the provider's paid notice through the handler as API Gateway sends it."""
        body = notice_body(order_no, txn, amount_fen)
        event = {
            "version": "2.0",
            "routeKey": "POST /payments/notify/{provider}",
            "rawPath": "/payments/notify/sandbox",
            "headers": dict(GOOD_HEADERS),
            "pathParameters": {"provider": "sandbox"},
            "requestContext": {"http": {"method": "POST", "path": "/payments/notify/sandbox"}},
            "body": base64.b64encode(body).decode(),
            "isBase64Encoded": True,
        }
        return [
            payments_handler.lambda_handler(dict(event), _Context())["statusCode"]
            for _ in range(times)
        ]

    def order(self, order_no: str) -> PaymentOrder:
        stored = self.orders.get(order_no)
        assert stored is not None
        return stored

    def wait_for(self, predicate: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}")

    def wait_for_pay_token(self, order_no: str) -> None:
        self.wait_for(
            lambda: (o := self.orders.get(order_no)) is not None and o.pay_token is not None,
            "the pay token",
        )

    def wait_for_end_token(self, order_no: str) -> str:
        self.wait_for(lambda: order_no in self.charging.tokens, "the session-end token")
        return self.charging.tokens[order_no]

    def end_session(self, order_no: str, energy_wh: int) -> None:
        token = self.wait_for_end_token(order_no)
        self.charging.energy_wh[order_no] = energy_wh
        self.sfn.send_task_success(
            taskToken=token,
            output=json.dumps(
                {
                    "order_no": order_no,
                    "session_id": f"se-{order_no}",
                    "energy_wh": energy_wh,
                    "stop_reason": "target_reached",
                }
            ),
        )

    def execution_arn(self, machine_arn: str, order_no: str) -> str:
        return machine_arn.replace(":stateMachine:", ":execution:") + f":{order_no}"

    def wait_for_end(self, execution_arn: str, timeout_s: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            described: dict[str, Any] = self.sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return described
            time.sleep(0.05)
        raise AssertionError(f"execution still running; steps {self.invocations}")

    # -- the books --

    def accounts(self) -> dict[str, dict[str, int]]:
        """Every ledger account's balance, held amount and sum of entries (by a scan)."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.ledger_table}
        while True:
            page = self.dynamodb.scan(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        found: dict[str, dict[str, int]] = {}
        for item in items:
            pk, sk = item["pk"]["S"], item["sk"]["S"]
            if not pk.startswith("ACCOUNT#"):
                continue
            account = found.setdefault(pk[8:], {"balance": 0, "held": 0, "entries": 0})
            if sk == "ACCOUNT":
                account["balance"] = int(item["balance_fen"]["N"])
                account["held"] = int(item.get("held_fen", {"N": "0"})["N"])
            elif sk.startswith("ENTRY#"):
                account["entries"] += int(item["amount_fen"]["N"])
        return found

    def ledger_problems(self) -> list[str]:
        accounts = self.accounts()
        problems = [
            f"{aid}: balance {a['balance']} != entries {a['entries']}"
            for aid, a in accounts.items()
            if a["balance"] != a["entries"]
        ]
        if sum(a["balance"] for a in accounts.values()) != 0:
            problems.append("balances do not sum to 0")
        problems += [
            f"{aid}: below zero"
            for aid, a in accounts.items()
            if aid.startswith("driver:") and (a["balance"] < 0 or a["held"] < 0)
        ]
        return problems


@contextmanager
def payment_world() -> Iterator[PaymentWorld]:
    """moto with Step Functions executing, the template's tables, and the payments handler
    behind moto's Lambda; the function's wiring answers the world's ports."""
    fake_credentials()
    previous = {key: os.environ.get(key) for key in ("BASE_DATA_TABLE", "LEDGER_TABLE")}
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):  # type: ignore[arg-type]
        names = create_tables(boto3.client("dynamodb", region_name=REGION))
        os.environ.update(names)
        original_invoke = LambdaFunction._invoke_lambda
        original_ports = payments_wiring.ports
        original_time = retrier_decl.time
        retrier_decl.time = SimpleNamespace(sleep=lambda _seconds: None)  # type: ignore[assignment]
        world = PaymentWorld()
        LambdaFunction._invoke_lambda = lambda _fn, event=None: world.invoke(event)  # type: ignore[method-assign]
        payments_wiring.ports = lambda: world.ports  # type: ignore[assignment]
        try:
            yield world
        finally:
            LambdaFunction._invoke_lambda = original_invoke  # type: ignore[method-assign]
            retrier_decl.time = original_time  # type: ignore[assignment]
            payments_wiring.ports = original_ports  # type: ignore[assignment]
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def seeded(seed: int) -> random.Random:
    return random.Random(seed)
