"""Request and response models of the operator API (pydantic; the OpenAPI schemas come from here).

Schemas are built on first use (``defer_build``): a cold start pays only for the models
of the route it serves. Requests are strict (no ``"5"`` for 5, no ``1`` for true), refuse
unknown fields and bound every length. PATCH bodies change only the fields they name; a
field that may be cleared says so (``null``), any other ``null`` is refused. Responses
carry money in int fen, energy in Wh, power in W and times as RFC 3339 UTC with ``Z``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from shared.domain.base_data import Operator, StaffMember
from shared.domain.cards import Card
from shared.domain.clock import to_wire
from shared.domain.discounts import Discount
from shared.domain.piles import Gun, Pile
from shared.domain.stations import Station, WechatReceiver, WechatReceiverType
from shared.domain.tariffs import PeriodKind, PowerBand, Tariff, TariffPeriod
from shared.services.base_data_cards import CardWithBalance, TopUp
from shared.services.staff import AuthTokens

OPERATOR_ID = r"^op-[0-9a-f]{20}$"
STATION_ID = r"^st-[0-9a-f]{20}$"
TARIFF_ID = r"^tf-[0-9a-f]{20}$"
DISCOUNT_ID = r"^dc-[0-9a-f]{20}$"
PILE_ID = r"^[A-Za-z0-9._-]{1,48}$"
CARD_NO = r"^[A-Za-z0-9._:-]{1,20}$"
CLOCK_TIME = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"

OperatorId = Annotated[str, StringConstraints(pattern=OPERATOR_ID)]
StationId = Annotated[str, StringConstraints(pattern=STATION_ID)]
TariffId = Annotated[str, StringConstraints(pattern=TARIFF_ID)]
PileId = Annotated[str, StringConstraints(pattern=PILE_ID)]
CardNo = Annotated[str, StringConstraints(pattern=CARD_NO)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"\S")]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"\S")]
Address = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"\S")]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9]{5,20}$")]
PilePassword = Annotated[
    str, StringConstraints(min_length=16, max_length=40, pattern=r"^[\x21-\x7e]+$")
]
Fen = Annotated[int, Field(ge=0, le=100_000)]
WireTime = Annotated[
    datetime,
    PlainSerializer(to_wire, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Body(BaseModel):
    """A request body: strict types, no unknown fields."""

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


class PatchBody(Body):
    """A PATCH body: names at least one field; only ``NULLABLE`` fields may be ``null``."""

    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _check_named_fields(self) -> PatchBody:
        if not self.model_fields_set:
            raise ValueError("the body names no field to change")
        for name in sorted(self.model_fields_set):
            if getattr(self, name) is None and name not in self.NULLABLE:
                raise ValueError(f"{name} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        """The named fields and their new values."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class Query(BaseModel):
    """Query-string parameters: strings converted where a number is declared, no unknown ones."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


class View(BaseModel):
    """A response body."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


PAGING_HELP = "Pass as ?next_token= for the next page; null on the last page"


# --- queries -------------------------------------------------------------------------------


class PageQuery(Query):
    limit: int = Field(50, ge=1, le=100)
    next_token: str | None = Field(None, min_length=1, max_length=2048)


class OwnedPageQuery(PageQuery):
    operator_id: OperatorId | None = Field(
        None, description="Required for a platform admin; staff may omit it or give their own"
    )


class PileQuery(OwnedPageQuery):
    station_id: StationId | None = None


# --- auth ----------------------------------------------------------------------------------


class LoginBody(Body):
    username: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class RefreshBody(Body):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=8192)]


class TokensView(View):
    id_token: str
    access_token: str
    refresh_token: str | None
    expires_in: int

    @classmethod
    def of(cls, tokens: AuthTokens) -> TokensView:
        return cls(
            id_token=tokens.id_token,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            expires_in=tokens.expires_in,
        )


class MeView(View):
    username: str
    role: Literal["platform-admin", "operator-admin", "maintenance"]
    operator_id: str | None


class HealthView(View):
    status: Literal["ok"]


# --- operators and staff ---------------------------------------------------------------------


class OperatorCreate(Body):
    name: Name
    contact_name: ShortText | None = None
    contact_phone: Phone | None = None


class OperatorPatch(PatchBody):
    NULLABLE: ClassVar[frozenset[str]] = frozenset({"contact_name", "contact_phone"})
    name: Name | None = None
    contact_name: ShortText | None = None
    contact_phone: Phone | None = None


class OperatorView(View):
    operator_id: str
    name: str
    contact_name: str | None
    contact_phone: str | None
    created_at: WireTime
    updated_at: WireTime

    @classmethod
    def of(cls, operator: Operator) -> OperatorView:
        return cls(
            operator_id=operator.operator_id,
            name=operator.name,
            contact_name=operator.contact_name,
            contact_phone=operator.contact_phone,
            created_at=operator.created_at,
            updated_at=operator.updated_at,
        )


class StaffCreate(Body):
    username: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._@-]{3,64}$")]
    password: Annotated[str, StringConstraints(min_length=12, max_length=128)]
    role: Literal["operator-admin", "maintenance"]


class StaffView(View):
    username: str
    operator_id: str
    role: str
    created_at: WireTime
    created_by: str

    @classmethod
    def of(cls, member: StaffMember) -> StaffView:
        return cls(
            username=member.username,
            operator_id=member.operator_id,
            role=str(member.role),
            created_at=member.created_at,
            created_by=member.created_by,
        )


# --- stations ------------------------------------------------------------------------------


_WECHAT_RECEIVER_HELP = (
    "The site partner's WeChat Pay profit-sharing receiver (the platform adds it at WeChat Pay "
    "before its first share); "
    "WeChat Pay and sandbox payments send the partner's share to it"
)
_ALIPAY_ACCOUNT_HELP = (
    "The site partner's Alipay user id (2088 + 12 digits) or logon id (e-mail, mobile); "
    "Alipay payments send the partner's share to it (royalty)"
)
AlipayAccount = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class WechatReceiverBody(Body):
    type: Literal["MERCHANT_ID", "PERSONAL_OPENID"]
    account: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="MERCHANT_ID: the merchant id (digits); PERSONAL_OPENID: the openid"
    )
    name: Name | None = Field(
        None,
        description="The merchant's full name (required for MERCHANT_ID: WeChat Pay adds a "
        "merchant receiver only under it) or the person's real name",
    )

    @model_validator(mode="after")
    def _merchant_named(self) -> WechatReceiverBody:
        if self.type == "MERCHANT_ID" and self.name is None:
            raise ValueError("name is required for a MERCHANT_ID receiver")
        return self

    @staticmethod
    def to_domain(body: WechatReceiverBody | None) -> WechatReceiver | None:
        if body is None:
            return None
        return WechatReceiver(
            type=WechatReceiverType(body.type), account=body.account, name=body.name
        )


class StationCreate(Body):
    operator_id: OperatorId | None = None
    name: Name
    address: Address
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    transformer_capacity_kva: int = Field(ge=1, le=100_000)
    partner_share_bp: int = Field(
        ge=0, le=10_000, description="Basis points of consumed revenue paid to the site partner"
    )
    tariff_id: TariffId | None = None
    partner_name: Name | None = None
    partner_wechat_receiver: WechatReceiverBody | None = Field(
        None, description=_WECHAT_RECEIVER_HELP
    )
    partner_alipay_account: AlipayAccount | None = Field(None, description=_ALIPAY_ACCOUNT_HELP)

    def fields(self) -> dict[str, Any]:
        values = self.model_dump(exclude={"operator_id", "partner_wechat_receiver"})
        values["partner_wechat_receiver"] = WechatReceiverBody.to_domain(
            self.partner_wechat_receiver
        )
        return values


class StationPatch(PatchBody):
    NULLABLE: ClassVar[frozenset[str]] = frozenset(
        {"tariff_id", "partner_name", "partner_wechat_receiver", "partner_alipay_account"}
    )
    name: Name | None = None
    address: Address | None = None
    lat: float | None = Field(None, ge=-90, le=90)
    lng: float | None = Field(None, ge=-180, le=180)
    transformer_capacity_kva: int | None = Field(None, ge=1, le=100_000)
    partner_share_bp: int | None = Field(None, ge=0, le=10_000)
    tariff_id: TariffId | None = None
    partner_name: Name | None = None
    partner_wechat_receiver: WechatReceiverBody | None = Field(
        None, description=_WECHAT_RECEIVER_HELP + "; null removes it"
    )
    partner_alipay_account: AlipayAccount | None = Field(
        None, description=_ALIPAY_ACCOUNT_HELP + "; null removes it"
    )

    def changes(self) -> dict[str, Any]:
        values = super().changes()
        if "partner_wechat_receiver" in values:
            values["partner_wechat_receiver"] = WechatReceiverBody.to_domain(
                self.partner_wechat_receiver
            )
        return values


class WechatReceiverView(View):
    type: str
    account: str
    name: str | None


class StationView(View):
    station_id: str
    operator_id: str
    name: str
    address: str
    lat: float
    lng: float
    geohash: str
    transformer_capacity_kva: int
    partner_share_bp: int
    tariff_id: str | None
    partner_name: str | None
    partner_wechat_receiver: WechatReceiverView | None
    partner_alipay_account: str | None
    created_at: WireTime
    updated_at: WireTime

    @classmethod
    def of(cls, station: Station) -> StationView:
        receiver = station.partner_wechat_receiver
        return cls(
            station_id=station.station_id,
            operator_id=station.operator_id,
            name=station.name,
            address=station.address,
            lat=station.lat,
            lng=station.lng,
            geohash=station.geohash5,
            transformer_capacity_kva=station.transformer_capacity_kva,
            partner_share_bp=station.partner_share_bp,
            tariff_id=station.tariff_id,
            partner_name=station.partner_name,
            partner_wechat_receiver=None
            if receiver is None
            else WechatReceiverView(
                type=receiver.type.value, account=receiver.account, name=receiver.name
            ),
            partner_alipay_account=station.partner_alipay_account,
            created_at=station.created_at,
            updated_at=station.updated_at,
        )


# --- piles and guns --------------------------------------------------------------------------


class PileCreate(Body):
    pile_id: PileId = Field(description="The OCPP identity the pile dials (/ocpp/{pile_id})")
    station_id: StationId
    name: ShortText | None = None
    serial: ShortText
    kind: Literal["car", "ebike"]
    protocol: Literal["ocpp1.6", "ocpp2.0.1", "modbus"]
    model: ShortText
    rated_power_w: int = Field(ge=1, le=1_000_000)
    gun_count: int = Field(ge=1, le=20, description="Car piles 1..8 guns, e-bike piles 1..20 ports")
    password: PilePassword | None = Field(
        None, description="Required for OCPP piles; stored only as a salted hash, never returned"
    )
    is_enabled: bool = True
    gateway_id: PileId | None = None
    modbus_address: int | None = Field(None, ge=1, le=247)


class PilePatch(PatchBody):
    NULLABLE: ClassVar[frozenset[str]] = frozenset({"gateway_id", "modbus_address"})
    name: ShortText | None = None
    serial: ShortText | None = None
    model: ShortText | None = None
    rated_power_w: int | None = Field(None, ge=1, le=1_000_000)
    is_enabled: bool | None = None
    gateway_id: PileId | None = None
    modbus_address: int | None = Field(None, ge=1, le=247)


class PilePasswordBody(Body):
    password: PilePassword


class BootView(View):
    vendor: str | None
    model: str | None
    firmware: str | None
    iccid: str | None
    imsi: str | None


class GunView(View):
    pile_id: str
    gun_no: int
    name: str
    is_enabled: bool
    status: str | None
    status_at: WireTime | None
    error_code: str | None
    updated_at: WireTime

    @classmethod
    def of(cls, gun: Gun) -> GunView:
        return cls(
            pile_id=gun.pile_id,
            gun_no=gun.gun_no,
            name=gun.name,
            is_enabled=gun.is_enabled,
            status=gun.status,
            status_at=gun.status_at,
            error_code=gun.error_code,
            updated_at=gun.updated_at,
        )


class GunPatch(PatchBody):
    name: ShortText | None = None
    is_enabled: bool | None = None


class GunList(View):
    items: list[GunView]
    next_token: str | None = Field(None, description="Always null: a pile has at most 20 guns")


class PortLiveView(View):
    """One e-bike port: its status (gun item) and its newest Modbus reading; the reading's
    figures are null while the port has none."""

    gun_no: int
    name: str
    is_enabled: bool
    status: str | None  # the OCPP-style status the bridge applied (Charging, Available...)
    status_at: WireTime | None
    error_code: str | None
    state: str | None  # the reading's port state: idle, plugged, charging, full, fault
    power_w: int | None
    voltage_dv: int | None  # 0.1 V
    current_ma: int | None
    temperature_dc: int | None  # 0.1 degC, the socket
    energy_wh: int | None  # the port's energy counter, wraps/resets folded
    stop_reason: str | None
    faults: list[str]
    at: WireTime | None  # the reading's time (the gateway's clock)


class PortLiveList(View):
    pile_id: str
    items: list[PortLiveView]


class PileView(View):
    pile_id: str
    operator_id: str
    station_id: str
    name: str
    serial: str
    kind: str
    protocol: str
    model: str
    rated_power_w: int
    gun_count: int
    is_enabled: bool
    has_password: bool
    gateway_id: str | None
    modbus_address: int | None
    is_online: bool
    connected_at: WireTime | None
    last_seen_at: WireTime | None
    boot: BootView | None
    created_at: WireTime
    updated_at: WireTime

    @classmethod
    def of(cls, pile: Pile) -> PileView:
        boot = pile.presence.boot
        return cls(
            pile_id=pile.pile_id,
            operator_id=pile.operator_id,
            station_id=pile.station_id,
            name=pile.name,
            serial=pile.serial,
            kind=str(pile.kind),
            protocol=str(pile.protocol),
            model=pile.model,
            rated_power_w=pile.rated_power_w,
            gun_count=pile.gun_count,
            is_enabled=pile.is_enabled,
            has_password=pile.password_hash is not None,
            gateway_id=pile.gateway_id,
            modbus_address=pile.modbus_address,
            is_online=pile.presence.is_online,
            connected_at=pile.presence.connected_at,
            last_seen_at=pile.presence.last_seen_at,
            boot=None
            if boot is None
            else BootView(
                vendor=boot.vendor,
                model=boot.model,
                firmware=boot.firmware,
                iccid=boot.iccid,
                imsi=boot.imsi,
            ),
            created_at=pile.created_at,
            updated_at=pile.updated_at,
        )


class PileCreatedView(PileView):
    guns: list[GunView]


# --- tariffs and discounts ---------------------------------------------------------------------


class PeriodBody(Body):
    kind: Literal["sharp", "peak", "flat", "valley"]
    start: Annotated[str, StringConstraints(pattern=CLOCK_TIME)] = Field(
        description="Local time (Asia/Shanghai) HH:MM, inclusive"
    )
    end: Annotated[str, StringConstraints(pattern=CLOCK_TIME)] = Field(
        description="Local time HH:MM, exclusive; 24:00 ends the day; before start wraps midnight"
    )
    electricity_fen_per_kwh: Fen
    service_fen_per_kwh: Fen


class PowerBandBody(Body):
    max_power_w: int = Field(ge=1, le=100_000)
    fen_per_hour: Fen


def _periods(bodies: Iterable[PeriodBody]) -> tuple[TariffPeriod, ...]:
    return tuple(
        TariffPeriod(
            kind=PeriodKind(body.kind),
            start=body.start,
            end=body.end,
            electricity_fen_per_kwh=body.electricity_fen_per_kwh,
            service_fen_per_kwh=body.service_fen_per_kwh,
        )
        for body in bodies
    )


def _bands(bodies: Iterable[PowerBandBody]) -> tuple[PowerBand, ...]:
    return tuple(
        PowerBand(max_power_w=body.max_power_w, fen_per_hour=body.fen_per_hour) for body in bodies
    )


class TariffCreate(Body):
    operator_id: OperatorId | None = None
    name: Name
    periods: list[PeriodBody] = Field(
        min_length=1, max_length=48, description="Must cover 00:00-24:00 local time exactly once"
    )
    ebike_power_bands: list[PowerBandBody] = Field(default_factory=list, max_length=20)
    min_start_balance_fen: int = Field(0, ge=0, le=10_000_000)

    def fields(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "periods": _periods(self.periods),
            "ebike_power_bands": _bands(self.ebike_power_bands),
            "min_start_balance_fen": self.min_start_balance_fen,
        }


class TariffPatch(PatchBody):
    name: Name | None = None
    periods: list[PeriodBody] | None = Field(None, min_length=1, max_length=48)
    ebike_power_bands: list[PowerBandBody] | None = Field(None, max_length=20)
    min_start_balance_fen: int | None = Field(None, ge=0, le=10_000_000)

    def changes(self) -> dict[str, Any]:
        changes = super().changes()
        if self.periods is not None:
            changes["periods"] = _periods(self.periods)
        if self.ebike_power_bands is not None:
            changes["ebike_power_bands"] = _bands(self.ebike_power_bands)
        return changes


class PeriodView(View):
    kind: str
    start: str
    end: str
    electricity_fen_per_kwh: int
    service_fen_per_kwh: int


class PowerBandView(View):
    max_power_w: int
    fen_per_hour: int


class TariffView(View):
    tariff_id: str
    operator_id: str
    name: str
    version: int
    periods: list[PeriodView]
    ebike_power_bands: list[PowerBandView]
    min_start_balance_fen: int
    created_at: WireTime
    updated_at: WireTime

    @classmethod
    def of(cls, tariff: Tariff) -> TariffView:
        return cls(
            tariff_id=tariff.tariff_id,
            operator_id=tariff.operator_id,
            name=tariff.name,
            version=tariff.version,
            periods=[
                PeriodView(
                    kind=str(period.kind),
                    start=period.start,
                    end=period.end,
                    electricity_fen_per_kwh=period.electricity_fen_per_kwh,
                    service_fen_per_kwh=period.service_fen_per_kwh,
                )
                for period in tariff.periods
            ],
            ebike_power_bands=[
                PowerBandView(max_power_w=band.max_power_w, fen_per_hour=band.fen_per_hour)
                for band in tariff.ebike_power_bands
            ],
            min_start_balance_fen=tariff.min_start_balance_fen,
            created_at=tariff.created_at,
            updated_at=tariff.updated_at,
        )


class TariffQuery(Query):
    version: int | None = Field(None, ge=1, le=999_999, description="A past version")


class DiscountCreate(Body):
    operator_id: OperatorId | None = None
    name: Name
    kind: Literal["percent_off_service", "fixed_off_fen"]
    percent_bp: int | None = Field(None, ge=1, le=10_000)
    amount_fen: int | None = Field(None, ge=1, le=1_000_000)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    station_ids: list[StationId] = Field(
        default_factory=list, max_length=100, description="Empty: every station of the operator"
    )

    def fields(self) -> dict[str, Any]:
        values = self.model_dump(exclude={"operator_id"})
        values["station_ids"] = tuple(self.station_ids)
        return values


class DiscountPatch(PatchBody):
    NULLABLE: ClassVar[frozenset[str]] = frozenset({"percent_bp", "amount_fen"})
    name: Name | None = None
    kind: Literal["percent_off_service", "fixed_off_fen"] | None = None
    percent_bp: int | None = Field(None, ge=1, le=10_000)
    amount_fen: int | None = Field(None, ge=1, le=1_000_000)
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    station_ids: list[StationId] | None = Field(None, max_length=100)

    def changes(self) -> dict[str, Any]:
        changes = super().changes()
        if self.station_ids is not None:
            changes["station_ids"] = tuple(self.station_ids)
        return changes


class DiscountView(View):
    discount_id: str
    operator_id: str
    name: str
    kind: str
    percent_bp: int | None
    amount_fen: int | None
    starts_at: WireTime
    ends_at: WireTime
    station_ids: list[str]
    created_at: WireTime
    updated_at: WireTime

    @classmethod
    def of(cls, discount: Discount) -> DiscountView:
        return cls(
            discount_id=discount.discount_id,
            operator_id=discount.operator_id,
            name=discount.name,
            kind=str(discount.kind),
            percent_bp=discount.percent_bp,
            amount_fen=discount.amount_fen,
            starts_at=discount.starts_at,
            ends_at=discount.ends_at,
            station_ids=list(discount.station_ids),
            created_at=discount.created_at,
            updated_at=discount.updated_at,
        )


# --- cards -----------------------------------------------------------------------------------


class CardCreate(Body):
    operator_id: OperatorId | None = None
    card_no: CardNo = Field(description="The card's idTag (OCPP IdToken), unique platform-wide")
    holder_name: ShortText
    phone: Phone

    def fields(self) -> dict[str, Any]:
        return self.model_dump(exclude={"operator_id"})


class TopUpBody(Body):
    amount_fen: int = Field(ge=1, le=5_000_000)
    request_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{8,64}$")] = Field(
        description="Idempotency key: the same request_id credits once and answers the same"
    )


class UnbindBody(Body):
    refund_balance: bool = False


class CardView(View):
    card_no: str
    operator_id: str
    holder_name: str
    phone: str
    status: str
    balance_fen: int | None = Field(description="Present when one card is read")
    created_at: WireTime
    updated_at: WireTime

    @classmethod
    def of(cls, card: Card, balance_fen: int | None = None) -> CardView:
        return cls(
            card_no=card.card_no,
            operator_id=card.operator_id,
            holder_name=card.holder_name,
            phone=card.phone,
            status=str(card.status),
            balance_fen=balance_fen,
            created_at=card.created_at,
            updated_at=card.updated_at,
        )

    @classmethod
    def with_balance(cls, card: CardWithBalance) -> CardView:
        return cls.of(card.card, card.balance_fen)


class TopUpView(View):
    card_no: str
    request_id: str
    amount_fen: int
    balance_fen: int
    created_at: WireTime

    @classmethod
    def of(cls, top_up: TopUp) -> TopUpView:
        return cls(
            card_no=top_up.card_no,
            request_id=top_up.request_id,
            amount_fen=top_up.amount_fen,
            balance_fen=top_up.balance_fen,
            created_at=top_up.created_at,
        )


# --- pages (explicit classes: generic models cost a schema build at import) ----------------


class OperatorPage(View):
    items: list[OperatorView]
    next_token: str | None = Field(description=PAGING_HELP)


class StaffPage(View):
    items: list[StaffView]
    next_token: str | None = Field(description=PAGING_HELP)


class StationPage(View):
    items: list[StationView]
    next_token: str | None = Field(description=PAGING_HELP)


class PilePage(View):
    items: list[PileView]
    next_token: str | None = Field(description=PAGING_HELP)


class TariffPage(View):
    items: list[TariffView]
    next_token: str | None = Field(description=PAGING_HELP)


class DiscountPage(View):
    items: list[DiscountView]
    next_token: str | None = Field(description=PAGING_HELP)


class CardPage(View):
    items: list[CardView]
    next_token: str | None = Field(description=PAGING_HELP)
