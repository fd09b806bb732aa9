"""Request and response models of the driver API (pydantic; the OpenAPI schemas come from here).

Requests are strict (no ``"5"`` for 5), refuse unknown fields and bound every length;
query strings convert declared numbers. Responses carry money in int fen, energy in Wh,
power in W and times as RFC 3339 UTC with ``Z``; they never carry openids, other drivers'
ids or pile passwords.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)

from shared.domain.clock import to_wire
from shared.domain.drivers import MAX_RADIUS_M, USER_ID_PATTERN

STATION_ID = r"^st-[0-9a-f]{20}$"
PILE_ID = r"^[A-Za-z0-9._-]{1,48}$"
ORDER_NO = r"^PO[0-9]{12}[0-9a-f]{12}$"
CARD_NO = r"^[A-Za-z0-9._:-]{1,20}$"
COMPLAINT_ID = r"^cp-[0-9a-f]{20}$"
RESERVATION_ID = r"^rv-[0-9a-f]{20}$"
REQUEST_ID = r"^[A-Za-z0-9_-]{8,64}$"

PileId = Annotated[str, StringConstraints(pattern=PILE_ID)]
CardNo = Annotated[str, StringConstraints(pattern=CARD_NO)]
RequestId = Annotated[
    str,
    StringConstraints(pattern=REQUEST_ID),
    Field(description="The client's id of this request: a retry with the same id is one request"),
]
GunNo = Annotated[int, Field(ge=1, le=20)]
WireTime = Annotated[
    datetime,
    PlainSerializer(to_wire, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Body(BaseModel):
    """A request body: strict types, no unknown fields."""

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


class Query(BaseModel):
    """Query-string parameters: strings converted where a number is declared."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


class View(BaseModel):
    """A response body."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


# --- sign-in and profile -----------------------------------------------------------------


class LoginBody(Body):
    app: Literal["wechat", "alipay"] = Field(description="The app the mini-program runs in")
    code: Annotated[str, StringConstraints(min_length=1, max_length=256)] = Field(
        description="wx.login / my.getAuthCode one-time code (locally: sandbox:<name>)"
    )


class LoginView(View):
    token: str = Field(description="Send as Authorization: Bearer <token>; valid 2 hours")
    expires_at: WireTime
    user_id: Annotated[str, StringConstraints(pattern=USER_ID_PATTERN)]
    is_new: bool


class ProfileView(View):
    user_id: str
    created_at: WireTime
    apps: list[Literal["wechat", "alipay"]]
    phone: str | None
    nickname: str | None
    consumption_wh_per_km: int | None


class ProfilePatch(Body):
    phone: Annotated[str, StringConstraints(pattern=r"^1[3-9][0-9]{9}$")] | None = None
    nickname: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = None
    consumption_wh_per_km: Annotated[int, Field(ge=50, le=1000)] | None = None


# --- stations, guns, prices ----------------------------------------------------------------


class PriceView(View):
    period_kind: Literal["sharp", "peak", "flat", "valley"]
    electricity_fen_per_kwh: int
    service_fen_per_kwh: int
    total_fen_per_kwh: int
    until: WireTime = Field(description="When this period ends (the price may change then)")


class NearbyQuery(Query):
    lat: float = Field(ge=-85.0, le=85.0)
    lng: float = Field(ge=-180.0, le=180.0)
    radius_m: int = Field(3000, ge=1, le=MAX_RADIUS_M)
    limit: int = Field(20, ge=1, le=50)


class NearbyStationView(View):
    station_id: str
    name: str
    address: str
    lat: float
    lng: float
    distance_m: int
    gun_count: int
    free_count: int
    price_now: PriceView | None = Field(description="null when the station has no tariff")


class NearbyPage(View):
    items: list[NearbyStationView]


class GunView(View):
    pile_id: str
    gun_no: int
    name: str
    pile_kind: Literal["car", "ebike"]
    rated_power_w: int
    state: Literal[
        "free", "plugged", "busy", "reserved", "faulted", "unavailable", "offline", "unknown"
    ]
    qr_payload: str


class StationDetailView(View):
    station_id: str
    name: str
    address: str
    lat: float
    lng: float
    price_now: PriceView | None
    guns: list[GunView]


class ScanBody(Body):
    code: Annotated[str, StringConstraints(min_length=1, max_length=512)] = Field(
        description="The scanned text: https://<host>/q/{pile_id}/{gun_no}"
    )
    amount_fen: Annotated[int, Field(ge=1, le=100_000)] | None = Field(
        None, description="An amount to estimate the energy it buys now"
    )


class PowerBandView(View):
    max_power_w: int
    fen_per_hour: int


class ScanView(View):
    station_id: str
    station_name: str
    address: str
    pile_id: str
    pile_name: str
    pile_kind: Literal["car", "ebike"]
    gun_no: int
    gun_name: str
    state: Literal[
        "free", "plugged", "busy", "reserved", "faulted", "unavailable", "offline", "unknown"
    ]
    can_start: bool
    refusal: str | None = Field(description="Why a charge cannot start now, when it cannot")
    refusal_reason: (
        Literal[
            "pile_offline",
            "gun_faulted",
            "gun_busy",
            "gun_reserved",
            "gun_unavailable",
            "no_price",
            "site_at_load_limit",
        ]
        | None
    ) = Field(description="The refusal as a code (site_at_load_limit: the site is above 80 %)")
    load_band: Literal["normal", "limited", "refused"] = Field(
        description="The site's load band for a charge starting now: limited above 50 % of "
        "the transformer's capacity (half the rated power), refused above 80 %"
    )
    power_limit_w: int | None = Field(
        description="The power a charge starting now is limited to (load band limited), "
        "else null (the pile's rated power)"
    )
    tariff_id: str | None
    price_now: PriceView | None
    power_bands: list[PowerBandView] = Field(
        description="E-bike ports priced by time: the price per hour up to each power"
    )
    wallet_available_fen: int
    estimated_energy_wh: int | None


# --- wallet -------------------------------------------------------------------------------


class WalletView(View):
    operator_id: str = Field(description="The operator whose wallet this is")
    balance_fen: int
    held_fen: int
    available_fen: int
    is_frozen: bool


class WalletItemView(WalletView):
    operator_name: str | None = Field(
        description="The operator's name (null when the operator has been removed)"
    )


class WalletList(View):
    items: list[WalletItemView] = Field(
        description="Every wallet of the driver, one per operator they paid or topped up at"
    )


OPERATOR_ID = r"^[A-Za-z0-9_.\-]{1,64}$"


class WalletQuery(Query):
    """Which of the driver's wallets (one per operator): name the operator or one of its
    stations."""

    operator_id: Annotated[str, StringConstraints(pattern=OPERATOR_ID)] | None = None
    station_id: Annotated[str, StringConstraints(pattern=STATION_ID)] | None = None


class EntriesQuery(WalletQuery):
    limit: int = Field(20, ge=1, le=100)
    next_token: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = None


class EntryView(View):
    transfer_id: str
    kind: str = Field(description="top_up, withdrawal, hold, capture, release ...")
    amount_fen: int = Field(description="Signed: + into the wallet, - out of it")
    balance_after_fen: int | None
    posted_at: WireTime
    order_no: str | None
    method: str | None


class EntryPage(View):
    items: list[EntryView]
    next_token: str | None


TOPUP_NO = r"^TU[0-9a-f]{30}$"


class TopUpBody(Body):
    request_id: RequestId
    amount_fen: Annotated[int, Field(ge=1, le=500_000)] = Field(
        description="What goes into the wallet (int fen, at most 5,000.00 yuan)"
    )
    method: Literal["wechat", "alipay", "sandbox"]
    station_id: Annotated[str, StringConstraints(pattern=STATION_ID)] | None = Field(
        None,
        description="A site of the operator whose wallet to top up (one wallet per operator)",
    )
    operator_id: Annotated[str, StringConstraints(pattern=OPERATOR_ID)] | None = Field(
        None,
        description="Or the operator itself, once the driver has a wallet there",
    )


class TopUpView(View):
    order_no: str
    state: str = Field(description="created (pay with client_params), paid, closed")
    method: str
    amount_fen: int
    created_at: WireTime
    pay_by: WireTime = Field(description="The order closes unpaid after this")
    paid_at: WireTime | None
    client_params: dict[str, str] = Field(description="What the app's pay call needs")


class TopUpsQuery(Query):
    limit: int = Field(20, ge=1, le=50)
    next_token: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = None


class TopUpPage(View):
    items: list[TopUpView]
    next_token: str | None


# --- charging -----------------------------------------------------------------------------


class StartBody(Body):
    request_id: RequestId
    pile_id: PileId
    gun_no: GunNo
    mode: Literal["time", "amount", "energy", "full", "mileage"]
    value: Annotated[int, Field(ge=1, le=10_000_000)] | None = Field(
        None,
        description="seconds (time), fen (amount), Wh (energy), km (mileage); none for full",
    )
    prepaid_fen: Annotated[int, Field(ge=1, le=100_000)] = Field(
        description="The cap paid up front; what is not used goes back"
    )
    method: Literal["wallet", "wechat", "alipay", "sandbox"]


class BillLineView(View):
    period_kind: Literal["sharp", "peak", "flat", "valley"] = Field(
        description="The time-of-use period (Asia/Shanghai) of this part of the charge"
    )
    starts_at: WireTime
    ends_at: WireTime
    energy_wh: int = Field(description="Energy in this line (0 for an e-bike billed by time)")
    electricity_fen: int
    service_fen: int
    amount_fen: int = Field(description="electricity_fen + service_fen (before the discount)")
    band_max_power_w: int | None = Field(
        description="E-bike by time: the power band (its top, W) the line is priced at"
    )
    runs: int = Field(
        description="Tariff runs merged into this line: 1 normally; more on a very long "
        "charge summarized per period kind (starts_at/ends_at: its first start, last end)"
    )


class ChargeView(View):
    order_no: str
    state: str
    method: str
    station_id: str
    pile_id: str
    gun_no: int
    mode: str
    target_value: int | None
    prepaid_fen: int
    paid_fen: int
    consumed_fen: int
    refunded_fen: int
    energy_wh: int
    cost_fen: int = Field(
        description="The bill: the charge priced by its tariff version (consumed_fen is the "
        "part of it the prepay covered)"
    )
    refund_status: str | None = Field(description="The refund of the unused prepay, once sent")
    tariff_id: str
    tariff_version: int = Field(description="The tariff version the charge is priced by")
    session_id: str | None
    created_at: WireTime
    paid_at: WireTime | None
    settled_at: WireTime | None
    pay_by: WireTime = Field(description="The order closes unpaid after this")
    client_params: dict[str, str] = Field(
        description="What the app's pay call needs, once the provider order exists"
    )
    failure: str | None = Field(
        description="Why the charge failed or was cancelled, as a code (PileNeverStarted, "
        "States.Timeout, Conflict, ...)"
    )
    failure_detail: str | None = Field(
        description="The failure's cause in a few words, at most 200 characters (e.g. "
        "'site_at_load_limit: the site draws ...', 'the pile answered the remote start "
        "Rejected')"
    )
    rating: int | None
    comment: str | None
    bill_lines: list[BillLineView] = Field(
        description="The bill once settled, per time-of-use period crossed (e-bike by time: "
        "per period and power band); sum(amount_fen) - discount_fen == cost_fen. Empty "
        "before settlement and on orders settled before bills were kept"
    )
    discount_fen: int = Field(description="The discount taken off the lines' sum (0 if none)")


class ChargePage(View):
    items: list[ChargeView]
    next_token: str | None


class ChargesQuery(Query):
    limit: int = Field(20, ge=1, le=50)
    next_token: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = None


class SampleView(View):
    sampled_at: WireTime
    energy_wh: int | None = Field(
        description="A car gun: the meter's register; an e-bike port: Wh since the charge began"
    )
    power_w: int | None
    voltage_v: float | None
    current_a: float | None
    soc_percent: float | None


class LiveView(View):
    order_no: str
    state: str
    is_charging: bool
    session_id: str | None = Field(
        description="The pile's session (an e-bike port's charge: ebike-{order_no})"
    )
    elapsed_s: int
    energy_wh: int
    cost_fen: int = Field(
        description="Cost so far by the tariff version the charge started under: the figure "
        "the platform's automatic stop uses (the bill once settled)"
    )
    power_w: int | None
    voltage_v: float | None
    current_a: float | None
    soc_percent: float | None
    sampled_at: WireTime | None


class SamplePage(View):
    items: list[SampleView]
    next_token: str | None


class SamplesQuery(Query):
    limit: int = Field(100, ge=1, le=500)
    next_token: Annotated[str, StringConstraints(min_length=1, max_length=2048)] | None = None


class StopView(View):
    order_no: str
    status: str = Field(description="sent, or undelivered while the pile reconnects")


class RatingBody(Body):
    stars: Annotated[int, Field(ge=1, le=5)]
    comment: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None


# --- cards, complaints, reservations -------------------------------------------------------


class CardBody(Body):
    card_no: CardNo


class CardView(View):
    card_no: str
    status: str
    balance_fen: int
    bound_at: WireTime


class CardList(View):
    items: list[CardView]


class ComplaintBody(Body):
    request_id: RequestId
    pile_id: PileId
    gun_no: GunNo | None = None
    category: Literal["cannot_start", "stopped_early", "wrong_bill", "damaged", "other"]
    text: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    photo_content_type: Literal["image/jpeg", "image/png"] | None = Field(
        None, description="Ask for an upload URL for one photo of this type"
    )


class ComplaintView(View):
    complaint_id: str
    pile_id: str
    gun_no: int | None
    category: str
    text: str
    status: str = Field(description="open, then the progress of the work order it becomes")
    has_photo: bool
    created_at: WireTime
    updated_at: WireTime
    upload_url: str | None = Field(
        None, description="PUT the photo here (with its Content-Type) within 15 minutes"
    )


class ComplaintList(View):
    items: list[ComplaintView]


class ReservationBody(Body):
    request_id: RequestId
    pile_id: PileId
    gun_no: GunNo
    minutes: Annotated[int, Field(ge=5, le=30)] = 15


class ReservationView(View):
    reservation_id: str
    pile_id: str
    gun_no: int
    status: str = Field(description="active, cancelled, expired")
    created_at: WireTime
    expires_at: WireTime


class ReservationList(View):
    items: list[ReservationView]
