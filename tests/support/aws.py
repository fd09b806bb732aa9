"""In-process embedded AWS for integration tests: moto, with tables built from template.yaml."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto import mock_aws

from infra.template import load_template, table_create_requests, table_env_vars, ttl_attribute

REGION = "us-east-1"


def fake_credentials() -> None:
    """Credentials and region that can only ever reach moto."""
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "POWERTOOLS_SERVICE_NAME": "charging-cloud-test",
            "POWERTOOLS_METRICS_NAMESPACE": "ChargingCloudTest",
            "POWERTOOLS_TRACE_DISABLED": "1",
        }
    )


def create_tables(dynamodb: Any, template: dict[str, Any] | None = None) -> dict[str, str]:
    """Create every table of the template; return env var -> physical table name."""
    template = template or load_template()
    requests = table_create_requests(template, name_prefix="test-")
    for logical_id, request in requests.items():
        dynamodb.create_table(**request)
        attribute = ttl_attribute(template, logical_id)
        if attribute:
            dynamodb.update_time_to_live(
                TableName=request["TableName"],
                TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute},
            )
    return {
        env: requests[logical_id]["TableName"]
        for env, logical_id in table_env_vars(template).items()
    }


@contextmanager
def aws_with_tables() -> Iterator[dict[str, str]]:
    """Start moto, create the template's tables, export their names as the env vars.

    Yields env var -> table name (``BASE_DATA_TABLE`` -> ``test-BaseDataTable`` ...).
    """
    fake_credentials()
    with mock_aws():
        names = create_tables(boto3.client("dynamodb", region_name=REGION))
        previous = {key: os.environ.get(key) for key in names}
        os.environ.update(names)
        try:
            yield names
        finally:
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
