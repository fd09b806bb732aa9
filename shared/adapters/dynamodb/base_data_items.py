"""Items of the base-data table: how each base-data object is stored (keys per
docs/data-model.md) and read back, the typed attribute encoding, and page tokens."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from shared.domain.base_data import Operator, StaffMember
from shared.domain.cards import Card, CardStatus
from shared.domain.clock import from_wire, to_wire
from shared.domain.discounts import Discount, DiscountKind
from shared.domain.errors import InvalidInput, NotFound
from shared.domain.piles import BootInfo, Gun, Pile, PileKind, PileProtocol, Presence
from shared.domain.stations import Station, WechatReceiver, WechatReceiverType
from shared.domain.tariffs import PeriodKind, PowerBand, Tariff, TariffPeriod
from shared.domain.tenancy import Role
from shared.services.base_data_cards import TopUp

Item = dict[str, Any]

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
_MAX_TOKEN_LENGTH = 2048


# --- encoding ----------------------------------------------------------------------------


def to_attr(value: Any) -> dict[str, Any]:
    if isinstance(value, float):
        value = Decimal(repr(value))
    elif isinstance(value, datetime):
        value = to_wire(value)
    elif isinstance(value, list | tuple):
        return {"L": [to_attr(element) for element in value]}
    elif isinstance(value, dict):
        return {"M": {key: to_attr(element) for key, element in value.items()}}
    attr: dict[str, Any] = _SERIALIZER.serialize(value)
    return attr


def encode_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: to_attr(value) for key, value in item.items() if value is not None}


def decode_item(raw: Mapping[str, Any]) -> Item:
    return {key: _DESERIALIZER.deserialize(value) for key, value in raw.items()}


def item_key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def as_time(value: Any) -> datetime:
    return from_wire(str(value))


def opt_time(value: Any) -> datetime | None:
    """Times other writers keep on shared items; an unreadable one shows as absent."""
    if not isinstance(value, str):
        return None
    try:
        return from_wire(value)
    except ValueError:
        return None


def encode_page_token(last_key: Mapping[str, Any] | None, fields: Sequence[str]) -> str | None:
    """An opaque token for the key DynamoDB stopped at, without the partition it came from
    (the next query supplies that itself, so a token cannot lead into another partition)."""
    if not last_key:
        return None
    values = [last_key[name]["S"] for name in fields]
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_page_token(token: str, fields: Sequence[str]) -> dict[str, Any]:
    """The ExclusiveStartKey part of a token from ``encode_page_token``.

    Raises:
        InvalidInput: the token was not made by this list.
    """
    error = InvalidInput("next_token is not a token from this list", field="next_token")
    if len(token) > _MAX_TOKEN_LENGTH:
        raise error
    try:
        padded = token + "=" * (-len(token) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise error from exc
    if (
        not isinstance(values, list)
        or len(values) != len(fields)
        or not all(isinstance(value, str) and 0 < len(value) <= 300 for value in values)
    ):
        raise error
    return {name: {"S": value} for name, value in zip(fields, values, strict=True)}


# --- item codecs ---------------------------------------------------------------------------


def operator_item(operator: Operator) -> Item:
    return {
        "pk": f"OPERATOR#{operator.operator_id}",
        "sk": "OPERATOR",
        "gsi1pk": "OPERATORS",
        "gsi1sk": f"OPERATOR#{operator.operator_id}",
        "kind": "operator",
        **operator_fields(operator),
    }


def operator_fields(operator: Operator) -> Item:
    return {
        "operator_id": operator.operator_id,
        "name": operator.name,
        "contact_name": operator.contact_name,
        "contact_phone": operator.contact_phone,
        "created_at": operator.created_at,
        "updated_at": operator.updated_at,
    }


def operator_from(item: Item) -> Operator:
    return Operator(
        operator_id=item["operator_id"],
        name=item["name"],
        contact_name=opt_str(item.get("contact_name")),
        contact_phone=opt_str(item.get("contact_phone")),
        created_at=as_time(item["created_at"]),
        updated_at=as_time(item["updated_at"]),
    )


def staff_item(member: StaffMember) -> Item:
    return {
        "pk": f"OPERATOR#{member.operator_id}",
        "sk": f"STAFF#{member.username}",
        "kind": "staff",
        "operator_id": member.operator_id,
        "username": member.username,
        "role": str(member.role),
        "created_at": member.created_at,
        "created_by": member.created_by,
    }


def staff_from(item: Item) -> StaffMember:
    return StaffMember(
        username=item["username"],
        operator_id=item["operator_id"],
        role=Role(item["role"]),
        created_at=as_time(item["created_at"]),
        created_by=str(item.get("created_by", "")),
    )


def station_item(station: Station) -> Item:
    return {
        "pk": f"STATION#{station.station_id}",
        "sk": "STATION",
        "gsi1pk": f"OPERATOR#{station.operator_id}#STATIONS",
        "gsi1sk": f"STATION#{station.station_id}",
        "kind": "station",
        "station_id": station.station_id,
        "created_at": station.created_at,
        **station_fields(station),
    }


def station_fields(station: Station) -> Item:
    return {
        "operator_id": station.operator_id,
        "name": station.name,
        "address": station.address,
        "lat": station.lat,
        "lng": station.lng,
        "gsi2pk": f"GEO#{station.geohash5}",
        "gsi2sk": f"STATION#{station.station_id}",
        "transformer_capacity_kva": station.transformer_capacity_kva,
        "partner_share_bp": station.partner_share_bp,
        "tariff_id": station.tariff_id,
        "partner_name": station.partner_name,
        "partner_wechat_receiver": wechat_receiver_item(station.partner_wechat_receiver),
        "partner_alipay_account": station.partner_alipay_account,
        "updated_at": station.updated_at,
    }


def wechat_receiver_item(receiver: WechatReceiver | None) -> Item | None:
    if receiver is None:
        return None
    item: Item = {"type": receiver.type.value, "account": receiver.account}
    if receiver.name is not None:
        item["name"] = receiver.name
    return item


def wechat_receiver_from(value: Any) -> WechatReceiver | None:
    if not isinstance(value, Mapping):
        return None
    return WechatReceiver(
        type=WechatReceiverType(str(value["type"])),
        account=str(value["account"]),
        name=opt_str(value.get("name")),
    )


def station_from(item: Item) -> Station:
    return Station(
        station_id=item["station_id"],
        operator_id=item["operator_id"],
        name=item["name"],
        address=item["address"],
        lat=float(item["lat"]),
        lng=float(item["lng"]),
        transformer_capacity_kva=int(item["transformer_capacity_kva"]),
        partner_share_bp=int(item["partner_share_bp"]),
        tariff_id=opt_str(item.get("tariff_id")),
        partner_name=opt_str(item.get("partner_name")),
        partner_wechat_receiver=wechat_receiver_from(item.get("partner_wechat_receiver")),
        partner_alipay_account=opt_str(item.get("partner_alipay_account")),
        created_at=as_time(item["created_at"]),
        updated_at=as_time(item["updated_at"]),
    )


def pile_item(pile: Pile) -> Item:
    return {
        "pk": f"PILE#{pile.pile_id}",
        "sk": "PILE",
        "gsi1pk": f"OPERATOR#{pile.operator_id}#PILES",
        "gsi1sk": f"STATION#{pile.station_id}#PILE#{pile.pile_id}",
        "kind": "pile",
        "pile_id": pile.pile_id,
        "station_id": pile.station_id,
        "pile_kind": str(pile.kind),
        "protocol": str(pile.protocol),
        "gun_count": pile.gun_count,
        "created_at": pile.created_at,
        **pile_fields(pile),
    }


def pile_fields(pile: Pile) -> Item:
    """What base data owns on a pile item (presence, boot and registration are not here)."""
    return {
        "operator_id": pile.operator_id,
        "name": pile.name,
        "serial": pile.serial,
        "model": pile.model,
        "rated_power_w": pile.rated_power_w,
        "is_enabled": pile.is_enabled,
        "gateway_id": pile.gateway_id,
        "modbus_address": pile.modbus_address,
        "password_hash": pile.password_hash,
        "updated_at": pile.updated_at,
    }


def boot_from(value: Any) -> BootInfo | None:
    if not isinstance(value, dict):
        return None
    return BootInfo(
        vendor=opt_str(value.get("vendor")),
        model=opt_str(value.get("model")),
        firmware=opt_str(value.get("firmware")),
        iccid=opt_str(value.get("iccid")),
        imsi=opt_str(value.get("imsi")),
    )


def pile_from(item: Item) -> Pile:
    return Pile(
        pile_id=item["pile_id"],
        operator_id=item["operator_id"],
        station_id=item["station_id"],
        name=item["name"],
        serial=item["serial"],
        kind=PileKind(item["pile_kind"]),
        protocol=PileProtocol(item["protocol"]),
        model=item["model"],
        rated_power_w=int(item["rated_power_w"]),
        gun_count=int(item["gun_count"]),
        is_enabled=bool(item["is_enabled"]),
        password_hash=opt_str(item.get("password_hash")),
        gateway_id=opt_str(item.get("gateway_id")),
        modbus_address=opt_int(item.get("modbus_address")),
        created_at=as_time(item["created_at"]),
        updated_at=as_time(item["updated_at"]),
        presence=Presence(
            is_online=item.get("is_online") is True,
            connected_at=opt_time(item.get("connected_at")),
            last_seen_at=opt_time(item.get("last_seen_at")),
            boot=boot_from(item.get("boot")),
        ),
    )


def gun_sk(gun_no: int) -> str:
    return f"GUN#{gun_no:03d}"


def gun_item(gun: Gun) -> Item:
    return {
        "pk": f"PILE#{gun.pile_id}",
        "sk": gun_sk(gun.gun_no),
        "kind": "gun",
        "pile_id": gun.pile_id,
        "gun_no": gun.gun_no,
        "station_id": gun.station_id,
        **gun_fields(gun),
    }


def gun_fields(gun: Gun) -> Item:
    """What base data owns on a gun item (status, status_at, error_code are the pile's)."""
    return {
        "operator_id": gun.operator_id,
        "name": gun.name,
        "is_enabled": gun.is_enabled,
        "updated_at": gun.updated_at,
    }


def gun_from(item: Item) -> Gun:
    return Gun(
        pile_id=item["pile_id"],
        gun_no=int(item["gun_no"]),
        operator_id=item["operator_id"],
        station_id=item["station_id"],
        name=item["name"],
        is_enabled=bool(item["is_enabled"]),
        updated_at=as_time(item["updated_at"]),
        status=opt_str(item.get("status")),
        status_at=opt_time(item.get("status_at")),
        error_code=opt_str(item.get("error_code")),
    )


def tariff_fields(tariff: Tariff) -> Item:
    return {
        "operator_id": tariff.operator_id,
        "name": tariff.name,
        "periods": [
            {
                "kind": str(period.kind),
                "start": period.start,
                "end": period.end,
                "electricity_fen_per_kwh": period.electricity_fen_per_kwh,
                "service_fen_per_kwh": period.service_fen_per_kwh,
            }
            for period in tariff.periods
        ],
        "ebike_power_bands": [
            {"max_power_w": band.max_power_w, "fen_per_hour": band.fen_per_hour}
            for band in tariff.ebike_power_bands
        ],
        "min_start_balance_fen": tariff.min_start_balance_fen,
        "version": tariff.version,
        "updated_at": tariff.updated_at,
    }


def tariff_item(tariff: Tariff) -> Item:
    return {
        "pk": f"TARIFF#{tariff.tariff_id}",
        "sk": "TARIFF",
        "gsi1pk": f"OPERATOR#{tariff.operator_id}#TARIFFS",
        "gsi1sk": f"TARIFF#{tariff.tariff_id}",
        "kind": "tariff",
        "tariff_id": tariff.tariff_id,
        "created_at": tariff.created_at,
        **tariff_fields(tariff),
    }


def tariff_version_item(tariff: Tariff) -> Item:
    return {
        "pk": f"TARIFF#{tariff.tariff_id}",
        "sk": f"VERSION#{tariff.version:06d}",
        "kind": "tariff_version",
        "tariff_id": tariff.tariff_id,
        "created_at": tariff.created_at,
        **tariff_fields(tariff),
    }


def tariff_from(item: Item) -> Tariff:
    return Tariff(
        tariff_id=item["tariff_id"],
        operator_id=item["operator_id"],
        name=item["name"],
        periods=tuple(
            TariffPeriod(
                kind=PeriodKind(period["kind"]),
                start=period["start"],
                end=period["end"],
                electricity_fen_per_kwh=int(period["electricity_fen_per_kwh"]),
                service_fen_per_kwh=int(period["service_fen_per_kwh"]),
            )
            for period in item["periods"]
        ),
        ebike_power_bands=tuple(
            PowerBand(max_power_w=int(band["max_power_w"]), fen_per_hour=int(band["fen_per_hour"]))
            for band in item.get("ebike_power_bands", [])
        ),
        min_start_balance_fen=int(item.get("min_start_balance_fen", 0)),
        version=int(item["version"]),
        created_at=as_time(item["created_at"]),
        updated_at=as_time(item["updated_at"]),
    )


def discount_item(discount: Discount) -> Item:
    return {
        "pk": f"DISCOUNT#{discount.discount_id}",
        "sk": "DISCOUNT",
        "gsi1pk": f"OPERATOR#{discount.operator_id}#DISCOUNTS",
        "gsi1sk": f"DISCOUNT#{discount.discount_id}",
        "kind": "discount",
        "discount_id": discount.discount_id,
        "created_at": discount.created_at,
        **discount_fields(discount),
    }


def discount_fields(discount: Discount) -> Item:
    return {
        "operator_id": discount.operator_id,
        "name": discount.name,
        "discount_kind": str(discount.kind),
        "percent_bp": discount.percent_bp,
        "amount_fen": discount.amount_fen,
        "starts_at": discount.starts_at,
        "ends_at": discount.ends_at,
        "station_ids": list(discount.station_ids),
        "updated_at": discount.updated_at,
    }


def discount_from(item: Item) -> Discount:
    return Discount(
        discount_id=item["discount_id"],
        operator_id=item["operator_id"],
        name=item["name"],
        kind=DiscountKind(item["discount_kind"]),
        percent_bp=opt_int(item.get("percent_bp")),
        amount_fen=opt_int(item.get("amount_fen")),
        starts_at=as_time(item["starts_at"]),
        ends_at=as_time(item["ends_at"]),
        station_ids=tuple(item.get("station_ids", [])),
        created_at=as_time(item["created_at"]),
        updated_at=as_time(item["updated_at"]),
    )


def card_item(card: Card) -> Item:
    return {
        "pk": f"CARD#{card.card_no}",
        "sk": "CARD",
        "gsi1pk": f"OPERATOR#{card.operator_id}#CARDS",
        "gsi1sk": f"CARD#{card.card_no}",
        "kind": "card",
        "card_no": card.card_no,
        "created_at": card.created_at,
        **card_fields(card),
    }


def card_fields(card: Card) -> Item:
    return {
        "operator_id": card.operator_id,
        "holder_name": card.holder_name,
        "phone": card.phone,
        "status": str(card.status),
        "updated_at": card.updated_at,
    }


def card_from(item: Item) -> Card:
    return Card(
        card_no=item["card_no"],
        operator_id=item["operator_id"],
        holder_name=item["holder_name"],
        phone=item["phone"],
        status=CardStatus(item["status"]),
        created_at=as_time(item["created_at"]),
        updated_at=as_time(item["updated_at"]),
    )


def top_up_item(top_up: TopUp) -> Item:
    return {
        "pk": f"CARD#{top_up.card_no}",
        "sk": f"TOPUP#{top_up.request_id}",
        "kind": "card_top_up",
        "card_no": top_up.card_no,
        "operator_id": top_up.operator_id,
        "request_id": top_up.request_id,
        "amount_fen": top_up.amount_fen,
        "balance_fen": top_up.balance_fen,
        "created_at": top_up.created_at,
    }


def top_up_from(item: Item) -> TopUp:
    return TopUp(
        card_no=item["card_no"],
        operator_id=item["operator_id"],
        request_id=item["request_id"],
        amount_fen=int(item["amount_fen"]),
        balance_fen=int(item["balance_fen"]),
        created_at=as_time(item["created_at"]),
    )


def update_expression(fields: Mapping[str, Any]) -> tuple[str, dict[str, str], dict[str, Any]]:
    """``SET``/``REMOVE`` naming each field (``None`` removes it); never touches others."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    sets: list[str] = []
    removes: list[str] = []
    for index, (name, value) in enumerate(fields.items()):
        names[f"#f{index}"] = name
        if value is None:
            removes.append(f"#f{index}")
        else:
            values[f":f{index}"] = to_attr(value)
            sets.append(f"#f{index} = :f{index}")
    expression = "SET " + ", ".join(sets)
    if removes:
        expression += " REMOVE " + ", ".join(removes)
    return expression, names, values


def not_found(kind: str, object_id: object) -> NotFound:
    return NotFound(f"{kind} {object_id} not found", kind=kind, id=object_id)
