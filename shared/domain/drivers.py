"""Drivers (mini-program users): the account, how they sign in, and what they own.

A driver is one platform user (``user_id``, ``dr-`` + 20 hex) whatever app they come from:
each mini-program app (WeChat, Alipay) names them by its own ``openid``, and the first
sign-in from an app creates the account (or, with a bind token, adds the app to it). The
QR code on a gun names only the gun, so one printed code serves both apps: the app the
driver scans with decides how they pay, never the code.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from shared.domain import geohash
from shared.domain.clock import LOCAL_TZ
from shared.domain.errors import InvalidInput
from shared.domain.piles import is_valid_pile_id
from shared.domain.tariffs import MINUTES_PER_DAY, PeriodKind, Tariff

USER_ID_PATTERN = r"^dr-[0-9a-f]{20}$"
OPENID_PATTERN = re.compile(r"[A-Za-z0-9_\-]{1,128}")
PHONE_PATTERN = re.compile(r"1[3-9][0-9]{9}")
MAX_NICKNAME = 32
# Typical consumption when the driver has not told us theirs (Wh per km, a mid-size EV).
DEFAULT_CONSUMPTION_WH_PER_KM = 150
# The QR path: /q/{pile_id}/{gun_no}, on any host (the printed codes outlive domains).
_QR_PATH = re.compile(r"/q/([A-Za-z0-9._-]{1,48})/([1-9][0-9]?)/?")
EARTH_RADIUS_M = 6_371_008.8
MAX_RADIUS_M = 10_000


class LoginApp(StrEnum):
    """The mini-program app a driver signs in from (and pays with, unless by wallet)."""

    WECHAT = "wechat"
    ALIPAY = "alipay"


@dataclass(frozen=True, slots=True)
class Driver:
    """A driver's account: who they are in each app, and what they told us."""

    user_id: str
    created_at: datetime
    openids: dict[str, str] = field(default_factory=dict)  # app -> openid
    phone: str | None = None
    nickname: str | None = None
    consumption_wh_per_km: int | None = None

    def __post_init__(self) -> None:
        require_user_id(self.user_id)
        if self.phone is not None:
            require_phone(self.phone)
        if self.nickname is not None and not 0 < len(self.nickname) <= MAX_NICKNAME:
            raise InvalidInput(f"nickname must be 1..{MAX_NICKNAME} characters", field="nickname")
        if self.consumption_wh_per_km is not None and not 50 <= self.consumption_wh_per_km <= 1000:
            raise InvalidInput(
                "consumption_wh_per_km must be 50..1000", field="consumption_wh_per_km"
            )

    def payer_id(self, app: LoginApp) -> str | None:
        """What the provider knows the payer by (the app's openid), if they signed in there."""
        return self.openids.get(app.value)


def id_tag_of(user_id: str) -> str:
    """The idTag piles see for this driver's remote starts and reservations (20 characters
    at most), the same for every charge, so the driver's own reservation lets them start."""
    return "D" + require_user_id(user_id).removeprefix("dr-")[:19].upper()


def require_user_id(value: object) -> str:
    if not isinstance(value, str) or re.fullmatch(USER_ID_PATTERN[1:-1], value) is None:
        raise InvalidInput("user_id must be dr- and 20 hex digits", field="user_id")
    return value


def require_openid(value: object) -> str:
    if not isinstance(value, str) or OPENID_PATTERN.fullmatch(value) is None:
        raise InvalidInput("the app answered an openid of a shape we do not take", field="code")
    return value


def require_phone(value: object) -> str:
    if not isinstance(value, str) or PHONE_PATTERN.fullmatch(value) is None:
        raise InvalidInput("phone must be a mainland mobile number (11 digits)", field="phone")
    return value


@dataclass(frozen=True, slots=True)
class GunRef:
    """A gun or port named by a QR code."""

    pile_id: str
    gun_no: int


def qr_payload(base_url: str, pile_id: str, gun_no: int) -> str:
    """The text printed in a gun's QR code: ``{base_url}/q/{pile_id}/{gun_no}``."""
    return f"{base_url.rstrip('/')}/q/{pile_id}/{gun_no}"


def parse_qr(text: object) -> GunRef:
    """The gun a scanned code names (an https URL whose path is ``/q/{pile_id}/{gun_no}``).

    Raises:
        InvalidInput: not one of our codes.
    """
    bad = InvalidInput("this QR code is not a charging gun's code", field="code")
    if not isinstance(text, str) or len(text) > 512:
        raise bad
    parts = urlsplit(text.strip())
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise bad
    match = _QR_PATH.fullmatch(parts.path)
    if match is None or not is_valid_pile_id(match.group(1)):
        raise bad
    gun_no = int(match.group(2))
    if not 1 <= gun_no <= 20:
        raise bad
    return GunRef(pile_id=match.group(1), gun_no=gun_no)


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> int:
    """Great-circle distance in whole metres (haversine)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lng2 - lng1)
    h = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return round(2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h))))


def cells_covering(lat: float, lng: float, radius_m: int) -> list[str]:
    """Every station-index cell (geohash, 5 characters) that meets the box around the circle
    of ``radius_m`` about the point: a nearby search queries exactly these, never a scan.

    Raises:
        InvalidInput: a point off the globe or a radius outside 1..``MAX_RADIUS_M``.
    """
    if (
        isinstance(radius_m, bool)
        or not isinstance(radius_m, int)
        or not 1 <= radius_m <= MAX_RADIUS_M
    ):
        raise InvalidInput(f"radius_m must be 1..{MAX_RADIUS_M}", field="radius_m")
    if not -85.0 <= lat <= 85.0 or not -180.0 <= lng <= 180.0:
        raise InvalidInput("lat must be within -85..85 and lng within -180..180", field="lat")
    d_lat = math.degrees(radius_m / EARTH_RADIUS_M)
    d_lng = d_lat / math.cos(math.radians(lat))
    south, north = max(-90.0, lat - d_lat), min(90.0, lat + d_lat)
    west, east = lng - d_lng, lng + d_lng
    lat_min, lat_max, lng_min, lng_max = geohash.bounds(geohash.encode(lat, lng))
    cell_lat, cell_lng = lat_max - lat_min, lng_max - lng_min
    cells: list[str] = []
    row = south
    while True:
        column = west
        while True:
            wrapped = (column + 180.0) % 360.0 - 180.0
            cell = geohash.encode(min(max(row, -90.0), 90.0), wrapped)
            if cell not in cells:
                cells.append(cell)
            if column >= east:
                break
            column = min(column + cell_lng, east)
        if row >= north:
            break
        row = min(row + cell_lat, north)
    return cells


@dataclass(frozen=True, slots=True)
class PriceNow:
    """The price in force at an instant and until when (fen per kWh)."""

    period_kind: PeriodKind
    electricity_fen_per_kwh: int
    service_fen_per_kwh: int
    until: datetime

    @property
    def total_fen_per_kwh(self) -> int:
        return self.electricity_fen_per_kwh + self.service_fen_per_kwh


def price_now(tariff: Tariff, at: datetime) -> PriceNow:
    """The tariff's period at ``at`` (Asia/Shanghai) and the instant it gives way to another.

    Raises:
        InvalidInput: a naive ``at``.
    """
    if at.tzinfo is None:
        raise InvalidInput("at must be aware", field="at")
    period = tariff.period_at(at)
    start_of_minute = at.astimezone(LOCAL_TZ).replace(second=0, microsecond=0)
    step = 1  # periods change on whole local minutes
    while step <= MINUTES_PER_DAY and tariff.period_at(at + timedelta(minutes=step)) == period:
        step += 1
    until = (start_of_minute + timedelta(minutes=step)).astimezone(UTC)
    return PriceNow(
        period_kind=period.kind,
        electricity_fen_per_kwh=period.electricity_fen_per_kwh,
        service_fen_per_kwh=period.service_fen_per_kwh,
        until=until,
    )


# Gun statuses as the piles report them (OCPP 1.6 / 2.0.1, and the Modbus bridge's mapping),
# folded into what a driver needs to know.
_FREE = frozenset({"Available"})
_PLUGGED = frozenset({"Preparing", "Occupied"})
_BUSY = frozenset({"Charging", "SuspendedEV", "SuspendedEVSE", "Finishing"})
_FAULTED = frozenset({"Faulted"})
_RESERVED = frozenset({"Reserved"})


class GunState(StrEnum):
    """A gun as the map and the scan page show it."""

    FREE = "free"
    PLUGGED = "plugged"  # a car is plugged in, nothing charging yet: its driver can start
    BUSY = "busy"
    RESERVED = "reserved"
    FAULTED = "faulted"
    UNAVAILABLE = "unavailable"
    OFFLINE = "offline"
    UNKNOWN = "unknown"  # online, never reported a status


def gun_state(*, is_online: bool, is_enabled: bool, status: str | None) -> GunState:
    """What a gun's reported status means to a driver."""
    if not is_online:
        return GunState.OFFLINE
    if not is_enabled:
        return GunState.UNAVAILABLE
    if status is None:
        return GunState.UNKNOWN
    for states, state in (
        (_FREE, GunState.FREE),
        (_PLUGGED, GunState.PLUGGED),
        (_BUSY, GunState.BUSY),
        (_FAULTED, GunState.FAULTED),
        (_RESERVED, GunState.RESERVED),
    ):
        if status in states:
            return state
    return GunState.UNAVAILABLE


__all__ = [
    "DEFAULT_CONSUMPTION_WH_PER_KM",
    "MAX_RADIUS_M",
    "USER_ID_PATTERN",
    "Driver",
    "GunRef",
    "GunState",
    "LoginApp",
    "cells_covering",
    "distance_m",
    "gun_state",
    "id_tag_of",
    "parse_qr",
    "price_now",
    "qr_payload",
    "require_openid",
    "require_phone",
    "require_user_id",
]
