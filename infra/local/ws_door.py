"""The WebSocket door: CloudFront + API Gateway WebSocket API, emulated for one machine.

Piles connect to ``ws://host:port/ocpp/{pileId}``. Like the deployed edge, the door
moves the pile id into the query string (the CloudFront Function's rewrite) and builds
API Gateway's ``$connect`` event, then runs the real ``$connect`` function BEFORE the
upgrade: a non-2xx ``statusCode`` refuses the handshake with that status and body; a
2xx completes it and echoes exactly the ``Sec-WebSocket-Protocol`` the function chose.

Each frame becomes a ``$default`` MESSAGE event; frames of one connection run one at a
time, in order. A two-way route's ``body`` goes back on the socket; a crashed or
timed-out integration sends API Gateway's error frame (``{"message": "Internal server
error", ...}``). Any close produces a ``$disconnect`` event with the close code and
reason. API Gateway's quotas apply: 10 idle minutes, 2 hours in all (both closes are
1001 "Going away"), 128 KB per message (1009).

The ``@connections`` management API answers on the same port under the stage,
``/local/@connections/{connectionId}`` (POST = post_to_connection, GET =
get_connection, DELETE = delete_connection), in the shapes boto3's
``apigatewaymanagementapi`` client parses, including ``GoneException`` (410).

Everything runs on the event loop; handlers run in the Lambda runtime's bounded pool.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from infra.local.deployment import WebSocketRoutes
from infra.local.lambda_runtime import InvocationResult, LambdaRuntime
from infra.local.settings import WS_STAGE, WsLimits

log = logging.getLogger("local.ws")

GOING_AWAY = 1001
ABNORMAL = 1006
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def api_gateway_id() -> str:
    """An id shaped like API Gateway's connection and request ids (16 chars, ends '=')."""
    return base64.urlsafe_b64encode(secrets.token_bytes(11)).decode("ascii")


def request_time(epoch_ms: int) -> str:
    """API Gateway's ``requestTime`` format, e.g. ``22/Nov/2026:04:47:00 +0000``."""
    at = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return f"{at.day:02d}/{_MONTHS[at.month - 1]}/{at.year}:{at:%H:%M:%S} +0000"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _iso(epoch_ms: int) -> str:
    at = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(eq=False, slots=True)
class Connection:
    """One open WebSocket, as API Gateway tracks it."""

    connection_id: str
    pile_id: str
    ws: web.WebSocketResponse
    source_ip: str
    user_agent: str
    domain_name: str
    connected_at_ms: int
    opened: float = field(default_factory=time.monotonic)
    last_active: float = field(default_factory=time.monotonic)
    last_active_ms: int = field(default_factory=_now_ms)
    close_code: int | None = None
    close_reason: str = ""

    def touch(self) -> None:
        self.last_active = time.monotonic()
        self.last_active_ms = _now_ms()


def _case_insensitive(headers: Any) -> dict[str, str]:
    if not isinstance(headers, dict):
        return {}
    return {str(key).lower(): str(value) for key, value in headers.items()}


def _aws_error(status: int, error_type: str, message: str | None) -> web.Response:
    return web.json_response(
        {"message": message}, status=status, headers={"x-amzn-ErrorType": error_type}
    )


class WsDoor:
    """Accepts piles, runs the WebSocket routes, serves ``@connections``."""

    def __init__(
        self,
        runtime: LambdaRuntime,
        routes: WebSocketRoutes,
        limits: WsLimits | None = None,
        api_id: str = "local",
    ) -> None:
        self._runtime = runtime
        self._routes = routes
        self._limits = limits or WsLimits()
        self._api_id = api_id
        self.connections: dict[str, Connection] = {}
        self._sweeper: asyncio.Task[None] | None = None

    def add_routes(self, app: web.Application) -> None:
        """Mount the door and the management API on ``app`` and start the quota sweeper."""
        app.router.add_get("/ocpp/{pile_id}", self._upgrade)
        management = f"/{WS_STAGE}/@connections/{{connection_id}}"
        app.router.add_post(management, self._post_to_connection)
        app.router.add_get(management, self._get_connection)
        app.router.add_delete(management, self._delete_connection)
        app.on_startup.append(self._start_sweeper)
        app.on_shutdown.append(self._on_shutdown)

    # -- $connect -------------------------------------------------------------------

    async def _upgrade(self, request: web.Request) -> web.StreamResponse:
        pile_id = request.match_info["pile_id"]
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.json_response({"message": "Upgrade Required"}, status=426)
        connection_id = api_gateway_id()
        connected_at_ms = _now_ms()
        source_ip = request.remote or ""
        user_agent = request.headers.get("User-Agent", "")
        protocol: str | None = None
        target = self._routes.targets.get("$connect")
        if target is not None:
            event = self._connect_event(request, pile_id, connection_id, connected_at_ms)
            refusal, protocol = await self._run_connect(target, event, pile_id)
            if refusal is not None:
                return refusal
        ws = web.WebSocketResponse(
            timeout=3.0,  # for the closing handshake: a silent pile must not hold a stop up
            protocols=(protocol,) if protocol else (),
            autoping=False,
            compress=False,
            max_msg_size=self._limits.max_message_bytes,
        )
        if protocol:
            ws.headers["Sec-WebSocket-Protocol"] = protocol
        await ws.prepare(request)
        conn = Connection(
            connection_id, pile_id, ws, source_ip, user_agent, request.host, connected_at_ms
        )
        self.connections[connection_id] = conn
        log.info("ws connect %s as %s (%s)", pile_id, connection_id, protocol or "no sub-protocol")
        try:
            await self._serve(conn)
        finally:
            self.connections.pop(connection_id, None)
            await self._disconnect(conn)
        return ws

    async def _run_connect(
        self, target: str, event: dict[str, Any], pile_id: str
    ) -> tuple[web.Response | None, str | None]:
        try:
            result = await self._runtime.invoke_async(
                target, event, self._limits.integration_timeout_s
            )
        except TimeoutError:
            log.warning("ws connect %s refused: $connect timed out", pile_id)
            return web.json_response({"message": "Endpoint request timed out"}, status=504), None
        if result.is_error:
            log.warning("ws connect %s refused: $connect failed", pile_id)
            return web.json_response({"message": "Internal server error"}, status=500), None
        payload = result.payload if isinstance(result.payload, dict) else {}
        status = int(payload.get("statusCode", 200))
        if not 200 <= status < 300:
            body = payload.get("body")
            log.info("ws connect %s refused with %d", pile_id, status)
            text = body if isinstance(body, str) else ""
            return web.Response(status=status, text=text), None
        headers = _case_insensitive(payload.get("headers"))
        return None, headers.get("sec-websocket-protocol") or None

    def _connect_event(
        self, request: web.Request, pile_id: str, connection_id: str, now_ms: int
    ) -> dict[str, Any]:
        headers: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            headers[name] = value
            multi.setdefault(name, []).append(value)
        forwarded = {
            "X-Forwarded-For": request.remote or "",
            "X-Forwarded-Port": str(request.url.port or ""),
            "X-Forwarded-Proto": request.scheme,
        }
        for name, value in forwarded.items():
            headers[name] = value
            multi[name] = [value]
        query: dict[str, str] = dict(request.query)
        multi_query: dict[str, list[str]] = {key: request.query.getall(key) for key in query}
        # The CloudFront Function's rewrite: /ocpp/{pileId} -> /?pileId={pileId}.
        query["pileId"] = pile_id
        multi_query["pileId"] = [pile_id]
        context = self._request_context(
            route_key="$connect",
            event_type="CONNECT",
            connection_id=connection_id,
            connected_at_ms=now_ms,
            now_ms=now_ms,
            domain_name=request.host,
            source_ip=request.remote or "",
            user_agent=request.headers.get("User-Agent", ""),
        )
        return {
            "headers": headers,
            "multiValueHeaders": multi,
            "queryStringParameters": query,
            "multiValueQueryStringParameters": multi_query,
            "requestContext": context,
            "isBase64Encoded": False,
        }

    def _request_context(
        self,
        *,
        route_key: str,
        event_type: str,
        connection_id: str,
        connected_at_ms: int,
        now_ms: int,
        domain_name: str,
        source_ip: str,
        user_agent: str,
    ) -> dict[str, Any]:
        request_id = api_gateway_id()
        return {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": request_id,
            "requestTime": request_time(now_ms),
            "messageDirection": "IN",
            "stage": WS_STAGE,
            "connectedAt": connected_at_ms,
            "requestTimeEpoch": now_ms,
            "identity": {"sourceIp": source_ip, "userAgent": user_agent},
            "requestId": request_id,
            "domainName": domain_name,
            "connectionId": connection_id,
            "apiId": self._api_id,
        }

    # -- frames ------------------------------------------------------------------------

    async def _serve(self, conn: Connection) -> None:
        ws = conn.ws
        while True:
            msg = await ws.receive()
            if msg.type is WSMsgType.TEXT:
                conn.touch()
                await self._on_message(conn, msg.data, is_base64=False)
            elif msg.type is WSMsgType.BINARY:
                conn.touch()
                encoded = base64.b64encode(msg.data).decode("ascii")
                await self._on_message(conn, encoded, is_base64=True)
            elif msg.type is WSMsgType.PING:
                conn.touch()
                await ws.pong(msg.data)
            elif msg.type is WSMsgType.PONG:
                conn.touch()
            elif msg.type is WSMsgType.CLOSE:
                if conn.close_code is None:
                    conn.close_code = int(msg.data) if msg.data is not None else 1005
                    conn.close_reason = msg.extra or ""
                return
            else:  # CLOSING, CLOSED, ERROR (e.g. a message over the size quota)
                if conn.close_code is None:
                    error_code = getattr(msg.data, "code", None)  # WebSocketError (e.g. 1009)
                    conn.close_code = int(error_code or ws.close_code or ABNORMAL)
                    if isinstance(msg.data, Exception):
                        conn.close_reason = str(msg.data)
                return

    async def _on_message(self, conn: Connection, body: str, is_base64: bool) -> None:
        now_ms = _now_ms()
        context = self._request_context(
            route_key="$default",
            event_type="MESSAGE",
            connection_id=conn.connection_id,
            connected_at_ms=conn.connected_at_ms,
            now_ms=now_ms,
            domain_name=conn.domain_name,
            source_ip=conn.source_ip,
            user_agent=conn.user_agent,
        )
        context["messageId"] = api_gateway_id()
        event = {"requestContext": context, "body": body, "isBase64Encoded": is_base64}
        target = self._routes.targets.get("$default")
        if target is None:
            await self._send_error(conn, "Forbidden", context["requestId"])
            return
        try:
            result = await self._runtime.invoke_async(
                target, event, self._limits.integration_timeout_s
            )
        except TimeoutError:
            log.warning("ws frame from %s: $default timed out", conn.pile_id)
            await self._send_error(conn, "Endpoint request timed out", context["requestId"])
            return
        log.debug("ws frame from %s handled in %.1f ms", conn.pile_id, result.duration_ms)
        if result.is_error:
            await self._send_error(conn, "Internal server error", context["requestId"])
            return
        if "$default" in self._routes.two_way:
            await self._send_route_response(conn, result)

    async def _send_route_response(self, conn: Connection, result: InvocationResult) -> None:
        payload = result.payload
        if not isinstance(payload, dict):
            return
        body = payload.get("body")
        if not isinstance(body, str) or not body:
            return
        if payload.get("isBase64Encoded"):
            await self._send(conn, base64.b64decode(body))
        else:
            await self._send(conn, body)

    async def _send_error(self, conn: Connection, message: str, request_id: str) -> None:
        frame = {"message": message, "connectionId": conn.connection_id, "requestId": request_id}
        await self._send(conn, json.dumps(frame))

    async def _send(self, conn: Connection, data: str | bytes) -> bool:
        if conn.ws.closed:
            return False
        try:
            if isinstance(data, bytes):
                await conn.ws.send_bytes(data)
            else:
                await conn.ws.send_str(data)
        except (ConnectionError, RuntimeError):
            return False
        conn.touch()
        return True

    # -- $disconnect ---------------------------------------------------------------------

    async def _disconnect(self, conn: Connection) -> None:
        code = conn.close_code if conn.close_code is not None else ABNORMAL
        log.info("ws disconnect %s (%s) code %d", conn.pile_id, conn.connection_id, code)
        target = self._routes.targets.get("$disconnect")
        if target is None:
            return
        now_ms = _now_ms()
        context = self._request_context(
            route_key="$disconnect",
            event_type="DISCONNECT",
            connection_id=conn.connection_id,
            connected_at_ms=conn.connected_at_ms,
            now_ms=now_ms,
            domain_name=conn.domain_name,
            source_ip=conn.source_ip,
            user_agent=conn.user_agent,
        )
        context["disconnectStatusCode"] = code
        context["disconnectReason"] = conn.close_reason
        headers = {"Host": context["domainName"], "X-Forwarded-For": conn.source_ip}
        event = {
            "headers": headers,
            "multiValueHeaders": {key: [value] for key, value in headers.items()},
            "requestContext": context,
            "isBase64Encoded": False,
        }
        with contextlib.suppress(TimeoutError):
            await self._runtime.invoke_async(target, event, self._limits.integration_timeout_s)

    async def close_connection(self, conn: Connection, code: int, reason: str) -> None:
        """Close from the server side; the connection's own task sends ``$disconnect``."""
        if conn.close_code is None:
            conn.close_code = code
            conn.close_reason = reason
        await conn.ws.close(code=code, message=reason.encode("utf-8"))

    async def close_all(self, timeout_s: float = 5.0) -> None:
        """Close every connection with 1001 (the stack is going away)."""
        closing = [
            self.close_connection(conn, GOING_AWAY, "Going away")
            for conn in list(self.connections.values())
        ]
        if closing:
            await asyncio.wait_for(
                asyncio.gather(*closing, return_exceptions=True), timeout=timeout_s
            )

    # -- quotas ----------------------------------------------------------------------------

    async def _start_sweeper(self, app: web.Application) -> None:
        self._sweeper = asyncio.create_task(self._sweep())

    async def _on_shutdown(self, app: web.Application) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        with contextlib.suppress(TimeoutError):
            await self.close_all()

    async def _sweep(self) -> None:
        limits = self._limits
        interval = min(max(min(limits.idle_timeout_s, limits.max_lifetime_s) / 4, 0.05), 5.0)
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for conn in list(self.connections.values()):
                if conn.close_code is not None:
                    continue
                if now - conn.opened >= limits.max_lifetime_s:
                    log.info("ws %s reached the connection lifetime quota", conn.pile_id)
                elif now - conn.last_active >= limits.idle_timeout_s:
                    log.info("ws %s idle beyond the idle timeout", conn.pile_id)
                else:
                    continue
                task = asyncio.create_task(self.close_connection(conn, GOING_AWAY, "Going away"))
                task.add_done_callback(_log_task_failure)

    # -- @connections ---------------------------------------------------------------------

    async def _post_to_connection(self, request: web.Request) -> web.Response:
        conn = self.connections.get(request.match_info["connection_id"])
        if conn is None or conn.ws.closed:
            return _aws_error(410, "GoneException", None)
        data = await request.read()
        if len(data) > self._limits.max_message_bytes:
            return _aws_error(413, "PayloadTooLargeException", "Message too long")
        try:
            text: str | bytes = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data
        if not await self._send(conn, text):
            return _aws_error(410, "GoneException", None)
        log.debug("ws post_to_connection %s (%d bytes)", conn.pile_id, len(data))
        return web.Response(status=200)

    async def _get_connection(self, request: web.Request) -> web.Response:
        conn = self.connections.get(request.match_info["connection_id"])
        if conn is None or conn.ws.closed:
            return _aws_error(410, "GoneException", None)
        return web.json_response(
            {
                "connectedAt": _iso(conn.connected_at_ms),
                "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent},
                "lastActiveAt": _iso(conn.last_active_ms),
            }
        )

    async def _delete_connection(self, request: web.Request) -> web.Response:
        conn = self.connections.get(request.match_info["connection_id"])
        if conn is None or conn.ws.closed:
            return _aws_error(410, "GoneException", None)
        await self.close_connection(conn, 1000, "")
        return web.Response(status=204)


def _log_task_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("ws close failed: %s", task.exception())
