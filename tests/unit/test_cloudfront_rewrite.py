"""The CloudFront Function that moves /ocpp/{pileId} into the query string, run under node."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from infra.template import ROOT, load_template

SOURCE = ROOT / "infra" / "cloudfront" / "ocpp_path_rewrite.js"
NODE = shutil.which("node") or "/usr/bin/node"

# CloudFront Functions have no module system: the file defines `handler` at top level.
RUNNER = """
const fs = require('fs');
const code = fs.readFileSync(process.argv[1], 'utf8');
const handler = new Function(code + '\\nreturn handler;')();
const events = JSON.parse(fs.readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(events.map((event) => handler(event))));
"""

pytestmark = pytest.mark.skipif(not Path(NODE).exists(), reason="node is not installed")


def viewer_request(
    uri: str,
    querystring: dict[str, Any] | None = None,
    headers: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A viewer-request event shaped like the ones CloudFront passes (lower-case headers)."""
    return {
        "version": "1.0",
        "context": {"eventType": "viewer-request", "distributionId": "EDFDVBD6EXAMPLE"},
        "viewer": {"ip": "198.51.100.11"},
        "request": {
            "method": "GET",
            "uri": uri,
            "querystring": querystring or {},
            "headers": headers
            or {
                "host": {"value": "d111111abcdef8.cloudfront.net"},
                "authorization": {"value": "Basic Q1AwMDE6c2VjcmV0"},
                "sec-websocket-protocol": {"value": "ocpp1.6, ocpp2.0.1"},
                "sec-websocket-key": {"value": "dGhlIHNhbXBsZSBub25jZQ=="},
                "upgrade": {"value": "websocket"},
            },
            "cookies": {},
        },
    }


def run(*events: dict[str, Any]) -> list[dict[str, Any]]:
    completed = subprocess.run(
        [NODE, "-e", RUNNER, str(SOURCE)],
        input=json.dumps(list(events)),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    results: list[dict[str, Any]] = json.loads(completed.stdout)
    return results


def test_template_inlines_the_function_source_verbatim():
    resource = load_template()["Resources"]["OcppPathRewriteFunction"]
    assert resource["Properties"]["FunctionCode"] == SOURCE.read_text(encoding="utf-8")
    assert resource["Properties"]["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"


def test_pile_path_moves_to_query_string_when_path_names_a_pile():
    (request,) = run(viewer_request("/ocpp/CP001"))
    assert request["uri"] == "/"
    assert request["querystring"] == {"pileId": {"value": "CP001"}}
    assert request["headers"]["authorization"] == {"value": "Basic Q1AwMDE6c2VjcmV0"}
    assert request["headers"]["sec-websocket-protocol"] == {"value": "ocpp1.6, ocpp2.0.1"}


def test_other_query_parameters_are_kept_when_the_pile_connects_with_some():
    query = {
        "token": {"value": "abc"},
        "tag": {"value": "a", "multiValue": [{"value": "a"}, {"value": "b"}]},
    }
    (request,) = run(viewer_request("/ocpp/CP001", querystring=query))
    assert request["querystring"] == {**query, "pileId": {"value": "CP001"}}


def test_path_wins_when_the_query_string_also_names_a_pile():
    (request,) = run(viewer_request("/ocpp/CP001", querystring={"pileId": {"value": "CP999"}}))
    assert request["querystring"]["pileId"] == {"value": "CP001"}


def test_trailing_slash_is_ignored_when_the_pile_adds_one():
    (request,) = run(viewer_request("/ocpp/CP001/"))
    assert request["querystring"]["pileId"] == {"value": "CP001"}


@pytest.mark.parametrize(
    "pile_id",
    ["CP 001", "AB:CD@1", "桩-01", "a+b=c&d", "100%", "x" * 128],
)
def test_pile_id_is_url_encoded_once_when_it_has_special_characters(pile_id):
    (request,) = run(viewer_request("/ocpp/" + urllib.parse.quote(pile_id, safe="")))
    value = request["querystring"]["pileId"]["value"]
    assert urllib.parse.unquote(value) == pile_id
    assert urllib.parse.quote(pile_id, safe="-_.!~*'()") == value


def test_encoded_and_plain_path_give_the_same_id_when_characters_are_path_safe():
    plain, encoded = run(viewer_request("/ocpp/AB:CD@1"), viewer_request("/ocpp/AB%3ACD%401"))
    assert plain["querystring"]["pileId"] == encoded["querystring"]["pileId"]


@pytest.mark.parametrize(
    "uri",
    [
        "/ocpp",
        "/ocpp/",
        "/ocpp//",
        "/ocpp/CP001/extra",
        "/ocpp/%E0%A4%A",
        "/ocpp/a%2Fb",
        "/ocpp/" + "x" * 129,
    ],
)
def test_connection_is_refused_with_400_when_the_pile_id_is_missing_or_malformed(uri):
    (response,) = run(viewer_request(uri))
    assert response == {"statusCode": 400, "statusDescription": "Bad Request"}


@pytest.mark.parametrize("uri", ["/", "/ocppx/CP001", "/api/ocpp/CP001", "/favicon.ico"])
def test_connection_is_refused_with_404_when_the_path_is_not_under_ocpp(uri):
    (response,) = run(viewer_request(uri))
    assert response == {"statusCode": 404, "statusDescription": "Not Found"}
