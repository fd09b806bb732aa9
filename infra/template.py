"""Read template.yaml the way CloudFormation does, for the local stack and the tests.

Short-form intrinsics (``!Ref``, ``!Sub``, ``!GetAtt`` ...) become their long form so
the rest of the code sees plain JSON-like data. Tables for tests and the local stack
are built from here, so they cannot drift from what is deployed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    pass


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template into plain data with long-form intrinsics."""
    with path.open(encoding="utf-8") as handle:
        data: dict[str, Any] = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506
    return data


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """Logical id -> resource for every resource of one type."""
    return {
        logical_id: resource
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == resource_type
    }


def table_create_requests(
    template: dict[str, Any], name_prefix: str = ""
) -> dict[str, dict[str, Any]]:
    """Logical id -> ``create_table`` kwargs for every DynamoDB table in the template.

    The physical name is ``{name_prefix}{LogicalId}``; TTL and PITR settings are left to
    ``ttl_attribute`` since ``create_table`` does not take them.
    """
    allowed = (
        "AttributeDefinitions",
        "KeySchema",
        "GlobalSecondaryIndexes",
        "LocalSecondaryIndexes",
        "BillingMode",
        "StreamSpecification",
    )
    requests: dict[str, dict[str, Any]] = {}
    for logical_id, resource in resources_of_type(template, "AWS::DynamoDB::Table").items():
        props = resource["Properties"]
        request = {key: props[key] for key in allowed if key in props}
        if "StreamSpecification" in request:
            request["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": props["StreamSpecification"]["StreamViewType"],
            }
        request["TableName"] = f"{name_prefix}{logical_id}"
        requests[logical_id] = request
    return requests


def ttl_attribute(template: dict[str, Any], logical_id: str) -> str | None:
    """The TTL attribute of a table, if it has one enabled."""
    spec = template["Resources"][logical_id]["Properties"].get("TimeToLiveSpecification")
    if spec and spec.get("Enabled"):
        return str(spec["AttributeName"])
    return None


# Which environment variable carries which table's name (Globals in template.yaml).
def table_env_vars(template: dict[str, Any]) -> dict[str, str]:
    """Env var -> logical id of the table it names, read from the template's Globals."""
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    return {
        env: value["Ref"]
        for env, value in variables.items()
        if isinstance(value, dict)
        and "Ref" in value
        and template["Resources"].get(value["Ref"], {}).get("Type") == "AWS::DynamoDB::Table"
    }
