"""The Lambda runtime runs real handlers, directly and behind every path of moto's Lambda.

Embedded AWS is a moto server on a free port (as in the local stack); the runtime is
installed into moto, so Invoke, Step Functions tasks, SNS and DynamoDB Streams reach
the fake handler in tests/support/fake_handlers/runtime_probe.py.
"""

from __future__ import annotations

import io
import json
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.core.config import default_user_config
from moto.server import ThreadedMotoServer

from infra.local.deployment import FunctionConfig, LocalDeployment, WebSocketRoutes
from infra.local.lambda_runtime import LambdaRuntime, UnknownFunction
from infra.local.stack import merge_function_environment
from tests.support.fake_handlers import calls

REGION = "us-east-1"
HANDLER = "tests.support.fake_handlers.runtime_probe.lambda_handler"
PROBE = FunctionConfig(
    logical_id="ProbeFunction",
    function_name="probe-fn",
    handler=HANDLER,
    environment={"STAGE": "test"},
    memory_mb=512,
    timeout_s=7,
)
PROBE_ARN = f"arn:aws:lambda:{REGION}:123456789012:function:probe-fn"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port = server.get_host_and_port()[1]
    url = f"http://127.0.0.1:{port}"
    previous_sfn = dict(default_user_config.get("stepfunctions", {}))
    request = urllib.request.Request(  # moto's config API, as the local stack uses it
        f"{url}/moto-api/config",
        data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).close()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOTO_PORT", str(port))  # where moto's Step Functions calls Lambda
        patch.setenv("AWS_ENDPOINT_URL", url)
        try:
            yield url
        finally:
            default_user_config["stepfunctions"] = previous_sfn  # type: ignore[typeddict-item]
            server.stop()


def _client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.txt", "code runs from the repository")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def deployed(endpoint: str) -> str:
    iam = _client("iam")
    role: str = iam.create_role(
        RoleName="probe-role",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    _client("lambda").create_function(
        FunctionName="probe-fn",
        Runtime="python3.11",
        Role=role,
        Handler=HANDLER,
        Code={"ZipFile": _zip()},
        MemorySize=512,
        Timeout=7,
    )
    return role


@pytest.fixture
def runtime(deployed: str) -> Iterator[LambdaRuntime]:
    calls.clear()
    lambda_runtime = LambdaRuntime({PROBE.logical_id: PROBE}, max_workers=4)
    lambda_runtime.install_into_moto()
    try:
        yield lambda_runtime
    finally:
        lambda_runtime.remove_from_moto()
        lambda_runtime.shutdown()


def test_handler_gets_a_lambda_shaped_context_when_invoked_directly(
    runtime: LambdaRuntime,
) -> None:
    result = runtime.invoke("ProbeFunction", {})

    assert result.function_error is None
    payload = result.payload
    assert payload["function_name"] == "probe-fn"
    assert payload["memory_limit_in_mb"] == 512
    assert payload["aws_request_id"] == result.request_id
    assert payload["invoked_function_arn"] == PROBE_ARN
    assert 6000 < payload["remaining_ms"] <= 7000
    assert runtime.invocations["ProbeFunction"] == 1


def test_function_found_when_named_by_physical_name_or_arn(runtime: LambdaRuntime) -> None:
    assert runtime.function("probe-fn") is PROBE
    assert runtime.function(PROBE_ARN) is PROBE
    with pytest.raises(UnknownFunction):
        runtime.function("nope")


def test_lambda_error_object_returned_when_the_handler_raises(runtime: LambdaRuntime) -> None:
    result = runtime.invoke("ProbeFunction", {"raise": "no such pile"})

    assert result.function_error == "Unhandled"
    assert result.payload["errorType"] == "LookupError"
    assert result.payload["errorMessage"] == "no such pile"
    assert result.payload["requestId"] == result.request_id
    assert any("runtime_probe.py" in line for line in result.payload["stackTrace"])
    assert runtime.errors["ProbeFunction"] == 1


def test_marshal_error_reported_when_the_result_is_not_json(runtime: LambdaRuntime) -> None:
    result = runtime.invoke("ProbeFunction", {"marshal": True})

    assert result.function_error == "Unhandled"
    assert result.payload["errorType"] == "Runtime.MarshalError"


def test_decimals_serialised_when_the_handler_returns_dynamodb_numbers(
    runtime: LambdaRuntime,
) -> None:
    result = runtime.invoke("ProbeFunction", {"decimal": True})

    assert result.payload == {"whole": 12, "part": 1.5}


def test_boto3_invoke_runs_the_real_handler_when_installed_into_moto(
    runtime: LambdaRuntime,
) -> None:
    response = _client("lambda").invoke(FunctionName="probe-fn", Payload=b'{"amount_fen": 21}')

    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == {"amount_fen": 42}
    assert calls.events("probe") == [{"amount_fen": 21}]


def test_boto3_invoke_reports_unhandled_when_the_handler_raises(runtime: LambdaRuntime) -> None:
    response = _client("lambda").invoke(FunctionName="probe-fn", Payload=b'{"raise": "x"}')

    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "LookupError"


def test_event_invoke_answers_202_and_runs_the_handler_when_invoked_async(
    runtime: LambdaRuntime,
) -> None:
    response = _client("lambda").invoke(
        FunctionName="probe-fn", InvocationType="Event", Payload=b'{"amount_fen": 1}'
    )

    assert response["StatusCode"] == 202
    assert calls.wait_for("probe") == [{"amount_fen": 1}]


def _run_state_machine(definition: dict[str, Any], execution_input: dict[str, Any]) -> Any:
    sfn = _client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"probe-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/probe-role",
    )["stateMachineArn"]
    execution = sfn.start_execution(
        stateMachineArn=machine, name=f"run-{uuid.uuid4().hex}", input=json.dumps(execution_input)
    )["executionArn"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.1)
    raise AssertionError("the execution did not finish")


def test_step_functions_tasks_reach_the_handler_including_task_tokens(
    runtime: LambdaRuntime,
) -> None:
    definition = {
        "StartAt": "Double",
        "States": {
            "Double": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": "probe-fn",
                    "Payload": {"amount_fen.$": "$.amount_fen"},
                },
                "OutputPath": "$.Payload",
                "Next": "WaitForPayment",
            },
            "WaitForPayment": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {
                    "FunctionName": "probe-fn",
                    "Payload": {"task_token.$": "$$.Task.Token", "amount_fen.$": "$.amount_fen"},
                },
                "End": True,
            },
        },
    }

    described = _run_state_machine(definition, {"amount_fen": 100})

    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"paid_fen": 200}


def test_step_functions_catch_sees_the_error_type_when_the_handler_raises(
    runtime: LambdaRuntime,
) -> None:
    definition = {
        "StartAt": "Fail",
        "States": {
            "Fail": {
                "Type": "Task",
                "Resource": PROBE_ARN,
                "Catch": [{"ErrorEquals": ["LookupError"], "Next": "Refund"}],
                "End": True,
            },
            "Refund": {"Type": "Pass", "Result": {"refunded": True}, "End": True},
        },
    }

    described = _run_state_machine(definition, {"raise": "declined"})

    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"refunded": True}


def test_sns_subscription_delivers_to_the_handler_when_a_message_is_published(
    runtime: LambdaRuntime,
) -> None:
    sns = _client("sns")
    topic = sns.create_topic(Name=f"faults-{uuid.uuid4().hex[:6]}")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=PROBE_ARN)

    sns.publish(TopicArn=topic, Message="work order WO-1")

    (event,) = calls.wait_for("probe")
    assert event["Records"][0]["Sns"]["Message"] == "work order WO-1"


def test_dynamodb_stream_delivers_to_the_handler_when_an_item_is_written(
    runtime: LambdaRuntime,
) -> None:
    dynamodb = _client("dynamodb")
    table = dynamodb.create_table(
        TableName=f"stream-{uuid.uuid4().hex[:6]}",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]
    _client("lambda").create_event_source_mapping(
        EventSourceArn=table["LatestStreamArn"], FunctionName="probe-fn", StartingPosition="LATEST"
    )

    dynamodb.put_item(TableName=table["TableName"], Item={"pk": {"S": "PILE#CP-1"}})

    (event,) = calls.wait_for("probe")
    record = event["Records"][0]
    assert record["eventName"] == "INSERT"
    assert record["dynamodb"]["Keys"] == {"pk": {"S": "PILE#CP-1"}}


def test_moto_invokes_its_own_way_again_when_the_runtime_is_removed(deployed: str) -> None:
    calls.clear()
    lambda_runtime = LambdaRuntime({PROBE.logical_id: PROBE}, max_workers=1)
    lambda_runtime.install_into_moto()
    lambda_runtime.remove_from_moto()
    lambda_runtime.shutdown()

    from moto.awslambda.models import LambdaFunction

    assert LambdaFunction.invoke.__module__ == "moto.awslambda.models"
    assert LambdaFunction._invoke_lambda.__module__ == "moto.awslambda.models"


def test_one_environment_for_all_functions_with_a_warning_when_they_disagree(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def function(logical_id: str, environment: dict[str, str]) -> FunctionConfig:
        return FunctionConfig(logical_id, logical_id, HANDLER, environment, 256, 10)

    deployment = LocalDeployment(
        region=REGION,
        endpoint_url="http://127.0.0.1:1",
        stack_name="local",
        functions={
            "AFunction": function("AFunction", {"TABLE": "t1", "LOG_LEVEL": "INFO"}),
            "BFunction": function("BFunction", {"TABLE": "t1", "LOG_LEVEL": "DEBUG", "X": "1"}),
        },
        http_routes=[],
        websocket=WebSocketRoutes(targets={}),
        iot_rules=[],
        schedules=[],
        tables={},
        user_pool_id="pool",
        user_pool_client_id="client",
        outputs={},
    )

    with caplog.at_level("WARNING", logger="local.stack"):
        merged = merge_function_environment(deployment)

    assert merged == {"TABLE": "t1", "LOG_LEVEL": "INFO", "X": "1"}
    assert len(caplog.records) == 1
    assert "LOG_LEVEL" in caplog.records[0].getMessage()
