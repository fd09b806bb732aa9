"""Every knob of the local stack, read from the environment in this one place.

Ports default to the well-known ones (4566 embedded AWS, 8000 HTTP, 9000 WebSocket,
1883 MQTT); tests and parallel stacks override them. The API Gateway limits default to
the real service's and can be shrunk so tests see idle and lifetime closes quickly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
WS_STAGE = "local"


@dataclass(frozen=True, slots=True)
class WsLimits:
    """API Gateway WebSocket quotas the door enforces."""

    idle_timeout_s: float = 600.0  # closes after 10 idle minutes
    max_lifetime_s: float = 7200.0  # and after 2 hours in all
    max_message_bytes: int = 128 * 1024
    integration_timeout_s: float = 29.0


@dataclass(frozen=True, slots=True)
class LocalSettings:
    """Where the stack listens and how it behaves; ``from_env`` is the only reader."""

    host: str = "127.0.0.1"
    aws_port: int = 4566
    http_port: int = 8000
    ws_port: int = 9000
    mqtt_port: int = 1883
    sandbox_pay_port: int = 8090
    state_dir: Path = ROOT / ".local-stack"
    dashboard_dir: Path = ROOT / "dashboard"
    ws_limits: WsLimits = WsLimits()
    lambda_workers: int = 32
    log_level: str = "INFO"
    platform_admin_username: str = "platform-admin"
    platform_admin_password: str = "platform-admin-pass"  # noqa: S105 - local-only login
    mosquitto_path: str = "/usr/sbin/mosquitto"

    @property
    def aws_endpoint(self) -> str:
        return f"http://{self.host}:{self.aws_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def ws_url(self) -> str:
        """The piles' base URL: a pile opens ``{ws_url}/ocpp/{pileId}``."""
        return f"ws://{self.host}:{self.ws_port}"

    @property
    def sandbox_pay_url(self) -> str:
        """The sandbox payment provider (``infra/local/sandbox_pay.py``): drivers "pay" here."""
        return f"http://{self.host}:{self.sandbox_pay_port}"

    @property
    def management_endpoint(self) -> str:
        return f"http://{self.host}:{self.ws_port}/{WS_STAGE}"

    @property
    def iot_data_endpoint(self) -> str:
        return f"http://{self.host}:{self.ws_port}/iot-data"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LocalSettings:
        """Read ``LOCAL_*`` variables; anything unset keeps its default."""
        env = os.environ if env is None else env
        base = cls()
        limits = WsLimits(
            idle_timeout_s=float(env.get("LOCAL_WS_IDLE_TIMEOUT_S", base.ws_limits.idle_timeout_s)),
            max_lifetime_s=float(env.get("LOCAL_WS_MAX_LIFETIME_S", base.ws_limits.max_lifetime_s)),
            max_message_bytes=int(
                env.get("LOCAL_WS_MAX_MESSAGE_BYTES", base.ws_limits.max_message_bytes)
            ),
            integration_timeout_s=float(
                env.get("LOCAL_WS_INTEGRATION_TIMEOUT_S", base.ws_limits.integration_timeout_s)
            ),
        )
        return cls(
            host=env.get("LOCAL_BIND_HOST", base.host),
            aws_port=int(env.get("LOCAL_AWS_PORT", base.aws_port)),
            http_port=int(env.get("LOCAL_HTTP_PORT", base.http_port)),
            ws_port=int(env.get("LOCAL_WS_PORT", base.ws_port)),
            mqtt_port=int(env.get("LOCAL_MQTT_PORT", base.mqtt_port)),
            sandbox_pay_port=int(env.get("LOCAL_SANDBOX_PAY_PORT", base.sandbox_pay_port)),
            state_dir=Path(env.get("LOCAL_STACK_DIR", str(base.state_dir))),
            dashboard_dir=Path(env.get("LOCAL_DASHBOARD_DIR", str(base.dashboard_dir))),
            ws_limits=limits,
            lambda_workers=int(env.get("LOCAL_LAMBDA_WORKERS", base.lambda_workers)),
            log_level=env.get("LOCAL_LOG_LEVEL", base.log_level).upper(),
            platform_admin_password=env.get(
                "LOCAL_PLATFORM_ADMIN_PASSWORD", base.platform_admin_password
            ),
            mosquitto_path=env.get("LOCAL_MOSQUITTO", base.mosquitto_path),
        )
