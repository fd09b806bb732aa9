"""Provision template.yaml onto embedded AWS (a moto server) for the local stack and the tests.

moto's CloudFormation skips ``AWS::Serverless::*`` and several other types, so the template is
deployed in five steps, every value still read from the template (DESIGN.md, "Provisioning from
template.yaml"):

1. Expand the SAM template offline with samtranslator. Every CodeUri points at one small zip
   in moto's S3 (moto never runs it: the local stack runs the real handlers), and the state
   machine's definition file is inlined.
2. Create through the API, before the stack, what moto's CloudFormation cannot create and the
   stack refers to (Cognito pool, groups and client; Secrets Manager secrets), and put their real
   ids in place of their Ref/GetAtt everywhere else.
3. Leave out what has no moto counterpart (API Gateway v2, CloudFront, bucket policies, ...);
   their Ref/GetAtt become placeholders. The local stack plays those parts itself, from the HTTP
   and WebSocket routes returned here. ``WS_MANAGEMENT_ENDPOINT`` gets the local door's URL.
4. ``create_stack`` with the rest (tables, functions, roles, queues, topic, buckets, stream
   mappings, schedule rules, log groups).
5. After the stack: the state machine (moto's CloudFormation puts it in a backend the Step
   Functions API does not see once ``execute_state_machine`` is on, so it is created by API,
   its DefinitionSubstitutions resolved here), the IoT topic rules, table TTLs.
"""

from __future__ import annotations

import copy
import io
import json
import re
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from infra.local.deployment import (
    FunctionConfig,
    HttpRoute,
    IotRule,
    LocalDeployment,
    Schedule,
    WebSocketRoutes,
)
from infra.template import TEMPLATE_PATH, load_template, table_env_vars, ttl_attribute

DEFAULT_WS_MANAGEMENT_ENDPOINT = "http://127.0.0.1:9000/local"
ARTIFACT_KEY = "code.zip"
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"
STACK_WAIT_S = 60.0
# Ref/GetAtt of a resource left out (API Gateway v2, CloudFront ...) become this + its id.
PLACEHOLDER_PREFIX = "left-out-"

# Types moto 5.2.5's CloudFormation creates, as far as this template uses them
# (tests/integration/test_provision.py checks the list against moto's own model map).
CLOUDFORMATION_TYPES = frozenset(
    {
        "AWS::DynamoDB::Table",
        "AWS::Events::Rule",
        "AWS::IAM::Policy",
        "AWS::IAM::Role",
        "AWS::KMS::Key",
        "AWS::Lambda::EventSourceMapping",
        "AWS::Lambda::Function",
        "AWS::Lambda::Permission",
        "AWS::Logs::LogGroup",
        "AWS::S3::Bucket",
        "AWS::SNS::Topic",
        "AWS::SQS::Queue",
        "AWS::SSM::Parameter",
    }
)
# Created through the API before the stack, in this order (later ones refer to earlier ones).
BEFORE_STACK_TYPES = (
    "AWS::Cognito::UserPool",
    "AWS::Cognito::UserPoolClient",
    "AWS::Cognito::UserPoolGroup",
    "AWS::SecretsManager::Secret",
    # moto's CloudFormation creates IoT policies but answers Ref with no name.
    "AWS::IoT::Policy",
)
# Created through the API after the stack (they need the functions' ARNs).
AFTER_STACK_TYPES = ("AWS::StepFunctions::StateMachine", "AWS::IoT::TopicRule")

_SUB_VARIABLE = re.compile(r"\$\{([^}]+)\}")
_INTEGRATION_TARGET = re.compile(r"^integrations/\$\{([A-Za-z0-9]+)\}$")
_FUNCTION_ARN_IN_URI = re.compile(r"\$\{([A-Za-z0-9]+)\.Arn\}")
_RULE_NAME = re.compile(r"[^A-Za-z0-9_]")


class ProvisioningError(RuntimeError):
    """The template could not be put onto embedded AWS."""


@dataclass(slots=True)
class _Stand:
    """The local value of a resource that is not in the moto stack (or not yet)."""

    ref: str
    attributes: dict[str, str] = field(default_factory=dict)
    is_placeholder: bool = False

    def get_att(self, logical_id: str, attribute: str) -> str:
        if attribute in self.attributes:
            return self.attributes[attribute]
        if self.is_placeholder:
            return f"{self.ref}-{attribute.lower().replace('.', '-')}"
        raise ProvisioningError(f"no local value for {logical_id}.{attribute}")


@dataclass(slots=True)
class _Context:
    region: str
    account_id: str
    stack_name: str
    parameters: dict[str, str]
    stands: dict[str, _Stand] = field(default_factory=dict)
    physical_ids: dict[str, str] = field(default_factory=dict)  # stack logical id -> physical
    resource_types: dict[str, str] = field(default_factory=dict)

    def pseudo(self, name: str) -> str | None:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": URL_SUFFIX,
        }.get(name)


def provision(
    endpoint_url: str,
    region: str = "us-east-1",
    stack_name: str = "charging-local",
    template_path: Path = TEMPLATE_PATH,
    *,
    ws_management_endpoint: str = DEFAULT_WS_MANAGEMENT_ENDPOINT,
    environment_overrides: Mapping[str, str] | None = None,
) -> LocalDeployment:
    """Deploy the template on the moto server at ``endpoint_url``; describe what was deployed.

    ``environment_overrides`` replaces the value of a variable in every function whose template
    environment declares it (``WS_MANAGEMENT_ENDPOINT`` is always replaced by
    ``ws_management_endpoint``). The caller started the server (Step Functions execution on) and
    set fake credentials.

    Raises:
        ProvisioningError: the template uses something this cannot place, or the stack failed.
    """
    clients = _Clients(endpoint_url, region)
    source = load_template(template_path)
    context = _Context(
        region=region,
        account_id=clients.get("sts").get_caller_identity()["Account"],
        stack_name=stack_name,
        parameters=_parameter_defaults(source),
    )
    artifact_uri = _upload_artifact(clients, f"{stack_name}-artifacts".lower())
    translated = expand_sam(source, template_path.parent, region, artifact_uri)
    resources: dict[str, Any] = translated["Resources"]
    context.resource_types = {lid: res["Type"] for lid, res in resources.items()}

    left_out = _stand_in_for_left_out(resources, context)
    _stand_in_for_after_stack(resources, context)
    _create_before_stack(resources, context, clients)

    overrides = {"WS_MANAGEMENT_ENDPOINT": ws_management_endpoint, **(environment_overrides or {})}
    stack_template = _stack_template(translated, context, left_out, overrides)
    _create_stack(clients, stack_name, stack_template)
    for summary in _stack_resources(clients, stack_name):
        context.physical_ids[summary["LogicalResourceId"]] = summary["PhysicalResourceId"]

    _set_table_ttls(source, context, clients)
    state_machines = _create_state_machines(resources, context, clients)
    iot_rules = _create_topic_rules(resources, context, clients)
    outputs = _stack_outputs(clients, stack_name)
    outputs.update({f"{lid}Arn": arn for lid, arn in state_machines.items()})
    return LocalDeployment(
        region=region,
        endpoint_url=endpoint_url,
        stack_name=stack_name,
        functions=_function_configs(source, context, clients),
        http_routes=http_routes(source),
        websocket=websocket_routes(source),
        iot_rules=iot_rules,
        schedules=schedules(source),
        tables={env: context.physical_ids[lid] for env, lid in table_env_vars(source).items()},
        user_pool_id=_only_one(context, "AWS::Cognito::UserPool").ref,
        user_pool_client_id=_only_one(context, "AWS::Cognito::UserPoolClient").ref,
        outputs=outputs,
    )


# --- reading the SAM template (no AWS involved) --------------------------------------------


def http_routes(template: dict[str, Any]) -> list[HttpRoute]:
    """Every SAM ``HttpApi`` event of the template's functions, in template order."""
    routes: list[HttpRoute] = []
    for function_id, event in _function_events(template, "HttpApi"):
        props = event.get("Properties", {})
        authorizer = _route_authorizer(template, props)
        routes.append(
            HttpRoute(
                method=str(props.get("Method", "ANY")).upper(),
                path=str(props.get("Path", "$default")),
                function=function_id,
                is_jwt_protected=authorizer is not None,
            )
        )
    return routes


def websocket_routes(template: dict[str, Any]) -> WebSocketRoutes:
    """Route key -> function for the template's WebSocket API (its ApiGatewayV2 routes).

    ``two_way`` holds the message routes ($connect and $disconnect carry no frames) that have a
    route response, i.e. whose function's return body goes back to the pile.
    """
    resources = template["Resources"]
    targets: dict[str, str] = {}
    with_response: set[str] = set()
    for resource in resources.values():
        if resource["Type"] == "AWS::ApiGatewayV2::RouteResponse":
            with_response.add(_ref_target(resource["Properties"]["RouteId"]))
    two_way: set[str] = set()
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::ApiGatewayV2::Route":
            continue
        props = resource["Properties"]
        api = resources[_ref_target(props["ApiId"])]
        if api["Properties"].get("ProtocolType") != "WEBSOCKET":
            continue
        route_key = str(props["RouteKey"])
        integration = resources[_integration_of(props.get("Target"), logical_id)]
        targets[route_key] = _function_of_integration(integration, logical_id)
        is_message_route = route_key not in ("$connect", "$disconnect")
        if is_message_route and logical_id in with_response:
            two_way.add(route_key)
    return WebSocketRoutes(targets=targets, two_way=frozenset(two_way))


def schedules(template: dict[str, Any]) -> list[Schedule]:
    """Every enabled SAM ``Schedule`` event; the name is the rule's logical id."""
    found: list[Schedule] = []
    for function_id, event_id, event in _function_events_with_ids(template, "Schedule"):
        props = event.get("Properties", {})
        if props.get("Enabled") is False or props.get("State") == "DISABLED":
            continue
        payload = json.loads(props["Input"]) if "Input" in props else {}
        found.append(
            Schedule(
                name=f"{function_id}{event_id}",
                expression=str(props["Schedule"]),
                function=function_id,
                payload=payload,
            )
        )
    return found


def _function_events_with_ids(
    template: dict[str, Any], event_type: str
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for function_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event_id, event in resource.get("Properties", {}).get("Events", {}).items():
            if event.get("Type") == event_type:
                yield function_id, event_id, event


def _function_events(
    template: dict[str, Any], event_type: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    for function_id, _event_id, event in _function_events_with_ids(template, event_type):
        yield function_id, event


def _route_authorizer(template: dict[str, Any], props: dict[str, Any]) -> str | None:
    """The JWT authorizer protecting one HttpApi event, or None when the route is open."""
    api_id = _ref_target(props["ApiId"]) if "ApiId" in props else None
    api_auth: dict[str, Any] = {}
    if api_id is not None:
        api_auth = template["Resources"][api_id].get("Properties", {}).get("Auth", {})
    name = props.get("Auth", {}).get("Authorizer", api_auth.get("DefaultAuthorizer"))
    if name is None or name in ("NONE", "AWS_IAM"):
        return None
    authorizer = api_auth.get("Authorizers", {}).get(name)
    if authorizer is None:
        raise ProvisioningError(f"route {props.get('Path')} names unknown authorizer {name}")
    return str(name) if "JwtConfiguration" in authorizer else None


def _integration_of(target: Any, route_id: str) -> str:
    if isinstance(target, dict) and isinstance(target.get("Fn::Sub"), str):
        match = _INTEGRATION_TARGET.match(target["Fn::Sub"])
        if match:
            return match.group(1)
    if isinstance(target, dict) and "Fn::Join" in target:
        _separator, parts = target["Fn::Join"]
        if len(parts) == 2 and parts[0] == "integrations":
            return _ref_target(parts[1])
    raise ProvisioningError(f"{route_id}: Target must be integrations/<integration>")


def _function_of_integration(integration: dict[str, Any], route_id: str) -> str:
    uri = integration["Properties"].get("IntegrationUri")
    if isinstance(uri, dict) and isinstance(uri.get("Fn::Sub"), str):
        match = _FUNCTION_ARN_IN_URI.search(uri["Fn::Sub"])
        if match:
            return match.group(1)
    raise ProvisioningError(f"{route_id}: the integration does not name a function's Arn")


def _ref_target(node: Any) -> str:
    if isinstance(node, dict) and isinstance(node.get("Ref"), str):
        return str(node["Ref"])
    raise ProvisioningError(f"expected a Ref, got {node!r}")


def _parameter_defaults(template: dict[str, Any]) -> dict[str, str]:
    return {
        name: str(spec["Default"])
        for name, spec in template.get("Parameters", {}).items()
        if "Default" in spec
    }


def expand_sam(
    template: dict[str, Any], base_dir: Path, region: str, artifact_uri: str
) -> dict[str, Any]:
    """The plain CloudFormation samtranslator makes of the template, offline.

    Every function's code is ``artifact_uri``; state machine definition files are inlined.
    """
    return _translate(_prepare_sam(template, base_dir, artifact_uri), region)


def _prepare_sam(template: dict[str, Any], base_dir: Path, artifact_uri: str) -> dict[str, Any]:
    """A copy of the SAM template with code in moto's S3 and definitions inlined."""
    prepared = copy.deepcopy(template)
    for resource in prepared["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = artifact_uri
        elif resource["Type"] == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            uri = props.pop("DefinitionUri")
            if not isinstance(uri, str):
                raise ProvisioningError("DefinitionUri must be a path to a local ASL file")
            props["Definition"] = json.loads((base_dir / uri).read_text(encoding="utf-8"))
    return prepared


def _translate(template: dict[str, Any], region: str) -> dict[str, Any]:
    metrics = Metrics("ServerlessTransform", DummyMetricsPublisher())
    translator = Translator(
        None, Parser(), boto_session=boto3.session.Session(region_name=region), metrics=metrics
    )
    translated: dict[str, Any] = translator.translate(
        template, parameter_values={}, get_managed_policy_map=dict
    )
    metrics.publish()
    return translated


# --- standing in for resources that are not in the stack ----------------------------------


def _stand_in_for_left_out(resources: dict[str, Any], context: _Context) -> set[str]:
    handled = CLOUDFORMATION_TYPES | set(BEFORE_STACK_TYPES) | set(AFTER_STACK_TYPES)
    left_out = {lid for lid, res in resources.items() if res["Type"] not in handled}
    for logical_id in left_out:
        context.stands[logical_id] = _Stand(
            ref=f"{PLACEHOLDER_PREFIX}{logical_id.lower()}", is_placeholder=True
        )
    return left_out


def _stand_in_for_after_stack(resources: dict[str, Any], context: _Context) -> None:
    prefix = f"arn:{PARTITION}"
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::StepFunctions::StateMachine":
            name = _resolve(
                props.get("StateMachineName", f"{context.stack_name}-{logical_id}"), context
            )
            arn = f"{prefix}:states:{context.region}:{context.account_id}:stateMachine:{name}"
            context.stands[logical_id] = _Stand(ref=arn, attributes={"Arn": arn, "Name": name})
        elif resource["Type"] == "AWS::IoT::TopicRule":
            default_name = f"{context.stack_name}_{logical_id}"
            name = _RULE_NAME.sub("_", _resolve(props.get("RuleName", default_name), context))
            arn = f"{prefix}:iot:{context.region}:{context.account_id}:rule/{name}"
            context.stands[logical_id] = _Stand(ref=name, attributes={"Arn": arn})


def _create_before_stack(resources: dict[str, Any], context: _Context, clients: _Clients) -> None:
    creators: dict[str, Callable[[str, dict[str, Any], _Context, _Clients], _Stand]] = {
        "AWS::Cognito::UserPool": _create_user_pool,
        "AWS::Cognito::UserPoolClient": _create_user_pool_client,
        "AWS::Cognito::UserPoolGroup": _create_user_pool_group,
        "AWS::SecretsManager::Secret": _create_secret,
        "AWS::IoT::Policy": _create_iot_policy,
    }
    for resource_type in BEFORE_STACK_TYPES:
        for logical_id, resource in resources.items():
            if resource["Type"] == resource_type:
                props = _resolve(resource.get("Properties", {}), context)
                context.stands[logical_id] = creators[resource_type](
                    logical_id, props, context, clients
                )


def _create_user_pool(
    logical_id: str, props: dict[str, Any], context: _Context, clients: _Clients
) -> _Stand:
    request = dict(props)
    request["PoolName"] = request.pop("UserPoolName", f"{context.stack_name}-{logical_id}")
    pool = clients.get("cognito-idp").create_user_pool(**request)["UserPool"]
    provider = f"cognito-idp.{context.region}.{URL_SUFFIX}/{pool['Id']}"
    return _Stand(
        ref=pool["Id"],
        attributes={
            "Arn": pool["Arn"],
            "ProviderName": provider,
            "ProviderURL": f"https://{provider}",
            "UserPoolId": pool["Id"],
        },
    )


def _create_user_pool_client(
    logical_id: str, props: dict[str, Any], context: _Context, clients: _Clients
) -> _Stand:
    request = {"ClientName": logical_id, **props}
    client = clients.get("cognito-idp").create_user_pool_client(**request)["UserPoolClient"]
    return _Stand(ref=client["ClientId"], attributes={"ClientId": client["ClientId"]})


def _create_user_pool_group(
    logical_id: str, props: dict[str, Any], context: _Context, clients: _Clients
) -> _Stand:
    request = {"GroupName": logical_id, **props}
    clients.get("cognito-idp").create_group(**request)
    return _Stand(ref=request["GroupName"])


def _create_secret(
    logical_id: str, props: dict[str, Any], context: _Context, clients: _Clients
) -> _Stand:
    secretsmanager = clients.get("secretsmanager")
    request: dict[str, Any] = {
        "Name": props.get("Name", f"{context.stack_name}-{logical_id}"),
        "Description": props.get("Description", ""),
    }
    if "SecretString" in props:
        request["SecretString"] = props["SecretString"]
    elif "GenerateSecretString" in props:
        request["SecretString"] = _generated_secret(props["GenerateSecretString"], secretsmanager)
    arn = secretsmanager.create_secret(**request)["ARN"]
    return _Stand(ref=arn, attributes={"Id": arn})


def _create_iot_policy(
    logical_id: str, props: dict[str, Any], context: _Context, clients: _Clients
) -> _Stand:
    name = props.get("PolicyName", f"{context.stack_name}-{logical_id}")
    document = props["PolicyDocument"]
    policy = clients.get("iot").create_policy(
        policyName=name,
        policyDocument=document if isinstance(document, str) else json.dumps(document),
    )
    return _Stand(ref=name, attributes={"Arn": policy["policyArn"], "Id": name})


def _generated_secret(spec: dict[str, Any], secretsmanager: Any) -> str:
    options = (
        "PasswordLength",
        "ExcludeCharacters",
        "ExcludeNumbers",
        "ExcludePunctuation",
        "ExcludeUppercase",
        "ExcludeLowercase",
        "IncludeSpace",
        "RequireEachIncludedType",
    )
    request = {key: spec[key] for key in options if key in spec}
    password = str(secretsmanager.get_random_password(**request)["RandomPassword"])
    if "SecretStringTemplate" not in spec:
        return password
    document = json.loads(spec["SecretStringTemplate"])
    document[spec["GenerateStringKey"]] = password
    return json.dumps(document)


# --- the stack --------------------------------------------------------------------------------


def _stack_template(
    translated: dict[str, Any],
    context: _Context,
    left_out: set[str],
    env_overrides: Mapping[str, str],
) -> dict[str, Any]:
    """The template moto's CloudFormation gets: supported types only, stand-ins substituted."""
    kept = {
        lid: res
        for lid, res in translated["Resources"].items()
        if res["Type"] in CLOUDFORMATION_TYPES
    }
    dropped = set(translated["Resources"]) - set(kept)
    resources: dict[str, Any] = {}
    for logical_id, kept_resource in kept.items():
        resource = _substitute(kept_resource, context.stands)
        depends_on = resource.get("DependsOn")
        if isinstance(depends_on, str):
            depends_on = [depends_on]
        if depends_on is not None:
            remaining = [lid for lid in depends_on if lid not in dropped]
            if remaining:
                resource["DependsOn"] = remaining
            else:
                del resource["DependsOn"]
        if resource["Type"] == "AWS::Lambda::Function":
            variables = resource["Properties"].get("Environment", {}).get("Variables", {})
            for name, value in env_overrides.items():
                if name in variables:
                    variables[name] = value
        resources[logical_id] = resource
    outputs = {
        name: _substitute(output, context.stands)
        for name, output in translated.get("Outputs", {}).items()
        if not (_referenced_ids(output["Value"]) & left_out)
    }
    stack = {key: value for key, value in translated.items() if key not in ("Resources", "Outputs")}
    stack["Resources"] = resources
    if outputs:
        stack["Outputs"] = outputs
    return stack


def _create_stack(clients: _Clients, stack_name: str, template: dict[str, Any]) -> None:
    cloudformation = clients.get("cloudformation")
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(template),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    deadline = time.monotonic() + STACK_WAIT_S
    while True:
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        status = str(stack["StackStatus"])
        if status == "CREATE_COMPLETE":
            return
        if not status.endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            reason = stack.get("StackStatusReason", "")
            raise ProvisioningError(f"stack {stack_name} ended in {status}: {reason}")
        time.sleep(0.05)


def _stack_resources(clients: _Clients, stack_name: str) -> list[dict[str, Any]]:
    paginator = clients.get("cloudformation").get_paginator("list_stack_resources")
    found: list[dict[str, Any]] = []
    for page in paginator.paginate(StackName=stack_name):
        found.extend(page["StackResourceSummaries"])
    return found


def _stack_outputs(clients: _Clients, stack_name: str) -> dict[str, str]:
    stack = clients.get("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    return {item["OutputKey"]: str(item["OutputValue"]) for item in stack.get("Outputs", [])}


def _set_table_ttls(source: dict[str, Any], context: _Context, clients: _Clients) -> None:
    # moto's CloudFormation ignores TimeToLiveSpecification.
    dynamodb = clients.get("dynamodb")
    for logical_id, resource in source["Resources"].items():
        if resource["Type"] != "AWS::DynamoDB::Table":
            continue
        attribute = ttl_attribute(source, logical_id)
        if attribute:
            dynamodb.update_time_to_live(
                TableName=context.physical_ids[logical_id],
                TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute},
            )


def _create_state_machines(
    resources: dict[str, Any], context: _Context, clients: _Clients
) -> dict[str, str]:
    stepfunctions = clients.get("stepfunctions")
    created: dict[str, str] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::StepFunctions::StateMachine":
            continue
        props = resource["Properties"]
        definition = {
            "Fn::Sub": [props["DefinitionString"], props.get("DefinitionSubstitutions", {})]
        }
        stand = context.stands[logical_id]
        response = stepfunctions.create_state_machine(
            name=stand.attributes["Name"],
            definition=_resolve(definition, context),
            roleArn=_resolve(props["RoleArn"], context),
            type=props.get("StateMachineType", "STANDARD"),
        )
        if response["stateMachineArn"] != stand.ref:
            raise ProvisioningError(
                f"{logical_id}: ARN {response['stateMachineArn']} != {stand.ref}"
            )
        created[logical_id] = stand.ref
    return created


def _create_topic_rules(
    resources: dict[str, Any], context: _Context, clients: _Clients
) -> list[IotRule]:
    iot = clients.get("iot")
    rules: list[IotRule] = []
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::IoT::TopicRule":
            continue
        payload = resource["Properties"]["TopicRulePayload"]
        function_id = _rule_function(payload, logical_id)
        name = context.stands[logical_id].ref
        iot.create_topic_rule(
            ruleName=name, topicRulePayload=_camel_keys(_resolve(payload, context))
        )
        rules.append(IotRule(name=name, sql=str(payload["Sql"]), function=function_id))
    return rules


def _rule_function(payload: dict[str, Any], rule_id: str) -> str:
    targets = [
        action["Lambda"]["FunctionArn"]
        for action in payload.get("Actions", [])
        if "Lambda" in action
    ]
    if len(targets) != 1:
        raise ProvisioningError(f"{rule_id}: expected exactly one Lambda action")
    target = targets[0]
    if isinstance(target, dict) and "Fn::GetAtt" in target:
        return _get_att_parts(target["Fn::GetAtt"])[0]
    return _ref_target(target)


def _function_configs(
    source: dict[str, Any], context: _Context, clients: _Clients
) -> dict[str, FunctionConfig]:
    lambda_client = clients.get("lambda")
    configs: dict[str, FunctionConfig] = {}
    for logical_id, resource in source["Resources"].items():
        if resource["Type"] not in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            continue
        name = context.physical_ids[logical_id]
        config = lambda_client.get_function_configuration(FunctionName=name)
        configs[logical_id] = FunctionConfig(
            logical_id=logical_id,
            function_name=name,
            handler=str(config["Handler"]),
            environment=dict(config.get("Environment", {}).get("Variables", {})),
            memory_mb=int(config["MemorySize"]),
            timeout_s=int(config["Timeout"]),
        )
    return configs


def _only_one(context: _Context, resource_type: str) -> _Stand:
    found = [context.stands[lid] for lid, t in context.resource_types.items() if t == resource_type]
    if len(found) != 1:
        raise ProvisioningError(f"expected one {resource_type}, found {len(found)}")
    return found[0]


# --- intrinsic functions ------------------------------------------------------------------


def _get_att_parts(value: Any) -> tuple[str, str]:
    if isinstance(value, str):
        logical_id, _, attribute = value.partition(".")
        return logical_id, attribute
    return str(value[0]), ".".join(str(part) for part in value[1:])


def _substitute(node: Any, stands: Mapping[str, _Stand]) -> Any:
    """Replace Ref/GetAtt/${...} of stood-in resources by their local values, leave the rest."""
    if isinstance(node, list):
        return [_substitute(item, stands) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        ((key, value),) = node.items()
        if key == "Ref" and isinstance(value, str) and value in stands:
            return stands[value].ref
        if key == "Fn::GetAtt":
            logical_id, attribute = _get_att_parts(value)
            if logical_id in stands:
                return stands[logical_id].get_att(logical_id, attribute)
        if key == "Fn::Sub":
            return {"Fn::Sub": _substitute_sub(value, stands)}
    return {key: _substitute(value, stands) for key, value in node.items()}


def _substitute_sub(value: Any, stands: Mapping[str, _Stand]) -> Any:
    text, variables = (value, {}) if isinstance(value, str) else (value[0], value[1])

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("!") or name in variables:
            return match.group(0)
        logical_id, _, attribute = name.partition(".")
        if logical_id not in stands:
            return match.group(0)
        stand = stands[logical_id]
        return stand.get_att(logical_id, attribute) if attribute else stand.ref

    new_text = _SUB_VARIABLE.sub(replace, text) if isinstance(text, str) else text
    if isinstance(value, str):
        return new_text
    return [new_text, _substitute(variables, stands)]


def _referenced_ids(node: Any) -> set[str]:
    """Logical ids (and pseudo parameters) a template fragment refers to."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= _referenced_ids(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(_get_att_parts(value)[0])
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                variables = {} if isinstance(value, str) else value[1]
                found |= {
                    name.partition(".")[0]
                    for name in _SUB_VARIABLE.findall(text)
                    if not name.startswith("!") and name not in variables
                }
                found |= _referenced_ids(variables)
            else:
                found |= _referenced_ids(value)
    return found


def _resolve(node: Any, context: _Context) -> Any:
    """Fully evaluate a fragment (Ref, GetAtt, Sub, Join) against what exists so far."""
    if isinstance(node, list):
        return [_resolve(item, context) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        ((key, value),) = node.items()
        if key == "Ref":
            return _lookup(str(value), "", context)
        if key == "Fn::GetAtt":
            return _lookup(*_get_att_parts(value), context)
        if key == "Fn::Join":
            separator, parts = value
            return str(separator).join(str(_resolve(part, context)) for part in parts)
        if key == "Fn::Sub":
            return _resolve_sub(value, context)
        if key.startswith("Fn::"):
            raise ProvisioningError(f"{key} is not supported in resources created by API")
    return {key: _resolve(value, context) for key, value in node.items()}


def _resolve_sub(value: Any, context: _Context) -> str:
    text, variables = (value, {}) if isinstance(value, str) else (value[0], value[1])
    text = str(_resolve(text, context))
    resolved = {name: str(_resolve(v, context)) for name, v in variables.items()}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        if name in resolved:
            return resolved[name]
        logical_id, _, attribute = name.partition(".")
        return str(_lookup(logical_id, attribute, context))

    return _SUB_VARIABLE.sub(replace, text)


def _lookup(logical_id: str, attribute: str, context: _Context) -> str:
    if not attribute:
        pseudo = context.pseudo(logical_id)
        if pseudo is not None:
            return pseudo
        if logical_id in context.parameters:
            return context.parameters[logical_id]
    if logical_id in context.stands:
        stand = context.stands[logical_id]
        return stand.get_att(logical_id, attribute) if attribute else stand.ref
    if logical_id in context.physical_ids:
        physical = context.physical_ids[logical_id]
        if not attribute:
            return physical
        return _stack_attribute(logical_id, attribute, physical, context)
    raise ProvisioningError(f"cannot resolve {logical_id}{'.' + attribute if attribute else ''}")


def _stack_attribute(logical_id: str, attribute: str, physical: str, context: _Context) -> str:
    """GetAtt of a stack resource, from its physical id (the forms moto uses)."""
    resource_type = context.resource_types.get(logical_id, "")
    region, account = context.region, context.account_id
    arns: dict[tuple[str, str], Callable[[], str]] = {
        ("AWS::Lambda::Function", "Arn"): lambda: (
            f"arn:{PARTITION}:lambda:{region}:{account}:function:{physical}"
        ),
        ("AWS::IAM::Role", "Arn"): lambda: f"arn:{PARTITION}:iam::{account}:role/{physical}",
        ("AWS::SQS::Queue", "Arn"): lambda: (
            f"arn:{PARTITION}:sqs:{region}:{account}:{physical.rsplit('/', 1)[-1]}"
        ),
        ("AWS::SQS::Queue", "QueueName"): lambda: physical.rsplit("/", 1)[-1],
        ("AWS::SNS::Topic", "TopicArn"): lambda: physical,
        ("AWS::SNS::Topic", "TopicName"): lambda: physical.rsplit(":", 1)[-1],
        ("AWS::S3::Bucket", "Arn"): lambda: f"arn:{PARTITION}:s3:::{physical}",
        ("AWS::Logs::LogGroup", "Arn"): lambda: (
            f"arn:{PARTITION}:logs:{region}:{account}:log-group:{physical}:*"
        ),
    }
    make = arns.get((resource_type, attribute))
    if make is None:
        raise ProvisioningError(
            f"GetAtt {logical_id}.{attribute} ({resource_type}) is not supported"
        )
    return make()


def _camel_keys(node: Any) -> Any:
    """CloudFormation's PascalCase property names -> the API's camelCase (IoT rule payloads)."""
    if isinstance(node, list):
        return [_camel_keys(item) for item in node]
    if isinstance(node, dict):
        return {key[:1].lower() + key[1:]: _camel_keys(value) for key, value in node.items()}
    return node


# --- AWS plumbing -----------------------------------------------------------------------------


class _Clients:
    """boto3 clients for the moto server, made on first use."""

    def __init__(self, endpoint_url: str, region: str) -> None:
        self._session = boto3.session.Session(region_name=region)
        self._endpoint_url = endpoint_url
        self._config = Config(retries={"max_attempts": 2, "mode": "standard"})
        self._clients: dict[str, Any] = {}

    def get(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._session.client(
                service,
                endpoint_url=self._endpoint_url,
                config=self._config,
            )
        return self._clients[service]


def _upload_artifact(clients: _Clients, bucket: str) -> str:
    """One small zip every function's Code points at (moto stores it, never runs it)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "README.txt",
            "Placeholder for embedded AWS: the local stack runs the handlers from the checkout.\n",
        )
    s3 = clients.get("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=ARTIFACT_KEY, Body=buffer.getvalue())
    return f"s3://{bucket}/{ARTIFACT_KEY}"
