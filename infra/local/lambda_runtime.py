"""Runs the deployed functions' real handlers in this process, shaped like Lambda.

Every function of the stack lives in the one local-stack process: its handler module is
imported once, at its first invocation (the cold start), and then called with a
Lambda-shaped context. Three kinds of caller reach it:

- the WebSocket door, the HTTP front and the IoT rule engine call ``invoke_async`` /
  ``invoke_event``, which run the handler in one bounded thread pool (the event loop
  never blocks, and no thread is created per message);
- moto: ``install_into_moto`` replaces ``LambdaFunction._invoke_lambda`` (moto's only way
  to run code, which needs Docker) and ``LambdaFunction.invoke`` (so an ``Event`` invoke
  returns 202 at once and runs in the pool, and a crash reports ``FunctionError:
  Unhandled`` as Lambda does). Lambda Invoke, Step Functions tasks (including
  ``lambda:invoke.waitForTaskToken``), SNS subscriptions and SQS mappings then reach
  the real handler, in moto's request thread; DynamoDB Streams batches run in the pool
  after the write (as Lambda's Streams poller delivers them; a handler inside the write
  would wait for the embedded DynamoDB's request lock, ``infra.local.moto_dynamodb``);
- tests, through ``invoke``.

A handler exception becomes Lambda's error object (``errorMessage``, ``errorType``,
``requestId``, ``stackTrace``) with ``function_error == "Unhandled"`` and is logged with
its traceback. The result goes through JSON as Lambda's runtime marshals it, so a
handler returning something Lambda could not serialise fails here too
(``Runtime.MarshalError``). A thread cannot be killed, so an invocation that overruns
its function's timeout is logged as a warning, not cut short.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from moto.awslambda.models import LambdaFunction

from infra.local.deployment import FunctionConfig, LocalDeployment
from infra.local.settings import ACCOUNT_ID, REGION

log = logging.getLogger("local.lambda")

Handler = Callable[[Any, Any], Any]


class UnknownFunction(LookupError):
    """No deployed function has that logical id, physical name or ARN."""


@dataclass(frozen=True, slots=True)
class InvocationResult:
    """What one invocation produced, as Lambda's Invoke API would report it."""

    payload: Any  # the handler's JSON result, or Lambda's error object
    function_error: str | None  # "Unhandled" when the handler raised
    request_id: str
    duration_ms: float

    @property
    def is_error(self) -> bool:
        return self.function_error is not None


class LambdaContext:
    """The context object Lambda's Python runtime passes to a handler."""

    def __init__(self, config: FunctionConfig, region: str, request_id: str) -> None:
        self.function_name = config.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{config.function_name}"
        )
        self.memory_limit_in_mb = config.memory_mb
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{config.function_name}"
        self.log_stream_name = f"local/[$LATEST]{request_id.replace('-', '')}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + config.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _to_json(value: Any) -> str:
    # Lambda's Python runtime serialises Decimal (what boto3's DynamoDB layer returns).
    def default(obj: Any) -> Any:
        if isinstance(obj, Decimal):
            return int(obj) if obj == obj.to_integral_value() else float(obj)
        raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")

    return json.dumps(value, default=default)


def _error_object(exc: BaseException, request_id: str) -> dict[str, Any]:
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": [line.rstrip("\n") for line in traceback.format_tb(exc.__traceback__)],
    }


class LambdaRuntime:
    """Calls the stack's handlers; one instance per local stack (or per test)."""

    def __init__(
        self,
        functions: Mapping[str, FunctionConfig],
        region: str = REGION,
        max_workers: int = 32,
    ) -> None:
        self._by_logical_id = dict(functions)
        self._by_name = {config.function_name: config for config in functions.values()}
        self._region = region
        self._handlers: dict[str, Handler] = {}
        self._import_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="lambda")
        self._counts_lock = threading.Lock()
        self.invocations: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    @classmethod
    def from_deployment(cls, deployment: LocalDeployment, max_workers: int = 32) -> LambdaRuntime:
        return cls(deployment.functions, region=deployment.region, max_workers=max_workers)

    @property
    def executor(self) -> ThreadPoolExecutor:
        return self._pool

    def function(self, name: str) -> FunctionConfig:
        """The function with this logical id, physical name or ARN.

        Raises:
            UnknownFunction: nothing deployed answers to ``name``.
        """
        if name in self._by_logical_id:
            return self._by_logical_id[name]
        if name.startswith("arn:"):
            parts = name.split(":")
            name = parts[6] if len(parts) > 6 else name
        if name in self._by_name:
            return self._by_name[name]
        raise UnknownFunction(name)

    def invoke(self, function: str | FunctionConfig, event: Any) -> InvocationResult:
        """Run one invocation in the calling thread.

        Raises:
            UnknownFunction: ``function`` names nothing deployed.
        """
        config = function if isinstance(function, FunctionConfig) else self.function(function)
        request_id = str(uuid.uuid4())
        started = time.perf_counter()
        function_error: str | None = None
        try:
            handler = self._handler(config)
            result = handler(event, LambdaContext(config, self._region, request_id))
            try:
                payload: Any = json.loads(_to_json(result))
            except (TypeError, ValueError) as exc:
                function_error = "Unhandled"
                payload = {
                    "errorMessage": f"Unable to marshal response: {exc}",
                    "errorType": "Runtime.MarshalError",
                    "requestId": request_id,
                    "stackTrace": [],
                }
                log.error("%s returned a result Lambda cannot marshal: %s", config.logical_id, exc)
        except Exception as exc:  # Lambda reports any handler crash to its caller
            function_error = "Unhandled"
            payload = _error_object(exc, request_id)
            log.error("%s failed: %s: %s", config.logical_id, type(exc).__name__, exc, exc_info=exc)
        duration_ms = (time.perf_counter() - started) * 1000
        self._count(config.logical_id, function_error is not None)
        if duration_ms > config.timeout_s * 1000:
            log.warning(
                "%s ran %.0f ms, beyond its %d s timeout (Lambda would have stopped it)",
                config.logical_id,
                duration_ms,
                config.timeout_s,
            )
        log.debug("%s invoked in %.1f ms (%s)", config.logical_id, duration_ms, request_id)
        return InvocationResult(payload, function_error, request_id, duration_ms)

    async def invoke_async(
        self, function: str | FunctionConfig, event: Any, timeout_s: float | None = None
    ) -> InvocationResult:
        """Run one invocation in the pool and await it.

        Raises:
            UnknownFunction: ``function`` names nothing deployed.
            TimeoutError: no result within ``timeout_s`` (the handler keeps running).
        """
        config = function if isinstance(function, FunctionConfig) else self.function(function)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, self.invoke, config, event)
        if timeout_s is None:
            return await future
        return await asyncio.wait_for(future, timeout_s)

    def invoke_event(self, function: str | FunctionConfig, event: Any) -> Future[InvocationResult]:
        """Queue an asynchronous (``Event``) invocation in the pool.

        Raises:
            UnknownFunction: ``function`` names nothing deployed.
        """
        config = function if isinstance(function, FunctionConfig) else self.function(function)
        return self._pool.submit(self.invoke, config, event)

    def shutdown(self, wait: bool = True, cancel_pending: bool = False) -> None:
        """Stop the pool; queued invocations still run unless ``cancel_pending``."""
        self._pool.shutdown(wait=wait, cancel_futures=cancel_pending)

    def _count(self, logical_id: str, is_error: bool) -> None:
        with self._counts_lock:
            self.invocations[logical_id] += 1
            if is_error:
                self.errors[logical_id] += 1

    def _handler(self, config: FunctionConfig) -> Handler:
        handler = self._handlers.get(config.handler)
        if handler is not None:
            return handler
        with self._import_lock:
            handler = self._handlers.get(config.handler)
            if handler is None:
                module_name, _, attribute = config.handler.rpartition(".")
                started = time.perf_counter()
                module = importlib.import_module(module_name)
                handler = getattr(module, attribute)
                self._handlers[config.handler] = handler
                log.info(
                    "%s cold start: imported %s in %.0f ms",
                    config.logical_id,
                    module_name,
                    (time.perf_counter() - started) * 1000,
                )
        return handler

    # -- moto integration ---------------------------------------------------------------

    def config_for_moto_function(self, fn: Any) -> FunctionConfig:
        """The deployed config behind a moto ``LambdaFunction`` (built from it if unknown)."""
        try:
            return self.function(fn.function_name)
        except UnknownFunction:
            config = FunctionConfig(
                logical_id=fn.function_name,
                function_name=fn.function_name,
                handler=fn.handler,
                environment=dict(fn.environment_vars or {}),
                memory_mb=int(fn.memory_size or 128),
                timeout_s=int(fn.timeout or 3),
            )
            self._by_name[config.function_name] = config
            return config

    def install_into_moto(self) -> None:
        """Route every moto Lambda invocation in this process to this runtime."""
        _install(self)

    def remove_from_moto(self) -> None:
        """Give moto its own Lambda invocation back (if this runtime is the installed one)."""
        _uninstall(self)


def _moto_event(raw: Any) -> Any:
    # moto's LambdaFunction.invoke passes the parsed body, or the string "{}" when empty.
    if raw is None or raw == "{}":
        return {}
    return raw


_installed: LambdaRuntime | None = None
_originals: dict[str, Any] = {}


def _install(runtime: LambdaRuntime) -> None:
    global _installed  # noqa: PLW0603 - moto's class is process-wide, so is its hook
    if not _originals:
        _originals["_invoke_lambda"] = LambdaFunction._invoke_lambda
        _originals["invoke"] = LambdaFunction.invoke
    _installed = runtime

    def _invoke_lambda(fn: Any, event: Any = None) -> tuple[str, bool, str]:
        result = runtime.invoke(runtime.config_for_moto_function(fn), _moto_event(event))
        return _to_json(result.payload), result.is_error, ""

    def invoke(fn: Any, body: Any, request_headers: Any, response_headers: Any) -> str | bytes:
        event = json.loads(body) if body else {}
        invocation_type = request_headers.get("x-amz-invocation-type") or "RequestResponse"
        config = runtime.config_for_moto_function(fn)
        if invocation_type == "Event":
            runtime.invoke_event(config, event)
            return b""
        if _is_stream_batch(event):
            # moto calls a stream's function inside the write that made the record, under
            # the embedded DynamoDB's request lock (infra.local.moto_dynamodb); Lambda's
            # Streams poller delivers batches after the write, so does this. A truthy
            # answer tells moto the batch was taken.
            runtime.invoke_event(config, event)
            return b"{}"
        if invocation_type == "DryRun":
            return b""
        result = runtime.invoke(config, event)
        response_headers["x-amz-executed-version"] = "$LATEST"
        response_headers["x-amz-log-result"] = ""
        if result.function_error:
            response_headers["x-amz-function-error"] = result.function_error
        return _to_json(result.payload).encode("utf-8")

    LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign,assignment]
    LambdaFunction.invoke = invoke  # type: ignore[method-assign,assignment]


def _is_stream_batch(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return (
        isinstance(records, list)
        and bool(records)
        and isinstance(records[0], dict)
        and records[0].get("eventSource") == "aws:dynamodb"
    )


def _uninstall(runtime: LambdaRuntime) -> None:
    global _installed  # noqa: PLW0603 - see _install
    if _installed is not runtime or not _originals:
        return
    LambdaFunction._invoke_lambda = _originals["_invoke_lambda"]  # type: ignore[method-assign]
    LambdaFunction.invoke = _originals["invoke"]  # type: ignore[method-assign]
    _installed = None
