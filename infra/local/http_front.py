"""The HTTP front: API Gateway HTTP API (payload 2.0) plus the dashboard's static site.

Routes come from the deployment (the template's ``HttpApi`` events): path templates
with ``{param}`` and ``{proxy+}``, a method or ``ANY``; the most specific route wins
(literal segment over parameter over greedy, then a named method over ``ANY``), as in
API Gateway. A matched route's function gets a payload-2.0 event; JWT routes first pass
the Cognito JWT check (401 ``{"message":"Unauthorized"}`` otherwise). The function's
answer is mapped as API Gateway maps it: a dict with ``statusCode`` is the response
(``headers``, ``body``, ``isBase64Encoded``, ``cookies``); anything else is a 200 JSON
body. A crash is 500 ``{"message":"Internal Server Error"}``, a body over 10 MB 413, an
integration running past 30 s 503.

Paths no route claims are the dashboard (the S3 + CloudFront site when deployed):
files under ``dashboard/``, ``index.html`` for a directory, explicit content types.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import mimetypes
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from infra.local.deployment import HttpRoute
from infra.local.jwt_authorizer import JwtAuthorizer, Unauthorized
from infra.local.lambda_runtime import LambdaRuntime
from infra.local.settings import ACCOUNT_ID
from infra.local.ws_door import api_gateway_id, request_time

log = logging.getLogger("local.http")

MAX_BODY_BYTES = 10 * 1024 * 1024
INTEGRATION_TIMEOUT_S = 30.0

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".txt": "text/plain; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".wasm": "application/wasm",
}
_TEXT_TYPES = ("text/", "application/json", "application/javascript", "application/xml")
_TEXT_SUFFIXES = ("+json", "+xml")


def content_type_for(path: Path) -> str:
    known = CONTENT_TYPES.get(path.suffix.lower())
    if known:
        return known
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def _message(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"message": message}, status=status, headers=headers or None)


@dataclass(frozen=True, slots=True)
class _Segment:
    text: str
    is_param: bool = False
    is_greedy: bool = False

    @property
    def rank(self) -> int:
        return 1 if self.is_greedy else 2 if self.is_param else 3


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    """One route, ready to match request paths."""

    route: HttpRoute
    segments: tuple[_Segment, ...]

    @property
    def is_default(self) -> bool:
        return self.route.path == "$default"

    @classmethod
    def of(cls, route: HttpRoute) -> CompiledRoute:
        if route.path == "$default":  # the catch-all route: no segments, least specific
            return cls(route, ())
        segments = []
        for part in route.path.strip("/").split("/"):
            if part.startswith("{") and part.endswith("+}"):
                segments.append(_Segment(part[1:-2], is_param=True, is_greedy=True))
            elif part.startswith("{") and part.endswith("}"):
                segments.append(_Segment(part[1:-1], is_param=True))
            else:
                segments.append(_Segment(part))
        return cls(route, tuple(segments))

    @property
    def route_key(self) -> str:
        if self.is_default:
            return "$default"
        return f"{self.route.method.upper()} {self.route.path}"

    @property
    def specificity(self) -> tuple[tuple[int, ...], bool]:
        return tuple(segment.rank for segment in self.segments), self.route.method != "ANY"

    def match(self, method: str, parts: list[str]) -> dict[str, str] | None:
        """Path parameters when this route takes ``method`` on ``parts``, else None."""
        if self.is_default:
            return {}
        if self.route.method.upper() not in ("ANY", method):
            return None
        params: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            if segment.is_greedy:
                rest = parts[index:]
                if not rest or rest == [""]:
                    return None
                params[segment.text] = "/".join(rest)
                return params
            if index >= len(parts):
                return None
            if segment.is_param:
                if not parts[index]:
                    return None
                params[segment.text] = parts[index]
            elif segment.text != parts[index]:
                return None
        return params if len(parts) == len(self.segments) else None


def compile_routes(routes: list[HttpRoute]) -> list[CompiledRoute]:
    """Routes in the order API Gateway prefers them (most specific first)."""
    compiled = [CompiledRoute.of(route) for route in routes]
    return sorted(compiled, key=lambda route: route.specificity, reverse=True)


def _is_text(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return (
        not kind
        or kind.startswith(_TEXT_TYPES)
        or kind.endswith(_TEXT_SUFFIXES)
        or kind == "application/x-www-form-urlencoded"
    )


def build_event(
    request: web.Request,
    *,
    route: CompiledRoute,
    path_parameters: dict[str, str],
    body: bytes,
    authorizer: dict[str, Any] | None,
    api_id: str,
) -> dict[str, Any]:
    """API Gateway HTTP API payload format 2.0 for one request."""
    now_ms = time.time_ns() // 1_000_000
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    # What API Gateway adds in front of every integration.
    headers.setdefault("x-forwarded-for", request.remote or "")
    headers.setdefault("x-forwarded-proto", request.scheme)
    headers.setdefault("x-forwarded-port", str(request.url.port or ""))
    cookie_header = headers.pop("cookie", "")
    cookies = [part.strip() for part in cookie_header.split(";") if part.strip()]
    query: dict[str, str] = {}
    for key in request.query:
        query[key] = ",".join(request.query.getall(key))
    request_id = api_gateway_id()
    context: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "apiId": api_id,
        "domainName": request.host,
        "domainPrefix": request.host.split(".", 1)[0],
        "http": {
            "method": request.method,
            "path": request.path,
            "protocol": f"HTTP/{request.version.major}.{request.version.minor}",
            "sourceIp": request.remote or "",
            "userAgent": request.headers.get("User-Agent", ""),
        },
        "requestId": request_id,
        "routeKey": route.route_key,
        "stage": "$default",
        "time": request_time(now_ms),
        "timeEpoch": now_ms,
    }
    if authorizer is not None:
        context["authorizer"] = authorizer
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": request.rel_url.raw_path,
        "rawQueryString": request.rel_url.raw_query_string,
        "headers": headers,
        "requestContext": context,
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        if _is_text(headers.get("content-type", "")):
            try:
                event["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(body).decode("ascii")
                event["isBase64Encoded"] = True
        else:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


def to_response(payload: Any) -> web.Response:
    """Map a function's result to the HTTP response, as API Gateway's 2.0 format does.

    Raises:
        ValueError: the result has a ``statusCode`` but is not a valid response.
    """
    if not (isinstance(payload, dict) and "statusCode" in payload):
        return web.Response(
            status=200, body=json.dumps(payload).encode("utf-8"), content_type="application/json"
        )
    status = int(payload["statusCode"])
    raw_headers = payload.get("headers") or {}
    if not isinstance(raw_headers, dict):
        raise ValueError("headers must be an object")
    headers = {str(name): str(value) for name, value in raw_headers.items()}
    body = payload.get("body")
    if body is None:
        data = b""
    elif payload.get("isBase64Encoded"):
        data = base64.b64decode(str(body))
    else:
        data = (body if isinstance(body, str) else json.dumps(body)).encode("utf-8")
    response = web.Response(status=status, body=data, headers=headers)
    if not any(name.lower() == "content-type" for name in headers):
        response.headers["Content-Type"] = "application/json"
    for cookie in payload.get("cookies") or []:
        response.headers.add("Set-Cookie", str(cookie))
    return response


class HttpFront:
    """Serves the HTTP API routes and the dashboard on one port."""

    def __init__(
        self,
        runtime: LambdaRuntime,
        routes: list[HttpRoute],
        authorizer: JwtAuthorizer | None,
        dashboard_dir: Path | None,
        *,
        api_id: str = "local",
        integration_timeout_s: float = INTEGRATION_TIMEOUT_S,
    ) -> None:
        self._runtime = runtime
        self._routes = compile_routes(routes)
        self._authorizer = authorizer
        self._dashboard = dashboard_dir.resolve() if dashboard_dir else None
        self._api_id = api_id
        self._timeout_s = integration_timeout_s

    @staticmethod
    def new_app() -> web.Application:
        """An aiohttp app that reads bodies up to the HTTP API's 10 MB limit and beyond."""
        return web.Application(client_max_size=2 * MAX_BODY_BYTES)

    def add_routes(self, app: web.Application) -> None:
        """Mount on ``app`` (from ``new_app``, so 10 MB bodies can be read)."""
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_startup.append(self._load_keys)

    async def _load_keys(self, app: web.Application) -> None:
        if self._authorizer is None:
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._runtime.executor, self._authorizer.load_keys)
        except OSError as exc:
            log.warning("JWKS not loaded yet (%s); JWT routes will retry", exc)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        response = await self._dispatch(request)
        log.info(
            "%s %s -> %d (%.0f ms)",
            request.method,
            request.rel_url.raw_path,
            response.status,
            (time.perf_counter() - started) * 1000,
        )
        return response

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        parts = unquote(request.rel_url.raw_path).lstrip("/").split("/")
        for route in self._routes:
            params = route.match(request.method, parts)
            if params is not None:
                return await self._invoke(request, route, params)
        if request.method in ("GET", "HEAD") and self._dashboard is not None:
            static = self._static(request.path)
            if static is not None:
                return static
        return _message(404, "Not Found")

    async def _invoke(
        self, request: web.Request, route: CompiledRoute, params: dict[str, str]
    ) -> web.StreamResponse:
        length = request.content_length
        if length is not None and length > MAX_BODY_BYTES:
            return _message(413, "Request Entity Too Large")
        authorizer: dict[str, Any] | None = None
        if route.route.is_jwt_protected:
            if self._authorizer is None:
                return _message(401, "Unauthorized")
            try:
                authorization = self._authorizer.authorize(request.headers.get("Authorization"))
            except Unauthorized as exc:
                log.debug("JWT refused: %s", exc)
                return _message(401, "Unauthorized", **{"WWW-Authenticate": "Bearer"})
            authorizer = {"jwt": {"claims": authorization.claims, "scopes": authorization.scopes}}
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _message(413, "Request Entity Too Large")
        if len(body) > MAX_BODY_BYTES:
            return _message(413, "Request Entity Too Large")
        event = build_event(
            request,
            route=route,
            path_parameters=params,
            body=body,
            authorizer=authorizer,
            api_id=self._api_id,
        )
        try:
            result = await self._runtime.invoke_async(route.route.function, event, self._timeout_s)
        except TimeoutError:
            log.warning("%s timed out", route.route_key)
            return _message(503, "Service Unavailable")
        if result.is_error:
            return _message(500, "Internal Server Error")
        try:
            return to_response(result.payload)
        except (TypeError, ValueError) as exc:
            log.error("%s returned a malformed response: %s", route.route.function, exc)
            return _message(500, "Internal Server Error")

    def _static(self, path: str) -> web.StreamResponse | None:
        assert self._dashboard is not None
        relative = unquote(path).lstrip("/")
        candidate = (self._dashboard / relative).resolve()
        if not candidate.is_relative_to(self._dashboard):
            return None
        if candidate.is_dir():
            candidate = candidate / "index.html"
        if not candidate.is_file():
            return None
        return web.FileResponse(
            candidate,
            headers={"Content-Type": content_type_for(candidate), "Cache-Control": "no-cache"},
        )
