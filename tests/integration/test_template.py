"""template.yaml: lint-clean, expandable offline, and true to the contracts it serves."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from infra.local.provision import expand_sam
from infra.template import ROOT, TEMPLATE_PATH, load_template, resources_of_type, table_env_vars

REGION = "us-east-1"
CFN_LINT = Path(sys.executable).with_name("cfn-lint")
CONTRACT_FUNCTIONS = {
    "WsConnectFunction": "ws_connect",
    "OcppRouterFunction": "ocpp_router",
    "OperatorApiFunction": "operator_api",
    "ReportsFunction": "reports",
    "DriverApiFunction": "driver_api",
    "PaymentsFunction": "payments",
    "FaultsFunction": "faults",
    "ModbusBridgeFunction": "modbus_bridge",
    "HousekeepingFunction": "housekeeping",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def expanded(template) -> dict[str, Any]:
    return expand_sam(template, ROOT, REGION, "s3://artifacts/code.zip")


def test_cfn_lint_reports_nothing_when_run_on_the_template():
    completed = subprocess.run(
        [str(CFN_LINT), str(TEMPLATE_PATH)],
        check=False,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout == ""


def test_samtranslator_expands_every_serverless_resource_when_given_a_region(expanded):
    types = {resource["Type"] for resource in expanded["Resources"].values()}
    assert not {t for t in types if t.startswith("AWS::Serverless::")}
    functions = resources_of_type(expanded, "AWS::Lambda::Function")
    assert set(functions) == set(CONTRACT_FUNCTIONS)
    assert "AWS::StepFunctions::StateMachine" in types
    assert "AWS::ApiGatewayV2::Api" in types


def test_every_function_follows_the_handler_contract_when_declared(template):
    functions = resources_of_type(template, "AWS::Serverless::Function")
    assert set(functions) == set(CONTRACT_FUNCTIONS)
    for logical_id, folder in CONTRACT_FUNCTIONS.items():
        resource = functions[logical_id]
        props = resource["Properties"]
        assert props["Handler"] == f"functions.{folder}.handler.lambda_handler"
        assert props["CodeUri"] == "."
        assert resource["Metadata"] == {"BuildMethod": "makefile"}
    globals_ = template["Globals"]["Function"]
    assert globals_["Runtime"] == "python3.11"
    assert globals_["Architectures"] == ["arm64"]


def test_sam_build_makefile_has_a_target_per_function_when_dry_run(tmp_path):
    for logical_id, folder in CONTRACT_FUNCTIONS.items():
        completed = subprocess.run(
            ["make", "-n", f"build-{logical_id}", f"ARTIFACTS_DIR={tmp_path}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert f"cp -R functions/{folder} " in completed.stdout
        assert "-r functions/requirements.txt" in completed.stdout
        assert "manylinux2014_aarch64" in completed.stdout


def test_function_requirements_pin_what_pyproject_pins_when_compared():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    lines = (ROOT / "functions" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    pins = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert pins == pyproject["project"]["dependencies"]
    makefile = (ROOT / "infra" / "sam-build.mk").read_text(encoding="utf-8")
    (sdist_only,) = re.findall(r"^SAM_SDIST_ONLY := (.+)$", makefile, flags=re.MULTILINE)
    assert set(sdist_only.split()) <= set(pins)


def _data_model_tables() -> list[dict[str, str]]:
    text = (ROOT / "docs" / "data-model.md").read_text(encoding="utf-8")
    section = text.split("## Tables", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "Table" in line]
    columns = ("table", "env", "keys", "indexes", "stream", "ttl")
    return [
        dict(
            zip(
                columns,
                (cell.strip().strip("`") for cell in row.strip("|").split("|")),
                strict=True,
            )
        )
        for row in rows
        if not row.startswith("| table")
    ]


def test_every_table_of_the_data_model_exists_with_its_keys_when_declared(template):
    documented = _data_model_tables()
    assert len(documented) == 7
    env_vars = table_env_vars(template)
    for row in documented:
        props = template["Resources"][row["table"]]["Properties"]
        assert env_vars[row["env"]] == row["table"]
        keys = [key["AttributeName"] for key in props["KeySchema"]]
        assert keys == [key.strip() for key in row["keys"].split(",")]
        indexes = {index["IndexName"]: index for index in props.get("GlobalSecondaryIndexes", [])}
        documented_indexes = re.findall(
            r"(GSI\d)(?: \((\w+), (\w+)(; keys only)?[^)]*\))?", row["indexes"]
        )
        assert set(indexes) == {name for name, *_ in documented_indexes}
        for name, pk, sk, keys_only in documented_indexes:
            schema = [key["AttributeName"] for key in indexes[name]["KeySchema"]]
            assert schema == [pk or f"{name.lower()}pk", sk or f"{name.lower()}sk"]
            projection = "KEYS_ONLY" if keys_only else "ALL"
            assert indexes[name]["Projection"] == {"ProjectionType": projection}, name
        stream = props.get("StreamSpecification", {}).get("StreamViewType", "-")
        assert stream == row["stream"]
        ttl = props.get("TimeToLiveSpecification", {}).get("AttributeName", "-")
        assert ttl == row["ttl"].split(" ")[0].strip("`")


def _asl() -> dict[str, Any]:
    path = ROOT / "infra" / "statemachines" / "payment_session.asl.json"
    definition: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return definition


def test_every_payment_task_names_its_step_and_execution_and_is_caught_when_defined(template):
    states = _asl()["States"]
    tasks = {name: state for name, state in states.items() if state["Type"] == "Task"}
    assert set(tasks) == {
        "CreatePrepayOrder",
        "WaitForPaid",
        "RemoteStart",
        "WaitForSessionEnd",
        "SettleCost",
        "RefundUnused",
        "ShareProfit",
        "FullRefundOrCancel",
    }
    for name, state in tasks.items():
        is_callback = state["Resource"].endswith(".waitForTaskToken")
        payload = state["Parameters"]["Payload"] if is_callback else state["Parameters"]
        assert payload["execution.$"] == "$$.Execution.Id", name
        assert re.fullmatch(r"[a-z_]+", payload["step"]), name
        assert ("task_token.$" in payload) == is_callback, name
        assert state["Catch"][-1]["ErrorEquals"] == ["States.ALL"], name
        if is_callback:
            assert state["TimeoutSeconds"] > 0
    compensations = {state["Catch"][-1]["Next"] for state in tasks.values()}
    assert compensations == {"FullRefundOrCancel", "CompensationFailed"}
    assert states["FullRefundOrCancel"]["Next"] == "Failed"
    assert (states["Failed"]["Type"], states["Failed"]["Error"]) == ("Fail", "PaymentSessionFailed")


def test_every_asl_substitution_is_provided_by_the_template_when_deployed(template):
    text = (ROOT / "infra" / "statemachines" / "payment_session.asl.json").read_text("utf-8")
    variables = set(re.findall(r"\$\{(\w+)\}", text))
    machine = template["Resources"]["PaymentStateMachine"]["Properties"]
    assert variables == set(machine["DefinitionSubstitutions"])
    assert machine["Type"] == "STANDARD"


def test_websocket_api_routes_every_frame_to_default_when_declared(template):
    resources = template["Resources"]
    api = resources["WebSocketApi"]["Properties"]
    assert api["ProtocolType"] == "WEBSOCKET"
    assert api["RouteSelectionExpression"] == "\\$default"
    routes = {
        res["Properties"]["RouteKey"]: logical_id
        for logical_id, res in resources_of_type(template, "AWS::ApiGatewayV2::Route").items()
    }
    assert set(routes) == {"$connect", "$disconnect", "$default"}
    responses = resources_of_type(template, "AWS::ApiGatewayV2::RouteResponse")
    answered = {res["Properties"]["RouteId"]["Ref"] for res in responses.values()}
    assert answered == {routes["$connect"], routes["$default"]}


def test_http_api_checks_cognito_jwts_for_the_operator_dashboard_when_declared(template):
    auth = template["Resources"]["HttpApi"]["Properties"]["Auth"]
    jwt = auth["Authorizers"][auth["DefaultAuthorizer"]]["JwtConfiguration"]
    assert jwt["issuer"] == {
        "Fn::Sub": "https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}"
    }
    assert jwt["audience"] == [{"Ref": "OperatorDashboardClient"}]
