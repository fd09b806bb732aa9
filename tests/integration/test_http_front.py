"""The HTTP front behaves like API Gateway's HTTP API with moto Cognito's JWT authorizer.

Embedded AWS runs as a moto server on a free port (Cognito, its JWKS); a fake function
stands in for the real APIs; plain HTTP requests drive the front.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import jwt
import moto.cognitoidp
import pytest
import requests
from moto.server import ThreadedMotoServer

from infra.local.deployment import FunctionConfig, HttpRoute
from infra.local.http_front import HttpFront, compile_routes
from infra.local.jwt_authorizer import JwtAuthorizer, render_claims
from infra.local.lambda_runtime import LambdaRuntime
from tests.support.fake_handlers import calls
from tests.support.fake_handlers.servers import serving

REGION = "us-east-1"


def _function(logical_id: str) -> FunctionConfig:
    return FunctionConfig(
        logical_id=logical_id,
        function_name=f"local-{logical_id}",
        handler="tests.support.fake_handlers.http_api.lambda_handler",
        environment={},
        memory_mb=256,
        timeout_s=10,
    )


FUNCTIONS = {name: _function(name) for name in ("OperatorApiFunction", "ReportsFunction")}
ROUTES = [
    HttpRoute("GET", "/health", "OperatorApiFunction", is_jwt_protected=False),
    HttpRoute("POST", "/operator/auth/login", "OperatorApiFunction", is_jwt_protected=False),
    HttpRoute("ANY", "/operator/{proxy+}", "OperatorApiFunction", is_jwt_protected=True),
    HttpRoute("ANY", "/operator/reports/{proxy+}", "ReportsFunction", is_jwt_protected=True),
    HttpRoute("GET", "/items/{item_id}", "OperatorApiFunction", is_jwt_protected=False),
    HttpRoute("ANY", "/fake/{proxy+}", "OperatorApiFunction", is_jwt_protected=False),
]


@dataclass
class Cognito:
    endpoint: str
    pool_id: str
    client_id: str
    other_client_id: str

    def login(self, client_id: str | None = None) -> dict[str, str]:
        client = boto3.client("cognito-idp", endpoint_url=self.endpoint, region_name=REGION)
        result = client.initiate_auth(
            ClientId=client_id or self.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": "alice", "PASSWORD": "Alice-pass-1"},
        )
        tokens: dict[str, str] = result["AuthenticationResult"]
        return tokens


@pytest.fixture(scope="module")
def cognito() -> Iterator[Cognito]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server.get_host_and_port()[1]}"
    client = boto3.client("cognito-idp", endpoint_url=endpoint, region_name=REGION)
    pool_id = client.create_user_pool(
        PoolName="staff",
        Schema=[{"Name": "operator_id", "AttributeDataType": "String", "Mutable": True}],
    )["UserPool"]["Id"]
    client_ids = [
        client.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName=name,
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]["ClientId"]
        for name in ("dashboard", "other")
    ]
    client.create_group(UserPoolId=pool_id, GroupName="operator-admin")
    client.admin_create_user(
        UserPoolId=pool_id,
        Username="alice",
        UserAttributes=[{"Name": "custom:operator_id", "Value": "op-1"}],
        MessageAction="SUPPRESS",
    )
    client.admin_set_user_password(
        UserPoolId=pool_id, Username="alice", Password="Alice-pass-1", Permanent=True
    )
    client.admin_add_user_to_group(UserPoolId=pool_id, Username="alice", GroupName="operator-admin")
    try:
        yield Cognito(endpoint, pool_id, client_ids[0], client_ids[1])
    finally:
        server.stop()


@dataclass
class Front:
    url: str
    dashboard: Path


@pytest.fixture
def front(cognito: Cognito, tmp_path: Path) -> Iterator[Front]:
    calls.clear()
    dashboard = tmp_path / "dashboard"
    (dashboard / "reports").mkdir(parents=True)
    (dashboard / "index.html").write_text("<!doctype html><title>dash</title>")
    (dashboard / "app.js").write_text("console.log('dash')")
    (dashboard / "style.css").write_text("body{}")
    (dashboard / "logo.svg").write_text("<svg/>")
    (dashboard / "reports" / "index.html").write_text("<p>reports</p>")
    (tmp_path / "secret.txt").write_text("not for you")
    runtime = LambdaRuntime(FUNCTIONS, max_workers=4)
    authorizer = JwtAuthorizer.for_cognito(
        cognito.endpoint, REGION, cognito.pool_id, [cognito.client_id]
    )
    http_front = HttpFront(runtime, ROUTES, authorizer, dashboard, integration_timeout_s=0.5)
    app = HttpFront.new_app()
    http_front.add_routes(app)
    try:
        with serving(app) as (_, port):
            yield Front(f"http://127.0.0.1:{port}", dashboard)
    finally:
        runtime.shutdown(wait=False)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _moto_signed(claims: dict[str, Any]) -> str:
    """A token signed with moto's Cognito key, so only the claims can be wrong."""
    resources = Path(moto.cognitoidp.__file__).parent / "resources"
    with gzip.open(resources / "jwks-private.json.gz") as handle:
        private = json.load(handle)
    key = jwt.PyJWK(private).key
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": private["kid"]})


def _event() -> dict[str, Any]:
    (event,) = calls.events("http")
    result: dict[str, Any] = event
    return result


def test_route_answers_without_a_token_when_the_route_is_open(front: Front) -> None:
    response = requests.get(f"{front.url}/health", timeout=10)

    assert response.status_code == 200
    assert response.json() == {"routeKey": "GET /health"}
    assert response.headers["x-function"] == "local-OperatorApiFunction"
    assert "authorizer" not in _event()["requestContext"]


def test_event_has_the_payload_2_0_shape_when_a_request_is_routed(front: Front) -> None:
    response = requests.post(
        f"{front.url}/fake/a%20b/c?x=1&x=2&y=%C3%A9",
        json={"amount_fen": 100},
        headers={"X-Custom": "v", "Cookie": "s=1; t=2"},
        timeout=10,
    )

    assert response.status_code == 201
    event = _event()
    assert event["version"] == "2.0"
    assert event["routeKey"] == "ANY /fake/{proxy+}"
    assert event["rawPath"] == "/fake/a%20b/c"
    assert event["rawQueryString"] == "x=1&x=2&y=%C3%A9"
    assert event["queryStringParameters"] == {"x": "1,2", "y": "é"}
    assert event["pathParameters"] == {"proxy": "a b/c"}
    assert event["headers"]["x-custom"] == "v"
    assert event["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert event["headers"]["content-type"] == "application/json"
    assert "cookie" not in event["headers"]
    assert event["cookies"] == ["s=1", "t=2"]
    assert json.loads(event["body"]) == {"amount_fen": 100}
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["http"]["method"] == "POST"
    assert context["http"]["path"] == "/fake/a b/c"
    assert context["http"]["sourceIp"] == "127.0.0.1"
    assert context["stage"] == "$default"
    assert context["requestId"]
    assert abs(context["timeEpoch"] / 1000 - time.time()) < 60


def test_body_is_base64_when_the_content_is_binary(front: Front) -> None:
    requests.put(
        f"{front.url}/fake/upload",
        data=b"\x00\xff\x10",
        headers={"Content-Type": "application/octet-stream"},
        timeout=10,
    )

    event = _event()
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x00\xff\x10"


def test_path_parameter_is_passed_when_the_route_has_one(front: Front) -> None:
    requests.get(f"{front.url}/items/it-7", timeout=10)

    assert _event()["pathParameters"] == {"item_id": "it-7"}
    assert _event()["routeKey"] == "GET /items/{item_id}"


def test_most_specific_route_wins_when_several_match(front: Front, cognito: Cognito) -> None:
    token = cognito.login()["IdToken"]

    login = requests.post(f"{front.url}/operator/auth/login", json={}, timeout=10)
    report = requests.get(f"{front.url}/operator/reports/daily", headers=_bearer(token), timeout=10)
    other = requests.get(f"{front.url}/operator/piles", headers=_bearer(token), timeout=10)

    assert login.json() == {"routeKey": "POST /operator/auth/login"}
    assert report.headers["x-function"] == "local-ReportsFunction"
    assert report.json() == {"routeKey": "ANY /operator/reports/{proxy+}"}
    assert other.json() == {"routeKey": "ANY /operator/{proxy+}"}


def test_claims_reach_the_function_as_api_gateway_renders_them_when_the_id_token_is_valid(
    front: Front, cognito: Cognito
) -> None:
    token = cognito.login()["IdToken"]

    response = requests.get(f"{front.url}/operator/piles", headers=_bearer(token), timeout=10)

    assert response.status_code == 200
    jwt_context = _event()["requestContext"]["authorizer"]["jwt"]
    claims = jwt_context["claims"]
    assert claims["cognito:username"] == "alice"
    assert claims["cognito:groups"] == "[operator-admin]"
    assert claims["custom:operator_id"] == "op-1"
    assert claims["token_use"] == "id"
    assert claims["aud"] == cognito.client_id
    assert claims["exp"].isdigit()
    assert jwt_context["scopes"] is None


def test_access_token_accepted_with_its_scopes_when_valid(front: Front, cognito: Cognito) -> None:
    token = cognito.login()["AccessToken"]

    response = requests.get(f"{front.url}/operator/piles", headers=_bearer(token), timeout=10)

    assert response.status_code == 200
    jwt_context = _event()["requestContext"]["authorizer"]["jwt"]
    assert jwt_context["claims"]["client_id"] == cognito.client_id
    assert jwt_context["scopes"] == ["aws.cognito.signin.user.admin"]


def _expired_claims(cognito: Cognito, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": f"https://cognito-idp.{REGION}.amazonaws.com/{cognito.pool_id}",
        "aud": cognito.client_id,
        "token_use": "id",
        "cognito:username": "alice",
        "iat": now - 7200,
        "exp": now - 3600,
    }
    claims.update(overrides)
    return claims


@pytest.mark.parametrize(
    "case", ["missing", "garbage", "expired", "other client", "other issuer", "tampered"]
)
def test_refused_with_401_when_the_token_is_not_valid(
    front: Front, cognito: Cognito, case: str
) -> None:
    now = int(time.time())
    headers: dict[str, str] = {}
    if case == "garbage":
        headers = _bearer("not-a-jwt")
    elif case == "expired":
        headers = _bearer(_moto_signed(_expired_claims(cognito)))
    elif case == "other client":
        headers = _bearer(cognito.login(cognito.other_client_id)["IdToken"])
    elif case == "other issuer":
        claims = _expired_claims(cognito, exp=now + 600, iss="https://example.com/pool")
        headers = _bearer(_moto_signed(claims))
    elif case == "tampered":
        header, payload, signature = cognito.login()["IdToken"].split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["custom:operator_id"] = "op-2"
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        headers = _bearer(f"{header}.{forged}.{signature}")

    response = requests.get(f"{front.url}/operator/piles", headers=headers, timeout=10)

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert calls.events("http") == []


def test_bare_result_becomes_200_json_when_it_has_no_status_code(front: Front) -> None:
    bare = requests.get(f"{front.url}/fake/bare", timeout=10)
    text = requests.get(f"{front.url}/fake/string", timeout=10)

    assert bare.status_code == 200
    assert bare.headers["Content-Type"].startswith("application/json")
    assert bare.json() == {"hello": "world"}
    assert text.status_code == 200
    assert text.json() == "hi"


def test_binary_body_and_cookies_are_mapped_when_the_function_returns_them(front: Front) -> None:
    binary = requests.get(f"{front.url}/fake/binary", timeout=10)
    cookies = requests.get(f"{front.url}/fake/cookies", timeout=10)

    assert binary.content == b"\x00\x01\xff"
    assert binary.headers["Content-Type"] == "application/octet-stream"
    assert cookies.status_code == 204
    assert cookies.raw.headers.getlist("Set-Cookie") == ["a=1; Path=/", "b=2; HttpOnly"]


@pytest.mark.parametrize("path", ["/fake/crash", "/fake/malformed"])
def test_answers_500_when_the_function_fails(front: Front, path: str) -> None:
    response = requests.get(f"{front.url}{path}", timeout=10)

    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}


def test_answers_503_when_the_function_runs_past_the_integration_timeout(front: Front) -> None:
    response = requests.get(f"{front.url}/fake/slow", timeout=10)

    assert response.status_code == 503
    assert response.json() == {"message": "Service Unavailable"}


def test_answers_413_when_the_body_exceeds_10_mb(front: Front) -> None:
    response = requests.post(
        f"{front.url}/fake/big", data=b"x" * (10 * 1024 * 1024 + 1), timeout=30
    )

    assert response.status_code == 413
    assert calls.events("http") == []


def test_answers_404_when_no_route_or_file_matches(front: Front) -> None:
    missing = requests.get(f"{front.url}/nothing/here", timeout=10)
    wrong_method = requests.delete(f"{front.url}/health", timeout=10)

    assert missing.status_code == 404
    assert missing.json() == {"message": "Not Found"}
    assert wrong_method.status_code == 404


@pytest.mark.parametrize(
    ("path", "content_type", "text"),
    [
        ("/", "text/html; charset=utf-8", "<!doctype html><title>dash</title>"),
        ("/index.html", "text/html; charset=utf-8", "<!doctype html><title>dash</title>"),
        ("/app.js", "text/javascript; charset=utf-8", "console.log('dash')"),
        ("/style.css", "text/css; charset=utf-8", "body{}"),
        ("/logo.svg", "image/svg+xml", "<svg/>"),
        ("/reports/", "text/html; charset=utf-8", "<p>reports</p>"),
    ],
)
def test_dashboard_file_served_with_its_content_type_when_no_route_matches(
    front: Front, path: str, content_type: str, text: str
) -> None:
    response = requests.get(f"{front.url}{path}", timeout=10)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.text == text


def test_files_outside_the_dashboard_not_served_when_the_path_climbs_out(front: Front) -> None:
    response = requests.get(f"{front.url}/%2E%2E/secret.txt", timeout=10)

    assert response.status_code == 404
    assert "not for you" not in response.text


def test_routes_sorted_most_specific_first_when_compiled() -> None:
    order = [route.route_key for route in compile_routes(ROUTES)]

    assert order.index("POST /operator/auth/login") < order.index("ANY /operator/{proxy+}")
    assert order.index("ANY /operator/reports/{proxy+}") < order.index("ANY /operator/{proxy+}")


def test_default_route_catches_what_no_other_route_takes_when_declared() -> None:
    routes = compile_routes([*ROUTES, HttpRoute("ANY", "$default", "ReportsFunction", False)])

    matched = [
        next(
            route
            for route in routes
            if route.match(method, path.lstrip("/").split("/")) is not None
        )
        for method, path in (("GET", "/health"), ("GET", "/anything/else"), ("DELETE", "/health"))
    ]

    assert [route.route_key for route in matched] == ["GET /health", "$default", "$default"]


def test_claims_rendered_as_strings_when_passed_to_the_integration() -> None:
    rendered = render_claims(
        {"cognito:groups": ["a", "b"], "exp": 17, "email_verified": True, "sub": "x"}
    )

    assert rendered == {
        "cognito:groups": "[a b]",
        "exp": "17",
        "email_verified": "true",
        "sub": "x",
    }
