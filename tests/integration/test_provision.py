"""template.yaml provisioned onto a moto server the way the local stack does it."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import requests
from moto.awslambda.models import LambdaFunction
from moto.cloudformation.parsing import get_model_map
from moto.server import ThreadedMotoServer

from infra.local.deployment import LocalDeployment
from infra.local.provision import (
    BEFORE_STACK_TYPES,
    CLOUDFORMATION_TYPES,
    DEFAULT_WS_MANAGEMENT_ENDPOINT,
    PLACEHOLDER_PREFIX,
    provision,
)
from infra.template import load_template, table_env_vars

REGION = "us-east-1"
EXPECTED_FUNCTIONS = {
    "WsConnectFunction": "functions.ws_connect.handler.lambda_handler",
    "OcppRouterFunction": "functions.ocpp_router.handler.lambda_handler",
    "OperatorApiFunction": "functions.operator_api.handler.lambda_handler",
    "ReportsFunction": "functions.reports.handler.lambda_handler",
    "DriverApiFunction": "functions.driver_api.handler.lambda_handler",
    "PaymentsFunction": "functions.payments.handler.lambda_handler",
    "FaultsFunction": "functions.faults.handler.lambda_handler",
    "ModbusBridgeFunction": "functions.modbus_bridge.handler.lambda_handler",
    "HousekeepingFunction": "functions.housekeeping.handler.lambda_handler",
}


@dataclass
class Provisioned:
    url: str
    deployment: LocalDeployment
    seconds: float

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.url)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def provisioned() -> Iterator[Provisioned]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    config_url = f"{url}/moto-api/config"
    with pytest.MonkeyPatch.context() as patch:
        # Step Functions inside the server calls Lambda at localhost:$MOTO_PORT.
        patch.setenv("MOTO_PORT", str(port))
        requests.post(
            config_url, json={"stepfunctions": {"execute_state_machine": True}}, timeout=5
        )
        try:
            started = time.perf_counter()
            deployment = provision(url, region=REGION)
            yield Provisioned(url, deployment, time.perf_counter() - started)
        finally:
            requests.post(
                config_url, json={"stepfunctions": {"execute_state_machine": False}}, timeout=5
            )
            server.stop()


def test_every_cloudformation_type_kept_is_one_moto_creates_when_provisioning():
    moto_types = set(get_model_map())
    assert moto_types >= CLOUDFORMATION_TYPES
    cannot_create = {
        t for t in BEFORE_STACK_TYPES if t.startswith(("AWS::Cognito", "AWS::Secrets"))
    }
    assert cannot_create
    assert not moto_types & cannot_create


def test_every_table_exists_with_its_env_var_when_provisioned(provisioned):
    dynamodb = provisioned.client("dynamodb")
    template = load_template()
    assert set(provisioned.deployment.tables) == set(table_env_vars(template))
    for env, name in provisioned.deployment.tables.items():
        table = dynamodb.describe_table(TableName=name)["Table"]
        logical_id = table_env_vars(template)[env]
        expected_keys = template["Resources"][logical_id]["Properties"]["KeySchema"]
        assert table["KeySchema"] == expected_keys


def test_ttl_is_enabled_on_the_tables_that_declare_it_when_provisioned(provisioned):
    dynamodb = provisioned.client("dynamodb")
    ttl = dynamodb.describe_time_to_live(TableName=provisioned.deployment.tables["SESSIONS_TABLE"])
    assert ttl["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "expires_at",
    }


def test_every_function_has_its_handler_and_resolved_env_when_provisioned(provisioned):
    functions = provisioned.deployment.functions
    assert {lid: f.handler for lid, f in functions.items()} == EXPECTED_FUNCTIONS
    lambda_client = provisioned.client("lambda")
    for config in functions.values():
        assert lambda_client.get_function(FunctionName=config.function_name)
        for env, table in provisioned.deployment.tables.items():
            assert config.environment[env] == table
        assert all(isinstance(value, str) for value in config.environment.values())
        assert not any(PLACEHOLDER_PREFIX in value for value in config.environment.values())
    operator = functions["OperatorApiFunction"].environment
    assert operator["USER_POOL_ID"] == provisioned.deployment.user_pool_id
    assert operator["USER_POOL_CLIENT_ID"] == provisioned.deployment.user_pool_client_id
    assert functions["OperatorApiFunction"].memory_mb == 512
    assert functions["OcppRouterFunction"].memory_mb == 256


def test_ws_management_endpoint_is_the_local_door_when_provisioned(provisioned):
    functions = provisioned.deployment.functions
    with_endpoint = {
        lid for lid, f in functions.items() if "WS_MANAGEMENT_ENDPOINT" in f.environment
    }
    assert {"OcppRouterFunction", "WsConnectFunction", "PaymentsFunction"} <= with_endpoint
    for logical_id in with_endpoint:
        endpoint = functions[logical_id].environment["WS_MANAGEMENT_ENDPOINT"]
        assert endpoint == DEFAULT_WS_MANAGEMENT_ENDPOINT


def test_functions_name_real_topic_state_machine_and_secrets_when_provisioned(provisioned):
    functions = provisioned.deployment.functions
    outputs = provisioned.deployment.outputs
    topic_arn = functions["FaultsFunction"].environment["MAINTENANCE_TOPIC_ARN"]
    assert topic_arn == outputs["MaintenanceTopicArn"]
    assert provisioned.client("sns").get_topic_attributes(TopicArn=topic_arn)
    machine_arn = functions["DriverApiFunction"].environment["PAYMENT_STATE_MACHINE_ARN"]
    assert machine_arn == outputs["PaymentStateMachineArn"]
    described = provisioned.client("stepfunctions").describe_state_machine(
        stateMachineArn=machine_arn
    )
    assert described["type"] == "STANDARD"
    payments = functions["PaymentsFunction"].environment
    secrets = provisioned.client("secretsmanager")
    for key in ("WECHATPAY_SECRET_ID", "ALIPAY_SECRET_ID"):
        secret = json.loads(secrets.get_secret_value(SecretId=payments[key])["SecretString"])
        assert all(value == "" for value in secret.values())
    driver_secret = functions["DriverApiFunction"].environment["DRIVER_AUTH_SECRET_ID"]
    generated = json.loads(secrets.get_secret_value(SecretId=driver_secret)["SecretString"])
    assert len(generated["signing_key"]) == 64
    uploads = functions["OperatorApiFunction"].environment["UPLOADS_BUCKET"]
    assert provisioned.client("s3").head_bucket(Bucket=uploads)


def test_state_machine_definition_calls_the_payments_function_when_provisioned(provisioned):
    arn = provisioned.deployment.outputs["PaymentStateMachineArn"]
    definition = json.loads(
        provisioned.client("stepfunctions").describe_state_machine(stateMachineArn=arn)[
            "definition"
        ]
    )
    payments_name = provisioned.deployment.functions["PaymentsFunction"].function_name
    create = definition["States"]["CreatePrepayOrder"]
    assert create["Resource"].endswith(f":function:{payments_name}")
    wait = definition["States"]["WaitForPaid"]
    assert wait["Parameters"]["FunctionName"] == create["Resource"]


def test_user_pool_has_groups_client_and_operator_attribute_when_provisioned(provisioned):
    cognito = provisioned.client("cognito-idp")
    pool_id = provisioned.deployment.user_pool_id
    pool = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    attribute_names = {attribute["Name"] for attribute in pool["SchemaAttributes"]}
    assert "custom:operator_id" in attribute_names
    groups = {group["GroupName"] for group in cognito.list_groups(UserPoolId=pool_id)["Groups"]}
    assert groups == {"platform-admin", "operator-admin", "maintenance"}
    client = cognito.describe_user_pool_client(
        UserPoolId=pool_id, ClientId=provisioned.deployment.user_pool_client_id
    )["UserPoolClient"]
    assert client["ClientName"] == "OperatorDashboardClient"
    assert set(client["ExplicitAuthFlows"]) == {
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    }
    assert "ClientSecret" not in client
    assert "custom:operator_id" not in client["WriteAttributes"]


def test_http_routes_follow_the_contract_when_provisioned(provisioned):
    routes = {
        (route.method, route.path): (route.function, route.is_jwt_protected)
        for route in provisioned.deployment.http_routes
    }
    assert routes == {
        ("GET", "/health"): ("OperatorApiFunction", False),
        ("GET", "/openapi/operator.json"): ("OperatorApiFunction", False),
        ("POST", "/operator/auth/login"): ("OperatorApiFunction", False),
        ("POST", "/operator/auth/refresh"): ("OperatorApiFunction", False),
        ("ANY", "/operator/{proxy+}"): ("OperatorApiFunction", True),
        ("ANY", "/operator/reports/{proxy+}"): ("ReportsFunction", True),
        ("ANY", "/driver/{proxy+}"): ("DriverApiFunction", False),
        ("GET", "/openapi/driver.json"): ("DriverApiFunction", False),
        ("POST", "/payments/notify/{provider}"): ("PaymentsFunction", False),
    }


def test_websocket_routes_target_connect_and_router_when_provisioned(provisioned):
    websocket = provisioned.deployment.websocket
    assert websocket.targets == {
        "$connect": "WsConnectFunction",
        "$disconnect": "WsConnectFunction",
        "$default": "OcppRouterFunction",
    }
    assert websocket.two_way == frozenset({"$default"})


def test_iot_rule_is_stored_with_its_sql_and_lambda_action_when_provisioned(provisioned):
    rules = {rule.sql: rule for rule in provisioned.deployment.iot_rules}
    assert set(rules) == {
        "SELECT *, topic(2) AS gateway_id FROM 'gw/+/up'",
        "SELECT encode(*, 'base64') AS raw, topic(2) AS gateway_id FROM 'gw/+/raw'",
    }
    bridge = provisioned.deployment.functions["ModbusBridgeFunction"].function_name
    for rule in rules.values():
        assert rule.function == "ModbusBridgeFunction"
        stored = provisioned.client("iot").get_topic_rule(ruleName=rule.name)["rule"]
        assert stored["sql"] == rule.sql
        assert stored["actions"][0]["lambda"]["functionArn"].endswith(f":function:{bridge}")


def test_gateway_policy_limits_each_gateway_to_its_own_topics_when_provisioned(provisioned):
    name = provisioned.deployment.outputs["GatewayIotPolicyName"]
    document = json.loads(provisioned.client("iot").get_policy(policyName=name)["policyDocument"])
    resources = {statement["Action"]: statement["Resource"] for statement in document["Statement"]}
    assert resources["iot:Publish"] == [
        "arn:aws:iot:us-east-1:123456789012:topic/gw/${iot:Connection.Thing.ThingName}/up",
        "arn:aws:iot:us-east-1:123456789012:topic/gw/${iot:Connection.Thing.ThingName}/raw",
    ]
    assert resources["iot:Subscribe"].endswith(
        "topicfilter/gw/${iot:Connection.Thing.ThingName}/down"
    )


def test_schedules_are_the_housekeeping_minute_and_daily_reconciliation_when_provisioned(
    provisioned,
):
    schedules = {s.name: s for s in provisioned.deployment.schedules}
    assert {(s.expression, s.function) for s in schedules.values()} == {
        ("rate(1 minute)", "HousekeepingFunction"),
        ("cron(30 2 * * ? *)", "ReportsFunction"),
    }
    assert schedules["HousekeepingFunctionEveryMinute"].payload == {"job": "minute"}


def test_outputs_leave_out_what_has_no_local_counterpart_when_provisioned(provisioned):
    outputs = provisioned.deployment.outputs
    assert "OcppWebSocketUrl" not in outputs
    assert "DashboardUrl" not in outputs
    assert outputs["UserPoolId"] == provisioned.deployment.user_pool_id
    assert provisioned.seconds < 30


class _FakeLambda:
    """Stands in for moto's Lambda runner: records each payment step, answers like the real one."""

    def __init__(self) -> None:
        self.steps: list[str] = []
        self.task_tokens: dict[str, str] = {}
        self.lock = threading.Lock()

    def invoke(self, function: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        payload = json.loads(event) if isinstance(event, str) else event
        with self.lock:
            self.steps.append(payload["step"])
            if "task_token" in payload:
                self.task_tokens[payload["step"]] = payload["task_token"]
        return json.dumps({"step": payload["step"], "execution": payload["execution"]}), False, ""

    def wait_for_token(self, step: str, timeout_s: float = 20.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if step in self.task_tokens:
                    return self.task_tokens[step]
            time.sleep(0.05)
        raise AssertionError(f"no task token for {step}; steps so far {self.steps}")


def _wait_for_end(
    stepfunctions: Any, execution_arn: str, timeout_s: float = 20.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        described: dict[str, Any] = stepfunctions.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.05)
    raise AssertionError("execution still running")


def test_payment_workflow_refunds_and_fails_when_payment_never_arrives(provisioned, monkeypatch):
    fake = _FakeLambda()
    monkeypatch.setattr(
        LambdaFunction, "_invoke_lambda", lambda function, event=None: fake.invoke(function, event)
    )
    stepfunctions = provisioned.client("stepfunctions")
    execution_arn = stepfunctions.start_execution(
        stateMachineArn=provisioned.deployment.outputs["PaymentStateMachineArn"],
        name="session-unpaid-1",
        input=json.dumps({"session_id": "se-1", "prepay_fen": 400, "provider": "sandbox"}),
    )["executionArn"]

    token = fake.wait_for_token("wait_for_paid")
    stepfunctions.send_task_failure(
        taskToken=token, error="PaymentExpired", cause="order closed unpaid"
    )
    ended = _wait_for_end(stepfunctions, execution_arn)

    assert ended["status"] == "FAILED"
    assert ended["error"] == "PaymentSessionFailed"
    assert fake.steps == ["create_prepay_order", "wait_for_paid", "full_refund_or_cancel"]


def test_payment_workflow_runs_every_step_in_order_when_paid_and_ended(provisioned, monkeypatch):
    fake = _FakeLambda()
    monkeypatch.setattr(
        LambdaFunction, "_invoke_lambda", lambda function, event=None: fake.invoke(function, event)
    )
    stepfunctions = provisioned.client("stepfunctions")
    execution_arn = stepfunctions.start_execution(
        stateMachineArn=provisioned.deployment.outputs["PaymentStateMachineArn"],
        name="session-paid-1",
        input=json.dumps({"session_id": "se-2", "prepay_fen": 400, "provider": "sandbox"}),
    )["executionArn"]

    paid = fake.wait_for_token("wait_for_paid")
    stepfunctions.send_task_success(taskToken=paid, output=json.dumps({"paid_fen": 400}))
    ended = fake.wait_for_token("wait_for_session_end")
    stepfunctions.send_task_success(taskToken=ended, output=json.dumps({"energy_wh": 1200}))
    finished = _wait_for_end(stepfunctions, execution_arn)

    assert finished["status"] == "SUCCEEDED"
    assert fake.steps == [
        "create_prepay_order",
        "wait_for_paid",
        "remote_start",
        "wait_for_session_end",
        "settle_cost",
        "refund_unused",
        "share_profit",
    ]
    output = json.loads(finished["output"])
    assert output["results"]["wait_for_paid"] == {"paid_fen": 400}
    assert output["results"]["settle_cost"]["execution"] == execution_arn
