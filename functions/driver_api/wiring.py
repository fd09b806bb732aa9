"""Builds the driver API's clients and repositories once per cold start, from env vars.

Each is built on first use, so importing the handler stays cheap and a request pays only
for what it touches. Tests replace these functions (or call ``reset``) to pass fakes.
"""

from __future__ import annotations

import os
import secrets
from functools import cache
from typing import TYPE_CHECKING, Any

from shared.domain.clock import system_clock
from shared.domain.errors import FeatureUnavailable
from shared.domain.ids import new_id

if TYPE_CHECKING:
    from shared.adapters.dynamodb.drivers import (
        DynamoDriverCards,
        DynamoDrivers,
        DynamoGunReservations,
        DynamoStationIndex,
    )
    from shared.adapters.dynamodb.ledger import DynamoLedgerRepository
    from shared.adapters.dynamodb.payment_orders import DynamoPaymentBaseData
    from shared.services.driver_care import ComplaintPorts, ReservationPorts
    from shared.services.driver_charging import ChargingPorts, SessionsOnPiles
    from shared.services.driver_discovery import DiscoveryPorts
    from shared.services.driver_login import IdentityExchange
    from shared.services.ocpp.commands import CommandPorts
    from shared.services.payment_workflow import PaymentPorts
    from shared.services.wallet_topups import TopUpPorts

clock = system_clock
make_id = new_id


def random_hex(length: int) -> str:
    """``length`` random lowercase hex digits (order numbers, charge id tags)."""
    return secrets.token_hex((length + 1) // 2)[:length]


@cache
def _dynamodb_client() -> Any:
    import boto3

    return boto3.client("dynamodb")


@cache
def _secrets_client() -> Any:
    import boto3

    return boto3.client("secretsmanager")


@cache
def signing_key_source() -> Any:
    from shared.adapters.driver_login import SecretSigningKey

    return SecretSigningKey(_secrets_client(), os.environ["DRIVER_AUTH_SECRET_ID"])


def signing_key() -> bytes:
    """The token signing key (read from Secrets Manager once per container)."""
    key: bytes = signing_key_source()()
    return key


@cache
def identities() -> IdentityExchange:
    """The sandbox exchange where the stack runs a sandbox (``SANDBOX_PAY_URL`` set: the local
    stack); else WeChat ``code2session`` when the DriverAuthSecret names the mini-program's
    ``wechat_appid`` and ``wechat_app_secret``, and Alipay ``oauth.token`` when the
    AlipaySecret is complete; an app without its credentials answers 501."""
    from shared.adapters.driver_login import ExchangeByApp, SandboxIdentityExchange
    from shared.domain.drivers import LoginApp

    if os.environ.get("SANDBOX_PAY_URL") or os.environ.get("DRIVER_LOGIN_SANDBOX") == "1":
        return SandboxIdentityExchange()
    exchanges: dict[LoginApp, Any] = {}
    wechat = signing_key_source().wechat()
    if wechat is not None:
        exchanges[LoginApp.WECHAT] = wechat
    alipay = _alipay_exchange()
    if alipay is not None:
        exchanges[LoginApp.ALIPAY] = alipay
    return ExchangeByApp(exchanges)


def _alipay_exchange() -> Any:
    """Alipay sign-in with the mini-program's credentials in the AlipaySecret (the app that
    takes the payments), when ``ALIPAY_SECRET_ID`` names a complete one."""
    import json

    from botocore.exceptions import BotoCoreError, ClientError

    from shared.adapters.driver_login import AlipayOAuthToken
    from shared.adapters.payments.alipay import AlipayConfig
    from shared.domain.errors import UpstreamFailure

    secret_id = os.environ.get("ALIPAY_SECRET_ID")
    if not secret_id:
        return None
    try:
        raw = _secrets_client().get_secret_value(SecretId=secret_id)["SecretString"]
        config = AlipayConfig.from_secret(json.loads(raw))
    except (UpstreamFailure, ValueError, KeyError, TypeError):
        return None  # not configured (the template's placeholder): Alipay sign-in answers 501
    except (ClientError, BotoCoreError) as exc:
        raise UpstreamFailure("the Alipay secret could not be read") from exc
    return AlipayOAuthToken(config, clock=clock)


@cache
def drivers() -> DynamoDrivers:
    from shared.adapters.dynamodb.drivers import DynamoDrivers

    return DynamoDrivers(os.environ["BASE_DATA_TABLE"], _dynamodb_client())


@cache
def station_index() -> DynamoStationIndex:
    from shared.adapters.dynamodb.drivers import DynamoStationIndex

    return DynamoStationIndex(os.environ["BASE_DATA_TABLE"], _dynamodb_client())


@cache
def base_data() -> DynamoPaymentBaseData:
    """Stations, piles and tariffs read as the platform (drivers see every operator's sites)."""
    from shared.adapters.dynamodb.base_data import DynamoBaseDataRepository
    from shared.adapters.dynamodb.payment_orders import DynamoPaymentBaseData

    return DynamoPaymentBaseData(
        DynamoBaseDataRepository(os.environ["BASE_DATA_TABLE"], _dynamodb_client())
    )


@cache
def ledger() -> DynamoLedgerRepository:
    from shared.adapters.dynamodb.ledger import DynamoLedgerRepository

    return DynamoLedgerRepository(os.environ["LEDGER_TABLE"], _dynamodb_client())


@cache
def operators() -> Any:
    """Operator names for the driver's wallet list (read as the platform)."""
    from shared.adapters.dynamodb.base_data import DynamoBaseDataRepository

    return DynamoBaseDataRepository(os.environ["BASE_DATA_TABLE"], _dynamodb_client())


@cache
def reservations() -> DynamoGunReservations:
    from shared.adapters.dynamodb.drivers import DynamoGunReservations

    return DynamoGunReservations(os.environ["BASE_DATA_TABLE"], _dynamodb_client())


def qr_base_url() -> str:
    """The origin printed in gun QR codes (any origin scans: the path names the gun)."""
    return os.environ.get("QR_BASE_URL") or "https://charging.example.com"


@cache
def discovery() -> DiscoveryPorts:
    from shared.services.driver_discovery import DiscoveryPorts

    return DiscoveryPorts(
        index=station_index(),
        tariffs=base_data(),
        wallets=ledger(),
        reservations=reservations(),
        qr_base_url=qr_base_url(),
        site_loads=site_loads(),
    )


@cache
def _stepfunctions_client() -> Any:
    import boto3

    return boto3.client("stepfunctions")


class _PilesAreTheWorkflows:
    """The driver API only opens paid sessions: the workflow's own tasks start and follow
    the pile (functions/payments), so this side of ``PaymentPorts`` is never driven here."""

    def begin(self, order: Any, now: Any) -> str:
        raise FeatureUnavailable("the driver API does not start piles itself")

    def await_end(self, order_no: str, task_token: str, now: Any) -> None:
        raise FeatureUnavailable("the driver API does not wait for sessions")

    def outcome(self, order_no: str) -> Any:
        raise FeatureUnavailable("the driver API does not settle sessions")

    def stop(self, pile_id: str, session_id: str, now: Any) -> None:
        raise FeatureUnavailable("the driver API stops charges through the command service")


@cache
def payment_ports() -> PaymentPorts:
    from shared.adapters.dynamodb.payment_orders import DynamoPaymentOrders
    from shared.adapters.payments import provider_for
    from shared.adapters.stepfunctions import StepFunctionsResumer, StepFunctionsStarter
    from shared.services.payment_workflow import PaymentPorts

    return PaymentPorts(
        orders=DynamoPaymentOrders(os.environ["LEDGER_TABLE"], _dynamodb_client()),
        ledger=ledger(),
        providers=provider_for,
        charging=_PilesAreTheWorkflows(),
        base_data=base_data(),
        resumer=StepFunctionsResumer(_stepfunctions_client()),
        clock=clock,
        starter=StepFunctionsStarter(
            _stepfunctions_client(), os.environ["PAYMENT_STATE_MACHINE_ARN"]
        ),
    )


@cache
def topup_ports() -> TopUpPorts:
    from shared.adapters.dynamodb.topup_orders import DynamoTopUpOrders
    from shared.adapters.payments import provider_for
    from shared.services.wallet_topups import TopUpPorts

    return TopUpPorts(
        orders=DynamoTopUpOrders(os.environ["LEDGER_TABLE"], _dynamodb_client()),
        ledger=ledger(),
        providers=provider_for,
        stations=base_data(),
        drivers=drivers(),
        clock=clock,
    )


@cache
def _websocket_sender() -> Any:
    from shared.adapters.pile_commands import websocket_sender

    return websocket_sender(os.environ["WS_MANAGEMENT_ENDPOINT"])


@cache
def command_ports() -> CommandPorts:
    """Remote commands to piles (stop, reserve) through the pile command service."""
    from shared.adapters.pile_commands import pile_command_ports

    return pile_command_ports(
        base_data_table=os.environ["BASE_DATA_TABLE"],
        sessions_table=os.environ["SESSIONS_TABLE"],
        dynamodb=_dynamodb_client(),
        sender=_websocket_sender(),
        clock=clock,
        new_id=make_id,
    )


@cache
def charge_sessions() -> SessionsOnPiles:
    from shared.adapters.dynamodb.paid_charging import DynamoPaidCharges
    from shared.adapters.dynamodb.port_readings import DynamoPortReadings
    from shared.adapters.dynamodb.session_log_window import DynamoSessionLogWindow
    from shared.adapters.dynamodb.sessions import DynamoSessions
    from shared.services.driver_charging import SessionsOnPiles

    sessions_table, base_table = os.environ["SESSIONS_TABLE"], os.environ["BASE_DATA_TABLE"]
    return SessionsOnPiles(
        DynamoPaidCharges(sessions_table, base_table, _dynamodb_client()),
        DynamoSessions(sessions_table, base_table, _dynamodb_client()),
        _LazyCommandPorts(),
        DynamoSessionLogWindow(sessions_table, _dynamodb_client()),
        DynamoPortReadings(sessions_table, _dynamodb_client()),
        ebike_stop=_stop_ebike_charge,
    )


def _stop_ebike_charge(order_no: str) -> str:
    """The driver's stop of a paid e-bike charge: a STOP port command to its gateway."""
    import boto3

    from shared.adapters.ebike_charging import driver_stop_ports
    from shared.adapters.port_commands import setup_from
    from shared.services.ebike_charging import stop_for_driver

    ports = driver_stop_ports(
        **setup_from(
            os.environ,
            dynamodb=_dynamodb_client(),
            iot_data=boto3.client("iot-data"),
            clock=clock,
            new_id=make_id,
        )
    )
    return stop_for_driver(ports, order_no, clock())


class _LazyCommandPorts:
    """Command ports built when a stop is first sent (reads never pay for the schemas)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(command_ports(), name)


def _fresh_hex(length: int) -> str:
    return random_hex(length)  # looked up per call: tests replace ``random_hex``


@cache
def charging() -> ChargingPorts:
    from shared.adapters.dynamodb.drivers import DynamoDriverCharges
    from shared.services.driver_charging import ChargingPorts

    return ChargingPorts(
        payments=payment_ports(),
        charges=DynamoDriverCharges(
            os.environ["BASE_DATA_TABLE"], os.environ["LEDGER_TABLE"], _dynamodb_client()
        ),
        drivers=drivers(),
        discovery=discovery(),
        sessions=charge_sessions(),
        tariffs=base_data(),
        random_hex=_fresh_hex,
        site_loads=site_loads(),
    )


@cache
def site_loads() -> Any:
    """The transformer meters' live loads (SessionsTable ``SITELOAD#{station}``)."""
    from shared.adapters.dynamodb.gateways import DynamoSiteLoads

    return DynamoSiteLoads(os.environ["SESSIONS_TABLE"], _dynamodb_client())


@cache
def driver_cards() -> DynamoDriverCards:
    from shared.adapters.dynamodb.drivers import DynamoDriverCards

    return DynamoDriverCards(os.environ["BASE_DATA_TABLE"], _dynamodb_client())


@cache
def _s3_client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(signature_version="s3v4"))


@cache
def complaint_ports() -> ComplaintPorts:
    from shared.adapters.driver_uploads import S3PhotoUploads
    from shared.adapters.dynamodb.drivers import DynamoComplaints
    from shared.services.driver_care import ComplaintPorts

    return ComplaintPorts(
        complaints=DynamoComplaints(
            os.environ["FAULTS_TABLE"], os.environ["BASE_DATA_TABLE"], _dynamodb_client()
        ),
        uploads=S3PhotoUploads(_s3_client(), os.environ["UPLOADS_BUCKET"]),
        discovery=discovery(),
        clock=clock,
    )


@cache
def reservation_ports() -> ReservationPorts:
    from shared.adapters.dynamodb.drivers import DynamoDriverReservations
    from shared.services.driver_care import IssuedCommands, ReservationPorts

    return ReservationPorts(
        reservations=DynamoDriverReservations(os.environ["BASE_DATA_TABLE"], _dynamodb_client()),
        discovery=discovery(),
        commands=IssuedCommands(_LazyCommandPorts()),
        clock=clock,
    )


BUILT = [
    operators,
    site_loads,
    topup_ports,
    driver_cards,
    _s3_client,
    complaint_ports,
    reservation_ports,
    _stepfunctions_client,
    payment_ports,
    _websocket_sender,
    command_ports,
    charge_sessions,
    charging,
    ledger,
    reservations,
    discovery,
    _dynamodb_client,
    _secrets_client,
    signing_key_source,
    identities,
    drivers,
    station_index,
    base_data,
]


def reset() -> None:
    """Forget every built client (tests start each case against fresh embedded AWS)."""
    for built in BUILT:
        built.cache_clear()
