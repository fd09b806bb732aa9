"""The local stack: the whole platform on one machine, on embedded AWS, in one process.

Start order (``LocalStack.start``), each step waiting until its part answers:

1. embedded AWS: ``moto.server.ThreadedMotoServer`` on ``LOCAL_AWS_PORT``, its DynamoDB
   made atomic per request (``infra.local.moto_dynamodb``), Step Functions execution
   switched on through moto's config API, fake credentials and ``AWS_ENDPOINT_URL``
   exported for every client of the process;
2. provisioning: ``infra.local.provision.provision`` deploys template.yaml and returns
   the ``LocalDeployment``; the functions' resolved environment goes into ``os.environ``
   (they all run here), with ``WS_MANAGEMENT_ENDPOINT`` pointing at the door and
   boto3's ``apigatewaymanagementapi`` / ``iot-data`` endpoints at the local data planes;
3. the platform admin login (Cognito user ``platform-admin`` in group ``platform-admin``);
4. the Lambda runtime, installed into moto;
5. mosquitto, the IoT rule engine and the iot-data publish path;
6. the WebSocket door (+ ``@connections``, iot-data) and the HTTP front (API + dashboard);
7. the schedule ticker.

``stop`` undoes it in reverse; mosquitto always goes, even after a failed start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from moto.server import ThreadedMotoServer

from infra.local import moto_dynamodb, moto_stepfunctions
from infra.local.deployment import LocalDeployment
from infra.local.http_front import HttpFront
from infra.local.iot_rules import IotDataEndpoint, IotRuleEngine, MqttLink
from infra.local.jwt_authorizer import JwtAuthorizer
from infra.local.lambda_runtime import LambdaRuntime
from infra.local.mqtt_broker import BrokerFailed, MosquittoBroker
from infra.local.sandbox_pay import SandboxOptions, SandboxPayServer, start_sandbox
from infra.local.scheduler import ScheduleTicker
from infra.local.settings import LocalSettings
from infra.local.ws_door import WsDoor

log = logging.getLogger("local.stack")

ProvisionFn = Callable[..., LocalDeployment]
PLATFORM_ADMIN_GROUP = "platform-admin"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
}


class StackStartError(RuntimeError):
    """A part of the local stack could not start; the message says which and why."""


@dataclass(frozen=True, slots=True)
class LocalStackInfo:
    """Where the running stack answers (handed to the demo and written to stack.json)."""

    http_url: str
    ws_url: str  # piles open {ws_url}/ocpp/{pileId}
    mqtt_host: str
    mqtt_port: int
    aws_endpoint: str
    deployment: LocalDeployment

    def as_json(self) -> dict[str, Any]:
        return {
            "http_url": self.http_url,
            "ws_url": self.ws_url,
            "ocpp_url_template": f"{self.ws_url}/ocpp/{{pileId}}",
            "mqtt_host": self.mqtt_host,
            "mqtt_port": self.mqtt_port,
            "aws_endpoint": self.aws_endpoint,
            "region": self.deployment.region,
            "user_pool_id": self.deployment.user_pool_id,
            "user_pool_client_id": self.deployment.user_pool_client_id,
            "tables": self.deployment.tables,
            "pid": os.getpid(),
        }


def _default_provision(endpoint_url: str, **kwargs: Any) -> LocalDeployment:
    from infra.local.provision import provision

    return provision(endpoint_url, **kwargs)


def merge_function_environment(deployment: LocalDeployment) -> dict[str, str]:
    """One environment for all functions; a variable they disagree on is logged."""
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for logical_id, config in sorted(deployment.functions.items()):
        for name, value in config.environment.items():
            if name in merged and merged[name] != value:
                log.warning(
                    "%s sets %s differently from %s; %s's value wins in the local stack",
                    logical_id,
                    name,
                    owner[name],
                    owner[name],
                )
                continue
            merged.setdefault(name, value)
            owner.setdefault(name, logical_id)
    return merged


class LocalStack:
    """Owns every part of the running stack."""

    def __init__(
        self, settings: LocalSettings, provision_fn: ProvisionFn = _default_provision
    ) -> None:
        self.settings = settings
        self._provision = provision_fn
        self._moto: ThreadedMotoServer | None = None
        self._broker: MosquittoBroker | None = None
        self._runtime: LambdaRuntime | None = None
        self._rules: IotRuleEngine | None = None
        self._publisher: MqttLink | None = None
        self._runners: list[web.AppRunner] = []
        self._ticker: ScheduleTicker | None = None
        self._sandbox_pay: SandboxPayServer | None = None
        self._demo_stop = threading.Event()
        self._demo_thread: threading.Thread | None = None
        self.door: WsDoor | None = None
        self.info: LocalStackInfo | None = None
        self.admin_login: tuple[str, str] | None = None

    async def start(self) -> LocalStackInfo:
        """Bring every part up (call ``stop`` afterwards, also when this fails).

        Raises:
            StackStartError: a port is taken, or a part failed to start.
        """
        try:
            return await self._start()
        except StackStartError:
            raise
        except (RuntimeError, ValueError, LookupError, OSError) as exc:
            # Provisioning, broker, rule SQL, schedules, function lookup: say which and why.
            raise StackStartError(f"{type(exc).__name__}: {exc}") from exc

    async def _start(self) -> LocalStackInfo:
        settings = self.settings
        self._check_ports()
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        self._start_sandbox_pay()
        deployment = await asyncio.to_thread(self._start_aws)
        await asyncio.to_thread(self._bootstrap_admin, deployment)
        runtime = LambdaRuntime.from_deployment(deployment, max_workers=settings.lambda_workers)
        runtime.install_into_moto()
        self._runtime = runtime
        self._start_broker()  # in the main thread: mosquitto lives as long as this thread
        await asyncio.to_thread(self._start_iot, deployment, runtime)
        await self._start_web(deployment, runtime)
        self._ticker = ScheduleTicker(runtime, deployment.schedules, region=deployment.region)
        self._ticker.start()
        self.info = LocalStackInfo(
            http_url=settings.http_url,
            ws_url=settings.ws_url,
            mqtt_host=settings.host,
            mqtt_port=settings.mqtt_port,
            aws_endpoint=settings.aws_endpoint,
            deployment=deployment,
        )
        (settings.state_dir / "stack.json").write_text(
            json.dumps(self.info.as_json(), indent=2) + "\n", encoding="utf-8"
        )
        return self.info

    def _check_ports(self) -> None:
        settings = self.settings
        ports = {
            "LOCAL_AWS_PORT": settings.aws_port,
            "LOCAL_HTTP_PORT": settings.http_port,
            "LOCAL_WS_PORT": settings.ws_port,
            "LOCAL_MQTT_PORT": settings.mqtt_port,
            "LOCAL_SANDBOX_PAY_PORT": settings.sandbox_pay_port,
        }
        for variable, port in ports.items():
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((settings.host, port))
                except OSError as exc:
                    raise StackStartError(
                        f"port {port} on {settings.host} is in use ({exc.strerror}); "
                        f"stop what holds it or set {variable}"
                    ) from exc

    def _start_sandbox_pay(self) -> None:
        """The sandbox payment provider; its notifications go to the HTTP front."""
        settings = self.settings
        server, url = start_sandbox(
            settings.sandbox_pay_port,
            settings.http_url,
            host=settings.host,
            options=SandboxOptions.from_env(os.environ),
        )
        self._sandbox_pay = server
        os.environ["SANDBOX_PAY_URL"] = url
        log.info("sandbox payment provider on %s", url)

    # -- embedded AWS and provisioning -----------------------------------------------------

    def _start_aws(self) -> LocalDeployment:
        settings = self.settings
        os.environ.update(FAKE_CREDENTIALS)
        os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = "us-east-1"
        moto_dynamodb.install()  # one request at a time, as DynamoDB applies them
        moto_stepfunctions.install()  # SendTaskFailure keeps its cause, as on AWS
        server = ThreadedMotoServer(ip_address=settings.host, port=settings.aws_port, verbose=False)
        server.start()
        self._moto = server
        endpoint = settings.aws_endpoint
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        os.environ["MOTO_PORT"] = str(settings.aws_port)  # moto's Step Functions calls Lambda here
        request = urllib.request.Request(  # noqa: S310 - our own loopback moto server
            f"{endpoint}/moto-api/config",
            data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - see above
            pass
        log.info("embedded AWS (moto) on %s", endpoint)
        deployment = self._provision(
            endpoint,
            ws_management_endpoint=settings.management_endpoint,
        )
        log.info(
            "provisioned %s: %d functions, %d HTTP routes, %d IoT rules, %d schedules",
            deployment.stack_name,
            len(deployment.functions),
            len(deployment.http_routes),
            len(deployment.iot_rules),
            len(deployment.schedules),
        )
        environment = merge_function_environment(deployment)
        environment.update(
            {
                "SANDBOX_PAY_URL": settings.sandbox_pay_url,
                "PAYMENT_NOTIFY_BASE_URL": settings.http_url,
                "WS_MANAGEMENT_ENDPOINT": settings.management_endpoint,
                "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI": settings.management_endpoint,
                "AWS_ENDPOINT_URL_IOT_DATA_PLANE": settings.iot_data_endpoint,
            }
        )
        os.environ.update(environment)
        # Locally there is no X-Ray daemon, and per-invocation metric blobs drown the log.
        os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        return deployment

    def _bootstrap_admin(self, deployment: LocalDeployment) -> None:
        import boto3

        username = self.settings.platform_admin_username
        password = self.settings.platform_admin_password
        pool_id = deployment.user_pool_id
        cognito = boto3.client("cognito-idp", region_name=deployment.region)
        with contextlib.suppress(cognito.exceptions.GroupExistsException):
            cognito.create_group(UserPoolId=pool_id, GroupName=PLATFORM_ADMIN_GROUP)
        with contextlib.suppress(cognito.exceptions.UsernameExistsException):
            cognito.admin_create_user(
                UserPoolId=pool_id,
                Username=username,
                TemporaryPassword=f"Tmp-{secrets.token_urlsafe(12)}-9a",
                MessageAction="SUPPRESS",
            )
        try:
            cognito.admin_set_user_password(
                UserPoolId=pool_id, Username=username, Password=password, Permanent=True
            )
        except cognito.exceptions.InvalidPasswordException as exc:
            raise StackStartError(
                f"the {username} password does not meet the user pool's password policy"
            ) from exc
        cognito.admin_add_user_to_group(
            UserPoolId=pool_id, Username=username, GroupName=PLATFORM_ADMIN_GROUP
        )
        self.admin_login = (username, password)

    # -- MQTT --------------------------------------------------------------------------------

    def _start_broker(self) -> None:
        settings = self.settings
        broker = MosquittoBroker(
            settings.host, settings.mqtt_port, settings.state_dir, settings.mosquitto_path
        )
        try:
            broker.start()
        except BrokerFailed as exc:
            raise StackStartError(str(exc)) from exc
        self._broker = broker

    def _start_iot(self, deployment: LocalDeployment, runtime: LambdaRuntime) -> None:
        settings = self.settings
        publisher = MqttLink(settings.host, settings.mqtt_port, f"iot-data-{os.getpid()}")
        publisher.connect()
        self._publisher = publisher
        rules = IotRuleEngine(runtime, deployment.iot_rules, settings.host, settings.mqtt_port)
        rules.start()
        self._rules = rules

    # -- WebSocket door and HTTP front -----------------------------------------------------------

    async def _start_web(self, deployment: LocalDeployment, runtime: LambdaRuntime) -> None:
        settings = self.settings
        door = WsDoor(runtime, deployment.websocket, settings.ws_limits)
        door_app = web.Application(client_max_size=1024 * 1024)
        door.add_routes(door_app)
        assert self._publisher is not None
        IotDataEndpoint(self._publisher).add_routes(door_app)
        self.door = door
        authorizer = JwtAuthorizer.for_cognito(
            deployment.endpoint_url,
            deployment.region,
            deployment.user_pool_id,
            [deployment.user_pool_client_id],
        )
        dashboard = settings.dashboard_dir if settings.dashboard_dir.is_dir() else None
        front = HttpFront(runtime, deployment.http_routes, authorizer, dashboard)
        front_app = HttpFront.new_app()
        front.add_routes(front_app)
        for app, port in ((door_app, settings.ws_port), (front_app, settings.http_port)):
            runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=3.0)
            await runner.setup()
            self._runners.append(runner)
            await web.TCPSite(runner, settings.host, port, backlog=2048).start()

    # -- demo --------------------------------------------------------------------------------

    def start_demo(self) -> bool:
        """Run ``infra.local.demo.start_demo`` in a thread; False when there is no demo."""
        try:
            from infra.local.demo import start_demo
        except ImportError as exc:
            log.warning("no demo available (%s); the stack runs without it", exc)
            return False

        def run() -> None:
            try:
                start_demo(self.info, self._demo_stop)  # blocks until the stop event
            except Exception:
                log.exception("the demo stopped with an error; the stack keeps running")

        self._demo_thread = threading.Thread(target=run, name="demo", daemon=True)
        self._demo_thread.start()
        return True

    # -- stop --------------------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop every part that started, newest first."""
        self._demo_stop.set()
        if self._demo_thread is not None:
            await asyncio.to_thread(self._demo_thread.join, 10)
        if self._ticker is not None:
            await self._ticker.stop()
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        if self._rules is not None:
            await asyncio.to_thread(self._rules.stop)
        if self._publisher is not None:
            await asyncio.to_thread(self._publisher.close)
        if self._broker is not None:
            await asyncio.to_thread(self._broker.stop)
        if self._runtime is not None:
            self._runtime.remove_from_moto()
            self._runtime.shutdown(wait=False, cancel_pending=True)
        if self._sandbox_pay is not None:
            await asyncio.to_thread(self._sandbox_pay.shutdown)
            self._sandbox_pay.server_close()
            self._sandbox_pay = None
        if self._moto is not None:
            await asyncio.to_thread(self._moto.stop)
            self._moto = None
        log.info("local stack stopped")


def banner(stack: LocalStack) -> str:
    """The short startup summary printed before ``local stack ready``."""
    settings = stack.settings
    info = stack.info
    assert info is not None
    lines = [
        "",
        "Charging cloud: local stack (embedded AWS, no account needed)",
        f"  Dashboard + HTTP API   {info.http_url}/",
        f"  OCPP piles (WebSocket) {info.ws_url}/ocpp/{{pileId}}  (ocpp1.6, ocpp2.0.1)",
        f"  @connections API       {settings.management_endpoint}",
        f"  MQTT broker            {info.mqtt_host}:{info.mqtt_port}",
        f"  Sandbox payments       {settings.sandbox_pay_url}",
        f"  Embedded AWS (moto)    {info.aws_endpoint}  (AWS_ENDPOINT_URL, any credentials)",
    ]
    if stack.admin_login is not None:
        lines.append(f"  Platform admin login   {stack.admin_login[0]} / {stack.admin_login[1]}")
    lines += [f"  Stack details          {settings.state_dir / 'stack.json'}", ""]
    return "\n".join(lines)
